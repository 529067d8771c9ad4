/**
 * For the index suites: random events that stress the index (hot milliseconds with many ties,
 * skewed value frequencies, hostile actor ids), random filters, and the brute-force model every
 * page is compared with.
 */
import { isWellFormed } from '../../src/events/json.ts';
import type { NewEvent, AuditEventRecord } from '../../src/events/types.ts';
import { validateEventInput } from '../../src/events/validate.ts';
import { matches, normalizeFilter, type AuditEventFilterInput } from '../../src/events/filter.ts';
import { comparePositions, encodeIndexCursor as encodeCursor, positionOf, type EventPosition as IndexPosition } from '../../src/events/paging.ts';
import type { IndexOrder } from '../../src/index/range.ts';
import { NASTY_ALPHABET, randomString, randomUuid } from '../unit/_random.ts';

export const BASE_MS = Date.UTC(2025, 0, 1);
export const SPAN_MS = 10 * 24 * 3600_000;

const EVENT_TYPES = [
  'gateway.signal.received',
  'workflow.step.completed',
  'workflow.step.failed',
  'auth.login',
  'auth.logout',
  'policy.evaluated',
  'remediation.started',
  'remediation.finished',
  'rare.one',
  'rare.two',
];
const CATEGORIES = ['gateway', 'workflow', 'auth', 'policy', 'remediation'];
const ACTOR_TYPES = ['service', 'user', 'system', 'bot'];
const RESOURCE_TYPES = ['pod', 'node', 'deployment', 'secret', 'namespace'];
export const SEVERITY_VALUES = ['INFO', 'WARNING', 'ERROR', 'CRITICAL'];
export const EVENT_ACTIONS = ['create', 'update', 'delete', 'restart', 'scale', 'a:oc:FAILURE', '{x}'];
export const NAMESPACES = ['default', 'kube-system', 'prod', 'staging', 'ns:rt:pod'];
export const CLUSTERS = ['east-1', 'west-2', 'eu-central', 'c*?'];
export const RECORDERS = ['ingest', 'gateway', 'ops-bot', 'tok:en'];

/** Value pools, fixed per seed, so filters hit real values (including colliding-looking ones). */
export interface Pools {
  actorIds: string[];
  resourceIds: string[];
  correlationIds: string[];
  /** parentEventIds events point at (lowercase UUIDs). */
  parentIds: string[];
  hotMs: number[];
}

export function makePools(rand: () => number): Pools {
  // Values that would collide under naive `field:value` keys or break patterns and hash tags.
  const crafted = ['a', 'a:oc:FAILURE', 'x}:ai:y', '{tag}', '*', '?', '[ab]', 'a%3Ab', 'a:b', 'svc/1', '中文', '😀 actor', 'a\\b'];
  const actorIds = [
    ...crafted,
    ...Array.from({ length: 25 }, (_, i) => `actor-${i}`),
    ...Array.from({ length: 10 }, () => randomString(rand, 6, NASTY_ALPHABET)),
  ];
  return {
    actorIds: [...new Set(actorIds)].filter((s) => s.length > 0 && isWellFormed(s)),
    resourceIds: Array.from({ length: 60 }, (_, i) => `res-${i}`),
    correlationIds: Array.from({ length: 25 }, (_, i) => `rr-2025-${String(i).padStart(3, '0')}`),
    parentIds: Array.from({ length: 40 }, () => randomUuid(rand)),
    hotMs: Array.from({ length: 8 }, () => BASE_MS + Math.floor(rand() * SPAN_MS)),
  };
}

/** Skewed pick: early entries are much more frequent. */
const skewed = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(list.length * rand() ** 2)]!;
const uniform = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(list.length * rand())]!;

/**
 * A random event. Every field varies, the optional ones (severity, eventAction, resourceNamespace,
 * clusterName, recordedBy, parentEventId) absent in some events.
 */
export function randomEvent(rand: () => number, pools: Pools, at?: { correlationId?: string; ms?: number }): NewEvent {
  const hot = rand() < 0.2;
  const ms = at?.ms ?? (hot ? uniform(rand, pools.hotMs) : BASE_MS + Math.floor(rand() * SPAN_MS));
  const r = rand();
  const withResource = rand() < 0.7;
  const opt = <T>(p: number, pick: () => T): T | null => (rand() < p ? pick() : null);
  const severity = opt(0.8, () => skewed(rand, SEVERITY_VALUES));
  const eventAction = opt(0.7, () => skewed(rand, EVENT_ACTIONS));
  const resourceNamespace = withResource ? opt(0.6, () => uniform(rand, NAMESPACES)) : null;
  const clusterName = opt(0.75, () => skewed(rand, CLUSTERS));
  const parentEventId = opt(0.3, () => skewed(rand, pools.parentIds));
  const recordedBy = opt(0.85, () => skewed(rand, RECORDERS));
  const event = validateEventInput({
    eventId: randomUuid(rand),
    eventType: skewed(rand, EVENT_TYPES),
    eventCategory: uniform(rand, CATEGORIES),
    outcome: r < 0.7 ? 'SUCCESS' : r < 0.9 ? 'FAILURE' : 'PENDING',
    timestamp: new Date(ms).toISOString(),
    correlationId: at?.correlationId ?? uniform(rand, pools.correlationIds),
    actorType: skewed(rand, ACTOR_TYPES),
    actorId: skewed(rand, pools.actorIds),
    ...(withResource ? { resourceType: uniform(rand, RESOURCE_TYPES), resourceId: skewed(rand, pools.resourceIds), resourceNamespace } : {}),
    severity,
    eventAction,
    clusterName,
    parentEventId,
    data: { n: Math.floor(rand() * 1000) },
  });
  // Set by the server from the token, never from input (withRecordedBy does the same).
  event.record.recordedBy = recordedBy;
  return event;
}

const some = <T>(rand: () => number, list: readonly T[], max: number): T[] => Array.from({ length: 1 + Math.floor(rand() * max) }, () => uniform(rand, list));

export function randomFilter(rand: () => number, pools: Pools, records: readonly AuditEventRecord[]): AuditEventFilterInput {
  const f: AuditEventFilterInput = {};
  const p = (x: number) => rand() < x;
  if (p(0.4)) f.eventType = some(rand, [...EVENT_TYPES, 'never.seen'], 3);
  if (p(0.2)) f.eventCategory = some(rand, CATEGORIES, 2);
  if (p(0.25)) f.actorId = some(rand, pools.actorIds, 4);
  if (p(0.2)) f.actorType = some(rand, ACTOR_TYPES, 2);
  if (p(0.35)) f.outcome = some(rand, ['SUCCESS', 'FAILURE', 'PENDING'], 2);
  if (p(0.12)) f.correlationId = uniform(rand, pools.correlationIds);
  if (p(0.15)) f.resourceType = uniform(rand, RESOURCE_TYPES);
  if (p(0.1)) f.resourceId = skewed(rand, pools.resourceIds);
  Object.assign(f, randomNewFieldsFilter(rand, pools, 0.12));
  // Bounds often exactly on an event's (possibly hot) millisecond, to test [since, until).
  const bound = () => (p(0.5) && records.length ? Date.parse(uniform(rand, records).timestamp) : BASE_MS + Math.floor(rand() * SPAN_MS));
  if (p(0.3)) f.since = new Date(bound()).toISOString();
  if (p(0.3)) f.until = new Date(bound()).toISOString();
  // An inverted window is refused (BAD_USER_INPUT): put the bounds in order, an empty window stays.
  if (f.since && f.until && Date.parse(f.since) > Date.parse(f.until)) [f.since, f.until] = [f.until, f.since];
  return f;
}

/**
 * One eventType or one actorId value (sometimes one no event has), with terms of the rollup cells'
 * fields (eventCategory, resourceType, actorType, outcome) or none, and no window: the shape the
 * index counts from a value rollup.
 */
export function randomValueRollupFilter(rand: () => number, pools: Pools): AuditEventFilterInput {
  const f: AuditEventFilterInput = rand() < 0.5 ? { eventType: [skewed(rand, [...EVENT_TYPES, 'never.seen'])] } : { actorId: [skewed(rand, pools.actorIds)] };
  const p = (x: number) => rand() < x;
  if (p(0.3)) f.eventCategory = some(rand, CATEGORIES, 2);
  if (p(0.2)) f.resourceType = uniform(rand, RESOURCE_TYPES);
  if (p(0.25)) f.actorType = some(rand, ACTOR_TYPES, 2);
  if (p(0.5)) f.outcome = some(rand, ['SUCCESS', 'FAILURE', 'PENDING'], 2);
  return f;
}

/**
 * The filter fields of issue 20 (severity … correlationIds), each with probability `p`; values
 * include ones no event has, and parentEventId in upper case sometimes (UUIDs match in any case).
 */
export function randomNewFieldsFilter(rand: () => number, pools: Pools, p: number): AuditEventFilterInput {
  const f: AuditEventFilterInput = {};
  const q = () => rand() < p;
  if (q()) f.severity = some(rand, SEVERITY_VALUES, 2);
  if (q()) f.eventAction = some(rand, [...EVENT_ACTIONS, 'never.seen'], 3);
  if (q()) f.resourceNamespace = some(rand, NAMESPACES, 2);
  if (q()) f.clusterName = some(rand, [...CLUSTERS, 'nowhere'], 2);
  if (q()) f.recordedBy = some(rand, RECORDERS, 2);
  if (q()) {
    const id = skewed(rand, pools.parentIds);
    f.parentEventId = rand() < 0.3 ? id.toUpperCase() : id;
  }
  if (q()) f.correlationIds = some(rand, [...pools.correlationIds, 'rr-never'], 4);
  return f;
}

/** The model: every record sorted by (timestamp, eventId). */
export class Model {
  readonly sorted: { record: AuditEventRecord; position: IndexPosition }[];
  constructor(records: readonly AuditEventRecord[]) {
    this.sorted = records.map((record) => ({ record, position: positionOf(record) })).sort((a, b) => comparePositions(a.position, b.position));
  }

  private readonly cache = new Map<string, IndexPosition[]>();

  /** Matching positions in `order` (do not mutate: cached). */
  select(filter: AuditEventFilterInput, order: IndexOrder): IndexPosition[] {
    const key = `${order} ${JSON.stringify(filter)}`;
    let out = this.cache.get(key);
    if (!out) {
      const n = normalizeFilter(filter);
      out = this.sorted.filter((e) => matches(e.record, n)).map((e) => e.position);
      if (order === 'TIMESTAMP_DESC') out.reverse();
      this.cache.set(key, out);
    }
    return out;
  }

  /** The page the Relay rules (as documented in executor.ts) give. */
  page(
    filter: AuditEventFilterInput,
    order: IndexOrder,
    args: { first?: number; last?: number; after?: IndexPosition; before?: IndexPosition },
  ): { eventIds: string[]; hasNextPage: boolean; hasPreviousPage: boolean } {
    const seq = this.select(filter, order);
    const cmp = (a: IndexPosition, b: IndexPosition) => (order === 'TIMESTAMP_ASC' ? comparePositions(a, b) : comparePositions(b, a));
    const inside = seq.filter((e) => (!args.after || cmp(e, args.after) > 0) && (!args.before || cmp(e, args.before) < 0));
    const backward = args.last !== undefined || (args.first === undefined && args.before !== undefined && args.after === undefined);
    const size = (backward ? args.last : args.first) ?? 50;
    if (!backward) {
      return {
        eventIds: inside.slice(0, size).map((e) => e.eventId),
        hasNextPage: inside.length > size,
        hasPreviousPage: args.after ? seq.some((e) => cmp(e, args.after!) <= 0) : false,
      };
    }
    return {
      eventIds: (size === 0 ? [] : inside.slice(-size)).map((e) => e.eventId),
      hasPreviousPage: inside.length > size,
      hasNextPage: args.before ? seq.some((e) => cmp(e, args.before!) >= 0) : false,
    };
  }
}

export const cursorOf = (p: IndexPosition) => encodeCursor(p);

/** Stats dimensions and the record field each groups by, written out here as an independent oracle. */
export const DIMENSION_OF: Record<string, (r: AuditEventRecord) => string | null | undefined> = {
  OUTCOME: (r) => r.outcome,
  EVENT_TYPE: (r) => r.eventType,
  EVENT_CATEGORY: (r) => r.eventCategory,
  ACTOR_ID: (r) => r.actor.id,
  SEVERITY: (r) => r.severity,
  CLUSTER_NAME: (r) => r.clusterName,
  RESOURCE_TYPE: (r) => r.resource?.type,
};
export const INTERVAL_MS: Record<string, number> = { MINUTE: 60_000, HOUR: 3_600_000, DAY: 86_400_000 };

/** auditEventStats by brute force over the records. */
export function bruteStats(
  model: Model,
  filter: AuditEventFilterInput,
  groupBy: readonly string[],
  interval: string | null,
): { total: number; groups: { dimension: string; value: string; count: number }[]; histogram: { start: number; count: number }[] } {
  const n = normalizeFilter(filter);
  const hits = model.sorted.filter((e) => matches(e.record, n));
  const groups: { dimension: string; value: string; count: number }[] = [];
  for (const d of [...new Set(groupBy)]) {
    const by = new Map<string, number>();
    for (const h of hits) {
      const v = DIMENSION_OF[d]!(h.record);
      if (v != null) by.set(v, (by.get(v) ?? 0) + 1);
    }
    groups.push(
      ...[...by]
        .map(([value, count]) => ({ dimension: d, value, count }))
        .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0)),
    );
  }
  const histogram: { start: number; count: number }[] = [];
  if (interval) {
    const width = INTERVAL_MS[interval]!;
    const since = n.since ?? hits[0]?.position.ms ?? null;
    const until = n.until ?? (hits.length > 0 ? hits[hits.length - 1]!.position.ms + 1 : null);
    if (since !== null && until !== null && until > since) {
      const origin = Math.floor(since / width) * width;
      for (let start = origin; start < until; start += width) histogram.push({ start, count: 0 });
      for (const h of hits) histogram[Math.floor((h.position.ms - origin) / width)]!.count++;
    }
  }
  return { total: hits.length, groups, histogram };
}

/** correlations by brute force: every correlation with an event matching the filter, newest first. */
export function bruteCorrelations(
  model: Model,
  filter: { since?: string; until?: string; eventCategory?: string[]; outcome?: string[]; clusterName?: string[] },
): { correlationId: string; firstMs: number; lastMs: number; eventCount: number; outcomes: Record<string, number>; lastEventId: string }[] {
  const n = normalizeFilter(filter);
  const all = new Map<
    string,
    { correlationId: string; firstMs: number; lastMs: number; eventCount: number; outcomes: Record<string, number>; lastEventId: string; hit: boolean }
  >();
  for (const e of model.sorted) {
    const id = e.record.correlationId;
    let c = all.get(id);
    if (!c) {
      c = {
        correlationId: id,
        firstMs: e.position.ms,
        lastMs: e.position.ms,
        eventCount: 0,
        outcomes: { SUCCESS: 0, FAILURE: 0, PENDING: 0 },
        lastEventId: e.position.eventId,
        hit: false,
      };
      all.set(id, c);
    }
    c.lastMs = e.position.ms;
    c.lastEventId = e.position.eventId;
    c.eventCount++;
    c.outcomes[e.record.outcome]!++;
    if (matches(e.record, n)) c.hit = true;
  }
  return [...all.values()]
    .filter((c) => c.hit)
    .sort((a, b) => b.lastMs - a.lastMs || Buffer.compare(Buffer.from(b.correlationId), Buffer.from(a.correlationId)))
    .map(({ hit: _hit, ...c }) => c);
}
