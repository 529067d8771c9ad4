/**
 * Per-principal rate limits (api-contract.md: RATE_LIMITED): token buckets for events written per
 * second and GraphQL query cost per second. In process by default; with REDIS_URL the buckets live
 * in Redis (one Lua script per take, Redis' own clock), so every instance draws on one budget.
 *
 * A Redis that does not answer fails open (the request goes through, a warning is logged): audit
 * writes matter more than the limit, and immudb stays the one dependency writes wait for.
 *
 * Not rate-limiter-flexible: it counts fixed windows (refill all at once, refusals charged,
 * Date.now() as clock), not these buckets; its CPU was not the obstacle (+0.06 % of a write's in
 * memory, +0.7-1.4 % in Redis: bench/results/metrics-ratelimit-20261207T1613.md).
 */
import { Redis } from 'ioredis';
import { AuditError, ConfigError, ErrorCode } from '../errors.ts';
import { failFastRedisOptions } from '../redis/fail-fast.ts';

export type Budget = 'writes' | 'cost';

export interface BucketSpec {
  /** Tokens per second; 0: unlimited. */
  perSecond: number;
  /** Bucket size: the most one principal may spend at once. */
  burst: number;
}

export interface RateLimits {
  writes: BucketSpec;
  cost: BucketSpec;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

export interface RateLimiter {
  readonly kind: 'memory' | 'redis';
  readonly limits: RateLimits;
  take(principal: string, budget: Budget, amount: number): Promise<TakeResult>;
  close(): Promise<void>;
}

export const rateLimited = (budget: Budget, retryAfterMs: number) =>
  new AuditError(
    ErrorCode.RATE_LIMITED,
    `Rate limit exceeded (${budget === 'writes' ? 'events written' : 'query cost'} per second); retry after ${retryAfterMs} ms.`,
    { retryAfterMs, limit: budget },
  );

/** A request larger than the whole bucket is let through when the bucket is full (it empties it). */
const clampAmount = (spec: BucketSpec, amount: number) => Math.min(Math.max(amount, 0), spec.burst);

export class MemoryRateLimiter implements RateLimiter {
  readonly kind = 'memory';
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly limits: RateLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async take(principal: string, budget: Budget, amount: number): Promise<TakeResult> {
    const spec = this.limits[budget];
    if (spec.perSecond <= 0 || amount <= 0) return { ok: true };
    const need = clampAmount(spec, amount);
    const key = `${budget}\u0000${principal}`;
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: spec.burst, at: now };
    b.tokens = Math.min(spec.burst, b.tokens + ((now - b.at) * spec.perSecond) / 1000);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= need) {
      b.tokens -= need;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil(((need - b.tokens) * 1000) / spec.perSecond)) };
  }

  async close(): Promise<void> {}
}

// KEYS[1] bucket; ARGV: perSecond, burst, amount. Returns { ok (1/0), retryAfterMs }.
// TIME in the script: every instance uses Redis' clock, not its own (Redis 7 replicates effects).
const TAKE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(s[1])
local at = tonumber(s[2])
if tokens == nil or at == nil then tokens = burst; at = now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local ok = 0
local wait = 0
if tokens >= need then
  tokens = tokens - need
  ok = 1
else
  wait = math.max(1, math.ceil((need - tokens) * 1000 / rate))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return { ok, wait }
`;

export class RedisRateLimiter implements RateLimiter {
  readonly kind = 'redis';
  private readonly redis: Redis;
  constructor(
    url: string,
    readonly limits: RateLimits,
    private readonly options: { prefix?: string; onError?: (message: string) => void } = {},
  ) {
    this.redis = new Redis(url, failFastRedisOptions('auditgraph-rate-limit', 500));
    this.redis.on('error', () => {}); // reported per call (fail open) below
    // Calls wait for the first connection (bounded by connectTimeout) instead of failing open at start-up.
    this.connected = this.redis.connect().catch(() => {});
  }
  private readonly connected: Promise<void>;

  async take(principal: string, budget: Budget, amount: number): Promise<TakeResult> {
    const spec = this.limits[budget];
    if (spec.perSecond <= 0 || amount <= 0) return { ok: true };
    const key = `${this.options.prefix ?? 'auditgraph:ratelimit'}:${budget}:${principal}`;
    await this.connected;
    try {
      const [ok, wait] = (await this.redis.eval(TAKE, 1, key, spec.perSecond, spec.burst, clampAmount(spec, amount))) as [number, number];
      return ok === 1 ? { ok: true } : { ok: false, retryAfterMs: Number(wait) };
    } catch (e) {
      this.options.onError?.(`rate limit: Redis did not answer (${e instanceof Error ? e.message : String(e)}); letting the request through`);
      return { ok: true };
    }
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

const positive = (env: Record<string, string | undefined>, name: string, problems: string[]): number | null => {
  const raw = env[name]?.trim();
  if (!raw) return null;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(n)) {
    problems.push(`${name} must be a non-negative number (got ${JSON.stringify(raw.slice(0, 40))})`);
    return null;
  }
  return n;
};

/**
 * RATE_LIMIT_WRITES_PER_SEC / RATE_LIMIT_WRITES_BURST (events) and RATE_LIMIT_COST_PER_SEC /
 * RATE_LIMIT_COST_BURST (query cost). Unset or 0 per second: that budget is unlimited. The burst
 * defaults to one second's worth (at least the largest single request: 1,000 events, 50,000 cost,
 * so no valid request is refused forever).
 */
export function loadRateLimits(env: Record<string, string | undefined> = process.env): RateLimits {
  const problems: string[] = [];
  const spec = (prefix: string, minBurst: number): BucketSpec => {
    const perSecond = positive(env, `${prefix}_PER_SEC`, problems) ?? 0;
    const burst = positive(env, `${prefix}_BURST`, problems) ?? Math.max(perSecond, minBurst);
    return { perSecond, burst };
  };
  const limits = { writes: spec('RATE_LIMIT_WRITES', 1_000), cost: spec('RATE_LIMIT_COST', 50_000) };
  if (problems.length > 0) throw new ConfigError(problems);
  return limits;
}

export const rateLimitsEnabled = (limits: RateLimits) => limits.writes.perSecond > 0 || limits.cost.perSecond > 0;
