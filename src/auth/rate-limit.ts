/**
 * Per-principal rate limits (api-contract.md: RATE_LIMITED) on rate-limiter-flexible: events written
 * and GraphQL query cost. In process by default (RateLimiterMemory); with REDIS_URL the counters live
 * in Redis (RateLimiterRedis: one Lua script per call, windows timed by Redis' key expiry), so every
 * instance draws on one budget.
 *
 * The library counts fixed windows, not token buckets, so a budget is two windows per principal
 * (see windowsOf): a rate window of `perSecond` (over the fewest whole seconds that make it whole
 * points), and a reserve of `burst` minus that, which a request draws on when the rate window cannot
 * take it and which comes back whole every burst/perSecond seconds. A principal may spend `burst`
 * at once, then `perSecond`. A request that fits both goes through the library's BurstyRateLimiter;
 * one that fits only one window goes to that one alone, so the wait it is told is that window's.
 *
 * A Redis that does not answer fails open (the request goes through, a warning is logged): audit
 * writes matter more than the limit, and immudb stays the one dependency writes wait for. Not the
 * library's insuranceLimiter: it would switch to per-instance budgets without a word.
 */
import { Redis } from 'ioredis';
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AuditError, ConfigError, ErrorCode } from '../errors.ts';
import { failFastRedisOptions } from '../redis/fail-fast.ts';

export type Budget = 'writes' | 'cost';

export interface BucketSpec {
  /** Points per second; 0: unlimited. */
  perSecond: number;
  /** The most one principal may spend at once (rate window plus reserve). */
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

/** One fixed window of the library: `points` per `seconds` (whole seconds: Redis expires keys by them). */
export interface Window {
  points: number;
  seconds: number;
}

export interface Windows {
  rate: Window;
  /** null when the burst is not above the rate window's points. */
  reserve: Window | null;
  /** The most one request is charged: a larger one is clamped to this (the larger window). */
  largest: number;
}

/** Up to an hour for a rate window that is whole points; past that, rounded down. */
const MAX_EXACT_WINDOW_S = 3_600;
/** RateLimiterMemory ends a window with setTimeout, which takes at most 2^31 − 1 ms (~24.8 days). */
const MAX_WINDOW_S = 2_000_000;
const whole = (x: number) => Math.abs(x - Math.round(x)) < 1e-9 * Math.max(1, x);

/**
 * How a budget maps onto the library's windows (null: unlimited):
 * - rate: perSecond × W points per W seconds, W the fewest whole seconds that make whole points
 *   (1 s for 10/s, 2 s for 2.5/s or 0.5/s, 100 s for 0.01/s; beyond an hour, W = ⌈1/perSecond⌉ and
 *   the points rounded down);
 * - reserve: ⌊burst − rate points⌋ per ⌈burst/perSecond⌉ seconds (at least W), if that is a point
 *   or more.
 * No window is longer than MAX_WINDOW_S (a rate below one point in ~23 days is not kept exactly).
 */
export function windowsOf(spec: BucketSpec): Windows | null {
  const { perSecond, burst } = spec;
  if (!(perSecond > 0)) return null;
  let rate: Window | null = null;
  for (let s = 1; s <= MAX_EXACT_WINDOW_S && !rate; s++) {
    if (perSecond * s >= 1 - 1e-9 && whole(perSecond * s)) rate = { points: Math.round(perSecond * s), seconds: s };
  }
  if (!rate) {
    const seconds = Math.min(MAX_WINDOW_S, Math.max(1, Math.ceil(1 / perSecond - 1e-9)));
    rate = { points: Math.max(1, Math.floor(perSecond * seconds + 1e-9)), seconds };
  }
  const extra = Math.floor(burst - rate.points + 1e-9);
  const reserve = extra >= 1 ? { points: extra, seconds: Math.min(MAX_WINDOW_S, Math.max(rate.seconds, Math.ceil(burst / perSecond - 1e-9))) } : null;
  return { rate, reserve, largest: Math.max(rate.points, reserve?.points ?? 0) };
}

/** What the library calls a limiter: consume resolves when granted, rejects with a RateLimiterRes when refused. */
interface Consumer {
  consume(key: string, points: number): Promise<unknown>;
}

interface Plan {
  windows: Windows;
  rate: Consumer;
  reserve: Consumer | null;
  /** The rate window first, then the reserve (BurstyRateLimiter). */
  both: Consumer | null;
}

type MakeLimiter = (opts: { keyPrefix: string; points: number; duration: number }) => RateLimiterMemory | RateLimiterRedis;

function plan(limits: RateLimits, budget: Budget, keyPrefix: string, make: MakeLimiter): Plan | null {
  const windows = windowsOf(limits[budget]);
  if (!windows) return null;
  const rate = make({ keyPrefix: `${keyPrefix}:${budget}:rate`, points: windows.rate.points, duration: windows.rate.seconds });
  const reserve = windows.reserve
    ? make({ keyPrefix: `${keyPrefix}:${budget}:reserve`, points: windows.reserve.points, duration: windows.reserve.seconds })
    : null;
  return { windows, rate, reserve, both: reserve ? new BurstyRateLimiter(rate, reserve) : null };
}

/**
 * Takes `amount` (rounded up to whole points, clamped to the larger window) from the one window
 * that can hold it, or from both in turn when both can: so the wait reported on a refusal is the
 * time until a window that can grant it again comes back (the library's msBeforeNext).
 */
async function takeFrom(p: Plan | null, principal: string, amount: number): Promise<TakeResult> {
  if (!p || !(amount > 0)) return { ok: true };
  const need = Math.min(Math.ceil(amount), p.windows.largest);
  const inRate = need <= p.windows.rate.points;
  const inReserve = p.windows.reserve !== null && need <= p.windows.reserve.points;
  const limiter = inRate && inReserve ? p.both! : inRate ? p.rate : p.reserve!;
  try {
    await limiter.consume(principal, need);
    return { ok: true };
  } catch (e) {
    if (e instanceof RateLimiterRes) return { ok: false, retryAfterMs: Math.max(1, Math.ceil(e.msBeforeNext)) };
    throw e;
  }
}

export class MemoryRateLimiter implements RateLimiter {
  readonly kind = 'memory';
  private readonly plans: Record<Budget, Plan | null>;
  constructor(readonly limits: RateLimits) {
    const make: MakeLimiter = (o) => new RateLimiterMemory(o);
    this.plans = { writes: plan(limits, 'writes', 'ratelimit', make), cost: plan(limits, 'cost', 'ratelimit', make) };
  }

  take(principal: string, budget: Budget, amount: number): Promise<TakeResult> {
    return takeFrom(this.plans[budget], principal, amount);
  }

  async close(): Promise<void> {}
}

/**
 * Keys `<prefix>:<budget>:rate:<principal>` and `<prefix>:<budget>:reserve:<principal>` (strings
 * with a TTL), apart from the hashes the earlier token buckets kept at `<prefix>:<budget>:<principal>`.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly kind = 'redis';
  private readonly redis: Redis;
  private readonly connected: Promise<void>;
  private readonly plans: Record<Budget, Plan | null>;
  constructor(
    url: string,
    readonly limits: RateLimits,
    private readonly options: { prefix?: string; onError?: (message: string) => void } = {},
  ) {
    // No offline queue, 500 ms per command: a Redis away is an error at once, not a wait.
    this.redis = new Redis(url, failFastRedisOptions('auditgraph-rate-limit', 500));
    this.redis.on('error', () => {}); // reported per call (fail open) below
    // Calls wait for the first connection (bounded by connectTimeout) instead of failing open at start-up.
    this.connected = this.redis.connect().catch(() => {});
    const prefix = options.prefix ?? 'auditgraph:ratelimit';
    const make: MakeLimiter = (o) => new RateLimiterRedis({ ...o, storeClient: this.redis, rejectIfRedisNotReady: true });
    this.plans = { writes: plan(limits, 'writes', prefix, make), cost: plan(limits, 'cost', prefix, make) };
  }

  async take(principal: string, budget: Budget, amount: number): Promise<TakeResult> {
    const p = this.plans[budget];
    if (!p || !(amount > 0)) return { ok: true };
    await this.connected;
    try {
      return await takeFrom(p, principal, amount);
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
 * defaults to one second's worth, at least the largest single request (1,000 events, 50,000 cost),
 * so that a valid request is never refused forever.
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
