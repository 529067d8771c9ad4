/**
 * Signed checkpoints on a real gateway (embedded ledger and immudb): ledgerState.checkpoint, GET
 * /checkpoint and /checkpoint/key with their auth, `auditgraph verify --checkpoint` against real
 * bundles, and `auditgraph monitor` as a real process: trust on first use, consistent rounds, a
 * stale gateway, and two embedded ledgers that share their first txs and then diverge (a fork).
 */
import { spawn } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTokenStore, type TokenStore } from '../../src/auth/tokens.ts';
import { createCheckpointSigner, defaultCheckpointOrigin, openCheckpoint } from '../../src/checkpoint/checkpoint.ts';
import { loadCheckpointKey } from '../../src/checkpoint/key-file.ts';
import { parseVerifierKey } from '../../src/checkpoint/note.ts';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import type { Ledger } from '../../src/ledger/port.ts';
import { createLogger } from '../../src/logger.ts';
import { createApp } from '../../src/server/app.ts';
import { sha256Hex } from '../support/auth.ts';
import { CREATE, eventInput, expectNoStackTrace } from '../support/graphql.ts';
import { runMainToExit, spawnMain, stopMain, waitHealthy } from '../support/main-process.ts';
import { freePort } from '../support/servers.ts';
import { immudbAddress, openTestImmudbLedger, tempDir, uniqueDatabase } from '../support/services.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Gateway {
  base: string;
  ledger: Ledger;
  dataDir: string;
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
  ): Promise<{ data?: T; errors?: { message: string; extensions?: { code?: string } }[] }>;
  write(n: number, tag: string): Promise<string[]>;
  text(path: string, token?: string): Promise<{ status: number; body: string; headers: Headers }>;
  close(): Promise<void>;
}

const open: Gateway[] = [];
afterAll(async () => {
  for (const g of open.splice(0)) await g.close().catch(() => undefined);
});

/** A gateway on port 0 whose checkpoint key is DATA_DIR's (generated on first use), as main.ts sets it up. */
async function startGateway(ledger: Ledger, dataDir: string, auth?: TokenStore): Promise<Gateway> {
  const key = loadCheckpointKey({ file: null, dataDir });
  const checkpoints = createCheckpointSigner(key.key, defaultCheckpointOrigin(ledger.database));
  const app = createApp({
    ledger,
    checkpoints,
    config: { port: 0, host: '127.0.0.1' },
    logger: createLogger({ level: 'error', write: () => {} }),
    ...(auth ? { auth } : {}),
  });
  const { url } = await app.listen();
  const base = url.replace(/\/graphql$/, '');
  const writer = auth ? 'admin-token' : undefined;
  const g: Gateway = {
    base,
    ledger,
    dataDir,
    async gql(query, variables, token) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const text = await res.text();
      expectNoStackTrace(text);
      return JSON.parse(text);
    },
    async write(n, tag) {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await g.gql<{ createAuditEvent: { event: { eventId: string } } }>(
          CREATE,
          { input: eventInput({ correlationId: tag, data: { tag, i } }) },
          writer,
        );
        expect(r.errors).toBeUndefined();
        ids.push(r.data!.createAuditEvent.event.eventId);
      }
      return ids;
    },
    async text(path, token) {
      const res = await fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      return { status: res.status, body: await res.text(), headers: res.headers };
    },
    async close() {
      await app.close();
      await ledger.close();
    },
  };
  open.push(g);
  return g;
}

/** `node bin/auditgraph.mjs …` as a real process, asynchronously (the gateway answers from this process). */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [join(root, 'bin/auditgraph.mjs'), ...args], {
      cwd: root,
      env: { ...process.env, AUDITGRAPH_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += String(d)));
    proc.stderr.on('data', (d) => (stderr += String(d)));
    const guard = setTimeout(() => proc.kill('SIGKILL'), 120_000);
    proc.on('close', (status) => {
      clearTimeout(guard);
      resolve({ status, stdout, stderr });
    });
  });
}

const LEDGER_STATE = '{ ledgerState { txId txHash checkpoint } }';
type State = { txId: string; txHash: string; checkpoint: string };

async function ledgerState(g: Gateway, token?: string): Promise<State> {
  const r = await g.gql<{ ledgerState: State }>(LEDGER_STATE, undefined, token);
  expect(r.errors).toBeUndefined();
  return r.data!.ledgerState;
}

const backends: [string, (dataDir: string) => Promise<Ledger>][] = [['embedded', (dataDir) => openEmbeddedLedger({ dataDir })]];
if (immudbAddress) backends.push(['immudb', (dataDir) => openTestImmudbLedger({ dataDir, database: uniqueDatabase() })]);

describe.each(backends)('checkpoints (%s)', (_name, openLedger) => {
  it('ledgerState.checkpoint signs exactly its txId and txHash, and GET /checkpoint the trusted state', async () => {
    const dataDir = tempDir('ag-cp-');
    const g = await startGateway(await openLedger(dataDir), dataDir);
    const key = await g.text('/checkpoint/key');
    expect(key.status).toBe(200);
    expect(key.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(key.body).toMatch(new RegExp(`^auditgraph/${g.ledger.database}\\+[0-9a-f]{8}\\+[A-Za-z0-9+/]{44}\\n$`));
    const verifier = parseVerifierKey(key.body.trim());

    const empty = await ledgerState(g);
    expect(openCheckpoint(empty.checkpoint, verifier)).toEqual({
      ok: true,
      checkpoint: { origin: `auditgraph/${g.ledger.database}`, txId: empty.txId, txHash: empty.txHash },
    });
    if (empty.txId === '0') expect(empty.txHash).toBe('0'.repeat(64));

    // Asked while writes move the state: each answer's checkpoint is of that answer's own txId and txHash.
    const writes = g.write(8, 'cp-exact');
    const seen = await Promise.all(Array.from({ length: 16 }, () => ledgerState(g)));
    await writes;
    for (const s of seen) {
      const r = openCheckpoint(s.checkpoint, verifier);
      expect(r).toEqual({ ok: true, checkpoint: { origin: `auditgraph/${g.ledger.database}`, txId: s.txId, txHash: s.txHash } });
    }

    const latest = await ledgerState(g);
    expect(BigInt(latest.txId)).toBeGreaterThanOrEqual(8n);
    const served = await g.text('/checkpoint');
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(served.headers.get('cache-control')).toBe('no-store');
    expect(served.body).toBe(latest.checkpoint);
    expect(served.body).toMatch(
      new RegExp(`^auditgraph/${g.ledger.database}\\n${latest.txId}\\n[A-Za-z0-9+/]{43}=\\nimmudb-alh-sha256\\n\\n\u2014 auditgraph/`),
    );
  });

  it('auditgraph verify --checkpoint: real bundles anchored at a checkpoint pass; a changed or foreign checkpoint fails', async () => {
    const dataDir = tempDir('ag-cp-');
    const g = await startGateway(await openLedger(dataDir), dataDir);
    const dir = tempDir('ag-cp-cli-');
    const vkey = (await g.text('/checkpoint/key')).body.trim();
    writeFileSync(join(dir, 'key.txt'), `${vkey}\n`);
    const [early] = await g.write(2, 'cp-cli');
    const cpText = (await g.text('/checkpoint')).body;
    const cp = openCheckpoint(cpText, parseVerifierKey(vkey));
    if (!cp.ok) throw new Error(cp.message);
    writeFileSync(join(dir, 'cp.txt'), cpText);
    const [late] = await g.write(3, 'cp-cli');

    const VERIFY = 'query V($id: ID!, $at: String) { verifyAuditEvent(eventId: $id, trustedTxId: $at) { proof { json } } }';
    const bundle = async (id: string, at?: string) => {
      const r = await g.gql<{ verifyAuditEvent: { proof: { json: unknown } } }>(VERIFY, { id, at });
      expect(r.errors).toBeUndefined();
      const file = join(dir, `${id}-${at ?? 'now'}.json`);
      writeFileSync(file, JSON.stringify(r.data!.verifyAuditEvent.proof.json));
      return file;
    };
    // Anchored at the checkpoint's tx: an event before it and one after it.
    for (const id of [early!, late!]) {
      const r = await cli(['verify', await bundle(id, cp.checkpoint.txId), '--checkpoint', join(dir, 'cp.txt'), '--key', vkey]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^checkpoint: auditgraph/${g.ledger.database} tx ${cp.checkpoint.txId} \\(${cp.checkpoint.txHash}\\), signed by `));
      expect(r.stdout).toMatch(new RegExp(`\\nvalid: .*linked to trusted tx ${cp.checkpoint.txId}\\b`));
    }
    // The default bundle starts from the gateway's trusted state: that of the latest checkpoint.
    const now = await bundle(late!);
    writeFileSync(join(dir, 'now.txt'), (await g.text('/checkpoint')).body);
    expect((await cli(['verify', now, '--checkpoint', join(dir, 'now.txt'), '--key', join(dir, 'key.txt')])).status).toBe(0);
    // …and not from the older checkpoint.
    const older = await cli(['verify', now, '--checkpoint', join(dir, 'cp.txt'), '--key', vkey]);
    expect(older.status).toBe(1);
    expect(older.stdout).toMatch(/^invalid: trustedState: /);

    const anchored = await bundle(early!, cp.checkpoint.txId);
    const bytes = Buffer.from(cpText, 'utf8');
    // One byte changed: in the origin, the txId, the hash, the scheme, the signature.
    const lines = cpText.split('\n');
    const offsets = [1, lines[0]!.length + 1, lines[0]!.length + lines[1]!.length + 5, cpText.indexOf('immudb') + 2, bytes.length - 10];
    for (const at of offsets) {
      const changed = Buffer.from(bytes);
      changed[at] = changed[at]! === 0x41 ? 0x42 : 0x41;
      writeFileSync(join(dir, 'changed.txt'), changed);
      const r = await cli(['verify', anchored, '--checkpoint', join(dir, 'changed.txt'), '--key', vkey]);
      expect(r.status, `byte ${at}`).toBe(1);
      expect(r.stdout, `byte ${at}`).toMatch(/^invalid: checkpoint: /);
    }
    // Signed by another key (another gateway's, with the same origin).
    const otherDir = tempDir('ag-cp-other-');
    const other = createCheckpointSigner(loadCheckpointKey({ file: null, dataDir: otherDir }).key, defaultCheckpointOrigin(g.ledger.database));
    writeFileSync(join(dir, 'foreign.txt'), other.checkpoint({ txId: cp.checkpoint.txId, txHash: cp.checkpoint.txHash }));
    const foreign = await cli(['verify', anchored, '--checkpoint', join(dir, 'foreign.txt'), '--key', vkey]);
    expect(foreign.status).toBe(1);
    expect(foreign.stdout).toMatch(/^invalid: checkpoint: not signed by the key /);
    // Usage errors.
    expect((await cli(['verify', anchored, '--checkpoint', join(dir, 'cp.txt')])).status).toBe(2);
    expect(
      (await cli(['verify', anchored, '--checkpoint', join(dir, 'cp.txt'), '--key', vkey, '--trusted', `${cp.checkpoint.txId}:${cp.checkpoint.txHash}`]))
        .status,
    ).toBe(2);
  });

  it('auditgraph monitor: trusted on first use, then consistent rounds as the ledger grows', async () => {
    const dataDir = tempDir('ag-cp-');
    const g = await startGateway(await openLedger(dataDir), dataDir);
    const dir = tempDir('ag-mon-');
    const state = join(dir, 'state.txt');
    const vkey = (await g.text('/checkpoint/key')).body.trim();
    await g.write(2, 'mon');
    const first = await cli(['monitor', g.base, '--state', state, '--key', vkey]);
    const s1 = await ledgerState(g);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(
      new RegExp(`^\\S+Z tx ${s1.txId} trusted on first use: saved auditgraph/${g.ledger.database} tx ${s1.txId} hash ${s1.txHash} to ${state}; `),
    );
    expect(readFileSync(state, 'utf8')).toBe(s1.checkpoint);

    await g.write(3, 'mon');
    const s2 = await ledgerState(g);
    const second = await cli(['monitor', `${g.base}/`, '--state', state, '--key', vkey]);
    expect(second.stderr).toBe('');
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(new RegExp(`^\\S+Z tx ${s2.txId} ok: consistent with the saved tx ${s1.txId}; saved\\n$`));
    expect(readFileSync(state, 'utf8')).toBe(s2.checkpoint);

    const third = await cli(['monitor', g.base, '--state', state, '--key', vkey]);
    expect(third.stdout).toMatch(new RegExp(`tx ${s2.txId} ok: unchanged\\n$`));
    expect(third.status).toBe(0);
  });
});

describe('/checkpoint and /checkpoint/key with tokens configured', () => {
  it('need audit:read (or admin) like ledgerState; refusals are coded JSON', async () => {
    const auth = createTokenStore([
      { name: 'reader', sha256: sha256Hex('reader-token'), scopes: ['audit:read'] },
      { name: 'writer', sha256: sha256Hex('writer-token'), scopes: ['audit:write'] },
      { name: 'admin', sha256: sha256Hex('admin-token'), scopes: ['audit:admin'] },
    ]);
    const dataDir = tempDir('ag-cp-auth-');
    const g = await startGateway(await openEmbeddedLedger({ dataDir }), dataDir, auth);
    await g.write(1, 'auth');
    for (const path of ['/checkpoint', '/checkpoint/key']) {
      const none = await g.text(path);
      expect(none.status, path).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect(JSON.parse(none.body)).toEqual({
        errors: [{ message: 'Authentication required: send Authorization: Bearer <token>.', extensions: { code: 'UNAUTHENTICATED' } }],
      });
      expect((await g.text(path, 'wrong-token')).status).toBe(401);
      const writer = await g.text(path, 'writer-token');
      expect(writer.status, path).toBe(403);
      expect(JSON.parse(writer.body).errors[0].extensions.code).toBe('FORBIDDEN');
      expect((await g.text(path, 'reader-token')).status, path).toBe(200);
      expect((await g.text(path, 'admin-token')).status, path).toBe(200);
      const post = await fetch(`${g.base}${path}`, { method: 'POST', headers: { authorization: 'Bearer reader-token' } });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
    }
    expect((await g.text('/checkpoint', 'reader-token')).body).toBe((await ledgerState(g, 'reader-token')).checkpoint);
    expect((await g.gql(LEDGER_STATE)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    // The monitor sends its token (--token, or AUDITGRAPH_TOKEN) to /checkpoint and to /graphql.
    const dir = tempDir('ag-mon-auth-');
    const vkey = (await g.text('/checkpoint/key', 'reader-token')).body.trim();
    const args = ['monitor', g.base, '--state', join(dir, 'state.txt'), '--key', vkey];
    const refused = await cli(args);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/error: GET http:\/\/127\.0\.0\.1:\d+\/checkpoint: HTTP 401 UNAUTHENTICATED: Authentication required/);
    expect((await cli([...args, '--token', 'reader-token'])).status).toBe(0);
    await g.write(2, 'auth');
    const viaEnv = await cli(args, { AUDITGRAPH_TOKEN: 'reader-token' });
    expect(viaEnv.stdout).toMatch(/ ok: consistent with the saved tx \d+; saved\n$/);
    expect(viaEnv.status).toBe(0);
  });
});

describe('auditgraph monitor and a fork', () => {
  it('two embedded ledgers sharing their first txs, then diverging: exit 3 naming both checkpoints', async () => {
    const dirA = tempDir('ag-fork-a-');
    const a0 = await startGateway(await openEmbeddedLedger({ dataDir: dirA }), dirA);
    await a0.write(4, 'shared');
    const shared = await ledgerState(a0);
    await a0.close();
    open.splice(open.indexOf(a0), 1);
    // B is A's DATA_DIR copied at tx 4, its checkpoint key included.
    const dirB = tempDir('ag-fork-b-');
    cpSync(dirA, dirB, { recursive: true });
    const a = await startGateway(await openEmbeddedLedger({ dataDir: dirA }), dirA);
    const b = await startGateway(await openEmbeddedLedger({ dataDir: dirB }), dirB);
    const vkey = (await a.text('/checkpoint/key')).body.trim();
    expect((await b.text('/checkpoint/key')).body.trim()).toBe(vkey);
    expect(await ledgerState(b)).toEqual(shared);

    const dir = tempDir('ag-fork-mon-');
    const state = join(dir, 'state.txt');
    const monitor = (g: Gateway) => cli(['monitor', g.base, '--state', state, '--key', vkey]);
    // Both from the shared state on: consistent.
    expect((await monitor(a)).status).toBe(0);
    expect((await monitor(b)).stdout).toMatch(/ok: unchanged\n$/);

    await a.write(2, 'only-in-a');
    await b.write(2, 'only-in-b');
    const sa = await ledgerState(a);
    const sb = await ledgerState(b);
    expect(sa.txId).toBe(sb.txId);
    expect(sa.txHash).not.toBe(sb.txHash);
    expect((await monitor(a)).stdout).toMatch(new RegExp(`tx ${sa.txId} ok: consistent with the saved tx ${shared.txId}; saved\\n$`));
    const named = (s: State) => `auditgraph/defaultdb tx ${s.txId} hash ${s.txHash}`;

    // Same tx, two hashes.
    const sameTx = await monitor(b);
    expect(sameTx.status).toBe(3);
    expect(sameTx.stdout).toContain(
      `tx ${sb.txId} FORK: saved ${named(sa)} and fetched ${named(sb)}, both signed by the key, are not one history: the same tx with two hashes`,
    );

    // B moves on: its proof from tx 6 leads from B's tx 6, not from the saved one.
    await b.write(3, 'only-in-b');
    const sb2 = await ledgerState(b);
    const later = await monitor(b);
    expect(later.status).toBe(3);
    expect(later.stdout).toContain(`tx ${sb2.txId} FORK: saved ${named(sa)} and fetched ${named(sb2)}`);
    expect(later.stdout).toMatch(new RegExp(`the consistency proof from tx ${sa.txId} to tx ${sb2.txId} fails \\(\\S+: `));
    // Nothing was saved from B; A is still consistent with the state file.
    expect(readFileSync(state, 'utf8')).toBe(sa.checkpoint);
    expect((await monitor(a)).status).toBe(0);

    // A monitor saved from B's side: A, shorter, cannot prove its tx 6 leads to B's tx 9 (an error, not a
    // proven fork); once A is longer, its proof from tx 9 starts from A's tx 9, not B's: a fork.
    const fromB = join(dir, 'from-b.txt');
    writeFileSync(fromB, sb2.checkpoint);
    const reverse = () => cli(['monitor', a.base, '--state', fromB, '--key', vkey]);
    const shorter = await reverse();
    expect(shorter.status).toBe(1);
    expect(shorter.stderr).toMatch(new RegExp(`did not give the consistency proof from tx ${sa.txId} to tx ${sb2.txId}: BAD_USER_INPUT`));
    await a.write(4, 'only-in-a');
    const sa2 = await ledgerState(a);
    const longer = await reverse();
    expect(longer.status).toBe(3);
    expect(longer.stdout).toContain(`saved ${named(sb2)} and fetched ${named(sa2)}`);
  });

  it('with --interval: one line per round, errors printed and the next round tried, and a fork ends it with 3', async () => {
    const dirA = tempDir('ag-int-a-');
    const a = await startGateway(await openEmbeddedLedger({ dataDir: dirA }), dirA);
    await a.write(1, 'shared');
    const dirB = tempDir('ag-int-b-');
    // Copy at tx 1 (the embedded ledger's files are complete after each acknowledged write).
    await a.close();
    open.splice(open.indexOf(a), 1);
    cpSync(dirA, dirB, { recursive: true });
    const b = await startGateway(await openEmbeddedLedger({ dataDir: dirB }), dirB);
    await b.write(2, 'only-in-b');
    const vkey = (await b.text('/checkpoint/key')).body.trim();
    const state = join(tempDir('ag-int-mon-'), 'state.txt');
    const port = await freePort();

    const proc = spawn(
      process.execPath,
      [join(root, 'bin/auditgraph.mjs'), 'monitor', `http://127.0.0.1:${port}`, '--state', state, '--key', vkey, '--interval', '0.2'],
      { cwd: root, env: { ...process.env, AUDITGRAPH_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += String(d)));
    proc.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((resolve) => proc.on('close', resolve));
    const until = async (what: () => boolean) => {
      while (!what()) {
        if (proc.exitCode !== null) throw new Error(`monitor exited ${proc.exitCode}: ${stdout}${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      // Nothing listens on the port yet: error rounds, and the monitor keeps going.
      await until(() => stderr.split('\n').filter((l) => / error: GET http:\/\/127\.0\.0\.1:\d+\/checkpoint: ECONNREFUSED$/.test(l)).length >= 2);
      // Now A (tx 1) on that port: trusted on first use.
      const a2 = await startOn(dirA, port);
      await until(() => /trusted on first use/.test(stdout));
      await a2.write(2, 'only-in-a');
      await until(() => / ok: consistent with the saved tx 1; saved\n/.test(stdout));
      // A is replaced by B on the same port: a fork, and the monitor stops with 3.
      await a2.close();
      open.splice(open.indexOf(a2), 1);
      const b2 = await startOn(dirB, port, b);
      expect(await exited).toBe(3);
      expect(stdout.trim().split('\n').at(-1)).toMatch(
        / FORK: saved auditgraph\/defaultdb tx 3 hash [0-9a-f]{64} and fetched auditgraph\/defaultdb tx 3 hash [0-9a-f]{64}/,
      );
      await b2.close();
    } finally {
      proc.kill('SIGKILL');
    }
  });
});

/** A gateway on a given port (the monitor's URL stays the same while the ledger behind it changes). */
async function startOn(dataDir: string, port: number, closeFirst?: Gateway): Promise<Gateway> {
  if (closeFirst) {
    await closeFirst.close();
    open.splice(open.indexOf(closeFirst), 1);
  }
  const ledger = await openEmbeddedLedger({ dataDir });
  const checkpoints = createCheckpointSigner(loadCheckpointKey({ file: null, dataDir }).key, defaultCheckpointOrigin(ledger.database));
  const app = createApp({ ledger, checkpoints, config: { port, host: '127.0.0.1' }, logger: createLogger({ level: 'error', write: () => {} }) });
  await app.listen();
  const url = `http://127.0.0.1:${port}/graphql`;
  const g: Gateway = {
    base: `http://127.0.0.1:${port}`,
    ledger,
    dataDir,
    async gql(query, variables) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
      return res.json();
    },
    async write(n, tag) {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await g.gql<{ createAuditEvent: { event: { eventId: string } } }>(CREATE, { input: eventInput({ correlationId: tag, data: { tag, i } }) });
        expect(r.errors).toBeUndefined();
        ids.push(r.data!.createAuditEvent.event.eventId);
      }
      return ids;
    },
    async text(path) {
      const res = await fetch(`${g.base}${path}`);
      return { status: res.status, body: await res.text(), headers: res.headers };
    },
    async close() {
      await app.close();
      await ledger.close();
    },
  };
  open.push(g);
  return g;
}

describe.runIf(immudbAddress)('auditgraph monitor and a gateway whose trusted state lags (immudb)', () => {
  it('a checkpoint older than the saved one is proved consistent the other way and reported stale, not saved', async () => {
    const database = uniqueDatabase();
    const dir1 = tempDir('ag-stale-1-');
    const dir2 = tempDir('ag-stale-2-');
    const g1 = await startGateway(await openTestImmudbLedger({ database, dataDir: dir1 }), dir1);
    await g1.write(2, 'stale');
    // The second gateway shares the database and the key; its trusted state stays where it first saw the ledger.
    cpSync(join(dir1, 'checkpoint-key.pem'), join(dir2, 'checkpoint-key.pem'));
    const g2 = await startGateway(await openTestImmudbLedger({ database, dataDir: dir2 }), dir2);
    const old = await ledgerState(g2);
    await g1.write(3, 'stale');
    const latest = await ledgerState(g1);
    expect(BigInt(latest.txId)).toBeGreaterThan(BigInt(old.txId));
    const vkey = (await g1.text('/checkpoint/key')).body.trim();
    const state = join(tempDir('ag-stale-mon-'), 'state.txt');
    expect((await cli(['monitor', g1.base, '--state', state, '--key', vkey])).status).toBe(0);
    const stale = await cli(['monitor', g2.base, '--state', state, '--key', vkey]);
    expect(stale.stderr).toBe('');
    expect(stale.status).toBe(0);
    expect(stale.stdout).toMatch(new RegExp(`tx ${old.txId} stale: older than the saved tx ${latest.txId} and consistent with it; not saved\\n$`));
    expect(readFileSync(state, 'utf8')).toBe(latest.checkpoint);
  });
});

describe('src/main.ts and the checkpoint key', () => {
  it('generates the key into DATA_DIR once, keeps it over a restart, and serves it', async () => {
    const dataDir = tempDir('ag-cp-main-');
    const keys: string[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const main = spawnMain({ PORT: String(port), DATA_DIR: dataDir, CHECKPOINT_ORIGIN: 'audit.example.com/prod' });
      try {
        await waitHealthy(main, `http://127.0.0.1:${port}`);
        const key = await (await fetch(`http://127.0.0.1:${port}/checkpoint/key`)).text();
        const cp = await (await fetch(`http://127.0.0.1:${port}/checkpoint`)).text();
        expect(openCheckpoint(cp, parseVerifierKey(key.trim()))).toMatchObject({ ok: true, checkpoint: { origin: 'audit.example.com/prod' } });
        expect(main.output.join('')).toContain(
          `${i === 0 ? 'a new key generated into' : 'the key in'} ${join(dataDir, 'checkpoint-key.pem')}; verifier key ${key.trim()}`,
        );
        keys.push(key);
      } finally {
        stopMain(main, 'SIGTERM');
        await main.closed;
      }
    }
    expect(keys[1]).toBe(keys[0]);
  });

  it('refuses a CHECKPOINT_KEY_FILE that is not an Ed25519 PKCS#8 key: exit 2, the file named, not shown', async () => {
    const dataDir = join(tempDir('ag-cp-bad-'), 'data');
    const file = join(tempDir('ag-cp-bad-key-'), 'key.pem');
    const rsa = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' });
    writeFileSync(file, rsa);
    const r = await runMainToExit({ CHECKPOINT_KEY_FILE: file, AUTH_TOKENS: '{not json' }, dataDir);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`  - CHECKPOINT_KEY_FILE ${file} is not an Ed25519 private key in PKCS#8 PEM`);
    expect(r.stderr).toContain('  - AUTH_TOKENS');
    expect(r.stderr).not.toContain(String(rsa).split('\n')[1]!.slice(0, 20));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const missing = await runMainToExit({ CHECKPOINT_KEY_FILE: `${file}.missing` }, dataDir);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^auditgraph: Invalid configuration:\n {2}- CHECKPOINT_KEY_FILE .* cannot be read: ENOENT/);
  });
});
