/**
 * The immudb session on each tested version, on a private server these tests kill (SIGKILL) and
 * restart: a kill while connecting or with calls in flight is LEDGER_UNAVAILABLE, never a crash or
 * an unhandled rejection, and the same ledger object works again once immudb is back; the token
 * immudb forgot in the restart is renewed; close() settles what is in flight; a wrong password is
 * a clear error without the password; the database it creates (CreateDatabaseV2) has the settings
 * asked for, also when gateways race to create it.
 */
import * as grpc from '@grpc/grpc-js';
import { createRequire } from 'node:module';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAuditError } from '../../src/errors.ts';
import { ImmudbError, ImmudbSession, ImmudbSetupRefused, isAuthFailure, pb, type ImmuServiceClientClass } from '../../src/ledger/immudb/grpc.ts';
import type { PbClass, PbMessage } from '../../src/ledger/immudb/schema-pb.ts';
import { GATEWAY_DB_MAX_TX_ENTRIES, GATEWAY_DB_SYNC_FREQUENCY_MS, openImmudbLedger } from '../../src/ledger/immudb/index.ts';
import { encodeTxScanRequest } from '../../src/ledger/immudb/wire-encode.ts';
import { verifyProofBundle } from '../../src/proof/verify.ts';
import { ev } from '../contract/ledger-contract.ts';
import { startImmudb, type ManagedServer } from '../support/servers.ts';
import { immudbBinaries, immudbServers, openTestImmudbLedger, tempDir, uniqueDatabase } from '../support/services.ts';
import { databaseSettings } from '../support/immudb-admin.ts';

const require = createRequire(import.meta.url);
const services = require('immudb-node/dist/src/proto/schema_grpc_pb.js') as { ImmuServiceClient: ImmuServiceClientClass };
const { Empty } = require('google-protobuf/google/protobuf/empty_pb.js') as { Empty: PbClass<PbMessage> };

const codeOf = (e: unknown) => (isAuditError(e) ? e.code : String(e));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

/** Retries `f` while it fails with LEDGER_UNAVAILABLE (the channel reconnecting), as a client would. */
async function whenBack<T>(f: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (codeOf(e) !== 'LEDGER_UNAVAILABLE' || e instanceof ImmudbSetupRefused || Date.now() > deadline) throw e;
      await sleep(100);
    }
  }
}

/**
 * A TCP relay in front of immudb. It can stop forwarding, as a network partition does (calls on the
 * wire then get no answer at all), and it counts the gRPC calls that pass (a client's HTTP/2
 * HEADERS frames), so a test can act as the n-th call reaches immudb. Not a stand-in for immudb,
 * which answers everything.
 */
async function startRelay(
  targetPort: number,
  onCall?: (n: number) => void,
): Promise<{ address: string; calls(): number; freeze(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let frozen = false;
  let calls = 0;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server: Server = createServer((client) => {
    track(client);
    if (frozen) return void client.pause();
    const upstream = connect(targetPort, '127.0.0.1');
    track(upstream);
    // Client to server: the 24-byte connection preface, then frames of a 9-byte header each.
    let pending = Buffer.alloc(0);
    let prefaceLeft = 24;
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      const skip = Math.min(prefaceLeft, pending.length);
      prefaceLeft -= skip;
      pending = pending.subarray(skip);
      while (prefaceLeft === 0 && pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        if (pending[3] === 0x1) onCall?.(++calls);
        pending = pending.subarray(9 + length);
      }
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    calls: () => calls,
    freeze() {
      frozen = true;
      for (const s of sockets) {
        s.removeAllListeners('data');
        s.unpipe();
        s.pause();
      }
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** immudb's own answer to a unary call on a raw channel: the reply, or the gRPC status and text. */
function rawCall(client: grpc.Client & Record<string, unknown>, method: string, request: unknown, token: string) {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return new Promise<{ reply?: { getToken(): string }; code?: number; details?: string }>((resolve) =>
    (client[method] as (...a: unknown[]) => void).call(
      client,
      request,
      metadata,
      { deadline: Date.now() + 5_000 },
      (err: grpc.ServiceError | null, reply: { getToken(): string }) => resolve(err ? { code: err.code, details: err.details } : { reply }),
    ),
  );
}

// A private server of each tested version (their binaries): these tests kill and restart it.
const tested = immudbServers.map((s) => s.version).filter((v) => immudbBinaries[v]);

describe.skipIf(tested.length === 0).each(tested.length ? tested : ['none'])('immudb sessions (immudb %s)', (version) => {
  let server: ManagedServer;
  const crashes: unknown[] = [];
  const onCrash = (e: unknown) => void crashes.push(e);

  beforeAll(async () => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    server = await startImmudb(immudbBinaries[version]!);
  });
  afterAll(async () => {
    await server?.destroy();
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
    // Late rejections (a call settling after its test) would show up here.
    expect(crashes.map((e) => inspect(e))).toEqual([]);
  });

  it('killed as each call of the connect reaches it: LEDGER_UNAVAILABLE, no crash; after the restart the database opens and works', async () => {
    // A fresh database takes five calls: Health, Login, UseDatabase (missing), CreateDatabaseV2, UseDatabase.
    const outcomes: string[] = [];
    for (const killAt of [1, 2, 3, 4, 5]) {
      const database = uniqueDatabase();
      const dataDir = tempDir();
      let killing: Promise<void> | null = null;
      const relay = await startRelay(server.port, (n) => {
        if (n === killAt) killing = server.kill();
      });
      try {
        const opened = await settle(openTestImmudbLedger({ address: relay.address, database, dataDir, callTimeoutMs: 1_000 }));
        expect(killing, `call ${killAt} was never made`).not.toBeNull();
        await killing;
        outcomes.push('error' in opened ? codeOf(opened.error) : 'ok');
        if ('value' in opened) await opened.value.close();
      } finally {
        await relay.close();
      }
      await server.start();
      // Whatever the kill left behind (a login, a database half created, no trusted state yet).
      const again = await whenBack(() => openTestImmudbLedger({ address: server.address, database, dataDir }));
      try {
        const [r] = await again.append([ev({ correlationId: 'after-kill' })]);
        const got = await again.getVerified(r!.event.record.eventId);
        expect(verifyProofBundle(got!.proof).ok).toBe(true);
      } finally {
        await again.close();
      }
    }
    // The last call's answer may beat the kill; the others cannot have been answered completely.
    expect(outcomes.slice(0, 4)).toEqual(Array(4).fill('LEDGER_UNAVAILABLE'));
    expect(['ok', 'LEDGER_UNAVAILABLE']).toContain(outcomes[4]);
    expect(crashes).toEqual([]);
  });

  it('killed at moments while the ledger connects: LEDGER_UNAVAILABLE or connected, never anything else', async () => {
    for (const delay of [0, 5, 20, 60]) {
      const opening = settle(openTestImmudbLedger({ address: server.address, callTimeoutMs: 1_000 }));
      await sleep(delay);
      await server.kill();
      const opened = await opening;
      if ('error' in opened) expect(codeOf(opened.error)).toBe('LEDGER_UNAVAILABLE');
      else await opened.value.close();
      await server.start();
    }
    expect(crashes).toEqual([]);
  });

  it('killed with calls in flight: each settles with LEDGER_UNAVAILABLE; after the restart the same ledger object writes and reads again by itself', async () => {
    const ledger = await openTestImmudbLedger({ address: server.address, callTimeoutMs: 1_000 });
    const acked: string[] = [];
    const failures: string[] = [];
    let phase: 'before' | 'down' | 'after' = 'before';
    const worked = { write: { before: 0, after: 0 }, read: { before: 0, after: 0 } } as Record<'write' | 'read', Record<'before' | 'after', number>>;
    let stop = false;
    const loop = (kind: 'write' | 'read') =>
      (async () => {
        while (!stop) {
          const at = phase;
          try {
            if (kind === 'write') {
              const [r] = await ledger.append([ev({ correlationId: 'in-flight' })]);
              acked.push(r!.event.record.eventId);
            } else {
              await ledger.scanTimeline('in-flight', { limit: 20, direction: 'desc' });
              if (acked.length) await ledger.getVerified(acked[acked.length - 1]!);
            }
            if (at !== 'down' && phase === at) worked[kind][at]++;
          } catch (e) {
            failures.push(codeOf(e));
            await sleep(20);
          }
        }
      })();
    const loops = [...Array.from({ length: 4 }, () => loop('write')), ...Array.from({ length: 4 }, () => loop('read'))];
    while (acked.length < 20) await sleep(10);
    phase = 'down';
    await server.kill(); // with 8 loops running, calls are on the wire
    const t0 = Date.now();
    while (failures.length < 8 && Date.now() - t0 < 5_000) await sleep(10);
    expect(failures.length).toBeGreaterThanOrEqual(8);
    // While it is down, a call fails within its deadline, never hangs.
    const down = Date.now();
    expect(codeOf(await ledger.ping().catch((e) => e))).toBe('LEDGER_UNAVAILABLE');
    expect(Date.now() - down).toBeLessThan(2_000);
    await server.start();
    phase = 'after';
    const back = Date.now();
    while ((worked.write.after < 5 || worked.read.after < 5) && Date.now() - back < 20_000) await sleep(20);
    stop = true;
    await Promise.all(loops);

    expect(worked.write.after).toBeGreaterThanOrEqual(5);
    expect(worked.read.after).toBeGreaterThanOrEqual(5);
    expect(new Set(failures)).toEqual(new Set(['LEDGER_UNAVAILABLE']));
    // Everything acknowledged, before and after the kill, reads back verified.
    for (const id of [acked[0]!, acked[19]!, acked[acked.length - 1]!]) {
      const got = await ledger.getVerified(id);
      expect(got?.event.record.eventId, id).toBe(id);
      expect(verifyProofBundle(got!.proof).ok).toBe(true);
    }
    await ledger.close();
    expect(crashes).toEqual([]);
  });

  it('renews its token after a restart: immudb 1.10/1.11 answers a forgotten token with texts the session recognises; concurrent calls share one login', async () => {
    const database = uniqueDatabase();
    const session = new ImmudbSession({ address: server.address, user: 'immudb', password: 'immudb', database, callTimeoutMs: 2_000 });
    const client = new services.ImmuServiceClient(server.address, grpc.credentials.createInsecure());
    try {
      await session.connect();
      expect(session.logins).toBe(1);
      // Tokens of our own, to ask immudb what it says to them after the restart.
      const login = new pb.LoginRequest();
      login.setUser(Buffer.from('immudb'));
      login.setPassword(Buffer.from('immudb'));
      const loginToken = (await rawCall(client, 'login', login, '')).reply!.getToken();
      const db = new pb.Database();
      db.setDatabasename(database);
      const dbToken = (await rawCall(client, 'useDatabase', db, loginToken)).reply!.getToken();

      await server.kill();
      await server.start();
      await whenBack(() => session.call('health', session.empty())); // Health needs no token: the channel is back

      const answers = [await rawCall(client, 'currentState', new Empty(), dbToken), await rawCall(client, 'useDatabase', db, loginToken)];
      const texts = answers.map((a) => `${grpc.status[a.code!]}: ${a.details}`);
      expect(texts).toEqual(['UNKNOWN: not logged in', 'UNAUTHENTICATED: Please login']);
      for (const a of answers) expect(isAuthFailure(new ImmudbError(a.code!, a.details!)), `${a.code} ${a.details}`).toBe(true);

      // Ten calls meet the forgotten token together: one login renews it for all of them.
      const states = await Promise.all(Array.from({ length: 10 }, () => session.call('currentState', session.empty())));
      expect(states.every((s) => s.getDb() === database)).toBe(true);
      expect(session.logins).toBe(2);
      // Bytes calls renew too (another restart).
      await server.kill();
      await server.start();
      await whenBack(() => session.call('health', session.empty()));
      await session.callBytes('TxScan', encodeTxScanRequest(1, 1));
      expect(session.logins).toBe(3);
    } finally {
      client.close();
      session.close();
    }
    expect(crashes).toEqual([]);
  });

  it('close() settles the calls in flight at once, even when immudb does not answer; later calls fail too', async () => {
    const relay = await startRelay(server.port);
    try {
      // A deadline far away: what settles the calls must be close(), not the deadline.
      const session = new ImmudbSession({ address: relay.address, user: 'immudb', password: 'immudb', database: uniqueDatabase(), callTimeoutMs: 60_000 });
      await session.connect();
      relay.freeze();
      const calls = [
        session.call('currentState', session.empty()),
        session.call('health', session.empty()),
        session.callBytes('TxScan', encodeTxScanRequest(1, 10)),
      ];
      await sleep(300);
      const t0 = Date.now();
      session.close();
      session.close(); // twice is harmless
      const settled = await Promise.allSettled(calls);
      expect(Date.now() - t0).toBeLessThan(1_000);
      for (const s of settled)
        expect(s).toMatchObject({ status: 'rejected', reason: { code: 'LEDGER_UNAVAILABLE', message: 'the ledger connection is closed' } });
      await expect(session.call('health', session.empty())).rejects.toMatchObject({ code: 'LEDGER_UNAVAILABLE', message: 'the ledger connection is closed' });

      // The same while connecting: the connect settles.
      const connecting = new ImmudbSession({ address: relay.address, user: 'immudb', password: 'immudb', database: 'defaultdb', callTimeoutMs: 60_000 });
      const pending = connecting.connect();
      await sleep(300);
      connecting.close();
      await expect(pending).rejects.toMatchObject({ code: 'LEDGER_UNAVAILABLE' });
    } finally {
      await relay.close();
    }

    // The ledger: writes already taken finish, reads settle, later calls are refused.
    const ledger = await openTestImmudbLedger({ address: server.address, callTimeoutMs: 60_000 });
    const [first] = await ledger.append([ev({ correlationId: 'closing' })]);
    const writes = Array.from({ length: 10 }, () => ledger.append([ev({ correlationId: 'closing' })]));
    const reads = Array.from({ length: 10 }, (_, i) =>
      i % 2 ? ledger.scanTimeline('closing', { limit: 50, direction: 'asc' }) : ledger.getVerified(first!.event.record.eventId),
    );
    const t0 = Date.now();
    await ledger.close();
    const settled = await Promise.allSettled([...writes, ...reads]);
    expect(Date.now() - t0).toBeLessThan(5_000);
    for (const s of settled) if (s.status === 'rejected') expect(codeOf(s.reason)).toBe('LEDGER_UNAVAILABLE');
    expect(settled.slice(0, 10).every((s) => s.status === 'fulfilled')).toBe(true);
    expect(codeOf(await ledger.scanTimeline('closing', { limit: 1, direction: 'asc' }).catch((e) => e))).toBe('LEDGER_UNAVAILABLE');
    expect(codeOf(await ledger.append([ev()]).catch((e) => e))).toBe('LEDGER_UNAVAILABLE');
    expect(crashes).toEqual([]);
  });

  it('a wrong password: ImmudbSetupRefused (LEDGER_UNAVAILABLE) saying so, with the password nowhere in it', async () => {
    const password = 'Wr0ng-s3cret-pw-5e1d';
    const dataDir = tempDir();
    const err = await openImmudbLedger({ address: server.address, user: 'immudb', password, database: uniqueDatabase(), dataDir }).catch((e) => e);
    expect(err).toBeInstanceOf(ImmudbSetupRefused);
    expect(err).toMatchObject({
      code: 'LEDGER_UNAVAILABLE',
      setting: 'login',
      message: `immudb at ${server.address} refused the login of user "immudb": invalid user name or password`,
    });
    // Not in the error, its causes, their stacks or fields.
    expect(inspect(err, { depth: 10 })).not.toContain(password);
    expect(JSON.stringify(err)).not.toContain(password);
  });

  it('creates a missing database with CreateDatabaseV2: the settings asked for, also when three gateways race to create it', async () => {
    const database = uniqueDatabase();
    const open = () =>
      openImmudbLedger({
        address: server.address,
        user: 'immudb',
        password: 'immudb',
        database,
        dataDir: tempDir(),
        syncFrequencyMs: 7,
        writeTxHeaderVersion: 0,
      });
    const ledgers = await Promise.all([open(), open(), open()]);
    try {
      expect(await databaseSettings(server.address, database)).toEqual({
        maxTxEntries: GATEWAY_DB_MAX_TX_ENTRIES,
        writeTxHeaderVersion: 0,
        syncFrequencyMs: 7,
      });
      // A compatibility-mode database writes immudb 1.1's v0 headers; the proofs still verify.
      for (const ledger of ledgers) {
        const [r] = await ledger.append([ev({ correlationId: 'v0' })]);
        expect(r!.proof.tx.version).toBe(0);
        expect(verifyProofBundle(r!.proof).ok).toBe(true);
      }
    } finally {
      await Promise.all(ledgers.map((l) => l.close()));
    }

    // Without the options: immudb's v1 headers, the gateway's maxTxEntries and syncFrequency.
    const plain = uniqueDatabase();
    const ledger = await openTestImmudbLedger({ address: server.address, database: plain });
    try {
      expect(await databaseSettings(server.address, plain)).toEqual({
        maxTxEntries: GATEWAY_DB_MAX_TX_ENTRIES,
        writeTxHeaderVersion: 1,
        syncFrequencyMs: GATEWAY_DB_SYNC_FREQUENCY_MS,
      });
      const [r] = await ledger.append([ev()]);
      expect(r!.proof.tx.version).toBe(1);
    } finally {
      await ledger.close();
    }
  });

  it('refuses a database name immudb would store under another name, and wrong settings by name', async () => {
    const upper = `Audit${uniqueDatabase()}`;
    const err = await openImmudbLedger({ address: server.address, user: 'immudb', password: 'immudb', database: upper, dataDir: tempDir() }).catch((e) => e);
    expect(err).toMatchObject({
      code: 'LEDGER_UNAVAILABLE',
      setting: 'database',
      message: expect.stringContaining(`use ${JSON.stringify(upper.toLowerCase())}`),
    });
    const bad = await openImmudbLedger({
      address: server.address,
      user: 'immudb',
      password: 'immudb',
      database: uniqueDatabase(),
      dataDir: tempDir(),
      syncFrequencyMs: -1,
    }).catch((e) => e);
    expect(String(bad)).toMatch(/createDatabaseSyncFrequencyMs must be a whole number/);
    const header = await openImmudbLedger({
      address: server.address,
      user: 'immudb',
      password: 'immudb',
      database: uniqueDatabase(),
      dataDir: tempDir(),
      writeTxHeaderVersion: 2 as 0,
    }).catch((e) => e);
    expect(String(header)).toMatch(/createDatabaseWriteTxHeaderVersion must be a whole number from 0 to 1/);
  });
});
