/**
 * Child process of the bulk-load kill test: rebuilds the Redis index of a ledger (a bulk load,
 * chunks of 4 members so that writing them takes a while) and exits; the parent SIGKILLs it
 * while the load is being written.
 *
 * argv: <dataDir>; env: AG_IMMUDB, AG_DB, AG_REDIS, AG_NS.
 */
import { Indexer } from '../../src/index/indexer.ts';
import { RedisEventIndex } from '../../src/index/redis-index.ts';
import { openImmudbLedger } from '../../src/ledger/immudb/index.ts';

const [dataDir] = process.argv.slice(2);
const env = (name: string) =>
  process.env[name] ??
  (() => {
    throw new Error(`${name} is not set`);
  })();
const ledger = await openImmudbLedger({ address: env('AG_IMMUDB'), user: 'immudb', password: 'immudb', database: env('AG_DB'), dataDir: dataDir! });
const index = await RedisEventIndex.open({ url: env('AG_REDIS'), namespace: env('AG_NS'), chunkSize: 4 });
const indexer = new Indexer(ledger, index, { leaseMs: 1_000 });
process.stdout.write('ready\n');
await indexer.rebuild();
process.stdout.write('done\n');
process.exit(0);
