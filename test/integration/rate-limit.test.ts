/**
 * Per-principal rate limits on a real immudb (and a real Redis for the shared budget):
 * RATE_LIMITED with retryAfterMs and Retry-After, nothing written when refused, other principals
 * unaffected, a request over the whole budget clamped, two instances on one Redis drawing on one
 * budget, and a Redis that goes away failing open and limiting again when it is back.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter, type RateLimits } from '../../src/auth/rate-limit.ts';
import { createTokenStore } from '../../src/auth/tokens.ts';
import { sha256Hex } from '../support/auth.ts';
import type { Ledger } from '../../src/ledger/port.ts';
import { createApp, type App } from '../../src/server/app.ts';
import { createLogger } from '../../src/logger.ts';
import { CREATE, CREATE_MANY, eventInput } from '../support/graphql.ts';
import { wsClient } from '../support/live.ts';
import { freePort, startRedis } from '../support/servers.ts';
import { describeImmudb, openTestImmudbLedger, redisUrl } from '../support/services.ts';
import type { FormattedExecutionResult } from 'graphql-ws';
import type { GraphQLBody } from '../support/api-types.ts';

const auth = createTokenStore(['alice', 'bob', 'carol'].map((name) => ({ name, sha256: sha256Hex(`${name}-token`), scopes: ['audit:admin' as const] })));
const quiet = createLogger({ level: 'error', write: () => {} });

async function start(ledger: Ledger, rateLimiter: RateLimiter): Promise<{ app: App; url: string }> {
  const app = createApp({ ledger, auth, rateLimiter, config: { port: 0, host: '127.0.0.1' }, logger: quiet });
  return { app, url: (await app.listen()).url };
}

async function gql(url: string, who: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${who}-token` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as GraphQLBody };
}
const code = (r: Awaited<ReturnType<typeof gql>>) => r.body.errors?.[0]?.extensions?.code ?? null;

// Windows so long that a test never sees one end: what passes is the burst. 0.01/s is 1 point per
// 100 s (the rate window), and the rest of the burst is a reserve over burst/0.01 s.
const limits = (over: Partial<RateLimits>): RateLimits => ({ writes: { perSecond: 0, burst: 0 }, cost: { perSecond: 0, burst: 0 }, ...over });
const errorExt = (r: Awaited<ReturnType<typeof gql>>) => r.body.errors![0]!.extensions!;

describeImmudb('rate limits', () => {
  let ledger: Ledger;
  const apps: App[] = [];
  const limiters: RateLimiter[] = [];
  const txId = async (url: string) => BigInt((await gql(url, 'bob', '{ ledgerState { txId } }')).body.data!.ledgerState.txId);

  beforeAll(async () => {
    ledger = await openTestImmudbLedger();
  });
  afterAll(async () => {
    for (const a of apps) await a.close();
    for (const l of limiters) await l.close();
    await ledger?.close();
  });

  it('writes: a burst over the limit is RATE_LIMITED (retryAfterMs, Retry-After), writes nothing; another principal is unaffected', async () => {
    // 1 event per 100 s, plus a reserve of 4 per 500 s.
    const limiter = new MemoryRateLimiter(limits({ writes: { perSecond: 0.01, burst: 5 } }));
    const { app, url } = await start(ledger, limiter);
    apps.push(app);
    const before = await txId(url);
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await gql(url, 'alice', CREATE, { input: eventInput() }));
    expect(results.map(code)).toEqual([null, null, null, null, null, 'RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
    const refused = results[5]!;
    // 1 event fits either window: the wait is until the rate window's end (100 s after alice's first write).
    expect(errorExt(refused).retryAfterMs).toBeGreaterThan(50_000);
    expect(errorExt(refused).retryAfterMs).toBeLessThanOrEqual(100_000);
    expect(Number(refused.retryAfter)).toBe(Math.ceil(errorExt(refused).retryAfterMs! / 1000));
    expect(results[0]!.retryAfter).toBeNull();
    // A batch is charged per event: 4 fit only the reserve, which they spend; then 2 at once are
    // refused whole (waiting for the reserve, ~500 s, not the rate window), then 1 passes in the rate window.
    const batch = (who: string, n: number) => gql(url, who, CREATE_MANY, { input: Array.from({ length: n }, () => eventInput()) });
    expect(code(await batch('bob', 4))).toBeNull();
    const two = await batch('bob', 2);
    expect(code(two)).toBe('RATE_LIMITED');
    expect(errorExt(two).retryAfterMs).toBeGreaterThan(100_000);
    expect(code(await batch('bob', 1))).toBeNull();
    // Larger than the whole burst: charged as the larger window (the reserve, 4), so it passes while
    // that is untouched, and spends it.
    expect(code(await batch('carol', 6))).toBeNull();
    expect(code(await batch('carol', 2))).toBe('RATE_LIMITED');
    expect(code(await batch('carol', 1))).toBeNull();
    expect(code(await batch('carol', 1))).toBe('RATE_LIMITED');
    // alice's 5 single writes, bob's two batches, carol's two.
    expect((await txId(url)) - before).toBe(9n);
  });

  it('query cost: charged per principal, RATE_LIMITED once spent; another principal is unaffected', async () => {
    const limiter = new MemoryRateLimiter(limits({ cost: { perSecond: 0.01, burst: 400 } }));
    const { app, url } = await start(ledger, limiter);
    apps.push(app);
    const page = '{ timeline(correlationId: "none", first: 10) { edges { node { eventId } } } }';
    const codes: (string | null)[] = [];
    for (let i = 0; i < 20 && !codes.includes('RATE_LIMITED'); i++) codes.push(code(await gql(url, 'alice', page)));
    expect(codes.at(-1)).toBe('RATE_LIMITED');
    expect(codes.length).toBeGreaterThan(1);
    const refused = await gql(url, 'alice', page);
    expect(code(refused)).toBe('RATE_LIMITED');
    // A page costs more than the rate window's 1 point: it waits for the reserve (40,000 s).
    expect(errorExt(refused).retryAfterMs).toBeGreaterThan(100_000);
    expect(Number(refused.retryAfter)).toBe(Math.ceil(errorExt(refused).retryAfterMs! / 1000));
    expect(code(await gql(url, 'bob', page))).toBeNull();

    // Over WebSocket the same budget applies (no header there: retryAfterMs only).
    const client = wsClient(url.replace(/^http/, 'ws'), { connectionParams: { authorization: 'Bearer alice-token' } });
    try {
      const r = await new Promise<FormattedExecutionResult<Record<string, unknown>, unknown> | undefined>((resolve, reject) => {
        let first: FormattedExecutionResult<Record<string, unknown>, unknown> | undefined;
        client.subscribe(
          { query: page },
          {
            next: (x) => {
              first ??= x;
            },
            error: reject,
            complete: () => resolve(first),
          },
        );
      });
      expect(r!.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: expect.any(Number) });
    } finally {
      await client.dispose();
    }
  });

  (redisUrl ? describe : describe.skip)('through Redis', () => {
    it('two instances on one Redis share each principal’s budget', async () => {
      const prefix = `test:ratelimit:${randomBytes(6).toString('hex')}`;
      const spec = limits({ writes: { perSecond: 0.01, burst: 4 } }); // 1 per 100 s + 3 per 400 s
      const a = new RedisRateLimiter(redisUrl!, spec, { prefix });
      const b = new RedisRateLimiter(redisUrl!, spec, { prefix });
      limiters.push(a, b);
      const [A, B] = [await start(ledger, a), await start(ledger, b)];
      apps.push(A.app, B.app);
      const codes = [];
      for (const url of [A.url, B.url, A.url, B.url, A.url, B.url]) codes.push(code(await gql(url, 'alice', CREATE, { input: eventInput() })));
      expect(codes).toEqual([null, null, null, null, 'RATE_LIMITED', 'RATE_LIMITED']);
      // bob's budget is his own, on either instance.
      expect(code(await gql(B.url, 'bob', CREATE, { input: eventInput() }))).toBeNull();
      expect(code(await gql(A.url, 'bob', CREATE, { input: eventInput() }))).toBeNull();
    });
  });
});

(redisUrl ? describe : describe.skip)('RedisRateLimiter on a real Redis', () => {
  const spec = limits({ writes: { perSecond: 0.01, burst: 4 } }); // 1 per 100 s + 3 per 400 s

  it('keeps its windows under the prefix, timed by Redis (retryAfterMs from the key’s TTL)', async () => {
    const prefix = `test:ratelimit:${randomBytes(6).toString('hex')}`;
    const l = new RedisRateLimiter(redisUrl!, spec, { prefix });
    const redis = new Redis(redisUrl!);
    try {
      expect(await l.take('p:alice', 'writes', 1)).toEqual({ ok: true }); // rate window
      expect(await l.take('p:alice', 'writes', 3)).toEqual({ ok: true }); // reserve
      const refused = await l.take('p:alice', 'writes', 1);
      expect(refused.ok).toBe(false);
      const retryAfterMs = (refused as { retryAfterMs: number }).retryAfterMs;
      expect(retryAfterMs).toBeGreaterThan(50_000);
      expect(retryAfterMs).toBeLessThanOrEqual(100_000);
      expect((await redis.keys(`${prefix}:*`)).sort()).toEqual([`${prefix}:writes:rate:p:alice`, `${prefix}:writes:reserve:p:alice`]);
      expect(await redis.pttl(`${prefix}:writes:rate:p:alice`)).toBeLessThanOrEqual(100_000);
      expect(await redis.pttl(`${prefix}:writes:reserve:p:alice`)).toBeGreaterThan(100_000);
      expect(await redis.pttl(`${prefix}:writes:reserve:p:alice`)).toBeLessThanOrEqual(400_000);
      // Refusals are counted too (they end with their window): 1 + the refused 1 in the rate window.
      expect(await redis.get(`${prefix}:writes:rate:p:alice`)).toBe('2');
      expect(await l.take('p:bob', 'writes', 1)).toEqual({ ok: true });
      expect(await l.take('p:alice', 'cost', 1e9)).toEqual({ ok: true }); // cost unlimited: no key
      expect(await redis.keys(`${prefix}:cost:*`)).toEqual([]);
    } finally {
      redis.disconnect();
      await l.close();
    }
  });

  it('fails open (with a warning) while Redis is away, at start-up or later, and limits again once it is back', async () => {
    const port = await freePort();
    const warnings: string[] = [];
    const l = new RedisRateLimiter(`redis://127.0.0.1:${port}`, spec, { onError: (m) => warnings.push(m) });
    let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
    // Bounded: takes 1 until refused (Redis counting again), waiting between the ones let through.
    const untilRefused = async () => {
      for (let i = 0; i < 100; i++) {
        if (!(await l.take('p:alice', 'writes', 1)).ok) return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    };
    try {
      // Nothing listens yet: every take goes through, each with a warning.
      for (let i = 0; i < 6; i++) expect(await l.take('p:alice', 'writes', 1)).toEqual({ ok: true });
      expect(warnings.length).toBe(6);
      expect(warnings[0]).toMatch(/^rate limit: Redis did not answer \(.+\); letting the request through$/);

      redis = await startRedis(port);
      expect(await untilRefused()).toBe(true);

      await redis.kill();
      warnings.length = 0;
      for (let i = 0; i < 6; i++) expect(await l.take('p:alice', 'writes', 1)).toEqual({ ok: true });
      expect(warnings.length).toBe(6);

      // Back, empty (no persistence): the budget starts over and is enforced again.
      await redis.start();
      expect(await untilRefused()).toBe(true);
    } finally {
      await l.close();
      await redis?.destroy();
    }
  });
});
