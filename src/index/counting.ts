/**
 * Exact counts from the index: `totalCount`, and `auditEventStats`' total, groups and histogram.
 * No I/O of its own: it plans with the executor's planner and counts through a SetReader, so the
 * Redis and in-process indexes answer with the same code.
 *
 * A count walks the plan's driver sets (the smallest term's, or every event) and tallies the
 * members that pass the rest of the filter, in bounded calls; a filter whose driver needs no
 * further check is counted from the sets' sizes alone. Cost follows the driver's size in the window.
 * Rollups (rollups.ts) answer the common shapes without walking: coded fields in a window from the
 * time buckets, one eventType or actorId with coded fields and no window from that value's rollup.
 */
import { ValidationError, type FieldViolation } from '../errors.ts';
import { normalizeFilter, type AuditEventFilterInput, type FilterTerm, type NormalizedFilter } from '../events/filter.ts';
import { isCodedField, overflowCode, type CodedField } from './codes.ts';
import { planFor, retryStale, StaleRead, walk, type RollupRequest, type SetReader, type TallyResult, type TallySpec } from './executor.ts';
import { decodeMember, fieldKey, type DimensionField } from './members.ts';
import { coveringUnits, isValueRollupField, MINUTE_MS, minuteReadable, ROLLUP_FIELDS, valueRollupKey } from './rollups.ts';
import { type MemberRange, windowRange } from './range.ts';

/** `StatsInterval` of the API: bucket widths in ms (UTC has no daylight saving: fixed widths). */
export const STATS_INTERVALS = { MINUTE: 60_000, HOUR: 3_600_000, DAY: 86_400_000 } as const;
export type StatsInterval = keyof typeof STATS_INTERVALS;
/** Most histogram buckets one answer may hold. */
export const MAX_BUCKETS = 10_000;

/** `AuditEventDimension` of the API, and the index field each one groups by. */
export const DIMENSIONS = {
  OUTCOME: 'outcome',
  EVENT_TYPE: 'eventType',
  EVENT_CATEGORY: 'eventCategory',
  ACTOR_ID: 'actorId',
  SEVERITY: 'severity',
  CLUSTER_NAME: 'clusterName',
  RESOURCE_TYPE: 'resourceType',
} as const satisfies Record<string, DimensionField>;
export type Dimension = keyof typeof DIMENSIONS;

/** `auditEventStats`' arguments, as a client sends them. */
export interface StatsArgs {
  filter?: AuditEventFilterInput | null;
  groupBy?: readonly string[] | null;
  interval?: string | null;
}

export interface StatsQuery {
  filter: NormalizedFilter;
  groupBy: readonly Dimension[];
  interval: StatsInterval | null;
}

export interface StatsGroup {
  dimension: Dimension;
  value: string;
  count: number;
}

export interface StatsResult {
  total: number;
  /** Per dimension asked for, the values with at least one matching event: most first, then by value. */
  groups: StatsGroup[];
  /** Bucket starts (ms, UTC-aligned) and counts; empty when no interval was asked for. */
  histogram: { start: number; count: number }[];
}

/** Members read per counting call: bounds how long one call holds the store. */
const TALLY_BUDGET = 16_384;
/** Counting walks run at once for one answer (one per group value, at most this many in flight). */
const PARALLEL_COUNTS = 8;

export interface Tally extends Omit<TallyResult, 'last' | 'done'> {
  gen: string;
}

const emptyTally = (spec: TallySpec, gen: string): Tally => ({
  gen,
  count: 0,
  codes: spec.dims.map((f) => new Array<number>(overflowCode(f) + 1).fill(0)),
  histogram: new Array<number>(spec.histogram?.buckets ?? 0).fill(0),
  firstMatch: null,
  lastMatch: null,
});

function merge(into: Tally, r: TallyResult): void {
  into.count += r.count;
  r.codes.forEach((per, i) => {
    per.forEach((n, code) => {
      into.codes[i]![code]! += n;
    });
  });
  r.histogram.forEach((n, b) => {
    into.histogram[b]! += n;
  });
  if (r.firstMatch !== null && (into.firstMatch === null || r.firstMatch < into.firstMatch)) into.firstMatch = r.firstMatch;
  if (r.lastMatch !== null && (into.lastMatch === null || r.lastMatch > into.lastMatch)) into.lastMatch = r.lastMatch;
}

/** Rollup units read per script: keeps each one short. */
const UNITS_PER_CALL = 2_000;

/**
 * The tally from rollups (rollups.ts), when the filter and the groups are the cells' fields and a window only: whole
 * minutes, hours and days from their hashes, the partial minutes at both ends walked. null when
 * rollups cannot answer exactly (a set-field term, a value without a code, an event applied twice).
 */
async function rollupTally(reader: SetReader, filter: NormalizedFilter, spec: TallySpec): Promise<Tally | null> {
  const rolled = (f: string) => (ROLLUP_FIELDS as readonly string[]).includes(f);
  if (!filter.terms.every((t) => rolled(t.field)) || !spec.dims.every(rolled)) return null;
  const keys = filter.terms.flatMap((t) => t.values.map((v) => fieldKey(t.field, v)));
  const probe = await reader.probe({ range: { min: null, max: null }, keys: [], coded: keys });
  if (probe.coded.some((e) => e === null)) return null; // never seen (count it by walking: nothing), or past the codes
  let at = 0;
  const checks = filter.terms.map((t) => ({ field: t.field as CodedField, codes: t.values.map(() => probe.coded[at++]!.code) }));
  // The window: given, or the whole index.
  const all: NormalizedFilter = { terms: [], since: filter.since, until: filter.until };
  const range = windowRange(filter);
  const [first] = filter.since === null ? await walk(reader, all, range, false, 1) : [];
  const [last] = filter.until === null ? await walk(reader, all, range, true, 1) : [];
  const since = filter.since ?? (first === undefined ? null : decodeMember(first).ms);
  const until = filter.until ?? (last === undefined ? null : decodeMember(last).ms + 1);
  const out = emptyTally(spec, probe.gen);
  if (since === null || until === null || until <= since) return out;
  const from = Math.ceil(since / MINUTE_MS) * MINUTE_MS;
  const to = Math.floor(until / MINUTE_MS) * MINUTE_MS;
  if (from >= to) return null; // less than a minute: walking is as cheap
  const h = spec.histogram;
  // Minute buckets past their retention are walked instead (runs of them merged into one range).
  const now = Date.now();
  const units: { key: string; bucket: number }[] = [];
  const walked: [number, number][] = [
    [since, from],
    [to, until],
  ];
  for (const u of coveringUnits(from, to, h ? h.width : Number.POSITIVE_INFINITY)) {
    if (u.key.startsWith('ru:m:') && !minuteReadable(u.start, now)) {
      const run = walked[walked.length - 1]!;
      if (run[1] === u.start && walked.length > 2) run[1] = u.start + MINUTE_MS;
      else walked.push([u.start, u.start + MINUTE_MS]);
    } else units.push({ key: u.key, bucket: h ? Math.floor((u.start - h.origin) / h.width) : -1 });
  }
  const edge = (lo: number, hi: number): Promise<Tally> | null =>
    lo < hi ? tallyFilter(reader, { ...filter, since: lo, until: hi }, spec, undefined, false) : null;
  const parts = await Promise.all([
    ...walked.map(([lo, hi]) => edge(lo, hi)),
    ...Array.from({ length: Math.ceil(units.length / UNITS_PER_CALL) }, (_, i) =>
      reader.rollup({ units: units.slice(i * UNITS_PER_CALL, (i + 1) * UNITS_PER_CALL), checks, dims: spec.dims, buckets: h?.buckets ?? 0 }),
    ),
  ]);
  for (const p of parts) {
    if (p === null) continue;
    if (p.gen !== probe.gen) throw new StaleRead();
    if ('applied' in p && p.applied !== p.events) return null;
    merge(out, { ...p, firstMatch: null, lastMatch: null, last: null, done: true });
  }
  return out;
}

/**
 * The tally from one value rollup (rollups.ts), when the filter is one eventType or one actorId
 * value and coded terms of the cells' fields, without a window, and the groups are the cells'
 * fields: one hash instead of the value's set. null when it cannot answer exactly (another shape,
 * a coded value without a code, an event applied twice).
 */
async function valueRollupTally(reader: SetReader, filter: NormalizedFilter, spec: TallySpec): Promise<Tally | null> {
  if (filter.since !== null || filter.until !== null || spec.histogram !== null) return null;
  const rolled = (f: string) => (ROLLUP_FIELDS as readonly string[]).includes(f);
  const others = filter.terms.filter((t) => !rolled(t.field));
  const own = others[0];
  if (others.length !== 1 || !own || !isValueRollupField(own.field) || own.values.length !== 1 || !spec.dims.every(rolled)) return null;
  const coded = filter.terms.filter((t) => t !== own);
  let gen: string | null = null;
  const checks: RollupRequest['checks'][number][] = [];
  if (coded.length > 0) {
    const probe = await reader.probe({ range: { min: null, max: null }, keys: [], coded: coded.flatMap((t) => t.values.map((v) => fieldKey(t.field, v))) });
    if (probe.coded.some((e) => e === null)) return null; // never seen, or past the codes: the walk tells
    let at = 0;
    for (const t of coded) checks.push({ field: t.field as CodedField, codes: t.values.map(() => probe.coded[at++]!.code) });
    gen = probe.gen;
  }
  const got = await reader.rollup({ units: [{ key: valueRollupKey(own.field, own.values[0]!), bucket: -1 }], checks, dims: spec.dims, buckets: 0 });
  if (gen !== null && got.gen !== gen) throw new StaleRead();
  if (got.applied !== got.events) return null;
  const out = emptyTally(spec, got.gen);
  merge(out, { ...got, firstMatch: null, lastMatch: null, last: null, done: true });
  return out;
}

/**
 * The matches of `filter` inside `range` (default: its window), tallied per `spec`; exact. May
 * throw StaleRead (callers retry the whole answer with retryStale). A filter of coded fields and a
 * window over the default range is counted from rollups when they answer exactly.
 */
export async function tallyFilter(
  reader: SetReader,
  filter: NormalizedFilter,
  spec: TallySpec,
  range?: MemberRange,
  rollups = range === undefined,
): Promise<Tally> {
  if (rollups) {
    const rolled = (await valueRollupTally(reader, filter, spec)) ?? (await rollupTally(reader, filter, spec));
    if (rolled) return rolled;
  }
  range ??= windowRange(filter);
  const { probe, plan } = await planFor(reader, filter, range);
  const out = emptyTally(spec, probe.gen);
  if (plan.empty) return out;
  const checks = plan.filter.codes.length + plan.filter.sets.length;
  if (checks === 0 && spec.dims.length === 0 && spec.histogram === null) {
    // Nothing to check or tally per member: the driver's sizes are the count.
    const sized = await reader.probe({ range, keys: plan.driver.map((d) => d.key), coded: [], exact: true });
    if (sized.gen !== probe.gen) throw new StaleRead();
    out.count = sized.counts.reduce((a, b) => a + b, 0);
    return out;
  }
  // The driver's sets are disjoint (one term's values), so their tallies add up.
  await Promise.all(
    plan.driver.map(async ({ key }) => {
      let r = range;
      for (;;) {
        const { gen, result } = await reader.tally({ key, range: r, budget: TALLY_BUDGET }, plan.filter, spec);
        if (gen !== probe.gen) throw new StaleRead();
        merge(out, result);
        if (result.done || result.last === null) return;
        r = { min: { value: result.last, inclusive: false }, max: r.max };
      }
    }),
  );
  return out;
}

/** `totalCount`: the events matching the filter, exactly. */
export function countMatches(reader: SetReader, filter: NormalizedFilter): Promise<number> {
  return retryStale(async () => (await tallyFilter(reader, filter, { dims: [], histogram: null })).count);
}

/** The filter narrowed to one value of a field; null when it then matches nothing. */
function withValue(filter: NormalizedFilter, field: DimensionField, value: string): NormalizedFilter | null {
  const own = filter.terms.find((t) => t.field === field);
  if (own && !own.values.includes(value)) return null;
  const term: FilterTerm = { field, values: [value] };
  return { ...filter, terms: own ? filter.terms.map((t) => (t === own ? term : t)) : [...filter.terms, term] };
}

/** Runs `fn` over `items`, a few at a time, in order. */
async function mapLimited<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL_COUNTS, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/**
 * The histogram's buckets for a window [since, until): from the bucket holding `since` to the one
 * holding the window's last millisecond. More than MAX_BUCKETS is BAD_USER_INPUT at `interval`.
 */
export function histogramBuckets(since: number, until: number, interval: StatsInterval): { origin: number; width: number; buckets: number } {
  const width = STATS_INTERVALS[interval];
  const origin = Math.floor(since / width) * width;
  const buckets = until > since ? Math.ceil((until - origin) / width) : 0;
  if (buckets > MAX_BUCKETS) {
    throw new ValidationError([
      {
        path: 'interval',
        message: `would return ${buckets} buckets, more than ${MAX_BUCKETS}: narrow filter.since/filter.until or use a longer interval`,
      },
    ]);
  }
  return { origin, width, buckets };
}

/**
 * Validates `auditEventStats`' arguments, every problem at once (BAD_USER_INPUT), before any I/O:
 * an interval that the given window already makes too fine is refused here.
 */
export function normalizeStatsQuery(args: StatsArgs): StatsQuery {
  const violations: FieldViolation[] = [];
  let filter: NormalizedFilter = { terms: [], since: null, until: null };
  try {
    filter = normalizeFilter(args.filter);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    violations.push(...e.violations);
  }
  const groupBy: Dimension[] = [];
  if (args.groupBy != null) {
    if (!Array.isArray(args.groupBy)) violations.push({ path: 'groupBy', message: 'must be a list' });
    else if (args.groupBy.length > Object.keys(DIMENSIONS).length)
      violations.push({ path: 'groupBy', message: `must have at most ${Object.keys(DIMENSIONS).length} values (each dimension once)` });
    else
      args.groupBy.forEach((d, i) => {
        if (!Object.hasOwn(DIMENSIONS, d)) violations.push({ path: `groupBy.${i}`, message: `must be one of ${Object.keys(DIMENSIONS).join(', ')}` });
        else if (!groupBy.includes(d as Dimension)) groupBy.push(d as Dimension);
      });
  }
  let interval: StatsInterval | null = null;
  if (args.interval != null) {
    if (!Object.hasOwn(STATS_INTERVALS, args.interval))
      violations.push({ path: 'interval', message: `must be one of ${Object.keys(STATS_INTERVALS).join(', ')}` });
    else interval = args.interval as StatsInterval;
  }
  if (violations.length === 0 && interval && filter.since !== null && filter.until !== null) {
    try {
      histogramBuckets(filter.since, filter.until, interval);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      violations.push(...e.violations);
    }
  }
  if (violations.length > 0) throw new ValidationError(violations);
  return { filter, groupBy, interval };
}

/** Groups of one dimension, from the main tally (coded fields) or by counting each value. */
async function groupsOf(reader: SetReader, q: StatsQuery, dimension: Dimension, main: Tally, codedDims: CodedField[]): Promise<StatsGroup[]> {
  const field = DIMENSIONS[dimension];
  const values = (await reader.values(field)).filter((v) => v.count > 0);
  const counted = async (value: string) => {
    const narrowed = withValue(q.filter, field, value);
    return narrowed ? (await tallyFilter(reader, narrowed, { dims: [], histogram: null })).count : 0;
  };
  let counts: number[];
  if (isCodedField(field)) {
    const tallied = main.codes[codedDims.indexOf(field)]!;
    const probe = await reader.probe({ range: { min: null, max: null }, keys: [], coded: values.map((v) => fieldKey(field, v.value)) });
    if (probe.gen !== main.gen) throw new StaleRead();
    const overflowed = tallied[overflowCode(field)]! > 0;
    counts = await mapLimited(values, async (v) => {
      const entry = probe.coded[values.indexOf(v)];
      if (entry) return tallied[entry.code]!;
      return overflowed ? counted(v.value) : 0; // a value past the field's codes: its own set tells
    });
  } else if (q.filter.terms.length === 0) {
    // Only a window: each value's set size in it.
    const probe = await reader.probe({ range: windowRange(q.filter), keys: values.map((v) => fieldKey(field, v.value)), coded: [], exact: true });
    if (probe.gen !== main.gen) throw new StaleRead();
    counts = probe.counts;
  } else {
    counts = await mapLimited(values, (v) => counted(v.value));
  }
  return values
    .map((v, i) => ({ dimension, value: v.value, count: counts[i]! }))
    .filter((g) => g.count > 0)
    .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
}

/** `auditEventStats`: exact counts of the filter's events, by dimension and over time. */
export function computeStats(reader: SetReader, args: StatsArgs): Promise<StatsResult> {
  const q = normalizeStatsQuery(args);
  return retryStale(async () => {
    const { filter } = q;
    let histogram: TallySpec['histogram'] = null;
    // The filter as counted: with the ends found below, so the count does not look for them again.
    let counted = filter;
    if (q.interval) {
      let since = filter.since;
      let until = filter.until;
      const range = windowRange(filter);
      // An open end of the window closes at the first or last matching event.
      if (since === null) {
        const [first] = await walk(reader, filter, range, false, 1);
        since = first === undefined ? null : decodeMember(first).ms;
      }
      if (until === null) {
        const [last] = await walk(reader, filter, range, true, 1);
        until = last === undefined ? null : decodeMember(last).ms + 1;
      }
      if (since !== null && until !== null) {
        histogram = histogramBuckets(since, until, q.interval);
        counted = { ...filter, since, until }; // every match lies inside: the same events
      }
    }
    const dims = [...new Set(q.groupBy)];
    const codedDims = dims.map((d): string => DIMENSIONS[d]).filter(isCodedField);
    const main = await tallyFilter(reader, counted, { dims: codedDims, histogram });
    const groups = (await Promise.all(dims.map((d) => groupsOf(reader, q, d, main, codedDims)))).flat();
    return {
      total: main.count,
      groups,
      histogram: histogram ? main.histogram.map((count, b) => ({ start: histogram.origin + b * histogram.width, count })) : [],
    };
  });
}
