/**
 * Seeded fuzzing of the running gateway over real HTTP: at least 10,000 random and hostile requests
 * against a server on a real immudb (with the Redis index and the live feed, as `main.ts`
 * wires them), and a smaller run against `src/main.ts` itself on the embedded ledger (a real
 * process, with GRAPHIQL and INTROSPECTION off).
 *
 * Every request here is invalid or read-only. For each response:
 *   - HTTP status < 500 (a 4xx, or 200 with errors, or 200 with data for a read);
 *   - every GraphQL error has a string `extensions.code`, and none is INTERNAL_SERVER_ERROR (which
 *     would be an unclassified failure: a bug);
 *   - no stack trace, no source position, no internal path in the body;
 *   - a mutation never returns data.
 * After all of them: the ledger was never asked to append, its last txId and the gateway's trusted
 * state are unchanged, no error was logged, the process is alive, and a valid create and read
 * still work. Then hostile but *valid* writes (separator-laden correlationIds) come back exactly,
 * each in its own timeline and nowhere else.
 *
 * Reproduce a run with the seed it prints: `FUZZ_SEED=<n> npx vitest run test/integration/fuzz.test.ts`.
 * Each case is generated from (seed, index) alone, so a failing case's index names it.
 */
import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ledger } from '../../src/ledger/port.ts';
import { openEventIndex, type IndexSetup } from '../../src/index/index.ts';
import { openLive, type LiveSetup } from '../../src/live/index.ts';
import { createApp, MAX_REQUEST_BODY_BYTES, type App } from '../../src/server/app.ts';
import { createLogger } from '../../src/logger.ts';
import { CREATE, CREATE_MANY, EVENT_FIELDS, eventInput } from '../support/graphql.ts';
import { freePort } from '../support/servers.ts';
import { describeImmudb, openTestImmudbLedger, redisUrl, tempDir } from '../support/services.ts';
import { spawnMain, waitHealthy } from '../support/main-process.ts';
import { NASTY_ALPHABET, prng, randomString, randomUuid } from '../unit/_random.ts';
import type { GraphQLBody, GraphQLErrorJson } from '../support/api-types.ts';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : randomInt(2 ** 31);
/** 10,000 by default; FUZZ_CASES changes it (for a longer hunt, or a quick look). */
const CASES = Number(process.env.FUZZ_CASES ?? 10_000);
const EMBEDDED_CASES = Math.min(1_500, CASES);
const CONCURRENCY = 16;
const REQUEST_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------------

type Rand = () => number;
/** The generator of case `i`: independent of the order in which cases run. */
const caseRand = (i: number): Rand => prng((SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const chance = (r: Rand, p: number) => r() < p;

/** Well-formed but hostile text: separators, escapes, NUL, controls, non-ASCII, astral. */
const nasty = (r: Rand, parts = 8) => randomString(r, parts, NASTY_ALPHABET);
const SEPARATORS = ['/', '%', '\u0000', ':', '%2F', '%00', '..', '/..', '*', '?', '[', ']', '{', '}', '\\', '\n', '#', ' '];
const separated = (r: Rand) => {
  let s = pick(r, ['rr-1', 'rr-10', 'tl', 'ev', '', 'x']);
  for (let i = 1 + int(r, 5); i > 0; i--) s += pick(r, SEPARATORS) + (chance(r, 0.5) ? pick(r, ['rr-1', 'ev', 'tl', 'a', '0']) : '');
  return s;
};

const bigStrings = new Map<number, string>();
/** 'x' × n, built once per size (MBs are expensive to rebuild 10,000 times). */
const big = (n: number) => {
  let s = bigStrings.get(n);
  if (s === undefined) {
    s = 'x'.repeat(n);
    bigStrings.set(n, s);
  }
  return s;
};
const MiB = 1024 * 1024;

/** Random JSON value, up to `depth` levels, with hostile strings and numbers. */
function randomJson(r: Rand, depth = 3): unknown {
  switch (int(r, depth > 0 ? 9 : 6)) {
    case 0:
      return null;
    case 1:
      return chance(r, 0.5);
    case 2:
      return pick(r, [0, -0, -1, 1.5, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, -(2 ** 53), 1e308, 5e-324, 123456789]);
    case 3:
      return nasty(r);
    case 4:
      return pick(r, ['', ' ', '\u0000', '\ud800', 'a\udc00b', '\ufeff', '__proto__', 'constructor', 'SUCCESS', '2025-01-01T00:00:00Z']);
    case 5:
      return randomUuid(r);
    case 6:
    case 7: {
      const o: Record<string, unknown> = {};
      for (let i = int(r, 5); i > 0; i--)
        o[pick(r, ['a', '__proto__', 'constructor', 'toString', nasty(r, 3), 'eventId', 'input', ''])] = randomJson(r, depth - 1);
      return o;
    }
    default:
      return Array.from({ length: int(r, 5) }, () => randomJson(r, depth - 1));
  }
}

// ---------------------------------------------------------------------------------------------
// Requests and what every response must satisfy
// ---------------------------------------------------------------------------------------------

interface Res {
  status: number;
  contentType: string;
  text: string;
  /** The body parsed as JSON (undefined: empty, not JSON, or a stream), whatever shape the server gave it: read it with `field`. */
  json: unknown;
}

/** `v?.[key]` of a parsed JSON value of any shape. */
const field = (v: unknown, key: string): unknown => (v === null || v === undefined ? undefined : (v as Record<string, unknown>)[key]);

interface Req {
  kind: string;
  method?: string;
  /** Appended to the endpoint: `?query=…` */
  search?: string;
  /** Instead of /graphql. */
  path?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  /** The request is a mutation: it must not return data. */
  mutation?: boolean;
  /** Bytes written to a raw TCP socket instead of an HTTP request. */
  raw?: Uint8Array<ArrayBuffer>;
  /** A further rule for this request; returns what is wrong, or null. */
  check?: (res: Res) => string | null;
}

const LEAK = /node_modules|\/work\/|file:\/\/|\.[cm]?[jt]s:\d+:\d+|\n\s+at \S|\\n\s+at \S|"stack"|"stacktrace"|"originalError"|"exception"/i;

/** What is wrong with a response, whatever the request. */
function generalProblems(req: Req, res: Res): string | null {
  if (res.status >= 500) return `HTTP ${res.status}`;
  if (LEAK.test(res.text)) return `leaks internals: ${LEAK.exec(res.text)![0]}`;
  const errors = field(res.json, 'errors');
  if (errors !== undefined) {
    if (!Array.isArray(errors) || errors.length === 0) return 'errors is not a non-empty list';
    for (const e of errors as unknown[]) {
      const message = field(e, 'message');
      if (typeof message !== 'string') return 'an error without a message';
      const code = field(field(e, 'extensions'), 'code');
      if (typeof code !== 'string') return `an error without extensions.code: ${message.slice(0, 200)}`;
      if (code === 'INTERNAL_SERVER_ERROR') return 'INTERNAL_SERVER_ERROR (an unclassified failure)';
    }
  }
  if (res.status >= 200 && res.status < 300 && /json/.test(res.contentType) && res.json === undefined) return 'a 2xx JSON response that is not JSON';
  const graphqlPath = (req.path ?? '/graphql').startsWith('/graphql');
  const data = field(res.json, 'data');
  if (graphqlPath && res.status === 200 && res.json && errors === undefined && data == null) return '200 with neither data nor errors';
  // What a write answers (under any alias): `created` (createAuditEvent) or `proofs` (createAuditEvents).
  if (req.mutation && data && typeof data === 'object') {
    for (const v of Object.values(data as Record<string, unknown>)) {
      if (v && typeof v === 'object' && ('created' in v || 'proofs' in v || 'events' in v)) return 'a mutation returned data';
    }
  }
  return req.check?.(res) ?? null;
}

const JSON_HEADERS: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
const post = (kind: string, payload: unknown, extra: Partial<Req> = {}): Req => ({ kind, body: JSON.stringify(payload), headers: JSON_HEADERS, ...extra });

/** Expects a coded error whose violations name one of `paths` (or a field under one). */
const expectViolation =
  (code: string, paths: string[]) =>
  (res: Res): string | null => {
    // generalProblems has checked the errors' shape before a request's own check runs.
    const errors = (field(res.json, 'errors') ?? []) as GraphQLErrorJson[];
    if (errors.length === 0) return `expected ${code}, got no errors`;
    if (!errors.some((e) => e.extensions?.code === code)) return `expected ${code}, got ${errors.map((e) => e.extensions?.code).join(',')}`;
    const found: string[] = errors.flatMap((e) => (e.extensions?.violations ?? []).map((v) => String(v.path)));
    if (!found.some((p) => paths.some((want) => p === want || p.startsWith(`${want}.`))))
      return `violations ${JSON.stringify(found).slice(0, 300)} name none of ${paths.join(', ')}`;
    return null;
  };

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

const INPUT_FIELDS = [
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
] as const;
type InputField = (typeof INPUT_FIELDS)[number];
const REQUIRED: readonly InputField[] = ['eventType', 'eventCategory', 'outcome', 'correlationId', 'actorType', 'actorId'];

/** A valid input (the base every invalid one is made from). */
function validInput(r: Rand): Record<string, unknown> {
  const input: Record<string, unknown> = {
    eventId: randomUuid(r),
    eventType: pick(r, ['fuzz.case', 'gateway.signal.received', 'a']),
    eventCategory: 'fuzz',
    outcome: pick(r, ['SUCCESS', 'FAILURE', 'PENDING']),
    correlationId: chance(r, 0.5) ? separated(r) || 'rr-1' : nasty(r),
    actorType: 'service',
    actorId: nasty(r, 4),
    timestamp: new Date(Date.UTC(2025, 0, 1) + int(r, 1e9)).toISOString(),
  };
  if (chance(r, 0.3)) Object.assign(input, { resourceType: 'pod', resourceId: nasty(r, 3), resourceNamespace: chance(r, 0.5) ? 'prod' : null });
  if (chance(r, 0.3)) input.severity = pick(r, ['INFO', 'WARNING', 'ERROR', 'CRITICAL']);
  if (chance(r, 0.3)) input.durationMs = int(r, 2 ** 31);
  if (chance(r, 0.3)) input.data = randomJson(r, 3);
  return input;
}

const FIVE_MIN = 5 * 60_000;
/** Values each field must refuse (GraphQL coercion or the domain rules). */
function wrongValuesFor(field: InputField): unknown[] {
  const nonString = [1, 1.5, true, [], ['a'], {}, { a: 1 }];
  const badStrings = ['', '\ud800', 'a\udfffb', 'x'.repeat(129)];
  switch (field) {
    case 'eventId':
    case 'parentEventId':
      return [
        'x',
        '42',
        'a/b',
        '00000000-0000-0000-0000-00000000000g',
        `${'0'.repeat(8)}-0000-0000-0000-000000000000\u0000`,
        'ev/0',
        '%2F',
        ':',
        true,
        1.5,
        [],
        {},
        ...badStrings,
      ];
    case 'eventType':
      return ['A.B', 'a..b', '.a', 'a.', 'a b', 'a/b', 'a%b', 'a:b', 'a\u0000', null, ...nonString, ...badStrings];
    case 'outcome':
      return ['MAYBE', 'success', '', 'SUCCESS ', null, 1, true, [], {}, ['SUCCESS']];
    case 'severity':
      return ['LOUD', 'info', '', 1, true, [], {}, ['INFO']];
    case 'timestamp':
      return [
        'x',
        '2025-13-01T00:00:00Z',
        '2025-02-30T00:00:00Z',
        '2025-01-01',
        '2025-01-01T00:00:60Z',
        '2025-01-01T00:00:00.0001Z',
        '1969-12-31T23:59:59Z',
        '2025-01-01T00:00:00+24:00',
        new Date(Date.now() + 2 * FIVE_MIN).toISOString(),
        '10000-01-01T00:00:00Z',
        `2025-01-01T00:00:00Z\u0000`,
        1735689600000,
        true,
        [],
        {},
        ...badStrings,
      ];
    case 'durationMs':
      return [-1, 1.5, 2 ** 31, 2 ** 53, -(2 ** 31), '5', true, [], {}, 1e308];
    case 'data':
      return [deep(40), { blob: big(70 * 1024) }, { s: '\ud800' }, ['\udc00'], { 'k\ud800': 1 }];
    case 'correlationId':
      return [null, ...nonString, ...badStrings, 'é'.repeat(129)];
    case 'errorMessage':
      return ['', '\ud800', 'm'.repeat(1025), ...nonString];
    case 'resourceType':
    case 'resourceId':
    case 'resourceNamespace':
      return [...nonString, ...badStrings];
    default:
      return REQUIRED.includes(field) ? [null, ...nonString, ...badStrings] : [...nonString, ...badStrings];
  }
}

const deep = (n: number): unknown => (n === 0 ? 1 : { a: deep(n - 1) });

/** One violation certain to be refused, whatever else the input holds; `keep` is left alone. */
function violate(r: Rand, input: Record<string, unknown>, keep: readonly InputField[] = []): string {
  const required = REQUIRED.filter((f) => !keep.includes(f));
  switch (int(r, 9)) {
    case 0: {
      const f = pick(r, required);
      delete input[f];
      return `missing ${f}`;
    }
    case 1: {
      const f = pick(r, required);
      input[f] = null;
      return `null ${f}`;
    }
    case 2:
      input.eventId = pick(r, ['not-a-uuid', separated(r), `ev/${randomUuid(r)}`, `${randomUuid(r)}\u0000`, `${randomUuid(r)}/x`]);
      return 'bad eventId';
    case 3:
      input.outcome = pick(r, ['MAYBE', nasty(r), 'success']);
      return 'bad outcome';
    case 4:
      input[pick(r, ['actorId', 'eventCategory', 'actorType'])] = pick(r, ['', '\ud800', `a\udc00`]);
      return 'empty or lone surrogate';
    case 5:
      // defineProperty: an own "__proto__" key (plain assignment would set the prototype and vanish).
      Object.defineProperty(input, pick(r, ['nope', '__proto__', 'recordedBy', 'constructor', `${nasty(r, 3)}?`]), {
        value: randomJson(r, 1) ?? 1,
        enumerable: true,
        configurable: true,
        writable: true,
      });
      return 'unknown field';
    case 6:
      input.timestamp = new Date(Date.now() + 3 * FIVE_MIN + int(r, 1e9)).toISOString();
      return 'future timestamp';
    case 7:
      input.durationMs = pick(r, [-1, 0.5, 2 ** 31, -(2 ** 40)]);
      return 'bad durationMs';
    default: {
      const f = pick(
        r,
        INPUT_FIELDS.filter((f) => !keep.includes(f)),
      );
      input[f] = pick(r, wrongValuesFor(f));
      return `wrong ${f}`;
    }
  }
}

/**
 * A valid input with random damage and at least one certain violation. `fixed` fields are set
 * first and never touched again, so the violation cannot land on them (and be overwritten by a
 * valid value, making the input valid).
 */
function invalidInput(r: Rand, fixed: Partial<Record<InputField, unknown>> = {}): Record<string, unknown> {
  const input = { ...validInput(r), ...fixed };
  const keep = Object.keys(fixed) as InputField[];
  const free = INPUT_FIELDS.filter((f) => !keep.includes(f));
  for (let i = int(r, 4); i > 0; i--) {
    const f = pick(r, free);
    input[f] = chance(r, 0.5) ? randomJson(r, 2) : pick(r, wrongValuesFor(f));
  }
  violate(r, input, keep);
  return input;
}

/** Structurally invalid (required fields gone): no byte damage can make it valid. */
function structurallyInvalidInput(r: Rand): Record<string, unknown> {
  const input = validInput(r);
  delete input.actorId;
  delete input.actorType;
  return input;
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

const TIMELINE = `query T($c: String!, $first: Int, $after: String, $last: Int, $before: String) {
  timeline(correlationId: $c, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { eventId correlationId } } pageInfo { hasNextPage endCursor }
  }
}`;
const AUDIT_EVENTS = `query A($f: AuditEventFilter, $o: AuditEventOrder, $first: Int, $after: String, $last: Int, $before: String) {
  auditEvents(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { eventId correlationId actor { id } } } pageInfo { hasNextPage }
  }
}`;
const BY_ID = `query E($id: ID!) { auditEvent(eventId: $id) { eventId } verifyAuditEvent(eventId: $id) { verified } }`;
const NODE = `query N($id: ID!) { node(id: $id) { id ... on AuditEvent { eventId } } }`;

const PAGE_NUMBERS = [-(2 ** 31), -1, -0, 0, 1, 50, 500, 501, 2 ** 31 - 1, 2 ** 31, 1e10, 1.5, '5', true, [], {}, null];
const b64 = (s: string, url = true) => Buffer.from(s, 'utf8').toString(url ? 'base64url' : 'base64');

function randomCursor(r: Rand): unknown {
  switch (int(r, 10)) {
    case 0:
      return nasty(r);
    case 1:
      return b64(`t1:${String(int(r, 1e15)).padStart(15, '0')}:${randomUuid(r)}`);
    case 2:
      return b64(`i1:${String(int(r, 1e15)).padStart(15, '0')}:${randomUuid(r)}`);
    case 3:
      return b64(
        `${pick(r, ['t1', 'i1', 't2', ''])}:${pick(r, ['', '-1', '9'.repeat(16), '0'.repeat(15), nasty(r)])}:${pick(r, [randomUuid(r), nasty(r), ''])}`,
        chance(r, 0.5),
      );
    case 4:
      return b64(`t1:${'9'.repeat(15)}:${randomUuid(r)}`) + pick(r, ['=', '==', 'A', '.', '%3D', '\u0000']);
    case 5:
      return Buffer.from(Array.from({ length: int(r, 80) }, () => int(r, 256))).toString('base64');
    case 6:
      return big(int(r, 3) === 0 ? 129 : 10_000);
    case 7:
      return pick(r, ['', ' ', '\ud800', '====', 'null', 'undefined', '0']);
    case 8:
      return pick(r, [1, true, [], {}, ['x']]);
    default:
      return b64(`t1:${String(int(r, 1e15)).padStart(15, '0')}:${randomUuid(r)}`).slice(0, -1 - int(r, 4));
  }
}

/** Every node a timeline returns belongs to the asked correlationId. */
const timelineIsolated = (c: unknown) => (res: Res) => {
  const edges = field(field(field(res.json, 'data'), 'timeline'), 'edges') ?? [];
  for (const edge of edges as { node: { correlationId: unknown } }[])
    if (edge.node.correlationId !== c) return `timeline(${JSON.stringify(c)}) returned ${JSON.stringify(edge.node.correlationId)}`;
  return null;
};

const VOCAB = [
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  ':',
  '$',
  '!',
  '=',
  '@',
  '...',
  '|',
  '&',
  ',',
  'query',
  'mutation',
  'subscription',
  'fragment',
  'on',
  'true',
  'false',
  'null',
  'ledgerState',
  'txId',
  'txHash',
  'timeline',
  'auditEvents',
  'auditEvent',
  'node',
  'verifyAuditEvent',
  'createAuditEvent',
  'createAuditEvents',
  'edges',
  'cursor',
  'pageInfo',
  'eventId',
  'correlationId',
  'first',
  'last',
  'after',
  'before',
  'input',
  'filter',
  'id',
  'AuditEvent',
  'Query',
  '__typename',
  '__schema',
  '__type',
  'types',
  'name',
  'fields',
  '@include',
  '@skip',
  '@deprecated',
  '(if: true)',
  'Int',
  'String!',
  '"x"',
  '"""b"""',
  '1',
  '-1',
  '1.5e3',
  '0x10',
  '"\\u0000"',
  '"\\ud800"',
  '"\u0000"',
  '\u0000',
  '\u0007',
  '\ufeff',
  '#c\n',
  'é',
  '😀',
  '\\',
  '"',
  "'",
  '`',
  '<',
  '>',
  '%',
];

function randomDocument(r: Rand): string {
  if (chance(r, 0.5)) {
    // A real query, damaged.
    const tokens = pick(r, [TIMELINE, AUDIT_EVENTS, BY_ID, NODE, CREATE, `{ ledgerState { txId txHash } }`])
      .split(/(\s+|[{}():$!,])/)
      .filter((t) => t !== '');
    for (let n = 1 + int(r, 4); n > 0; n--) {
      const at = int(r, tokens.length + 1);
      const op = int(r, 3);
      if (op === 0) tokens.splice(at, 1);
      else if (op === 1) tokens.splice(at, 0, pick(r, VOCAB));
      else tokens.splice(at, 1, pick(r, VOCAB));
    }
    return tokens.join('');
  }
  return Array.from({ length: 1 + int(r, 60) }, () => pick(r, VOCAB)).join(chance(r, 0.8) ? ' ' : '');
}

// ---------------------------------------------------------------------------------------------
// Raw bytes
// ---------------------------------------------------------------------------------------------

/** Invalid UTF-8 and friends: lone continuation bytes, a surrogate encoded, overlongs, beyond U+10FFFF, NUL, controls. */
const BAD_BYTES = [
  [0xff],
  [0xfe],
  [0x80],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xc3],
  [0x00],
  [0x01],
  [0x1b],
  [0x7f],
  [0x0b],
  [0x0c],
];

/** The body with bad bytes spliced in (inside strings or between tokens) or bytes replaced. */
function corrupt(r: Rand, text: string): Uint8Array<ArrayBuffer> {
  const bytes = [...Buffer.from(text, 'utf8')];
  for (let n = 1 + int(r, 4); n > 0; n--) {
    const bad = pick(r, BAD_BYTES);
    const at = int(r, bytes.length + 1);
    if (chance(r, 0.6)) bytes.splice(at, 0, ...bad);
    else bytes.splice(at, bad.length, ...bad);
  }
  return Uint8Array.from(bytes);
}

/** A JSON text nested `n` levels (built as text: too deep for JSON.stringify). */
const nestedJson = (n: number, open: string, close: string, leaf = '1') => `${open.repeat(n)}${leaf}${close.repeat(n)}`;

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

/** The systematic part: every field of AuditEventInput with every value it must refuse. */
const SYSTEMATIC: { field: InputField; value: unknown; batch: boolean }[] = INPUT_FIELDS.flatMap((field) =>
  wrongValuesFor(field).flatMap((value) => [
    { field, value, batch: false },
    { field, value, batch: true },
  ]),
);

function systematicCase(i: number, r: Rand): Req {
  const { field, value, batch } = SYSTEMATIC[i]!;
  const input = validInput(r);
  input[field] = value;
  // A resource field alone is refused at its partner: either path names the problem.
  const paths = ['resourceType', 'resourceId', 'resourceNamespace'].includes(field) ? ['resourceType', 'resourceId', 'resourceNamespace'] : [field];
  if (!batch)
    return post(
      `wrong ${field}`,
      { query: CREATE, variables: { input } },
      {
        mutation: true,
        check: expectViolation(
          'BAD_USER_INPUT',
          paths.map((p) => `input.${p}`),
        ),
      },
    );
  const inputs = [validInput(r), input, validInput(r)];
  return post(
    `wrong ${field} (batch)`,
    { query: CREATE_MANY, variables: { input: inputs } },
    {
      mutation: true,
      check: expectViolation(
        'BAD_USER_INPUT',
        paths.map((p) => `input.1.${p}`),
      ),
    },
  );
}

const GENERATORS: [weight: number, name: string, make: (r: Rand) => Req][] = [
  [14, 'random variables (create)', (r) => post('random variables', { query: CREATE, variables: { input: invalidInput(r) } }, { mutation: true })],
  [
    5,
    'random variables (batch)',
    (r) => {
      const inputs = Array.from({ length: 1 + int(r, 6) }, () => (chance(r, 0.5) ? validInput(r) : invalidInput(r)));
      inputs.splice(int(r, inputs.length + 1), 0, invalidInput(r));
      return post('random batch', { query: CREATE_MANY, variables: { input: inputs } }, { mutation: true });
    },
  ],
  [
    4,
    'variables of the wrong shape',
    (r) =>
      post(
        'wrong-shape variables',
        {
          query: pick(r, [CREATE, CREATE_MANY]),
          variables: pick(r, [{ input: randomJson(r, 2) }, randomJson(r, 2), { input: [randomJson(r, 2)] }, { input: invalidInput(r), extra: 1 }]),
        },
        { mutation: true },
      ),
  ],
  [
    6,
    'separator injection',
    (r) => {
      const s = chance(r, 0.5) ? separated(r) : nasty(r);
      switch (int(r, 6)) {
        case 0:
          return post('separators: timeline', { query: TIMELINE, variables: { c: s } }, { check: timelineIsolated(s) });
        case 1:
          return post('separators: eventId lookups', {
            query: BY_ID,
            variables: { id: pick(r, [s, `${randomUuid(r)}${pick(r, SEPARATORS)}`, `${pick(r, SEPARATORS)}${randomUuid(r)}`]) },
          });
        case 2:
          return post('separators: node id', {
            query: NODE,
            variables: { id: b64(`${pick(r, ['AuditEvent', 'AuditEvent:', 'User', ''])}:${s}`, chance(r, 0.5)) },
          });
        case 3:
          return post('separators: auditEvents filter', {
            query: AUDIT_EVENTS,
            variables: {
              f: { correlationId: s, actorId: [s, nasty(r)], eventType: [s], resourceType: chance(r, 0.5) ? s : null, resourceId: chance(r, 0.5) ? s : null },
            },
          });
        case 4:
          // Separators are legal in a correlationId (keys escape them): the input is invalid elsewhere.
          return post('separators: create', { query: CREATE, variables: { input: invalidInput(r, { correlationId: s }) } }, { mutation: true });
        default: {
          const input = validInput(r);
          input.eventId = pick(r, [s, `${randomUuid(r)}${pick(r, SEPARATORS)}`, `ev/${randomUuid(r)}`, `${randomUuid(r).slice(0, 35)}/`]);
          return post(
            'separators: eventId',
            { query: CREATE, variables: { input } },
            { mutation: true, check: expectViolation('BAD_USER_INPUT', ['input.eventId']) },
          );
        }
      }
    },
  ],
  [
    6,
    'cursors and page sizes',
    (r) => {
      const v: Record<string, unknown> = {};
      for (const k of ['first', 'last', 'after', 'before']) if (chance(r, 0.5)) v[k] = k === 'first' || k === 'last' ? pick(r, PAGE_NUMBERS) : randomCursor(r);
      if (Object.keys(v).length === 0) v.after = randomCursor(r);
      if (chance(r, 0.5)) return post('cursors: timeline', { query: TIMELINE, variables: { c: chance(r, 0.5) ? 'rr-1' : nasty(r), ...v } });
      return post('cursors: auditEvents', {
        query: AUDIT_EVENTS,
        variables: { ...v, o: pick(r, ['TIMESTAMP_ASC', 'TIMESTAMP_DESC', 'SIDEWAYS', null, 1]), f: chance(r, 0.5) ? randomJson(r, 2) : null },
      });
    },
  ],
  [
    8,
    'random query text',
    (r) =>
      post(
        'random document',
        {
          query: randomDocument(r),
          ...(chance(r, 0.5) ? { variables: randomJson(r, 2) } : {}),
          ...(chance(r, 0.2) ? { operationName: pick(r, ['T', 'A', 'Create', nasty(r), 1]) } : {}),
        },
        { mutation: true },
      ),
  ],
  [
    4,
    'deep documents',
    (r) => {
      const n = pick(r, [11, 50, 500, 2_000, 20_000, 200_000]);
      switch (int(r, 5)) {
        case 0:
          return post('deep selection', { query: `{ ${nestedJson(n, 'ledgerState { ', '} ', 'txId ')} }` });
        case 1:
          return post('deep list literal', { query: `{ timeline(correlationId: ${nestedJson(n, '[', ']', '"x"')}) { edges { cursor } } }` });
        case 2:
          return post(
            'deep object literal',
            { query: `mutation { createAuditEvent(input: ${nestedJson(n, '{ a: ', ' }')}) { created } }` },
            { mutation: true },
          );
        case 3:
          return post('deep inline fragments', { query: `{ ${nestedJson(Math.min(n, 5_000), '... on Query { ', '} ', 'ledgerState { txId } ')} }` });
        default:
          return post('deep fragment chain', {
            query: `{ ...F0 } ${Array.from({ length: Math.min(n, 400) }, (_, i) => `fragment F${i} on Query { ...F${i + 1} }`).join(' ')} fragment F${Math.min(n, 400)} on Query { __typename }`,
          });
      }
    },
  ],
  [
    4,
    'deep JSON',
    (r) => {
      const n = pick(r, [33, 100, 5_000, 50_000, 300_000]);
      const input = { ...structurallyInvalidInput(r), ...(chance(r, 0.5) ? { actorType: 's', actorId: 'a' } : {}) };
      const where = int(r, 4);
      const marker = '"<deep>"';
      const payload =
        where === 0
          ? { query: CREATE, variables: { input: { ...input, data: '<deep>' } } }
          : where === 1
            ? { query: TIMELINE, variables: { c: '<deep>' } }
            : where === 2
              ? { query: AUDIT_EVENTS, variables: { f: { eventType: '<deep>' } } }
              : { query: '{ __typename }', extensions: '<deep>' };
      const [open, close] = chance(r, 0.5) ? ['{"a":', '}'] : ['[', ']'];
      // With data deep and every required field present, the data depth alone refuses it.
      return {
        kind: `deep JSON (${where})`,
        headers: JSON_HEADERS,
        body: JSON.stringify(payload).replace(marker, nestedJson(n, open, close)),
        mutation: where === 0,
      };
    },
  ],
  [
    2,
    'aliases and repetition',
    (r) => {
      const n = pick(r, [16, 100, 1_000, 10_000]);
      switch (int(r, 4)) {
        case 0:
          return post('alias bomb', { query: `{ ${Array.from({ length: n }, (_, i) => `a${i}: ledgerState { txId }`).join(' ')} }` });
        case 1:
          return post('alias bomb (timeline pages)', {
            query: `{ ${Array.from({ length: Math.min(n, 200) }, (_, i) => `t${i}: timeline(correlationId: "x", first: 500) { edges { node { ${EVENT_FIELDS} verification { proof { json } } } } }`).join(' ')} }`,
          });
        case 2:
          // graphql-js' overlap check is quadratic in repeated fields (bounded by its own budget): a few hundred
          return post('field repetition', {
            query: `{ ${Array.from({ length: Math.min(n, 400) }, () => pick(r, ['__typename', 'ledgerState { txId }'])).join(' ')} }`,
          });
        default:
          return post('fragment fan-out', {
            query: `{ ...F3 } fragment F0 on Query { ledgerState { txId } } ${[1, 2, 3].map((l) => `fragment F${l} on Query { ${Array.from({ length: 30 }, () => `...F${l - 1}`).join(' ')} }`).join(' ')}`,
          });
      }
    },
  ],
  [
    0.5,
    'huge strings',
    (r) => {
      // Within the body limit: refused as input (BAD_USER_INPUT) or read; over it: 413.
      const size = pick(r, [64 * 1024, 1 * MiB, 4 * MiB, MAX_REQUEST_BODY_BYTES - 1024, MAX_REQUEST_BODY_BYTES + 1024]);
      const s = big(size);
      const over = size > MAX_REQUEST_BODY_BYTES;
      const check = over ? (res: Res) => (res.status === 413 ? null : `expected 413 for ${size} bytes, got ${res.status}`) : undefined;
      switch (int(r, 6)) {
        case 0:
          return post('huge correlationId', { query: TIMELINE, variables: { c: s } }, check ? { check } : {});
        case 1:
          return post(
            'huge data',
            { query: CREATE, variables: { input: { ...validInput(r), data: { blob: s } } } },
            { mutation: true, ...(check ? { check } : {}) },
          );
        case 2:
          return post(
            'huge actorId',
            { query: CREATE, variables: { input: { ...validInput(r), actorId: s } } },
            { mutation: true, ...(check ? { check } : {}) },
          );
        case 3:
          return post('huge comment', { query: `#${s}\n{ __typename }` }, check ? { check } : {});
        case 4:
          return post('huge variable name', { query: '{ __typename }', variables: { [s]: 1 } }, check ? { check } : {});
        default:
          return post('huge string literal', { query: `{ timeline(correlationId: "${s}") { edges { cursor } } }` }, check ? { check } : {});
      }
    },
  ],
  [
    3,
    'big-ish strings (cheap)',
    (r) => {
      const s = big(pick(r, [129, 257, 1025, 64 * 1024 + 1, 200_000]));
      const f = pick(r, INPUT_FIELDS);
      return post(
        'long string in a field',
        {
          query: CREATE,
          variables: {
            input: { ...validInput(r), [f]: s, ...(f === 'data' ? { data: [s] } : {}), ...(f === 'errorMessage' || f === 'data' ? { eventId: s } : {}) },
          },
        },
        { mutation: true },
      );
    },
  ],
  [
    8,
    'invalid UTF-8 and control bytes',
    (r) => {
      const payload = pick(r, [
        { query: CREATE, variables: { input: structurallyInvalidInput(r) } },
        { query: TIMELINE, variables: { c: nasty(r) } },
        { query: '{ ledgerState { txId } }' },
        { query: CREATE_MANY, variables: { input: [structurallyInvalidInput(r)] } },
      ]);
      return { kind: 'bad bytes in the body', headers: JSON_HEADERS, body: corrupt(r, JSON.stringify(payload)), mutation: true };
    },
  ],
  [
    4,
    'control characters and escapes in text',
    (r) => {
      const c = pick(r, [
        '\u0000',
        '\u0001',
        '\u0007',
        '\u001b',
        '\u007f',
        '\u0085',
        '\u2028',
        '\ufffe',
        '\uffff',
        '\ud800',
        '\udfff',
        '\ud83d',
        'a\ud800\ud800b',
      ]);
      switch (int(r, 4)) {
        case 0:
          return post('control char in the query text', { query: `{ ledgerState ${c} { txId } }` });
        case 1:
          return post('control char in a string literal', { query: `{ timeline(correlationId: "rr${c}1") { edges { cursor } } }` });
        case 2:
          return post('control char in a variable', { query: TIMELINE, variables: { c: `rr${c}1` } }, { check: timelineIsolated(`rr${c}1`) });
        default:
          // Raw (unescaped) control characters inside a JSON string: not JSON.
          return { kind: 'raw control char in JSON', headers: JSON_HEADERS, body: `{"query":"{ ledgerState { txId } }","variables":{"c":"a${c}b"}}` };
      }
    },
  ],
  [
    4,
    'malformed JSON',
    (r) => {
      const good = JSON.stringify({ query: CREATE, variables: { input: structurallyInvalidInput(r) } });
      const bodies = [
        '',
        ' ',
        'null',
        'true',
        '0',
        '"str"',
        '[]',
        '{}',
        '{"query":null}',
        '{"query":1}',
        '{"query":["{ __typename }"]}',
        '{"query":{}}',
        '{"query":"{ __typename }","variables":"x"}',
        '{"query":"{ __typename }","variables":[]}',
        '{"query":"{ __typename }","variables":1}',
        '{"query":"{ __typename }","operationName":5}',
        '{"query":"{ __typename }","extensions":[]}',
        '{"query":"{ __typename }","extensions":"x"}',
        '{"query":"{ __typename }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"x"}}}',
        '{"extensions":{"persistedQuery":{"sha256Hash":"abc"}}}',
        '{"query":"{ __typename }"',
        '{"query":"{ __typename }"}}',
        '{"query":"{ __typename }",}',
        "{'query':'{ __typename }'}",
        '{"query":"{ __typename }" "x":1}',
        '{"query":"\\u00"}',
        '{"query":"\\ud800"}',
        '{"__proto__":{"query":"{ __typename }"}}',
        '{"query":"{ __typename }","__proto__":{"variables":{"c":1}}}',
        '{"query":"{ __typename }","query":"mutation { x }"}',
        '\ufeff{"query":"{ __typename }"}',
        '{"query":"{ __typename }"}\u0000',
        '1e99999',
        '[[[[[[[[[[',
        good.slice(0, int(r, good.length)),
        good + pick(r, ['x', '}', ']', ',', '\u0000', '{"query":"{ __typename }"}']),
        good.replace(/"/g, pick(r, ["'", '', '\\"'])),
      ];
      return { kind: 'malformed JSON', headers: JSON_HEADERS, body: pick(r, bodies), mutation: true };
    },
  ],
  [
    3,
    'batched operations',
    (r) => {
      const ops = Array.from({ length: pick(r, [0, 1, 2, 50, 1_000]) }, () =>
        pick(r, [{ query: '{ ledgerState { txId } }' }, { query: CREATE, variables: { input: invalidInput(r) } }, randomJson(r, 1)]),
      );
      return post('batched array', ops, { mutation: true });
    },
  ],
  [
    4,
    'content types, encodings, methods',
    (r): Req => {
      const body = JSON.stringify(pick(r, [{ query: '{ ledgerState { txId } }' }, { query: CREATE, variables: { input: invalidInput(r) } }]));
      switch (int(r, 4)) {
        case 0: {
          const type = pick(r, [
            'text/plain',
            'text/plain;charset=UTF-8',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/graphql',
            'application/xml',
            'text/json',
            'application/jsonx',
            'application/json; charset=utf-16',
            'application/json; charset=latin1',
            'APPLICATION/JSON',
            'application/json, text/html',
            'application/json;',
            ';application/json',
            'application/graphql-response+json',
            'application/json\u0000',
            '',
            '*/*',
            'application/*',
          ]);
          return { kind: `content type ${JSON.stringify(type)}`, headers: { 'content-type': type.replaceAll('\u0000', '') }, body, mutation: true };
        }
        case 1: {
          const encoding = pick(r, ['gzip', 'deflate', 'br', 'zstd', 'identity', 'x-unknown', 'gzip, gzip', 'chunked']);
          return {
            kind: `content-encoding ${encoding}`,
            headers: { ...JSON_HEADERS, 'content-encoding': encoding },
            body: chance(r, 0.5) ? body : corrupt(r, body),
            mutation: true,
          };
        }
        case 2: {
          const method = pick(r, ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'POST', 'get']);
          return { kind: `method ${method}`, method, headers: JSON_HEADERS, ...(method === 'HEAD' || method === 'get' ? {} : { body }), mutation: true };
        }
        default: {
          const accept = pick(r, [
            'text/html',
            'application/xml',
            'image/png',
            '*/*;q=0',
            'application/json;q=0',
            'text/event-stream',
            'multipart/mixed',
            '',
            nasty(r, 4).replace(/[^\t\x20-\x7e]/g, ''),
          ]);
          return { kind: `accept ${JSON.stringify(accept)}`, headers: { 'content-type': 'application/json', accept }, body, mutation: true };
        }
      }
    },
  ],
  [
    5,
    'GET requests',
    (r) => {
      const params = new URLSearchParams();
      const q = pick(r, [
        '{ ledgerState { txId } }',
        CREATE,
        `mutation { createAuditEvent(input: {}) { created } }`,
        randomDocument(r),
        TIMELINE,
        `query Q { __typename } ${CREATE}`,
        '',
      ]);
      params.set('query', q);
      if (chance(r, 0.5))
        params.set(
          'variables',
          pick(r, [JSON.stringify({ input: invalidInput(r) }), JSON.stringify({ c: nasty(r), after: randomCursor(r) }), '{', 'null', '[]', nasty(r)]),
        );
      if (chance(r, 0.3)) params.set('operationName', pick(r, ['Create', 'Q', 'T', nasty(r)]));
      if (chance(r, 0.2)) params.set('extensions', pick(r, ['{', '[]', '{"persistedQuery":{"version":1}}']));
      let search = `?${params}`;
      if (chance(r, 0.1)) search += pick(r, ['&query=%7B__typename%7D', '&query', '%', '%zz', '&&&', `&${'a='.repeat(2_000)}`]);
      if (chance(r, 0.03)) search += `&pad=${big(20_000)}`; // past Node's header limit: 431
      return {
        kind: 'GET',
        method: 'GET',
        search,
        headers: { accept: pick(r, ['application/json', 'application/graphql-response+json', '*/*', 'text/event-stream']) },
        mutation: true,
      };
    },
  ],
  [
    2,
    'odd paths and headers',
    (r) => {
      const headers: Record<string, string> = { ...JSON_HEADERS };
      if (chance(r, 0.5)) headers['x-request-id'] = pick(r, ['', ' ', 'a'.repeat(129), 'a b', '../../etc', '%00', 'ok-id:1', big(8_000)]);
      if (chance(r, 0.3)) headers.authorization = pick(r, ['Bearer', 'Bearer ', 'Bearer x', 'Basic Zm9vOmJhcg==', big(4_000), 'Bearer \t']);
      if (chance(r, 0.3)) headers.origin = pick(r, ['http://evil.example', 'null', '']);
      const path = pick(r, [
        '/graphql',
        '/graphql/',
        '/graphql?',
        '/GRAPHQL',
        '//graphql',
        '/graphql/../graphql',
        '/%2e%2e/graphql',
        '/graphql%00',
        '/graphql;x',
        '/',
        '/readyz',
        '/healthz',
        '/metrics',
        '/nope',
        '/graphql#x',
      ]);
      return { kind: `path ${path}`, path, headers, body: JSON.stringify({ query: CREATE, variables: { input: invalidInput(r) } }), mutation: true };
    },
  ],
  [
    1,
    'raw HTTP',
    (r) => {
      const raw = pick(r, [
        'GARBAGE\r\n\r\n',
        'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
        'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
        'POST /graphql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
        'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
        'GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: x\r\nX-Bad\u0000: 1\r\n\r\n',
        `GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        'GET /graphql?query=%7B__typename%7D HTTP/9.9\r\nHost: x\r\n\r\n',
        'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{"query":',
      ]);
      return { kind: 'raw HTTP', raw: Uint8Array.from(Buffer.from(raw, 'latin1')) };
    },
  ],
];

const TOTAL_WEIGHT = GENERATORS.reduce((n, [w]) => n + w, 0);

function makeCase(i: number): Req {
  const r = caseRand(i);
  if (i < SYSTEMATIC.length) return systematicCase(i, r);
  let x = r() * TOTAL_WEIGHT;
  for (const [w, , make] of GENERATORS) {
    if (x < w) return make(r);
    x -= w;
  }
  return GENERATORS[0]![2](r);
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

async function sendRaw(base: string, bytes: Uint8Array<ArrayBuffer>): Promise<Res> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.end(bytes));
    // A half-sent body keeps the server waiting (until its request timeout): no need to wait that long.
    socket.setTimeout(3_000, () => socket.destroy());
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      // No answer at all (the server hung up on garbage) is fine; a 5xx is not.
      resolve({ status: status ? Number(status) : 0, contentType: '', text: text.split('\r\n\r\n').slice(1).join('\r\n\r\n'), json: undefined });
    });
  });
}

async function send(base: string, req: Req): Promise<Res> {
  if (req.raw) return sendRaw(base, req.raw);
  const url = `${base}${req.path ?? '/graphql'}${req.search ?? ''}`;
  const res = await fetch(url, {
    method: req.method ?? 'POST',
    headers: req.headers ?? {},
    ...(req.body !== undefined ? { body: req.body } : {}),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const contentType = res.headers.get('content-type') ?? '';
  if (/event-stream|multipart\/mixed/.test(contentType)) {
    // A stream (a subscription over HTTP, or a query answered as one): its head is enough.
    await res.body?.cancel();
    return { status: res.status, contentType, text: '', json: undefined };
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, contentType, text, json };
}

/** Kinds whose connection the server may cut (a body over the limit, sent before the 413 arrives). */
const MAY_CUT = /^huge|^deep JSON|^raw HTTP/;

interface Failure {
  index: number;
  kind: string;
  problem: string;
  body?: string;
}

interface RunResult {
  failures: Failure[];
  byKind: Map<string, number>;
  /** Milliseconds spent per kind (summed over concurrent requests). */
  msByKind: Map<string, number>;
  statuses: Map<number, number>;
  ms: number;
}

async function runCases(base: string, first: number, count: number): Promise<RunResult> {
  const failures: Failure[] = [];
  const byKind = new Map<string, number>();
  const msByKind = new Map<string, number>();
  const statuses = new Map<number, number>();
  let next = first;
  const start = performance.now();
  const worker = async () => {
    while (next < first + count) {
      const index = next++;
      const req = makeCase(index);
      const kind = req.kind.replace(/ \(.*\)$/, '');
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
      let problem: string | null;
      let res: Res | undefined;
      const t0 = performance.now();
      try {
        res = await send(base, req);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        problem = generalProblems(req, res);
      } catch (e) {
        const cause = (e as { cause?: { code?: string } }).cause?.code ?? '';
        // fetch failed: acceptable only where the server may hang up mid-upload; then it must still answer.
        problem = MAY_CUT.test(req.kind) && /ECONNRESET|EPIPE|UND_ERR_SOCKET/.test(cause) ? null : `request failed: ${String(e)} ${cause}`;
      }
      msByKind.set(kind, (msByKind.get(kind) ?? 0) + performance.now() - t0);
      if (problem) failures.push({ index, kind: req.kind, problem, ...(res ? { body: res.text.slice(0, 500) } : {}) });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { failures, byKind, msByKind, statuses, ms: performance.now() - start };
}

function report(name: string, result: RunResult, count: number): void {
  const kinds = [...result.byKind].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n} (${((result.msByKind.get(k) ?? 0) / 1000).toFixed(1)} s)`);
  const statuses = [...result.statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`);
  console.log(
    `fuzz ${name}: ${count} cases in ${(result.ms / 1000).toFixed(1)} s (seed ${SEED}; replay with FUZZ_SEED=${SEED})\n  statuses ${statuses.join(' ')}\n  ${kinds.join(', ')}`,
  );
}

/** Failures grouped by kind and problem: how many, and the first one's index and body. */
function describeFailures(failures: Failure[]): string {
  const groups = new Map<string, Failure[]>();
  for (const f of failures) {
    const key = `[${f.kind}] ${f.problem}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  return [...groups]
    .slice(0, 30)
    .map(([key, fs]) => `${fs.length}× ${key} (first: #${fs[0]!.index})${fs[0]!.body ? `\n    ${fs[0]!.body.replace(/\s+/g, ' ').slice(0, 300)}` : ''}`)
    .join('\n');
}

async function gql(base: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${base}/graphql`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ query, ...(variables ? { variables } : {}) }) });
  return (await res.json()) as GraphQLBody;
}

/** A valid create, then the event read back by id, through its timeline, and re-verified. */
async function validCreateAndRead(base: string): Promise<void> {
  const input = eventInput({ correlationId: `fuzz-after-${SEED}` });
  const created = await gql(base, CREATE, { input });
  expect(created.errors, JSON.stringify(created.errors)).toBeUndefined();
  expect(created.data!.createAuditEvent).toMatchObject({ created: true, proof: { verified: true } });
  const { eventId } = created.data!.createAuditEvent.event;
  const read = await gql(
    base,
    `query($id: ID!, $c: String!) { auditEvent(eventId: $id) { eventId } verifyAuditEvent(eventId: $id) { verified } timeline(correlationId: $c) { edges { node { eventId } } } }`,
    {
      id: eventId,
      c: input.correlationId as string,
    },
  );
  expect(read.errors).toBeUndefined();
  expect(read.data).toEqual({ auditEvent: { eventId }, verifyAuditEvent: { verified: true }, timeline: { edges: [{ node: { eventId } }] } });
}

// ---------------------------------------------------------------------------------------------
// The suites
// ---------------------------------------------------------------------------------------------

describeImmudb('fuzz: the gateway on immudb over real HTTP', () => {
  let ledger: Ledger;
  let indexing: IndexSetup;
  let live: LiveSetup;
  let app: App;
  let base: string;
  const logs: string[] = [];
  const appendCalls: string[] = [];
  const crashes: unknown[] = [];
  const onCrash = (e: unknown) => void crashes.push(e);

  beforeAll(async () => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    ledger = await openTestImmudbLedger();
    // Every append the write path attempts, successful or not.
    const watched = new Proxy(ledger, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (prop === 'append')
          return (...args: Parameters<Ledger['append']>) => {
            appendCalls.push(JSON.stringify(args).slice(0, 300));
            return target.append(...args);
          };
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    indexing = await openEventIndex({ ledger, redisUrl: redisUrl ?? null });
    indexing.indexer.start();
    live = await openLive({ ledger, redisUrl: redisUrl ?? null });
    live.feed.start();
    ledger.onAppended((results) => {
      indexing.indexer.kick();
      live.feed.appended(results);
    });
    app = createApp({
      ledger: watched,
      index: indexing.index,
      indexLag: () => indexing.indexer.lag(),
      live: live.feed,
      config: { port: 0, host: '127.0.0.1' },
      logger: createLogger({ level: 'warn', write: (line) => void logs.push(line) }),
    });
    base = (await app.listen()).url.replace(/\/graphql$/, '');
    // Something to read, in a correlation whose name prefixes the hostile ones.
    for (const c of ['rr-1', 'rr-10', 'rr-1/x']) expect((await gql(base, CREATE, { input: eventInput({ correlationId: c }) })).errors).toBeUndefined();
    appendCalls.length = 0;
  });

  afterAll(async () => {
    await app?.close();
    await live?.close();
    await indexing?.close();
    await ledger?.close();
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
  });

  it(`${CASES} invalid or read-only requests: no 5xx, coded errors, no leaks, nothing written`, async () => {
    const lastTx = await ledger.lastTxId();
    const trusted = await ledger.trustedState();
    const result = await runCases(base, 0, CASES);
    report('immudb', result, CASES);
    expect(describeFailures(result.failures), `seed ${SEED}`).toBe('');
    expect(appendCalls, 'the ledger was asked to append').toEqual([]);
    expect(await ledger.lastTxId()).toBe(lastTx);
    expect((await ledger.trustedState()).txId).toBe(trusted.txId);
    expect((await gql(base, '{ ledgerState { txId } }')).data!.ledgerState.txId).toBe(trusted.txId);
    expect(crashes).toEqual([]);
    expect(logs.filter((l) => l.includes('"level":"error"'))).toEqual([]);
    await validCreateAndRead(base);
  }, 240_000);

  it('hostile but valid correlationIds: each event comes back exactly, in its own timeline and no other', async () => {
    const r = caseRand(-2);
    const ids = new Set<string>([
      'rr-1',
      'rr-10',
      'rr-1/x',
      'rr-1%',
      'rr-1%2F',
      'rr-1\u0000',
      'rr-1:',
      'rr-1/',
      'rr-1/x/y',
      'rr-1\u0000x',
      '%',
      '/',
      ':',
      '\u0000',
    ]);
    while (ids.size < 60) ids.add(chance(r, 0.5) ? separated(r) || 'x' : nasty(r));
    const written = new Map<string, string[]>();
    const inputs = [...ids].map((c) => eventInput({ correlationId: c, actorId: nasty(r), data: { c, n: nasty(r) } }));
    const created = await gql(base, CREATE_MANY, { input: inputs });
    expect(created.errors, JSON.stringify(created.errors)).toBeUndefined();
    for (const [i, e] of created.data!.createAuditEvents.events.entries()) written.set(inputs[i]!.correlationId as string, [e.eventId]);
    for (const c of ['rr-1', 'rr-10', 'rr-1/x']) written.get(c)!.push('<seeded>');
    for (const [c, eventIds] of written) {
      const t = await gql(
        base,
        `query($c: String!) { timeline(correlationId: $c, first: 500) { edges { node { eventId correlationId data actor { id } } } } }`,
        { c },
      );
      expect(t.errors).toBeUndefined();
      const nodes = t.data!.timeline.edges.map((e) => e.node);
      for (const n of nodes) expect(n.correlationId, JSON.stringify(c)).toBe(c);
      expect(nodes.length, JSON.stringify(c)).toBe(eventIds.length);
      const mine = nodes.find((n) => n.eventId === eventIds[0]);
      const input = inputs.find((i) => i.correlationId === c)!;
      expect(mine).toEqual({ eventId: eventIds[0], correlationId: c, data: input.data, actor: { id: input.actorId } });
    }
    expect(crashes).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The embedded backend, through `src/main.ts` as a process (production switches off)
// ---------------------------------------------------------------------------------------------

interface Main {
  proc: ChildProcess;
  base: string;
  output: string[];
}

async function startMain(): Promise<Main> {
  const port = await freePort();
  const main = spawnMain({
    PORT: String(port),
    DATA_DIR: tempDir('auditgraph-fuzz-'),
    LOG_LEVEL: 'warn',
    GRAPHIQL: 'false',
    INTROSPECTION: 'false',
    NODE_ENV: 'production',
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(main, base);
  } catch (e) {
    main.proc.kill('SIGKILL');
    throw e;
  }
  return { proc: main.proc, base, output: main.output };
}

describe('fuzz: src/main.ts on the embedded ledger (GRAPHIQL=false, INTROSPECTION=false)', () => {
  let main: Main;
  beforeAll(async () => {
    main = await startMain();
  });
  afterAll(async () => {
    if (main && main.proc.exitCode === null && main.proc.signalCode === null) {
      const exited = new Promise((r) => main.proc.once('exit', r));
      main.proc.kill('SIGTERM');
      await exited;
    }
  });

  it(`${EMBEDDED_CASES} invalid or read-only requests: no 5xx, coded errors, nothing written, the process lives`, async () => {
    expect((await gql(main.base, CREATE, { input: eventInput({ correlationId: 'rr-1' }) })).errors).toBeUndefined();
    const before = (await gql(main.base, '{ ledgerState { txId } }')).data!.ledgerState.txId;
    // Other cases than the immudb run's (same seed, further indexes), plus the systematic ones.
    const systematic = await runCases(main.base, 0, SYSTEMATIC.length);
    const result = await runCases(main.base, CASES, EMBEDDED_CASES - SYSTEMATIC.length);
    report('embedded (main.ts)', result, EMBEDDED_CASES);
    expect(describeFailures([...systematic.failures, ...result.failures]), `seed ${SEED}`).toBe('');
    expect(main.proc.exitCode).toBeNull();
    expect(main.proc.signalCode).toBeNull();
    expect((await gql(main.base, '{ ledgerState { txId } }')).data!.ledgerState.txId).toBe(before);
    expect(
      main.output
        .join('')
        .split('\n')
        .filter((l) => l.includes('"level":"error"')),
    ).toEqual([]);
    await validCreateAndRead(main.base);
  }, 180_000);
});
