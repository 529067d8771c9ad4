/**
 * The in-process index's data structures (memory-index.ts): sorted member arrays, and the list of
 * correlations by their newest event. No I/O.
 */
import type { RecentCorrelation, TallySpec } from './executor.ts';
import type { MemberRange } from './range.ts';

/** First index whose member is ≥ m (or > m when `strict`). */
export function lowerBound(a: readonly string[], m: string, strict = false): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (strict ? a[mid]! <= m : a[mid]! < m) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** [from, to) indexes of the members of `a` inside `r`. */
export function span(a: readonly string[], r: MemberRange): [number, number] {
  const from = r.min === null ? 0 : lowerBound(a, r.min.value, !r.min.inclusive);
  const to = r.max === null ? a.length : lowerBound(a, r.max.value, r.max.inclusive);
  return [from, Math.max(from, to)];
}

/** Sorted union of a sorted set and sorted distinct additions; returns it and how many were new. */
export function mergeSorted(a: readonly string[], add: readonly string[]): [string[], number] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  let added = 0;
  while (i < a.length || j < add.length) {
    if (j >= add.length || (i < a.length && a[i]! < add[j]!)) out.push(a[i++]!);
    else if (i < a.length && a[i] === add[j]) {
      out.push(a[i++]!);
      j++;
    } else {
      out.push(add[j++]!);
      added++;
    }
  }
  return [out, added];
}

/** Histogram bucket of a millisecond, or -1 outside the spec's buckets. */
export function bucketOf(ms: number, h: NonNullable<TallySpec['histogram']>): number {
  const b = Math.floor((ms - h.origin) / h.width);
  return b >= 0 && b < h.buckets ? b : -1;
}

interface RecentEntry extends RecentCorrelation {
  bytes: Buffer;
}
/** Newest first; ties by correlationId's UTF-8 bytes, descending (as Redis orders `cr`'s ties). */
const recentOrder = (a: RecentEntry, b: RecentEntry): number => b.lastMs - a.lastMs || Buffer.compare(b.bytes, a.bytes);
const recentEntry = (correlationId: string, lastMs: number): RecentEntry => ({ correlationId, lastMs, bytes: Buffer.from(correlationId, 'utf8') });

/** Correlations by their newest event, in `recent` order. */
export class RecentList {
  private list: RecentEntry[] = [];
  private readonly lastOf = new Map<string, number>();

  static of(newest: ReadonlyMap<string, number>): RecentList {
    const r = new RecentList();
    for (const [id, ms] of newest) r.lastOf.set(id, ms);
    r.list = [...newest].map(([id, ms]) => recentEntry(id, ms)).sort(recentOrder);
    return r;
  }

  /** First index that sorts after `e` (or at it, unless `strict`). */
  private bound(e: RecentEntry, strict: boolean): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = recentOrder(this.list[mid]!, e);
      if (c < 0 || (strict && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Moves a correlation up the list when an event at `ms` is its newest. */
  touch(id: string, ms: number): void {
    const old = this.lastOf.get(id);
    if (old !== undefined && old >= ms) return;
    if (old !== undefined) this.list.splice(this.bound(recentEntry(id, old), false), 1);
    const e = recentEntry(id, ms);
    this.list.splice(this.bound(e, false), 0, e);
    this.lastOf.set(id, ms);
  }

  /** At most `limit` correlations strictly after `after` in the list's order. */
  after(after: RecentCorrelation | null, limit: number): RecentCorrelation[] {
    const from = after ? this.bound(recentEntry(after.correlationId, after.lastMs), true) : 0;
    return this.list.slice(from, from + limit).map(({ correlationId, lastMs }) => ({ correlationId, lastMs }));
  }
}
