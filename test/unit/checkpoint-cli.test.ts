/**
 * `auditgraph verify --checkpoint --key` and `auditgraph monitor`, in process: option handling and
 * every verdict, over proof chains (test/support/proof-chain.ts) and an HTTP gateway made of them
 * (the real gateway and processes are in test/integration/checkpoints.test.ts).
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type MonitorIO, runMonitor, USAGE as MONITOR_USAGE } from '../../src/cli/monitor.ts';
import { type CliIO, runVerify } from '../../src/cli/verify.ts';
import { createCheckpointSigner, type CheckpointSigner } from '../../src/checkpoint/checkpoint.ts';
import { toHex } from '../../src/proof/codecs.ts';
import { consistencyProofOf } from '../../src/proof/consistency.ts';
import { buildDualProof } from '../../src/proof/dual-proof.ts';
import type { LedgerState } from '../../src/proof/types.ts';
import { TestChain } from '../support/proof-chain.ts';

const keys = JSON.parse(readFileSync(new URL('../fixtures/sumdb-note-v0.43.0/vectors.json', import.meta.url), 'utf8')).keys as {
  pkcs8: string;
  vkey: string;
}[];
const ORIGIN = 'auditgraph/defaultdb';
const signer = createCheckpointSigner(createPrivateKey(keys[0]!.pkcs8), ORIGIN);
const otherSigner = createCheckpointSigner(createPrivateKey(keys[1]!.pkcs8), ORIGIN);
const VKEY = keys[0]!.vkey;
expect(signer.verifierKey).toBe(VKEY);

const stateOf = (c: TestChain, id: number): LedgerState => ({ txId: String(id), txHash: toHex(c.alh(BigInt(id))) });

describe('auditgraph verify --checkpoint', () => {
  const chain = new TestChain();
  chain.grow(30, 2);
  const bundle = JSON.stringify(chain.bundle({ txId: 25, trustedTxId: 11, leaf: 1 }));
  const cp11 = signer.checkpoint(stateOf(chain, 11));
  const files: Record<string, string> = {
    'b.json': bundle,
    'cp11.txt': cp11,
    'cp12.txt': signer.checkpoint(stateOf(chain, 12)),
    'cp0.txt': signer.checkpoint({ txId: '0', txHash: '0'.repeat(64) }),
    'other.txt': otherSigner.checkpoint(stateOf(chain, 11)),
    'changed.txt': cp11.replace('\n11\n', '\n12\n'),
    'key.txt': `${VKEY}\n`,
    'two-keys.txt': `${VKEY}\n${keys[1]!.vkey}\n`,
  };
  const io: CliIO = {
    async readFile(path) {
      const f = files[path];
      if (f === undefined) throw Object.assign(new Error(`ENOENT: no such file ${path}`), { code: 'ENOENT' });
      return f;
    },
    async readStdin() {
      return bundle;
    },
  };
  const verify = (...argv: string[]) => runVerify(argv, io);

  it('checks the checkpoint with the key, then the bundle from its state', async () => {
    const r = await verify('b.json', '--checkpoint', 'cp11.txt', '--key', VKEY);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toEqual([
      `checkpoint: ${ORIGIN} tx 11 (${stateOf(chain, 11).txHash}), signed by ${VKEY.split('+').slice(0, 2).join('+')}`,
      expect.stringMatching(/^valid: .* linked to trusted tx 11/),
    ]);
    expect(await verify('b.json', '--checkpoint=cp11.txt', '--key=key.txt')).toEqual(r);
    expect(await verify('-', '--key', 'key.txt', '--checkpoint', 'cp11.txt')).toEqual(r);
  });

  it('exit 1 when the bundle does not start from the checkpoint’s state', async () => {
    const r = await verify('b.json', '--checkpoint', 'cp12.txt', '--key', VKEY);
    expect(r.exitCode).toBe(1);
    expect(r.stdout[0]).toMatch(/^invalid: trustedState: /);
  });

  it('exit 1, invalid: checkpoint: <why>, for a changed checkpoint, another key’s, or tx 0', async () => {
    expect(await verify('b.json', '--checkpoint', 'changed.txt', '--key', VKEY)).toEqual({
      exitCode: 1,
      stdout: [`invalid: checkpoint: invalid signature for key ${VKEY.split('+').slice(0, 2).join('+')}`],
      stderr: [],
    });
    const other = await verify('b.json', '--checkpoint', 'other.txt', '--key', VKEY);
    expect(other.exitCode).toBe(1);
    expect(other.stdout[0]).toMatch(
      /^invalid: checkpoint: not signed by the key auditgraph\/defaultdb\+8c0f0527 \(signed by auditgraph\/defaultdb\+3cd89f89\)$/,
    );
    expect((await verify('b.json', '--checkpoint', 'cp0.txt', '--key', VKEY)).stdout).toEqual([
      'invalid: checkpoint: it is of an empty ledger (tx 0), which no proof can start from',
    ]);
  });

  it('exit 2 for --checkpoint without --key, with --trusted, --key alone, a bad key or an unreadable checkpoint', async () => {
    const trusted = `11:${stateOf(chain, 11).txHash}`;
    const cases: [string[], RegExp][] = [
      [['b.json', '--checkpoint', 'cp11.txt'], /--checkpoint needs --key/],
      [['b.json', '--checkpoint', 'cp11.txt', '--key', VKEY, '--trusted', trusted], /--trusted or --checkpoint, not both/],
      [['b.json', '--key', VKEY], /--key is for checking a --checkpoint/],
      [['b.json', '--checkpoint', 'cp11.txt', '--key', 'missing.txt'], /neither a verifier key .* nor a readable file: ENOENT/],
      [['b.json', '--checkpoint', 'cp11.txt', '--key', 'two-keys.txt'], /one verifier key line/],
      [['b.json', '--checkpoint', 'cp11.txt', '--key', VKEY.replace('+8c0f0527+', '+8c0f0528+')], /is not the hash of this name and key/],
      [['b.json', '--checkpoint', 'missing.txt', '--key', VKEY], /cannot read missing.txt/],
      [['b.json', '--checkpoint', 'cp11.txt', '--checkpoint', 'cp12.txt', '--key', VKEY], /--checkpoint given twice/],
      [['b.json', '--checkpoint', '--key', VKEY], /--checkpoint needs a checkpoint file/],
      [['b.json', '--checkpoint='], /--checkpoint needs a checkpoint file/],
    ];
    for (const [argv, message] of cases) {
      const r = await verify(...argv);
      expect(r.exitCode, argv.join(' ')).toBe(2);
      expect(r.stderr[0], argv.join(' ')).toMatch(message);
    }
  });
});

/** A gateway made of a proof chain: GET /checkpoint signs `checkpointTx` of `chain`; POST /graphql answers consistencyProof. */
class FakeGateway {
  checkpointTx = 0;
  down = false;
  status = 200;
  requests: { url: string; authorization: string | null; body?: unknown }[] = [];
  constructor(
    public chain: TestChain,
    public checkpoints: CheckpointSigner = signer,
  ) {}

  fetch: typeof fetch = async (input, init) => {
    const url = String(input);
    const headers = new Headers(init?.headers);
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    this.requests.push({ url, authorization: headers.get('authorization'), body });
    if (this.down) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    if (this.status !== 200) {
      return new Response(JSON.stringify({ errors: [{ message: 'Authentication required', extensions: { code: 'UNAUTHENTICATED' } }] }), {
        status: this.status,
      });
    }
    if (url.endsWith('/checkpoint')) {
      const state = this.checkpointTx === 0 ? { txId: '0', txHash: '0'.repeat(64) } : stateOf(this.chain, this.checkpointTx);
      return new Response(this.checkpoints.checkpoint(state), { headers: { 'content-type': 'text/plain; charset=utf-8' } });
    }
    const { from, to } = body.variables as { from: string; to: string };
    if (Number(to) > this.chain.size) {
      return Response.json({ errors: [{ message: `toTxId ${to} is after the newest tx`, extensions: { code: 'BAD_USER_INPUT' } }], data: null });
    }
    const source = this.chain.header(BigInt(from));
    const target = this.chain.header(BigInt(to));
    const json = consistencyProofOf({ ledger: 'embedded', database: 'defaultdb', source, target, dualProof: buildDualProof(source, target, this.chain) });
    return Response.json({ data: { consistencyProof: { json } } });
  };
}

function monitorIO(gateway: FakeGateway, env: Record<string, string> = {}) {
  const files = new Map<string, Uint8Array>([['key.txt', Buffer.from(`${VKEY}\n`)]]);
  const out: string[] = [];
  const err: string[] = [];
  let sleeps = 0;
  const io: MonitorIO & { out: (l: string) => void } = {
    out: (l) => void out.push(l),
    err: (l) => void err.push(l),
    env,
    fetch: gateway.fetch,
    now: () => new Date('2026-12-07T12:00:00.000Z'),
    sleep: async () => {
      sleeps++;
      if (sleeps > 5) throw new Error('stop');
    },
    readFile: async (p) => {
      const f = files.get(p);
      if (!f) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return Buffer.from(f).toString('utf8');
    },
    readBytes: async (p) => files.get(p),
    writeAtomic: async (p, data) => void files.set(p, Buffer.from(data)),
  };
  return { io, out, err, files, sleeps: () => sleeps };
}

describe('auditgraph monitor', () => {
  const base = 'http://gw.example:4000';
  const args = (...more: string[]) => [base, '--state', 'state.txt', '--key', VKEY, ...more];

  it('trusts the first checkpoint on first use, then saves only checkpoints proved consistent with it', async () => {
    const chain = new TestChain();
    chain.grow(12);
    const gw = new FakeGateway(chain);
    gw.checkpointTx = 5;
    const m = monitorIO(gw);
    expect(await runMonitor(args(), m.io)).toEqual({ exitCode: 0, stdout: [], stderr: [] });
    expect(m.out).toEqual([
      `2026-12-07T12:00:00.000Z tx 5 trusted on first use: saved ${ORIGIN} tx 5 hash ${stateOf(chain, 5).txHash} to state.txt; nothing earlier to check it against, so compare it with an independent source if that matters`,
    ]);
    expect(Buffer.from(m.files.get('state.txt')!).toString()).toBe(signer.checkpoint(stateOf(chain, 5)));

    gw.checkpointTx = 9;
    expect((await runMonitor(args(), m.io)).exitCode).toBe(0);
    expect(m.out[1]).toBe('2026-12-07T12:00:00.000Z tx 9 ok: consistent with the saved tx 5; saved');
    expect(gw.requests.at(-1)!.body).toMatchObject({ variables: { from: '5', to: '9' } });
    expect(Buffer.from(m.files.get('state.txt')!).toString()).toBe(signer.checkpoint(stateOf(chain, 9)));

    expect((await runMonitor(args(), m.io)).exitCode).toBe(0);
    expect(m.out[2]).toBe('2026-12-07T12:00:00.000Z tx 9 ok: unchanged');

    gw.checkpointTx = 7;
    expect((await runMonitor(args(), m.io)).exitCode).toBe(0);
    expect(m.out[3]).toBe('2026-12-07T12:00:00.000Z tx 7 stale: older than the saved tx 9 and consistent with it; not saved');
    expect(gw.requests.at(-1)!.body).toMatchObject({ variables: { from: '7', to: '9' } });
    expect(Buffer.from(m.files.get('state.txt')!).toString()).toBe(signer.checkpoint(stateOf(chain, 9)));
    expect(m.err).toEqual([]);
  });

  it('exit 3 naming both checkpoints when the gateway’s history forked from the saved one', async () => {
    const a = new TestChain();
    a.grow(10);
    const b = new TestChain();
    b.grow(6);
    b.commit([{ key: Buffer.from('other'), value: Buffer.from('history') }]);
    b.grow(5);
    const gwA = new FakeGateway(a);
    gwA.checkpointTx = 8;
    const m = monitorIO(gwA);
    expect((await runMonitor(args(), m.io)).exitCode).toBe(0);
    const savedA = `${ORIGIN} tx 8 hash ${stateOf(a, 8).txHash}`;

    for (const [tx, why] of [
      [10, /the consistency proof from tx 8 to tx 10 fails \(from: /],
      [8, /: the same tx with two hashes$/],
      [7, /the consistency proof from tx 7 to tx 8 fails \(to: /],
    ] as const) {
      const gwB = new FakeGateway(b);
      gwB.checkpointTx = tx;
      m.io.fetch = gwB.fetch;
      expect((await runMonitor(args(), m.io)).exitCode, `tx ${tx}`).toBe(3);
      const line = m.out.at(-1)!;
      expect(line).toContain(
        `tx ${tx} FORK: saved ${savedA} and fetched ${ORIGIN} tx ${tx} hash ${stateOf(b, tx).txHash}, both signed by the key, are not one history`,
      );
      expect(line).toMatch(why);
      expect(Buffer.from(m.files.get('state.txt')!).toString()).toBe(signer.checkpoint(stateOf(a, 8)));
    }
    // Tx 5 is before the fork, but B's tx 8 is not A's: still a fork.
    const gwB = new FakeGateway(b);
    gwB.checkpointTx = 5;
    m.io.fetch = gwB.fetch;
    expect((await runMonitor(args(), m.io)).exitCode).toBe(3);
    expect(m.out.at(-1)).toMatch(/the consistency proof from tx 5 to tx 8 fails \(to: /);
    // A prefix of A's history that does not reach tx 8 cannot prove anything: an error, not a proven fork.
    const prefix = new TestChain();
    prefix.grow(6);
    const gwP = new FakeGateway(prefix);
    gwP.checkpointTx = 5;
    m.io.fetch = gwP.fetch;
    expect((await runMonitor(args(), m.io)).exitCode).toBe(1);
    expect(m.err.at(-1)).toMatch(/did not give the consistency proof from tx 5 to tx 8: BAD_USER_INPUT: toTxId 8 is after the newest tx$/);
  });

  it('exit 1 for a checkpoint that does not verify, a bad state file, or a gateway that does not answer', async () => {
    const chain = new TestChain();
    chain.grow(4);
    const gw = new FakeGateway(chain, otherSigner);
    gw.checkpointTx = 3;
    const m = monitorIO(gw);
    expect((await runMonitor(args(), m.io)).exitCode).toBe(1);
    expect(m.err.at(-1)).toMatch(
      /^2026-12-07T12:00:00.000Z error: the checkpoint from http:\/\/gw.example:4000\/checkpoint does not verify: not signed by the key/,
    );
    expect(m.files.has('state.txt')).toBe(false);

    m.io.fetch = new FakeGateway(chain).fetch;
    m.files.set('state.txt', Buffer.from(otherSigner.checkpoint(stateOf(chain, 2))));
    expect((await runMonitor(args(), m.io)).exitCode).toBe(1);
    expect(m.err.at(-1)).toMatch(/error: the state file state.txt does not hold a checkpoint signed by this key/);

    const down = new FakeGateway(chain);
    down.down = true;
    m.io.fetch = down.fetch;
    expect((await runMonitor(args(), m.io)).exitCode).toBe(1);
    expect(m.err.at(-1)).toBe('2026-12-07T12:00:00.000Z error: GET http://gw.example:4000/checkpoint: ECONNREFUSED');

    const refused = new FakeGateway(chain);
    refused.status = 401;
    m.io.fetch = refused.fetch;
    expect((await runMonitor(args(), m.io)).exitCode).toBe(1);
    expect(m.err.at(-1)).toBe('2026-12-07T12:00:00.000Z error: GET http://gw.example:4000/checkpoint: HTTP 401 UNAUTHENTICATED: Authentication required');
  });

  it('with --interval keeps going after errors, and stops at a fork', async () => {
    const chain = new TestChain();
    chain.grow(4);
    const gw = new FakeGateway(chain);
    gw.down = true;
    const m = monitorIO(gw);
    await expect(runMonitor(args('--interval', '0.5'), m.io)).rejects.toThrow('stop');
    expect(m.err).toHaveLength(6);
    expect(m.sleeps()).toBe(6);

    const fork = new TestChain();
    fork.grow(3);
    fork.commit([{ key: Buffer.from('x'), value: Buffer.from('y') }]);
    const a = new FakeGateway(chain);
    a.checkpointTx = 4;
    const m2 = monitorIO(a);
    expect((await runMonitor(args(), m2.io)).exitCode).toBe(0);
    const b = new FakeGateway(fork);
    b.checkpointTx = 4;
    m2.io.fetch = b.fetch;
    expect(await runMonitor(args('--interval', '60'), m2.io)).toEqual({ exitCode: 3, stdout: [], stderr: [] });
    expect(m2.sleeps()).toBe(0);
  });

  it('sends the token from --token or AUDITGRAPH_TOKEN, to both endpoints', async () => {
    const chain = new TestChain();
    chain.grow(4);
    const gw = new FakeGateway(chain);
    gw.checkpointTx = 2;
    const m = monitorIO(gw, { AUDITGRAPH_TOKEN: 'from-env' });
    await runMonitor(args(), m.io);
    gw.checkpointTx = 4;
    await runMonitor(args('--token', 'from-flag'), m.io);
    expect(gw.requests.map((r) => [r.url, r.authorization])).toEqual([
      [`${base}/checkpoint`, 'Bearer from-env'],
      [`${base}/checkpoint`, 'Bearer from-flag'],
      [`${base}/graphql`, 'Bearer from-flag'],
    ]);
    const none = monitorIO(gw);
    await runMonitor([`${base}/graphql/`, '--state', 's', '--key', 'key.txt'], none.io);
    expect(gw.requests.at(-1)).toMatchObject({ url: `${base}/checkpoint`, authorization: null });
  });

  it('exit 2 on bad usage', async () => {
    const m = monitorIO(new FakeGateway(new TestChain()));
    const cases: [string[], RegExp][] = [
      [[], /missing gateway url/],
      [['ftp://x', '--state', 's', '--key', VKEY], /not an http:\/\/ or https:\/\/ URL/],
      [['not a url', '--state', 's', '--key', VKEY], /is not a URL/],
      [[`${base}?x=1`, '--state', 's', '--key', VKEY], /without a query/],
      [[base, '--key', VKEY], /--state <file> is required/],
      [[base, '--state', 's'], /--key <verifier key \| file> is required/],
      [[base, '--state', 's', '--key', 'nope'], /neither a verifier key/],
      [[base, '--state', 's', '--key', VKEY, '--interval', '0'], /--interval must be/],
      [[base, '--state', 's', '--key', VKEY, '--interval', '-1'], /--interval needs a value|--interval must be|unknown option/],
      [[base, '--state', 's', '--key', VKEY, '--interval', '1e3'], /--interval must be/],
      [[base, '--state', 's', '--key', VKEY, '--token', 'a b'], /printable ASCII/],
      [[base, base, '--state', 's', '--key', VKEY], /exactly one gateway url/],
      [[base, '--state', 's', '--key', VKEY, '--verbose'], /unknown option --verbose/],
    ];
    for (const [argv, message] of cases) {
      const r = await runMonitor(argv, m.io);
      expect(r.exitCode, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toEqual([expect.stringMatching(message), MONITOR_USAGE]);
    }
    expect(m.out).toEqual([]);
    expect(await runMonitor(['--help'], m.io)).toEqual({ exitCode: 0, stdout: [MONITOR_USAGE], stderr: [] });
  });

  it('an empty ledger’s checkpoint (tx 0) is the start of every history', async () => {
    const chain = new TestChain();
    chain.grow(3);
    const gw = new FakeGateway(chain);
    const m = monitorIO(gw);
    expect((await runMonitor(args(), m.io)).exitCode).toBe(0);
    gw.checkpointTx = 3;
    expect((await runMonitor(args(), m.io)).exitCode).toBe(0);
    expect(m.out[1]).toBe('2026-12-07T12:00:00.000Z tx 3 ok: consistent with the saved tx 0; saved');
    expect(gw.requests.filter((r) => r.url.endsWith('/graphql'))).toEqual([]);
    // A key never seen by the monitor cannot make it save anything.
    const stranger = createCheckpointSigner(generateKeyPairSync('ed25519').privateKey, ORIGIN);
    const g2 = new FakeGateway(chain, stranger);
    g2.checkpointTx = 3;
    m.io.fetch = g2.fetch;
    expect((await runMonitor(args(), m.io)).exitCode).toBe(1);
  });
});
