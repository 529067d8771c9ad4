import { describe, expect, it } from 'vitest';
import { EventIndex } from '../../src/ledger/embedded/event-index.ts';
import { uuidv7 } from '../../src/events/uuid.ts';
import { randomUUID } from 'node:crypto';

function reference(events: { id: string; ts: number }[]) {
  return [...events].sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

describe('embedded EventIndex', () => {
  for (const bulk of [true, false]) {
    it(`finds every id and scans in (timestamp, eventId) order with strict keyset positions (${bulk ? 'bulk' : 'live'})`, () => {
      const idx = new EventIndex();
      const events = Array.from({ length: 5000 }, (_, i) => ({ id: i % 2 ? uuidv7() : randomUUID(), ts: 1_700_000_000_000 + ((i * 7919) % 300), corr: i % 3 }));
      for (const [n, e] of events.entries()) expect(idx.add(e.id, `tl/c${e.corr}/`, e.ts, n + 1, n * 10, 10, 0, bulk)).toBe(n);
      if (bulk) idx.finishBulk();
      expect(idx.size).toBe(events.length);
      events.forEach((e, n) => {
        expect(idx.find(e.id)).toBe(n);
        expect(idx.eventId(n)).toBe(e.id);
      });
      expect(idx.find(randomUUID())).toBeUndefined();
      expect(idx.find('not-a-uuid')).toBeUndefined();
      expect(idx.find(events[0]!.id.toUpperCase())).toBeUndefined(); // callers lowercase first

      const want = reference(events.filter((e) => e.corr === 1)).map((e) => e.id);
      for (const desc of [false, true]) {
        const order = desc ? [...want].reverse() : want;
        const seen: string[] = [];
        let after: { tsMs: number; eventId: string } | undefined;
        for (;;) {
          const page = idx.scan('tl/c1/', after, 97, desc);
          seen.push(...page.items.map((n) => idx.eventId(n)));
          if (!page.hasMore) break;
          const last = page.items[page.items.length - 1]!;
          after = { tsMs: idx.tsMs[last]!, eventId: idx.eventId(last) };
        }
        expect(seen).toEqual(order);
      }
      // A position that is not an event: strictly after it either way.
      const mid = reference(events.filter((e) => e.corr === 1))[100]!;
      const asc = idx.scan('tl/c1/', { tsMs: mid.ts, eventId: '00000000-0000-0000-0000-000000000000' }, 1, false);
      expect(idx.tsMs[asc.items[0]!]).toBe(mid.ts);
      expect(idx.scan('tl/c9/', undefined, 10, false)).toEqual({ items: [], hasMore: false });
    });
  }

  it('refuses an eventId stored twice', () => {
    const idx = new EventIndex();
    const id = uuidv7();
    idx.add(id, 'tl/a/', 1, 1, 0, 1, 0, false);
    expect(() => idx.add(id, 'tl/b/', 2, 2, 1, 1, 0, false)).toThrow(/stored twice/);
    expect(() => idx.add(id, 'tl/b/', 2, 2, 1, 1, 0, true)).toThrow(/stored twice/);
    expect(idx.size).toBe(1);
    expect(idx.find(id)).toBe(0);
  });
});
