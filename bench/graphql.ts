/**
 * Issue 3's benchmark, on one immudb: createAuditEvent over HTTP at concurrency 1, 16 and 64
 * against the ledger's append directly and against graphql-yoga alone (a trivial resolver, the
 * same client: the HTTP stack's own ceiling); and the first timeline page of 50 for one correlation
 * among 100,000 stored events (1,000,000 with BENCH_SCALE=10) against immudb's raw Scan of the
 * same entries.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSchema, createYoga } from 'graphql-yoga';
import { validateEventInput } from '../src/events/validate.ts';
import { ImmudbSession, pb } from '../src/ledger/immudb/grpc.ts';
import { timelinePrefix } from '../src/ledger/keys.ts';
import { openImmudbLedger } from '../src/ledger/immudb/index.ts';
import { createApp } from '../src/server/app.ts';
import { createLogger } from '../src/server/logger.ts';
import { sampleEventInput } from './fixtures.ts';
import { measure, printTable, type Result } from './harness.ts';

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

const hasWrk = () => spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;

/**
 * The same createAuditEvent load from `wrk` (Debian's package: a C client using a fifth of a core
 * where the Node client above takes most of one), so that the server side gets the machine:
 * `seconds` of POSTs at `concurrency`, every answer checked for `"created":true`. The server runs
 * in this process; its CPU per request goes into the row's name.
 */
async function wrkLoad(url: string, body: string, concurrency: number, seconds: number, name: string): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'ag-wrk-'));
  const script = join(dir, 'create.lua');
  writeFileSync(
    script,
    `wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = [==[${body}]==]
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) failed = 0 end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"created":true', 1, true) then failed = failed + 1 end
end
function done(summary, latency, requests)
  local f = 0
  for _, t in ipairs(threads) do f = f + t:get("failed") end
  io.write(string.format("AG %d %d %.3f %.3f %d\\n", summary.requests, summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000, f))
end
`,
  );
  const cpu = process.cpuUsage();
  const { stdout } = await promisify(execFile)('wrk', ['-t1', `-c${concurrency}`, `-d${seconds}s`, '-s', script, url]);
  const used = process.cpuUsage(cpu);
  const m = /^AG (\d+) (\d+) ([\d.]+) ([\d.]+) (\d+)$/m.exec(stdout);
  if (!m) throw new Error(`unexpected wrk output: ${stdout}`);
  const [requests, micros, p50, p99, failed] = m.slice(1).map(Number) as [number, number, number, number, number];
  const ok = requests - failed;
  const cpuMs = (used.user + used.system) / 1000 / Math.max(1, requests);
  return { name: `${name} (server CPU ${cpuMs.toFixed(2)} ms/request)`, events: ok, seconds: micros / 1e6, eventsPerSec: ok / (micros / 1e6), p50, p99, errors: failed };
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
    const bareQuery = CREATE.replace('AuditEventInput!', 'JSON!');
    try {
      rows.push(await load({ url: bare.url, query: bareQuery, total: 3000 * scale, concurrency: 64, kind: 'create', name: 'graphql-yoga alone (constant answer, no ledger), concurrency 64' }));
      if (hasWrk()) {
        // One body for every request: it has no eventId, so the gateway gives each event its own.
        const event = sampleEventInput(1, { correlationId: 'rr-wrk' });
        const body = (query: string) => JSON.stringify({ query, variables: { input: event } });
        const seconds = Math.max(10, 10 * Math.min(scale, 3));
        await wrkLoad(bare.url, body(bareQuery), 64, 2, 'warm-up');
        rows.push(await wrkLoad(url, body(CREATE), 64, seconds, 'createAuditEvent over HTTP, wrk client, concurrency 64'));
        rows.push(await wrkLoad(bare.url, body(bareQuery), 64, seconds, 'graphql-yoga alone, wrk client, concurrency 64'));
      } else {
        process.stderr.write('wrk is not installed: its rows are left out (apt-get install wrk)\n');
      }
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
