/**
 * `npm run bench`: starts a private immudb 1.1.0 (or uses IMMUDB_ADDRESS) and prints each
 * benchmark's table. BENCH_SCALE multiplies the operation counts. BENCH_ONLY picks benchmarks,
 * comma-separated (ledger, graphql, index, live, embedded), e.g. `BENCH_ONLY=ledger,embedded npm run bench`.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { startImmudb } from '../test/support/servers.ts';
import { benchEmbedded } from './embedded.ts';
import { benchIndex } from './index.ts';
import { benchGraphql } from './graphql.ts';
import { benchLedger } from './ledger.ts';
import { benchLive } from './live.ts';

const scale = Number(process.env.BENCH_SCALE ?? 1);
const benches = { ledger: benchLedger, graphql: benchGraphql, index: benchIndex, live: benchLive, embedded: benchEmbedded };
const picked = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const only = picked.length > 0 ? picked : Object.keys(benches); // unset or empty: all
const unknown = only.filter((name) => !(name in benches));
if (unknown.length > 0) {
  console.error(`BENCH_ONLY: unknown ${unknown.join(', ')} (known: ${Object.keys(benches).join(', ')})`);
  process.exit(2);
}
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
  for (const name of only) await benches[name as keyof typeof benches](address, scale);
} finally {
  await stop();
}
