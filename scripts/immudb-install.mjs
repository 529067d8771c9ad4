#!/usr/bin/env node
// Builds immudb servers from their Go modules once and reuses them afterwards.
//   node scripts/immudb-install.mjs [version…]   (default: DEFAULT_IMMUDB_VERSION)
// Prints each binary's path on stdout, one line per version in the order asked (progress goes to
// stderr), so scripts can capture them.
//
// Built from source because no prebuilt binary can be downloaded here; the Go module proxy is
// reachable. One wrapper module per version in scripts/immudb-build/<version>/.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every version this script can build. */
export const IMMUDB_VERSIONS = ['1.1.0', '1.10.0', '1.11.1'];
/** The version the platform runs, so the gateway's default. */
export const DEFAULT_IMMUDB_VERSION = '1.11.1';
/** The versions the test suites run against, primary first. 1.1.0 is built only for the test that
 *  checks the gateway refuses an unsupported server. */
export const TESTED_IMMUDB_VERSIONS = ['1.11.1', '1.10.0'];

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function checkVersion(version) {
  if (!IMMUDB_VERSIONS.includes(version)) {
    throw new Error(`unknown immudb version ${JSON.stringify(version)}: this script builds ${IMMUDB_VERSIONS.join(', ')}`);
  }
}

export function immudbBinaryPath(version = DEFAULT_IMMUDB_VERSION) {
  checkVersion(version);
  return join(root, '.cache', 'immudb', version, 'immudb');
}

function works(bin, version) {
  if (!existsSync(bin)) return false;
  const r = spawnSync(bin, ['version'], { encoding: 'utf8', timeout: 10_000 });
  // Exact token: "1.1.0" must not accept a binary of another version.
  return r.status === 0 && r.stdout.split(/\s+/).includes(version);
}

function findGo() {
  for (const candidate of ['go', '/usr/local/go/bin/go']) {
    const r = spawnSync(candidate, ['version'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return null;
}

export function installImmudb({ version = DEFAULT_IMMUDB_VERSION, log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const bin = immudbBinaryPath(version);
  if (works(bin, version)) return bin;
  const go = findGo();
  if (!go) {
    throw new Error(`immudb ${version} is not built and no Go toolchain was found: install Go (https://go.dev/dl)`);
  }
  const moduleDir = join(root, 'scripts', 'immudb-build', version);
  const tmp = `${bin}.tmp-${process.pid}`;
  mkdirSync(dirname(bin), { recursive: true });
  log(`building immudb ${version} with ${go} (first time only, about 2 minutes)…`);
  try {
    // Without these -X flags `immudb version` prints nothing useful and works() would reject it.
    const ldflags = `-s -X github.com/codenotary/immudb/cmd/version.App=immudb -X github.com/codenotary/immudb/cmd/version.Version=${version}`;
    execFileSync(go, ['build', '-trimpath', '-ldflags', ldflags, '-o', tmp, 'github.com/codenotary/immudb/cmd/immudb'], {
      cwd: moduleDir,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    });
    // rename is atomic: a concurrent or interrupted build never leaves a half-written binary in place
    renameSync(tmp, bin);
  } finally {
    rmSync(tmp, { force: true });
  }
  if (!works(bin, version)) throw new Error(`built ${bin} but it does not report version ${version}`);
  return bin;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const versions = process.argv.slice(2);
    if (versions.length === 0) versions.push(DEFAULT_IMMUDB_VERSION);
    versions.forEach(checkVersion); // refuse a typo before spending minutes on the others
    for (const version of versions) process.stdout.write(`${installImmudb({ version })}\n`);
  } catch (e) {
    process.stderr.write(`immudb:install failed: ${e instanceof Error ? e.message : e}\n`);
    process.exit(1);
  }
}
