/**
 * The embedded ledger's in-memory index, rebuilt from the log's keys at start-up (values stay on
 * disk and are read by offset). Events are numbered in log order; per event it keeps where its
 * timeline entry is, and per correlation the event numbers sorted by (timestamp, eventId) — the
 * byte order of immudb's timeline keys, so scans page exactly like an immudb prefix scan.
 *
 * Plain number arrays: V8 stores them unboxed, ~8 bytes per field per event.
 */
/** A keyset position in a timeline: strictly-after semantics in either direction. */
export interface IndexPosition {
  tsMs: number;
  eventId: string;
}

interface Timeline {
  items: number[];
  /** False while bulk loading appended out of order; sorted once by finishBulk. */
  sorted: boolean;
}

export class EventIndex {
  readonly eventIds: string[] = [];
  readonly tsMs: number[] = [];
  readonly txIds: number[] = [];
  readonly entryOff: number[] = [];
  readonly entryLen: number[] = [];
  readonly leaf: number[] = [];
  private readonly byId = new Map<string, number>();
  private readonly timelines = new Map<string, Timeline>();

  get size(): number {
    return this.eventIds.length;
  }

  /** Event number of a lowercase eventId. */
  find(eventId: string): number | undefined {
    return this.byId.get(eventId);
  }

  has(eventId: string): boolean {
    return this.byId.has(eventId);
  }

  /**
   * Adds an event: `prefix` is its `tl/<esc(correlationId)>/` as latin1 (one timeline per
   * prefix), `entryOff`/`entryLen` where its timeline entry is in the file, `leaf` its position
   * in the tx. `bulk` (start-up) appends and sorts later; otherwise it is inserted in place so
   * that scans see it at once. Positional arguments: this runs once per event at start-up.
   */
  add(eventId: string, prefix: string, tsMs: number, txId: number, entryOff: number, entryLen: number, leaf: number, bulk: boolean): number {
    const n = this.eventIds.length;
    if (!bulk && this.byId.has(eventId)) throw new Error(`eventId ${eventId} is stored twice`);
    // Bulk: one Map operation per event; a duplicate in the log shows as no growth (start-up then fails).
    this.byId.set(eventId, n);
    if (this.byId.size !== n + 1) throw new Error(`eventId ${eventId} is stored twice`);
    this.eventIds.push(eventId);
    this.tsMs.push(tsMs);
    this.txIds.push(txId);
    this.entryOff.push(entryOff);
    this.entryLen.push(entryLen);
    this.leaf.push(leaf);
    let t = this.timelines.get(prefix);
    if (!t) {
      t = { items: [], sorted: true };
      this.timelines.set(prefix, t);
    }
    const items = t.items;
    const last = items[items.length - 1];
    if (last === undefined || this.compare(last, n) < 0) items.push(n);
    else if (bulk) {
      items.push(n);
      t.sorted = false;
    } else items.splice(this.upperBound(items, { tsMs, eventId }), 0, n);
    return n;
  }

  /** Ends a bulk load: sorts the timelines that were appended out of order. */
  finishBulk(): void {
    for (const t of this.timelines.values()) {
      if (t.sorted) continue;
      t.items.sort((a, b) => this.compare(a, b));
      t.sorted = true;
    }
  }

  /**
   * Up to `limit` event numbers of one timeline strictly after `after` in the scan direction,
   * and whether more follow them.
   */
  scan(prefix: string, after: IndexPosition | undefined, limit: number, desc: boolean): { items: number[]; hasMore: boolean } {
    const t = this.timelines.get(prefix);
    if (!t || t.items.length === 0) return { items: [], hasMore: false };
    const items = t.items;
    const out: number[] = [];
    if (!desc) {
      let i = after ? this.upperBound(items, after) : 0;
      for (; i < items.length && out.length < limit; i++) out.push(items[i]!);
      return { items: out, hasMore: i < items.length };
    }
    let i = after ? this.lowerBound(items, after) - 1 : items.length - 1;
    for (; i >= 0 && out.length < limit; i--) out.push(items[i]!);
    return { items: out, hasMore: i >= 0 };
  }

  private compare(a: number, b: number): number {
    const d = this.tsMs[a]! - this.tsMs[b]!;
    if (d !== 0) return d;
    const x = this.eventIds[a]!;
    const y = this.eventIds[b]!;
    return x < y ? -1 : x > y ? 1 : 0;
  }

  private comparePos(a: number, p: IndexPosition): number {
    const d = this.tsMs[a]! - p.tsMs;
    if (d !== 0) return d;
    const x = this.eventIds[a]!;
    return x < p.eventId ? -1 : x > p.eventId ? 1 : 0;
  }

  /** First index whose event is > p. */
  private upperBound(items: number[], p: IndexPosition): number {
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.comparePos(items[mid]!, p) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose event is >= p. */
  private lowerBound(items: number[], p: IndexPosition): number {
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.comparePos(items[mid]!, p) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
