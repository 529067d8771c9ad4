import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { ledgerContract, ev } from '../contract/ledger-contract.ts';
import { buildTransaction } from '../../src/ledger/embedded/transaction.ts';
import { embeddedLedgerPaths, openEmbeddedBackend, openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import { startAlhWorker } from '../../src/ledger/embedded/alh-worker.ts';
import { FILE_HEADER_SIZE, fileHeader, FRAME_OVERHEAD, HEADER_OFFSET, RECORD_LAYOUT } from '../../src/ledger/embedded/log.ts';
import { AHTree, ahtLeaf } from '../../src/proof/ahtree.ts';
import { ZERO_HASH } from '../../src/proof/hashing.ts';
import { decodeTxHeader, GENESIS_PREV_ALH, TX_HEADER_SIZE, txAlh } from '../../src/proof/tx-header.ts';
import type { AppendResult } from '../../src/ledger/port.ts';
import { verifyProofBundle } from '../../src/proof/verify.ts';
import { createDatabase } from '../support/immudb-admin.ts';
import { describeEachImmudb, openTestImmudbLedger, tempDir, uniqueDatabase } from '../support/services.ts';

ledgerContract('embedded', () => openEmbeddedLedger({ dataDir: tempDir('auditgraph-embedded-') }));

it('embedded: survives a restart with its events, timelines, proofs and trusted state', async () => {
  const dataDir = tempDir('auditgraph-embedded-');
  const first = await openEmbeddedLedger({ dataDir });
  const written: AppendResult[] = [];
  for (let i = 0; i < 5; i++) written.push(...(await first.append([ev({ correlationId: 'restart' }), ev({ correlationId: 'restart-b' })])));
  const state = await first.trustedState();
  await first.close();

  for (const [verify, workerMinBytes] of [
    ['chain', undefined],
    ['full', undefined],
    ['chain', 0],
  ] as const) {
    const again = await openEmbeddedBackend({ dataDir, verify, workerMinBytes });
    expect(again.startup).toMatchObject({ txs: 5, events: 10, tornTail: null });
    expect(await again.trustedState()).toEqual(state);
    const page = await again.scanTimeline('restart', { limit: 50, direction: 'desc' });
    expect(page.events.map((e) => e.record)).toEqual(
      written
        .filter((_, i) => i % 2 === 0)
        .map((r) => r.event.record)
        .reverse(),
    );
    const txs = await again.readTransactions('0', 100);
    expect(txs.map((t) => t.events.map((e) => e.record))).toEqual([0, 1, 2, 3, 4].map((i) => [written[2 * i]!.event.record, written[2 * i + 1]!.event.record]));
    expect(await again.lastTxId()).toBe('5');
    for (const w of written) {
      const r = await again.getVerified(w.event.record.eventId, state);
      expect(r!.event).toEqual(w.event);
      expect(r!.proof.tx).toEqual(w.proof.tx);
      expect(verifyProofBundle(r!.proof, state).ok).toBe(true);
    }
    await again.close();
  }
});

// Written by the code of 1eb7fe7, whose id references were bound to their own tx (now unbound).
it('embedded: loads a log written with bound id references and goes on appending to it', async () => {
  const dataDir = tempDir('auditgraph-embedded-');
  cpSync(fileURLToPath(new URL('../fixtures/embedded-bound-refs', import.meta.url)), dataDir, { recursive: true });
  const ids = [1, 2, 3].map((i) => `0190c5a0-0000-7000-8000-00000000000${i}`);
  for (const verify of ['chain', 'full'] as const) {
    const old = await openEmbeddedBackend({ dataDir, verify });
    expect(old.startup).toMatchObject({ txs: 2, events: 3, tornTail: null });
    await old.close();
  }
  const ledger = await openEmbeddedLedger({ dataDir, verify: 'full' });
  try {
    expect((await ledger.getMany(ids)).map((e) => e?.record.eventId)).toEqual(ids);
    expect((await ledger.scanTimeline('rr-old', { limit: 10, direction: 'asc' })).events.map((e) => e.record.eventId)).toEqual(ids);
    const proven = await ledger.getVerified(ids[0]!);
    expect(verifyProofBundle(proven!.proof).ok).toBe(true);
    const [next] = await ledger.append([ev({ correlationId: 'rr-old' })]);
    expect(verifyProofBundle(next!.proof, { txId: proven!.proof.state.txId, txHash: proven!.proof.state.txHash }).ok).toBe(true);
  } finally {
    await ledger.close();
  }
  const again = await openEmbeddedBackend({ dataDir, verify: 'full' });
  expect(again.startup).toMatchObject({ txs: 3, events: 4, tornTail: null });
  await again.close();
});

// The embedded ledger writes v0 tx headers, as immudb 1.1 did and 1.2+ still does in compatibility
// mode (writeTxHeaderVersion 0): against such a database its hashing must be immudb's, byte for byte.
describeEachImmudb('embedded vs immudb in compatibility mode (v0 headers)', ({ address }) => {
  it('hashes the same events into the same entries and eH as immudb', async () => {
    const database = uniqueDatabase();
    expect((await createDatabase(address, database, { writeTxHeaderVersion: 0 })).writeTxHeaderVersion).toBe(0);
    const immudb = await openTestImmudbLedger({ address, database });
    const embedded = await openEmbeddedLedger({ dataDir: tempDir('auditgraph-embedded-') });
    try {
      const events = [
        ev({ correlationId: 'same-bytes', data: { a: [1, 'ü'] } }),
        ev({ correlationId: 'same-bytes', severity: 'ERROR' }),
        ev({ correlationId: 'other ✓' }),
      ];
      const fromImmudb = await immudb.append(events);
      const txId = Number(fromImmudb[0]!.event.txId);
      // Bound references carry the tx id: line the embedded ledger up on the same id.
      for (let i = 1; i < txId; i++) await embedded.append([ev({ correlationId: 'filler' })]);
      const fromEmbedded = await embedded.append(events);
      expect(fromEmbedded[0]!.event.txId).toBe(String(txId));
      for (const [i, r] of fromEmbedded.entries()) {
        const theirs = fromImmudb[i]!.proof;
        expect(r.proof.ledger).toBe('embedded');
        expect(r.proof.entry).toEqual(theirs.entry);
        expect(r.proof.inclusion).toEqual(theirs.inclusion);
        expect(theirs.tx).toMatchObject({ version: 0, metadata: '' });
        expect(r.proof.tx.version).toBe(theirs.tx.version);
        expect(r.proof.tx.metadata).toBe(theirs.tx.metadata);
        expect(r.proof.tx.eH).toBe(theirs.tx.eH);
        expect(r.proof.tx.nEntries).toBe(theirs.tx.nEntries);
        expect(r.event.key.equals(fromImmudb[i]!.event.key)).toBe(true);
      }
    } finally {
      await immudb.close();
      await embedded.close();
    }
  });
});

it('embedded: replays a log larger than the start-up worker’s read window with the worker, as inline', async () => {
  const dataDir = tempDir('auditgraph-embedded-');
  const paths = embeddedLedgerPaths(dataDir);
  mkdirSync(paths.dir, { recursive: true });
  // ~12 MB written with the commit path's own encoder, in txs of 1..40 events.
  const chunks: Buffer[] = [fileHeader()];
  const aht = new AHTree();
  let prevAlh = GENESIS_PREV_ALH;
  let events = 0;
  for (let id = 1; events < 6000; id++) {
    const records = Array.from({ length: 1 + (id % 40) }, (_, i) => ev({ correlationId: `big-${i % 7}`, data: { pad: 'p'.repeat(1500 + (id % 500)) } }).record);
    const tx = buildTransaction({ id, prevAlh, ts: 1_750_000_000 + id, blRoot: id > 1 ? aht.root(id - 1) : ZERO_HASH, records });
    prevAlh = txAlh(tx.header);
    aht.append(prevAlh);
    chunks.push(tx.record);
    events += records.length;
  }
  const whole = Buffer.concat(chunks);
  expect(whole.length).toBeGreaterThan(10 * 1024 * 1024);
  writeFileSync(paths.log, Buffer.concat([whole, whole.subarray(whole.length - 700, whole.length - 300)])); // and a torn tail

  const seen: unknown[] = [];
  for (const workerMinBytes of [0, Number.MAX_SAFE_INTEGER]) {
    const warnings: string[] = [];
    const ledger = await openEmbeddedBackend({ dataDir, workerMinBytes, logger: { warn: (m) => warnings.push(String(m)) } });
    try {
      expect(ledger.startup!.events).toBe(events);
      // The main thread never waits for the worker, so how many answers it used varies.
      if (workerMinBytes !== 0) expect(ledger.startup!.workerRecords).toBe(0);
      expect(warnings.filter((w) => /torn tail/.test(w)).length).toBe(workerMinBytes === 0 ? 1 : 0); // cut on the first open
      const page = await ledger.scanTimeline('big-3', { limit: 5, direction: 'desc' });
      const r = await ledger.getVerified(page.events[0]!.record.eventId);
      expect(verifyProofBundle(r!.proof).ok).toBe(true);
      seen.push([await ledger.lastTxId(), await ledger.trustedState(), page.events.map((e) => e.record.eventId)]);
    } finally {
      await ledger.close();
    }
  }
  expect(seen[1]).toEqual(seen[0]);

  // The worker's own answers, waited for one by one: right Alh and checksum verdict at every offset
  // (its 8 MiB read window refills several times), nothing for the torn tail.
  writeFileSync(paths.log, Buffer.concat([whole, whole.subarray(whole.length - 700, whole.length - 300)]));
  const size = whole.length + 400;
  const source = startAlhWorker({
    path: paths.log,
    size,
    ...RECORD_LAYOUT,
  });
  try {
    let offset = FILE_HEADER_SIZE;
    for (let k = 0; k < aht.size; k++) {
      const deadline = Date.now() + 10_000;
      while (!source.checksumOk(k, offset)) {
        if (Date.now() > deadline) throw new Error(`worker gave no answer for record ${k}`);
        await new Promise((r) => setTimeout(r, 1));
      }
      const header = decodeTxHeader(whole.subarray(offset + HEADER_OFFSET, offset + HEADER_OFFSET + TX_HEADER_SIZE));
      const answer = Buffer.alloc(64);
      expect(source.take(k, offset, answer)).toBe(true);
      expect(answer.subarray(0, 32).equals(txAlh(header))).toBe(true);
      expect(answer.subarray(32).equals(ahtLeaf(txAlh(header)))).toBe(true); // its binary-linking leaf
      expect(source.take(k, offset + 1, answer)).toBe(false); // only for the record at that offset
      offset += FRAME_OVERHEAD + whole.readUInt32BE(offset + 4);
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(source.checksumOk(aht.size, offset)).toBe(false);
  } finally {
    await source.stop();
  }
});
