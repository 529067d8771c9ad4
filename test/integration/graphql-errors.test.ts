/**
 * Every failure has its code, nothing is written when a request fails, abuse is refused before any
 * resolver runs, no response carries a stack trace; and the committed schema matches the code
 * and the contract.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import {
  buildSchema,
  getIntrospectionQuery,
  isNonNullType,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLEnumType,
  type GraphQLInputObjectType,
  type IntrospectionQuery,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CREATE, CREATE_MANY, EVENT_FIELDS, eventInput, expectNoStackTrace, startTestServer, type TestServer } from '../support/graphql.ts';
import type { GraphQLBody } from '../support/api-types.ts';
import { describeImmudb } from '../support/services.ts';

const TIMELINE = `query($c: String!, $first: Int, $after: String, $last: Int, $before: String) {
  timeline(correlationId: $c, first: $first, after: $after, last: $last, before: $before) { edges { cursor } }
}`;

interface Case {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  code: string;
  /** Field paths that must be among `extensions.violations` (BAD_USER_INPUT). */
  paths?: string[];
  /** For QUERY_LIMIT_EXCEEDED: which limit. */
  limit?: string;
  /** Raw request body instead of { query, variables }. */
  body?: string;
}

const deep = (n: number): unknown => (n === 0 ? 1 : { a: deep(n - 1) });
/** A createAuditEvent request whose `data` nests `n` levels (built as text: too deep for JSON.stringify). */
const deepBody = (n: number) =>
  JSON.stringify({ query: CREATE, variables: { input: { ...valid(), data: '<deep>' } } }).replace('"<deep>"', `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`);
const future = () => new Date(Date.now() + 10 * 60_000).toISOString();
const valid = () => eventInput({ eventId: randomUUID() });

const BAD_INPUTS: Case[] = [
  // --- the document itself is not valid for the schema: GRAPHQL_VALIDATION_FAILED ---
  {
    name: 'missing required input fields (literal)',
    query: 'mutation { createAuditEvent(input: { eventType: "a.b", outcome: SUCCESS }) { created } }',
    code: 'GRAPHQL_VALIDATION_FAILED',
  },

  { name: 'missing required argument', query: '{ timeline { edges { cursor } } }', code: 'GRAPHQL_VALIDATION_FAILED' },
  { name: 'unknown field', query: '{ ledgerState { txId nope } }', code: 'GRAPHQL_VALIDATION_FAILED' },
  {
    name: 'first: 10000000000 (not an Int)',
    query: '{ timeline(correlationId: "x", first: 10000000000) { edges { cursor } } }',
    code: 'GRAPHQL_VALIDATION_FAILED',
  },
  {
    name: 'two mutations in one operation',
    query: `mutation($a: AuditEventInput!, $b: AuditEventInput!) { a: createAuditEvent(input: $a) { created } b: createAuditEvent(input: $b) { created } }`,
    variables: { a: valid(), b: valid() },
    code: 'GRAPHQL_VALIDATION_FAILED',
  },
  { name: 'syntax error', query: '{ ledgerState { txId }', code: 'GRAPHQL_PARSE_FAILED' },
  { name: 'body is not JSON', query: '', body: '{"query": "{ ledgerState { txId } }"', code: 'BAD_REQUEST' },
  // --- variable values that do not fit their types: BAD_USER_INPUT (GraphQL coercion) ---
  {
    name: 'missing required fields (variables)',
    query: CREATE,
    variables: { input: { eventType: 'a.b', outcome: 'SUCCESS' } },
    code: 'BAD_USER_INPUT',
    paths: ['input'],
  },
  {
    name: 'wrong enum value (variables)',
    query: CREATE,
    variables: { input: { ...valid(), outcome: 'MAYBE' } },
    code: 'BAD_USER_INPUT',
    paths: ['input.outcome'],
  },
  // --- an unknown enum value written in the document: BAD_USER_INPUT naming the argument ---
  {
    name: 'wrong enum value (literal)',
    query:
      'mutation { createAuditEvent(input: { eventType: "a.b", eventCategory: "c", outcome: MAYBE, correlationId: "x", actorType: "s", actorId: "g" }) { created } }',
    code: 'BAD_USER_INPUT',
    paths: ['input.outcome'],
  },
  {
    name: 'wrong enum value in a list (literal)',
    query: '{ auditEventStats(groupBy: [OUTCOME, COLOUR]) { total } }',
    code: 'BAD_USER_INPUT',
    paths: ['groupBy.1'],
  },
  {
    name: 'wrong enum value inside a filter (literal)',
    query: '{ auditEvents(filter: { severity: [LOUD] }) { edges { cursor } } }',
    code: 'BAD_USER_INPUT',
    paths: ['filter.severity.0'],
  },
  {
    name: 'wrong severity (variables)',
    query: CREATE,
    variables: { input: { ...valid(), severity: 'LOUD' } },
    code: 'BAD_USER_INPUT',
    paths: ['input.severity'],
  },
  {
    name: 'timestamp not a string',
    query: CREATE,
    variables: { input: { ...valid(), timestamp: 1735689600000 } },
    code: 'BAD_USER_INPUT',
    paths: ['input.timestamp'],
  },
  {
    name: 'durationMs beyond Int',
    query: CREATE,
    variables: { input: { ...valid(), durationMs: 2 ** 40 } },
    code: 'BAD_USER_INPUT',
    paths: ['input.durationMs'],
  },
  // --- values the domain refuses: BAD_USER_INPUT with every violation ---
  {
    name: 'empty required strings',
    query: CREATE,
    variables: { input: { ...valid(), actorId: '', eventCategory: '' } },
    code: 'BAD_USER_INPUT',
    paths: ['input.actorId', 'input.eventCategory'],
  },
  { name: 'oversized string', query: CREATE, variables: { input: { ...valid(), actorId: 'x'.repeat(129) } }, code: 'BAD_USER_INPUT', paths: ['input.actorId'] },
  {
    name: 'oversized correlationId',
    query: CREATE,
    variables: { input: { ...valid(), correlationId: `${'é'.repeat(128)}x` } },
    code: 'BAD_USER_INPUT',
    paths: ['input.correlationId'],
  },
  {
    name: 'oversized errorMessage',
    query: CREATE,
    variables: { input: { ...valid(), errorMessage: 'm'.repeat(1025) } },
    code: 'BAD_USER_INPUT',
    paths: ['input.errorMessage'],
  },
  {
    name: 'oversized data',
    query: CREATE,
    variables: { input: { ...valid(), data: { blob: 'x'.repeat(70 * 1024) } } },
    code: 'BAD_USER_INPUT',
    paths: ['input.data.blob'],
  },
  { name: 'deep JSON data', query: CREATE, variables: { input: { ...valid(), data: deep(40) } }, code: 'BAD_USER_INPUT' },
  { name: 'deep JSON data (900 levels)', query: '', body: deepBody(900), code: 'BAD_USER_INPUT' },
  // Deeper than 1,000 levels, the body is refused before JSON.parse (which is slow on deep nesting).
  { name: 'very deep JSON data (5,000 levels)', query: '', body: deepBody(5_000), code: 'BAD_REQUEST' },
  { name: 'absurdly deep JSON data (300,000 levels)', query: '', body: deepBody(300_000), code: 'BAD_REQUEST' },
  {
    name: 'deep JSON elsewhere in the body (extensions)',
    query: '',
    body: `{"query":"{ ledgerState { txId } }","extensions":${'['.repeat(2_000)}${']'.repeat(2_000)}}`,
    code: 'BAD_REQUEST',
  },
  {
    name: 'deep JSON data as a literal',
    query: `mutation { createAuditEvent(input: { eventType: "a.b", eventCategory: "c", outcome: SUCCESS, correlationId: "x", actorType: "s", actorId: "g", data: ${'{ a: '.repeat(40)}1${' }'.repeat(40)} }) { created } }`,
    code: 'BAD_USER_INPUT',
  },
  { name: 'future timestamp', query: CREATE, variables: { input: { ...valid(), timestamp: future() } }, code: 'BAD_USER_INPUT', paths: ['input.timestamp'] },
  {
    name: 'sub-millisecond timestamp',
    query: CREATE,
    variables: { input: { ...valid(), timestamp: '2025-01-01T00:00:00.0001Z' } },
    code: 'BAD_USER_INPUT',
    paths: ['input.timestamp'],
  },
  {
    name: 'malformed timestamp',
    query: CREATE,
    variables: { input: { ...valid(), timestamp: '2025-02-30T00:00:00Z' } },
    code: 'BAD_USER_INPUT',
    paths: ['input.timestamp'],
  },
  {
    name: 'bad eventId and parentEventId',
    query: CREATE,
    variables: { input: { ...valid(), eventId: 'not-a-uuid', parentEventId: '123' } },
    code: 'BAD_USER_INPUT',
    paths: ['input.eventId', 'input.parentEventId'],
  },
  {
    name: 'bad eventType',
    query: CREATE,
    variables: { input: { ...valid(), eventType: 'Gateway Signal' } },
    code: 'BAD_USER_INPUT',
    paths: ['input.eventType'],
  },
  { name: 'negative durationMs', query: CREATE, variables: { input: { ...valid(), durationMs: -1 } }, code: 'BAD_USER_INPUT', paths: ['input.durationMs'] },
  {
    name: 'resourceType without resourceId',
    query: CREATE,
    variables: { input: { ...valid(), resourceType: 'pod' } },
    code: 'BAD_USER_INPUT',
    paths: ['input.resourceId'],
  },
  { name: 'lone surrogate', query: CREATE, variables: { input: { ...valid(), actorId: 'a\ud800b' } }, code: 'BAD_USER_INPUT', paths: ['input.actorId'] },
  {
    name: 'batch: one bad event among valid ones',
    query: CREATE_MANY,
    variables: { input: [valid(), valid(), valid(), { ...valid(), actorId: '' }, valid()] },
    code: 'BAD_USER_INPUT',
    paths: ['input.3.actorId'],
  },
  {
    name: 'batch: a wrong enum in one element (variables): dotted path',
    query: CREATE_MANY,
    variables: { input: [valid(), { ...valid(), outcome: 'MAYBE' }, valid()] },
    code: 'BAD_USER_INPUT',
    paths: ['input.1.outcome'],
  },
  { name: 'batch: empty', query: CREATE_MANY, variables: { input: [] }, code: 'BAD_USER_INPUT', paths: ['input'] },
  {
    name: 'batch: 1,001 events',
    query: CREATE_MANY,
    variables: { input: Array.from({ length: 1001 }, () => ({ ...valid(), data: null })) },
    code: 'BAD_USER_INPUT',
    paths: ['input'],
  },
  {
    name: 'batch: one eventId twice with different content',
    query: CREATE_MANY,
    variables: (() => {
      const a = valid();
      return { input: [a, { ...a, actorId: 'other' }] };
    })(),
    code: 'BAD_USER_INPUT',
    paths: ['input.1.eventId'],
  },
  // --- query arguments ---
  { name: 'malformed cursor', query: TIMELINE, variables: { c: 'x', after: 'not-a-cursor' }, code: 'BAD_USER_INPUT', paths: ['after'] },
  {
    name: 'cursor with stray base64 bits',
    query: TIMELINE,
    variables: { c: 'x', before: 'dDE6MDAxNzM1Njg5NjAwMDAxOjAxYTIwMTIwLTllOGYtNzcwNi05NGEwLWQ2OGY1MjhmODljZh' },
    code: 'BAD_USER_INPUT',
    paths: ['before'],
  },
  { name: 'first: -1', query: TIMELINE, variables: { c: 'x', first: -1 }, code: 'BAD_USER_INPUT', paths: ['first'] },
  { name: 'first: 10000', query: TIMELINE, variables: { c: 'x', first: 10000 }, code: 'BAD_USER_INPUT', paths: ['first'] },
  { name: 'last: 501', query: TIMELINE, variables: { c: 'x', last: 501 }, code: 'BAD_USER_INPUT', paths: ['last'] },
  { name: 'both first and last', query: TIMELINE, variables: { c: 'x', first: 5, last: 5 }, code: 'BAD_USER_INPUT', paths: ['first'] },
  { name: 'empty correlationId', query: TIMELINE, variables: { c: '' }, code: 'BAD_USER_INPUT', paths: ['correlationId'] },
  { name: 'auditEvent with a non-UUID', query: '{ auditEvent(eventId: "42") { eventId } }', code: 'BAD_USER_INPUT', paths: ['eventId'] },
  {
    name: 'verifyAuditEvent of an unknown event',
    query: `{ verifyAuditEvent(eventId: "${randomUUID()}") { verified } }`,
    code: 'BAD_USER_INPUT',
    paths: ['eventId'],
  },
  { name: 'node with a malformed id', query: '{ node(id: "bm9wZQ==") { id } }', code: 'BAD_USER_INPUT', paths: ['id'] },
  {
    name: 'node with an id of another type',
    query: `{ node(id: "${Buffer.from(`User:${randomUUID()}`).toString('base64')}") { id } }`,
    code: 'BAD_USER_INPUT',
    paths: ['id'],
  },
];

const fields = (n: number, f = 'txId') => Array.from({ length: n }, () => f).join(' ');
const nestedFragments = (n: number): string => (n === 0 ? 'eventId' : `... on AuditEvent { ${nestedFragments(n - 1)} }`);

const ABUSE: Case[] = [
  // graphql-js' parser is recursive: ~2,000 nested list levels (inside the token limit) overflowed the stack (500).
  {
    name: 'nesting: a list literal 2,000 levels deep',
    query: `{ timeline(correlationId: ${'['.repeat(2_000)}"x"${']'.repeat(2_000)}) { edges { cursor } } }`,
    code: 'QUERY_LIMIT_EXCEEDED',
    limit: 'nesting',
  },
  {
    name: 'nesting: an object literal 100 levels deep',
    query: `mutation { createAuditEvent(input: ${'{ a: '.repeat(100)}1${' }'.repeat(100)}) { created } }`,
    code: 'QUERY_LIMIT_EXCEEDED',
    limit: 'nesting',
  },
  { name: 'depth: nested inline fragments', query: `{ node(id: "x") { ${nestedFragments(12)} } }`, code: 'QUERY_LIMIT_EXCEEDED', limit: 'depth' },
  {
    name: 'aliases: 16 of them',
    query: `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: ledgerState { txId }`).join(' ')} }`,
    code: 'QUERY_LIMIT_EXCEEDED',
    limit: 'aliases',
  },
  { name: 'tokens: a huge selection', query: `{ ledgerState { ${fields(2100)} } }`, code: 'QUERY_LIMIT_EXCEEDED', limit: 'tokens' },
  {
    name: 'directives: 21 of them',
    query: `{ ledgerState { ${Array.from({ length: 21 }, () => 'txId @include(if: true)').join(' ')} } }`,
    code: 'QUERY_LIMIT_EXCEEDED',
    limit: 'directives',
  },
  {
    name: 'cost: aliased full pages',
    query: `{ ${Array.from({ length: 5 }, (_, i) => `t${i}: timeline(correlationId: "x", first: 500) { edges { node { ${EVENT_FIELDS} } } }`).join(' ')} }`,
    code: 'QUERY_LIMIT_EXCEEDED',
    limit: 'cost',
  },
  {
    name: 'cost: verifying a whole page',
    query: '{ timeline(correlationId: "x", last: 300) { edges { node { verification { proof { json } } } } } }',
    code: 'QUERY_LIMIT_EXCEEDED',
    limit: 'cost',
  },
  {
    name: 'cost: page size from a variable',
    query: 'query($n: Int) { timeline(correlationId: "x", first: $n) { edges { node { verification { verified } } } } }',
    variables: { n: 400 },
    code: 'QUERY_LIMIT_EXCEEDED',
    limit: 'cost',
  },
  {
    name: 'cost: a batch write asking to verify every event (refused before anything is written)',
    query: 'mutation($input: [AuditEventInput!]!) { createAuditEvents(input: $input) { events { verification { verified } } } }',
    variables: { input: Array.from({ length: 300 }, () => eventInput({ eventId: randomUUID(), correlationId: 'cost-attack' })) },
    code: 'QUERY_LIMIT_EXCEEDED',
    limit: 'cost',
  },
];

describeImmudb('GraphQL errors and limits', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
    // something in the ledger, so that "unchanged" means something
    expect((await s.gql(CREATE, { input: valid() })).body.errors).toBeUndefined();
  });
  afterAll(async () => {
    await s?.close();
  });

  async function send(c: Case) {
    if (c.body === undefined) return s.gql(c.query, c.variables);
    const res = await fetch(s.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: c.body });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: JSON.parse(text) as GraphQLBody, text };
  }

  for (const c of [...BAD_INPUTS, ...ABUSE]) {
    it(`${c.name} → ${c.code}${c.limit ? ` (${c.limit})` : ''}, nothing written`, async () => {
      const before = await s.txId();
      const r = await send(c);
      expectNoStackTrace(r.text);
      const errors = r.body.errors ?? [];
      expect(errors.length, r.text).toBeGreaterThan(0);
      for (const e of errors) {
        expect(e.extensions?.code, r.text).toBe(c.code);
        expect(typeof e.message).toBe('string');
      }
      if (r.body.data) for (const v of Object.values(r.body.data)) expect(v).toBeNull();
      if (c.code === 'BAD_USER_INPUT') {
        const paths = errors.flatMap((e) => (e.extensions!.violations ?? []).map((v) => v.path));
        for (const p of c.paths ?? []) expect(paths, r.text).toContain(p);
        for (const e of errors) for (const v of e.extensions!.violations!) expect(v).toEqual({ path: expect.any(String), message: expect.any(String) });
      }
      if (c.limit) expect(errors[0]!.extensions).toMatchObject({ limit: c.limit, max: expect.any(Number) });
      expect(await s.txId()).toBe(before);
    });
  }

  it('reports the deep-data violation at the path where the nesting limit is crossed', async () => {
    const r = await s.gql(CREATE, { input: { ...valid(), data: deep(40) } });
    const [v] = r.body.errors![0]!.extensions!.violations!;
    expect(v!.path).toMatch(/^input\.data(\.a){32,33}$/);
  });

  it('a 15 MB body nesting JSON 2.5 million levels deep is refused at once (JSON.parse alone would block the event loop for ~2 s)', async () => {
    const before = await s.txId();
    const started = performance.now();
    const res = await fetch(s.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deepBody(2_500_000) });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(JSON.parse(text).errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(await s.txId()).toBe(before);
  });

  it('GET with variables or extensions that are not JSON → 400 BAD_REQUEST (was a masked 500)', async () => {
    for (const param of ['variables', 'extensions']) {
      for (const value of ['{', 'x', '{"a":']) {
        const res = await fetch(`${s.url}?query=${encodeURIComponent('{ ledgerState { txId } }')}&${param}=${encodeURIComponent(value)}`, {
          headers: { accept: 'application/json' },
        });
        const text = await res.text();
        expect(res.status, `${param}=${value}`).toBe(400);
        expect(
          (JSON.parse(text) as GraphQLBody).errors!.map((e) => e.extensions!.code),
          `${param}=${value}`,
        ).toEqual(['BAD_REQUEST']);
        expectNoStackTrace(text);
      }
    }
    const ok = await fetch(
      `${s.url}?query=${encodeURIComponent('query($c: String!) { timeline(correlationId: $c) { edges { cursor } } }')}&variables=${encodeURIComponent('{"c":"x"}')}`,
    );
    expect(ok.status).toBe(200);
  });

  it('a client hanging up mid-body is not a server error: logged at debug, without a stack', async () => {
    const requestId = `abort-${randomUUID()}`;
    const { hostname, port } = new URL(s.url);
    const socket = connect({ host: hostname, port: Number(port) });
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-request-id: ${requestId}\r\nContent-Length: 1000\r\n\r\n{"query":`);
    await expect.poll(() => s.logs.some((l) => l.includes(requestId)), { timeout: 5_000 }).toBe(true);
    socket.destroy();
    await expect
      .poll(() => s.logs.filter((l) => l.includes(requestId) && l.includes('request aborted by the client')).length, { timeout: 5_000 })
      .toBeGreaterThan(0);
    const mine = s.logs.filter((l) => l.includes(requestId));
    for (const line of mine) {
      expect(JSON.parse(line).level, line).toBe('debug');
      expect(line).not.toMatch(/"stack"|\\n\s+at /);
    }
  });

  it('a WebSocket message nesting JSON deeper than 1,000 levels closes the socket with 4400, unparsed; others go on', async () => {
    const wsUrl = s.url.replace(/^http/, 'ws');
    const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    const started = performance.now();
    socket.send(`{"type":"connection_init","payload":${'{"a":'.repeat(2_000_000)}1${'}'.repeat(2_000_000)}}`);
    expect(await closed).toBe(4400);
    expect(performance.now() - started).toBeLessThan(1_500);
    // A well-formed client on another socket is unaffected.
    const other = new WebSocket(wsUrl, 'graphql-transport-ws');
    const messages: { type: string }[] = [];
    other.on('message', (d) => messages.push(JSON.parse(String(d))));
    await new Promise((resolve, reject) => other.once('open', resolve).once('error', reject));
    other.send(JSON.stringify({ type: 'connection_init', payload: { deep: JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`) } }));
    await expect.poll(() => messages.map((m) => m.type), { timeout: 5_000 }).toEqual(['connection_ack']);
    other.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ ledgerState { txId } }' } }));
    await expect.poll(() => messages.map((m) => m.type), { timeout: 5_000 }).toEqual(['connection_ack', 'next', 'complete']);
    other.close();
  });

  it('allows what is within the limits: a full 500-event page with every field, introspection', async () => {
    const page = await s.gql(`{ timeline(correlationId: "x", first: 500) { edges { cursor node { ${EVENT_FIELDS} } } pageInfo { hasNextPage } } }`);
    expect(page.body.errors).toBeUndefined();
    // what GraphiQL and codegen tools send
    const intro = await s.gql<IntrospectionQuery>(
      getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true }),
    );
    expect(intro.body.errors).toBeUndefined();
    expect(intro.body.data!.__schema.queryType.name).toBe('Query');
  });
});

describe('schema.graphql', () => {
  it('is what the code builds (npm run schema:check)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/print-schema.ts', '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('has the operations and types of the API contract', () => {
    const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));
    const sig = (f: GraphQLField<unknown, unknown>) =>
      `(${[...f.args]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((a) => `${a.name}: ${a.type}`)
        .join(', ')}): ${f.type}`;
    const root = (t: GraphQLObjectType | null | undefined) => Object.fromEntries(Object.values(t!.getFields()).map((f) => [f.name, sig(f)]));
    expect(root(schema.getQueryType())).toMatchObject({
      node: '(id: ID!): Node',
      auditEvent: '(eventId: ID!): AuditEvent',
      timeline:
        '(after: String, before: String, correlationId: String!, first: Int, last: Int, orderBy: AuditEventOrder, since: DateTime, until: DateTime): AuditEventConnection!',
      verifyAuditEvent: '(eventId: ID!, trustedTxId: String): Verification!',
      consistencyProof: '(fromTxId: String!, toTxId: String): ConsistencyProof!',
      ledgerState: '(): LedgerState!',
    });
    expect(root(schema.getMutationType())).toEqual({
      createAuditEvent: '(input: AuditEventInput!): CreateAuditEventPayload!',
      createAuditEvents: '(input: [AuditEventInput!]!): CreateAuditEventsPayload!',
    });
    const typeFields = (name: string) =>
      Object.fromEntries(Object.values((schema.getType(name) as GraphQLObjectType).getFields()).map((f) => [f.name, String(f.type)]));
    expect(typeFields('AuditEvent')).toEqual({
      id: 'ID!',
      eventId: 'ID!',
      eventType: 'String!',
      eventCategory: 'String!',
      eventAction: 'String',
      outcome: 'EventOutcome!',
      timestamp: 'DateTime!',
      recordedAt: 'DateTime!',
      correlationId: 'String!',
      parentEventId: 'ID',
      actor: 'Actor!',
      resource: 'Resource',
      clusterName: 'String',
      severity: 'Severity',
      durationMs: 'Int',
      error: 'EventError',
      data: 'JSON',
      recordedBy: 'String',
      ledger: 'LedgerLocation!',
      verification: 'Verification!',
    });
    expect((schema.getType('AuditEvent') as GraphQLObjectType).getInterfaces().map(String)).toEqual(['Node']);
    expect(typeFields('Actor')).toEqual({ type: 'String!', id: 'String!' });
    expect(typeFields('Resource')).toEqual({ type: 'String!', id: 'String!', namespace: 'String' });
    expect(typeFields('EventError')).toEqual({ code: 'String', message: 'String' });
    expect(typeFields('LedgerLocation')).toEqual({ txId: 'String!', key: 'String!' });
    expect(typeFields('Verification')).toEqual({ verified: 'Boolean!', eventId: 'ID!', proof: 'ProofBundle!' });
    expect(typeFields('ProofBundle')).toEqual({ verified: 'Boolean!', txId: 'String!', json: 'JSON!' });
    expect(typeFields('LedgerState')).toEqual({ txId: 'String!', txHash: 'String!', checkpoint: 'String!', signature: 'StateSignature' });
    expect(typeFields('CreateAuditEventPayload')).toEqual({ event: 'AuditEvent!', proof: 'ProofBundle!', created: 'Boolean!' });
    expect(typeFields('CreateAuditEventsPayload')).toEqual({ events: '[AuditEvent!]!', proofs: '[ProofBundle!]!' });
    expect(typeFields('AuditEventConnection')).toEqual({ edges: '[AuditEventEdge!]!', pageInfo: 'PageInfo!', totalCount: 'Int!' });
    // issue 20: counts, stats and the correlation list, as the contract names them
    expect(root(schema.getQueryType())).toMatchObject({
      auditEventStats: '(filter: AuditEventFilter, groupBy: [AuditEventDimension!], interval: StatsInterval): AuditEventStats!',
      correlations: '(after: String, filter: CorrelationFilter, first: Int): CorrelationConnection!',
    });
    expect(typeFields('AuditEventStats')).toEqual({ total: 'Int!', groups: '[AuditEventGroup!]!', histogram: '[HistogramBucket!]!' });
    expect(typeFields('AuditEventGroup')).toEqual({ dimension: 'AuditEventDimension!', value: 'String!', count: 'Int!' });
    expect(typeFields('HistogramBucket')).toEqual({ start: 'DateTime!', count: 'Int!' });
    expect(typeFields('Correlation')).toEqual({
      correlationId: 'String!',
      firstTimestamp: 'DateTime!',
      lastTimestamp: 'DateTime!',
      eventCount: 'Int!',
      outcomes: 'OutcomeCounts!',
      lastEvent: 'AuditEvent',
    });
    expect(typeFields('OutcomeCounts')).toEqual({ success: 'Int!', failure: 'Int!', pending: 'Int!' });
    expect(typeFields('CorrelationConnection')).toEqual({ edges: '[CorrelationEdge!]!', pageInfo: 'PageInfo!' });
    expect(typeFields('AuditEventEdge')).toEqual({ cursor: 'String!', node: 'AuditEvent!' });
    expect(typeFields('PageInfo')).toEqual({ hasNextPage: 'Boolean!', hasPreviousPage: 'Boolean!', startCursor: 'String', endCursor: 'String' });
    const enumValues = (name: string) =>
      (schema.getType(name) as GraphQLEnumType)
        .getValues()
        .map((v) => v.name)
        .sort();
    expect(enumValues('EventOutcome')).toEqual(['FAILURE', 'PENDING', 'SUCCESS']);
    expect(enumValues('Severity')).toEqual(['CRITICAL', 'ERROR', 'INFO', 'WARNING']);
    expect(enumValues('AuditEventDimension')).toEqual(['ACTOR_ID', 'CLUSTER_NAME', 'EVENT_CATEGORY', 'EVENT_TYPE', 'OUTCOME', 'RESOURCE_TYPE', 'SEVERITY']);
    expect(enumValues('StatsInterval')).toEqual(['DAY', 'HOUR', 'MINUTE']);
    const correlationFilter = (schema.getType('CorrelationFilter') as GraphQLInputObjectType).getFields();
    expect(Object.fromEntries(Object.values(correlationFilter).map((f) => [f.name, String(f.type)]))).toEqual({
      since: 'DateTime',
      until: 'DateTime',
      eventCategory: '[String!]',
      outcome: '[EventOutcome!]',
      clusterName: '[String!]',
    });
    const input = (schema.getType('AuditEventInput') as GraphQLInputObjectType).getFields();
    const required = Object.values(input)
      .filter((f) => isNonNullType(f.type))
      .map((f) => f.name)
      .sort();
    expect(required).toEqual(['actorId', 'actorType', 'correlationId', 'eventCategory', 'eventType', 'outcome']);
    expect(Object.keys(input).sort()).toEqual(
      [
        'eventId',
        'eventType',
        'eventCategory',
        'eventAction',
        'outcome',
        'timestamp',
        'correlationId',
        'parentEventId',
        'actorType',
        'actorId',
        'resourceType',
        'resourceId',
        'resourceNamespace',
        'clusterName',
        'severity',
        'durationMs',
        'errorCode',
        'errorMessage',
        'data',
      ].sort(),
    );
    expect(String(input.timestamp!.type)).toBe('DateTime');
    expect(String(input.data!.type)).toBe('JSON');
  });
});
