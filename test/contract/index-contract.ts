/**
 * The event index contract: every EventIndex (Redis, in-process) must pass it unchanged. Events
 * go through a real ledger and the real indexer; every page is compared with a brute-force model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAuditError } from '../../src/errors.ts';
import { LIMITS } from '../../src/events/limits.ts';
import type { AuditEventRecord, NewEvent } from '../../src/events/types.ts';
import type { Indexer } from '../../src/index/indexer.ts';
import type { EventIndex, IndexPage } from '../../src/index/port.ts';
import type { AuditEventFilterInput } from '../../src/events/filter.ts';
import { decodeIndexCursor as decodeCursor, encodeIndexCursor as encodeCursor, type EventPosition as IndexPosition } from '../../src/events/paging.ts';
import type { IndexOrder } from '../../src/index/range.ts';
import type { Ledger } from '../../src/ledger/port.ts';
import { prng } from '../unit/_random.ts';
import {
  BASE_MS,
  bruteCorrelations,
  bruteStats,
  DIMENSION_OF,
  Model,
  makePools,
  randomEvent,
  randomFilter,
  randomNewFieldsFilter,
  randomValueRollupFilter,
  SPAN_MS,
  type Pools,
} from '../support/index-model.ts';

export interface IndexFixture {
  ledger: Ledger;
  index: EventIndex;
  indexer: Indexer;
  /** Problems found comparing the store's layout with these records exactly (none: []). */
  check?(records: readonly AuditEventRecord[]): Promise<string[]>;
  close(): Promise<void>;
}

const ORDERS: IndexOrder[] = ['TIMESTAMP_ASC', 'TIMESTAMP_DESC'];
const SIZES = [1, 2, 3, 7, 10, 50, 137, 500];

/** Appends in random-size batches (one tx each), as a client would. */
export async function appendAll(ledger: Ledger, events: NewEvent[], rand: () => number): Promise<void> {
  for (let i = 0; i < events.length; ) {
    const n = rand() < 0.3 ? 1 + Math.floor(rand() * 5) : 50 + Math.floor(rand() * 450);
    await ledger.append(events.slice(i, i + n));
    i += n;
  }
}

/** Every page of one traversal checked against the model; returns the eventIds in order. */
export async function traverse(
  index: EventIndex,
  model: Model,
  filter: AuditEventFilterInput,
  order: IndexOrder,
  size: number,
  backward: boolean,
): Promise<string[]> {
  const collected: string[] = [];
  let cursor: string | null = null;
  const where = `filter ${JSON.stringify(filter)} ${order} ${backward ? 'last' : 'first'}=${size}`;
  for (let i = 0; i < 10_000; i++) {
    const args = backward ? { last: size, ...(cursor ? { before: cursor } : {}) } : { first: size, ...(cursor ? { after: cursor } : {}) };
    const page: IndexPage = await index.query({ filter, orderBy: order, ...args });
    const position = cursor ? decodeCursor(cursor) : undefined;
    const expected = model.page(filter, order, backward ? { last: size, before: position } : { first: size, after: position });
    const got = page.edges.map((e) => e.eventId);
    expect(got, `${where}, page ${i}`).toEqual(expected.eventIds);
    expect(page.pageInfo.hasNextPage, `${where}, page ${i}: hasNextPage`).toBe(expected.hasNextPage);
    expect(page.pageInfo.hasPreviousPage, `${where}, page ${i}: hasPreviousPage`).toBe(expected.hasPreviousPage);
    expect(page.pageInfo.startCursor).toBe(page.edges[0]?.cursor ?? null);
    expect(page.pageInfo.endCursor).toBe(page.edges[page.edges.length - 1]?.cursor ?? null);
    if (backward) {
      collected.unshift(...got);
      if (!page.pageInfo.hasPreviousPage) break;
      cursor = page.pageInfo.startCursor;
    } else {
      collected.push(...got);
      if (!page.pageInfo.hasNextPage) break;
      cursor = page.pageInfo.endCursor;
    }
  }
  return collected;
}

/** Random filters × both orders × random page sizes, forwards and backwards, against the model. */
export async function randomizedCheck(index: EventIndex, records: readonly AuditEventRecord[], pools: Pools, seed: number, filters: number): Promise<number> {
  const rand = prng(seed);
  const model = new Model(records);
  let pages = 0;
  for (let f = 0; f < filters; f++) {
    const filter = randomFilter(rand, pools, records);
    for (const order of ORDERS) {
      const all = model.select(filter, order).map((p) => p.eventId);
      for (const backward of [false, true]) {
        // Random size, but at most ~25 pages per traversal to keep the suite quick.
        const size = Math.min(500, Math.max(SIZES[Math.floor(rand() * SIZES.length)]!, Math.ceil(all.length / 25)));
        const got = await traverse(index, model, filter, order, size, backward);
        expect(got, `complete traversal of ${JSON.stringify(filter)} ${order}`).toEqual(all);
        pages += Math.max(1, Math.ceil(all.length / size));
      }
    }
  }
  return pages;
}

/**
 * Random stats (filters, groupings, intervals) and counts against brute force; returns how many had
 * groups and histograms, and how many had the value rollups' shape (one eventType or actorId, the
 * cells' fields, no window, no interval).
 */
export async function statsCheck(
  index: EventIndex,
  records: readonly AuditEventRecord[],
  pools: Pools,
  seed: number,
  n: number,
): Promise<{ grouped: number; histograms: number; valueRolled: number }> {
  const r = prng(seed);
  const model = new Model(records);
  const dims = Object.keys(DIMENSION_OF);
  const cellDims = ['OUTCOME', 'EVENT_CATEGORY', 'RESOURCE_TYPE'];
  const intervals = ['MINUTE', 'HOUR', 'DAY'];
  const iso = (ms: number) => new Date(ms).toISOString();
  let grouped = 0;
  let histograms = 0;
  let valueRolled = 0;
  for (let i = 0; i < n; i++) {
    const pick = r();
    const rolled = pick >= 0.8;
    const filter: AuditEventFilterInput =
      pick < 0.12
        ? {}
        : pick < 0.45
          ? randomFilter(r, pools, records)
          : pick < 0.65
            ? randomNewFieldsFilter(r, pools, 0.3)
            : pick < 0.8
              ? { ...randomFilter(r, pools, records), ...randomNewFieldsFilter(r, pools, 0.2) }
              : randomValueRollupFilter(r, pools);
    // The value rollups' shape is grouped by the cells' fields mostly, and has no histogram mostly.
    const groupBy = (rolled && r() < 0.8 ? cellDims : dims).filter(() => r() < 0.3);
    const interval = r() < (rolled ? 0.15 : 0.6) ? intervals[Math.floor(r() * 3)]! : null;
    // (Groups of a coded field outside the cells are tallied while walking instead.)
    if (rolled && interval === null && !groupBy.some((d) => d === 'SEVERITY' || d === 'CLUSTER_NAME')) valueRolled++;
    if (interval === 'MINUTE' || (interval && r() < 0.3)) {
      // A window the interval can cover (at most 10,000 buckets), sometimes unaligned.
      const since = BASE_MS + Math.floor(r() * SPAN_MS);
      filter.since = iso(since);
      filter.until = iso(since + Math.floor(r() * 6 * 24 * 3600_000));
    }
    const want = bruteStats(model, filter, groupBy, interval);
    const got = await index.stats({ filter, groupBy, interval });
    const where = JSON.stringify({ filter, groupBy, interval });
    expect(got, where).toEqual(want);
    expect(await index.count(filter), where).toBe(want.total);
    if (want.groups.length > 0) grouped++;
    if (want.histogram.length > 0) histograms++;
  }
  return { grouped, histograms, valueRolled };
}

/** Random correlation filters against brute force, every page of random sizes; returns the correlations listed. */
export async function correlationsCheck(index: EventIndex, records: readonly AuditEventRecord[], seed: number, n: number): Promise<number> {
  const r = prng(seed);
  const model = new Model(records);
  const iso = (ms: number) => new Date(ms).toISOString();
  const some = (list: readonly string[]) => list.filter(() => r() < 0.4);
  let listed = 0;
  for (let i = 0; i < n; i++) {
    const cf: { since?: string; until?: string; eventCategory?: string[]; outcome?: string[]; clusterName?: string[] } = {};
    if (r() < 0.4) cf.since = iso(BASE_MS + Math.floor(r() * SPAN_MS));
    if (r() < 0.3) cf.until = iso(Math.max(Date.parse(cf.since ?? iso(BASE_MS)), BASE_MS + Math.floor(r() * SPAN_MS)));
    for (const [name, list] of [
      ['eventCategory', ['gateway', 'workflow', 'auth', 'policy', 'remediation']],
      ['outcome', ['SUCCESS', 'FAILURE', 'PENDING']],
      ['clusterName', ['east-1', 'west-2', 'eu-central', 'c*?']],
    ] as const) {
      const values = r() < 0.35 ? some(list) : [];
      if (values.length > 0) cf[name] = values;
    }
    const want = bruteCorrelations(model, cf);
    const size = [1, 2, 3, 7, 20, 50][i % 6]!;
    const got: unknown[] = [];
    let after: string | null = null;
    for (let p = 0; p < 100; p++) {
      const page = await index.correlations({ filter: cf, first: size, ...(after ? { after } : {}) });
      expect(page.edges.length).toBeLessThanOrEqual(size);
      expect(page.pageInfo.hasPreviousPage).toBe(after !== null);
      got.push(...page.edges.map((e) => e.node));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(got, JSON.stringify({ cf, size })).toEqual(want);
    listed += want.length;
  }
  return listed;
}

export function eventIndexContract(
  name: string,
  open: () => Promise<IndexFixture>,
  /** bulk: whether the first catch-up must have been written in bulk (unset: either). */
  options: { events?: number; filters?: number; seed?: number; bulk?: boolean } = {},
) {
  const total = options.events ?? 5_000;
  const seed = options.seed ?? 20250101;

  describe(`event index contract: ${name}`, () => {
    let fx: IndexFixture;
    let pools: Pools;
    let records: AuditEventRecord[];
    const rand = prng(seed);

    beforeAll(async () => {
      fx = await open();
      pools = makePools(rand);
      const events = Array.from({ length: total }, () => randomEvent(rand, pools));
      await appendAll(fx.ledger, events, rand);
      records = events.map((e) => e.record);
      await fx.indexer.catchUp();
    }, 180_000);
    afterAll(async () => {
      await fx?.close();
    });

    it('holds every ledger event exactly once and is ready at the ledger head', async () => {
      const state = await fx.index.state();
      expect(state).toMatchObject({ status: 'ready', checkpoint: await fx.ledger.lastTxId(), events: total, applied: total });
      if (options.bulk !== undefined) expect(fx.indexer.stats.bulkLoads > 0, 'written in bulk').toBe(options.bulk);
      if (fx.check) expect(await fx.check(records)).toEqual([]);
      const all = await fx.index.query({ first: 500, orderBy: 'TIMESTAMP_ASC' });
      expect(all.edges).toHaveLength(500);
      expect(all.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    });

    it(`answers ${options.filters ?? 200} random filters × both orders exactly, paging forwards and backwards`, async () => {
      const pages = await randomizedCheck(fx.index, records, pools, seed + 1, options.filters ?? 200);
      expect(pages).toBeGreaterThan(400);
    }, 300_000);

    it('pages exactly between arbitrary cursors, also ones outside the result and on tied milliseconds', async () => {
      const r = prng(seed + 2);
      const model = new Model(records);
      const anyPosition = (): IndexPosition => model.sorted[Math.floor(r() * model.sorted.length)]!.position;
      for (let i = 0; i < 150; i++) {
        const filter = r() < 0.3 ? {} : randomFilter(r, pools, records);
        const order = ORDERS[i % 2]!;
        let after: IndexPosition | undefined = r() < 0.7 ? anyPosition() : undefined;
        let before: IndexPosition | undefined = r() < 0.5 ? anyPosition() : undefined;
        if (r() < 0.2 && after) before = undefined;
        const size = SIZES[Math.floor(r() * SIZES.length)]!;
        const backward = r() < 0.5;
        if (r() < 0.1) [after, before] = [before, after];
        const args = {
          ...(backward ? { last: size } : { first: size }),
          ...(after ? { after: encodeCursor(after) } : {}),
          ...(before ? { before: encodeCursor(before) } : {}),
        };
        const page = await fx.index.query({ filter, orderBy: order, ...args });
        const expected = model.page(filter, order, { ...(backward ? { last: size } : { first: size }), after, before });
        const where = `${JSON.stringify(filter)} ${order} ${JSON.stringify(args)}`;
        expect(
          page.edges.map((e) => e.eventId),
          where,
        ).toEqual(expected.eventIds);
        expect(page.pageInfo.hasNextPage, `${where}: hasNextPage`).toBe(expected.hasNextPage);
        expect(page.pageInfo.hasPreviousPage, `${where}: hasPreviousPage`).toBe(expected.hasPreviousPage);
      }
    }, 120_000);

    it('filters on severity, eventAction, resourceNamespace, clusterName, recordedBy, parentEventId and correlationIds, alone and combined, exactly', async () => {
      const r = prng(seed + 5);
      const model = new Model(records);
      const singles: AuditEventFilterInput[] = [];
      for (let i = 0; i < 400 && singles.length < 28; i++) {
        const f = randomNewFieldsFilter(r, pools, 0.2);
        if (Object.keys(f).length === 1) singles.push(f);
      }
      const fields = new Set(singles.flatMap((f) => Object.keys(f)));
      expect([...fields].sort()).toEqual(['clusterName', 'correlationIds', 'eventAction', 'parentEventId', 'recordedBy', 'resourceNamespace', 'severity']);
      const combined: AuditEventFilterInput[] = [];
      while (combined.length < 30) {
        const f = { ...(r() < 0.5 ? randomFilter(r, pools, records) : {}), ...randomNewFieldsFilter(r, pools, 0.45) };
        if (Object.keys(f).length >= 2) combined.push(f);
      }
      const fixed: AuditEventFilterInput[] = [
        { severity: ['CRITICAL', 'ERROR'] },
        { severity: ['INFO'], clusterName: ['east-1'] },
        { recordedBy: ['gateway'], outcome: ['FAILURE'] },
        { resourceNamespace: ['prod'], resourceType: 'pod' },
        { parentEventId: pools.parentIds[0]!.toUpperCase(), severity: ['INFO', 'WARNING'] },
        { correlationIds: pools.correlationIds.slice(0, 3) },
        { correlationId: pools.correlationIds[1]!, correlationIds: pools.correlationIds.slice(0, 3) },
        { correlationId: pools.correlationIds[5]!, correlationIds: pools.correlationIds.slice(0, 3) }, // disjoint: nothing
        { eventAction: ['{x}', 'a:oc:FAILURE'], clusterName: ['c*?'] },
      ];
      let nonEmpty = 0;
      for (const [i, filter] of [...fixed, ...singles, ...combined].entries()) {
        const order = ORDERS[i % 2]!;
        const all = model.select(filter, order).map((p) => p.eventId);
        if (all.length > 0) nonEmpty++;
        const size = Math.max(SIZES[i % SIZES.length]!, Math.ceil(all.length / 20));
        for (const backward of [false, true]) {
          expect(await traverse(fx.index, model, filter, order, size, backward), `${JSON.stringify(filter)} ${order}`).toEqual(all);
        }
      }
      expect(model.select(fixed[7]!, 'TIMESTAMP_ASC')).toEqual([]);
      expect(model.select(fixed[6]!, 'TIMESTAMP_ASC').length).toBeGreaterThan(0);
      expect(nonEmpty).toBeGreaterThan(40);
    }, 300_000);

    it('refuses bad arguments with BAD_USER_INPUT, naming the field', async () => {
      const bad: [Parameters<EventIndex['query']>[0], string][] = [
        [{ filter: { eventType: [] } }, 'filter.eventType'],
        [{ filter: { actorId: ['ok', ''] } }, 'filter.actorId.1'],
        [{ filter: { outcome: ['MAYBE'] } }, 'filter.outcome.0'],
        [{ filter: { actorId: ['\ud800'] } }, 'filter.actorId.0'],
        [{ filter: { since: 'yesterday' } }, 'filter.since'],
        [{ filter: { until: '2025-01-01T00:00:00.0001Z' } }, 'filter.until'],
        [{ filter: { since: '2025-01-02T00:00:00Z', until: '2025-01-01T23:59:59.999Z' } }, 'filter.since'],
        [{ filter: { eventType: Array.from({ length: 101 }, (_, i) => `t${i}`) } }, 'filter.eventType'],
        [{ filter: { severity: ['LOUD'] } }, 'filter.severity.0'],
        [{ filter: { severity: [] } }, 'filter.severity'],
        [{ filter: { clusterName: Array.from({ length: 101 }, (_, i) => `c${i}`) } }, 'filter.clusterName'],
        [{ filter: { recordedBy: Array.from({ length: 101 }, (_, i) => `r${i}`) } }, 'filter.recordedBy'],
        [{ filter: { eventAction: ['ok', ''] } }, 'filter.eventAction.1'],
        [{ filter: { resourceNamespace: ['x'.repeat(LIMITS.identifierMaxChars + 1)] } }, 'filter.resourceNamespace.0'],
        [{ filter: { correlationIds: Array.from({ length: 101 }, (_, i) => `c${i}`) } }, 'filter.correlationIds'],
        [{ filter: { correlationId: 'a', correlationIds: [] } }, 'filter.correlationIds'],
        [{ filter: { parentEventId: 'not-a-uuid' } }, 'filter.parentEventId'],
        [{ first: 501 }, 'first'],
        [{ last: -1 }, 'last'],
        [{ first: 1, last: 1 }, 'first'],
        [{ after: 'bm9wZQ' }, 'after'],
        [{ before: 'not a cursor' }, 'before'],
        [{ orderBy: 'SIDEWAYS' as IndexOrder }, 'orderBy'],
      ];
      for (const [q, path] of bad) {
        const e = await fx.index.query(q).then(
          () => null,
          (err: unknown) => err,
        );
        expect(isAuditError(e) && e.code, JSON.stringify(q)).toBe('BAD_USER_INPUT');
        const violations = (e as { details: { violations: { path: string }[] } }).details.violations;
        expect(
          violations.map((v) => v.path),
          JSON.stringify(q),
        ).toContain(path);
      }
    });

    it('treats [since, until) as half-open and an empty window (since = until) as empty', async () => {
      const model = new Model(records);
      const hot = pools.hotMs[0]!;
      const at = new Date(hot).toISOString();
      const next = new Date(hot + 1).toISOString();
      const only = await fx.index.query({ filter: { since: at, until: next }, first: 500, orderBy: 'TIMESTAMP_ASC' });
      expect(only.edges.map((e) => e.eventId)).toEqual(model.select({ since: at, until: next }, 'TIMESTAMP_ASC').map((p) => p.eventId));
      expect(only.edges.length).toBeGreaterThan(10); // a hot millisecond: many ties, eventId order
      expect(only.edges.every((e) => e.position.ms === hot)).toBe(true);
      const none = await fx.index.query({ filter: { since: at, until: at } });
      expect(none).toEqual({ edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null } });
      const offset = await fx.index.query({
        filter: { since: new Date(hot).toISOString().replace('Z', '+00:00'), until: next },
        first: 500,
        orderBy: 'TIMESTAMP_ASC',
      });
      expect(offset.edges.map((e) => e.eventId)).toEqual(only.edges.map((e) => e.eventId));
    });

    it('keeps cursors stable while events arrive: no duplicate, nothing skipped that existed', async () => {
      const r = prng(seed + 3);
      const filter: AuditEventFilterInput = { outcome: ['FAILURE', 'PENDING'] };
      for (const order of ORDERS) {
        const seen: string[] = [];
        const before = new Model(records).select(filter, order).map((p) => p.eventId);
        let cursor: string | null = null;
        for (;;) {
          const page: IndexPage = await fx.index.query({ filter, orderBy: order, first: 137, ...(cursor ? { after: cursor } : {}) });
          seen.push(...page.edges.map((e) => e.eventId));
          // Between pages: more events, anywhere in time, some matching the filter.
          const more = Array.from({ length: 40 }, () => randomEvent(r, pools));
          await fx.ledger.append(more);
          records.push(...more.map((e) => e.record));
          await fx.indexer.catchUp();
          if (!page.pageInfo.hasNextPage) break;
          cursor = page.pageInfo.endCursor;
        }
        expect(new Set(seen).size).toBe(seen.length);
        const got = new Set(seen);
        expect(before.filter((id) => !got.has(id))).toEqual([]);
      }
      // and the index still equals the ledger exactly
      const state = await fx.index.state();
      expect(state).toMatchObject({ events: records.length, applied: records.length });
      if (fx.check) expect(await fx.check(records)).toEqual([]);
      await randomizedCheck(fx.index, records, pools, seed + 4, 10);
    }, 120_000);

    it('counts, stats and correlations equal brute force: 200 random filters, groupings and intervals; correlations across pages', async () => {
      const r = prng(seed + 6);
      // Correlations whose newest events share one millisecond (ties go by id bytes), ids beyond ASCII.
      const tieMs = BASE_MS + SPAN_MS + 60_000;
      const ties = ['zz-tie-a', 'zz-tie-b', '中文-tie', '😀-tie', 'Z-tie', 'zz-tie-a'].map((correlationId) =>
        randomEvent(r, pools, { correlationId, ms: tieMs }),
      );
      await fx.ledger.append(ties);
      records.push(...ties.map((e) => e.record));
      await fx.indexer.catchUp();
      const model = new Model(records);
      const { grouped, histograms, valueRolled } = await statsCheck(fx.index, records, pools, seed + 7, 200);
      expect(grouped).toBeGreaterThan(50);
      expect(histograms).toBeGreaterThan(50);
      expect(valueRolled).toBeGreaterThan(20);
      expect(await correlationsCheck(fx.index, records, seed + 8, 40)).toBeGreaterThan(100);
      const top = await fx.index.correlations({ first: 6 });
      expect(top.edges.map((e) => e.node.correlationId)).toEqual([
        '😀-tie',
        '中文-tie',
        'zz-tie-b',
        'zz-tie-a',
        'Z-tie',
        bruteCorrelations(model, {})[5]!.correlationId,
      ]);
      expect(top.edges[3]!.node.eventCount).toBe(2);
    }, 300_000);

    it('refuses bad stats and correlations arguments with BAD_USER_INPUT, naming the argument, before reading anything', async () => {
      const cases: [() => Promise<unknown>, string][] = [
        [() => fx.index.stats({ groupBy: ['COLOUR'] }), 'groupBy.0'],
        [() => fx.index.stats({ interval: 'FORTNIGHT' }), 'interval'],
        [() => fx.index.stats({ interval: 'MINUTE', filter: { since: '2025-01-01T00:00:00Z', until: '2025-01-08T00:00:00Z' } }), 'interval'],
        [() => fx.index.stats({ interval: 'MINUTE' }), 'interval'], // the data spans more than 10,000 minutes
        [() => fx.index.stats({ filter: { since: '2025-01-02T00:00:00Z', until: '2025-01-01T00:00:00Z' } }), 'filter.since'],
        [() => fx.index.stats({ filter: { actorId: Array.from({ length: 101 }, (_, i) => `a${i}`) } }), 'filter.actorId'],
        [() => fx.index.count({ severity: ['LOUD'] }), 'filter.severity.0'],
        [() => fx.index.correlations({ filter: { outcome: ['MAYBE'] } }), 'filter.outcome.0'],
        [() => fx.index.correlations({ filter: { since: '2025-01-02T00:00:00Z', until: '2025-01-01T00:00:00Z' } }), 'filter.since'],
        [() => fx.index.correlations({ filter: { clusterName: Array.from({ length: 101 }, (_, i) => `c${i}`) } }), 'filter.clusterName'],
        [() => fx.index.correlations({ first: 501 }), 'first'],
        [() => fx.index.correlations({ after: 'bm9wZQ' }), 'after'],
      ];
      for (const [call, path] of cases) {
        const e = await call().then(
          () => null,
          (err: unknown) => err,
        );
        expect(isAuditError(e) && e.code, path).toBe('BAD_USER_INPUT');
        expect((e as { details: { violations: { path: string }[] } }).details.violations.map((v) => v.path)).toContain(path);
      }
    });
  });
}
