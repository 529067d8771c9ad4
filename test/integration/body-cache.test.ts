/**
 * The body cache around a real immudb ledger: the decorated ledger passes the ledger contract
 * unchanged, answers getMany from bodies the ledger returned (filled by readTransactions, getMany
 * and getVerified), stays within its byte bound, and never answers for an event the ledger lacks.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withBodyCache, type BodyCachedLedger } from '../../src/ledger/body-cache.ts';
import type { StoredEvent } from '../../src/ledger/port.ts';
import { ev, ledgerContract } from '../contract/ledger-contract.ts';
import { describeImmudb, openTestImmudbLedger } from '../support/services.ts';

const plain = (e: StoredEvent | null) => e && { record: e.record, txId: e.txId, key: e.key.toString('hex') };

describeImmudb('ledger body cache (immudb)', () => {
  ledgerContract('immudb with a body cache', async () => withBodyCache(await openTestImmudbLedger()));

  describe('what it answers', () => {
    type Opened = Awaited<ReturnType<typeof openTestImmudbLedger>>;
    let bare: Opened;
    let cached: BodyCachedLedger<Opened>;
    let small: BodyCachedLedger<Opened>;
    const ids: string[] = [];
    beforeAll(async () => {
      bare = await openTestImmudbLedger();
      for (let b = 0; b < 4; b++) {
        const events = Array.from({ length: 100 }, (_, i) => ev({ correlationId: `bc-${b}`, data: { b, i } }));
        await bare.append(events);
        ids.push(...events.map((e) => e.record.eventId));
      }
    });
    afterAll(async () => {
      await bare?.close();
    });

    it('answers getMany from bodies the ledger returned while following, exactly as the ledger does', async () => {
      cached = withBodyCache(bare);
      expect(cached.maxEventsPerAppend).toBe(bare.maxEventsPerAppend);
      for (let after = '0'; ; ) {
        const txs = await cached.readTransactions(after, 2);
        if (txs.length === 0) break;
        after = txs[txs.length - 1]!.txId;
      }
      expect(cached.bodyCache.entries).toBe(400);
      const ask = [ids[5]!, randomUUID(), ids[399]!, ids[5]!, ids[120]!];
      const want = await bare.getMany(ask);
      const got = await cached.getMany(ask);
      expect(got.map(plain)).toEqual(want.map(plain));
      expect(got[1]).toBeNull();
      expect(cached.bodyCache).toMatchObject({ hits: 4, misses: 1, entries: 400 }); // the unknown id is not remembered
      // bodies read by txScan carry their commit time
      expect(got[0]!.recordedAt).toMatch(/Z$/);
    });

    it('fills from getMany and getVerified, within its byte bound', async () => {
      small = withBodyCache(bare, { maxBytes: 40_000 });
      const first = await small.getMany(ids.slice(0, 100));
      expect(small.bodyCache.misses).toBe(100);
      expect(small.bodyCache.bytes).toBeLessThanOrEqual(40_000);
      expect(small.bodyCache.evictions).toBeGreaterThan(0);
      const held = small.bodyCache.entries;
      expect(held).toBeGreaterThan(10);
      expect(held).toBeLessThan(100);
      // the most recently read are held; everything still reads right
      const again = await small.getMany(ids.slice(0, 100));
      expect(again.map(plain)).toEqual(first.map(plain));
      expect(small.bodyCache.hits).toBeGreaterThan(0);
      expect(small.bodyCache.bytes).toBeLessThanOrEqual(40_000);
      const v = await small.getVerified(ids[300]!);
      expect(v?.event.record.eventId).toBe(ids[300]);
      const hits = small.bodyCache.hits;
      await small.getMany([ids[300]!]);
      expect(small.bodyCache.hits).toBe(hits + 1);
    });

    it('is off with maxBytes 0', async () => {
      const off = withBodyCache(bare, { maxBytes: 0 });
      await off.getMany(ids.slice(0, 10));
      await off.getMany(ids.slice(0, 10));
      expect(off.bodyCache).toMatchObject({ hits: 0, misses: 20, entries: 0 });
    });
  });
});
