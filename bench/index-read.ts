/**
 * The ledger side of the indexer alone: reads the first TXS txs (default 1,000) of the immudb
 * database BENCH_INDEX_DATABASE at IMMUDB_ADDRESS (filled by bench/index.ts) as the indexer does
 * (PER txs a read, default 20; AHEAD reads in flight, default 2), through the body cache unless
 * NOCACHE=1, and prints events/s. Run it under `node --cpu-prof --import tsx` to profile the read
 * path; compare immudb's CPU time (ps) before and after. BULK=1 reads TXS × 250 events (the fill's
 * txs hold 250) with `readInBulk` instead (txs listed, then values in key order), as a rebuild does.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withBodyCache } from '../src/ledger/body-cache.ts';
import { openImmudbLedger } from '../src/ledger/immudb/index.ts';

const ledger = await openImmudbLedger({
  address: process.env.IMMUDB_ADDRESS!,
  user: 'immudb',
  password: 'immudb',
  database: process.env.BENCH_INDEX_DATABASE!,
  dataDir: mkdtempSync(join(tmpdir(), 'ag-bench-')),
});
const l = process.env.NOCACHE ? ledger : withBodyCache(ledger);
const TXS = Number(process.env.TXS ?? 1000);
const per = Number(process.env.PER ?? 20);
const t0 = performance.now();
let events = 0;
let next = 0;
const pending: Promise<{ events: unknown[] }[]>[] = [];
if (process.env.BULK) {
  let listedAt = t0;
  for await (const step of ledger.readInBulk('0', { maxEvents: Number(process.env.TXS ?? 1000) * 250 })) {
    if ('txs' in step) listedAt = performance.now();
    else events += step.events.length;
  }
  const s = (performance.now() - t0) / 1000;
  console.log(
    `bulk: listed in ${((listedAt - t0) / 1000).toFixed(1)} s; ${events} events in ${s.toFixed(1)} s: ${(events / s).toFixed(0)} events/s, ${((1e6 * s) / events).toFixed(1)} µs/event; heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`,
  );
  await ledger.close();
  process.exit(0);
}
const issue = () => {
  const p = l.readTransactions(String(next), per);
  next += per;
  pending.push(p);
};
for (let i = 0; i < Number(process.env.AHEAD ?? 2); i++) issue();
while (pending.length > 0) {
  const txs = await pending.shift()!;
  for (const tx of txs) events += tx.events.length;
  if (next < TXS) issue();
}
const s = (performance.now() - t0) / 1000;
console.log(`${events} events in ${s.toFixed(1)} s: ${(events / s).toFixed(0)} events/s, ${((1e6 * s) / events).toFixed(1)} µs/event`);
await ledger.close();
