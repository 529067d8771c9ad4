/**
 * Production switches and cross-site writes, against real servers on a real immudb:
 *
 * - INTROSPECTION=false refuses `__schema` / `__type` with FORBIDDEN over HTTP (POST and GET) and
 *   over WebSocket, while `__typename` and ordinary queries go on; the default server answers the
 *   same requests (so the refusal is the switch, not something else);
 * - GRAPHIQL=false: a browser's GET of /graphql never gets the GraphiQL page;
 * - no write without a JSON POST: mutations over GET (even picked by operationName from a document
 *   that also holds a query) and form-encodable POST bodies (what a cross-site page can send
 *   without a CORS preflight) are refused and write nothing.
 */
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Ledger } from '../../src/ledger/port.ts';
import { CREATE, eventInput, expectNoStackTrace, startTestServer, type TestServer } from '../support/graphql.ts';
import type { GraphQLBody } from '../support/api-types.ts';
import { wsClient } from '../support/live.ts';
import { describeImmudb, openTestImmudbLedger } from '../support/services.ts';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

const INTROSPECTION_QUERIES: [string, string][] = [
  ['__schema', '{ __schema { queryType { name } } }'],
  ['__type', '{ __type(name: "AuditEvent") { name fields { name } } }'],
  ['the full introspection query (GraphiQL, codegen)', getIntrospectionQuery({ descriptions: true })],
  ['__schema in a fragment', 'query { ...F } fragment F on Query { __schema { types { name } } }'],
  ['__type next to a field', '{ ledgerState { txId } __type(name: "Query") { name } }'],
  ['__schema aliased', '{ s: __schema { mutationType { name } } }'],
];

interface WsResult {
  data?: unknown;
  errors: { message: string; extensions?: Record<string, unknown> }[];
}

/** One operation over a fresh graphql-ws socket: its data and errors (execution and refusal alike). */
async function overWs(wsUrl: string, query: string): Promise<WsResult> {
  const client = wsClient(wsUrl);
  const out: WsResult = { errors: [] };
  try {
    await new Promise<void>((resolve, reject) => {
      client.subscribe(
        { query },
        {
          next: (r) => {
            if (r.data !== undefined) out.data = r.data;
            out.errors.push(...((r.errors ?? []) as WsResult['errors']));
          },
          // A request refused before execution (parse, validation) arrives as an array of errors.
          error: (e) => {
            if (!Array.isArray(e)) return reject(e);
            out.errors.push(...(e as WsResult['errors']));
            resolve();
          },
          complete: () => resolve(),
        },
      );
    });
  } finally {
    await client.dispose();
  }
  return out;
}

describeImmudb('production switches (INTROSPECTION, GRAPHIQL) and cross-site writes', () => {
  let ledger: Ledger;
  let open: TestServer; // the defaults: GraphiQL and introspection on
  let locked: TestServer; // GRAPHIQL=false INTROSPECTION=false
  beforeAll(async () => {
    ledger = await openTestImmudbLedger();
    open = await startTestServer({ ledger });
    locked = await startTestServer({ ledger, config: { graphiql: false, introspection: false } });
    expect((await open.gql(CREATE, { input: eventInput() })).body.errors).toBeUndefined();
  });
  afterAll(async () => {
    await open?.close();
    await locked?.close();
    await ledger?.close();
  });

  const wsUrl = (s: TestServer) => s.url.replace(/^http/, 'ws');

  it.each(INTROSPECTION_QUERIES)('INTROSPECTION=false over HTTP POST: %s → FORBIDDEN; the default server answers it', async (_name, query) => {
    const r = await locked.gql(query);
    expect(r.body.data ?? null).toBeNull();
    expect(r.body.errors?.length, r.text).toBeGreaterThan(0);
    for (const e of r.body.errors!) expect(e.extensions).toEqual({ code: 'FORBIDDEN', reason: 'INTROSPECTION_DISABLED' });
    expect(r.text).not.toContain('AuditEventInput');

    const control = await open.gql(query);
    expect(control.body.errors, control.text).toBeUndefined();
  });

  it('INTROSPECTION=false over HTTP GET: refused the same way', async () => {
    const res = await fetch(`${locked.url}?query=${encodeURIComponent('{ __schema { queryType { name } } }')}`, { headers: { accept: 'application/json' } });
    const text = await res.text();
    expect(res.status).toBeLessThan(500);
    const body = JSON.parse(text) as GraphQLBody;
    expect(body.errors!.map((e) => e.extensions!.code)).toContain('FORBIDDEN');
    expect(body.data ?? null).toBeNull();
    expectNoStackTrace(text);
  });

  it('INTROSPECTION=false: __typename and ordinary queries still work', async () => {
    const r = await locked.gql('{ __typename ledgerState { __typename txId } }');
    expect(r.body.errors, r.text).toBeUndefined();
    expect(r.body.data).toMatchObject({ __typename: 'Query', ledgerState: { __typename: 'LedgerState' } });
    const w = await locked.gql(CREATE, { input: eventInput() });
    expect(w.body.errors, w.text).toBeUndefined();
    expect(w.body.data!.createAuditEvent.created).toBe(true);
  });

  it('INTROSPECTION=false over WebSocket: refused with FORBIDDEN; __typename works; the default server answers', async () => {
    for (const [name, query] of INTROSPECTION_QUERIES) {
      const r = await overWs(wsUrl(locked), query);
      expect(r.data ?? null, name).toBeNull();
      expect(r.errors.length, name).toBeGreaterThan(0);
      for (const e of r.errors) expect(e.extensions?.code, name).toBe('FORBIDDEN');

      const control = await overWs(wsUrl(open), query);
      expect(control.errors, name).toEqual([]);
      expect(control.data, name).toBeTruthy();
    }
    const typename = await overWs(wsUrl(locked), '{ __typename ledgerState { txId } }');
    expect(typename.errors).toEqual([]);
    expect(typename.data).toMatchObject({ __typename: 'Query' });
  });

  it('GRAPHIQL=false: a browser GET of /graphql gets no GraphiQL page; the default server serves it', async () => {
    for (const accept of ['text/html', BROWSER_ACCEPT]) {
      const res = await fetch(locked.url, { headers: { accept } });
      const text = await res.text();
      // 406 when only HTML is acceptable; with */* the JSON answer to a GET without a query (BAD_REQUEST)
      expect(res.status, accept).toBe(accept === 'text/html' ? 406 : 200);
      if (res.status === 200) expect(JSON.parse(text).errors[0].extensions.code).toBe('BAD_REQUEST');
      expect(res.headers.get('content-type') ?? '', accept).not.toMatch(/text\/html/);
      expect(text.toLowerCase(), accept).not.toContain('graphiql');
      expect(text.toLowerCase(), accept).not.toContain('<html');

      const control = await fetch(open.url, { headers: { accept } });
      expect(control.status, accept).toBe(200);
      expect(control.headers.get('content-type'), accept).toMatch(/text\/html/);
      expect((await control.text()).toLowerCase(), accept).toContain('graphiql');
    }
  });

  it('mutations over GET are refused (405) and write nothing, also when operationName picks one from a mixed document', async () => {
    const before = await open.txId();
    const input = Object.entries(eventInput())
      .map(([k, v]) => `${k}: ${k === 'outcome' ? v : JSON.stringify(v)}`)
      .join(', ');
    const mutation = `mutation M { createAuditEvent(input: { ${input} }) { created } }`;
    const urls = [
      `?query=${encodeURIComponent(mutation)}`,
      `?query=${encodeURIComponent(`query Q { __typename } ${mutation}`)}&operationName=M`,
      `?query=${encodeURIComponent(CREATE)}&variables=${encodeURIComponent(JSON.stringify({ input: eventInput() }))}`,
    ];
    for (const server of [open, locked]) {
      for (const q of urls) {
        for (const accept of ['application/json', 'application/graphql-response+json', BROWSER_ACCEPT]) {
          const res = await fetch(server.url + q, { headers: { accept } });
          const text = await res.text();
          if (server === open && accept === BROWSER_ACCEPT) {
            // A browser asking for a page gets GraphiQL (which runs nothing by itself).
            expect(res.status).toBe(200);
            expect(res.headers.get('content-type')).toMatch(/text\/html/);
          } else {
            expect(res.status, `${q} (${accept})`).toBe(405);
            expect(JSON.parse(text).errors[0].extensions.code).toBe('BAD_REQUEST');
            // Only the errors: the GraphiQL page is static and inlines GraphiQL's own bundle (whose code says "stack").
            expectNoStackTrace(text);
          }
        }
      }
    }
    // A query picked from the same mixed document still runs over GET.
    const query = await fetch(`${open.url}?query=${encodeURIComponent(`query Q { __typename } ${mutation}`)}&operationName=Q`, {
      headers: { accept: 'application/json' },
    });
    expect(query.status).toBe(200);
    expect(await query.json()).toEqual({ data: { __typename: 'Query' } });
    expect(await open.txId()).toBe(before);
  });

  it('POST bodies a cross-site page can send without a preflight (form encodings, text/plain, none) are refused (415) and write nothing', async () => {
    const before = await open.txId();
    const json = JSON.stringify({ query: CREATE, variables: { input: eventInput() } });
    const form = new FormData();
    form.set('operations', json);
    const bodies: [string | undefined, BodyInit][] = [
      ['text/plain', json],
      ['text/plain;charset=UTF-8', json],
      ['application/x-www-form-urlencoded', new URLSearchParams({ query: CREATE, variables: JSON.stringify({ input: eventInput() }) }).toString()],
      [undefined, form], // multipart/form-data with its boundary
      ['application/graphql', CREATE],
      ['application/jsonp', json],
      ['text/json', json],
    ];
    for (const server of [open, locked]) {
      for (const [type, body] of bodies) {
        const res = await fetch(server.url, { method: 'POST', headers: type ? { 'content-type': type } : {}, body });
        const text = await res.text();
        expect(res.status, type ?? 'multipart').toBe(415);
        expect(JSON.parse(text).errors[0].extensions.code).toBe('BAD_REQUEST');
      }
      // and a body with no content type at all
      const res = await fetch(server.url, { method: 'POST', body: new Blob([json]) });
      expect(res.status).toBe(415);
    }
    expect(await open.txId()).toBe(before);
    // The same request as JSON writes (the refusals above were the content type, nothing else).
    const ok = await fetch(open.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json });
    expect((await ok.json()).data.createAuditEvent.created).toBe(true);
    expect(BigInt(await open.txId())).toBeGreaterThan(BigInt(before));
  });
});
