/**
 * Child process of the index kill test: a gateway in miniature. It appends random batches to
 * immudb in a loop and runs the Redis indexer, kicking it after each append; it prints
 * `appended <txId>` as soon as an append is acknowledged, before the kick, so the parent can
 * SIGKILL it between the ledger write and its indexing.
 *
 * argv: <dataDir> <seed> <pollMs>; env: AG_IMMUDB, AG_DB, AG_REDIS, AG_NS. A long poll interval leaves
 * indexing to the kicks alone, which widens the window between write and indexing.
 */
import { Indexer } from '../../src/index/indexer.ts';
import { RedisEventIndex } from '../../src/index/redis-index.ts';
import { openImmudbLedger } from '../../src/ledger/immudb/index.ts';
import { prng } from '../unit/_random.ts';
import { makePools, randomEvent } from './index-model.ts';

const [dataDir, seed, pollMs] = process.argv.slice(2);
const env = (name: string) =>
  process.env[name] ??
  (() => {
    throw new Error(`${name} is not set`);
  })();
const ledger = await openImmudbLedger({ address: env('AG_IMMUDB'), user: 'immudb', password: 'immudb', database: env('AG_DB'), dataDir: dataDir! });
const index = await RedisEventIndex.open({ url: env('AG_REDIS'), namespace: env('AG_NS') });
const indexer = new Indexer(ledger, index, { pollMs: Number(pollMs ?? 10), leaseMs: 500, maxEventsPerApply: 40, eventsPerRead: 80 });
indexer.start();
process.stdout.write('ready\n');

const rand = prng(Number(seed) * 7919 + 1);
const pools = makePools(prng(1)); // same value pools in every round
for (;;) {
  const results = await ledger.append(Array.from({ length: 1 + Math.floor(rand() * 40) }, () => randomEvent(rand, pools)));
  process.stdout.write(`appended ${results[0]!.event.txId}\n`);
  indexer.kick();
  await new Promise((r) => setTimeout(r, Math.floor(rand() * 30)));
}
