/**
 * Issue 21 over GraphQL, on immudb 1.11.1 and the embedded ledger: `verifyAuditEvent(eventId,
 * trustedTxId)` bundles start from exactly the state saved at that tx and verify offline (library
 * and `auditgraph verify --trusted`); `consistencyProof(fromTxId, toTxId)` documents verify between
 * the saved states; bad ids are BAD_USER_INPUT naming the argument. And the refusals: a gateway
 * whose trusted state is not in the ledger's history answers VERIFICATION_FAILED; a client holding
 * a state of another history (a fork) finds that the proofs it gets do not start from it.
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVerify } from '../../src/cli/verify.ts';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import type { Ledger } from '../../src/ledger/port.ts';
import { verifyConsistencyProof } from '../../src/proof/consistency.ts';
import type { LedgerState, ProofBundle } from '../../src/proof/types.ts';
import { verifyProofBundle } from '../../src/proof/verify.ts';
import { ev } from '../contract/ledger-contract.ts';
import type { GraphQLErrorJson } from '../support/api-types.ts';
import { CREATE, eventInput, startTestServer, type TestServer } from '../support/graphql.ts';
import { describeImmudb, openTestImmudbLedger, tempDir, uniqueDatabase } from '../support/services.ts';

const VERIFY = `query ($id: ID!, $t: String) { verifyAuditEvent(eventId: $id, trustedTxId: $t) { verified eventId proof { verified txId json } } }`;
const CONSISTENCY = `query ($from: String!, $to: String) { consistencyProof(fromTxId: $from, toTxId: $to) { fromTxId toTxId json } }`;
const STATE = '{ ledgerState { txId txHash } }';

interface VerifyData {
  verifyAuditEvent: { verified: boolean; eventId: string; proof: { verified: boolean; txId: string; json: ProofBundle } };
}
interface ConsistencyData {
  consistencyProof: { fromTxId: string; toTxId: string; json: string };
}

const codeOf = (errors: GraphQLErrorJson[] | undefined) => errors?.map((e) => [e.extensions?.code, ...(e.extensions?.violations ?? []).map((v) => v.path)]);

async function cliVerify(bundle: unknown, trusted: LedgerState) {
  const text = JSON.stringify(bundle);
  return runVerify(['-', '--trusted', `${trusted.txId}:${trusted.txHash}`], { readFile: async () => text, readStdin: async () => text });
}

function anchoredSuite(name: string, open: () => Promise<Ledger>) {
  describe(`anchored and consistency proofs over GraphQL: ${name}`, () => {
    let s: TestServer;
    const events: { eventId: string; txId: string }[] = [];
    const states: LedgerState[] = [];

    beforeAll(async () => {
      s = await startTestServer({ ledger: await open() });
      for (let i = 0; i < 12; i++) {
        const r = await s.gql(CREATE, { input: eventInput({ correlationId: 'anchored-gql' }) });
        expect(r.body.errors).toBeUndefined();
        const { event } = r.body.data!.createAuditEvent;
        events.push({ eventId: event.eventId, txId: event.ledger.txId });
        const st = await s.gql<{ ledgerState: LedgerState }>(STATE);
        states.push(st.body.data!.ledgerState);
      }
    }, 60_000);
    afterAll(async () => {
      await s?.close();
      await s?.ledger.close();
    });

    it('verifyAuditEvent(eventId, trustedTxId): the proof starts from exactly the saved state, before or after the event, and verifies offline', async () => {
      let checked = 0;
      for (const [i, e] of events.entries()) {
        for (const state of [states[0]!, states[3]!, states[i]!, states[7]!, states[11]!]) {
          const r = await s.gql<VerifyData>(VERIFY, { id: e.eventId, t: state.txId });
          expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
          const v = r.body.data!.verifyAuditEvent;
          expect(v).toMatchObject({ verified: true, eventId: e.eventId, proof: { verified: true, txId: e.txId } });
          const bundle = v.proof.json;
          expect(bundle.trustedState).toEqual(state);
          expect(bundle.state.txId).toBe(BigInt(state.txId) > BigInt(e.txId) ? state.txId : e.txId);
          expect(verifyProofBundle(bundle, state)).toMatchObject({ ok: true, txId: e.txId });
          const cli = await cliVerify(bundle, state);
          expect(cli.exitCode, cli.stdout.join(' ')).toBe(0);
          const tampered = structuredClone(bundle);
          tampered.entry.value = Buffer.from(`${Buffer.from(tampered.entry.value, 'base64').toString()} `).toString('base64');
          expect(verifyProofBundle(tampered, state).ok).toBe(false);
          expect((await cliVerify(tampered, state)).exitCode).toBe(1);
          checked++;
        }
      }
      expect(checked).toBe(60);
      // Without trustedTxId (or with null): from the gateway's trusted state, as before.
      const now = (await s.gql<{ ledgerState: LedgerState }>(STATE)).body.data!.ledgerState;
      for (const t of [undefined, null]) {
        const r = await s.gql<VerifyData>(VERIFY, { id: events[2]!.eventId, t });
        expect(r.body.data!.verifyAuditEvent.proof.json.trustedState).toEqual(now);
      }
    });

    it('consistencyProof(fromTxId, toTxId): the document verifies between the saved states; toTxId omitted is the newest', async () => {
      for (const [a, b] of [
        [0, 11],
        [3, 7],
        [5, 5],
        [10, 11],
        [0, 0],
      ] as const) {
        const r = await s.gql<ConsistencyData>(CONSISTENCY, { from: states[a]!.txId, to: states[b]!.txId });
        expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
        const p = r.body.data!.consistencyProof;
        expect(p).toMatchObject({ fromTxId: states[a]!.txId, toTxId: states[b]!.txId });
        const doc = JSON.parse(p.json);
        expect(doc).toMatchObject({ format: 'auditgraph.consistency.v1', ledger: s.ledger.kind, database: s.ledger.database, from: states[a], to: states[b] });
        expect(Object.keys(doc.dualProof.sourceTx)).toEqual(['id', 'prevAlh', 'ts', 'version', 'metadata', 'nEntries', 'eH', 'blTxId', 'blRoot']);
        expect(verifyConsistencyProof(doc, { from: states[a]!, to: states[b]! })).toMatchObject({ ok: true });
        doc.to.txHash = (doc.to.txHash[0] === '0' ? '1' : '0') + doc.to.txHash.slice(1);
        expect(verifyConsistencyProof(doc).ok).toBe(false);
      }
      const newest = await s.gql<ConsistencyData>(CONSISTENCY, { from: states[4]!.txId });
      const now = (await s.gql<{ ledgerState: LedgerState }>(STATE)).body.data!.ledgerState;
      expect(newest.body.data!.consistencyProof.toTxId).toBe(now.txId);
      expect(verifyConsistencyProof(JSON.parse(newest.body.data!.consistencyProof.json), { from: states[4]!, to: now }).ok).toBe(true);
    });

    it('refuses bad ids with BAD_USER_INPUT naming the argument', async () => {
      const newest = BigInt((await s.gql<{ ledgerState: LedgerState }>(STATE)).body.data!.ledgerState.txId);
      const id = events[0]!.eventId;
      for (const t of ['0', '-1', 'abc', '', '01', '1.0', ' 1', String(newest + 1n), '99999999999999999999999']) {
        const r = await s.gql(VERIFY, { id, t });
        expect(codeOf(r.body.errors), JSON.stringify(t)).toEqual([['BAD_USER_INPUT', 'trustedTxId']]);
        expect(r.body.data ?? null).toBeNull();
      }
      const unknown = await s.gql(VERIFY, { id: '00000000-0000-4000-8000-000000000000', t: '1' });
      expect(codeOf(unknown.body.errors)).toEqual([['BAD_USER_INPUT', 'eventId']]);
      const badId = await s.gql(VERIFY, { id: 'nope', t: '0' });
      expect(codeOf(badId.body.errors)).toEqual([['BAD_USER_INPUT', 'eventId']]);
      const cases: [string, string | undefined, string][] = [
        ['0', undefined, 'fromTxId'],
        ['-3', undefined, 'fromTxId'],
        ['x', '2', 'fromTxId'],
        [String(newest + 1n), undefined, 'fromTxId'],
        ['1', String(newest + 1n), 'toTxId'],
        ['1', '007', 'toTxId'],
        ['5', '4', 'fromTxId'],
      ];
      for (const [from, to, path] of cases) {
        const r = await s.gql(CONSISTENCY, { from, to });
        expect(codeOf(r.body.errors), `${from} → ${to}`).toEqual([['BAD_USER_INPUT', path]]);
      }
    });
  });
}

describeImmudb('immudb 1.11.1', () => {
  anchoredSuite('immudb', () => openTestImmudbLedger());
});
anchoredSuite('embedded', () => openEmbeddedLedger({ dataDir: tempDir('auditgraph-anchored-') }));

/** The codes of an answer's errors. */
const failed = (errors: GraphQLErrorJson[] | undefined) => errors?.map((e) => e.extensions?.code);

describeImmudb('a gateway whose trusted state is not in the ledger’s history (immudb)', () => {
  it('answers VERIFICATION_FAILED to anchored proofs and consistency proofs, before or after its trusted state', async () => {
    // The gateway trusted database A's tx 5; database B has other txs under the same ids.
    const dirA = tempDir();
    const dbA = uniqueDatabase();
    const a = await openTestImmudbLedger({ database: dbA, dataDir: dirA });
    for (let i = 0; i < 5; i++) await a.append([ev({ correlationId: 'history-a' })]);
    const trustedA = await a.trustedState();
    await a.close();
    const dbB = uniqueDatabase();
    const b = await openTestImmudbLedger({ database: dbB });
    const written = [];
    for (let i = 0; i < 8; i++) written.push(...(await b.append([ev({ correlationId: 'history-b' })])));
    await b.close();
    expect(written[4]!.event.txId).toBe(trustedA.txId);
    const dirC = tempDir();
    const file = join(dirA, 'trusted-state', readdirSync(join(dirA, 'trusted-state')).find((f) => f.endsWith('.json'))!);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    cpSync(join(dirA, 'trusted-state'), join(dirC, 'trusted-state'), { recursive: true });
    writeFileSync(join(dirC, 'trusted-state', `immudb-${dbB}.json`), JSON.stringify({ ...doc, database: dbB }));

    const s = await startTestServer({ ledger: await openTestImmudbLedger({ database: dbB, dataDir: dirC }) });
    try {
      expect((await s.gql<{ ledgerState: LedgerState }>(STATE)).body.data!.ledgerState).toEqual(trustedA);
      const late = written[6]!.event; // after the trusted tx 5
      const early = written[1]!.event; // before it
      for (const [e, t] of [
        [late, '2'],
        [late, '8'],
        [early, '3'],
        [early, '4'],
        [early, '7'],
      ] as const) {
        const r = await s.gql(VERIFY, { id: e.record.eventId, t });
        expect(failed(r.body.errors), `event tx ${e.txId} from tx ${t}: ${JSON.stringify(r.body.errors)}`).toEqual(['VERIFICATION_FAILED']);
        expect(r.body.errors?.[0]?.message).toMatch(/is not in the history of the gateway's trusted state tx 5/);
      }
      for (const [from, to] of [
        ['1', undefined],
        ['1', '2'],
        ['6', '8'],
        ['5', '5'],
      ] as const) {
        const r = await s.gql(CONSISTENCY, { from, to });
        expect(failed(r.body.errors), `${from} → ${to}`).toEqual(['VERIFICATION_FAILED']);
        // 5 → 5: the trusted state itself is the `to` the proof fails.
        expect(r.body.errors?.[0]?.message).toMatch(to === '5' ? /failed: to$/ : /is not in the history of the gateway's trusted state tx 5/);
      }
      // and, as before, the unanchored read
      expect(failed((await s.gql(VERIFY, { id: late.record.eventId })).body.errors)).toEqual(['VERIFICATION_FAILED']);
    } finally {
      await s.close();
      await s.ledger.close();
    }
  });
});

describe('two embedded ledgers that share their first 5 txs, then diverge', () => {
  it('the gateway refuses to open with the other copy’s trusted state; a client holding a state of the other copy finds no proof starting from it', async () => {
    const dirA = tempDir('auditgraph-fork-a-');
    const a0 = await openEmbeddedLedger({ dataDir: dirA });
    for (let i = 0; i < 5; i++) await a0.append([ev({ correlationId: 'fork' })]);
    const shared = await a0.trustedState();
    await a0.close();
    const dirB = tempDir('auditgraph-fork-b-');
    cpSync(dirA, dirB, { recursive: true });

    const a = await openEmbeddedLedger({ dataDir: dirA });
    for (let i = 0; i < 4; i++) await a.append([ev({ correlationId: 'fork-a' })]);
    const savedA = await a.trustedState(); // what a client of A saved: tx 9
    const savedA7 = (await a.consistencyProof('7', '7')).from;
    await a.close();
    const b = await openEmbeddedLedger({ dataDir: dirB });
    const onB = [];
    for (let i = 0; i < 6; i++) onB.push(...(await b.append([ev({ correlationId: 'fork-b', actorId: 'mallory' })])));
    await b.close();
    expect(savedA.txId).toBe('9');

    // B's gateway with A's trusted state: refused at open, as before (history was rewritten).
    const dirC = tempDir('auditgraph-fork-c-');
    cpSync(dirB, dirC, { recursive: true });
    cpSync(join(dirA, 'trusted-state'), join(dirC, 'trusted-state'), { recursive: true });
    await expect(openEmbeddedLedger({ dataDir: dirC })).rejects.toMatchObject({ code: 'VERIFICATION_FAILED' });

    // B's own gateway serves B's history; a client of A checks what it gets against its saved states.
    const s = await startTestServer({ ledger: await openEmbeddedLedger({ dataDir: dirB }) });
    try {
      const e = onB[3]!.event; // tx 9 of B
      const fromShared = await s.gql<VerifyData>(VERIFY, { id: e.record.eventId, t: '3' });
      const stateAt3 = (await s.gql<ConsistencyData>(CONSISTENCY, { from: '3', to: '3' })).body.data!.consistencyProof;
      expect(verifyProofBundle(fromShared.body.data!.verifyAuditEvent.proof.json, JSON.parse(stateAt3.json).from).ok).toBe(true);
      const shared5 = await s.gql<ConsistencyData>(CONSISTENCY, { from: '5', to: '11' });
      expect(verifyConsistencyProof(JSON.parse(shared5.body.data!.consistencyProof.json), { from: shared }).ok).toBe(true);
      // A's tx 9 and tx 7 are not B's: the proofs start from B's states, which A's client refuses.
      const fromFork = await s.gql<VerifyData>(VERIFY, { id: e.record.eventId, t: '9' });
      expect(verifyProofBundle(fromFork.body.data!.verifyAuditEvent.proof.json, savedA)).toMatchObject({ ok: false, check: 'trustedState' });
      const c = await s.gql<ConsistencyData>(CONSISTENCY, { from: '7' });
      expect(verifyConsistencyProof(JSON.parse(c.body.data!.consistencyProof.json), { from: savedA7 })).toMatchObject({ ok: false, check: 'from' });
      const cli = await cliVerify(fromFork.body.data!.verifyAuditEvent.proof.json, savedA);
      expect(cli.exitCode).toBe(1);
    } finally {
      await s.close();
      await s.ledger.close();
    }
  });
});
