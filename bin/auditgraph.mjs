#!/usr/bin/env node
// Thin launcher: loads the command, runs it, and maps its result to stdout/stderr and the exit code.
// The compiled command (dist/, from `npm run build`; what the container ships) when it is there,
// otherwise the TypeScript source through tsx's ESM API, so a checkout needs no build step. A
// build older than any file in src/ is passed over: it would run code the checkout no longer has.
import { readdirSync, statSync } from 'node:fs';

const COMMANDS = {
  verify: {
    module: 'cli/verify',
    run: 'runVerify',
    help: 'verify <bundle.json | -> [--trusted <txId>:<txHash> | --checkpoint <checkpoint.txt> --key <verifier key | file>]',
  },
  monitor: {
    module: 'cli/monitor',
    run: 'runMonitor',
    help: 'monitor <gateway url> --state <file> --key <verifier key | file> [--interval <seconds>] [--token <bearer token>]',
  },
  export: {
    module: 'cli/export',
    run: 'runExport',
    help: 'export <gateway url> [--filter <JSON> | --correlation <id>] [--since <t>] [--until <t>] [--format ndjson|csv] [--token <bearer token>] [-o <file | ->]',
  },
  'verify-export': {
    module: 'cli/verify-export',
    run: 'runVerifyExport',
    help: 'verify-export <export.ndjson | -> [--trusted <txId>:<txHash> | --checkpoint <checkpoint.txt>] [--key <verifier key | file>] [--threads <n>]',
  },
};

const [command, ...args] = process.argv.slice(2);
const spec = command === undefined ? undefined : Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;

if (!spec) {
  if (command !== undefined && command !== '-h' && command !== '--help') process.stderr.write(`auditgraph: unknown command ${command}\n`);
  process.stderr.write(
    `usage:\n${Object.values(COMMANDS)
      .map((c) => `  auditgraph ${c.help}\n`)
      .join('')}`,
  );
  process.exit(command === '-h' || command === '--help' ? 0 : 2);
}

/** Whether src/ (when there is one) changed after `builtMs`: a file edited, or one added, moved or deleted (its directory's time). */
function sourcesNewerThan(builtMs) {
  const src = new URL('../src/', import.meta.url);
  try {
    if (statSync(src).mtimeMs > builtMs) return true;
    return readdirSync(src, { withFileTypes: true, recursive: true }).some((e) => statSync(`${e.parentPath}/${e.name}`).mtimeMs > builtMs);
  } catch (e) {
    if (e.code === 'ENOENT') return false; // no sources (the container): the build is all there is
    throw e;
  }
}

async function load(module) {
  const compiled = new URL(`../dist/${module}.js`, import.meta.url);
  const built = statSync(compiled, { throwIfNoEntry: false });
  if (built && !sourcesNewerThan(built.mtimeMs)) return import(compiled.href);
  // tsx is a development dependency: only a checkout runs the sources.
  const { tsImport } = await import('tsx/esm/api');
  return tsImport(new URL(`../src/${module}.ts`, import.meta.url).href, import.meta.url);
}

const mod = await load(spec.module);
const result = await mod[spec.run](args);
for (const line of result.stdout) process.stdout.write(`${line}\n`);
for (const line of result.stderr) process.stderr.write(`${line}\n`);
process.exitCode = result.exitCode;
