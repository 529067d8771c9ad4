import { describe, expect, it } from 'vitest';
import { loadRateLimits, MemoryRateLimiter, rateLimitsEnabled } from '../../src/auth/rate-limit.ts';
import { ConfigError } from '../../src/errors.ts';

describe('MemoryRateLimiter (token bucket)', () => {
  it('spends the burst, refills at the rate, says how long to wait, keeps principals and budgets apart', async () => {
    let now = 0;
    const l = new MemoryRateLimiter({ writes: { perSecond: 10, burst: 20 }, cost: { perSecond: 0, burst: 0 } }, () => now);
    expect(await l.take('a', 'writes', 20)).toEqual({ ok: true });
    expect(await l.take('a', 'writes', 5)).toEqual({ ok: false, retryAfterMs: 500 });
    expect(await l.take('b', 'writes', 20)).toEqual({ ok: true });
    expect(await l.take('a', 'cost', 1e9)).toEqual({ ok: true }); // cost unlimited
    now = 500;
    expect(await l.take('a', 'writes', 5)).toEqual({ ok: true });
    now = 100_000;
    expect(await l.take('a', 'writes', 25)).toEqual({ ok: true }); // larger than the bucket: passes when full
    expect(await l.take('a', 'writes', 1)).toEqual({ ok: false, retryAfterMs: 100 });
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
