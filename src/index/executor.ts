/**
 * Runs a query over sorted member sets, whatever stores them. Every store call is bounded (at
 * most MAX_FETCH members returned and about `budget` members read per stream), and a page costs
 * about (page size) / (selectivity of the filter) members of the smallest term's sets, so cost
 * follows the result rather than the index size.
 *
 * The store applies the filter while it reads (codes on the member bytes, membership in the other
 * terms' sets): one round trip per round, and only matches travel.
 */
import { AuditError, ErrorCode } from '../errors.ts';
import type { NormalizedFilter } from '../events/filter.ts';
import { encodeIndexCursor, pageOf } from '../events/paging.ts';
import { isCodedField, type CodeEntry, type CodedField } from './codes.ts';
import type { IndexPage } from './port.ts';
import { decodeMember, GLOBAL_KEY, type DimensionField } from './members.ts';
import { plan, termKeys, type MemberFilter, type Plan } from './plan.ts';
import { atOrAfter, atOrBefore, cursorRange, isEmptyRange, windowRange, type IndexPageRequest, type MemberRange } from './range.ts';

export interface ProbeRequest {
  range: MemberRange;
  /** Set keys to count inside the range. */
  keys: readonly string[];
  /** Coded values (their set keys) to look up in the codebook. */
  coded: readonly string[];
  /** Count every key exactly, however big the range (stats); otherwise big ranges are estimated. */
  exact?: boolean;
}

export interface ProbeResult {
  /** Changes whenever a set may have lost members (a value turned dense, a rebuild). */
  gen: string;
  /** Distinct events in the index. */
  events: number;
  /** Members of each key inside the range: exact when small, estimated for big ranges, 0 only when empty. */
  counts: number[];
  coded: (CodeEntry | null)[];
}

export interface ScanStream {
  key: string;
  range: MemberRange;
  desc: boolean;
  /** Matches to return at most. */
  limit: number;
  /** Members to read (plus membership probes) at most; at least one is always read. */
  budget: number;
}

export interface ScanResult {
  /** Members that passed the filter, in walk order. */
  members: string[];
  /** The last member read (passed or not); null when none was. */
  last: string | null;
  /** Nothing is left in the range beyond `last`. */
  done: boolean;
}

/** What a counting walk tallies among the members that pass its filter. */
export interface TallySpec {
  /** Coded fields whose codes are counted (per field, an array indexed by code). */
  dims: readonly CodedField[];
  /** Bucket of a match: floor((ms − origin) / width), counted when in [0, buckets). */
  histogram: { origin: number; width: number; buckets: number } | null;
}

export interface TallyStream {
  key: string;
  range: MemberRange;
  /** Members to read (plus membership probes) at most in this call; at least one is read. */
  budget: number;
}

export interface TallyResult {
  count: number;
  /** Per dim of the spec, matches by code (index = code). */
  codes: number[][];
  histogram: number[];
  /** The first and last matching members, in ascending order; null when none matched. */
  firstMatch: string | null;
  lastMatch: string | null;
  /** The last member read; null when none was. */
  last: string | null;
  done: boolean;
}

/** What to add up from rollups (rollups.ts). */
export interface RollupRequest {
  /** Bucket hashes, each with the histogram bucket it falls in (-1: none). */
  units: readonly { key: string; bucket: number }[];
  /** A cell passes when each check allows its field's code. */
  checks: readonly { field: CodedField; codes: readonly number[] }[];
  dims: readonly CodedField[];
  buckets: number;
}

export interface RollupResult {
  gen: string;
  /** The index's `events` and `applied`: rollups are exact only when they are equal. */
  events: number;
  applied: number;
  count: number;
  codes: number[][];
  histogram: number[];
}

/** A dimension value known to the index, with its events (all time, this epoch). */
export interface ValueCount {
  value: string;
  count: number;
}

/** A correlation in the list of the most recently active: its newest event's ms. */
export interface RecentCorrelation {
  correlationId: string;
  lastMs: number;
}

/** What a store offers the executor. Keys are relative to the store's namespace. */
export interface SetReader {
  /** Counts and codebook entries for a plan; throws INDEX_UNAVAILABLE when the index is not ready. */
  probe(req: ProbeRequest): Promise<ProbeResult>;
  /** Reads each stream in its direction from its range's start, keeping members that pass the filter. */
  scan(streams: readonly ScanStream[], filter: MemberFilter): Promise<{ gen: string; results: ScanResult[] }>;
  /** Reads one stream ascending from its range's start and counts what passes the filter. */
  tally(stream: TallyStream, filter: MemberFilter, spec: TallySpec): Promise<{ gen: string; result: TallyResult }>;
  /** Adds up rollup buckets; throws INDEX_UNAVAILABLE when the index is not ready. */
  rollup(req: RollupRequest): Promise<RollupResult>;
  /** The values the index has seen of a dimension field (stats groups). */
  values(field: DimensionField): Promise<ValueCount[]>;
  /**
   * Correlations by last activity, newest first (ties: correlationId's UTF-8 bytes, descending),
   * strictly after `after` in that order; at most `limit`.
   */
  recent(after: RecentCorrelation | null, limit: number): Promise<RecentCorrelation[]>;
}

export const MAX_FETCH = 1000;
/** Most members one stream reads per round trip. */
export const MAX_BUDGET = 8192;
const MIN_BUDGET = 64;

/** A set lost members while the query ran: start the query over. */
export class StaleRead extends Error {
  constructor() {
    super('the index changed while it was read');
  }
}

interface Stream {
  key: string;
  count: number;
  range: MemberRange;
  buf: string[];
  pos: number;
  /** Every member up to here (in walk order) has been read. */
  frontier: string | null;
  done: boolean;
  rounds: number;
}

/**
 * Up to `want` members matching the filter inside `range`, in the walk direction. The driver's
 * sets (one term's values: disjoint) are merged: a member is taken only once every other stream
 * has read past it.
 */
export async function walk(reader: SetReader, filter: NormalizedFilter, range: MemberRange, desc: boolean, want: number): Promise<string[]> {
  if (want <= 0 || isEmptyRange(range)) return [];
  const { probe, plan: p } = await planFor(reader, filter, range);
  if (p.empty) return [];

  const driverTotal = Math.max(
    1,
    p.driver.reduce((s, k) => s + k.count, 0),
  );
  const streams: Stream[] = p.driver.map(({ key, count }) => ({ key, count, range, buf: [], pos: 0, frontier: null, done: false, rounds: 0 }));
  const before = (a: string, b: string) => (desc ? a > b : a < b);
  const selectivity = Math.max(p.selectivity, 1 / 4096);
  const out: string[] = [];

  for (;;) {
    // Merge: take the next member in walk order while no unfinished stream may still hold an earlier one.
    while (out.length < want) {
      let best: Stream | null = null;
      for (const s of streams) if (s.pos < s.buf.length && (best === null || before(s.buf[s.pos]!, best.buf[best.pos]!))) best = s;
      if (best === null) break;
      const head = best.buf[best.pos]!;
      if (streams.some((s) => s !== best && s.pos === s.buf.length && !s.done && (s.frontier === null || before(s.frontier, head)))) break;
      out.push(head);
      best.pos++;
    }
    if (out.length >= want) return out;
    const empty = streams.filter((s) => s.pos === s.buf.length && !s.done);
    if (empty.length === 0) return out;

    const missing = want - out.length;
    const requests = empty.map((s) => {
      const limit = Math.min(MAX_FETCH, Math.max(8, Math.ceil(((missing * s.count) / driverTotal) * 1.25) + 1));
      // Enough reading to find `limit` matches at the estimated selectivity, doubling when it was wrong.
      const budget = Math.min(MAX_BUDGET, Math.max(MIN_BUDGET, Math.ceil(limit / selectivity) * 2 ** s.rounds));
      s.rounds++;
      return { key: s.key, range: s.range, desc, limit, budget };
    });
    const got = await reader.scan(requests, p.filter);
    if (got.gen !== probe.gen) throw new StaleRead();
    empty.forEach((s, i) => {
      const r = got.results[i]!;
      s.buf = r.members;
      s.pos = 0;
      s.done = r.done;
      if (r.last !== null) {
        s.frontier = r.last;
        const past = { value: r.last, inclusive: false };
        s.range = desc ? { min: s.range.min, max: past } : { min: past, max: s.range.max };
      }
    });
  }
}

/** Probes the store for the filter's counts and codes in `range`, and plans the walk. */
export async function planFor(reader: SetReader, filter: NormalizedFilter, range: MemberRange): Promise<{ probe: ProbeResult; plan: Plan }> {
  const keys = [GLOBAL_KEY, ...new Set(filter.terms.flatMap(termKeys))];
  const coded = [...new Set(filter.terms.filter((t) => isCodedField(t.field)).flatMap(termKeys))];
  const probe = await reader.probe({ range, keys, coded });
  const counts = new Map(keys.map((k, i) => [k, probe.counts[i] ?? 0]));
  const codes = new Map<string, CodeEntry>();
  coded.forEach((k, i) => {
    const e = probe.coded[i];
    if (e) codes.set(k, e);
  });
  return { probe, plan: plan(filter.terms, { total: counts.get(GLOBAL_KEY) ?? 0, events: probe.events, counts, codes }) };
}

const MAX_ATTEMPTS = 5;

/** Runs `read`, starting over when a set lost members meanwhile (StaleRead), a few times at most. */
export async function retryStale<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (e) {
      if (!(e instanceof StaleRead)) throw e;
      if (attempt >= MAX_ATTEMPTS)
        throw new AuditError(ErrorCode.INDEX_UNAVAILABLE, 'The event index kept changing while it was read; try again', {}, { cause: e });
    }
  }
}

/**
 * One page per the Relay cursor spec. Forward: `size` after `after` (and before `before`), one
 * more to know hasNextPage; hasPreviousPage says whether a match exists at or before `after`.
 * Backward: the mirror image, walked against the order and reversed. Both flags are exact.
 * Started over when a set lost members meanwhile (a value turned dense: rare, early in an index).
 */
export function findPage(reader: SetReader, filter: NormalizedFilter, req: IndexPageRequest): Promise<IndexPage> {
  return retryStale(() => tryPage(reader, filter, req));
}

async function tryPage(reader: SetReader, filter: NormalizedFilter, req: IndexPageRequest): Promise<IndexPage> {
  const base = windowRange(filter);
  const range = cursorRange(base, req.order, req.after, req.before);
  const descOrder = req.order === 'TIMESTAMP_DESC';
  const walkDesc = req.backward ? !descOrder : descOrder;
  const beyond = req.backward ? req.before : req.after;
  const [main, behind] = await Promise.all([
    walk(reader, filter, range, walkDesc, req.size + 1),
    beyond ? walk(reader, filter, req.backward ? atOrAfter(base, req.order, beyond) : atOrBefore(base, req.order, beyond), !walkDesc, 1) : Promise.resolve([]),
  ]);
  const more = main.length > req.size;
  const members = main.slice(0, req.size);
  if (req.backward) members.reverse();
  const edges = members.map((m) => {
    const position = decodeMember(m);
    return { eventId: position.eventId, position, cursor: encodeIndexCursor(position) };
  });
  return pageOf(edges, { backward: req.backward, more, behind: behind.length > 0 });
}
