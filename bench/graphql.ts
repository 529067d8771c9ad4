/**
 * Issue 3's benchmark, on immudb 1.11.1 (issue 18), every row naming its server: createAuditEvent
 * over HTTP at concurrency 1, 16 and 64, the last beside graphql-yoga alone (a trivial resolver,
 * the same client: the HTTP stack's own ceiling), taking turns slice by slice, and the ledger's
 * append directly; and the first timeline page of 50 for one correlation among 100,000 stored
 * events (and 1,000,000 with BENCH_SCALE>=10 or BENCH_TIMELINE_SIZES=100000,1000000) taking turns
 * with immudb's raw Scan of the same 51 entries on the same database, and on a database filled
 * the same way on each floor server (immudb 1.10.0).
 *
 * BENCH_GRAPHQL_BASELINE=<dir>: a second gateway, built from the source tree in <dir> (e.g.
 * `git archive <rev> src | tar -x -C <dir>`, with node_modules linked beside it), takes its turns in
 * the concurrency-64 rows (Node client and wrk) on a database of its own: before and after a change
 * in one run.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSchema, createYoga } from 'graphql-yoga';
import { validateEventInput } from '../src/events/validate.ts';
import { ImmudbSession } from '../src/ledger/immudb/grpc.ts';
import { timelinePrefix } from '../src/ledger/keys.ts';
import type { openImmudbLedger } from '../src/ledger/immudb/index.ts';
import { createApp } from '../src/server/app.ts';
import { createLogger } from '../src/logger.ts';
import { CREATE, sampleEventInput, TIMELINE } from './fixtures.ts';
import type { HttpLoadOptions } from './http-load.ts';
import { measure, measureInTurns, printTable, summarize, type Result } from './harness.ts';
import { encodeScanRequest } from '../src/ledger/immudb/wire-encode.ts';
import { countEntries, openGatewayLedger, serverLabel, type BenchServer, type BenchTarget } from './immudb.ts';

const input = (i: number, correlationId = `rr-bench-${i % 1000}`) =>
  sampleEventInput(i, { correlationId, timestamp: new Date(Date.UTC(2025, 0, 1) + i * 10).toISOString() });

/** A Yoga app on a free loopback port. */
async function serve(yoga: ReturnType<typeof createYoga>): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(yoga);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/graphql`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

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
  return serve(yoga);
}

/**
 * graphql-yoga with nothing behind it answering the timeline query with a constant page: the same
 * types, fields and 50 nodes as the gateway's answer (`page`, captured from it). What HTTP, Yoga and
 * graphql-js alone cost for that page on this machine with the same client: the floor under the
 * timeline's overhead above immudb's Scan.
 */
async function bareTimelineYoga(page: unknown): Promise<{ url: string; close: () => Promise<void> }> {
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: `type Query { timeline(correlationId: String!, first: Int): Connection }
        type Connection { edges: [Edge!]! pageInfo: PageInfo! }
        type Edge { cursor: String! node: Node! }
        type Node { eventId: ID! eventType: String! outcome: String! timestamp: String! actor: Actor! }
        type Actor { id: String! }
        type PageInfo { hasNextPage: Boolean! endCursor: String }`,
      resolvers: { Query: { timeline: () => page } },
    }),
    logging: false,
  });
  return serve(yoga);
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
  return {
    name: `${name} (server CPU ${cpuMs.toFixed(2)} ms/request)`,
    events: ok,
    seconds: micros / 1e6,
    eventsPerSec: ok / (micros / 1e6),
    p50,
    p99,
    errors: failed,
  };
}

/** Runs the HTTP load from a second process (bench/http-load.ts). */
async function load(options: HttpLoadOptions): Promise<Result & { latencies?: number[] }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/http-load.ts', JSON.stringify(options)], { maxBuffer: 1 << 24 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Result & { latencies?: number[] };
}

/** Node-client loads of several cases in turns, `rounds` slices each; each case's slices merged into one row. */
async function loadsInTurns(
  rounds: number,
  cases: { name: string; server: string; url: string; query: string; total: number; concurrency: number }[],
): Promise<Result[]> {
  const got = cases.map(() => ({ latencies: [] as number[], seconds: 0, errors: 0 }));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      const j = (round + k) % cases.length;
      const c = cases[j]!;
      const total = Math.ceil(c.total / rounds);
      const r = await load({
        url: c.url,
        query: c.query,
        total,
        concurrency: c.concurrency,
        kind: 'create',
        name: c.name,
        first: round * total,
        latencies: true,
      });
      got[j]!.latencies.push(...r.latencies!);
      got[j]!.seconds += r.seconds;
      got[j]!.errors += r.errors;
    }
  }
  return cases.map((c, j) => ({ ...summarize(c.name, got[j]!.latencies, got[j]!.seconds, got[j]!.errors), server: c.server }));
}

/** Fills a gateway ledger's database to `size` events: one in 500 in `rr-target`, appends of 50, 16 at a time (the method of the earlier runs). */
async function fill(ledger: Awaited<ReturnType<typeof openImmudbLedger>>, from: number, size: number, label: string): Promise<number> {
  const t0 = performance.now();
  let stored = from;
  const batch = 50; // typical ingestion
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (stored < size) {
        const first = stored;
        stored += batch;
        await ledger.append(
          Array.from({ length: batch }, (_, j) => validateEventInput(input(first + j, (first + j) % 500 === 0 ? 'rr-target' : `rr-${(first + j) % 9973}`))),
        );
      }
    }),
  );
  process.stderr.write(`${label}: filled ${from} → ${stored} events in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return stored;
}

export async function benchGraphql(target: BenchTarget, scale = 1): Promise<Result[]> {
  const { address } = target;
  const server = serverLabel(target);
  const tag = Date.now().toString(36);
  const database = `gqlbench${tag}`;
  const ledger = await openGatewayLedger(target, database);
  const app = createApp({ ledger, config: { port: 0, host: '127.0.0.1' }, logger: createLogger({ level: 'error' }) });
  const { url } = await app.listen();
  const post = async (query: string, variables: Record<string, unknown>, to = url) => {
    const res = await fetch(to, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { errors?: unknown[]; data?: { timeline?: { edges: unknown[] } } };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body;
  };
  // The baseline gateway (BENCH_GRAPHQL_BASELINE), on a database of its own.
  const baselineDir = process.env.BENCH_GRAPHQL_BASELINE;
  const baseline = baselineDir ? await baselineGateway(baselineDir, target, `${database}base`) : undefined;
  const rows: Result[] = [];
  // The floor servers' databases for the raw Scan, each filled through a gateway ledger of its own.
  const floorLedgers: { server: BenchServer; ledger: Awaited<ReturnType<typeof openImmudbLedger>>; session: ImmudbSession; stored: number }[] = [];
  const sessions: ImmudbSession[] = [];
  let n = 0;
  try {
    for (const c of [1, 16]) {
      const total = (c === 1 ? 300 : 3000) * scale;
      rows.push({
        ...(await load({ url, query: CREATE, total, concurrency: c, kind: 'create', name: `createAuditEvent over HTTP, concurrency ${c}` })),
        server,
      });
    }
    const bare = await bareYoga();
    const bareQuery = CREATE.replace('AuditEventInput!', 'JSON!');
    try {
      // Concurrency 64 beside graphql-yoga alone, in turns: three slices each.
      rows.push(
        ...(await loadsInTurns(3, [
          { name: 'createAuditEvent over HTTP, concurrency 64', server, url, query: CREATE, total: 3000 * scale, concurrency: 64 },
          ...(baseline
            ? [
                {
                  name: `createAuditEvent over HTTP, concurrency 64, ${baseline.label}`,
                  server,
                  url: baseline.url,
                  query: CREATE,
                  total: 3000 * scale,
                  concurrency: 64,
                },
              ]
            : []),
          {
            name: 'graphql-yoga alone (constant answer, no ledger), concurrency 64',
            server: '-',
            url: bare.url,
            query: bareQuery,
            total: 3000 * scale,
            concurrency: 64,
          },
        ])),
      );
      if (hasWrk()) {
        // One body for every request: it has no eventId, so the gateway gives each event its own.
        const event = sampleEventInput(1, { correlationId: 'rr-wrk' });
        const body = (query: string) => JSON.stringify({ query, variables: { input: event } });
        const seconds = Math.max(5, 5 * Math.min(scale, 3));
        await wrkLoad(bare.url, body(bareQuery), 64, 2, 'warm-up');
        // Two rounds in turns, each round's row on its own (wrk reports percentiles, not latencies).
        for (let round = 1; round <= 2; round++) {
          const pair = [
            async () =>
              rows.push({
                ...(await wrkLoad(url, body(CREATE), 64, seconds, `createAuditEvent over HTTP, wrk client, concurrency 64, round ${round}`)),
                server,
              }),
            async () =>
              rows.push({
                ...(await wrkLoad(bare.url, body(bareQuery), 64, seconds, `graphql-yoga alone, wrk client, concurrency 64, round ${round}`)),
                server: '-',
              }),
            ...(baseline
              ? [
                  async () =>
                    rows.push({
                      ...(await wrkLoad(
                        baseline.url,
                        body(CREATE),
                        64,
                        seconds,
                        `createAuditEvent over HTTP, wrk client, concurrency 64, ${baseline.label}, round ${round}`,
                      )),
                      server,
                    }),
                ]
              : []),
          ];
          for (const run of round === 1 ? pair : pair.reverse()) await run();
        }
      } else {
        process.stderr.write('wrk is not installed: its rows are left out (apt-get install wrk)\n');
      }
    } finally {
      await bare.close();
    }
    rows.push({
      ...(await measure(`ledger append directly, concurrency 64`, { total: 3000 * scale, concurrency: 64 }, () =>
        ledger.append([validateEventInput(input(n++))]),
      )),
      server,
    });
    printTable(`createAuditEvent on immudb ${target.version} (each response carries its verified proof)`, rows);

    // Timeline: one correlation of 200 events among N stored events.
    const timelineRows: Result[] = [];
    const session = new ImmudbSession({ address, user: 'immudb', password: 'immudb', database });
    sessions.push(session);
    await session.connect();
    for (const f of target.floors) {
      const floorDb = `gqlfloor${tag}`;
      const l = await openGatewayLedger(f, floorDb);
      const s = new ImmudbSession({ address: f.address, user: 'immudb', password: 'immudb', database: floorDb });
      floorLedgers.push({ server: f, ledger: l, session: s, stored: 0 });
      sessions.push(s);
      await s.connect();
    }
    // immudb's raw Scan of the page's 51 entries (50 and one to tell whether more follow),
    // hand-encoded, its reply's entries counted and nothing decoded: the floor under the page.
    const rawScan = async (s: ImmudbSession, sinceTx: number) => {
      const got = countEntries(await s.callBytes('Scan', encodeScanRequest(timelinePrefix('rr-target'), { limit: 51, sinceTx })));
      if (got !== 51) throw new Error(`short scan: ${got}`);
    };
    // BENCH_TIMELINE_SIZES (e.g. `100000,1000000`) runs the 1M case without scaling everything else.
    const sizes = process.env.BENCH_TIMELINE_SIZES?.split(',').map(Number) ?? (scale >= 10 ? [100_000, 1_000_000] : [100_000]);
    let stored = n;
    for (const size of sizes) {
      stored = await fill(ledger, stored, size, server);
      for (const f of floorLedgers) f.stored = await fill(f.ledger, f.stored, size, serverLabel(f.server));
      const sinceTx = Number(await ledger.lastTxId()); // as the gateway asks: what was written is indexed
      const floorSince = await Promise.all(floorLedgers.map(async (f) => Number(await f.ledger.lastTxId())));
      const page = async () => {
        const body = await post(TIMELINE, { c: 'rr-target' });
        if (body.data?.timeline?.edges.length !== 50) throw new Error('short page');
      };
      // warm each, then 300 rounds in turns
      await page();
      const bare = await bareTimelineYoga((await post(TIMELINE, { c: 'rr-target' })).data!.timeline);
      const barePage = async () => {
        const body = await post(TIMELINE, { c: 'rr-target' }, bare.url);
        if (body.data?.timeline?.edges.length !== 50) throw new Error('short page');
      };
      await barePage();
      await rawScan(session, sinceTx);
      for (const [i, f] of floorLedgers.entries()) await rawScan(f.session, floorSince[i]!);
      timelineRows.push(
        ...(await measureInTurns(300, [
          { name: `timeline first 50, 1 correlation among ${stored} events (HTTP, client in this process)`, server, op: page },
          { name: `graphql-yoga alone answering the same page as a constant (HTTP, same client)`, server: '-', op: barePage },
          { name: `immudb Scan of the same 51 entries (raw, nothing decoded), among ${stored} events`, server, op: () => rawScan(session, sinceTx) },
          ...floorLedgers.map((f, i) => ({
            name: `immudb Scan of the same 51 entries (raw, nothing decoded), among ${f.stored} events`,
            server: serverLabel(f.server),
            op: () => rawScan(f.session, floorSince[i]!),
          })),
        ])),
      );
      await bare.close();
    }
    printTable('timeline over HTTP (immudb prefix scan), in turns with the raw Scans', timelineRows);
    return [...rows, ...timelineRows];
  } finally {
    for (const s of sessions) s.close();
    for (const f of floorLedgers) await f.ledger.close();
    await app.close();
    await ledger.close();
    await baseline?.close();
  }
}

/** The gateway of another source tree (BENCH_GRAPHQL_BASELINE) on `database`, listening on a free port. */
async function baselineGateway(dir: string, target: BenchTarget, database: string): Promise<{ url: string; label: string; close: () => Promise<void> }> {
  const root = resolve(dir);
  const { createApp: createBaselineApp } = (await import(pathToFileURL(join(root, 'src/server/app.ts')).href)) as typeof import('../src/server/app.ts');
  const ledger = await openGatewayLedger(target, database);
  const app = createBaselineApp({ ledger, config: { port: 0, host: '127.0.0.1' }, logger: createLogger({ level: 'error' }) });
  const { url } = await app.listen();
  return {
    url,
    label: `before (${process.env.BENCH_GRAPHQL_BASELINE_LABEL ?? dir})`,
    close: async () => {
      await app.close();
      await ledger.close();
    },
  };
}
