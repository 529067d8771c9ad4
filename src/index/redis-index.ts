/**
 * The Redis index.
 *
 * Keys, all under `ag:idx:v5:{<escaped scope>}:` (scope: ledger kind and database; the braces are a
 * cluster hash tag, so every key of the index shares a slot):
 *
 *   meta            hash: epoch, checkpoint, status, target, events, applied, gen
 *   lease           string: owner id of the instance that follows the ledger (PX ttl)
 *   cb              hash: coded value `<fc>:<esc(v)>` → its code (negative once dense); `#<fc>` → codes handed out
 *   cn              hash: coded value → events with it
 *   dv:<fc>         hash: escaped value → events with it, for the stats dimensions' fields (registry)
 *   cr              zset: correlationId → its newest event's ms (the `correlations` list)
 *   ru:<l>:<n>      hash: events of UTC minute/hour/day bucket n (l = m, h, d) by their code bytes (rollups.ts)
 *   vr:<fc>:<esc(v)> hash: all-time events of one eventType or actorId value (fc ∈ et ai), the same fields
 *   all             the set of every event
 *   <fc>:<esc(v)>   the set of one value: fc ∈ ci et ai ri (every value), ec rt at oc (rare values, codes.ts)
 *
 * Members are 29 bytes `BE48(ms) ‖ uuid ‖ codes`, score 0 (members.ts says why). Values are
 * percent-encoded, so no crafted actorId reaches another key.
 *
 * Chunked sets: Redis keeps a sorted set of up to 128 short members as one compact listpack
 * (~30 bytes a member) and a bigger one as a skiplist plus a hash table (~130 bytes a member). So a
 * set is a chain of zsets of at most `chunkSize` members, each of which stays a listpack:
 *
 *   S               the first chunk (a set that never grew past chunkSize is just this one key)
 *   S#              directory: the first member of every later chunk (a zset, lexicographic)
 *   S#<member>      the chunk that starts at that member; it holds [member, next chunk's start)
 *
 * `#` never occurs in an escaped value, and `S#<member>` is exactly 26 bytes longer than `S#`, so
 * these keys cannot meet another set's. A full chunk is split in two before it would outgrow a
 * listpack; a chunk that is full and receives a member past its end starts a new chunk instead,
 * so time-ordered appends leave full chunks. Lua compares members byte by byte itself (Lua's `<`
 * on strings follows the locale, which Redis sets from the environment).
 *
 * Writes: one Lua script per batch assigns codes, adds the members and moves the checkpoint, and
 * refuses unless the epoch and the checkpoint are still the ones the batch was read from
 * (compare-and-set). So a batch applies exactly once, whoever sends it and whenever; the lease
 * only saves the other instances from reading the ledger for nothing. A bulk load (`load`, a
 * rebuild written in its final shape) is fenced by epoch and checkpoint 0 too, but its scripts
 * also require the lease: it alone keeps two loaders of one epoch apart.
 *
 * Reads: one script counts the filter's sets in the range and looks its coded values up (and
 * checks that the index is ready), then one script per round reads the driver's chunks and keeps
 * the members that pass the filter (codes, membership in other sets), reading a bounded number.
 * Both return `gen`: when it moves (a value turned dense and lost its set) the query starts over.
 *
 * Failing fast: no offline queue, no retries per command, a command timeout. A query while Redis
 * is away fails in well under a second with INDEX_UNAVAILABLE; the connection keeps reconnecting
 * in the background.
 *
 * The scripts are redis-scripts/*.lua (loaded by redis-commands.ts); redis-wire.ts encodes their
 * arguments and decodes their replies.
 */
import { Redis } from 'ioredis';
import { AuditError, ErrorCode, isAuditError } from '../errors.ts';
import { escapeValue, normalizeFilter, unescapeValue } from '../events/filter.ts';
import { connectOrKeepTrying, failFastRedisOptions, reportConnectionErrors } from '../redis/fail-fast.ts';
import type { BuiltIndex } from './bulk-build.ts';
import { CODED_FIELDS, DENSE_MIN_EVENTS, resolveMaxCodes, type CodedField, type IndexLayoutOptions } from './codes.ts';
import {
  findPage,
  type ProbeRequest,
  type ProbeResult,
  type RecentCorrelation,
  type RollupRequest,
  type RollupResult,
  type ScanResult,
  type ScanStream,
  type SetReader,
  type TallyResult,
  type TallySpec,
  type TallyStream,
  type ValueCount,
} from './executor.ts';
import { computeStats, countMatches, type StatsArgs, type StatsResult } from './counting.ts';
import { correlationPage, type CorrelationPage, type CorrelationQuery } from './correlations.ts';
import { type DimensionField, fieldCode } from './members.ts';
import type { ApplyResult, ApplyBatch, EventIndex, IndexPage, IndexQuery, IndexState, TickResult } from './port.ts';
import type { MemberFilter } from './plan.ts';
import { normalizePage } from './range.ts';
import { defineIndexCommands, type Arg } from './redis-commands.ts';
import {
  applyArgs,
  applyResult,
  loadArgs,
  loadCommitArgs,
  loadExtraArgs,
  parseState,
  probeArgs,
  probeReply,
  recentArgs,
  recentReply,
  rollupArgs,
  rollupReply,
  scanArgs,
  scanReply,
  tallyArgs,
  tallyReply,
  type RefusalReason,
} from './redis-wire.ts';

/**
 * `ag:idx:v5:{<scope>}:` — the scope names the ledger (kind and database) the index follows. The
 * version changes with the layout, so an index of an older layout is rebuilt, never misread
 * (v1: 22-byte members, a plain zset per value; v2: codes in members, chunked sets; v3: sets of
 * severity, eventAction, resourceNamespace, clusterName, recordedBy and parentEventId too; v4: the
 * registry of dimension values, the correlations list and the time rollups; v5: the value
 * rollups, which counts read wherever they exist: a v4 index lacks them and would count nothing).
 */
export function indexNamespace(scope: string): string {
  return `ag:idx:v5:{${escapeValue(scope)}}:`;
}

/** Redis' default zset-max-listpack-entries: the biggest sorted set it keeps compact. */
export const DEFAULT_CHUNK_SIZE = 128;

export interface RedisIndexOptions extends IndexLayoutOptions {
  url: string;
  namespace: string;
  /** Client-side timeout of query commands (fail fast). */
  queryTimeoutMs?: number;
  /** Timeout of the indexer's commands (a batch script may take a while). */
  writeTimeoutMs?: number;
  /**
   * Members per chunk; default: Redis' zset-max-listpack-entries when it may be read (CONFIG GET),
   * at most 128, else 128. Any size reads correctly; past the server's setting chunks just cost more.
   */
  chunkSize?: number;
  /** Redis connection errors, at most one per 10 s and connection. */
  onError?: (message: string, error: unknown) => void;
}

const unavailable = (what: string, cause: unknown) =>
  new AuditError(
    ErrorCode.INDEX_UNAVAILABLE,
    `The event index (Redis) is unavailable: ${what} failed; the ledger is not affected, try again shortly`,
    {},
    { cause },
  );

const LOAD_SCRIPTS_IN_FLIGHT = 4;

export class RedisEventIndex implements EventIndex, SetReader {
  readonly kind = 'redis' as const;
  readonly namespace: string;
  /** Queries and health checks: short timeout. */
  readonly reader: Redis;
  /** The indexer's scripts and the rebuild: longer timeout, never blocks queries behind a batch. */
  readonly writer: Redis;
  private readonly meta: string;
  private readonly lease: string;
  private chunkSize: number;
  private readonly denseMin: number;
  private readonly maxCodes: Record<CodedField, number>;

  /** The layout knobs in force, for builds that must match them (bulk-build.ts). */
  get layout(): Required<IndexLayoutOptions> {
    return { denseMinEvents: this.denseMin, maxCodes: { ...this.maxCodes } };
  }

  private constructor(options: RedisIndexOptions) {
    this.namespace = options.namespace;
    this.meta = `${this.namespace}meta`;
    this.lease = `${this.namespace}lease`;
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 2) throw new RangeError('chunkSize must be an integer ≥ 2');
    this.denseMin = options.denseMinEvents ?? DENSE_MIN_EVENTS;
    this.maxCodes = resolveMaxCodes(options.maxCodes);
    // The indexer catches up as soon as Redis is back.
    this.reader = new Redis(options.url, failFastRedisOptions('auditgraph-index-query', options.queryTimeoutMs ?? 800));
    this.writer = new Redis(options.url, failFastRedisOptions('auditgraph-indexer', options.writeTimeoutMs ?? 10_000));
    defineIndexCommands(this);
    reportConnectionErrors(this.reader, 'query', options.onError);
    reportConnectionErrors(this.writer, 'indexer', options.onError);
  }

  /** Connects both clients; when Redis is down it returns anyway and they keep reconnecting. */
  static async open(options: RedisIndexOptions): Promise<RedisEventIndex> {
    const index = new RedisEventIndex(options);
    await connectOrKeepTrying([index.reader, index.writer]);
    if (options.chunkSize === undefined) {
      // Chunks no bigger than what this server keeps as a listpack (CONFIG may be disabled: then 128).
      const got = await index.writer.config('GET', 'zset-max-listpack-entries').catch(() => null);
      const n = Array.isArray(got) ? Number(got[1]) : Number.NaN;
      if (Number.isInteger(n) && n >= 2) index.chunkSize = Math.min(DEFAULT_CHUNK_SIZE, n);
    }
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
      const [next, keys] = await this.writer.scanBuffer(cursor, 'MATCH', `${this.namespace}*`, 'COUNT', 1000);
      cursor = next.toString();
      const doomed = keys.filter((k) => !k.equals(Buffer.from(this.meta)) && !k.equals(Buffer.from(this.lease)));
      if (doomed.length > 0) await this.writer.unlink(...doomed);
    } while (cursor !== '0');
    await this.writer.agIndexFinishClear(this.meta, epoch);
  }

  async apply(batch: ApplyBatch): Promise<ApplyResult> {
    const last = batch.txs[batch.txs.length - 1];
    if (!last) return { ok: true, added: 0, status: (await this.state())?.status ?? 'building' };
    const { args, events } = applyArgs(batch);
    const m = this.maxCodes;
    const reply = await this.writer.agIndexApply(
      this.meta,
      this.namespace,
      batch.epoch,
      batch.fromTxId,
      last.txId,
      events,
      this.chunkSize,
      this.denseMin,
      ...CODED_FIELDS.map((f) => m[f]),
      ...args,
    );
    return applyResult(reply);
  }

  /**
   * Writes the built sets as full chunks, a bounded slice per script (so Redis keeps answering
   * other clients in between), a few in flight; then the codebook and checkpoint in one script.
   * Every script checks epoch, checkpoint 0 and the lease first, and renews the lease.
   */
  async load(epoch: string, built: BuiltIndex, owner: string, leaseMs: number): Promise<ApplyResult> {
    const head: Arg[] = [this.namespace, epoch, owner, leaseMs];
    const cap = this.chunkSize;
    // A few scripts in flight, answered in order; one refusal stops the sending (the scripts
    // still in flight are refused too, or wrote what a rebuild will clear) and skips the commit.
    const inFlight: Promise<[string]>[] = [];
    let refused: RefusalReason | null = null;
    const settle = async (keep: number) => {
      while (inFlight.length > keep && !refused) {
        const [outcome] = await inFlight.shift()!;
        if (outcome !== 'ok') refused = outcome as RefusalReason;
      }
    };
    for (const args of loadArgs(built, cap)) {
      const p = this.writer.agIndexLoad(this.meta, this.lease, ...head, cap, ...args);
      p.catch(() => undefined); // awaited by settle, or dropped after a refusal or a failure
      inFlight.push(p);
      await settle(LOAD_SCRIPTS_IN_FLIGHT - 1);
      if (refused) break;
    }
    for (const args of loadExtraArgs(built)) {
      if (refused) break;
      const p = this.writer.agIndexLoadExtra(this.meta, this.lease, ...head, ...args);
      p.catch(() => undefined);
      inFlight.push(p);
      await settle(LOAD_SCRIPTS_IN_FLIGHT - 1);
    }
    await settle(0);
    if (refused) return { ok: false, reason: refused };
    const reply = await this.writer.agIndexLoadCommit(this.meta, this.lease, ...head, ...loadCommitArgs(built));
    return applyResult(reply);
  }

  async query(q: IndexQuery): Promise<IndexPage> {
    const filter = normalizeFilter(q.filter);
    const page = normalizePage(q, q.orderBy);
    try {
      return await findPage(this, filter, page);
    } catch (e) {
      throw isAuditError(e) ? e : unavailable('the query', e);
    }
  }

  /** Runs a read, answering INDEX_UNAVAILABLE for anything but the caller's own mistakes. */
  private async answer<T>(what: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (e) {
      throw isAuditError(e) ? e : unavailable(what, e);
    }
  }

  async count(filter: IndexQuery['filter']): Promise<number> {
    const f = normalizeFilter(filter);
    return this.answer('the count', () => countMatches(this, f));
  }

  async stats(q: StatsArgs): Promise<StatsResult> {
    return this.answer('the stats', () => computeStats(this, q));
  }

  async correlations(q: CorrelationQuery): Promise<CorrelationPage> {
    return this.answer('the correlations', () => correlationPage(this, q));
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

  async probe(req: ProbeRequest): Promise<ProbeResult> {
    const { status, checkpoint, target, result } = probeReply(await this.reader.agIndexProbe(this.meta, ...probeArgs(this.namespace, req)), req);
    if (status !== 'ready') {
      throw new AuditError(
        ErrorCode.INDEX_UNAVAILABLE,
        status
          ? `The event index is being rebuilt (tx ${checkpoint} of ${target}); try again shortly`
          : 'The event index is empty and being rebuilt; try again shortly',
      );
    }
    return result;
  }

  async scan(streams: readonly ScanStream[], filter: MemberFilter): Promise<{ gen: string; results: ScanResult[] }> {
    return scanReply(await this.reader.agIndexScanBuffer(this.meta, ...scanArgs(this.namespace, streams, filter)));
  }

  async tally(stream: TallyStream, filter: MemberFilter, spec: TallySpec): Promise<{ gen: string; result: TallyResult }> {
    return tallyReply(await this.reader.agIndexTallyBuffer(this.meta, ...tallyArgs(this.namespace, stream, filter, spec)), spec);
  }

  async rollup(req: RollupRequest): Promise<RollupResult> {
    const got = rollupReply(await this.reader.agIndexRollup(this.meta, ...rollupArgs(this.namespace, req)), req);
    if (!got) throw new AuditError(ErrorCode.INDEX_UNAVAILABLE, 'The event index is being rebuilt; try again shortly');
    return got;
  }

  async values(field: DimensionField): Promise<ValueCount[]> {
    const flat = await this.reader.hgetall(`${this.namespace}dv:${fieldCode(field)}`);
    return Object.entries(flat).map(([esc, n]) => ({ value: unescapeValue(esc), count: Number(n) }));
  }

  async recent(after: RecentCorrelation | null, limit: number): Promise<RecentCorrelation[]> {
    const got = recentReply(await this.reader.agIndexRecentBuffer(this.meta, ...recentArgs(this.namespace, after, limit)));
    if (!got) throw new AuditError(ErrorCode.INDEX_UNAVAILABLE, 'The event index is being rebuilt; try again shortly');
    return got;
  }

  // --- inspection (tests, debugging) ---------------------------------------------------------

  /** Every member of a logical set (relative key), chunk after chunk, and the chunks' sizes. */
  async setMembers(key: string): Promise<{ members: string[]; chunks: { key: Buffer; size: number; encoding: string }[] }> {
    const S = Buffer.from(this.namespace + key, 'latin1');
    const dir = Buffer.concat([S, Buffer.from('#')]);
    const starts = await this.writer.zrangeBuffer(dir, 0, -1);
    const chunkKeys = [S, ...starts.map((s) => Buffer.concat([dir, s]))];
    const members: string[] = [];
    const chunks: { key: Buffer; size: number; encoding: string }[] = [];
    for (const k of chunkKeys) {
      const got = (await this.writer.zrangeBuffer(k, 0, -1)).map((b) => b.toString('latin1'));
      members.push(...got);
      const encoding = got.length > 0 ? String(await this.writer.object('ENCODING', k)) : 'none';
      chunks.push({ key: k, size: got.length, encoding });
    }
    return { members, chunks };
  }

  /** The codebook: coded value key → code (negative: dense), and events per value. */
  async codebook(): Promise<{ codes: Record<string, number>; counts: Record<string, number> }> {
    const [codes, counts] = await Promise.all([this.writer.hgetall(`${this.namespace}cb`), this.writer.hgetall(`${this.namespace}cn`)]);
    const num = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v)]));
    return { codes: num(codes), counts: num(counts) };
  }
}
