/**
 * Authentication and scopes (api-contract.md, "Authentication") on a real immudb: every
 * operation × no token / bad token / wrong scope / right scope (and admin), over HTTP and over
 * WebSocket; refused writes leave the ledger as it was; the writer is recorded in the event.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTokenStore, type Scope } from '../../src/auth/tokens.ts';
import { sha256Hex } from '../support/auth.ts';
import { openEventIndex, type IndexSetup } from '../../src/index/index.ts';
import { openLive, type LiveSetup } from '../../src/live/index.ts';
import { createApp, type App } from '../../src/server/app.ts';
import { createLogger } from '../../src/logger.ts';
import type { Ledger } from '../../src/ledger/port.ts';
import { sleep } from '../contract/live-contract.ts';
import { eventInput } from '../support/graphql.ts';
import { subscribe, wsClient } from '../support/live.ts';
import { describeImmudb, openTestImmudbLedger } from '../support/services.ts';
import type { FormattedExecutionResult } from 'graphql-ws';
import type { ApiData, GraphQLBody } from '../support/api-types.ts';

const TOKENS: Record<string, { token: string; scopes: Scope[] }> = {
  reader: { token: 'r-0123456789abcdef', scopes: ['audit:read'] },
  writer: { token: 'w-0123456789abcdef', scopes: ['audit:write'] },
  admin: { token: 'a-0123456789abcdef', scopes: ['audit:admin'] },
  nothing: { token: 'n-0123456789abcdef', scopes: [] },
};
const bearer = (name: string) => `Bearer ${TOKENS[name]!.token}`;

type Cred = 'none' | 'bad' | 'wrong' | 'right' | 'admin';
interface Op {
  name: keyof ApiData;
  kind: 'query' | 'mutation' | 'subscription';
  query: string;
  variables: () => Record<string, unknown>;
}

describeImmudb('authentication and scopes', () => {
  let ledger: Ledger;
  let live: LiveSetup;
  let indexing: IndexSetup;
  let app: App;
  let url: string;
  let wsUrl: string;
  let seeded: { eventId: string; id: string };

  async function http(query: string, variables: Record<string, unknown>, authorization?: string) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as GraphQLBody;
  }
  const txId = async () => (await http('{ ledgerState { txId } }', {}, bearer('admin'))).data!.ledgerState.txId;

  beforeAll(async () => {
    const raw = await openTestImmudbLedger();
    indexing = await openEventIndex({ ledger: raw, redisUrl: null });
    indexing.indexer.start();
    live = await openLive({ ledger: raw, redisUrl: null });
    live.feed.start();
    raw.onAppended((r) => {
      indexing.indexer.kick();
      live.feed.appended(r);
    });
    ledger = raw;
    app = createApp({
      ledger,
      index: indexing.index,
      live: live.feed,
      auth: createTokenStore(Object.entries(TOKENS).map(([name, t]) => ({ name, sha256: sha256Hex(t.token), scopes: t.scopes }))),
      config: { port: 0, host: '127.0.0.1' },
      logger: createLogger({ level: 'error', write: () => {} }),
    });
    url = (await app.listen()).url;
    wsUrl = url.replace(/^http/, 'ws');
    const r = await http(
      'mutation ($input: AuditEventInput!) { createAuditEvent(input: $input) { event { id eventId } } }',
      { input: eventInput({ correlationId: 'auth-seed' }) },
      bearer('writer'),
    );
    seeded = r.data!.createAuditEvent.event;
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await live?.close();
    await indexing?.close();
    await ledger?.close();
  });

  const OPS: Op[] = [
    { name: 'auditEvent', kind: 'query', query: 'query ($id: ID!) { auditEvent(eventId: $id) { eventId } }', variables: () => ({ id: seeded.eventId }) },
    { name: 'node', kind: 'query', query: 'query ($id: ID!) { node(id: $id) { id } }', variables: () => ({ id: seeded.id }) },
    { name: 'timeline', kind: 'query', query: '{ timeline(correlationId: "auth-seed", first: 5) { edges { node { eventId } } } }', variables: () => ({}) },
    { name: 'auditEvents', kind: 'query', query: '{ auditEvents(first: 5) { edges { node { eventId } } } }', variables: () => ({}) },
    {
      name: 'verifyAuditEvent',
      kind: 'query',
      query: 'query ($id: ID!) { verifyAuditEvent(eventId: $id) { verified } }',
      variables: () => ({ id: seeded.eventId }),
    },
    { name: 'ledgerState', kind: 'query', query: '{ ledgerState { txId } }', variables: () => ({}) },
    { name: 'consistencyProof', kind: 'query', query: '{ consistencyProof(fromTxId: "1") { json } }', variables: () => ({}) },
    {
      name: 'createAuditEvent',
      kind: 'mutation',
      query: 'mutation ($input: AuditEventInput!) { createAuditEvent(input: $input) { created event { eventId recordedBy } } }',
      variables: () => ({ input: eventInput({ correlationId: 'auth-writes' }) }),
    },
    {
      name: 'createAuditEvents',
      kind: 'mutation',
      query: 'mutation ($input: [AuditEventInput!]!) { createAuditEvents(input: $input) { events { eventId recordedBy } } }',
      variables: () => ({ input: [eventInput({ correlationId: 'auth-writes' }), eventInput({ correlationId: 'auth-writes' })] }),
    },
  ];
  const SUB: Op = {
    name: 'auditEventCreated',
    kind: 'subscription',
    query: 'subscription { auditEventCreated(filter: { correlationId: "auth-live" }) { eventId recordedBy } }',
    variables: () => ({}),
  };

  const authorization = (op: Op, cred: Cred): string | undefined => {
    const write = op.kind === 'mutation';
    switch (cred) {
      case 'none':
        return undefined;
      case 'bad':
        return 'Bearer not-a-configured-token';
      case 'wrong':
        return bearer(write ? 'reader' : 'writer');
      case 'right':
        return bearer(write ? 'writer' : 'reader');
      case 'admin':
        return bearer('admin');
    }
  };
  const expected = (cred: Cred) => (cred === 'none' || cred === 'bad' ? 'UNAUTHENTICATED' : cred === 'wrong' ? 'FORBIDDEN' : null);
  const CREDS: Cred[] = ['none', 'bad', 'wrong', 'right', 'admin'];

  it('over HTTP: every query and mutation × credentials; refused writes write nothing', async () => {
    const before = await txId();
    for (const op of OPS) {
      for (const cred of CREDS) {
        const r = await http(op.query, op.variables(), authorization(op, cred));
        const code = expected(cred);
        const what = `${op.name} with ${cred}`;
        if (code) {
          expect(
            r.errors?.map((e) => e.extensions?.code),
            what,
          ).toEqual([code]);
          expect(r.data?.[op.name] ?? null, what).toBeNull();
        } else {
          expect(r.errors, what).toBeUndefined();
          expect(r.data?.[op.name], what).toBeTruthy();
        }
      }
    }
    // 2 mutations × (right + admin) wrote: 4 txs (one per call), none from the refused ones.
    expect(BigInt(await txId()) - BigInt(before)).toBe(4n);
  });

  it('other refusals: a malformed header, a token of no scope, a non-Bearer scheme', async () => {
    for (const h of ['Bearer', 'Basic abc', `bearer ${TOKENS.reader!.token}x`, TOKENS.reader!.token]) {
      const r = await http('{ ledgerState { txId } }', {}, h);
      expect(r.errors?.[0]?.extensions?.code, h).toBe('UNAUTHENTICATED');
    }
    expect((await http('{ ledgerState { txId } }', {}, bearer('nothing'))).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    // The scheme is case-insensitive (RFC 7235).
    expect((await http('{ ledgerState { txId } }', {}, `bearer ${TOKENS.reader!.token}`)).errors).toBeUndefined();
    // Introspection needs no token: the schema is public.
    expect((await http('{ __schema { queryType { name } } }', {})).errors).toBeUndefined();
  });

  it('records the writing principal in the proven record; another principal retrying the same eventId conflicts', async () => {
    const input = eventInput({ correlationId: 'auth-recorded', eventId: randomUUID() });
    const q = 'mutation ($input: AuditEventInput!) { createAuditEvent(input: $input) { created event { eventId recordedBy } proof { verified } } }';
    const first = await http(q, { input }, bearer('writer'));
    expect(first.data!.createAuditEvent).toMatchObject({ created: true, event: { recordedBy: 'writer' }, proof: { verified: true } });
    const retry = await http(q, { input }, bearer('writer'));
    expect(retry.data!.createAuditEvent).toMatchObject({ created: false, event: { recordedBy: 'writer' } });
    const other = await http(q, { input }, bearer('admin'));
    expect(other.errors?.[0]?.extensions?.code).toBe('EVENT_ID_CONFLICT');
    const { eventId } = first.data!.createAuditEvent.event;
    const read = await http(
      'query ($id: ID!) { auditEvent(eventId: $id) { recordedBy } verifyAuditEvent(eventId: $id) { verified } }',
      { id: eventId },
      bearer('reader'),
    );
    expect(read.data).toEqual({ auditEvent: { recordedBy: 'writer' }, verifyAuditEvent: { verified: true } });
    // Not settable by the client.
    const forged = await http(q, { input: { ...eventInput(), recordedBy: 'admin' } }, bearer('writer'));
    expect(forged.errors?.[0]?.extensions?.code).toMatch(/BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED/);
  });

  /** The subscription over HTTP (server-sent events): the text received until `until` matches or the timeout. */
  async function overSse(authorization: string | undefined, until: RegExp, whileOpen?: () => Promise<void>): Promise<string> {
    const abort = new AbortController();
    const res = await fetch(url, {
      method: 'POST',
      signal: abort.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ query: SUB.query.replace('auth-live', 'auth-sse') }),
    });
    const reader = res.body!.getReader();
    let text = '';
    const timer = setTimeout(() => abort.abort(), 10_000);
    const opened = (async () => {
      await sleep(300); // let the subscription join the feed
      await whileOpen?.();
    })();
    try {
      while (!until.test(text)) {
        const { done, value } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    } catch {
      // aborted: return what arrived
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
    await opened;
    return text;
  }

  it('the subscription over HTTP (SSE): UNAUTHENTICATED / FORBIDDEN / events', async () => {
    for (const cred of CREDS.filter((c) => expected(c) !== null)) {
      const text = await overSse(authorization(SUB, cred), /event: complete/);
      expect(text, cred).toContain(`"code":"${expected(cred)}"`);
    }
    for (const cred of ['right', 'admin'] as const) {
      let eventId = '';
      const text = await overSse(authorization(SUB, cred), /"recordedBy"/, async () => {
        const r = await http(
          'mutation ($input: AuditEventInput!) { createAuditEvent(input: $input) { event { eventId } } }',
          { input: eventInput({ correlationId: 'auth-sse' }) },
          bearer('writer'),
        );
        eventId = r.data!.createAuditEvent.event.eventId;
      });
      expect(text, cred).toContain(`{"data":{"auditEventCreated":{"eventId":"${eventId}","recordedBy":"writer"}}}`);
    }
  });

  /** One operation over a fresh socket: its results, and the close code if the socket was refused. */
  async function overWs(op: Op, auth: string | undefined) {
    const client = wsClient(wsUrl, { connectionParams: auth === undefined ? {} : { authorization: auth } });
    const results: FormattedExecutionResult<Record<string, unknown>, unknown>[] = [];
    let closeCode: number | null = null;
    try {
      await new Promise<void>((resolve) => {
        client.subscribe(
          { query: op.query, variables: op.variables() },
          {
            next: (r) => void results.push(r),
            error: (e) => {
              closeCode = typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1;
              resolve();
            },
            complete: () => resolve(),
          },
        );
      });
    } finally {
      await client.dispose();
    }
    return { results, closeCode };
  }

  it('over WebSocket: queries and mutations × credentials (4401 for no/bad token, FORBIDDEN per operation)', async () => {
    const before = await txId();
    for (const op of OPS) {
      for (const cred of CREDS) {
        const what = `${op.name} with ${cred} over WS`;
        const { results, closeCode } = await overWs(op, authorization(op, cred));
        if (cred === 'none' || cred === 'bad') {
          expect(closeCode, what).toBe(4401);
          expect(results, what).toEqual([]);
        } else if (cred === 'wrong') {
          expect(closeCode, what).toBeNull();
          expect(
            results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code),
            what,
          ).toEqual(['FORBIDDEN']);
        } else {
          expect(closeCode, what).toBeNull();
          expect(results[0]?.errors, what).toBeUndefined();
          expect(results[0]?.data?.[op.name], what).toBeTruthy();
        }
      }
    }
    expect(BigInt(await txId()) - BigInt(before)).toBe(4n);
    // A token that can do nothing at all is refused at connect.
    expect((await overWs(OPS[5]!, bearer('nothing'))).closeCode).toBe(4403);
  });

  it('the subscription: 4401 without/with a bad token, FORBIDDEN for a write-only token, events for read and admin', async () => {
    for (const cred of ['none', 'bad'] as const) expect((await overWs(SUB, authorization(SUB, cred))).closeCode, cred).toBe(4401);
    const wrong = await overWs(SUB, authorization(SUB, 'wrong'));
    expect(wrong.closeCode).toBeNull();
    expect(wrong.results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);

    const clients = (['right', 'admin'] as const).map((cred) => wsClient(wsUrl, { connectionParams: { authorization: authorization(SUB, cred) } }));
    try {
      const subs = clients.map((c) => subscribe(c, {}, SUB.query));
      await sleep(300); // let both subscriptions join the feed before the write
      const r = await http(
        'mutation ($input: AuditEventInput!) { createAuditEvent(input: $input) { event { eventId } } }',
        { input: eventInput({ correlationId: 'auth-live' }) },
        bearer('writer'),
      );
      const { eventId } = r.data!.createAuditEvent.event;
      for (const s of subs) {
        await s.waitFor((events) => events.some((e) => e.eventId === eventId), 'the written event');
        expect(s.events()).toEqual([{ eventId, recordedBy: 'writer' }]);
        expect(s.errors()).toEqual([]);
      }
    } finally {
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });
});
