/**
 * The GraphQL API over real HTTP against a real immudb ledger: write, read, timeline,
 * verify; idempotency; all-or-nothing batches; DataLoader batching; masked internal errors;
 * health and readiness; graceful shutdown.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { Ledger } from '../../src/ledger/port.ts';
import { verifyProofBundle } from '../../src/proof/verify.ts';
import { createApp } from '../../src/server/app.ts';
import { createLogger } from '../../src/logger.ts';
import { CREATE, CREATE_MANY, EVENT_FIELDS, codes, eventInput, expectNoStackTrace, startTestServer, type TestServer } from '../support/graphql.ts';
import type { GraphQLBody, ReadyzBody } from '../support/api-types.ts';
import { startImmudb } from '../support/servers.ts';
import { describeImmudb, describeImmudbBinary, immudbBinary, openTestImmudbLedger } from '../support/services.ts';

describeImmudb('GraphQL API on immudb', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('creates an event, reads it back by eventId and node id, finds it in the timeline, and verifies it offline', async () => {
    const corr = `crv-${randomUUID()}`;
    const input = eventInput({
      eventId: randomUUID().toUpperCase(),
      correlationId: corr,
      eventAction: 'received',
      timestamp: '2025-03-04T05:06:07.089+02:00',
      parentEventId: randomUUID(),
      resourceType: 'pod',
      resourceId: 'api-7f9',
      resourceNamespace: 'prod',
      clusterName: 'eu-1',
      severity: 'WARNING',
      durationMs: 1234,
      errorCode: 'E_TIMEOUT',
      errorMessage: 'upstream timed out ✓',
      data: { signal: 'disk-pressure', values: [1, 2.5, null, true], nested: { ключ: 'значение' } },
    });
    const created = await s.gql(CREATE, { input });
    expect(created.body.errors).toBeUndefined();
    const { event, proof, created: isNew } = created.body.data!.createAuditEvent;
    expect(isNew).toBe(true);
    const eventId = String(input.eventId).toLowerCase();
    expect(event).toMatchObject({
      eventId,
      eventType: 'gateway.signal.received',
      eventCategory: 'gateway',
      eventAction: 'received',
      outcome: 'SUCCESS',
      timestamp: '2025-03-04T03:06:07.089Z',
      correlationId: corr,
      parentEventId: String(input.parentEventId),
      actor: { type: 'service', id: 'gateway' },
      resource: { type: 'pod', id: 'api-7f9', namespace: 'prod' },
      clusterName: 'eu-1',
      severity: 'WARNING',
      durationMs: 1234,
      error: { code: 'E_TIMEOUT', message: 'upstream timed out ✓' },
      data: input.data,
    });
    expect(event.recordedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(event.ledger.txId).toBe(proof.txId);
    expect(event.ledger.key).toBe(`tl/${corr}/001741057567089/${eventId}`);
    expect(proof.verified).toBe(true);
    expect(verifyProofBundle(proof.json)).toMatchObject({ ok: true, txId: proof.txId });
    // the proven entry is exactly this event
    expect(JSON.parse(Buffer.from(proof.json.entry.value, 'base64').toString('utf8')).eventId).toBe(eventId);

    const read = await s.gql(
      `query($id: ID!, $node: ID!) { auditEvent(eventId: $id) { ${EVENT_FIELDS} } node(id: $node) { id ... on AuditEvent { eventId } } }`,
      {
        id: String(input.eventId),
        node: event.id,
      },
    );
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data!.auditEvent).toEqual(event);
    expect(read.body.data!.node).toEqual({ id: event.id, eventId });

    const tl = await s.gql(
      `query($c: String!) { timeline(correlationId: $c) { edges { cursor node { eventId } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`,
      { c: corr },
    );
    expect(tl.body.data!.timeline.edges.map((e) => e.node.eventId)).toEqual([eventId]);
    expect(tl.body.data!.timeline.pageInfo).toEqual({
      hasNextPage: false,
      hasPreviousPage: false,
      startCursor: tl.body.data!.timeline.edges[0]!.cursor,
      endCursor: tl.body.data!.timeline.edges[0]!.cursor,
    });

    const v = await s.gql(
      `query($id: ID!) { verifyAuditEvent(eventId: $id) { verified eventId proof { verified txId json } } auditEvent(eventId: $id) { verification { verified eventId proof { txId } } } ledgerState { txId txHash signature { publicKey signature } } }`,
      {
        id: eventId,
      },
    );
    expect(v.body.errors).toBeUndefined();
    const { verifyAuditEvent: ver, ledgerState } = v.body.data!;
    expect(ver).toMatchObject({ verified: true, eventId, proof: { verified: true, txId: proof.txId } });
    const result = verifyProofBundle(ver.proof.json);
    expect(result.ok).toBe(true);
    expect(v.body.data!.auditEvent!.verification).toEqual({ verified: true, eventId, proof: { txId: proof.txId } });
    // the proof leads to (or starts from) the state the gateway reports
    expect(result.ok && result.state).toEqual({ txId: ledgerState.txId, txHash: ledgerState.txHash });
    expect(ledgerState.signature).toBeNull();

    const missing = await s.gql(`{ auditEvent(eventId: "${randomUUID()}") { eventId } }`);
    expect(missing.body).toEqual({ data: { auditEvent: null } });
  });

  it('is idempotent on eventId: same content → created: false; other content → EVENT_ID_CONFLICT and nothing written', async () => {
    const input = eventInput({ eventId: randomUUID(), correlationId: `idem-${randomUUID()}` });
    const first = await s.gql(CREATE, { input });
    const again = await s.gql(CREATE, { input });
    expect(first.body.data!.createAuditEvent.created).toBe(true);
    expect(again.body.data!.createAuditEvent.created).toBe(false);
    expect(again.body.data!.createAuditEvent.event).toEqual(first.body.data!.createAuditEvent.event);
    expect(verifyProofBundle(again.body.data!.createAuditEvent.proof.json).ok).toBe(true);

    const before = await s.txId();
    const conflict = await s.gql(CREATE, { input: { ...input, outcome: 'FAILURE' } });
    expect(conflict.body.data).toBeNull();
    expect(conflict.body.errors).toHaveLength(1);
    expect(conflict.body.errors![0]!.extensions).toEqual({ code: 'EVENT_ID_CONFLICT', eventId: input.eventId });
    // and in a batch: the other events of the batch are not written either
    const other = eventInput({ eventId: randomUUID() });
    const batch = await s.gql(CREATE_MANY, { input: [other, { ...input, actorId: 'someone-else' }] });
    expect(codes(batch)).toEqual(['EVENT_ID_CONFLICT']);
    expect((await s.gql(`{ auditEvent(eventId: "${other.eventId}") { eventId } }`)).body.data!.auditEvent).toBeNull();
    expect(await s.txId()).toBe(before);
  });

  it('writes a batch in one transaction, in input order, each event with its own proof', async () => {
    const corr = `batch-${randomUUID()}`;
    const input = Array.from({ length: 25 }, () => eventInput({ correlationId: corr, eventId: randomUUID() }));
    const r = await s.gql(CREATE_MANY, { input });
    expect(r.body.errors).toBeUndefined();
    const { events, proofs } = r.body.data!.createAuditEvents;
    expect(events.map((e) => e.eventId)).toEqual(input.map((i) => i.eventId));
    expect(new Set(events.map((e) => e.ledger.txId)).size).toBe(1);
    for (const [i, p] of proofs.entries()) {
      expect(verifyProofBundle(p.json).ok).toBe(true);
      expect(JSON.parse(Buffer.from(p.json.entry.value, 'base64').toString()).eventId).toBe(input[i]!.eventId);
    }
  });

  it('writes nothing when one event of a batch is invalid, and names its index and field', async () => {
    const before = await s.txId();
    const input = Array.from({ length: 6 }, () => eventInput({ eventId: randomUUID() }));
    input[3] = { ...input[3], actorId: '' };
    input[5] = { ...input[5], timestamp: '2025-13-01T00:00:00Z', durationMs: -5 };
    const r = await s.gql(CREATE_MANY, { input });
    expect(r.body.data).toBeNull();
    expect(r.body.errors).toHaveLength(1);
    const ext = r.body.errors![0]!.extensions!;
    expect(ext.code).toBe('BAD_USER_INPUT');
    expect(ext.violations!.map((v) => v.path).sort()).toEqual(['input.3.actorId', 'input.5.durationMs', 'input.5.timestamp']);
    for (const v of ext.violations!) expect(v.message).toEqual(expect.any(String));
    const ids = input.map((i) => i.eventId);
    const read = await s.gql(
      `query($ids: [ID!]!) { ${ids.map((_, i) => `e${i}: auditEvent(eventId: "${ids[i]}") { eventId }`).join(' ')} }`.replace('query($ids: [ID!]!) ', ''),
    );
    expect(Object.values(read.body.data!)).toEqual(ids.map(() => null));
    expect(await s.txId()).toBe(before);
  });

  it("caps a batch at the ledger's maxEventsPerAppend when that is below 1,000", async () => {
    const small: Ledger = Object.create(s.ledger, { maxEventsPerAppend: { value: 3 } });
    const b = await startTestServer({ ledger: small });
    try {
      const before = await b.txId();
      const r = await b.gql(CREATE_MANY, { input: Array.from({ length: 4 }, () => eventInput({ eventId: randomUUID() })) });
      expect(r.body.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', violations: [{ path: 'input', message: 'must contain at most 3 events' }] });
      expect(await b.txId()).toBe(before);
      const ok = await b.gql(CREATE_MANY, { input: Array.from({ length: 3 }, () => eventInput({ eventId: randomUUID() })) });
      expect(ok.body.errors).toBeUndefined();
    } finally {
      await b.close();
    }
  });

  it('loads events by id through one batched ledger.getMany per request', async () => {
    const corr = `dl-${randomUUID()}`;
    const input = Array.from({ length: 7 }, () => eventInput({ correlationId: corr, eventId: randomUUID() }));
    expect((await s.gql(CREATE_MANY, { input })).body.errors).toBeUndefined();
    const calls: (readonly string[])[] = [];
    // A spy over the real ledger: every call still goes to immudb.
    const spy: Ledger = Object.create(s.ledger, {
      getMany: {
        value: (ids: readonly string[]) => {
          calls.push([...ids]);
          return s.ledger.getMany(ids);
        },
      },
      maxEventsPerAppend: { value: s.ledger.maxEventsPerAppend },
    });
    const spied = await startTestServer({ ledger: spy });
    try {
      const ids = input.map((i) => String(i.eventId));
      // 14 aliases (the limit is 15), each id asked twice and once in upper case
      const query = `{ ${ids.map((id, i) => `a${i}: auditEvent(eventId: "${id}") { eventId } b${i}: auditEvent(eventId: "${id.toUpperCase()}") { actor { id } }`).join(' ')} }`;
      const r = await spied.gql<Record<string, { eventId: string }>>(query);
      expect(r.body.errors).toBeUndefined();
      expect(ids.map((_, i) => r.body.data![`a${i}`]!.eventId)).toEqual(ids);
      expect(calls).toHaveLength(1);
      expect([...calls[0]!].sort()).toEqual([...ids].sort());
    } finally {
      await spied.close();
    }
  });

  it('masks unexpected errors: no internals, a request id that is also in the log', async () => {
    const broken: Ledger = Object.create(s.ledger, {
      getMany: { value: async () => Promise.reject(new Error('secret internal detail: /var/lib/immudb')) },
    });
    const b = await startTestServer({ ledger: broken });
    try {
      const r = await b.gql(`{ auditEvent(eventId: "${randomUUID()}") { eventId } }`, undefined, { headers: { 'x-request-id': 'req-abc.123' } });
      expect(r.headers.get('x-request-id')).toBe('req-abc.123');
      expect(r.body.errors).toEqual([
        {
          message: 'Unexpected error.',
          locations: [{ line: 1, column: 3 }],
          path: ['auditEvent'],
          extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'req-abc.123' },
        },
      ]);
      expect(r.text).not.toContain('secret');
      const logged = b.logs.map((l) => JSON.parse(l)).filter((l) => l.level === 'error');
      expect(logged.some((l) => l.requestId === 'req-abc.123' && JSON.stringify(l.detail).includes('secret internal detail'))).toBe(true);
    } finally {
      await b.close();
    }
  });

  it('serves /healthz, /readyz and GraphiQL with an example query, and GraphQL over GET', async () => {
    const health = await fetch(`${s.base}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${s.base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', failing: [], checks: { ledger: { ok: true } } });
    const graphiql = await fetch(s.url, { headers: { accept: 'text/html' } });
    expect(graphiql.status).toBe(200);
    const html = await graphiql.text();
    expect(html).toContain('timeline(correlationId');
    const get = await fetch(`${s.url}?query=${encodeURIComponent('{ ledgerState { txId } }')}`, { headers: { accept: 'application/json' } });
    expect(((await get.json()) as GraphQLBody).data!.ledgerState.txId).toMatch(/^\d+$/);
    const mutationViaGet = await fetch(`${s.url}?query=${encodeURIComponent('mutation { createAuditEvents(input: []) { events { eventId } } }')}`, {
      headers: { accept: 'application/json' },
    });
    expect(mutationViaGet.status).toBe(405);
  });

  it('takes POST bodies only as JSON and sends no CORS headers (no cross-site writes while unauthenticated)', async () => {
    const before = await s.txId();
    const mutation = `mutation { createAuditEvent(input: { eventType: "a.b", eventCategory: "c", outcome: SUCCESS, correlationId: "csrf", actorType: "s", actorId: "g" }) { created } }`;
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', `query=${encodeURIComponent(mutation)}`],
      ['text/plain', JSON.stringify({ query: mutation })],
      ['application/graphql', mutation],
      [
        'multipart/form-data; boundary=x',
        `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: mutation })}\r\n--x--\r\n`,
      ],
    ] as const) {
      const r = await fetch(s.url, { method: 'POST', headers: { 'content-type': type, origin: 'https://evil.example' }, body });
      expect(r.status, type).toBe(415);
      expect(((await r.json()) as GraphQLBody).errors![0]!.extensions!.code).toBe('BAD_REQUEST');
    }
    const preflight = await fetch(s.url, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(await s.txId()).toBe(before);
  });

  it('finishes in-flight writes on close() and then stops accepting', async () => {
    const ledger = await openTestImmudbLedger();
    const app = createApp({ ledger, config: { port: 0, host: '127.0.0.1' }, logger: createLogger({ level: 'error', write: () => {} }) });
    const { url } = await app.listen();
    const input = Array.from({ length: 300 }, () => eventInput({ eventId: randomUUID(), correlationId: 'shutdown' }));
    const inflight = fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: CREATE_MANY, variables: { input } }),
    });
    await new Promise((r) => setTimeout(r, 20));
    const closed = app.close();
    const res = await inflight;
    expect(res.status).toBe(200);
    const body = (await res.json()) as GraphQLBody;
    expect(body.errors).toBeUndefined();
    expect(body.data!.createAuditEvents.events).toHaveLength(300);
    await closed;
    await expect(
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ ledgerState { txId } }"}' }),
    ).rejects.toThrow();
    await ledger.close();
    // the write is durable: a new gateway on the same database sees it
    const again = await openTestImmudbLedger({ database: ledger.database });
    try {
      expect((await again.getMany([String(input[299]!.eventId)]))[0]?.record.eventId).toBe(input[299]!.eventId);
    } finally {
      await again.close();
    }
  });
});

describeImmudbBinary('readiness with immudb down', () => {
  it('answers /readyz 503 naming the ledger while immudb is down, and 200 once it is back', async () => {
    const immudb = await startImmudb(immudbBinary!);
    const ledger = await openTestImmudbLedger({ address: immudb.address, callTimeoutMs: 1_000 });
    const s = await startTestServer({ ledger });
    try {
      expect((await fetch(`${s.base}/readyz`)).status).toBe(200);
      await immudb.kill();
      const down = await fetch(`${s.base}/readyz`);
      expect(down.status).toBe(503);
      const body = (await down.json()) as ReadyzBody;
      expect(body).toMatchObject({ status: 'unavailable', failing: ['ledger'], checks: { ledger: { ok: false } } });
      expectNoStackTrace(JSON.stringify(body));
      expect((await fetch(`${s.base}/healthz`)).status).toBe(200);
      // a write fails with a coded error, not a masked one
      const w = await s.gql(CREATE, { input: eventInput() });
      expect(codes(w)).toEqual(['LEDGER_UNAVAILABLE']);
      await immudb.start();
      await expect.poll(async () => (await fetch(`${s.base}/readyz`)).status, { timeout: 15_000, interval: 250 }).toBe(200);
    } finally {
      await s.close();
      await ledger.close();
      await immudb.destroy();
    }
  });
});
