/**
 * Runs a query over sorted member sets, whatever stores them. Every store call is bounded (at
 * most MAX_FETCH members per range, per membership batch), and a page costs about
 * (page size) / (selectivity of the checks) candidates of the smallest term, so cost follows the
 * result rather than the index size.
 */
import {
  atOrAfter,
  atOrBefore,
  cursorRange,
  decodeMember,
  encodeCursor,
  GLOBAL_KEY,
  fieldKey,
  isEmptyRange,
  plan,
  windowRange,
  type MemberRange,
  type NormalizedFilter,
  type PageRequest,
} from './query.ts';
import type { IndexPage } from './port.ts';

/** What a store offers the executor. Keys are relative to the store's namespace. */
export interface SetReader {
  /** Members of each key inside the range. */
  counts(keys: readonly string[], range: MemberRange): Promise<number[]>;
  /** For each request, up to `limit` members inside its range, ascending (or descending). */
  range(requests: readonly { key: string; range: MemberRange; desc: boolean; limit: number }[]): Promise<string[][]>;
  /** For each check, which of its members the key holds. */
  contains(checks: readonly { key: string; members: readonly string[] }[]): Promise<boolean[][]>;
}

export const MAX_FETCH = 1000;
const MIN_STREAM_FETCH = 8;

interface Stream {
  key: string;
  count: number;
  range: MemberRange;
  buf: string[];
  pos: number;
  /** The store has nothing more in range beyond what is buffered. */
  done: boolean;
}

/**
 * Up to `want` members matching every term inside `range`, in the walk direction. The driver's
 * sets (one term's values: disjoint) are merged; candidates are then probed in the other terms'
 * sets in batches.
 */
export async function walk(reader: SetReader, filter: NormalizedFilter, range: MemberRange, desc: boolean, want: number): Promise<string[]> {
  if (want <= 0 || isEmptyRange(range)) return [];
  const termKeys = filter.terms.flatMap((t) => t.values.map((v) => fieldKey(t.field, v)));
  const keys = [GLOBAL_KEY, ...new Set(termKeys)];
  const n = await reader.counts(keys, range);
  const counts = new Map(keys.map((k, i) => [k, n[i] ?? 0]));
  const p = plan(filter.terms, counts, counts.get(GLOBAL_KEY) ?? 0);
  if (p.empty) return [];

  const driverTotal = p.driver.reduce((s, k) => s + k.count, 0);
  const streams: Stream[] = p.driver.map(({ key, count }) => ({ key, count, range, buf: [], pos: 0, done: false }));
  const out: string[] = [];
  // Candidates per round: enough to fill the page at the estimated selectivity, doubling when short.
  let batch = Math.min(MAX_FETCH, Math.max(want, Math.ceil((want / Math.max(p.selectivity, 1e-3)) * 1.25)));

  for (;;) {
    const empty = streams.filter((s) => s.pos === s.buf.length && !s.done);
    if (empty.length > 0) {
      const limits = empty.map((s) => Math.min(MAX_FETCH, Math.max(MIN_STREAM_FETCH, Math.ceil((batch * s.count) / driverTotal) + 1)));
      const got = await reader.range(empty.map((s, i) => ({ key: s.key, range: s.range, desc, limit: limits[i]! })));
      empty.forEach((s, i) => {
        const members = got[i] ?? [];
        s.buf = members;
        s.pos = 0;
        s.done = members.length < limits[i]!;
        const last = members[members.length - 1];
        if (last !== undefined) s.range = desc ? { min: s.range.min, max: { value: last, inclusive: false } } : { min: { value: last, inclusive: false }, max: s.range.max };
      });
    }

    // Merge while every stream that may still have members has one buffered.
    const candidates: string[] = [];
    while (candidates.length < batch) {
      if (streams.some((s) => s.pos === s.buf.length && !s.done)) break;
      let best: Stream | null = null;
      for (const s of streams) {
        if (s.pos === s.buf.length) continue;
        const head = s.buf[s.pos]!;
        if (best === null || (desc ? head > best.buf[best.pos]! : head < best.buf[best.pos]!)) best = s;
      }
      if (best === null) break;
      candidates.push(best.buf[best.pos++]!);
    }

    if (candidates.length > 0) {
      if (p.checks.length === 0) out.push(...candidates);
      else {
        // One round trip for every probe; a term passes when any of its keys holds the candidate.
        const held = await reader.contains(p.checks.flat().map((key) => ({ key, members: candidates })));
        const pass = candidates.map(() => true);
        let i = 0;
        for (const keys of p.checks) {
          const any = candidates.map(() => false);
          for (let k = 0; k < keys.length; k++) held[i++]!.forEach((h, c) => h && (any[c] = true));
          any.forEach((a, c) => a || (pass[c] = false));
        }
        candidates.forEach((m, c) => pass[c] && out.push(m));
      }
    }
    if (out.length >= want) return out.slice(0, want);
    if (streams.every((s) => s.done && s.pos === s.buf.length)) return out;
    batch = Math.min(MAX_FETCH, batch * 2);
  }
}

/**
 * One page per the Relay cursor spec. Forward: `size` after `after` (and before `before`), one
 * more to know hasNextPage; hasPreviousPage says whether a match exists at or before `after`.
 * Backward: the mirror image, walked against the order and reversed. Both flags are exact.
 */
export async function findPage(reader: SetReader, filter: NormalizedFilter, req: PageRequest): Promise<IndexPage> {
  const base = windowRange(filter);
  const range = cursorRange(base, req.order, req.after, req.before);
  const descOrder = req.order === 'TIMESTAMP_DESC';
  const walkDesc = req.backward ? !descOrder : descOrder;
  const beyond = req.backward ? req.before : req.after;
  const [main, behind] = await Promise.all([
    walk(reader, filter, range, walkDesc, req.size + 1),
    beyond
      ? walk(reader, filter, req.backward ? atOrAfter(base, req.order, beyond) : atOrBefore(base, req.order, beyond), !walkDesc, 1)
      : Promise.resolve([]),
  ]);
  const more = main.length > req.size;
  const members = main.slice(0, req.size);
  if (req.backward) members.reverse();
  const edges = members.map((m) => {
    const position = decodeMember(m);
    return { eventId: position.eventId, position, cursor: encodeCursor(position) };
  });
  return {
    edges,
    pageInfo: {
      hasNextPage: req.backward ? behind.length > 0 : more,
      hasPreviousPage: req.backward ? more : behind.length > 0,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
  };
}
