/**
 * The Redis side of the indexer alone (no ledger): RedisEventIndex.apply of N events (env N,
 * default 300,000) of bench/index.ts's mix, in batches of 5,000 (20 txs of 250), into a private
 * Redis. Prints wall time, the time Redis spent in the scripts (INFO commandstats) and memory per
 * event; STATS=1 adds every command's count and time (calls from the scripts included), CHUNK=n
 * sets the chunk size. `npx tsx bench/index-apply.ts` (wrap it in flock like any benchmark).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AuditEventRecord } from '../src/events/types.ts';
import { indexNamespace, RedisEventIndex } from '../src/index/redis-index.ts';
import { startRedis } from '../test/support/servers.ts';
import { indexBenchEvent, prng } from './index-events.ts';
import { scriptSecondsOf, usedMemory } from './redis-stats.ts';

const N = Number(process.env.N ?? 300_000);
const rand = prng(4);
const now = Date.now();
const recs: AuditEventRecord[] = [];
for (let i = 0; i < N; i++) {
  recs.push({ ...indexBenchEvent(rand, now).record, eventId: randomUUID() });
}
const server = await startRedis();
const url = `redis://${server.address}`;
const admin = new Redis(url);
const index = await RedisEventIndex.open({
  url,
  namespace: indexNamespace('micro'),
  writeTimeoutMs: 60_000,
  ...(process.env.CHUNK ? { chunkSize: Number(process.env.CHUNK) } : {}),
});
try {
  await index.reset('e1', String(N / 250));
  const mem0 = await usedMemory(admin);
  if (process.env.STATS) await admin.config('RESETSTAT'); // every command's count: this run's alone
  const t0 = performance.now();
  const scripts = await scriptSecondsOf(admin, async () => {
    let cp = '0';
    for (let i = 0, tx = 0; i < N; i += 5000) {
      const txs = [];
      for (let j = i; j < Math.min(N, i + 5000); j += 250) txs.push({ txId: String(++tx), records: recs.slice(j, j + 250) });
      const r = await index.apply({ epoch: 'e1', fromTxId: cp, txs });
      if (!r.ok) throw new Error(r.reason);
      cp = txs[txs.length - 1]!.txId;
    }
  });
  const secs = (performance.now() - t0) / 1000;
  const mem1 = await usedMemory(admin);
  console.log(
    `N=${N} wall ${secs.toFixed(1)} s, scripts ${scripts!.toFixed(1)} s (${((scripts! * 1e6) / N).toFixed(1)} µs/event), ${((mem1 - mem0) / N).toFixed(0)} B/event`,
  );
  if (process.env.STATS) {
    const stats = await admin.info('commandstats');
    console.log(
      stats
        .split('\n')
        .filter((l) => /calls=/.test(l))
        .map((l) => l.replace(/,rejected.*/, ''))
        .join('\n'),
    );
  }
  const st = await index.state();
  console.log('events', st?.events);
} finally {
  await index.close();
  admin.disconnect();
  await server.destroy();
}
