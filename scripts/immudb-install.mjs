#!/usr/bin/env node
// Builds the immudb 1.1.0 server from its Go module once and reuses it afterwards.
// Prints the binary's path on stdout (and nothing else there), so scripts can capture it.
//
// Why 1.1.0 and built from source: immudb-node 1.1.1 verifies proofs only against servers ≤ 1.1,
// and no prebuilt binary can be downloaded here; the Go module proxy is reachable.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const IMMUDB_VERSION = '1.1.0';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const immudbBinary = join(root, '.cache', 'immudb', IMMUDB_VERSION, 'immudb');

function works(bin) {
  if (!existsSync(bin)) return false;
  const r = spawnSync(bin, ['version'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 && r.stdout.includes(IMMUDB_VERSION);
}

function findGo() {
  for (const candidate of ['go', '/usr/local/go/bin/go']) {
    const r = spawnSync(candidate, ['version'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return null;
}

export function installImmudb({ log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  if (works(immudbBinary)) return immudbBinary;
  const go = findGo();
  if (!go) {
    throw new Error(
      'immudb 1.1.0 is not built and no Go toolchain was found: install Go (https://go.dev/dl) ' +
        'or point IMMUDB_ADDRESS at a running immudb 1.1.0',
    );
  }
  const moduleDir = join(root, 'scripts', 'immudb-build');
  const tmp = `${immudbBinary}.tmp-${process.pid}`;
  mkdirSync(dirname(immudbBinary), { recursive: true });
  log(`building immudb ${IMMUDB_VERSION} with ${go} (first time only, about 2 minutes)…`);
  try {
    const ldflags = `-s -X github.com/codenotary/immudb/cmd/version.App=immudb -X github.com/codenotary/immudb/cmd/version.Version=${IMMUDB_VERSION}`;
    execFileSync(go, ['build', '-trimpath', '-ldflags', ldflags, '-o', tmp, 'github.com/codenotary/immudb/cmd/immudb'], {
      cwd: moduleDir,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    });
    // rename is atomic: a concurrent or interrupted build never leaves a half-written binary in place
    renameSync(tmp, immudbBinary);
  } finally {
    rmSync(tmp, { force: true });
  }
  if (!works(immudbBinary)) throw new Error(`built ${immudbBinary} but it does not report version ${IMMUDB_VERSION}`);
  return immudbBinary;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${installImmudb()}\n`);
  } catch (e) {
    process.stderr.write(`immudb:install failed: ${e instanceof Error ? e.message : e}\n`);
    process.exit(1);
  }
}
