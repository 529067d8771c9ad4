import { expect, it } from 'vitest';
import { ledgerContract, ev } from '../contract/ledger-contract.ts';
import { openEmbeddedBackend, openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import type { AppendResult } from '../../src/ledger/port.ts';
import { verifyProofBundle } from '../../src/proof/verify.ts';
import { describeImmudb, openTestImmudbLedger, tempDir } from '../support/services.ts';

ledgerContract('embedded', () => openEmbeddedLedger({ dataDir: tempDir('auditgraph-embedded-') }));

it('embedded: survives a restart with its events, timelines, proofs and trusted state', async () => {
  const dataDir = tempDir('auditgraph-embedded-');
  const first = await openEmbeddedLedger({ dataDir });
  const written: AppendResult[] = [];
  for (let i = 0; i < 5; i++) written.push(...(await first.append([ev({ correlationId: 'restart' }), ev({ correlationId: 'restart-b' })])));
  const state = await first.trustedState();
  await first.close();

  for (const [verify, workerMinBytes] of [['chain', undefined], ['full', undefined], ['chain', 0]] as const) {
    const again = await openEmbeddedBackend({ dataDir, verify, workerMinBytes });
    expect(again.startup).toMatchObject({ txs: 5, events: 10, tornTail: null });
    expect(await again.trustedState()).toEqual(state);
    const page = await again.scanTimeline('restart', { limit: 50, direction: 'desc' });
    expect(page.events.map((e) => e.record)).toEqual(written.filter((_, i) => i % 2 === 0).map((r) => r.event.record).reverse());
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

describeImmudb('embedded vs immudb 1.1.0', () => {
  it('hashes the same events into the same entries and eH as immudb', async () => {
    const immudb = await openTestImmudbLedger();
    const embedded = await openEmbeddedLedger({ dataDir: tempDir('auditgraph-embedded-') });
    try {
      const events = [ev({ correlationId: 'same-bytes', data: { a: [1, 'ü'] } }), ev({ correlationId: 'same-bytes', severity: 'ERROR' }), ev({ correlationId: 'other ✓' })];
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
