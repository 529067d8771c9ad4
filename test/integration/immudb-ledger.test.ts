import { expect, it } from 'vitest';
import { LIMITS } from '../../src/events/limits.ts';
import { ImmudbSession, pb } from '../../src/ledger/immudb/grpc.ts';
import { eventIdKey } from '../../src/ledger/keys.ts';
import { ev, ledgerContract } from '../contract/ledger-contract.ts';
import { describeImmudb, immudbAddress, openTestImmudbLedger, uniqueDatabase } from '../support/services.ts';

describeImmudb('immudb 1.1.0', () => {
  ledgerContract('immudb', () => openTestImmudbLedger());

  it('creates its database large enough for the largest batch, committed as one transaction', async () => {
    const ledger = await openTestImmudbLedger();
    try {
      expect(ledger.maxEventsPerAppend).toBe(LIMITS.maxBatch);
      const results = await ledger.append(Array.from({ length: LIMITS.maxBatch }, (_, i) => ev({ correlationId: `rr-max-${i % 7}` })));
      expect(new Set(results.map((r) => r.event.txId)).size).toBe(1);
      expect(results[LIMITS.maxBatch - 1]!.proof.tx.nEntries).toBe(2 * LIMITS.maxBatch);
    } finally {
      await ledger.close();
    }
  });

  // immudb 1.1 resolves a bound reference by loading and re-hashing the whole tx it points into,
  // an unbound one through its key index: reads by id of events from big txs depend on it.
  it('writes ev/<eventId> as an unbound reference that resolves to the timeline entry', async () => {
    const database = uniqueDatabase();
    const ledger = await openTestImmudbLedger({ database });
    const session = new ImmudbSession({ address: immudbAddress!, user: 'immudb', password: 'immudb', database });
    try {
      // One event among others in its tx: a bound reference would read all of them.
      const [written] = await ledger.append([ev({ correlationId: 'rr-ref' }), ...Array.from({ length: 20 }, (_, i) => ev({ correlationId: `rr-other-${i}` }))]);
      await session.connect();
      const req = new pb.KeyRequest();
      req.setKey(eventIdKey(written!.event.record.eventId));
      const entry = await session.call('get', req);
      expect(Buffer.from(entry.getKey_asU8()).equals(written!.event.key)).toBe(true);
      expect(String(entry.getTx())).toBe(written!.event.txId);
      const ref = entry.getReferencedby();
      expect(Buffer.from(ref.getKey_asU8()).equals(eventIdKey(written!.event.record.eventId))).toBe(true);
      expect(ref.getAttx()).toBe(0);
    } finally {
      session.close();
      await ledger.close();
    }
  });
});
