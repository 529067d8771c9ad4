/**
 * Issue 5's benchmark alone (bench/live.ts `benchLive`), with a private immudb 1.11.1 as in
 * bench/run.ts (or IMMUDB_ADDRESS). Run it under the machine's bench lock:
 *   flock /tmp/auditgraph-bench.lock npx tsx bench/live-run.ts
 * For a CPU profile of the gateway (this process): node --cpu-prof --import tsx bench/live-run.ts
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { startImmudb } from '../test/support/servers.ts';
import { serverVersion } from './immudb.ts';
import { benchLive } from './live.ts';

const scale = Number(process.env.BENCH_SCALE ?? 1);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
console.log(`auditgraph live bench — node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'}); load average before: ${load()}`);

let address = process.env.IMMUDB_ADDRESS;
let stop = async () => {};
if (!address) {
  const binary = execFileSync(process.execPath, ['scripts/immudb-install.mjs'], { encoding: 'utf8' }).trim();
  const server = await startImmudb(binary);
  address = server.address;
  stop = () => server.destroy();
}
try {
  await benchLive(address, scale, await serverVersion(address));
} finally {
  await stop();
  console.log(`load average after: ${load()}`);
}
