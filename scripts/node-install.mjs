#!/usr/bin/env node
// Installs a Node.js runtime into .cache/node<major>/ once and reuses it afterwards, so that CI can
// run the suite on another Node than the machine's.
//   node scripts/node-install.mjs [version]   (default: DEFAULT_NODE_VERSION; a major such as 24 works too)
// Prints the directory holding its `node` binary on stdout (put it first on PATH); progress goes
// to stderr.
//
// The npm registry serves Node's official binaries as the package node-<platform>-<arch>
// (bin/node only: npm itself stays the machine's, and runs on whichever node is first on PATH).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Node the project supports (package.json engines, Dockerfile); pinned so CI runs are repeatable. */
export const DEFAULT_NODE_VERSION = '24.22.3';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const packageName = `node-${process.platform}-${process.arch}`;

function majorOf(version) {
  const m = /^(\d+)(?:\.\d+\.\d+)?$/.exec(version);
  if (!m) throw new Error(`not a Node version: ${JSON.stringify(version)} (want e.g. 24 or 24.22.3)`);
  return m[1];
}

/** The `node` binary of an install (whether or not it exists). */
export function nodeBinaryPath(version = DEFAULT_NODE_VERSION) {
  return join(root, '.cache', `node${majorOf(version)}`, 'node_modules', packageName, 'bin', 'node');
}

/** The version a binary reports (`v24.22.3`), or null when it does not run. */
function versionOf(bin) {
  if (!existsSync(bin)) return null;
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** An exact version must match exactly; a bare major accepts any release of it. */
const satisfies = (reported, version) => reported !== null && (version.includes('.') ? reported === `v${version}` : reported.startsWith(`v${version}.`));

export function installNode({ version = DEFAULT_NODE_VERSION } = {}) {
  const bin = nodeBinaryPath(version);
  if (satisfies(versionOf(bin), version)) return dirname(bin);
  const dir = join(root, '.cache', `node${majorOf(version)}`);
  // Installed beside, then renamed into place: an interrupted install never looks finished.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    process.stderr.write(`node:install: ${packageName}@${version} into ${dir}\n`);
    const r = spawnSync('npm', ['install', '--prefix', tmp, '--no-audit', '--no-fund', '--no-package-lock', `${packageName}@${version}`], {
      cwd: tmp,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`npm install ${packageName}@${version} failed (exit ${r.status ?? r.signal})`);
    const reported = versionOf(join(tmp, 'node_modules', packageName, 'bin', 'node'));
    if (!satisfies(reported, version)) throw new Error(`installed ${packageName}@${version} but its node reports ${reported ?? 'nothing (it does not run)'}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dirname(bin);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    if (process.argv.length > 3) throw new Error('one version at most');
    process.stdout.write(`${installNode({ version: process.argv[2] ?? DEFAULT_NODE_VERSION })}\n`);
  } catch (e) {
    process.stderr.write(`node:install failed: ${e instanceof Error ? e.message : e}\n`);
    process.exit(1);
  }
}
