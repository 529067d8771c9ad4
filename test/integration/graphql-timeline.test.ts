/**
 * `timeline` over HTTP on a real immudb: 1,000 events of one correlation interleaved with 1,000
 * of others (similar-looking correlation ids, out-of-order timestamps with ties), paged forwards
 * and backwards with several page sizes: every event exactly once, in (timestamp, eventId) order,
 * with exact pageInfo.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import { CREATE_MANY, eventInput, startTestServer, type TestServer } from '../support/graphql.ts';
import { describeImmudb, immudbAddress, tempDir } from '../support/services.ts';

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

const WINDOW_PAGE = `query Page($c: String!, $since: DateTime, $until: DateTime, $orderBy: AuditEventOrder, $first: Int, $after: String, $last: Int, $before: String) {
  timeline(correlationId: $c, since: $since, until: $until, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { eventId timestamp correlationId } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

type Order = 'TIMESTAMP_ASC' | 'TIMESTAMP_DESC';

/**
 * `timeline(since, until, orderBy)` against brute force: 300 events of one correlation (120
 * timestamps, so many ties) beside neighbours, random windows, both orders, page sizes 1..60,
 * paged to the end forwards (first/after) and backwards (last/before).
 */
function windowSuite(name: string, open: () => Promise<TestServer>) {
  describe(`timeline windows and order over GraphQL: ${name}`, () => {
    let s: TestServer;
    const corr = `tw-${randomUUID().slice(0, 8)}`;
    const base = Date.UTC(2025, 6, 1);
    let sorted: { eventId: string; timestamp: string }[] = [];

    async function page(vars: Record<string, unknown>): Promise<PageResult> {
      const r = await s.gql<{ timeline: PageResult }>(WINDOW_PAGE, { c: corr, ...vars });
      expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
      const p = r.body.data!.timeline;
      expect(p.pageInfo.startCursor).toBe(p.edges[0]?.cursor ?? null);
      expect(p.pageInfo.endCursor).toBe(p.edges[p.edges.length - 1]?.cursor ?? null);
      for (const e of p.edges) expect(e.node.correlationId).toBe(corr);
      return p;
    }
    const brute = (since: number | null, until: number | null, order: Order) => {
      const inside = sorted.filter((e) => (since === null || Date.parse(e.timestamp) >= since) && (until === null || Date.parse(e.timestamp) < until));
      return (order === 'TIMESTAMP_ASC' ? inside : [...inside].reverse()).map((e) => e.eventId);
    };
    const ids = (p: PageResult) => p.edges.map((e) => e.node.eventId);

    beforeAll(async () => {
      s = await open();
      const mine = Array.from({ length: 300 }, (_, i) =>
        eventInput({ correlationId: corr, eventId: randomUUID(), timestamp: new Date(base + ((i * 7919) % 120) * 250).toISOString() }),
      );
      const others = Array.from({ length: 100 }, (_, i) =>
        eventInput({
          correlationId: [`${corr}0`, corr.slice(0, -1)][i % 2],
          eventId: randomUUID(),
          timestamp: new Date(base + (i % 130) * 250 - 1000).toISOString(),
        }),
      );
      const all = shuffle([...mine, ...others], 7);
      for (let i = 0; i < all.length; i += 200) {
        const r = await s.gql(CREATE_MANY, { input: all.slice(i, i + 200) });
        expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
      }
      sorted = mine
        .map((e) => ({ eventId: String(e.eventId), timestamp: String(e.timestamp) }))
        .sort((a, b) => (a.timestamp === b.timestamp ? (a.eventId < b.eventId ? -1 : 1) : a.timestamp < b.timestamp ? -1 : 1));
    });
    afterAll(async () => {
      await s?.close();
    });

    it('pages random windows in both orders, forwards and backwards, exactly as brute force', async () => {
      let seed = 99;
      const rand = () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed / 2 ** 32;
      };
      // a bound on an event's timestamp, between two, before all or after all; or none
      const bound = (): number | null => {
        const r = rand();
        if (r < 0.15) return null;
        return base + Math.floor(rand() * 130 - 5) * 250 + (r < 0.4 ? 100 : 0);
      };
      const sizes = [1, 2, 3, 5, 8, 13, 21, 34, 50, 60];
      const MAX_PAGES = 25;
      for (let c = 0; c < 24; c++) {
        let since = bound();
        let until = bound();
        if (since !== null && until !== null && since > until) [since, until] = [until, since];
        const orderBy: Order = c % 2 ? 'TIMESTAMP_DESC' : 'TIMESTAMP_ASC';
        const size = sizes[c % sizes.length]!;
        const want = brute(since, until, orderBy);
        const window = {
          since: since === null ? null : new Date(since).toISOString(),
          until: until === null ? null : new Date(until).toISOString(),
          // the default order, unspecified, half the time
          ...(orderBy === 'TIMESTAMP_ASC' && c % 4 === 0 ? {} : { orderBy }),
        };
        const label = `${JSON.stringify(window)} by ${size}`;

        // forwards: first/after
        const forward: string[] = [];
        let after: string | null = null;
        for (let n = 0; n < MAX_PAGES; n++) {
          const p = await page({ ...window, first: size, after });
          forward.push(...ids(p));
          expect(p.pageInfo.hasPreviousPage, label).toBe(after !== null);
          expect(p.pageInfo.hasNextPage, label).toBe(forward.length < want.length);
          if (!p.pageInfo.hasNextPage) break;
          expect(p.edges, label).toHaveLength(size);
          after = p.pageInfo.endCursor;
        }
        expect(forward, label).toEqual(want.slice(0, forward.length));
        if (want.length <= size * MAX_PAGES) expect(forward.length, label).toBe(want.length);

        // backwards: last/before, pages arriving from the far end
        const backward: string[][] = [];
        let count = 0;
        let before: string | null = null;
        for (let n = 0; n < MAX_PAGES; n++) {
          const p = await page({ ...window, last: size, before });
          backward.unshift(ids(p));
          count += p.edges.length;
          expect(p.pageInfo.hasNextPage, label).toBe(before !== null);
          expect(p.pageInfo.hasPreviousPage, label).toBe(count < want.length);
          if (!p.pageInfo.hasPreviousPage) break;
          expect(p.edges, label).toHaveLength(size);
          before = p.pageInfo.startCursor;
        }
        expect(backward.flat(), label).toEqual(want.slice(want.length - count));
        if (want.length <= size * MAX_PAGES) expect(count, label).toBe(want.length);
      }
    }, 120_000);

    it('keeps since inclusive and until exclusive, accepts offsets, and bounds by cursors too', async () => {
      const t = (k: number) => new Date(base + k * 250).toISOString();
      const at = sorted.filter((e) => e.timestamp === t(40)).map((e) => e.eventId);
      expect(at.length).toBeGreaterThan(1);
      expect(ids(await page({ since: t(40), until: t(41), first: 60 }))).toEqual(at);
      expect(ids(await page({ since: t(40), until: t(41), orderBy: 'TIMESTAMP_DESC', first: 60 }))).toEqual([...at].reverse());
      expect(ids(await page({ since: t(40), until: t(40), first: 60 }))).toEqual([]);
      // the same instant written with an offset
      const plus2 = new Date(base + 40 * 250 + 2 * 3600_000).toISOString().replace('Z', '+02:00');
      expect(ids(await page({ since: plus2, until: t(41), first: 60 }))).toEqual(at);
      // cursors from the whole timeline, newest first, inside a window
      const want = brute(base + 20 * 250, base + 80 * 250, 'TIMESTAMP_DESC');
      const all = await page({ since: t(20), until: t(80), orderBy: 'TIMESTAMP_DESC', first: 500 });
      expect(ids(all)).toEqual(want);
      const a = all.edges[10]!.cursor;
      const b = all.edges[40]!.cursor;
      const between = await page({ since: t(20), until: t(80), orderBy: 'TIMESTAMP_DESC', first: 50, after: a, before: b });
      expect(ids(between)).toEqual(want.slice(11, 40));
      expect(between.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
      const tail = await page({ since: t(20), until: t(80), orderBy: 'TIMESTAMP_DESC', last: 5, after: a, before: b });
      expect(ids(tail)).toEqual(want.slice(35, 40));
      expect(tail.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
      // a cursor outside the window: the page starts at the window's bound
      const oldest = await page({ first: 1 });
      expect(ids(await page({ since: t(20), until: t(80), first: 3, after: oldest.edges[0]!.cursor }))).toEqual(
        brute(base + 20 * 250, base + 80 * 250, 'TIMESTAMP_ASC').slice(0, 3),
      );
    });

    it('refuses since after until, a bad date-time and an unknown order', async () => {
      const r = await s.gql(WINDOW_PAGE, { c: corr, since: '2025-07-02T00:00:00Z', until: '2025-07-01T00:00:00Z' });
      expect(r.body.data ?? null).toBeNull();
      expect(r.body.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', violations: [{ path: 'since', message: 'must not be after until' }] });
      const bad = await s.gql(WINDOW_PAGE, { c: corr, since: '2025-13-01T00:00:00Z', until: '2025-07-01T00:00:60Z' });
      expect(bad.body.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
      expect(bad.body.errors![0]!.extensions!.violations!.map((v) => v.path)).toEqual(['since', 'until']);
      const order = await s.gql(WINDOW_PAGE, { c: corr, orderBy: 'NEWEST' });
      expect(order.body.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
      const literal = await s.gql(`{ timeline(correlationId: "${corr}", orderBy: NEWEST) { edges { cursor } } }`);
      expect(literal.body.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', violations: [{ path: 'orderBy' }] });
    });
  });
}

if (immudbAddress) windowSuite('immudb', () => startTestServer());
windowSuite('embedded', async () => startTestServer({ ledger: await openEmbeddedLedger({ dataDir: tempDir('auditgraph-tw-') }) }));
