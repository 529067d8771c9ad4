/**
 * The Redis index.
 *
 * Keys, all under `ag:idx:v1:{<escaped scope>}:` (scope: ledger kind and database; the braces are a
 * cluster hash tag, so every script's keys share a slot):
 *
 *   meta            hash: epoch, checkpoint, status, target, events, applied
 *   lease           string: owner id of the instance that follows the ledger (PX ttl)
 *   all             zset: every event
 *   <fc>:<esc(v)>   zset per field value; fc ∈ ci et ec ai at oc rt ri (see query.ts)
 *
 * Set members are 22 bytes `BE48(ms) ‖ uuid`, score 0 (query.ts says why). Values are
 * percent-encoded, so no crafted actorId reaches another key.
 *
 * Writes: one Lua script per batch adds the entries and moves the checkpoint, and refuses unless
 * the epoch and the checkpoint are still the ones the batch was read from (compare-and-set). So a
 * batch applies exactly once, whoever sends it and whenever; the lease only saves the other
 * instances from reading the ledger for nothing.
 *
 * Failing fast: no offline queue, no retries per command, a command timeout. A query while Redis
 * is away fails in well under a second with INDEX_UNAVAILABLE; the connection keeps reconnecting
 * in the background.
 */
import { Redis, type Result } from 'ioredis';
import { AuditError, ErrorCode, isAuditError } from '../errors.ts';
import { findPage, type SetReader } from './executor.ts';
import type { ApplyBatch, ApplyResult, EventIndex, IndexPage, IndexQuery, IndexState, IndexStatus, TickResult } from './port.ts';
import { encodeMember, escapeValue, GLOBAL_KEY, lexArg, normalizeFilter, normalizePage, positionOf, recordKeys, type MemberRange } from './query.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    agIndexTick(lease: string, meta: string, owner: string, leaseMs: number, force: string): Result<[number, string[]], Context>;
    agIndexRelease(lease: string, owner: string): Result<number, Context>;
    agIndexBegin(meta: string, epoch: string, target: string): Result<string, Context>;
    agIndexFinishClear(meta: string, epoch: string): Result<string, Context>;
    agIndexApply(numKeys: number, ...args: (string | Buffer | number)[]): Result<[string, number?, string?], Context>;
  }
}

const TICK = `
local cur = redis.call('GET', KEYS[1])
local leased = 0
if (not cur) or cur == ARGV[1] or ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  leased = 1
end
return {leased, redis.call('HGETALL', KEYS[2])}`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** A new epoch fences off every writer of the old one before any key is deleted. */
const BEGIN = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'checkpoint', '0', 'status', 'clearing', 'target', ARGV[2], 'events', 0, 'applied', 0)
return 'ok'`;

const FINISH_CLEAR = `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'status', 'target')
if m[1] ~= ARGV[1] or m[2] ~= 'clearing' then return 'stale' end
local status = 'building'
if m[3] == '0' then status = 'ready' end
redis.call('HSET', KEYS[1], 'status', status)
return status`;

/**
 * KEYS: meta, all, field sets…  ARGV: epoch, from, to, events in the batch, then per set key
 * (from KEYS[2] on) a member count and the members.
 */
const APPLY = `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'checkpoint', 'status', 'target')
if not m[1] then return {'missing'} end
if m[1] ~= ARGV[1] then return {'epoch'} end
if m[3] == 'clearing' then return {'clearing'} end
if m[2] ~= ARGV[2] then return {'moved'} end
local a = 5
local added = 0
for k = 2, #KEYS do
  local n = tonumber(ARGV[a])
  a = a + 1
  local i = 0
  while i < n do
    local c = math.min(n - i, 250)
    local args = {}
    for j = 1, c do
      args[2 * j - 1] = 0
      args[2 * j] = ARGV[a + i + j - 1]
    end
    local r = redis.call('ZADD', KEYS[k], unpack(args))
    if k == 2 then added = added + r end
    i = i + c
  end
  a = a + n
end
local status = m[3]
if status == 'building' and tonumber(ARGV[3]) >= tonumber(m[4]) then status = 'ready' end
redis.call('HSET', KEYS[1], 'checkpoint', ARGV[3], 'status', status)
redis.call('HINCRBY', KEYS[1], 'events', added)
redis.call('HINCRBY', KEYS[1], 'applied', ARGV[4])
return {'ok', added, status}`;

/** `ag:idx:v1:{<scope>}:` — the scope names the ledger (kind and database) the index follows. */
export function indexNamespace(scope: string): string {
  return `ag:idx:v1:{${escapeValue(scope)}}:`;
}

export interface RedisIndexOptions {
  url: string;
  namespace: string;
  /** Client-side timeout of query commands (fail fast). */
  queryTimeoutMs?: number;
  /** Timeout of the indexer's commands (a batch script may take a while). */
  writeTimeoutMs?: number;
  /** Redis connection errors, at most one per 10 s and connection. */
  onError?: (message: string, error: unknown) => void;
}

const unavailable = (what: string, cause: unknown) =>
  new AuditError(ErrorCode.INDEX_UNAVAILABLE, `The event index (Redis) is unavailable: ${what} failed; the ledger is not affected, try again shortly`, {}, { cause });

function parseState(flat: string[]): IndexState | null {
  if (flat.length === 0) return null;
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  if (h.epoch === undefined) return null;
  return {
    epoch: h.epoch,
    checkpoint: h.checkpoint ?? '0',
    status: (h.status ?? 'clearing') as IndexStatus,
    target: h.target ?? '0',
    events: Number(h.events ?? 0),
    applied: Number(h.applied ?? 0),
  };
}

/** Results of a pipeline, or the first error in it. */
async function run<T>(p: { exec(): Promise<[Error | null, unknown][] | null> }): Promise<T[]> {
  const res = await p.exec();
  if (!res) throw new Error('pipeline discarded');
  return res.map(([err, v]) => {
    if (err) throw err;
    return v as T;
  });
}

export class RedisEventIndex implements EventIndex, SetReader {
  readonly kind = 'redis' as const;
  readonly namespace: string;
  /** Queries and health checks: short timeout. */
  readonly reader: Redis;
  /** The indexer's scripts and the rebuild: longer timeout, never blocks queries behind a batch. */
  readonly writer: Redis;
  private readonly meta: string;
  private readonly lease: string;

  private constructor(options: RedisIndexOptions) {
    this.namespace = options.namespace;
    this.meta = `${this.namespace}meta`;
    this.lease = `${this.namespace}lease`;
    const base = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 1_000,
      // Reconnect quickly and keep trying: the index catches up as soon as Redis is back.
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1_000),
    };
    this.reader = new Redis(options.url, { ...base, commandTimeout: options.queryTimeoutMs ?? 800, connectionName: 'auditgraph-index-query' });
    this.writer = new Redis(options.url, { ...base, commandTimeout: options.writeTimeoutMs ?? 10_000, connectionName: 'auditgraph-indexer' });
    this.writer.defineCommand('agIndexTick', { numberOfKeys: 2, lua: TICK });
    this.writer.defineCommand('agIndexRelease', { numberOfKeys: 1, lua: RELEASE });
    this.writer.defineCommand('agIndexBegin', { numberOfKeys: 1, lua: BEGIN });
    this.writer.defineCommand('agIndexFinishClear', { numberOfKeys: 1, lua: FINISH_CLEAR });
    this.writer.defineCommand('agIndexApply', { lua: APPLY });
    for (const [name, client] of [
      ['query', this.reader],
      ['indexer', this.writer],
    ] as const) {
      let lastReport = 0;
      client.on('error', (e: unknown) => {
        // ioredis reports every failed reconnect; one line per 10 s is enough to know Redis is away.
        if (Date.now() - lastReport < 10_000) return;
        lastReport = Date.now();
        options.onError?.(`redis (${name} connection): ${e instanceof Error ? e.message : String(e)}`, e);
      });
    }
  }

  /** Connects both clients; when Redis is down it returns anyway and they keep reconnecting. */
  static async open(options: RedisIndexOptions): Promise<RedisEventIndex> {
    const index = new RedisEventIndex(options);
    await Promise.all([index.reader, index.writer].map((c) => c.connect().catch(() => undefined)));
    return index;
  }

  async tick(owner: string, leaseMs: number, force = false): Promise<TickResult> {
    const [leased, flat] = await this.writer.agIndexTick(this.lease, this.meta, owner, leaseMs, force ? '1' : '0');
    return { leased: leased === 1, state: parseState(flat) };
  }

  async releaseLease(owner: string): Promise<void> {
    await this.writer.agIndexRelease(this.lease, owner);
  }

  async state(): Promise<IndexState | null> {
    return parseState(Object.entries(await this.writer.hgetall(this.meta)).flat());
  }

  async reset(epoch: string, target: string): Promise<void> {
    await this.writer.agIndexBegin(this.meta, epoch, target);
    // SCAN + UNLINK in bounded steps: no single command blocks Redis however big the index is.
    let cursor = '0';
    do {
      const [next, keys] = await this.writer.scan(cursor, 'MATCH', `${this.namespace}*`, 'COUNT', 1000);
      cursor = next;
      const doomed = keys.filter((k) => k !== this.meta && k !== this.lease);
      if (doomed.length > 0) await this.writer.unlink(...doomed);
    } while (cursor !== '0');
    await this.writer.agIndexFinishClear(this.meta, epoch);
  }

  async apply(batch: ApplyBatch): Promise<ApplyResult> {
    const last = batch.txs[batch.txs.length - 1];
    if (!last) return { ok: true, added: 0, status: (await this.state())?.status ?? 'building' };
    const byKey = new Map<string, Buffer[]>([[GLOBAL_KEY, []]]);
    let events = 0;
    for (const tx of batch.txs) {
      for (const r of tx.records) {
        events++;
        const member = Buffer.from(encodeMember(positionOf(r)), 'latin1');
        for (const key of recordKeys(r)) {
          let list = byKey.get(key);
          if (!list) byKey.set(key, (list = []));
          list.push(member);
        }
      }
    }
    const keys = [this.meta, ...[...byKey.keys()].map((k) => this.namespace + k)];
    const args: (string | Buffer | number)[] = [batch.epoch, batch.fromTxId, last.txId, events];
    for (const members of byKey.values()) args.push(members.length, ...members);
    const [outcome, added, status] = await this.writer.agIndexApply(keys.length, ...keys, ...args);
    if (outcome === 'ok') return { ok: true, added: Number(added), status: status as IndexStatus };
    return { ok: false, reason: outcome as 'missing' | 'epoch' | 'clearing' | 'moved' };
  }

  async query(q: IndexQuery): Promise<IndexPage> {
    const filter = normalizeFilter(q.filter);
    const page = normalizePage(q, q.orderBy);
    try {
      const [status, checkpoint, target] = await this.reader.hmget(this.meta, 'status', 'checkpoint', 'target');
      if (status !== 'ready') {
        throw new AuditError(
          ErrorCode.INDEX_UNAVAILABLE,
          status ? `The event index is being rebuilt (tx ${checkpoint} of ${target}); try again shortly` : 'The event index is empty and being rebuilt; try again shortly',
        );
      }
      return await findPage(this, filter, page);
    } catch (e) {
      throw isAuditError(e) ? e : unavailable('the query', e);
    }
  }

  async checkpoint(): Promise<string | null> {
    try {
      return await this.reader.hget(this.meta, 'checkpoint');
    } catch (e) {
      throw unavailable('reading the checkpoint', e);
    }
  }

  async health(): Promise<void> {
    try {
      await this.reader.ping();
    } catch (e) {
      throw unavailable('PING', e);
    }
  }

  async close(): Promise<void> {
    // quit() waits for replies; when Redis is away there is nothing to wait for.
    await Promise.all([this.reader, this.writer].map((c) => (c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : c.disconnect())));
  }

  // --- SetReader (query connection) ---------------------------------------------------------

  async counts(keys: readonly string[], range: MemberRange): Promise<number[]> {
    const p = this.reader.pipeline();
    const min = lexArg(range.min, 'min');
    const max = lexArg(range.max, 'max');
    for (const k of keys) p.zlexcount(this.namespace + k, min, max);
    return run<number>(p);
  }

  async range(requests: readonly { key: string; range: MemberRange; desc: boolean; limit: number }[]): Promise<string[][]> {
    const p = this.reader.pipeline();
    for (const { key, range, desc, limit } of requests) {
      const min = lexArg(range.min, 'min');
      const max = lexArg(range.max, 'max');
      const k = this.namespace + key;
      if (desc) p.callBuffer('ZRANGE', k, max, min, 'BYLEX', 'REV', 'LIMIT', 0, limit);
      else p.callBuffer('ZRANGE', k, min, max, 'BYLEX', 'LIMIT', 0, limit);
    }
    const res = await run<Buffer[]>(p);
    return res.map((list) => list.map((b) => b.toString('latin1')));
  }

  async contains(checks: readonly { key: string; members: readonly string[] }[]): Promise<boolean[][]> {
    const p = this.reader.pipeline();
    for (const { key, members } of checks) p.zmscore(this.namespace + key, ...members.map((m) => Buffer.from(m, 'latin1')));
    const res = await run<(string | null)[]>(p);
    return res.map((scores) => scores.map((s) => s !== null));
  }
}
