/**
 * Issue 6's benchmark: the embedded ledger against immudb (1.11.1 by default) on the same disk, in one run —
 * append events/s (single sequential, single at concurrency 64, batches of 100, and batches of 50
 * from 16 callers while filling the timeline's database) with p50/p99, the first timeline page of
 * 50 among 100,000 stored events, and the embedded ledger's start-up
 * with 1,000,000 stored events (1 event per tx, the worst case, and 100 per tx).
 *
 *   BENCH_ONLY=embedded npm run bench           (under: flock /tmp/auditgraph-bench.lock …)
 *
 * BENCH_SCALE scales the operation counts and the start-up sizes (0.1: 100,000 events).
 * BENCH_STARTUP_RUNS (default 3) measured start-ups per log, each in a fresh process.
 * BENCH_STARTUP_VERIFY=full measures 'full' start-up verification instead of 'chain'.
 *
 * Append cases alternate between the backends case by case (embedded, then immudb, each on a
 * fresh database), so a change in the machine's load hits both sides of a row alike.
 *
 * Start-up logs are generated once with the commit path's own encoder (buildTransaction, the same
 * Alh chain and binary-linking tree) and cached under .cache/bench-embedded/, keyed by the log
 * format version; only generating them skips the per-tx fsync (one at the end). One unmeasured
 * start-up per log comes first: it reads the file into the page cache and saves the trusted state,
 * so every measured run starts as a restarted server does (log cached, trusted state on disk).
 * Start-up is reported as the time to open the ledger (load, replay, chain check, trusted state)
 * and, beside it, the child process's whole time until ready (node, tsx and imports included).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NewEvent } from '../src/events/types.ts';
import { validateEventInput } from '../src/events/validate.ts';
import { buildTransaction } from '../src/ledger/embedded/transaction.ts';
import { embeddedLedgerPaths, openEmbeddedBackend, openEmbeddedLedger } from '../src/ledger/embedded/index.ts';
import { FILE_VERSION, fileHeader } from '../src/ledger/embedded/log.ts';
import { openImmudbLedger } from '../src/ledger/immudb/index.ts';
import type { Ledger } from '../src/ledger/port.ts';
import { AHTree } from '../src/proof/ahtree.ts';
import { ZERO_HASH } from '../src/proof/hashing.ts';
import { GENESIS_PREV_ALH, txAlh } from '../src/proof/tx-header.ts';
import { sampleEventInput } from './fixtures.ts';
import { measure, printMarkdownTable, type Result } from './harness.ts';

/** Bump when the generated logs' content changes (the log format has its own FILE_VERSION). */
const FIXTURE_VERSION = 1;
const T0 = Date.UTC(2025, 0, 1);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
const fmt = (x: number, digits = 0) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const event = (i: number, correlationId: string): NewEvent =>
  validateEventInput(sampleEventInput(i, { correlationId, timestamp: new Date(T0 + i).toISOString() }));
/** The timeline benchmark's shape (as bench/graphql.ts): every 500th event in `rr-target`, the rest over 9,973 correlations. */
const spread = (i: number) => (i % 500 === 0 ? 'rr-target' : `rr-${i % 9973}`);

interface Backend {
  name: 'embedded' | 'immudb';
  open(tag: string): Promise<Ledger & { close(): Promise<void> }>;
}

function backends(address: string, work: string): { embedded: Backend; immudb: Backend } {
  return {
    embedded: { name: 'embedded', open: async (tag) => openEmbeddedLedger({ dataDir: join(work, `embedded-${tag}`), logger: { warn: () => {} } }) },
    immudb: {
      name: 'immudb',
      open: async (tag) =>
        openImmudbLedger({
          address,
          user: 'immudb',
          password: 'immudb',
          database: `embbench${tag}${Date.now().toString(36)}`,
          dataDir: join(work, `immudb-${tag}`),
        }),
    },
  };
}

interface AppendCase {
  name: string;
  total: number;
  concurrency: number;
  batch: number;
}

const appendCaseList = (scale: number): AppendCase[] => [
  { name: 'append 1 event, sequential', total: Math.max(20, Math.round(300 * scale)), concurrency: 1, batch: 1 },
  { name: 'append 1 event, 64 concurrent callers', total: Math.max(200, Math.round(3000 * scale)), concurrency: 64, batch: 1 },
  { name: 'append batches of 100, sequential', total: Math.max(5, Math.round(100 * scale)), concurrency: 1, batch: 100 },
];

let appended = 0;
/** One append case on a fresh database of `b`. */
async function appendCase(b: Backend, c: AppendCase, tag: string): Promise<Result> {
  const ledger = await b.open(tag);
  try {
    await ledger.append([event(appended++, 'rr-warm')]);
    return await measure(c.name, { total: c.total, concurrency: c.concurrency, eventsPerOp: c.batch }, () =>
      ledger.append(Array.from({ length: c.batch }, () => event(appended, `rr-bench-${appended++ % 50}`))),
    );
  } finally {
    await ledger.close();
  }
}

/** Fills a fresh database with `stored` events (batches of 50 from 16 callers, measured), then reads the first timeline page. */
async function timelineCase(b: Backend, stored: number): Promise<{ result: Result; fill: Result }> {
  const ledger = await b.open('timeline');
  try {
    return await fillAndRead(b, ledger, stored);
  } finally {
    await ledger.close();
  }
}

async function fillAndRead(b: Backend, ledger: Ledger, stored: number): Promise<{ result: Result; fill: Result }> {
  const batch = 50; // as bench/graphql.ts: typical ingestion
  const fill = await measure(
    `append batches of ${batch}, 16 concurrent callers (filling ${fmt(stored)} events)`,
    { total: Math.ceil(stored / batch), concurrency: 16, eventsPerOp: batch },
    (k) => {
      const from = k * batch;
      return ledger.append(Array.from({ length: Math.min(batch, stored - from) }, (_, j) => event(from + j, spread(from + j))));
    },
  );
  if (fill.errors > 0) throw new Error(`${b.name}: ${fill.errors} appends failed while filling`);
  const read = () => ledger.scanTimeline('rr-target', { limit: 50, direction: 'asc' });
  const first = await read(); // warm
  if (first.events.length !== Math.min(50, Math.ceil(stored / 500))) throw new Error(`timeline returned ${first.events.length} events`);
  const result = await measure(`timeline first 50 of 'rr-target', ${fmt(stored)} events stored (reads/s)`, { total: 300, concurrency: 1 }, read);
  return { result, fill };
}

/** A cached log of `events` events in txs of `perTx`: its DATA_DIR. */
function fixture(events: number, perTx: number): { dataDir: string; bytes: number; txs: number; generatedSeconds: number | null } {
  const dataDir = resolve('.cache', 'bench-embedded', `log${FILE_VERSION}-fx${FIXTURE_VERSION}-${events}x${perTx}`);
  const paths = embeddedLedgerPaths(dataDir);
  const txs = Math.ceil(events / perTx);
  if (existsSync(paths.log)) return { dataDir, bytes: statSync(paths.log).size, txs, generatedSeconds: null };
  const t0 = performance.now();
  const building = `${dataDir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  const tmp = embeddedLedgerPaths(building);
  mkdirSync(tmp.dir, { recursive: true });
  const fd = openSync(tmp.log, 'w');
  writeSync(fd, fileHeader());
  const aht = new AHTree();
  let prevAlh = GENESIS_PREV_ALH;
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  for (let id = 1, i = 0; id <= txs; id++) {
    const n = Math.min(perTx, events - i);
    const records = Array.from({ length: n }, () => event(i, spread(i++)).record);
    // ts: 100 txs a second, as a busy ledger's.
    const tx = buildTransaction({ id, prevAlh, ts: Math.floor(T0 / 1000) + Math.floor(id / 100), blRoot: id > 1 ? aht.root(id - 1) : ZERO_HASH, records });
    prevAlh = txAlh(tx.header);
    aht.append(prevAlh);
    pending.push(tx.record);
    pendingBytes += tx.record.length;
    if (pendingBytes > 16 * 1024 * 1024 || id === txs) {
      writeSync(fd, Buffer.concat(pending));
      pending.length = 0;
      pendingBytes = 0;
    }
  }
  fsyncSync(fd);
  closeSync(fd);
  rmSync(dataDir, { recursive: true, force: true });
  renameSync(building, dataDir);
  return { dataDir, bytes: statSync(paths.log).size, txs, generatedSeconds: (performance.now() - t0) / 1000 };
}

interface StartupRun {
  /** Opening the ledger: wall and process CPU (both threads). */
  ms: number;
  cpuMs: number;
  /** The child process from its start until the ledger was open. */
  processMs: number;
  workerRecords: number;
  txs: number;
  events: number;
  rssMb: number;
}

/** One start-up in a fresh process (this file with `--startup-child`), as `npm start` would do it. */
function startupRun(dataDir: string, verify: string): StartupRun {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--startup-child', dataDir, verify], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`start-up child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as StartupRun;
}

async function startupChild(dataDir: string, verify: 'chain' | 'full'): Promise<void> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const ledger = await openEmbeddedBackend({ dataDir, verify, logger: { warn: (m) => console.error(m) } });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  // performance.now() counts from the process's start (its time origin).
  const processMs = performance.now();
  const rssMb = process.memoryUsage().rss / 2 ** 20;
  // Sanity: the newest tx's events read back verified.
  const page = await ledger.scanTimeline('rr-target', { limit: 1, direction: 'desc' });
  if (!(await ledger.getVerified(page.events[0]!.record.eventId))?.proof) throw new Error('no proof');
  const s = ledger.startup!;
  await ledger.close();
  const out: StartupRun = { ms, cpuMs: (cpu.user + cpu.system) / 1000, processMs, workerRecords: s.workerRecords, txs: s.txs, events: s.events, rssMb };
  console.log(JSON.stringify(out));
}

function printSideBySide(title: string, rows: { name: string; embedded: Result; immudb: Result }[]): void {
  const head = ['case', 'embedded events/s', 'p50 ms', 'p99 ms', 'immudb events/s', 'p50 ms', 'p99 ms', 'embedded/immudb'];
  const cell = (r: Result) => [r.errors ? `${fmt(r.eventsPerSec)} (${r.errors} failed)` : fmt(r.eventsPerSec), r.p50.toFixed(2), r.p99.toFixed(2)];
  printMarkdownTable(
    title,
    head,
    rows.map((r) => [r.name, ...cell(r.embedded), ...cell(r.immudb), `${(r.embedded.eventsPerSec / r.immudb.eventsPerSec).toFixed(2)}x`]),
  );
}

export async function benchEmbedded(address: string, scale = 1, version = '1.11.1'): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'ag-bench-embedded-'));
  console.log(`\nembedded vs immudb — both under ${tmpdir()} (same disk); load average before: ${load()}`);
  try {
    const { embedded, immudb } = backends(address, work);
    const rows: { name: string; embedded: Result; immudb: Result }[] = [];
    for (const [k, c] of appendCaseList(scale).entries()) {
      const e = await appendCase(embedded, c, `append${k}`);
      const i = await appendCase(immudb, c, `append${k}`);
      rows.push({ name: c.name, embedded: e, immudb: i });
    }
    const stored = Math.max(10_000, Math.round(100_000 * scale));
    const te = await timelineCase(embedded, stored);
    const ti = await timelineCase(immudb, stored);
    rows.push({ name: te.fill.name, embedded: te.fill, immudb: ti.fill });
    rows.push({ name: te.result.name, embedded: te.result, immudb: ti.result });
    printSideBySide(`Embedded ledger vs immudb ${version} (${address}), every append fsynced and verified; load average after: ${load()}`, rows);

    const events = Math.max(10_000, Math.round(1_000_000 * scale));
    const runs = Number(process.env.BENCH_STARTUP_RUNS ?? 3);
    const verify = process.env.BENCH_STARTUP_VERIFY === 'full' ? 'full' : 'chain';
    console.log(`\nEmbedded start-up ('${verify}' verification), ${runs} fresh processes per log after one unmeasured; load average before: ${load()}`);
    console.log(
      '| stored | log | open: wall ms (each run) | open: process CPU ms (each run) | process start to ready, ms | records hashed by the worker | RSS when open |',
    );
    console.log('|:--|--:|--:|--:|--:|--:|--:|');
    for (const perTx of [1, 100]) {
      const f = fixture(events, perTx);
      if (f.generatedSeconds !== null) process.stderr.write(`generated ${events} events in ${f.txs} txs in ${f.generatedSeconds.toFixed(1)} s\n`);
      startupRun(f.dataDir, verify); // page cache and trusted state, as a restart finds them
      const rs = Array.from({ length: runs }, () => startupRun(f.dataDir, verify));
      for (const r of rs) if (r.events !== events || r.txs !== f.txs) throw new Error(`start-up found ${r.events} events in ${r.txs} txs`);
      const each = (get: (r: StartupRun) => number) => rs.map((r) => fmt(get(r))).join(' / ');
      console.log(
        `| ${fmt(events)} events, ${perTx}/tx (${fmt(f.txs)} txs) | ${fmt(f.bytes / 2 ** 20)} MB | ${each((r) => r.ms)} | ${each((r) => r.cpuMs)} | ${each((r) => r.processMs)} | ${each((r) => (100 * r.workerRecords) / r.txs)} % | ${each((r) => r.rssMb)} MB |`,
      );
    }
    console.log(`load average after: ${load()}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--startup-child') await startupChild(process.argv[3]!, process.argv[4] === 'full' ? 'full' : 'chain');
