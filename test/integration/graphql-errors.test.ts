/**
 * Every failure has its code, nothing is written when a request fails, abuse is refused before any
 * resolver runs, no response carries a stack trace; and the committed schema matches the code
 * and the contract.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { buildSchema, getIntrospectionQuery, isNonNullType, type GraphQLField, type GraphQLObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATE, CREATE_MANY, EVENT_FIELDS, eventInput, expectNoStackTrace, startTestServer, type TestServer } from '../support/graphql.ts';
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
  { name: 'missing required input fields (literal)', query: 'mutation { createAuditEvent(input: { eventType: "a.b", outcome: SUCCESS }) { created } }', code: 'GRAPHQL_VALIDATION_FAILED' },
  { name: 'wrong enum value (literal)', query: 'mutation { createAuditEvent(input: { eventType: "a.b", eventCategory: "c", outcome: MAYBE, correlationId: "x", actorType: "s", actorId: "g" }) { created } }', code: 'GRAPHQL_VALIDATION_FAILED' },
  { name: 'missing required argument', query: '{ timeline { edges { cursor } } }', code: 'GRAPHQL_VALIDATION_FAILED' },
  { name: 'unknown field', query: '{ ledgerState { txId nope } }', code: 'GRAPHQL_VALIDATION_FAILED' },
  { name: 'first: 10000000000 (not an Int)', query: '{ timeline(correlationId: "x", first: 10000000000) { edges { cursor } } }', code: 'GRAPHQL_VALIDATION_FAILED' },
  { name: 'two mutations in one operation', query: `mutation($a: AuditEventInput!, $b: AuditEventInput!) { a: createAuditEvent(input: $a) { created } b: createAuditEvent(input: $b) { created } }`, variables: { a: valid(), b: valid() }, code: 'GRAPHQL_VALIDATION_FAILED' },
  { name: 'syntax error', query: '{ ledgerState { txId }', code: 'GRAPHQL_PARSE_FAILED' },
  { name: 'body is not JSON', query: '', body: '{"query": "{ ledgerState { txId } }"', code: 'BAD_REQUEST' },
  // --- variable values that do not fit their types: BAD_USER_INPUT (GraphQL coercion) ---
  { name: 'missing required fields (variables)', query: CREATE, variables: { input: { eventType: 'a.b', outcome: 'SUCCESS' } }, code: 'BAD_USER_INPUT', paths: ['input'] },
  { name: 'wrong enum value (variables)', query: CREATE, variables: { input: { ...valid(), outcome: 'MAYBE' } }, code: 'BAD_USER_INPUT', paths: ['input.outcome'] },
  { name: 'wrong severity (variables)', query: CREATE, variables: { input: { ...valid(), severity: 'LOUD' } }, code: 'BAD_USER_INPUT', paths: ['input.severity'] },
  { name: 'timestamp not a string', query: CREATE, variables: { input: { ...valid(), timestamp: 1735689600000 } }, code: 'BAD_USER_INPUT', paths: ['input.timestamp'] },
  { name: 'durationMs beyond Int', query: CREATE, variables: { input: { ...valid(), durationMs: 2 ** 40 } }, code: 'BAD_USER_INPUT', paths: ['input.durationMs'] },
  // --- values the domain refuses: BAD_USER_INPUT with every violation ---
  { name: 'empty required strings', query: CREATE, variables: { input: { ...valid(), actorId: '', eventCategory: '' } }, code: 'BAD_USER_INPUT', paths: ['input.actorId', 'input.eventCategory'] },
  { name: 'oversized string', query: CREATE, variables: { input: { ...valid(), actorId: 'x'.repeat(129) } }, code: 'BAD_USER_INPUT', paths: ['input.actorId'] },
  { name: 'oversized correlationId', query: CREATE, variables: { input: { ...valid(), correlationId: 'é'.repeat(128) + 'x' } }, code: 'BAD_USER_INPUT', paths: ['input.correlationId'] },
  { name: 'oversized errorMessage', query: CREATE, variables: { input: { ...valid(), errorMessage: 'm'.repeat(1025) } }, code: 'BAD_USER_INPUT', paths: ['input.errorMessage'] },
  { name: 'oversized data', query: CREATE, variables: { input: { ...valid(), data: { blob: 'x'.repeat(70 * 1024) } } }, code: 'BAD_USER_INPUT', paths: ['input.data.blob'] },
  { name: 'deep JSON data', query: CREATE, variables: { input: { ...valid(), data: deep(40) } }, code: 'BAD_USER_INPUT' },
  { name: 'very deep JSON data (5,000 levels)', query: '', body: deepBody(5_000), code: 'BAD_USER_INPUT' },
  { name: 'absurdly deep JSON data (300,000 levels)', query: '', body: deepBody(300_000), code: 'BAD_USER_INPUT' },
  { name: 'deep JSON data as a literal', query: `mutation { createAuditEvent(input: { eventType: "a.b", eventCategory: "c", outcome: SUCCESS, correlationId: "x", actorType: "s", actorId: "g", data: ${'{ a: '.repeat(40)}1${' }'.repeat(40)} }) { created } }`, code: 'BAD_USER_INPUT' },
  { name: 'future timestamp', query: CREATE, variables: { input: { ...valid(), timestamp: future() } }, code: 'BAD_USER_INPUT', paths: ['input.timestamp'] },
  { name: 'sub-millisecond timestamp', query: CREATE, variables: { input: { ...valid(), timestamp: '2025-01-01T00:00:00.0001Z' } }, code: 'BAD_USER_INPUT', paths: ['input.timestamp'] },
  { name: 'malformed timestamp', query: CREATE, variables: { input: { ...valid(), timestamp: '2025-02-30T00:00:00Z' } }, code: 'BAD_USER_INPUT', paths: ['input.timestamp'] },
  { name: 'bad eventId and parentEventId', query: CREATE, variables: { input: { ...valid(), eventId: 'not-a-uuid', parentEventId: '123' } }, code: 'BAD_USER_INPUT', paths: ['input.eventId', 'input.parentEventId'] },
  { name: 'bad eventType', query: CREATE, variables: { input: { ...valid(), eventType: 'Gateway Signal' } }, code: 'BAD_USER_INPUT', paths: ['input.eventType'] },
  { name: 'negative durationMs', query: CREATE, variables: { input: { ...valid(), durationMs: -1 } }, code: 'BAD_USER_INPUT', paths: ['input.durationMs'] },
  { name: 'resourceType without resourceId', query: CREATE, variables: { input: { ...valid(), resourceType: 'pod' } }, code: 'BAD_USER_INPUT', paths: ['input.resourceId'] },
  { name: 'lone surrogate', query: CREATE, variables: { input: { ...valid(), actorId: 'a\ud800b' } }, code: 'BAD_USER_INPUT', paths: ['input.actorId'] },
  { name: 'batch: one bad event among valid ones', query: CREATE_MANY, variables: { input: [valid(), valid(), valid(), { ...valid(), actorId: '' }, valid()] }, code: 'BAD_USER_INPUT', paths: ['input.3.actorId'] },
  { name: 'batch: empty', query: CREATE_MANY, variables: { input: [] }, code: 'BAD_USER_INPUT', paths: ['input'] },
  { name: 'batch: 1,001 events', query: CREATE_MANY, variables: { input: Array.from({ length: 1001 }, () => ({ ...valid(), data: null })) }, code: 'BAD_USER_INPUT', paths: ['input'] },
  { name: 'batch: one eventId twice with different content', query: CREATE_MANY, variables: (() => { const a = valid(); return { input: [a, { ...a, actorId: 'other' }] }; })(), code: 'BAD_USER_INPUT', paths: ['input.1.eventId'] },
  // --- query arguments ---
  { name: 'malformed cursor', query: TIMELINE, variables: { c: 'x', after: 'not-a-cursor' }, code: 'BAD_USER_INPUT', paths: ['after'] },
  { name: 'cursor with stray base64 bits', query: TIMELINE, variables: { c: 'x', before: 'dDE6MDAxNzM1Njg5NjAwMDAxOjAxYTIwMTIwLTllOGYtNzcwNi05NGEwLWQ2OGY1MjhmODljZh' }, code: 'BAD_USER_INPUT', paths: ['before'] },
  { name: 'first: -1', query: TIMELINE, variables: { c: 'x', first: -1 }, code: 'BAD_USER_INPUT', paths: ['first'] },
  { name: 'first: 10000', query: TIMELINE, variables: { c: 'x', first: 10000 }, code: 'BAD_USER_INPUT', paths: ['first'] },
  { name: 'last: 501', query: TIMELINE, variables: { c: 'x', last: 501 }, code: 'BAD_USER_INPUT', paths: ['last'] },
  { name: 'both first and last', query: TIMELINE, variables: { c: 'x', first: 5, last: 5 }, code: 'BAD_USER_INPUT', paths: ['first'] },
  { name: 'empty correlationId', query: TIMELINE, variables: { c: '' }, code: 'BAD_USER_INPUT', paths: ['correlationId'] },
  { name: 'auditEvent with a non-UUID', query: '{ auditEvent(eventId: "42") { eventId } }', code: 'BAD_USER_INPUT', paths: ['eventId'] },
  { name: 'verifyAuditEvent of an unknown event', query: `{ verifyAuditEvent(eventId: "${randomUUID()}") { verified } }`, code: 'BAD_USER_INPUT', paths: ['eventId'] },
  { name: 'node with a malformed id', query: '{ node(id: "bm9wZQ==") { id } }', code: 'BAD_USER_INPUT', paths: ['id'] },
  { name: 'node with an id of another type', query: `{ node(id: "${Buffer.from(`User:${randomUUID()}`).toString('base64')}") { id } }`, code: 'BAD_USER_INPUT', paths: ['id'] },
];

const fields = (n: number, f = 'txId') => Array.from({ length: n }, () => f).join(' ');
const nestedFragments = (n: number): string => (n === 0 ? 'eventId' : `... on AuditEvent { ${nestedFragments(n - 1)} }`);

const ABUSE: Case[] = [
  { name: 'depth: nested inline fragments', query: `{ node(id: "x") { ${nestedFragments(12)} } }`, code: 'QUERY_LIMIT_EXCEEDED', limit: 'depth' },
  { name: 'aliases: 16 of them', query: `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: ledgerState { txId }`).join(' ')} }`, code: 'QUERY_LIMIT_EXCEEDED', limit: 'aliases' },
  { name: 'tokens: a huge selection', query: `{ ledgerState { ${fields(2100)} } }`, code: 'QUERY_LIMIT_EXCEEDED', limit: 'tokens' },
  { name: 'directives: 21 of them', query: `{ ledgerState { ${Array.from({ length: 21 }, () => 'txId @include(if: true)').join(' ')} } }`, code: 'QUERY_LIMIT_EXCEEDED', limit: 'directives' },
  {
    name: 'cost: aliased full pages',
    query: `{ ${Array.from({ length: 5 }, (_, i) => `t${i}: timeline(correlationId: "x", first: 500) { edges { node { ${EVENT_FIELDS} } } }`).join(' ')} }`,
    code: 'QUERY_LIMIT_EXCEEDED',
    limit: 'cost',
  },
  { name: 'cost: verifying a whole page', query: '{ timeline(correlationId: "x", last: 300) { edges { node { verification { proof { json } } } } } }', code: 'QUERY_LIMIT_EXCEEDED', limit: 'cost' },
  { name: 'cost: page size from a variable', query: 'query($n: Int) { timeline(correlationId: "x", first: $n) { edges { node { verification { verified } } } } }', variables: { n: 400 }, code: 'QUERY_LIMIT_EXCEEDED', limit: 'cost' },
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
    return { status: res.status, headers: res.headers, body: JSON.parse(text), text };
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
        const paths = errors.flatMap((e: any) => (e.extensions.violations ?? []).map((v: any) => v.path));
        for (const p of c.paths ?? []) expect(paths, r.text).toContain(p);
        for (const e of errors) for (const v of e.extensions!.violations) expect(v).toEqual({ path: expect.any(String), message: expect.any(String) });
      }
      if (c.limit) expect(errors[0]!.extensions).toMatchObject({ limit: c.limit, max: expect.any(Number) });
      expect(await s.txId()).toBe(before);
    });
  }

  it('reports the deep-data violation at the path where the nesting limit is crossed', async () => {
    const r = await s.gql(CREATE, { input: { ...valid(), data: deep(40) } });
    const [v] = r.body.errors![0]!.extensions!.violations;
    expect(v.path).toMatch(/^input\.data(\.a){32,33}$/);
  });

  it('allows what is within the limits: a full 500-event page with every field, introspection', async () => {
    const page = await s.gql(`{ timeline(correlationId: "x", first: 500) { edges { cursor node { ${EVENT_FIELDS} } } pageInfo { hasNextPage } } }`);
    expect(page.body.errors).toBeUndefined();
    // what GraphiQL and codegen tools send
    const intro = await s.gql(getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true }));
    expect(intro.body.errors).toBeUndefined();
    expect(intro.body.data.__schema.queryType.name).toBe('Query');
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
    const sig = (f: GraphQLField<unknown, unknown>) => `(${[...f.args].sort((a, b) => a.name.localeCompare(b.name)).map((a) => `${a.name}: ${a.type}`).join(', ')}): ${f.type}`;
    const root = (t: GraphQLObjectType | null | undefined) => Object.fromEntries(Object.values(t!.getFields()).map((f) => [f.name, sig(f)]));
    expect(root(schema.getQueryType())).toMatchObject({
      node: '(id: ID!): Node',
      auditEvent: '(eventId: ID!): AuditEvent',
      timeline: '(after: String, before: String, correlationId: String!, first: Int, last: Int): AuditEventConnection!',
      verifyAuditEvent: '(eventId: ID!): Verification!',
      ledgerState: '(): LedgerState!',
    });
    expect(root(schema.getMutationType())).toEqual({
      createAuditEvent: '(input: AuditEventInput!): CreateAuditEventPayload!',
      createAuditEvents: '(input: [AuditEventInput!]!): CreateAuditEventsPayload!',
    });
    const typeFields = (name: string) =>
      Object.fromEntries(Object.values((schema.getType(name) as GraphQLObjectType).getFields()).map((f) => [f.name, String(f.type)]));
    expect(typeFields('AuditEvent')).toEqual({
      id: 'ID!', eventId: 'ID!', eventType: 'String!', eventCategory: 'String!', eventAction: 'String', outcome: 'EventOutcome!',
      timestamp: 'DateTime!', recordedAt: 'DateTime!', correlationId: 'String!', parentEventId: 'ID', actor: 'Actor!', resource: 'Resource',
      clusterName: 'String', severity: 'Severity', durationMs: 'Int', error: 'EventError', data: 'JSON', recordedBy: 'String', ledger: 'LedgerLocation!',
      verification: 'Verification!',
    });
    expect((schema.getType('AuditEvent') as GraphQLObjectType).getInterfaces().map(String)).toEqual(['Node']);
    expect(typeFields('Actor')).toEqual({ type: 'String!', id: 'String!' });
    expect(typeFields('Resource')).toEqual({ type: 'String!', id: 'String!', namespace: 'String' });
    expect(typeFields('EventError')).toEqual({ code: 'String', message: 'String' });
    expect(typeFields('LedgerLocation')).toEqual({ txId: 'String!', key: 'String!' });
    expect(typeFields('Verification')).toEqual({ verified: 'Boolean!', eventId: 'ID!', proof: 'ProofBundle!' });
    expect(typeFields('ProofBundle')).toEqual({ verified: 'Boolean!', txId: 'String!', json: 'JSON!' });
    expect(typeFields('LedgerState')).toEqual({ txId: 'String!', txHash: 'String!', signature: 'StateSignature' });
    expect(typeFields('CreateAuditEventPayload')).toEqual({ event: 'AuditEvent!', proof: 'ProofBundle!', created: 'Boolean!' });
    expect(typeFields('CreateAuditEventsPayload')).toEqual({ events: '[AuditEvent!]!', proofs: '[ProofBundle!]!' });
    expect(typeFields('AuditEventConnection')).toEqual({ edges: '[AuditEventEdge!]!', pageInfo: 'PageInfo!' });
    expect(typeFields('AuditEventEdge')).toEqual({ cursor: 'String!', node: 'AuditEvent!' });
    expect(typeFields('PageInfo')).toEqual({ hasNextPage: 'Boolean!', hasPreviousPage: 'Boolean!', startCursor: 'String', endCursor: 'String' });
    const enumValues = (name: string) => (schema.getType(name) as any).getValues().map((v: any) => v.name).sort();
    expect(enumValues('EventOutcome')).toEqual(['FAILURE', 'PENDING', 'SUCCESS']);
    expect(enumValues('Severity')).toEqual(['CRITICAL', 'ERROR', 'INFO', 'WARNING']);
    const input = (schema.getType('AuditEventInput') as any).getFields();
    const required = Object.values(input).filter((f: any) => isNonNullType(f.type)).map((f: any) => f.name).sort();
    expect(required).toEqual(['actorId', 'actorType', 'correlationId', 'eventCategory', 'eventType', 'outcome']);
    expect(Object.keys(input).sort()).toEqual(
      ['eventId', 'eventType', 'eventCategory', 'eventAction', 'outcome', 'timestamp', 'correlationId', 'parentEventId', 'actorType', 'actorId',
        'resourceType', 'resourceId', 'resourceNamespace', 'clusterName', 'severity', 'durationMs', 'errorCode', 'errorMessage', 'data'].sort(),
    );
    expect(String(input.timestamp.type)).toBe('DateTime');
    expect(String(input.data.type)).toBe('JSON');
  });
});
