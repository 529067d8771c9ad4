import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runVerify, USAGE, type CliIO } from '../../src/cli/verify.ts';
import { vectorBundle, vectors111 } from '../support/immudb-vectors.ts';
import { clone, ForgedChain, TestChain, toV1Bundle } from '../support/proof-chain.ts';

const chain = new TestChain();
chain.grow(30, 2);
const bundle = chain.bundle({ txId: 25, trustedTxId: 11, leaf: 1 });
const good = JSON.stringify(bundle);
const goodV1 = JSON.stringify(toV1Bundle(bundle));
// immudb 1.11.1's answers: v0 trusted tx 13, v1 tx 22 with tx metadata and an entry with an expiry.
const immudbV2 = JSON.stringify(
  vectorBundle(vectors111.store, vectors111.store.dualProofs.find((d) => d.source === 13 && d.target === 22)!, 'target', 0, true),
);
// GHSA-672p-m5jq-mrh8: tx 10 re-issued linking tx 6, its linear proof through a fake tx 8 (proof-chain.ts ForgedChain).
const linearFake = JSON.stringify(
  new ForgedChain(chain, { linkedTo: 6, fake: 8, target: 10, fakeEntries: [{ key: Buffer.from('evt/8/0'), value: Buffer.from('forged') }] }).bundle({
    txId: 10,
    trustedTxId: 5,
  }),
);
const LINEAR_FAKE_VERDICT =
  'invalid: dualProof.linking: target tx 10 links tx 6, not its predecessor: a linear proof over unlinked txs can be faked (GHSA-672p-m5jq-mrh8)';
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
  const files = {
    'good.json': good,
    'good-v1.json': goodV1,
    'immudb.json': immudbV2,
    'fake.json': linearFake,
    'bad.json': tampered,
    'junk.json': '{"format":',
    'empty.json': '',
  };

  it('valid bundle: exit 0 and the one-line summary', async () => {
    const r = await runVerify(['good.json'], io(files));
    expect(r).toEqual({
      exitCode: 0,
      stdout: ['valid: entry "evt/25/1" in tx 25 (embedded defaultdb), linked to trusted tx 11, state tx 25, unsigned'],
      stderr: [],
    });
  });

  it('an auditgraph.proof.v1 bundle still verifies, with the same summary', async () => {
    expect(JSON.parse(goodV1).format).toBe('auditgraph.proof.v1');
    expect(await runVerify(['good-v1.json'], io(files))).toEqual(await runVerify(['good.json'], io(files)));
  });

  it('a v2 bundle of immudb 1.11.1 answers (v0 → v1 header, metadata, signed by immudb): exit 0', async () => {
    const r = await runVerify(['immudb.json', '--trusted', `13:${vectors111.store.txs[12]!.alh}`], io(files));
    expect(r.exitCode).toBe(0);
    expect(r.stdout[0]).toMatch(
      /^valid: entry "evt\/022\/exp" in tx 22 \(immudb defaultdb\), linked to trusted tx 13, state tx 22, signed by key [0-9a-f]{16}$/,
    );
  });

  it('a linear-fake bundle (GHSA-672p-m5jq-mrh8): exit 1 naming dualProof.linking', async () => {
    expect(await runVerify(['fake.json'], io(files))).toEqual({ exitCode: 1, stdout: [LINEAR_FAKE_VERDICT], stderr: [] });
    // Also against the trusted state it starts from, which is the reader's own.
    expect((await runVerify(['fake.json', '--trusted', `5:${chain.alh(5n).toString('hex')}`], io(files))).stdout).toEqual([LINEAR_FAKE_VERDICT]);
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
  const fakePath = join(dir, 'fake.json');
  writeFileSync(goodPath, good);
  writeFileSync(badPath, tampered);
  writeFileSync(fakePath, linearFake);
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
    expect(run(['verify', '-'], goodV1).status).toBe(0);
    expect(run(['verify', '-'], immudbV2).status).toBe(0);
    expect(run(['verify', '-'], '{').status).toBe(2);
  });

  it('verify <linear-fake.json>: 1, naming dualProof.linking', () => {
    const r = run(['verify', fakePath]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(`${LINEAR_FAKE_VERDICT}\n`);
  });

  it('unknown or missing command: 2', () => {
    expect(run([]).status).toBe(2);
    expect(run(['frobnicate']).status).toBe(2);
    expect(run(['--help']).status).toBe(0);
  });
});
