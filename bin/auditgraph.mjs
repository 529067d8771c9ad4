#!/usr/bin/env node
// Thin launcher: loads the TypeScript command through tsx's ESM API (no build step), runs it,
// and maps its result to stdout/stderr and the exit code.
import { tsImport } from 'tsx/esm/api';

const COMMANDS = {
  verify: { module: '../src/cli/verify.ts', run: 'runVerify', help: 'verify <bundle.json | -> [--trusted <txId>:<txHash>]' },
};

const [command, ...args] = process.argv.slice(2);
const spec = command === undefined ? undefined : Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;

if (!spec) {
  if (command !== undefined && command !== '-h' && command !== '--help') process.stderr.write(`auditgraph: unknown command ${command}\n`);
  process.stderr.write(`usage:\n${Object.values(COMMANDS).map((c) => `  auditgraph ${c.help}\n`).join('')}`);
  process.exit(command === '-h' || command === '--help' ? 0 : 2);
}

const mod = await tsImport(new URL(spec.module, import.meta.url).href, import.meta.url);
const result = await mod[spec.run](args);
for (const line of result.stdout) process.stdout.write(`${line}\n`);
for (const line of result.stderr) process.stderr.write(`${line}\n`);
process.exitCode = result.exitCode;
