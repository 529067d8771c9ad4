/**
 * `timeline` over HTTP on a real immudb: 1,000 events of one correlation interleaved with 1,000
 * of others (similar-looking correlation ids, out-of-order timestamps with ties), paged forwards
 * and backwards with several page sizes: every event exactly once, in (timestamp, eventId) order,
 * with exact pageInfo.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CREATE_MANY, eventInput, startTestServer, type TestServer } from '../support/graphql.ts';
import { describeImmudb } from '../support/services.ts';

const PAGE = `query Page($c: String!, $first: Int, $after: String, $last: Int, $before: String) {
  timeline(correlationId: $c, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { eventId timestamp correlationId } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

interface Edge {
  cursor: string;
  node: { eventId: string; timestamp: string; correlationId: string };
}
interface PageResult {
  edges: Edge[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** Deterministic shuffle (mulberry32). */
function shuffle<T>(items: T[], seed: number): T[] {
  let a = seed;
  const rand = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describeImmudb('timeline paging over GraphQL', () => {
  let s: TestServer;
  const corr = `tl-${randomUUID().slice(0, 8)}`;
  let expected: { eventId: string; timestamp: string }[] = [];

  async function page(vars: Record<string, unknown>): Promise<PageResult> {
    const r = await s.gql<{ timeline: PageResult }>(PAGE, { c: corr, ...vars });
    expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
    const p = r.body.data!.timeline;
    expect(p.pageInfo.startCursor).toBe(p.edges[0]?.cursor ?? null);
    expect(p.pageInfo.endCursor).toBe(p.edges[p.edges.length - 1]?.cursor ?? null);
    for (const e of p.edges) expect(e.node.correlationId).toBe(corr);
    return p;
  }

  beforeAll(async () => {
    s = await startTestServer();
    const base = Date.UTC(2025, 5, 1);
    // 300 distinct seconds for 1,000 events: many ties, broken by eventId
    const mine = Array.from({ length: 1000 }, (_, i) =>
      eventInput({ correlationId: corr, eventId: randomUUID(), timestamp: new Date(base + ((i * 7919) % 300) * 1000).toISOString() }),
    );
    const others = Array.from({ length: 1000 }, (_, i) =>
      eventInput({
        correlationId: [`${corr}0`, `${corr}-x`, `${corr}/`, corr.slice(0, -1), `x${corr}`][i % 5],
        eventId: randomUUID(),
        timestamp: new Date(base + ((i * 104729) % 400) * 1000 - 50_000).toISOString(),
      }),
    );
    const all = shuffle([...mine, ...others], 42);
    for (let i = 0; i < all.length; i += 500) {
      const r = await s.gql(CREATE_MANY, { input: all.slice(i, i + 500) });
      expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
    }
    expected = mine
      .map((e) => ({ eventId: String(e.eventId), timestamp: String(e.timestamp) }))
      .sort((a, b) => (a.timestamp === b.timestamp ? (a.eventId < b.eventId ? -1 : 1) : a.timestamp < b.timestamp ? -1 : 1));
  });
  afterAll(async () => {
    await s?.close();
  });

  for (const size of [7, 50, 333, 500]) {
    it(`pages forwards with first: ${size}: each event once, in order, exact pageInfo`, async () => {
      const seen: { eventId: string; timestamp: string }[] = [];
      const pages: PageResult[] = [];
      let after: string | null = null;
      for (;;) {
        // page size 50 is also the default: ask without `first` then
        const p = await page(size === 50 ? { after } : { first: size, after });
        pages.push(p);
        seen.push(...p.edges.map((e) => ({ eventId: e.node.eventId, timestamp: e.node.timestamp })));
        if (!p.pageInfo.hasNextPage) break;
        expect(p.edges).toHaveLength(size);
        after = p.pageInfo.endCursor;
        expect(pages.length).toBeLessThan(1000);
      }
      expect(seen).toEqual(expected);
      expect(pages).toHaveLength(Math.ceil(1000 / size));
      expect(pages[0]!.pageInfo.hasPreviousPage).toBe(false);
      expect(pages[0]!.pageInfo.hasNextPage).toBe(true);
      const last = pages[pages.length - 1]!;
      expect(last.edges.length).toBe(1000 % size || size);
      expect(last.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
      for (const p of pages.slice(1, -1)) expect(p.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    });

    it(`pages backwards with last: ${size}: each event once, in order, exact pageInfo`, async () => {
      const pages: PageResult[] = [];
      let before: string | null = null;
      for (;;) {
        const p = await page({ last: size, before });
        pages.push(p);
        if (!p.pageInfo.hasPreviousPage) break;
        expect(p.edges).toHaveLength(size);
        before = p.pageInfo.startCursor;
        expect(pages.length).toBeLessThan(1000);
      }
      // pages arrive newest first; each page is itself in ascending order
      const seen = pages.reverse().flatMap((p) => p.edges.map((e) => ({ eventId: e.node.eventId, timestamp: e.node.timestamp })));
      expect(seen).toEqual(expected);
      const newest = pages[pages.length - 1]!;
      const oldest = pages[0]!;
      expect(newest.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
      expect(oldest.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
      expect(oldest.edges.length).toBe(1000 % size || size);
      // (generous: immudb's descending pages cost an exact ascending re-read each, see immudb-ledger.ts)
    }, 180_000);
  }

  it('pages a window between two cursors, and `before` alone pages backwards', async () => {
    const all = await page({ first: 500 });
    const a = all.edges[100]!.cursor;
    const b = all.edges[131]!.cursor;
    const forward = await page({ first: 50, after: a, before: b });
    expect(forward.edges.map((e) => e.node.eventId)).toEqual(expected.slice(101, 131).map((e) => e.eventId));
    expect(forward.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const clipped = await page({ first: 10, after: a, before: b });
    expect(clipped.edges.map((e) => e.node.eventId)).toEqual(expected.slice(101, 111).map((e) => e.eventId));
    expect(clipped.pageInfo.hasNextPage).toBe(true);
    const backward = await page({ last: 5, after: a, before: b });
    expect(backward.edges.map((e) => e.node.eventId)).toEqual(expected.slice(126, 131).map((e) => e.eventId));
    expect(backward.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    const beforeOnly = await page({ before: b });
    expect(beforeOnly.edges.map((e) => e.node.eventId)).toEqual(expected.slice(81, 131).map((e) => e.eventId));
    const zero = await page({ first: 0 });
    expect(zero.edges).toEqual([]);
    expect(zero.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false, startCursor: null, endCursor: null });
    const empty = await s.gql<{ timeline: PageResult }>(PAGE, { c: `none-${randomUUID()}` });
    expect(empty.body.data!.timeline).toEqual({ edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null } });
  });

  it('keeps cursors stable while new events arrive: no duplicate, nothing that existed is skipped', async () => {
    const first = await page({ first: 100 });
    const seen = first.edges.map((e) => e.node.eventId);
    // new events land before, inside and after the remaining pages
    const base = Date.UTC(2025, 5, 1);
    const fresh = Array.from({ length: 60 }, (_, i) =>
      eventInput({ correlationId: corr, eventId: randomUUID(), timestamp: new Date(base + ((i * 37) % 320) * 1000 - 10_000).toISOString() }),
    );
    expect((await s.gql(CREATE_MANY, { input: fresh })).body.errors).toBeUndefined();
    let after = first.pageInfo.endCursor;
    for (;;) {
      const p = await page({ first: 100, after });
      seen.push(...p.edges.map((e) => e.node.eventId));
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    const old = new Set(expected.map((e) => e.eventId));
    expect(seen.filter((id) => old.has(id))).toEqual(expected.map((e) => e.eventId));
  });
});
