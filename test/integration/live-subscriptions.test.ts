/**
 * `auditEventCreated` over real WebSockets (graphql-ws clients, and a raw `ws` client that stops
 * reading) against gateways on a real immudb and a real Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { matches, normalizeFilter } from '../../src/events/filter.ts';
import { openEventIndex } from '../../src/index/index.ts';
import { indexNamespace } from '../../src/index/redis-index.ts';
import { createApp } from '../../src/server/app.ts';
import { createLogger } from '../../src/logger.ts';
import { committedAfter, sleep } from '../contract/live-contract.ts';
import { waitCaughtUp } from '../support/index-helpers.ts';
import { makePools, randomEvent, randomFilter, randomNewFieldsFilter } from '../support/index-model.ts';
import { input, startLiveGateway, subscribe, write, wsClient, type LiveGateway, type Received } from '../support/live.ts';
import type { GraphQLFormattedError } from 'graphql';
import type { GraphQLBody, WsMessageJson } from '../support/api-types.ts';
import { startRedis, type ManagedServer } from '../support/servers.ts';
import { describeImmudb, redisUrl, uniqueDatabase } from '../support/services.ts';
import { prng } from '../unit/_random.ts';

const describeRedis = redisUrl ? describe : describe.skip;
const ids = (events: { eventId: string }[]) => events.map((e) => e.eventId);

/**
 * Ends a "none twice" check without guessing a quiet period: writes one more matching event last
 * and waits until every subscription has it. Delivery is in commit order, so whatever a
 * subscription would receive twice from before the marker has arrived by then. Returns its id.
 */
async function marker(gw: LiveGateway, subs: Pick<Received, 'waitFor'>[], event: Record<string, unknown>): Promise<string> {
  const [id] = ids(await write(gw, [event]));
  for (const s of subs) await s.waitFor((got) => got.some((e) => e.eventId === id), 'the closing marker');
  return id!;
}

/** The graphql-transport-ws handshake and one subscription, by hand, on a raw socket. */
async function rawSubscriber(wsUrl: string, variables: Record<string, unknown>, query: string) {
  const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
  const messages: WsMessageJson[] = [];
  let closed: number | null = null;
  socket.on('message', (data) => messages.push(JSON.parse(String(data))));
  socket.on('close', (code) => (closed = code));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  while (!messages.some((m) => m.type === 'connection_ack')) await sleep(5);
  socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
  return {
    socket,
    messages,
    get closed() {
      return closed;
    },
  };
}

describeImmudb('live subscriptions over graphql-ws (immudb, Redis)', () => {
  describeRedis('two gateways on one immudb database and one Redis', () => {
    let a: LiveGateway;
    let b: LiveGateway;
    const database = uniqueDatabase();
    beforeAll(async () => {
      a = await startLiveGateway({ database, redisUrl: redisUrl! });
      b = await startLiveGateway({ database, redisUrl: redisUrl! });
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
    });

    it('delivers exactly the matching events, in commit order, with their ledger txId', async () => {
      const client = wsClient(a.wsUrl);
      try {
        const head = await a.txId();
        const filter = { eventType: ['deploy.started', 'deploy.failed'], outcome: ['FAILURE', 'PENDING'] };
        const withAfter = subscribe(client, { filter, after: head });
        const fromNow = subscribe(client, { filter });
        while (a.live.feed.stats.subscribers < 2) await sleep(5);
        const types = ['deploy.started', 'deploy.failed', 'deploy.finished'];
        const outcomes = ['SUCCESS', 'FAILURE', 'PENDING'];
        for (let i = 0; i < 40; i++) {
          const size = 1 + (i % 5);
          await write(
            a,
            Array.from({ length: size }, (_, j) => input({ eventType: types[(i + j) % 3], outcome: outcomes[(i * 7 + j) % 3], correlationId: `rr-f-${i}` })),
          );
        }
        const all = (await committedAfter(a.ledger, head)).map((e) => e.record);
        const want = all.filter((r) => ['deploy.started', 'deploy.failed'].includes(r.eventType) && r.outcome !== 'SUCCESS').map((r) => r.eventId);
        expect(want.length).toBeGreaterThan(30);
        expect(want.length).toBeLessThan(all.length);
        for (const s of [withAfter, fromNow]) await s.waitFor((got) => got.length >= want.length, 'the matching events');
        const last = await marker(a, [withAfter, fromNow], input({ eventType: 'deploy.failed', outcome: 'FAILURE', correlationId: 'rr-f-end' }));
        for (const s of [withAfter, fromNow]) {
          expect(ids(s.events())).toEqual([...want, last]);
          expect(s.errors()).toEqual([]);
          const txs = s.events().map((e) => BigInt(e.ledger.txId));
          expect(txs.every((t, i) => i === 0 || t >= txs[i - 1]!)).toBe(true);
        }
      } finally {
        await client.dispose();
      }
    });

    it('several subscriptions on one socket, bursts of whole txs (replay and live): every event to each, in commit order, none twice', async () => {
      // Many messages to one socket in one turn of the event loop: what ws.ts' write coalescing
      // batches into one write. Replayed pages and 64-event txs come out in bursts.
      const client = wsClient(a.wsUrl);
      try {
        const head = await a.txId();
        const written: string[] = [];
        for (let i = 0; i < 4; i++)
          written.push(
            ...ids(
              await write(
                a,
                Array.from({ length: 64 }, () => input({ correlationId: 'rr-burst' })),
              ),
            ),
          );
        const filter = { correlationId: 'rr-burst' };
        const subs = Array.from({ length: 4 }, () => subscribe(client, { filter, after: head }));
        for (let i = 0; i < 4; i++)
          written.push(
            ...ids(
              await write(
                a,
                Array.from({ length: 64 }, () => input({ correlationId: 'rr-burst' })),
              ),
            ),
          );
        for (const s of subs) await s.waitFor((got) => got.length >= written.length, 'every burst');
        written.push(await marker(a, subs, input({ correlationId: 'rr-burst' })));
        for (const s of subs) {
          expect(ids(s.events())).toEqual(written);
          expect(s.errors()).toEqual([]);
        }
      } finally {
        await client.dispose();
      }
    });

    it('a subscriber on B receives every event written on A, once', async () => {
      const client = wsClient(b.wsUrl);
      try {
        const head = await b.txId();
        const sub = subscribe(client, { filter: { correlationId: 'rr-cross' }, after: head });
        const written: string[] = [];
        for (let i = 0; i < 30; i++)
          written.push(
            ...ids(
              await write(
                a,
                Array.from({ length: 1 + (i % 4) }, () => input({ correlationId: 'rr-cross' })),
              ),
            ),
          );
        await sub.waitFor((got) => got.length >= written.length, 'every event on B');
        written.push(await marker(a, [sub], input({ correlationId: 'rr-cross' })));
        expect(ids(sub.events())).toEqual(written);
      } finally {
        await client.dispose();
      }
    });

    it('resubscribing with the last afterTxId after a disconnect: exactly the 500 missed events, then live ones, no duplicate', async () => {
      const filter = { correlationId: 'rr-resume', outcome: ['FAILURE'] };
      const matching = (k: number) => Array.from({ length: k }, () => input({ correlationId: 'rr-resume', outcome: 'FAILURE' }));
      const first = wsClient(b.wsUrl);
      const before = subscribe(first, { filter, after: await b.txId() });
      const early = ids(await write(a, matching(20)));
      await before.waitFor((got) => got.length >= 20, 'the first 20');
      expect(ids(before.events())).toEqual(early);
      const lastTxId = before.events().at(-1)!.ledger.txId as string;
      await first.dispose();

      // 500 matching events (and others) while nobody listens.
      const missed: string[] = [];
      for (let i = 0; i < 10; i++) {
        const batch = [...matching(50), input({ correlationId: 'rr-resume', outcome: 'SUCCESS' }), input({ correlationId: 'rr-other', outcome: 'FAILURE' })];
        missed.push(...ids(await write(a, batch)).slice(0, 50));
      }
      expect(missed).toHaveLength(500);

      const second = wsClient(b.wsUrl);
      try {
        const after = subscribe(second, { filter, after: lastTxId });
        // Live events written while the replay runs.
        const live: string[] = [];
        for (let i = 0; i < 25; i++) {
          live.push(...ids(await write(a, matching(2))));
          await sleep(5);
        }
        await after.waitFor((got) => got.length >= 550, 'the missed events and the live ones');
        live.push(await marker(a, [after], matching(1)[0]!));
        expect(ids(after.events())).toEqual([...missed, ...live]);
      } finally {
        await second.dispose();
      }
    });

    it('a disconnect inside a tx: afterTxId + afterEventId of the last event processed resumes exactly', async () => {
      const filter = { correlationId: 'rr-mid-tx' };
      const first = wsClient(b.wsUrl);
      const before = subscribe(first, { filter, after: await b.txId() });
      const tx1 = ids(
        await write(
          a,
          Array.from({ length: 10 }, () => input({ correlationId: 'rr-mid-tx' })),
        ),
      );
      await before.waitFor((got) => got.length >= 4, 'the first events');
      await first.dispose();
      const processed = before.events().slice(0, 4); // the client got this far before it went away
      const last = processed.at(-1)!;
      const tx2 = ids(
        await write(
          a,
          Array.from({ length: 3 }, () => input({ correlationId: 'rr-mid-tx' })),
        ),
      );

      const second = wsClient(b.wsUrl);
      try {
        const query = `subscription ($filter: AuditEventFilter, $after: String, $event: ID) {
          auditEventCreated(filter: $filter, afterTxId: $after, afterEventId: $event) { eventId ledger { txId } }
        }`;
        const resumed = subscribe(second, { filter, after: last.ledger.txId, event: last.eventId }, query);
        await resumed.waitFor((got) => got.length >= 9, 'the rest');
        await sleep(200);
        expect([...ids(processed), ...ids(resumed.events())]).toEqual([...tx1, ...tx2]);
        const bad = subscribe(second, { filter, event: last.eventId }, query);
        while (!bad.completed) await sleep(5);
        expect(bad.errors()[0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', violations: [{ path: 'afterEventId' }] });
      } finally {
        await second.dispose();
      }
    });

    it('a subscriber that never reads does not hold up 100 others; it ends with SUBSCRIPTION_OVERFLOW', async () => {
      // Its own gateway with a small queue, so the raw socket's kernel buffers plus the queue fill quickly.
      const database2 = uniqueDatabase();
      const gw = await startLiveGateway({ database: database2, redisUrl: redisUrl!, feed: { queueLimit: 200 }, wsKeepAliveMs: 60_000 });
      const clients = Array.from({ length: 10 }, () => wsClient(gw.wsUrl));
      try {
        const head = await gw.txId();
        const slow = await rawSubscriber(
          gw.wsUrl,
          { after: head },
          `subscription ($after: String) { auditEventCreated(afterTxId: $after) { eventId data ledger { txId } } }`,
        );
        const fast = Array.from({ length: 100 }, (_, i) => subscribe(clients[i % 10]!, { filter: { eventCategory: ['tick'] }, after: head }));
        while (gw.live.feed.stats.subscribers < 101) await sleep(10);
        slow.socket.pause(); // stops reading: the server's writes back up into the kernel, then into its queue

        const committed = new Map<string, number>();
        let writing = true;
        const ticks = (async () => {
          while (writing) {
            const [e] = await write(gw, [input({ eventCategory: 'tick' })]);
            committed.set(e!.eventId, performance.now());
            await sleep(20);
          }
        })();
        const big = { blob: 'x'.repeat(60_000) };
        for (let i = 0; i < 60 && gw.live.feed.stats.overflows === 0; i++)
          await write(
            gw,
            Array.from({ length: 10 }, () => input({ eventCategory: 'bulk', data: big })),
          );
        await sleep(500);
        writing = false;
        await ticks;
        expect(gw.live.feed.stats.overflows).toBe(1);
        expect(gw.live.feed.stats.subscribers).toBe(100); // the slow one gave up its queue

        // Every fast subscriber got every tick, each within about a second of its commit.
        const latencies: number[] = [];
        for (const s of fast) {
          await s.waitFor((got) => got.length >= committed.size, 'every tick');
          expect(ids(s.events()).sort()).toEqual([...committed.keys()].sort());
          for (const [i, e] of s.events().entries()) latencies.push(s.at[i]! - committed.get(e.eventId)!);
        }
        latencies.sort((x, y) => x - y);
        expect(latencies[Math.floor(latencies.length * 0.99)]!).toBeLessThan(1_000);

        // Reading again, the slow one finds what had been sent, the overflow error, and the end.
        slow.socket.resume();
        const deadline = Date.now() + 20_000;
        while (!slow.messages.some((m) => m.type === 'complete') && Date.now() < deadline) await sleep(20);
        const nexts = slow.messages.filter((m) => m.type === 'next');
        const overflow = nexts.at(-1)!.payload.errors![0]!;
        expect(overflow.extensions!.code).toBe('SUBSCRIPTION_OVERFLOW');
        expect(overflow.extensions!.afterTxId).toMatch(/^\d+$/);
        expect(overflow.message).toMatch(/afterTxId/);
        expect(slow.messages.at(-1)).toEqual({ id: '1', type: 'complete' });
        slow.socket.terminate();
      } finally {
        await Promise.all(clients.map((c) => c.dispose()));
        await gw.close();
      }
    }, 120_000);

    it('a client that stops reading is cut off by the keep-alive', async () => {
      const gw = await startLiveGateway({ database: uniqueDatabase(), redisUrl: null, wsKeepAliveMs: 300 });
      try {
        const slow = await rawSubscriber(gw.wsUrl, {}, `subscription { auditEventCreated { eventId } }`);
        while (gw.live.feed.stats.subscribers < 1) await sleep(5);
        slow.socket.pause();
        const t0 = Date.now();
        while (gw.app.ws.connections() > 0 && Date.now() - t0 < 5_000) await sleep(20);
        expect(gw.app.ws.connections()).toBe(0);
        expect(gw.live.feed.stats.subscribers).toBe(0);
        slow.socket.terminate();
      } finally {
        await gw.close();
      }
    });

    it('per event: recordedAt and verification are read for that event (fresh loaders each time)', async () => {
      const client = wsClient(a.wsUrl);
      try {
        const sub = subscribe(
          client,
          { filter: { correlationId: 'rr-verify' }, after: await a.txId() },
          `subscription ($filter: AuditEventFilter, $after: String) {
            auditEventCreated(filter: $filter, afterTxId: $after) { eventId recordedAt ledger { txId } verification { verified eventId proof { txId } } }
          }`,
        );
        const written = ids(await write(a, [input({ correlationId: 'rr-verify' }), input({ correlationId: 'rr-verify' })]));
        written.push(...ids(await write(a, [input({ correlationId: 'rr-verify' })])));
        await sub.waitFor((got) => got.length >= 3, 'three events');
        for (const e of sub.events()) {
          expect(e.verification).toEqual({ verified: true, eventId: e.eventId, proof: { txId: e.ledger.txId } });
          expect(Date.parse(e.recordedAt)).not.toBeNaN();
        }
        expect(ids(sub.events())).toEqual(written);
      } finally {
        await client.dispose();
      }
    });

    it('bad arguments are BAD_USER_INPUT, bad documents are refused before anything runs, as over HTTP', async () => {
      const client = wsClient(a.wsUrl);
      try {
        const bad = subscribe(client, { filter: { outcome: [] }, after: 'yesterday' });
        while (!bad.completed) await sleep(5);
        const e = bad.errors()[0]!;
        expect(e.extensions!.code).toBe('BAD_USER_INPUT');
        // the filter fields of issue 20: too many values, an unknown enum value, a non-UUID parent
        for (const [filter, path] of [
          [{ clusterName: Array.from({ length: 101 }, (_, i) => `c${i}`) }, 'filter.clusterName'],
          [{ correlationIds: Array.from({ length: 101 }, (_, i) => `c${i}`) }, 'filter.correlationIds'],
          [{ severity: ['LOUD'] }, 'filter.severity.0'],
          [{ parentEventId: 'nope' }, 'filter.parentEventId'],
        ] as const) {
          const refused = subscribe(client, { filter });
          while (!refused.completed) await sleep(5);
          const first = refused.errors()[0] ?? (refused.error as GraphQLFormattedError[] | undefined)?.[0];
          expect(first?.extensions?.code, JSON.stringify(filter)).toBe('BAD_USER_INPUT');
          // domain checks give a violation path; GraphQL's enum coercion names it in the message
          // (`… at "filter.severity[0]" …`; over ws without `violations`, as for every enum)
          expect(JSON.stringify(first), JSON.stringify(filter)).toContain(path.replace(/\.0$/, ''));
        }
        const invalid = subscribe(client, {}, 'subscription { auditEventCreated { eventId nope } }');
        while (!invalid.completed) await sleep(5);
        expect((invalid.error as GraphQLFormattedError[])[0]!.extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED' });
        const deep = subscribe(client, {}, `subscription { auditEventCreated { ${'a: eventId '.repeat(20)} } }`);
        while (!deep.completed) await sleep(5);
        expect((deep.error as GraphQLFormattedError[])[0]!.extensions).toMatchObject({ code: 'QUERY_LIMIT_EXCEEDED', limit: 'aliases' });
      } finally {
        await client.dispose();
      }
    });

    it('refuses WebSocket upgrades from another origin; same origin and no origin are let in', async () => {
      const attempt = (origin?: string) =>
        new Promise<number>((resolve) => {
          const s = new WebSocket(a.wsUrl, 'graphql-transport-ws', origin ? { origin } : {});
          s.on('open', () => {
            s.close();
            resolve(101);
          });
          s.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
          s.on('error', () => undefined);
        });
      expect(await attempt('https://evil.example')).toBe(403);
      expect(await attempt(`http://${new URL(a.url).host}`)).toBe(101);
      expect(await attempt()).toBe(101);
    });

    it('subscriptions share auditEvents’ filter semantics exactly: random filters give the same events', async () => {
      const gw = await startLiveGateway({ database: uniqueDatabase(), redisUrl: redisUrl! });
      const indexing = await openEventIndex({ ledger: gw.ledger, redisUrl: redisUrl!, namespace: indexNamespace(`live-${Date.now()}`) });
      indexing.indexer.start();
      const app = createApp({
        ledger: gw.ledger,
        index: indexing.index,
        config: { port: 0, host: '127.0.0.1' },
        logger: createLogger({ level: 'error', write: () => undefined }),
      });
      const { url } = await app.listen();
      const client = wsClient(gw.wsUrl);
      try {
        const rand = prng(77);
        const pools = makePools(rand);
        const events = Array.from({ length: 400 }, () => randomEvent(rand, pools));
        for (let i = 0; i < events.length; i += 40) await gw.ledger.append(events.slice(i, i + 40));
        await waitCaughtUp(indexing.index, gw.ledger);
        const records = events.map((e) => e.record);
        const end = await gw.txId();
        const filters = Array.from({ length: 15 }, () => randomFilter(rand, pools, records));
        // and the fields of issue 20, alone or with others
        while (filters.length < 25) {
          const f = randomNewFieldsFilter(rand, pools, 0.4);
          if (Object.keys(f).length > 0) filters.push(filters.length % 2 ? f : { ...randomFilter(rand, pools, records), ...f });
        }
        for (const filter of filters) {
          const normalized = normalizeFilter(filter);
          const listed: string[] = [];
          for (let after: string | null = null; ; ) {
            const res: Response = await fetch(url, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({
                query:
                  'query ($f: AuditEventFilter, $a: String) { auditEvents(filter: $f, first: 500, after: $a, orderBy: TIMESTAMP_ASC) { edges { node { eventId } } pageInfo { hasNextPage endCursor } } }',
                variables: { f: filter, a: after },
              }),
            });
            const page = ((await res.json()) as GraphQLBody).data!.auditEvents;
            listed.push(...page.edges.map((e) => e.node.eventId));
            if (!page.pageInfo.hasNextPage) break;
            after = page.pageInfo.endCursor;
          }
          const sub = subscribe(client, { filter, after: '0' });
          await sub.waitFor((got) => got.length >= listed.length, `replay of ${JSON.stringify(filter)}`);
          await sleep(100);
          sub.unsubscribe();
          expect(ids(sub.events()).sort(), JSON.stringify(filter)).toEqual([...listed].sort());
          // both equal the brute force over what was written
          expect([...listed].sort(), JSON.stringify(filter)).toEqual(
            records
              .filter((r) => matches(r, normalized))
              .map((r) => r.eventId)
              .sort(),
          );
          expect(sub.events().every((e) => BigInt(e.ledger.txId) <= BigInt(end))).toBe(true);
        }
      } finally {
        await client.dispose();
        await app.close();
        await indexing.close();
        await gw.close();
      }
    }, 120_000);

    it('close(): subscribers see 1001 "Going away"; neither a client that does not answer nor an event stream holds it up', async () => {
      const gw = await startLiveGateway({ database: uniqueDatabase(), redisUrl: null });
      const closes: number[] = [];
      const client = wsClient(gw.wsUrl, { on: { closed: (e) => void closes.push((e as { code: number }).code) } });
      const sub = subscribe(client, {});
      const stuck = await rawSubscriber(gw.wsUrl, {}, 'subscription { auditEventCreated { eventId } }');
      // And one over HTTP (server-sent events), which never ends by itself.
      const sse = await fetch(`${gw.url}?query=${encodeURIComponent('subscription { auditEventCreated { eventId } }')}`, {
        headers: { accept: 'text/event-stream' },
      });
      expect(sse.headers.get('content-type')).toMatch(/text\/event-stream/);
      const reader = sse.body!.getReader();
      const sseDone = (async () => {
        try {
          while (!(await reader.read()).done);
        } catch {
          // cut: what close() does to event streams
        }
      })();
      while (gw.live.feed.stats.subscribers < 3) await sleep(5);
      stuck.socket.pause();
      const t0 = Date.now();
      await gw.close();
      expect(Date.now() - t0).toBeLessThan(5_000);
      while (!sub.completed) await sleep(5);
      expect(closes).toContain(1001);
      await sseDone;
      expect(gw.live.feed.stats.subscribers).toBe(0);
      stuck.socket.terminate();
      await client.dispose();
    });
  });

  describeRedis('Redis restarted during a burst (a private Redis)', () => {
    let redis: ManagedServer;
    let a: LiveGateway;
    let b: LiveGateway;
    beforeAll(async () => {
      redis = await startRedis();
      const database = uniqueDatabase();
      a = await startLiveGateway({ database, redisUrl: `redis://${redis.address}` });
      b = await startLiveGateway({ database, redisUrl: `redis://${redis.address}` });
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
      await redis?.destroy();
    });

    it('pub/sub messages lost while Redis restarts: subscribers still receive every event once', async () => {
      const clientA = wsClient(a.wsUrl);
      const clientB = wsClient(b.wsUrl);
      try {
        const head = await a.txId();
        const onA = subscribe(clientA, { filter: { eventCategory: ['burst'] }, after: head });
        const onB = subscribe(clientB, { filter: { eventCategory: ['burst'] }, after: head });
        const written: string[] = [];
        let writing = true;
        const writer = (async () => {
          while (writing) {
            written.push(...ids(await write(a, [input({ eventCategory: 'burst' }), input({ eventCategory: 'burst' })])));
            await sleep(5);
          }
        })();
        // Counted, not timed: a loaded machine writes fewer events in a given time.
        const reach = async (n: number) => {
          while (written.length < n) await sleep(20);
        };
        await Promise.all([sleep(400), reach(20)]);
        await redis.kill();
        await Promise.all([sleep(400), reach(written.length + 22)]);
        writing = false; // the burst ends while Redis is down: no later message wakes B
        await writer;
        await sleep(200);
        await redis.start();
        for (const s of [onA, onB]) await s.waitFor((got) => got.length >= written.length, 'every burst event', 10_000);
        written.push(await marker(a, [onA, onB], input({ eventCategory: 'burst' })));
        expect(written.length).toBeGreaterThan(40);
        expect(ids(onA.events())).toEqual(written);
        expect(ids(onB.events())).toEqual(written);
      } finally {
        await clientA.dispose();
        await clientB.dispose();
      }
    }, 60_000);
  });
});
