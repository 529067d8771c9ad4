/**
 * Provides the real services to the suites: IMMUDB_ADDRESS / REDIS_URL when set, else private
 * instances started here (one immudb per tested version); and whether strace works. In CI a
 * missing service fails the run; elsewhere the suites that need it are skipped with one loud notice.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startImmudb, startRedis, type ManagedServer } from './servers.ts';

const inCI = process.env.CI === 'true' || process.env.CI === '1';
const installScript = fileURLToPath(new URL('../../scripts/immudb-install.mjs', import.meta.url));

/** The version lists live in the install script only (plain JS, hence typed here by hand). */
interface ImmudbInstall {
  IMMUDB_VERSIONS: string[];
  DEFAULT_IMMUDB_VERSION: string;
  TESTED_IMMUDB_VERSIONS: string[];
}

/** Builds (or reuses) one version in a child process: a failed build is reported, not thrown. */
function immudbBinary(version: string): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [installScript, version], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', () => resolve(null));
    child.on('close', (code) => resolve(code === 0 ? (out.trim().split('\n').pop() ?? null) : null));
  });
}

export default async function setup(project: TestProject) {
  const started: ManagedServer[] = [];
  const missing: string[] = [];
  try {
    const { IMMUDB_VERSIONS, DEFAULT_IMMUDB_VERSION, TESTED_IMMUDB_VERSIONS } = (await import(pathToFileURL(installScript).href)) as ImmudbInstall;
    const external = process.env.IMMUDB_ADDRESS || null;

    const immudbBinaries: Record<string, string> = {};
    const paths = await Promise.all(IMMUDB_VERSIONS.map(immudbBinary));
    IMMUDB_VERSIONS.forEach((version, i) => {
      const path = paths[i];
      if (path) {
        immudbBinaries[version] = path;
        return;
      }
      const tested = TESTED_IMMUDB_VERSIONS.includes(version);
      const use = !tested ? 'for the unsupported-server test' : external ? 'for the suites that start their own' : 'a tested version';
      const orExternal = !external && version === DEFAULT_IMMUDB_VERSION ? `, or set IMMUDB_ADDRESS=host:port of an immudb ${version}` : '';
      missing.push(`immudb ${version} (${use}): could not be built (needs Go; see \`npm run immudb:install -- ${version}\`)${orExternal}`);
    });

    let immudbServers: { version: string; address: string }[] = [];
    if (external) immudbServers = [{ version: 'external', address: external }];
    else {
      const versions = TESTED_IMMUDB_VERSIONS.filter((v) => immudbBinaries[v]);
      const results = await Promise.allSettled(versions.map((v) => startImmudb(immudbBinaries[v]!)));
      for (const r of results) if (r.status === 'fulfilled') started.push(r.value);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      immudbServers = results.map((r, i) => ({ version: versions[i]!, address: (r as PromiseFulfilledResult<ManagedServer>).value.address }));
    }
    // The primary is the default version only: suites written for it must not silently get another.
    const primary = immudbServers.find((s) => s.version === 'external' || s.version === DEFAULT_IMMUDB_VERSION);

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

    project.provide('immudbAddress', primary?.address ?? null);
    project.provide('immudbBinary', immudbBinaries[DEFAULT_IMMUDB_VERSION] ?? null);
    project.provide('immudbServers', immudbServers);
    project.provide('immudbBinaries', immudbBinaries);
    project.provide('redisUrl', redisUrl);
    project.provide('strace', strace);
  } catch (e) {
    // vitest runs no teardown when setup throws: stop what was started here.
    await Promise.all(started.map((s) => s.destroy()));
    throw e;
  }

  return async () => {
    await Promise.all(started.map((s) => s.destroy()));
  };
}
