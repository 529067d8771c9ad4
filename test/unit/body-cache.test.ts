import { describe, expect, it } from 'vitest';
import { BodyCache, estimateBytes } from '../../src/ledger/body-cache.ts';
import type { StoredEvent } from '../../src/ledger/port.ts';
import { ev } from '../contract/ledger-contract.ts';
import { prng } from './_random.ts';

const stored = (i: number, recordedAt: string | null = null, pad = ''): StoredEvent => {
  const record = ev({ data: { i, pad } }).record;
  return { record, txId: String(i + 1), key: Buffer.from(`tl/x/${record.eventId}`), recordedAt };
};

describe('body cache', () => {
  it('keeps recently used bodies within maxBytes, evicting the least recently used first', () => {
    const one = new BodyCache(1 << 30);
    one.put(stored(0));
    const per = one.stats.bytes;
    expect(per).toBeGreaterThan(300);
    const cache = new BodyCache(per * 10 + per / 2); // room for 10
    const events = Array.from({ length: 30 }, (_, i) => stored(i));
    for (const e of events.slice(0, 10)) cache.put(e);
    expect(cache.stats).toMatchObject({ entries: 10, evictions: 0 });
    expect(cache.get(events[0]!.record.eventId)?.record).toBe(events[0]!.record); // now the most recent
    for (const e of events.slice(10)) {
      cache.put(e);
      expect(cache.stats.bytes).toBeLessThanOrEqual(cache.maxBytes);
    }
    expect(cache.stats).toMatchObject({ entries: 10, evictions: 20 });
    expect(cache.get(events[0]!.record.eventId)).toBeUndefined();
    const kept = events.filter((e) => cache.get(e.record.eventId)).map((e) => (e.record.data as { i: number }).i);
    expect(kept).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
  });

  it('charges bodies by size, refuses one larger than the whole cache, and 0 turns it off', () => {
    expect(estimateBytes({ a: 'x'.repeat(1000) })).toBeGreaterThan(estimateBytes({ a: 'x' }) + 990);
    expect(estimateBytes('é'.repeat(10))).toBeLessThan(estimateBytes('✓'.repeat(10)));
    const big = stored(1, null, 'p'.repeat(10_000));
    const cache = new BodyCache(5_000);
    cache.put(stored(0));
    cache.put(big);
    expect(cache.get(big.record.eventId)).toBeUndefined();
    expect(cache.stats.entries).toBe(1);
    const off = new BodyCache(0);
    off.put(stored(2));
    expect(off.stats.entries).toBe(0);
  });

  it('copies the key out of the read buffer and fills in a commit time learnt later', () => {
    const cache = new BodyCache();
    const e = stored(3);
    cache.put(e);
    e.key[0] = 0x58;
    expect(cache.get(e.record.eventId)!.key.toString()).toBe(`tl/x/${e.record.eventId}`);
    cache.put({ ...e, recordedAt: '2025-01-01T00:00:00.000Z' });
    expect(cache.get(e.record.eventId)!.recordedAt).toBe('2025-01-01T00:00:00.000Z');
    expect(cache.stats.entries).toBe(1);
  });

  it('evicts exactly in least-recently-used order over long random runs of puts, hits and clears', () => {
    for (let seed = 1; seed <= 3; seed++) {
      const rand = prng(seed);
      const events = Array.from({ length: 400 }, (_, i) => stored(i));
      const size = new Map(
        events.map((e) => {
          const c = new BodyCache(1 << 30);
          c.put(e);
          return [e.record.eventId, c.stats.bytes] as const;
        }),
      );
      const cache = new BodyCache(size.get(events[0]!.record.eventId)! * (5 + seed * 7));
      let model: string[] = []; // least recent first
      let bytes = 0;
      for (let op = 0; op < 10_000; op++) {
        const e = events[Math.floor(rand() * events.length)]!;
        const id = e.record.eventId;
        const r = rand();
        if (r < 0.001) {
          cache.clear();
          model = [];
          bytes = 0;
        } else if (r < 0.5) {
          const hit = cache.get(id);
          expect(hit !== undefined).toBe(model.includes(id));
          if (hit) model = [...model.filter((m) => m !== id), id];
        } else {
          cache.put(e);
          if (!model.includes(id)) {
            model.push(id);
            bytes += size.get(id)!;
            while (bytes > cache.maxBytes) bytes -= size.get(model.shift()!)!;
          }
        }
        expect(cache.stats.bytes).toBe(bytes);
      }
      // Every kept body is in the model, in the same recency order (get re-inserts, so read the
      // model's order back through it).
      expect(cache.stats.entries).toBe(model.length);
      for (const id of model) expect(cache.get(id)).toBeDefined();
    }
  });
});
