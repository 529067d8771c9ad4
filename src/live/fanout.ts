/**
 * The feed's fan-out: which attached subscriptions an event is for, without asking each of them.
 *
 * - Subscriptions with the same (normalized) filter form one group: the filter is matched once per
 *   event and group, not once per event and subscriber.
 * - A group with terms is indexed under one of them, its anchor (the most selective field it
 *   constrains: resourceId, correlationId, actorId, … outcome last), by each of that term's
 *   values. An event only meets the groups anchored at its own value of each anchor field in use,
 *   plus the groups without terms (no filter, or a time window only). A record has one value per
 *   field, so a group is met at most once per event.
 * - Whatever is met is then checked with `matches` (the other terms, the time window): the index
 *   only narrows, it never decides.
 */
import { fieldValue, matches, type IndexField, type NormalizedFilter } from '../events/filter.ts';
import type { AuditEventRecord } from '../events/types.ts';

/** Anchor preference: the fields that single out the fewest events first. */
const ANCHOR_ORDER: readonly IndexField[] = [
  'resourceId',
  'parentEventId',
  'correlationId',
  'actorId',
  'eventType',
  'eventAction',
  'resourceNamespace',
  'recordedBy',
  'clusterName',
  'resourceType',
  'eventCategory',
  'severity',
  'actorType',
  'outcome',
];

export class FilterGroup<S, E = unknown> {
  readonly members = new Set<S>();
  /** The matching events of the tx being dispatched; null between txs. */
  pending: E[] | null = null;
  constructor(
    readonly key: string,
    readonly filter: NormalizedFilter,
  ) {}
}

/** A filter's canonical key: normalized filters are canonical (fields in order, values sorted and distinct). */
export function filterKey(filter: NormalizedFilter): string {
  return JSON.stringify(filter);
}

export class SubscriberIndex<S, E = unknown> {
  private readonly groups = new Map<string, FilterGroup<S, E>>();
  /** anchor field → value → groups anchored there; only fields some group uses. */
  private readonly anchored = new Map<IndexField, Map<string, Set<FilterGroup<S, E>>>>();
  /** The same, as a list: walked once per event. */
  private anchoredList: { field: IndexField; byValue: Map<string, Set<FilterGroup<S, E>>> }[] = [];
  private readonly unanchored = new Set<FilterGroup<S, E>>();

  /** Adds `member` with `filter` (of key `key`); returns its group. */
  add(member: S, filter: NormalizedFilter, key = filterKey(filter)): FilterGroup<S, E> {
    let group = this.groups.get(key);
    if (!group) {
      group = new FilterGroup<S, E>(key, filter);
      this.groups.set(key, group);
      const anchor = anchorOf(filter);
      if (!anchor) this.unanchored.add(group);
      else {
        let byValue = this.anchored.get(anchor.field);
        if (!byValue) {
          byValue = new Map();
          this.anchored.set(anchor.field, byValue);
          this.anchoredList = [...this.anchored].map(([field, byValue]) => ({ field, byValue }));
        }
        for (const v of anchor.values) {
          let set = byValue.get(v);
          if (!set) {
            set = new Set();
            byValue.set(v, set);
          }
          set.add(group);
        }
      }
    }
    group.members.add(member);
    return group;
  }

  remove(member: S, group: FilterGroup<S, E>): void {
    if (!group.members.delete(member) || group.members.size > 0) return;
    if (this.groups.get(group.key) !== group) return;
    this.groups.delete(group.key);
    const anchor = anchorOf(group.filter);
    if (!anchor) return void this.unanchored.delete(group);
    const byValue = this.anchored.get(anchor.field)!;
    for (const v of anchor.values) {
      const set = byValue.get(v)!;
      set.delete(group);
      if (set.size === 0) byValue.delete(v);
    }
    if (byValue.size === 0) {
      this.anchored.delete(anchor.field);
      this.anchoredList = [...this.anchored].map(([field, byValue]) => ({ field, byValue }));
    }
  }

  /** Distinct filters attached. */
  groupCount(): number {
    return this.groups.size;
  }

  /** Calls `fn` once for every group whose filter `record` matches. Allocates nothing. */
  forEachMatch(record: AuditEventRecord, fn: (group: FilterGroup<S, E>) => void): void {
    for (const g of this.unanchored) if (matches(record, g.filter)) fn(g);
    for (const { field, byValue } of this.anchoredList) {
      const v = fieldValue(record, field);
      if (v === undefined) continue;
      const set = byValue.get(v);
      if (set) for (const g of set) if (matches(record, g.filter)) fn(g);
    }
  }
}

function anchorOf(filter: NormalizedFilter): { field: IndexField; values: readonly string[] } | null {
  let best: { field: IndexField; values: readonly string[] } | null = null;
  let rank = Infinity;
  for (const t of filter.terms) {
    const r = ANCHOR_ORDER.indexOf(t.field);
    if (r < rank) {
      rank = r;
      best = t;
    }
  }
  return best;
}
