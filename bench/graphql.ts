/**
 * Issue 3's benchmark, on one immudb: createAuditEvent over HTTP at concurrency 1, 16 and 64
 * against the ledger's append directly and against graphql-yoga alone (a trivial resolver, the
 * same client: the HTTP stack's own ceiling); and the first timeline page of 50 for one correlation
 * among 100,000 stored events (1,000,000 with BENCH_SCALE=10) against immudb's raw Scan of the
 * same entries.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSchema, createYoga } from 'graphql-yoga';
import { validateEventInput } from '../src/events/validate.ts';
import { ImmudbSession } from '../src/ledger/immudb/grpc.ts';
import { timelinePrefix } from '../src/ledger/keys.ts';
import { openImmudbLedger } from '../src/ledger/immudb/index.ts';
import { createApp } from '../src/server/app.ts';
import { createLogger } from '../src/server/logger.ts';
import { sampleEventInput } from './fixtures.ts';
import { measure, printTable, type Result } from './harness.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const pb: any = createRequire(import.meta.url)('immudb-node/dist/src/proto/schema_pb.js');

const input = (i: number, correlationId = `rr-bench-${i % 1000}`) =>
  sampleEventInput(i, { correlationId, timestamp: new Date(Date.UTC(2025, 0, 1) + i * 10).toISOString() });

const CREATE = `mutation ($input: AuditEventInput!) {
  createAuditEvent(input: $input) { created event { eventId ledger { txId } } proof { verified txId json } }
}`;
const TIMELINE = `query ($c: String!) {
  timeline(correlationId: $c, first: 50) { edges { cursor node { eventId eventType outcome timestamp actor { id } } } pageInfo { hasNextPage endCursor } }
}`;

/**
 * graphql-yoga with nothing behind it: a mutation of the same shape whose resolver returns a
 * constant answer with a 5 KB string (a proof bundle's size). What the HTTP/GraphQL stack alone
 * serves on this machine with the same client.
 */
async function bareYoga(): Promise<{ url: string; close: () => Promise<void> }> {
  const answer = { created: true, event: { eventId: 'e', ledger: { txId: '1' } }, proof: { verified: true, txId: '1', json: 'x'.repeat(5000) } };
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: `scalar JSON
        type Query { ok: Boolean }
        type Mutation { createAuditEvent(input: JSON!): Payload }
        type Payload { created: Boolean event: Event proof: Proof }
        type Event { eventId: String ledger: Ledger }
        type Ledger { txId: String }
        type Proof { verified: Boolean txId: String json: String }`,
      resolvers: { Mutation: { createAuditEvent: () => answer } },
    }),
    logging: false,
  });
  const server = createServer(yoga);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/graphql`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Runs the HTTP load from a second process (bench/http-load.ts). */
async function load(options: { url: string; query: string; total: number; concurrency: number; kind: 'create' | 'timeline'; name: string }): Promise<Result> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/http-load.ts', JSON.stringify(options)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Result;
}

export async function benchGraphql(address: string, scale = 1): Promise<Result[]> {
  const tag = Date.now().toString(36);
  const database = `gqlbench${tag}`;
  const ledger = await openImmudbLedger({ address, user: 'immudb', password: 'immudb', database, dataDir: mkdtempSync(join(tmpdir(), 'ag-bench-')) });
  const app = createApp({ ledger, config: { port: 0, host: '127.0.0.1' }, logger: createLogger({ level: 'error' }) });
  const { url } = await app.listen();
  const post = async (query: string, variables: Record<string, unknown>) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body;
  };
  const rows: Result[] = [];
  const session = new ImmudbSession({ address, user: 'immudb', password: 'immudb', database });
  let n = 0;
  try {
    for (const c of [1, 16, 64]) {
      const total = (c === 1 ? 300 : 3000) * scale;
      rows.push(await load({ url, query: CREATE, total, concurrency: c, kind: 'create', name: `createAuditEvent over HTTP, concurrency ${c}` }));
    }
    const bare = await bareYoga();
    try {
      const query = CREATE.replace('AuditEventInput!', 'JSON!');
      rows.push(await load({ url: bare.url, query, total: 3000 * scale, concurrency: 64, kind: 'create', name: 'graphql-yoga alone (constant answer, no ledger), concurrency 64' }));
    } finally {
      await bare.close();
    }
    rows.push(
      await measure(`ledger append directly, concurrency 64`, { total: 3000 * scale, concurrency: 64 }, () =>
        ledger.append([validateEventInput(input(n++))]),
      ),
    );
    printTable(`createAuditEvent on immudb 1.1.0 (each response carries its verified proof)`, rows);

    // Timeline: one correlation of 200 events among N stored events.
    const timelineRows: Result[] = [];
    // immudb's raw Scan of the page's 51 entries (50 and one to tell whether more follow), through
    // immudb-node's generated stub and nothing of ours: the floor under the page.
    await session.connect();
    let sinceTx = 0; // as the gateway asks: what was written is indexed
    const rawScan = async () => {
      const req = new pb.ScanRequest();
      req.setPrefix(timelinePrefix('rr-target'));
      req.setLimit(51);
      req.setSincetx(sinceTx);
      if ((await session.call('scan', req)).getEntriesList().length !== 51) throw new Error('short scan');
    };
    // BENCH_TIMELINE_SIZES (e.g. `100000,1000000`) runs the 1M case without scaling everything else.
    const sizes = process.env.BENCH_TIMELINE_SIZES?.split(',').map(Number) ?? (scale >= 10 ? [100_000, 1_000_000] : [100_000]);
    let stored = n;
    for (const size of sizes) {
      const t0 = performance.now();
      const batch = 50; // typical ingestion: big batches are slower to read from immudb 1.1 (see README)
      const workers = Array.from({ length: 16 }, async () => {
        while (stored < size) {
          const from = stored;
          stored += batch;
          await ledger.append(
            Array.from({ length: batch }, (_, j) => validateEventInput(input(from + j, (from + j) % 500 === 0 ? 'rr-target' : `rr-${(from + j) % 9973}`))),
          );
        }
      });
      await Promise.all(workers);
      process.stderr.write(`filled ${stored} events in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      await post(TIMELINE, { c: 'rr-target' }); // warm
      timelineRows.push(await load({ url, query: TIMELINE, total: 300, concurrency: 1, kind: 'timeline', name: `timeline first 50, 1 correlation among ${stored} events` }));
      sinceTx = Number(await ledger.lastTxId());
      await rawScan(); // warm
      timelineRows.push(await measure(`immudb Scan of the same 51 entries (raw stub), among ${stored} events`, { total: 300, concurrency: 1 }, rawScan));
    }
    printTable('timeline over HTTP (immudb prefix scan)', timelineRows);
    return [...rows, ...timelineRows];
  } finally {
    session.close();
    await app.close();
    await ledger.close();
  }
}
