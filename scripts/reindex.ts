/**
 * `npm run reindex`: rebuilds the Redis event index from the ledger, from scratch.
 *
 * Same environment as the gateway (IMMUDB_*, DATA_DIR, REDIS_URL). Takes the follower lease from
 * the running gateways, starts a new index epoch (their in-flight batches are refused from then
 * on), deletes the namespace's keys, follows the ledger from tx 0 to its end, then hands the lease
 * back; the gateways go on following from there. Queries answer INDEX_UNAVAILABLE meanwhile.
 * Progress on stderr; exit 0 done, 1 failed, 2 configuration error.
 */
import { ConfigError } from '../src/errors.ts';
import { Indexer } from '../src/index/indexer.ts';
import { indexNamespace, RedisEventIndex } from '../src/index/redis-index.ts';
import { type Config, loadConfig } from '../src/server/config.ts';
import { openLedger } from '../src/server/open-ledger.ts';

const err = process.stderr;
const tty = err.isTTY === true;

function bar(done: number, total: number, width = 30): string {
  const f = total === 0 ? 1 : Math.min(1, done / total);
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(f * 100).toFixed(1).padStart(5)}%`;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      err.write(`reindex: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (!config.redisUrl) {
    err.write('reindex: REDIS_URL is not set. Without Redis the index lives in the gateway process and is rebuilt at every start.\n');
    return 2;
  }
  const ledger = await openLedger(config);
  const index = await RedisEventIndex.open({ url: config.redisUrl, namespace: indexNamespace(`${ledger.kind}:${ledger.database}`), writeTimeoutMs: 30_000 });
  try {
    await index.health();
    const head = BigInt(await ledger.lastTxId());
    err.write(`reindex: ${ledger.kind} ledger ${ledger.database}, ${head} txs → ${index.namespace}\n`);
    const started = performance.now();
    let events = 0;
    let lastDraw = 0;
    /** `of`: a bulk read's listed events, which its bar counts out (its txs are listed first). */
    const draw = (checkpoint: string, final = false, shown = events, what = 'events', of?: number) => {
      const now = performance.now();
      if (!final && now - lastDraw < (tty ? 100 : 2_000)) return;
      lastDraw = now;
      const secs = (now - started) / 1000;
      const done = of && shown > 0 ? bar(shown, of) : bar(Number(checkpoint), Number(head));
      const line = `${done}  tx ${checkpoint}/${head}  ${fmt(shown)}${of ? `/${fmt(of)}` : ''} events ${what}  ${fmt(shown / Math.max(secs, 1e-3))} events/s  ${secs.toFixed(1)} s`;
      err.write(tty ? `\r${line}\x1b[K${final ? '\n' : ''}` : `${line}\n`);
    };
    const say = (m: string) => err.write(`${tty ? '\n' : ''}reindex: ${m}\n`);
    const indexer = new Indexer(ledger, index, {
      owner: `reindex-${process.pid}`,
      leaseMs: 30_000,
      bulkMaxEvents: config.indexBulkMaxEvents,
      // A bulk load reads first (drawn as it goes) and writes at the end: the count restarts then.
      onBulkRead: (p) => draw(p.checkpoint, false, p.events, 'read', p.listed),
      onApplied: (p) => {
        events += p.events;
        draw(p.checkpoint);
      },
      logger: { info: say, warn: say, error: say },
    });
    await indexer.rebuild();
    const state = await index.state();
    draw(state?.checkpoint ?? '0', true);
    await index.releaseLease(indexer.owner);
    err.write(`reindex: done — ${fmt(state?.events ?? 0)} events up to tx ${state?.checkpoint}, status ${state?.status}\n`);
    return 0;
  } finally {
    await index.close();
    await ledger.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    err.write(`\nreindex failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
