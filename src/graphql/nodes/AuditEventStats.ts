/**
 * `auditEventStats`: exact counts of the events a filter matches, by dimension and over time, from
 * the index (index/counting.ts). The first row of an audit dashboard.
 */
import { DIMENSIONS, MAX_BUCKETS, normalizeStatsQuery, STATS_INTERVALS, type Dimension, type StatsGroup, type StatsInterval } from '../../index/index.ts';
import { builder } from '../builder.ts';
import { requireIndex } from '../context.ts';
import { AuditEventFilterRef } from '../inputs/AuditEventFilter.ts';
import { COST } from '../limits.ts';

export const AuditEventDimensionEnum = builder.enumType('AuditEventDimension', {
  description: 'An event field that `auditEventStats` groups by.',
  values: {
    OUTCOME: { description: 'By `outcome`.' },
    EVENT_TYPE: { description: 'By `eventType`.' },
    EVENT_CATEGORY: { description: 'By `eventCategory` (the emitting service).' },
    ACTOR_ID: { description: 'By `actor.id`.' },
    SEVERITY: { description: 'By `severity`; events without one are in no group.' },
    CLUSTER_NAME: { description: 'By `clusterName`; events without one are in no group.' },
    RESOURCE_TYPE: { description: 'By `resource.type`; events without a resource are in no group.' },
  } satisfies Record<Dimension, { description: string }>,
});

export const StatsIntervalEnum = builder.enumType('StatsInterval', {
  description: `Width of a histogram bucket; buckets start on UTC boundaries. At most ${MAX_BUCKETS} buckets per answer.`,
  values: {
    MINUTE: { description: 'One minute.' },
    HOUR: { description: 'One hour.' },
    DAY: { description: 'One UTC day.' },
  } satisfies Record<StatsInterval, { description: string }>,
});

const GroupRef = builder.objectRef<StatsGroup>('AuditEventGroup').implement({
  description: 'The matching events with one value of one dimension.',
  fields: (t) => ({
    dimension: t.field({ type: AuditEventDimensionEnum, description: 'The dimension grouped by.', resolve: (g) => g.dimension }),
    value: t.exposeString('value', { description: 'The value, as stored (enum values by name, e.g. `FAILURE`).' }),
    count: t.exposeInt('count', { description: 'Matching events with this value.' }),
  }),
});

const BucketRef = builder.objectRef<{ start: number; count: number }>('HistogramBucket').implement({
  description: 'The matching events in one interval of time.',
  fields: (t) => ({
    start: t.field({
      type: 'DateTime',
      description: 'Start of the bucket (UTC); it ends where the next begins.',
      resolve: (b) => new Date(b.start).toISOString(),
    }),
    count: t.exposeInt('count', { description: 'Matching events with a timestamp in the bucket (and in the filter’s window).' }),
  }),
});

const StatsRef = builder.objectRef<{ total: number; groups: StatsGroup[]; histogram: { start: number; count: number }[] }>('AuditEventStats').implement({
  description: 'Exact counts of the events a filter matches.',
  fields: (t) => ({
    total: t.exposeInt('total', { description: 'Matching events; equals `auditEvents(filter).totalCount`.' }),
    groups: t.field({
      type: [GroupRef],
      description: 'Per dimension asked for (in `groupBy` order), its values with at least one matching event: the most frequent first, ties by value.',
      resolve: (s) => s.groups,
    }),
    histogram: t.field({
      type: [BucketRef],
      description:
        'Matching events per interval, oldest bucket first, empty buckets included: from the bucket holding `filter.since` to the one holding the last millisecond before `filter.until` ' +
        '(an open end: the first or last matching event). Empty when no `interval` was given.',
      resolve: (s) => s.histogram,
    }),
  }),
});

builder.queryField('auditEventStats', (t) =>
  t.field({
    authScopes: { scope: 'audit:read' },
    type: StatsRef,
    description:
      'Counts of the events `filter` matches (as `auditEvents` does), exactly, from the event index: a total, groups by dimension and a histogram over time. ' +
      `Bad arguments (an interval that would give more than ${MAX_BUCKETS} buckets, since after until) are BAD_USER_INPUT before anything is read; INDEX_UNAVAILABLE when the index cannot answer.`,
    args: {
      filter: t.arg({ type: AuditEventFilterRef, description: 'Only events matching it; none: every event.' }),
      groupBy: t.arg({
        type: [AuditEventDimensionEnum],
        description: `Dimensions to group by (each at most once; at most ${Object.keys(DIMENSIONS).length}).`,
      }),
      interval: t.arg({ type: StatsIntervalEnum, description: `Histogram bucket width (${Object.keys(STATS_INTERVALS).join(', ')}); none: no histogram.` }),
    },
    complexity: COST.count,
    resolve: async (_root, args, ctx) => {
      const q = { filter: args.filter ?? null, groupBy: args.groupBy ?? null, interval: args.interval ?? null };
      normalizeStatsQuery(q); // bad input is reported as such, index or not
      return requireIndex(ctx).stats(q);
    },
  }),
);
