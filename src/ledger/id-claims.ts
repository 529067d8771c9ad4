/**
 * Cross-instance claims on caller-given eventIds. immudb itself keeps idempotency between gateway
 * instances (each write carries KeyMustNotExist on its id keys: a racing second writer's tx is
 * refused and its group checked again, group-commit.ts); a claim spares that refused tx. While one
 * instance checks and writes an id it holds a claim in Redis (SET NX with a TTL); another instance
 * with the same id waits for the claim, then reads the ledger up to its newest transaction (so it
 * sees the first writer's event) before deciding.
 *
 * A claim is an optimisation, never a condition for writing: when Redis does not answer, the
 * write goes ahead unclaimed (reported through `onError`), because the ledger must keep taking
 * writes while the index's Redis is away.
 */
import { randomUUID } from 'node:crypto';
import { Redis, type Result } from 'ioredis';
import { AuditError, ErrorCode } from '../errors.ts';
import { failFastRedisOptions } from '../redis/fail-fast.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    agClaim(numKeys: number, ...args: (string | number)[]): Result<number, Context>;
    agUnclaim(numKeys: number, ...args: string[]): Result<number, Context>;
  }
}

export interface EventIdClaims {
  /** Claims every id (all or none), waiting while another instance holds one; returns the release. */
  claim(eventIds: readonly string[]): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** All or none: returns 0 when every key was set, else the 1-based position of a key already held. */
const CLAIM = `
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) == false then
    for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
    return i
  end
end
return 0`;

const UNCLAIM = `
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then n = n + redis.call('DEL', KEYS[i]) end
end
return n`;

export interface RedisEventIdClaimsOptions {
  url: string;
  /** Separates ledgers sharing one Redis (e.g. the immudb database name). */
  scope: string;
  /** A claim outlives a crashed holder by at most this long. Longer than any commit (call deadlines are 5 s). */
  ttlMs?: number;
  /** How long to wait for another instance's claim before giving up with LEDGER_UNAVAILABLE. */
  waitMs?: number;
  onError?: (message: string) => void;
}

export class RedisEventIdClaims implements EventIdClaims {
  private readonly redis: Redis;
  private readonly ttlMs: number;
  private readonly waitMs: number;
  private readonly prefix: string;
  private readonly connected: Promise<void>;
  private lastReport = 0;

  constructor(private readonly options: RedisEventIdClaimsOptions) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.waitMs = options.waitMs ?? 35_000;
    this.prefix = `ag:claim:v1:{${encodeURIComponent(options.scope)}}:`;
    this.redis = new Redis(options.url, failFastRedisOptions('auditgraph-id-claims', 500));
    this.redis.defineCommand('agClaim', { lua: CLAIM });
    this.redis.defineCommand('agUnclaim', { lua: UNCLAIM });
    this.redis.on('error', () => {}); // reported per call below
    this.connected = this.redis.connect().catch(() => {});
  }

  async claim(eventIds: readonly string[]): Promise<() => Promise<void>> {
    if (eventIds.length === 0) return async () => {};
    await this.connected;
    const keys = [...new Set(eventIds)].sort().map((id) => this.prefix + id);
    const owner = randomUUID();
    const deadline = Date.now() + this.waitMs;
    for (let attempt = 0; ; attempt++) {
      let held: number;
      try {
        held = await this.redis.agClaim(keys.length, ...keys, owner, this.ttlMs);
      } catch (e) {
        this.report(`eventId claims: Redis did not answer (${e instanceof Error ? e.message : String(e)}); writing unclaimed`);
        return async () => {};
      }
      if (held === 0) {
        return async () => {
          try {
            await this.redis.agUnclaim(keys.length, ...keys, owner);
          } catch {
            // The TTL frees the claim.
          }
        };
      }
      if (Date.now() >= deadline) {
        throw new AuditError(
          ErrorCode.LEDGER_UNAVAILABLE,
          `eventId ${keys[held - 1]!.slice(this.prefix.length)} is being written by another gateway instance; retry`,
        );
      }
      // Another instance is writing this id right now: its commit takes milliseconds.
      await new Promise((r) => setTimeout(r, Math.min(5 * 2 ** Math.min(attempt, 6), 200)));
    }
  }

  private report(message: string): void {
    if (Date.now() - this.lastReport < 10_000) return;
    this.lastReport = Date.now();
    this.options.onError?.(message);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
