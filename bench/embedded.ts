/**
 * Embedded ledger numbers: append throughput through the real path (fsync, proofs, trusted
 * state), and start-up time of large logs.
 *
 *   npx tsx bench/embedded-ledger.ts [append] [startup=100000,1000000] [perTx=1,100] [full]
 *
 * `keep` leaves the generated data directories in place (for profiling start-up).
 * Large logs are written directly with buildTransaction (the commit path's own encoder) without
 * per-tx fsync (one at the end), which only makes generating them fast; start-up reads them exactly as in production.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEventRecord, NewEvent } from '../src/events/types.ts';
import { uuidv7 } from '../src/events/uuid.ts';
import { buildTransaction } from '../src/ledger/embedded/embedded-ledger.ts';
import { embeddedLedgerPaths, openEmbeddedBackend, openEmbeddedLedger } from '../src/ledger/embedded/index.ts';
import { fileHeader } from '../src/ledger/embedded/log.ts';
import { AHTree } from '../src/proof/ahtree.ts';
import { GENESIS_PREV_ALH, txAlh, ZERO_HASH } from '../src/proof/hashing.ts';

const args = process.argv.slice(2);
const opt = (name: string) => args.find((a) => a === name || a.startsWith(`${name}=`))?.split('=')[1] ?? (args.includes(name) ? '' : undefined);

let seq = 0;
function record(correlations: number): AuditEventRecord {
  seq++;
  return {
    eventId: uuidv7(),
    eventType: 'gateway.signal.received',
    eventCategory: 'gateway',
    eventAction: 'received',
    outcome: 'SUCCESS',
    timestamp: new Date(Date.UTC(2025, 0, 1) + seq).toISOString(),
    correlationId: `rr-2025-${String(seq % correlations).padStart(5, '0')}`,
    parentEventId: null,
    actor: { type: 'service', id: 'gateway' },
    resource: { type: 'pod', id: `pod-${seq % 97}`, namespace: 'default' },
    clusterName: 'prod-eu-1',
    severity: 'INFO',
    durationMs: seq % 1000,
    error: null,
    data: { signal: 'cpu.high', value: seq % 100, labels: { team: 'sre', region: 'eu' } },
    recordedBy: null,
  };
}
const newEvent = (correlations: number): NewEvent => ({ record: record(correlations), timestampDefaulted: false });

const dir = (name: string) => {
  const d = join(tmpdir(), `auditgraph-bench-${name}-${process.pid}`);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
};
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;

async function benchAppend(): Promise<void> {
  const quiet = { warn: () => {} };
  const cases: { name: string; callers: number; batch: number; total: number }[] = [
    { name: 'single, sequential', callers: 1, batch: 1, total: 1000 },
    { name: 'single, 64 concurrent callers (group commit)', callers: 64, batch: 1, total: 20000 },
    { name: 'batches of 100, sequential', callers: 1, batch: 100, total: 20000 },
    { name: 'batches of 1000, sequential', callers: 1, batch: 1000, total: 50000 },
    { name: 'batches of 1000, 4 concurrent callers', callers: 4, batch: 1000, total: 50000 },
  ];
  for (const c of cases) {
    const dataDir = dir('append');
    const ledger = await openEmbeddedLedger({ dataDir, logger: quiet });
    const perCaller = Math.ceil(c.total / c.batch / c.callers);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: c.callers }, async () => {
        for (let i = 0; i < perCaller; i++) await ledger.append(Array.from({ length: c.batch }, () => newEvent(50)));
      }),
    );
    const ms = performance.now() - t0;
    const events = perCaller * c.callers * c.batch;
    const txs = (await ledger.trustedState()).txId;
    await ledger.close();
    console.log(`append ${c.name}: ${events} events in ${txs} txs, ${ms.toFixed(0)} ms → ${Math.round((events / ms) * 1000)} events/s`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Writes `events` events in txs of `perTx` straight into a log file. */
function generate(dataDir: string, events: number, perTx: number): { txs: number; bytes: number; ms: number } {
  const t0 = performance.now();
  const paths = embeddedLedgerPaths(dataDir);
  mkdirSync(paths.dir, { recursive: true });
  const fd = openSync(paths.log, 'w');
  writeSync(fd, fileHeader());
  const aht = new AHTree();
  let prevAlh = GENESIS_PREV_ALH;
  let id = 0;
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  for (let written = 0; written < events; ) {
    const n = Math.min(perTx, events - written);
    id++;
    const records = Array.from({ length: n }, () => record(1000));
    const tx = buildTransaction({ id, prevAlh, ts: 1_735_689_600 + Math.floor(id / 100), blRoot: id > 1 ? aht.root(id - 1) : ZERO_HASH, records });
    prevAlh = txAlh(tx.header);
    aht.append(prevAlh);
    pending.push(tx.record);
    pendingBytes += tx.record.length;
    if (pendingBytes > 16 * 1024 * 1024) {
      writeSync(fd, Buffer.concat(pending));
      pending.length = 0;
      pendingBytes = 0;
    }
    written += n;
  }
  writeSync(fd, Buffer.concat(pending));
  // As in production the log is on disk before start-up: don't measure the kernel's writeback.
  fsyncSync(fd);
  closeSync(fd);
  return { txs: id, bytes: statSync(paths.log).size, ms: performance.now() - t0 };
}

async function benchStartup(events: number, perTx: number, verify: 'chain' | 'full'): Promise<void> {
  const dataDir = dir(`startup-${events}-${perTx}`);
  const g = generate(dataDir, events, perTx);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const ledger = await openEmbeddedBackend({ dataDir, verify, logger: { warn: () => {} } });
  const ms = performance.now() - t0;
  gc?.();
  const heap = process.memoryUsage().heapUsed - heap0;
  // Sanity: the newest event reads back verified.
  const page = await ledger.scanTimeline('rr-2025-00001', { limit: 5, direction: 'desc' });
  const v = await ledger.getVerified(page.events[0]!.record.eventId);
  if (!v?.proof) throw new Error('no proof');
  await ledger.close();
  console.log(
    `startup ${verify}: ${events} events in ${g.txs} txs (${perTx}/tx), log ${mb(g.bytes)}: ${ms.toFixed(0)} ms` +
      ` (${Math.round((events / ms) * 1000)} events/s); index heap ≈ ${mb(heap)}${gc ? '' : ' (run with --expose-gc for a clean figure)'}; generated in ${(g.ms / 1000).toFixed(1)} s`,
  );
  if (opt('keep') !== undefined) console.log(`kept ${dataDir}`);
  else rmSync(dataDir, { recursive: true, force: true });
}

const runAppend = opt('append') !== undefined;
const sizes = (opt('startup') ?? '').split(',').filter(Boolean).map(Number);
const perTxs = (opt('perTx') ?? '1,100').split(',').map(Number);
const verify = opt('full') !== undefined ? 'full' : 'chain';
if (!runAppend && sizes.length === 0) {
  console.log('usage: npx tsx bench/embedded-ledger.ts [append] [startup=100000,1000000] [perTx=1,100] [full]');
  process.exit(2);
}
if (runAppend) await benchAppend();
for (const n of sizes) for (const p of perTxs) await benchStartup(n, p, verify);
