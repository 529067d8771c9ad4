/**
 * `Correlation` and `correlations`: the most recently active correlations (remediations) first,
 * each with its span, counts by outcome and newest event, from the index (index/correlations.ts).
 */
import { PAGE_SIZE } from '../../events/paging.ts';
import type { Outcome } from '../../events/types.ts';
import { normalizeCorrelationQuery, type CorrelationNode } from '../../index/index.ts';
import { builder } from '../builder.ts';
import { requireIndex } from '../context.ts';
import { CorrelationFilterRef } from '../inputs/CorrelationFilter.ts';
import { COST, costPageSize } from '../limits.ts';
import { AuditEventRef } from './AuditEvent.ts';

const OutcomeCountsRef = builder.objectRef<Record<Outcome, number>>('OutcomeCounts').implement({
  description: 'Events of a correlation by outcome.',
  fields: (t) => ({
    success: t.int({ description: 'Events with outcome SUCCESS.', resolve: (o) => o.SUCCESS }),
    failure: t.int({ description: 'Events with outcome FAILURE.', resolve: (o) => o.FAILURE }),
    pending: t.int({ description: 'Events with outcome PENDING.', resolve: (o) => o.PENDING }),
  }),
});

const CorrelationRef = builder.objectRef<CorrelationNode>('Correlation').implement({
  description: 'One correlation (e.g. a remediation): all its events, whatever the filter that listed it.',
  fields: (t) => ({
    correlationId: t.exposeString('correlationId', { description: 'The correlation’s id; `timeline(correlationId:)` lists its events.' }),
    firstTimestamp: t.field({ type: 'DateTime', description: 'Timestamp of its oldest event.', resolve: (c) => new Date(c.firstMs).toISOString() }),
    lastTimestamp: t.field({
      type: 'DateTime',
      description: 'Timestamp of its newest event (the list’s order).',
      resolve: (c) => new Date(c.lastMs).toISOString(),
    }),
    eventCount: t.exposeInt('eventCount', { description: 'Its events.' }),
    outcomes: t.field({ type: OutcomeCountsRef, description: 'Its events by outcome.', resolve: (c) => c.outcomes }),
    lastEvent: t.field({
      type: AuditEventRef,
      nullable: true,
      description: 'Its newest event (by timestamp, then eventId), read from the ledger; null if the ledger does not hold it.',
      resolve: async (c, _args, ctx) => {
        const e = await ctx.loaders.event.load(c.lastEventId);
        // The index chose it; the ledger must back it exactly (a tampered index cannot forge one).
        return e && e.record.correlationId === c.correlationId && Date.parse(e.record.timestamp) === c.lastMs ? e : null;
      },
    }),
  }),
});

const CorrelationConnection = builder.connectionObject(
  {
    type: CorrelationRef,
    name: 'CorrelationConnection',
    description: 'A page of correlations, with the cursor to page on.',
    edgesNullable: { list: false, items: false },
    nodeNullable: false,
  },
  { name: 'CorrelationEdge', description: 'One correlation of a page, with its cursor.' },
);

builder.queryField('correlations', (t) =>
  t.field({
    authScopes: { scope: 'audit:read' },
    type: CorrelationConnection,
    description:
      'Correlations by their newest event, the most recently active first (ties by correlationId, descending), from the event index. ' +
      `Page forwards with first/after; page size ${PAGE_SIZE.default} by default, at most ${PAGE_SIZE.max}. INDEX_UNAVAILABLE when the index cannot answer.`,
    args: {
      filter: t.arg({ type: CorrelationFilterRef, description: 'Only correlations with an event matching it; none: every correlation.' }),
      first: t.arg.int({ description: 'At most this many correlations after `after` (or from the most recent).' }),
      after: t.arg.string({ description: 'Page forwards from this cursor (an `endCursor` or edge cursor), exclusive.' }),
    },
    complexity: (args) => ({ field: COST.connection + COST.count, multiplier: costPageSize(args) }),
    resolve: async (_root, args, ctx) => {
      const q = { filter: args.filter ?? null, first: args.first ?? null, after: args.after ?? null };
      normalizeCorrelationQuery(q); // bad input is reported as such, index or not
      return requireIndex(ctx).correlations(q);
    },
  }),
);
