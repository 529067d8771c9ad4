/**
 * Per-principal rate limits on a real immudb (and a real Redis for the shared budget):
 * RATE_LIMITED with retryAfterMs and Retry-After, nothing written when refused, other principals
 * unaffected, two instances on one Redis drawing on one budget.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter, type RateLimits } from '../../src/auth/rate-limit.ts';
import { createTokenStore } from '../../src/auth/tokens.ts';
import { sha256Hex } from '../support/auth.ts';
import type { Ledger } from '../../src/ledger/port.ts';
import { createApp, type App } from '../../src/server/app.ts';
import { createLogger } from '../../src/logger.ts';
import { CREATE, CREATE_MANY, eventInput } from '../support/graphql.ts';
import { wsClient } from '../support/live.ts';
import { describeImmudb, openTestImmudbLedger, redisUrl } from '../support/services.ts';
import type { FormattedExecutionResult } from 'graphql-ws';
import type { GraphQLBody } from '../support/api-types.ts';

const auth = createTokenStore(['alice', 'bob'].map((name) => ({ name, sha256: sha256Hex(`${name}-token`), scopes: ['audit:admin' as const] })));
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

// Refill so slow that a test never sees it: what passes is the burst.
const limits = (over: Partial<RateLimits>): RateLimits => ({ writes: { perSecond: 0, burst: 0 }, cost: { perSecond: 0, burst: 0 }, ...over });

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
    const limiter = new MemoryRateLimiter(limits({ writes: { perSecond: 0.5, burst: 5 } }));
    const { app, url } = await start(ledger, limiter);
    apps.push(app);
    const before = await txId(url);
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await gql(url, 'alice', CREATE, { input: eventInput() }));
    expect(results.map(code)).toEqual([null, null, null, null, null, 'RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
    const refused = results[5]!;
    expect(refused.body.errors![0]!.extensions!.retryAfterMs).toBeGreaterThan(1000); // 1 event at 0.5/s: ~2 s
    expect(Number(refused.retryAfter)).toBe(Math.ceil(refused.body.errors![0]!.extensions!.retryAfterMs! / 1000));
    expect(results[0]!.retryAfter).toBeNull();
    // A batch is charged per event: bob has 5; 4 pass, then 2 at once are refused whole, then 1 passes.
    const batch = (n: number) => gql(url, 'bob', CREATE_MANY, { input: Array.from({ length: n }, () => eventInput()) });
    expect(code(await batch(4))).toBeNull();
    expect(code(await batch(2))).toBe('RATE_LIMITED');
    expect(code(await batch(1))).toBeNull();
    expect((await txId(url)) - before).toBe(7n); // alice's 5 single writes + bob's two batches
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
    expect(refused.body.errors![0]!.extensions!.retryAfterMs).toBeGreaterThan(0);
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
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
      const spec = limits({ writes: { perSecond: 0.01, burst: 4 } });
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
