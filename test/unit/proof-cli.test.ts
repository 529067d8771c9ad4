import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runVerify, USAGE, type CliIO } from '../../src/cli/verify.ts';
import { clone, TestChain } from '../support/proof-chain.ts';

const chain = new TestChain();
chain.grow(30, 2, [0, 2, 1]);
const bundle = chain.bundle({ txId: 25, trustedTxId: 11, leaf: 1 });
const good = JSON.stringify(bundle);
const tampered = (() => {
  const b = clone(bundle);
  b.entry.value = Buffer.from('tampered').toString('base64');
  return JSON.stringify(b);
})();
const trusted = `${bundle.trustedState.txId}:${bundle.trustedState.txHash}`;

function io(files: Record<string, string>, stdin = ''): CliIO {
  return {
    async readFile(path) {
      const f = files[path];
      if (f === undefined) throw new Error(`ENOENT: no such file ${path}`);
      return f;
    },
    async readStdin() {
      return stdin;
    },
  };
}

describe('runVerify', () => {
  const files = { 'good.json': good, 'bad.json': tampered, 'junk.json': '{"format":', 'empty.json': '' };

  it('valid bundle: exit 0 and the one-line summary', async () => {
    const r = await runVerify(['good.json'], io(files));
    expect(r).toEqual({
      exitCode: 0,
      stdout: ['valid: entry "evt/25/1" in tx 25 (embedded defaultdb), linked to trusted tx 11, state tx 25, unsigned'],
      stderr: [],
    });
  });

  it('tampered bundle: exit 1 with invalid: <check>: <message>', async () => {
    const r = await runVerify(['bad.json'], io(files));
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toEqual(['invalid: inclusion: entry digest does not reach tx.eH']);
  });

  it('--trusted matching the bundle: 0; another state: 1 (trustedState)', async () => {
    expect((await runVerify(['good.json', '--trusted', trusted], io(files))).exitCode).toBe(0);
    expect((await runVerify([`--trusted=${trusted}`, 'good.json'], io(files))).exitCode).toBe(0);
    const other = `12:${chain.alh(12n).toString('hex')}`;
    const r = await runVerify(['good.json', '--trusted', other], io(files));
    expect(r.exitCode).toBe(1);
    expect(r.stdout[0]).toMatch(/^invalid: trustedState: /);
  });

  it('reads stdin for -', async () => {
    expect((await runVerify(['-'], io({}, good))).exitCode).toBe(0);
    expect((await runVerify(['-'], io({}, tampered))).exitCode).toBe(1);
  });

  it.each([
    ['no arguments', []],
    ['two files', ['good.json', 'bad.json']],
    ['unknown option', ['--fast', 'good.json']],
    ['--trusted without value', ['good.json', '--trusted']],
    ['--trusted twice', ['good.json', '--trusted', trusted, '--trusted', trusted]],
    ['--trusted malformed', ['good.json', '--trusted', '11']],
    ['--trusted uppercase hash', ['good.json', '--trusted', trusted.toUpperCase()]],
    ['--trusted id 0', ['good.json', '--trusted', `0:${bundle.trustedState.txHash}`]],
    ['missing file', ['nope.json']],
    ['bad JSON', ['junk.json']],
    ['empty file', ['empty.json']],
  ])('usage error / unreadable / bad JSON (%s): exit 2 with usage on stderr', async (_name, argv) => {
    const r = await runVerify(argv as string[], io(files));
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toEqual([]);
    expect(r.stderr.at(-1)).toBe(USAGE);
  });

  it('bad JSON on stdin: exit 2', async () => {
    expect((await runVerify(['-'], io({}, 'not json'))).exitCode).toBe(2);
  });

  it('--help: exit 0 with usage', async () => {
    expect(await runVerify(['--help'], io(files))).toEqual({ exitCode: 0, stdout: [USAGE], stderr: [] });
  });

  it('valid JSON that is not a bundle: exit 1 (format)', async () => {
    const r = await runVerify(['-'], io({}, '[1,2,3]'));
    expect(r.exitCode).toBe(1);
    expect(r.stdout[0]).toMatch(/^invalid: format: /);
  });
});

describe('bin/auditgraph.mjs (real process)', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'auditgraph-verify-'));
  const goodPath = join(dir, 'good.json');
  const badPath = join(dir, 'bad.json');
  writeFileSync(goodPath, good);
  writeFileSync(badPath, tampered);
  const run = (args: string[], input?: string) =>
    spawnSync(process.execPath, [join(root, 'bin/auditgraph.mjs'), ...args], { cwd: root, encoding: 'utf8', input, timeout: 60_000 });

  it('verify <file>: 0 / 1 / 2, and stdin', () => {
    const ok = run(['verify', goodPath, '--trusted', trusted]);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe('valid: entry "evt/25/1" in tx 25 (embedded defaultdb), linked to trusted tx 11, state tx 25, unsigned\n');

    const bad = run(['verify', badPath]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/^invalid: inclusion: /);

    expect(run(['verify', join(dir, 'missing.json')]).status).toBe(2);
    expect(run(['verify', '-'], good).status).toBe(0);
    expect(run(['verify', '-'], '{').status).toBe(2);
  });

  it('unknown or missing command: 2', () => {
    expect(run([]).status).toBe(2);
    expect(run(['frobnicate']).status).toBe(2);
    expect(run(['--help']).status).toBe(0);
  });
});
