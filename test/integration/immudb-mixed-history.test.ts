/**
 * One database whose history holds both tx header versions: written first in compatibility mode
 * (writeTxHeaderVersion 0, the headers of immudb 1.1), then switched to v1 headers. Databases
 * upgraded from 1.1, or switched out of compatibility mode, look like this, and every proof across
 * the boundary must still verify, in the gateway and offline.
 *
 * immudb 1.10/1.11 save a changed writeTxHeaderVersion (UpdateDatabaseV2) but a loaded database
 * keeps writing with the version its store was opened with; it takes effect when the store is
 * reopened: UnloadDatabase + LoadDatabase, or a server restart.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/events/types.ts';
import { pb } from '../../src/ledger/immudb/grpc.ts';
import { eventWrite } from '../../src/ledger/immudb/immudb-ledger.ts';
import { GATEWAY_DB_MAX_TX_ENTRIES } from '../../src/ledger/immudb/index.ts';
import { decodeTxMetadata } from '../../src/ledger/immudb/wire-decode.ts';
import { encodeExecAllRequest } from '../../src/ledger/immudb/wire-encode.ts';
import type { AppendResult } from '../../src/ledger/port.ts';
import type { LedgerState, ProofBundle, TxHeaderJson } from '../../src/proof/types.ts';
import { verifyProofBundle } from '../../src/proof/verify.ts';
import { ev } from '../contract/ledger-contract.ts';
import { createDatabase, databaseSettings, RawImmudbClient, reloadDatabase, updateDatabase } from '../support/immudb-admin.ts';
import { startImmudb, type ManagedServer } from '../support/servers.ts';
import { immudbBinaries, openTestImmudbLedger, uniqueDatabase } from '../support/services.ts';

type TestLedger = Awaited<ReturnType<typeof openTestImmudbLedger>>;

const root = fileURLToPath(new URL('../..', import.meta.url));
const cliDir = mkdtempSync(join(tmpdir(), 'auditgraph-mixed-'));
let cliFiles = 0;

/** `auditgraph verify <file> --trusted id:hash` as a user runs it. */
function cliVerify(bundle: ProofBundle, trusted: LedgerState) {
  const file = join(cliDir, `bundle-${cliFiles++}.json`);
  writeFileSync(file, JSON.stringify(bundle));
  const r = spawnSync(process.execPath, [join(root, 'bin/auditgraph.mjs'), 'verify', file, '--trusted', `${trusted.txId}:${trusted.txHash}`], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

const state = (s: LedgerState): LedgerState => ({ txId: s.txId, txHash: s.txHash });
const versionsOf = (b: ProofBundle) => ({ tx: b.tx.version, source: b.dualProof.sourceTx.version, target: b.dualProof.targetTx.version });

/**
 * Every copy of the header of tx `id` in the bundle (bundle.tx and its side of the dual proof)
 * changed alike, so what refuses it is the hashing, not a mismatch between the copies.
 */
function tamperHeader(bundle: ProofBundle, id: string, change: (h: TxHeaderJson) => void): ProofBundle {
  const b = structuredClone(bundle);
  const copies = [b.tx, b.dualProof.sourceTx, b.dualProof.targetTx].filter((h) => h.id === id);
  expect(copies.length).toBeGreaterThan(0);
  copies.forEach(change);
  return b;
}

/** A canonical TxMetadata (one byte of extra data): well-formed, so only the hashes can refuse it. */
const SOME_TX_METADATA = '0100012a';

/** The CLI takes the bundle, and refuses it once either header's version or metadata is changed. */
function expectCliVerdicts(bundle: ProofBundle, trusted: LedgerState) {
  const ok = cliVerify(bundle, trusted);
  expect(ok.out).toMatch(/^valid: /);
  expect(ok.status).toBe(0);
  const headers = [bundle.tx, bundle.dualProof.sourceTx, bundle.dualProof.targetTx];
  for (const id of new Set([bundle.tx.id, bundle.trustedState.txId])) {
    const v1 = headers.find((h) => h.id === id)!.version === 1;
    const flipVersion = tamperHeader(bundle, id, (h) => {
      h.version = 1 - h.version;
    });
    const withMetadata = tamperHeader(bundle, id, (h) => {
      h.metadata = SOME_TX_METADATA;
    });
    // Either version with empty metadata is well-formed, as is that metadata in a v1 header (only a
    // v0 header must have none): then nothing but the hashes can refuse it.
    for (const [bad, wellFormed] of [
      [flipVersion, true],
      [withMetadata, v1],
    ] as const) {
      expect(verifyProofBundle(bad, trusted).ok).toBe(false);
      const r = cliVerify(bad, trusted);
      expect(r.out).toMatch(wellFormed ? /^invalid: (inclusion|dualProof\.[a-zA-Z]+): / : /^invalid: format: /);
      expect(r.status).toBe(1);
    }
  }
}

/** Waits until the ledger reaches immudb again (after a restart its channel reconnects with backoff). */
async function reachable(ledger: TestLedger): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await ledger.ping();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const CORR = 'mixed-history';
const batch = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ev({ correlationId: i % 2 ? CORR : `${CORR}-${tag}`, data: { tag, i } }));

const versions = (['1.11.1', '1.10.0'] as const).filter((v) => immudbBinaries[v]);
if (versions.length === 0) describe.skip('mixed v0/v1 history (no immudb binary)', () => it('runs', () => {}));

for (const version of versions) {
  describe(`mixed v0/v1 header history (private immudb ${version})`, () => {
    let server: ManagedServer;
    beforeAll(async () => {
      server = await startImmudb(immudbBinaries[version]!);
    });
    afterAll(async () => {
      await server?.destroy();
    });

    /**
     * Writes the v0 part, switches (`how`), writes the v1 part. Returns what was written on each
     * side and the trusted state at the end of each.
     */
    async function mixedHistory(ledger: TestLedger, database: string, how: 'reload' | 'restart') {
      const v0: AppendResult[] = [];
      for (let i = 0; i < 3; i++) v0.push(...(await ledger.append(batch(4, `v0-${i}`))));
      for (const r of v0) {
        expect(versionsOf(r.proof)).toEqual({ tx: 0, source: 0, target: 0 });
        expect(r.proof.tx.metadata).toBe('');
      }

      expect(await updateDatabase(server.address, database, { writeTxHeaderVersion: 1 })).toMatchObject({
        maxTxEntries: GATEWAY_DB_MAX_TX_ENTRIES,
        writeTxHeaderVersion: 1,
      });
      // Saved, not yet in force: the open store still writes v0 headers.
      const [stillV0] = await ledger.append(batch(1, 'saved-only'));
      expect(stillV0!.proof.tx.version).toBe(0);
      v0.push(stillV0!);
      const s0 = state(await ledger.trustedState());
      expect(s0.txId).toBe(stillV0!.event.txId);

      if (how === 'reload') await reloadDatabase(server.address, database);
      else {
        await server.kill();
        await server.start();
        await reachable(ledger);
      }
      expect(await databaseSettings(server.address, database)).toMatchObject({ maxTxEntries: GATEWAY_DB_MAX_TX_ENTRIES, writeTxHeaderVersion: 1 });

      const v1: AppendResult[] = [];
      for (let i = 0; i < 3; i++) v1.push(...(await ledger.append(batch(4, `v1-${i}`))));
      for (const r of v1) {
        expect(r.proof.tx.version).toBe(1);
        expect(r.proof.tx.metadata).toBe(''); // no truncation, no extra: what immudb writes here
      }
      // The write path itself crossed the boundary: the first v1 tx was proven from the v0 state S0.
      expect(v1[0]!.proof.trustedState).toEqual(s0);
      expect(versionsOf(v1[0]!.proof)).toEqual({ tx: 1, source: 0, target: 1 });
      const s1 = state(await ledger.trustedState());
      expect(s1.txId).toBe(v1[v1.length - 1]!.event.txId);
      return { v0, v1, s0, s1 };
    }

    /** The old side proven to the new state and the new side to the old one. */
    async function crossProofs(ledger: TestLedger, { v0, v1, s0, s1 }: Awaited<ReturnType<typeof mixedHistory>>) {
      const old = v0[1]!;
      const fwd = await ledger.getVerified(old.event.record.eventId, s1);
      expect(fwd!.event.record).toEqual(old.event.record);
      expect(fwd!.proof.trustedState).toEqual(s1);
      // tx (v0) is the source, the trusted v1 tx the target.
      expect(versionsOf(fwd!.proof)).toEqual({ tx: 0, source: 0, target: 1 });
      expect(fwd!.proof.dualProof.targetTx.id).toBe(s1.txId);
      expect(fwd!.proof.state).toMatchObject(s1);
      expect(verifyProofBundle(fwd!.proof, s1)).toMatchObject({ ok: true });

      const young = v1[v1.length - 2]!;
      const back = await ledger.getVerified(young.event.record.eventId, s0);
      expect(back!.event.record).toEqual(young.event.record);
      expect(back!.proof.trustedState).toEqual(s0);
      // The trusted v0 tx is the source, tx (v1) the target.
      expect(versionsOf(back!.proof)).toEqual({ tx: 1, source: 0, target: 1 });
      expect(back!.proof.dualProof.sourceTx.id).toBe(s0.txId);
      expect(back!.proof.state.txId).toBe(young.event.txId);
      expect(verifyProofBundle(back!.proof, s0)).toMatchObject({ ok: true });

      // Each is tied to its own trusted state only.
      expect(verifyProofBundle(fwd!.proof, s0).ok).toBe(false);
      expect(verifyProofBundle(back!.proof, s1).ok).toBe(false);
      return { fwd: fwd!.proof, back: back!.proof };
    }

    /** Writes, reads by id, timelines, followers' reads and proofs without a given state, all across the switch. */
    async function keepsWorking(ledger: TestLedger, { v0, v1 }: Awaited<ReturnType<typeof mixedHistory>>) {
      const after = await ledger.append(batch(3, 'after'));
      const all = [...v0, ...v1, ...after];
      const ids = all.map((r) => r.event.record.eventId);
      expect((await ledger.getMany(ids)).map((e) => e?.record.eventId)).toEqual(ids);

      const timeline = all.filter((r) => r.event.record.correlationId === CORR).map((r) => r.event.record);
      timeline.sort((a, b) => (a.timestamp === b.timestamp ? (a.eventId < b.eventId ? -1 : 1) : a.timestamp < b.timestamp ? -1 : 1));
      expect((await ledger.scanTimeline(CORR, { limit: 100, direction: 'asc' })).events.map((e) => e.record)).toEqual(timeline);
      expect((await ledger.scanTimeline(CORR, { limit: 100, direction: 'desc' })).events.map((e) => e.record)).toEqual([...timeline].reverse());

      const txs = await ledger.readTransactions('0', 100);
      expect(txs.flatMap((t) => t.events.map((e) => e.record.eventId))).toEqual(ids);

      // The ledger's own trusted state (v1 by now) for events of both sides.
      for (const r of [v0[0]!, v1[0]!, after[0]!]) {
        const again = await ledger.getVerified(r.event.record.eventId);
        expect(again!.proof.tx).toEqual(r.proof.tx);
        expect(verifyProofBundle(again!.proof).ok).toBe(true);
      }
    }

    async function compatDatabase() {
      const database = uniqueDatabase();
      // The gateway's maxTxEntries, so its largest batches still fit one tx.
      expect(await createDatabase(server.address, database, { writeTxHeaderVersion: 0 })).toMatchObject({
        maxTxEntries: GATEWAY_DB_MAX_TX_ENTRIES,
        writeTxHeaderVersion: 0,
      });
      return { database, ledger: await openTestImmudbLedger({ address: server.address, database }) };
    }

    it('switched by UnloadDatabase + LoadDatabase: proofs across the v0 → v1 boundary verify both ways, in the gateway and the CLI', async () => {
      const { database, ledger } = await compatDatabase();
      try {
        const history = await mixedHistory(ledger, database, 'reload');
        const { fwd, back } = await crossProofs(ledger, history);
        expectCliVerdicts(fwd, history.s1);
        expectCliVerdicts(back, history.s0);
        await keepsWorking(ledger, history);
      } finally {
        await ledger.close();
      }
    }, 120_000);

    it('switched by a server restart: the same', async () => {
      const { database, ledger } = await compatDatabase();
      try {
        const history = await mixedHistory(ledger, database, 'restart');
        await crossProofs(ledger, history);
        await keepsWorking(ledger, history);
      } finally {
        await ledger.close();
      }
    }, 120_000);
  });
}

/**
 * A database that immudb 1.1.0 wrote (v0 headers, its own hashing), taken over by 1.11.1 on the
 * same data directory, as an upgrade in place does. The 1.1.0 part is written with bare calls: the
 * gateway's session refuses a 1.1.0 server.
 */
const from110 = immudbBinaries['1.1.0'];
const to1111 = immudbBinaries['1.11.1'];
(from110 && to1111 ? describe : describe.skip)('history written by immudb 1.1.0, continued by 1.11.1 on the same data directory', () => {
  it('proves 1.1.0 txs to states 1.11.1 reached, and 1.11.1 txs to the state 1.1.0 reported', async () => {
    const old = await startImmudb(from110!);
    let upgraded: ManagedServer | undefined;
    try {
      const database = uniqueDatabase();
      const oldEvents: NewEvent[] = [];
      const raw = new RawImmudbClient(old.address);
      let reportedBy110: LedgerState;
      try {
        await raw.open(database, GATEWAY_DB_MAX_TX_ENTRIES);
        // What a gateway of the 1.1 days wrote (its ExecAll of entry and id reference per event) …
        for (let i = 0; i < 3; i++) {
          const events = batch(3, `1.1.0-${i}`);
          const tx = decodeTxMetadata(await raw.call('ExecAll', encodeExecAllRequest(events.map((e) => eventWrite(e.record)))));
          expect(tx.version).toBe(0);
          oldEvents.push(...events);
        }
        // … and a plain entry of another client, which the gateway's reads must pass over.
        const kv = new pb.KeyValue();
        kv.setKey(Buffer.from('other-client/1'));
        kv.setValue(Buffer.from('not an event'));
        const set = new pb.SetRequest();
        set.setKvsList([kv]);
        await raw.call('Set', set.serializeBinary());
        reportedBy110 = await raw.state();
      } finally {
        raw.close();
      }
      await old.kill();
      upgraded = await startImmudb(to1111!, undefined, ['--dir', join(old.dir, 'data')]);

      const ledger = await openTestImmudbLedger({ address: upgraded.address, database });
      try {
        // First use takes 1.11.1's current state after checking it: the very state 1.1.0 reported.
        expect(state(await ledger.trustedState())).toEqual(reportedBy110);

        // 1.1.0 saved no maxTxEntries or writeTxHeaderVersion for the database: 1.11.1 takes its
        // defaults. Its store still accepts the 2,000 entries it was created with, but 1.10/1.11's
        // indexer sizes its tx buffer by this 1,024 (embedded/store/indexer.go): a tx of more entries
        // stalls indexing for good ("maximum number of TX entries exceeded"), and with it every later
        // write. So batches here stay small, and a gateway must not assume 2,000 for such a database.
        expect(await databaseSettings(upgraded.address, database)).toMatchObject({ maxTxEntries: 1024, writeTxHeaderVersion: 1 });

        // New txs get v1 headers; the first is proven, as it is written, from the v0 state.
        const fresh = await ledger.append(batch(3, '1.11.1'));
        expect(versionsOf(fresh[0]!.proof)).toEqual({ tx: 1, source: 0, target: 1 });
        expect(fresh[0]!.proof.trustedState).toEqual(reportedBy110);
        fresh.push(...(await ledger.append(batch(2, '1.11.1-more'))));
        const s1 = state(await ledger.trustedState());

        const fwd = await ledger.getVerified(oldEvents[1]!.record.eventId, s1);
        expect(fwd!.event.record).toEqual(oldEvents[1]!.record);
        expect(versionsOf(fwd!.proof)).toEqual({ tx: 0, source: 0, target: 1 });
        expect(verifyProofBundle(fwd!.proof, s1)).toMatchObject({ ok: true });
        const back = await ledger.getVerified(fresh[1]!.event.record.eventId, reportedBy110);
        expect(versionsOf(back!.proof)).toEqual({ tx: 1, source: 0, target: 1 });
        expect(verifyProofBundle(back!.proof, reportedBy110)).toMatchObject({ ok: true });
        for (const [bundle, trusted] of [
          [fwd!.proof, s1],
          [back!.proof, reportedBy110],
        ] as const) {
          const r = cliVerify(bundle, trusted);
          expect(r.out).toMatch(/^valid: /);
          expect(r.status).toBe(0);
        }

        // Followers read both sides in commit order, the other client's entry left out.
        const txs = await ledger.readTransactions('0', 100);
        const ids = [...oldEvents.map((e) => e.record.eventId), ...fresh.map((r) => r.event.record.eventId)];
        expect(txs.flatMap((t) => t.events.map((e) => e.record.eventId))).toEqual(ids);
        expect((await ledger.scanTimeline(CORR, { limit: 100, direction: 'asc' })).events.map((e) => e.record.eventId)).toEqual(
          [...oldEvents.map((e) => e.record), ...fresh.map((r) => r.event.record)].filter((r) => r.correlationId === CORR).map((r) => r.eventId),
        );
      } finally {
        await ledger.close();
      }
    } finally {
      await upgraded?.destroy();
      await old.destroy(); // the data directory both used
    }
  }, 120_000);
});
