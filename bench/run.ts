/**
 * `npm run bench`: starts a private immudb 1.1.0 (or uses IMMUDB_ADDRESS) and prints each
 * benchmark's table. BENCH_SCALE multiplies the operation counts.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { startImmudb } from '../test/support/servers.ts';
import { benchIndex } from './index.ts';
import { benchGraphql } from './graphql.ts';
import { benchLedger } from './ledger.ts';
import { benchLive } from './live.ts';

const scale = Number(process.env.BENCH_SCALE ?? 1);
console.log(`auditgraph bench — node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'})`);

let address = process.env.IMMUDB_ADDRESS;
let stop = async () => {};
if (!address) {
  const binary = execFileSync(process.execPath, ['scripts/immudb-install.mjs'], { encoding: 'utf8' }).trim();
  const server = await startImmudb(binary);
  address = server.address;
  stop = () => server.destroy();
}
try {
  await benchLedger(address, scale);
  await benchGraphql(address, scale);
  await benchIndex(address, scale);
  await benchLive(address, scale);
} finally {
  await stop();
}
