/**
 * The writer of bench/live.ts, in its own process: another gateway instance's write path (its own
 * immudb session; its live feed hears every append, so each commit is published on the Redis signal).
 *   { type: 'write', seconds, rate }  → appends `rate` events/s, one per append, for `seconds`;
 *                                       each commit as { type: 'commit', e: [...] } every 10 ms;
 *                                       then { type: 'written', perSec, cpuMs } (this process's CPU
 *                                       time while writing)
 * Commit time = when append resolved (`performance.timeOrigin + performance.now()`).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateEventInput } from '../src/events/validate.ts';
import { openImmudbLedger } from '../src/ledger/immudb/index.ts';
import { openLive } from '../src/live/index.ts';
import { eventFor } from './live-filters.ts';

const [address, database, redisUrl] = process.argv.slice(2) as [string, string, string];
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const ledger = await openImmudbLedger({ address, user: 'immudb', password: 'immudb', database, dataDir: mkdtempSync(join(tmpdir(), 'ag-bench-writer-')) });
const live = await openLive({ ledger, redisUrl });
ledger.onAppended((r) => live.feed.appended(r));
let k = 0;

async function writeFor(seconds: number, rate: number): Promise<{ perSec: number; cpuMs: number }> {
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const inflight = new Set<Promise<void>>();
  let written = 0;
  let pending: [string, number, string, string, string, string, string][] = [];
  const flush = setInterval(() => {
    if (pending.length === 0) return;
    process.send!({ type: 'commit', e: pending });
    pending = [];
  }, 10);
  for (let i = 0; performance.now() - start < seconds * 1000; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    if (inflight.size >= 256) await Promise.race(inflight);
    const input = eventFor(k++);
    const p = ledger.append([validateEventInput(input)]).then(([r]) => {
      pending.push([r!.event.record.eventId, now(), input.eventType, input.correlationId, input.outcome, input.eventCategory, input.actorId]);
      written++;
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  const perSec = written / ((performance.now() - start) / 1000);
  const cpu = process.cpuUsage(cpu0);
  await sleep(20);
  clearInterval(flush);
  if (pending.length > 0) process.send!({ type: 'commit', e: pending });
  return { perSec, cpuMs: (cpu.user + cpu.system) / 1000 };
}

process.on('message', (m: { type: string; seconds?: number; rate?: number }) => {
  if (m.type === 'write') void writeFor(m.seconds!, m.rate!).then((r) => process.send!({ type: 'written', ...r }));
  if (m.type === 'exit')
    void live
      .close()
      .then(() => ledger.close())
      .finally(() => process.exit(0));
});
process.send!({ type: 'ready' });
