/**
 * Shared execution of live subscriptions (src/graphql/subscriptions/shared-execution.ts) over real
 * WebSockets, on a real immudb and a real Redis: an event is executed once per distinct
 * (document, variables, principal), and what one subscription gets — its data, its selection, its
 * errors — never reaches another that differs in any of these.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTokenStore, type Scope } from '../../src/auth/tokens.ts';
import { sha256Hex } from '../support/auth.ts';
import type { NewEvent } from '../../src/events/types.ts';
import type { Ledger } from '../../src/ledger/port.ts';
import { openLive, type LiveSetup } from '../../src/live/index.ts';
import { createApp, type App } from '../../src/server/app.ts';
import { createLogger } from '../../src/logger.ts';
import { liveEvent, sleep } from '../contract/live-contract.ts';
import { subscribe, wsClient } from '../support/live.ts';
import type { WsMessageJson } from '../support/api-types.ts';
import { describeImmudb, openTestImmudbLedger, redisUrl, uniqueDatabase } from '../support/services.ts';

const describeRedis = redisUrl ? describe : describe.skip;

const TOKENS: Record<string, { token: string; scopes: Scope[] }> = {
  reader: { token: 'tok-reader-5f1c', scopes: ['audit:read'] },
  auditor: { token: 'tok-auditor-9a2e', scopes: ['audit:read', 'audit:write'] },
  writer: { token: 'tok-writer-77d0', scopes: ['audit:write'] },
};
const bearer = (name: keyof typeof TOKENS) => `Bearer ${TOKENS[name]!.token}`;

interface Gateway {
  app: App;
  live: LiveSetup;
  wsUrl: string;
  /** Appends straight to the ledger (waking the feed like the write path does). */
  append(events: NewEvent[]): Promise<string[]>;
  /** Verified reads the gateway made (each `verification` field executed once = one read). */
  verifiedReads(): number;
  close(): Promise<void>;
}

/** A gateway with tokens, whose ledger counts verified reads (a real immudb ledger, counted, not replaced). */
async function startGateway(feed: { queueLimit?: number } = {}): Promise<Gateway> {
  const ledger = await openTestImmudbLedger({ database: uniqueDatabase() });
  let reads = 0;
  const counted = new Proxy(ledger, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (prop === 'getVerified')
        return (id: string) => {
          reads++;
          return target.getVerified(id);
        };
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Ledger;
  const live = await openLive({ ledger, redisUrl: redisUrl!, feed });
  live.feed.start();
  const app = createApp({
    ledger: counted,
    live: live.feed,
    config: { port: 0, host: '127.0.0.1' },
    logger: createLogger({ level: 'error', write: () => undefined }),
    auth: createTokenStore(Object.entries(TOKENS).map(([name, t]) => ({ name, sha256: sha256Hex(t.token), scopes: t.scopes }))),
    wsKeepAliveMs: 60_000,
  });
  const { url } = await app.listen();
  ledger.onAppended((r) => live.feed.appended(r));
  return {
    app,
    live,
    wsUrl: url.replace(/^http/, 'ws'),
    append: async (events) => (await ledger.append(events)).map((r) => r.event.record.eventId),
    verifiedReads: () => reads,
    async close() {
      await app.close();
      await live.close();
      await ledger.close();
    },
  };
}

const ids = (events: { eventId: string }[]) => events.map((e) => e.eventId);

describeImmudb('shared execution of live subscriptions (immudb, Redis)', () => {
  describeRedis('one gateway with tokens', () => {
    let gw: Gateway;
    beforeAll(async () => {
      gw = await startGateway();
    });
    afterAll(async () => {
      await gw?.close();
    });

    it('same document, different variables: each subscription gets its own events and its own selection', async () => {
      const query = `subscription ($f: AuditEventFilter, $full: Boolean!) {
        auditEventCreated(filter: $f) { eventId correlationId data @include(if: $full) }
      }`;
      const one = wsClient(gw.wsUrl, { connectionParams: { authorization: bearer('reader') } });
      const two = wsClient(gw.wsUrl, { connectionParams: { authorization: bearer('reader') } });
      try {
        const xFull = subscribe(one, { f: { correlationId: 'rr-share-x' }, full: true }, query);
        const xFullAgain = subscribe(two, { f: { correlationId: 'rr-share-x' }, full: true }, query);
        const xBare = subscribe(two, { f: { correlationId: 'rr-share-x' }, full: false }, query);
        const yFull = subscribe(one, { f: { correlationId: 'rr-share-y' }, full: true }, query);
        while (gw.live.feed.stats.subscribers < 4) await sleep(5);
        const x: string[] = [];
        const y: string[] = [];
        for (let i = 0; i < 12; i++) {
          // Both correlations in one tx: the same tx (and event objects) reach every subscription.
          const written = await gw.append([liveEvent({ correlationId: 'rr-share-x', data: { i } }), liveEvent({ correlationId: 'rr-share-y', data: { i } })]);
          x.push(written[0]!);
          y.push(written[1]!);
        }
        for (const s of [xFull, xFullAgain, xBare]) await s.waitFor((got) => got.length >= x.length, 'the x events');
        await yFull.waitFor((got) => got.length >= y.length, 'the y events');
        await sleep(200);
        for (const s of [xFull, xFullAgain]) {
          expect(ids(s.events())).toEqual(x);
          expect(s.events().map((e) => e.data)).toEqual(x.map((_, i) => ({ i })));
        }
        expect(ids(xBare.events())).toEqual(x);
        expect(xBare.events().every((e) => !('data' in e))).toBe(true);
        expect(ids(yFull.events())).toEqual(y);
        expect(yFull.events().every((e) => e.correlationId === 'rr-share-y')).toBe(true);
        for (const s of [xFull, xFullAgain, xBare, yFull]) expect(s.errors()).toEqual([]);
      } finally {
        await one.dispose();
        await two.dispose();
      }
    });

    it('same document and variables, different principals: executed once per principal, never shared across; a refused one gets nothing', async () => {
      const query = `subscription ($f: AuditEventFilter) {
        auditEventCreated(filter: $f) { eventId verification { verified eventId } }
      }`;
      const variables = { f: { correlationId: 'rr-share-principals' } };
      const clients = (['reader', 'reader', 'auditor', 'writer'] as const).map((name) =>
        wsClient(gw.wsUrl, { connectionParams: { authorization: bearer(name) } }),
      );
      try {
        const [readerA, readerB, auditor, writer] = clients.map((c) => subscribe(c, variables, query)) as [
          ReturnType<typeof subscribe>,
          ReturnType<typeof subscribe>,
          ReturnType<typeof subscribe>,
          ReturnType<typeof subscribe>,
        ];
        while (!writer.completed) await sleep(5);
        expect(writer.errors().length + (Array.isArray(writer.error) ? writer.error.length : 0)).toBeGreaterThan(0);
        const refused = [...writer.errors(), ...(Array.isArray(writer.error) ? writer.error : [])];
        expect(refused.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
        while (gw.live.feed.stats.subscribers < 3) await sleep(5);

        const before = gw.verifiedReads();
        const written: string[] = [];
        for (let i = 0; i < 8; i++) written.push(...(await gw.append([liveEvent({ correlationId: 'rr-share-principals' })])));
        for (const s of [readerA, readerB, auditor]) await s.waitFor((got) => got.length >= written.length, 'every event');
        await sleep(200);
        for (const s of [readerA, readerB, auditor]) {
          expect(ids(s.events())).toEqual(written);
          expect(s.events().map((e) => e.verification)).toEqual(written.map((eventId) => ({ verified: true, eventId })));
          expect(s.errors()).toEqual([]);
        }
        expect(writer.events()).toEqual([]);
        // One execution per event for the two readers together, one for the auditor: shared within
        // a principal, separate between principals (a key without the principal would read once).
        expect(gw.verifiedReads() - before).toBe(2 * written.length);
      } finally {
        await Promise.all(clients.map((c) => c.dispose()));
      }
    });
  });

  describeRedis('a subscriber that overflows (a gateway with a small queue)', () => {
    let gw: Gateway;
    beforeAll(async () => {
      gw = await startGateway({ queueLimit: 40 });
    });
    afterAll(async () => {
      await gw?.close();
    });

    it('its SUBSCRIPTION_OVERFLOW ends only it: a subscriber with the same document, variables and principal gets every event and no error', async () => {
      const query = `subscription ($f: AuditEventFilter) { auditEventCreated(filter: $f) { eventId data } }`;
      const variables = { f: { eventCategory: ['share-overflow'] } };
      // The slow one: graphql-transport-ws by hand on a raw socket, so it can stop reading.
      const socket = new WebSocket(gw.wsUrl, 'graphql-transport-ws');
      const messages: WsMessageJson[] = [];
      socket.on('message', (data) => messages.push(JSON.parse(String(data))));
      await new Promise((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
      });
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: bearer('reader') } }));
      while (!messages.some((m) => m.type === 'connection_ack')) await sleep(5);
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
      const client = wsClient(gw.wsUrl, { connectionParams: { authorization: bearer('reader') } });
      try {
        const fast = subscribe(client, variables, query);
        while (gw.live.feed.stats.subscribers < 2) await sleep(5);
        socket.pause();
        const big = { blob: 'x'.repeat(60_000) };
        const written: string[] = [];
        for (let i = 0; i < 80 && gw.live.feed.stats.overflows === 0; i++) {
          written.push(...(await gw.append(Array.from({ length: 5 }, () => liveEvent({ eventCategory: 'share-overflow', data: big })))));
        }
        expect(gw.live.feed.stats.overflows).toBe(1);
        written.push(...(await gw.append([liveEvent({ eventCategory: 'share-overflow', data: big })])));
        await fast.waitFor((got) => got.length >= written.length, 'every event');
        await sleep(200);
        expect(ids(fast.events())).toEqual(written);
        expect(fast.errors()).toEqual([]);
        expect(fast.completed).toBe(false);

        socket.resume();
        while (!messages.some((m) => m.type === 'complete')) await sleep(20);
        const nexts = messages.filter((m) => m.type === 'next');
        expect(nexts.at(-1)!.payload.errors!.map((e) => e.extensions!.code)).toEqual(['SUBSCRIPTION_OVERFLOW']);
        // Before its error, a prefix of what the fast one got, each event whole.
        const slowIds = nexts.slice(0, -1).map((m) => m.payload.data!.auditEventCreated.eventId);
        expect(slowIds).toEqual(written.slice(0, slowIds.length));
        expect(slowIds.length).toBeLessThan(written.length);
      } finally {
        socket.terminate();
        await client.dispose();
      }
    }, 120_000);
  });
});
