/**
 * Start-up time of the service, side by side: `npm start` (the sources through tsx), the node
 * command it runs (`node --import tsx src/main.ts`) and `node dist/main.js` (the compiled build,
 * as the container runs it), from process spawn to the first 200 from /healthz, on the embedded
 * default with an empty DATA_DIR. Runs alternate between the commands so that machine noise
 * spreads over them all. On the machine's node, and also on Node 24
 * when `npm run node:install` has put one in .cache/node24. Not part of `npm run bench`.
 *   npx tsx bench/startup.ts [runs]   (default 5 a command; markdown on stdout)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.argv[2] ?? 5);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be a whole number ≥ 1, got ${process.argv[2]}`);

// Inside the checkout, so the build finds node_modules and package.json ("type": "module") above it.
const outDir = join(root, '.cache', 'bench-startup', 'dist');
const built = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--outDir', outDir], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
if (built.status !== 0) throw new Error('npm run build failed');

const freePort = async () => {
  const { createServer } = await import('node:net');
  return new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
};

interface Variant {
  name: string;
  /** Directory put first on PATH (a node other than the machine's), or null. */
  nodeBin: string | null;
  command: string[];
}

const node24 = join(root, '.cache', 'node24', 'node_modules', `node-${process.platform}-${process.arch}`, 'bin');
const nodes: { label: string; bin: string | null }[] = [{ label: process.version, bin: null }];
if (existsSync(join(node24, 'node'))) nodes.push({ label: spawnSync(join(node24, 'node'), ['--version'], { encoding: 'utf8' }).stdout.trim(), bin: node24 });
const variants: Variant[] = nodes.flatMap(({ label, bin }) => [
  { name: `npm start (tsx), node ${label}`, nodeBin: bin, command: ['npm', 'start'] },
  // What npm start runs, without npm: tells npm's own start-up from tsx's.
  { name: `node --import tsx src/main.ts, node ${label}`, nodeBin: bin, command: ['node', '--import', 'tsx', 'src/main.ts'] },
  { name: `node dist/main.js, node ${label}`, nodeBin: bin, command: ['node', join(outDir, 'main.js')] },
]);

/** Milliseconds from spawn to the first 200 of /healthz; then SIGTERM and wait for the exit. */
async function startOnce(variant: Variant): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'auditgraph-startup-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  for (const name of ['IMMUDB_ADDRESS', 'REDIS_URL', 'AUTH_TOKENS', 'AUTH_TOKENS_FILE', 'NODE_OPTIONS']) delete env[name];
  if (variant.nodeBin) env.PATH = `${variant.nodeBin}:${env.PATH}`;
  const started = performance.now();
  // Own process group: whatever is left is killed with it.
  const proc = spawn(variant.command[0]!, variant.command.slice(1), { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${variant.name} exited during start-up:\n${stderr}`);
      if (
        await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.status === 200,
          () => false,
        )
      )
        return performance.now() - started;
      if (performance.now() - started > 60_000) throw new Error(`${variant.name} did not answer within 60 s:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    proc.kill('SIGTERM');
    const timer = setTimeout(() => process.kill(-proc.pid!, 'SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const loadBefore = loadavg();
const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
await startOnce(variants[0]!); // warms the file cache and tsx's cache; not counted
for (let i = 0; i < runs; i++) for (const v of variants) times.get(v.name)!.push(await startOnce(v));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (x: number) => `${Math.round(x)}`;
console.log(`# Start-up time: spawn → /healthz 200 (embedded ledger, empty DATA_DIR)\n`);
console.log(
  `${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load ${loadBefore.map((l) => l.toFixed(2)).join(', ')} before and ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')} after (1, 5, 15 min), ${runs} runs a command, alternating\n`,
);
console.log('| command | median ms | min | max | runs (ms) |');
console.log('|---|---:|---:|---:|---|');
for (const [name, xs] of times) console.log(`| ${name} | ${ms(median(xs))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} | ${xs.map(ms).join(', ')} |`);
