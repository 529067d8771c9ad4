/**
 * `npm run bench`: starts a private immudb 1.11.1 (or uses IMMUDB_ADDRESS) and, for the raw floors
 * the benchmarks print beside the gateway's figures, a private immudb 1.10.0 (BENCH_FLOOR_VERSIONS,
 * comma-separated versions of scripts/immudb-install.mjs; empty for none), and prints each
 * benchmark's table, every row naming the server it ran on. BENCH_SCALE multiplies the operation
 * counts. BENCH_ONLY picks benchmarks, comma-separated (ledger, graphql, index, live, embedded,
 * shape, proofs, export), e.g. `BENCH_ONLY=ledger,embedded npm run bench`.
 */
import { cpus, loadavg } from 'node:os';
import { benchEmbedded } from './embedded.ts';
import { benchExport } from './export.ts';
import { benchIndex } from './index.ts';
import { benchGraphql } from './graphql.ts';
import { serverVersion, startServers, type BenchServer, type BenchTarget } from './immudb.ts';
import { benchLedger } from './ledger.ts';
import { benchLive } from './live.ts';
import { benchProofs } from './proofs.ts';
import { benchWriteShape } from './write-shape.ts';

const scale = Number(process.env.BENCH_SCALE ?? 1);
const benches: Record<string, (target: BenchTarget, scale: number) => Promise<unknown>> = {
  ledger: benchLedger,
  graphql: benchGraphql,
  index: (t, s) => benchIndex(t.address, s, t.version),
  live: (t, s) => benchLive(t.address, s, t.version),
  embedded: (t, s) => benchEmbedded(t.address, s, t.version),
  shape: benchWriteShape,
  proofs: benchProofs,
  export: benchExport,
};
const picked = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const only = picked.length > 0 ? picked : Object.keys(benches).filter((name) => name !== 'shape'); // unset or empty: all but the probe
const unknown = only.filter((name) => !(name in benches));
if (unknown.length > 0) {
  console.error(`BENCH_ONLY: unknown ${unknown.join(', ')} (known: ${Object.keys(benches).join(', ')})`);
  process.exit(2);
}
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
const floorVersions = (process.env.BENCH_FLOOR_VERSIONS ?? '1.10.0')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

let primary: BenchServer;
const own = await startServers(process.env.IMMUDB_ADDRESS ? floorVersions : ['1.11.1', ...floorVersions]);
try {
  if (process.env.IMMUDB_ADDRESS) primary = { address: process.env.IMMUDB_ADDRESS, version: await serverVersion(process.env.IMMUDB_ADDRESS) };
  else primary = own.servers[0]!;
  const floors = own.servers.filter((s) => s !== primary).map(({ address, version }) => ({ address, version }));
  const target: BenchTarget = { address: primary.address, version: primary.version, floors };
  console.log(
    `auditgraph bench — ${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'}), load average ${load()}`,
  );
  console.log(
    `immudb ${primary.version} at ${primary.address}${floors.map((f) => `; floors also on immudb ${f.version} at ${f.address}`).join('')}; BENCH_SCALE=${scale}`,
  );
  for (const name of only) await benches[name]!(target, scale);
  console.log(`\nload average after: ${load()} (${new Date().toISOString()})`);
} finally {
  await own.stop();
}
