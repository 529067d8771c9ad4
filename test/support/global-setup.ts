/**
 * Provides the real services to the suites: IMMUDB_ADDRESS / REDIS_URL when set, else private
 * instances started here; and whether strace works. In CI a missing service fails the run; elsewhere the suites that need
 * it are skipped with one loud notice.
 */
import { spawnSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { startImmudb, startRedis, type ManagedServer } from './servers.ts';

const inCI = process.env.CI === 'true' || process.env.CI === '1';

function immudbBinary(): { path: string | null; why?: string } {
  const r = spawnSync(process.execPath, ['scripts/immudb-install.mjs'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status === 0) return { path: r.stdout.trim() };
  return { path: null, why: 'immudb 1.1.0 could not be built (needs Go; see `npm run immudb:install`)' };
}

export default async function setup(project: TestProject) {
  const started: ManagedServer[] = [];
  const missing: string[] = [];

  const bin = immudbBinary();
  let immudbAddress = process.env.IMMUDB_ADDRESS || null;
  if (!immudbAddress && bin.path) {
    const s = await startImmudb(bin.path);
    started.push(s);
    immudbAddress = s.address;
  }
  if (!immudbAddress) missing.push(`immudb: ${bin.why}, or set IMMUDB_ADDRESS=host:port of an immudb 1.1.0`);

  let redisUrl = process.env.REDIS_URL || null;
  if (!redisUrl) {
    const has = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
    if (has) {
      const s = await startRedis();
      started.push(s);
      redisUrl = `redis://${s.address}`;
    } else missing.push('redis: install redis-server (Redis 7), or set REDIS_URL');
  }

  // strace for the embedded ledger's durability test. Probed by tracing for real: strace may be
  // installed where ptrace is denied (some containers).
  const strace = process.platform === 'linux' && spawnSync('strace', ['-qq', '-e', 'trace=none', 'true']).status === 0;
  if (!strace) missing.push('strace: install strace (Linux, ptrace allowed) for the durability test');

  if (missing.length) {
    const text = `Real-service suites cannot run:\n  - ${missing.join('\n  - ')}`;
    if (inCI) throw new Error(`CI=true and a required service is missing. ${text}`);
    const bar = '!'.repeat(78);
    process.stderr.write(`\n${bar}\n${text}\nThose suites are SKIPPED; everything else runs.\n${bar}\n\n`);
  }

  project.provide('immudbAddress', immudbAddress);
  project.provide('immudbBinary', bin.path);
  project.provide('redisUrl', redisUrl);
  project.provide('strace', strace);

  return async () => {
    await Promise.all(started.map((s) => s.destroy()));
  };
}
