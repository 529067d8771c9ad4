import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadRateLimits, MemoryRateLimiter, type RateLimits, rateLimitsEnabled, windowsOf } from '../../src/auth/rate-limit.ts';
import { ConfigError } from '../../src/errors.ts';

describe('windowsOf (RATE_LIMIT_* onto rate-limiter-flexible windows)', () => {
  it('a rate window of perSecond in the fewest whole seconds, a reserve of the rest of the burst over burst/perSecond', () => {
    expect(windowsOf({ perSecond: 10, burst: 20 })).toEqual({ rate: { points: 10, seconds: 1 }, reserve: { points: 10, seconds: 2 }, largest: 10 });
    expect(windowsOf({ perSecond: 2.5, burst: 10 })).toEqual({ rate: { points: 5, seconds: 2 }, reserve: { points: 5, seconds: 4 }, largest: 5 });
    expect(windowsOf({ perSecond: 0.01, burst: 400 })).toEqual({
      rate: { points: 1, seconds: 100 },
      reserve: { points: 399, seconds: 40_000 },
      largest: 399,
    });
    expect(windowsOf({ perSecond: 100, burst: 50_000 })).toEqual({
      rate: { points: 100, seconds: 1 },
      reserve: { points: 49_900, seconds: 500 },
      largest: 49_900,
    });
  });
  it('no reserve when the burst is not above the rate window; null when unlimited; inexact rates round down', () => {
    expect(windowsOf({ perSecond: 5000, burst: 5000 })).toEqual({ rate: { points: 5000, seconds: 1 }, reserve: null, largest: 5000 });
    expect(windowsOf({ perSecond: 10, burst: 3 })).toEqual({ rate: { points: 10, seconds: 1 }, reserve: null, largest: 10 });
    expect(windowsOf({ perSecond: 0, burst: 100 })).toBeNull();
    // 0.3333 × s is whole only at 10,000 s, past the hour: 1 point per ⌈1/0.3333⌉ = 4 s.
    expect(windowsOf({ perSecond: 0.3333, burst: 1 })!.rate).toEqual({ points: 1, seconds: 4 });
  });
});

describe('MemoryRateLimiter (rate-limiter-flexible, on a fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const only = (writes: RateLimits['writes']): RateLimits => ({ writes, cost: { perSecond: 0, burst: 0 } });

  it('spends the rate window, then the reserve; says when a window comes back; keeps principals and budgets apart', async () => {
    const l = new MemoryRateLimiter(only({ perSecond: 10, burst: 20 })); // 10 per 1 s + 10 per 2 s
    expect(await l.take('a', 'writes', 10)).toEqual({ ok: true }); // rate window
    expect(await l.take('a', 'writes', 10)).toEqual({ ok: true }); // reserve
    expect(await l.take('a', 'writes', 1)).toEqual({ ok: false, retryAfterMs: 1000 }); // the rate window's end
    expect(await l.take('b', 'writes', 20)).toEqual({ ok: true }); // b's own; clamped to 10
    expect(await l.take('a', 'cost', 1e9)).toEqual({ ok: true }); // cost unlimited
    expect(await l.take('a', 'writes', 0)).toEqual({ ok: true }); // nothing to take
    vi.advanceTimersByTime(999);
    expect(await l.take('a', 'writes', 1)).toEqual({ ok: false, retryAfterMs: 1 });
    vi.advanceTimersByTime(1);
    expect(await l.take('a', 'writes', 10)).toEqual({ ok: true }); // a new rate window
    expect(await l.take('a', 'writes', 1)).toEqual({ ok: false, retryAfterMs: 1000 }); // the reserve is still spent
    vi.advanceTimersByTime(1000);
    expect(await l.take('a', 'writes', 20)).toEqual({ ok: true }); // both back: rate window (clamped to 10)…
    expect(await l.take('a', 'writes', 10)).toEqual({ ok: true }); // …then the reserve
  });

  it('a request only the reserve can hold waits for the reserve; one larger than any window is clamped to it', async () => {
    const l = new MemoryRateLimiter(only({ perSecond: 1, burst: 10 })); // 1 per 1 s + 9 per 10 s
    expect(await l.take('a', 'writes', 9)).toEqual({ ok: true }); // the reserve, whole
    expect(await l.take('a', 'writes', 1)).toEqual({ ok: true }); // the rate window
    vi.advanceTimersByTime(1000);
    // 2 never fits the rate window: the wait is the reserve's (9 s), not the rate window's.
    expect(await l.take('a', 'writes', 2)).toEqual({ ok: false, retryAfterMs: 9000 });
    expect(await l.take('a', 'writes', 1)).toEqual({ ok: true });
    expect(await l.take('a', 'writes', 500)).toEqual({ ok: false, retryAfterMs: 9000 });
    vi.advanceTimersByTime(9000);
    expect(await l.take('a', 'writes', 500)).toEqual({ ok: true }); // charged 9: passes when the reserve is whole
    expect(await l.take('a', 'writes', 2)).toEqual({ ok: false, retryAfterMs: 10_000 });
  });

  it('fractional amounts are charged as whole points (rounded up)', async () => {
    const l = new MemoryRateLimiter(only({ perSecond: 2, burst: 2 }));
    expect(await l.take('a', 'writes', 1.5)).toEqual({ ok: true }); // 2
    expect(await l.take('a', 'writes', 0.1)).toEqual({ ok: false, retryAfterMs: 1000 });
  });
});

describe('loadRateLimits', () => {
  it('is unlimited by default; the burst defaults to a second’s worth but at least the largest request', () => {
    expect(rateLimitsEnabled(loadRateLimits({}))).toBe(false);
    expect(loadRateLimits({ RATE_LIMIT_WRITES_PER_SEC: '5000', RATE_LIMIT_COST_PER_SEC: '100' })).toEqual({
      writes: { perSecond: 5000, burst: 5000 },
      cost: { perSecond: 100, burst: 50_000 },
    });
    expect(loadRateLimits({ RATE_LIMIT_WRITES_PER_SEC: '2.5', RATE_LIMIT_WRITES_BURST: '10' }).writes).toEqual({ perSecond: 2.5, burst: 10 });
  });
  it('refuses what is not a non-negative number', () => {
    expect(() => loadRateLimits({ RATE_LIMIT_WRITES_PER_SEC: '-1' })).toThrow(ConfigError);
    expect(() => loadRateLimits({ RATE_LIMIT_COST_BURST: 'lots' })).toThrow(/RATE_LIMIT_COST_BURST must be a non-negative number/);
  });
});
