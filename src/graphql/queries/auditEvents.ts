/**
 * `auditEvents`: the secondary index chooses and orders the events; their content always comes
 * from the ledger (one batched read through the request's DataLoader). An index entry the ledger
 * does not back exactly — no such event, another timestamp, or a record outside the filter — is
 * dropped, so a tampered index can hide events but never forge one.
 */
import { AuditError, ErrorCode } from '../../errors.ts';
import type { IndexQuery } from '../../index/port.ts';
import { comparePositions, matches, normalizeFilter, positionOf, type AuditEventFilterInput, type IndexOrder } from '../../index/query.ts';
import type { StoredEvent } from '../../ledger/port.ts';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { AuditEventFilterRef, AuditEventOrderEnum } from '../inputs/AuditEventFilter.ts';
import { COST, PAGE, costPageSize } from '../limits.ts';
import { AuditEventConnection, AuditEventRef, type ConnectionArgs } from '../nodes/AuditEvent.ts';

interface Page {
  edges: { cursor: string; node: StoredEvent }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

export async function resolveAuditEvents(
  ctx: GraphQLContext,
  args: ConnectionArgs & { filter?: AuditEventFilterInput | null; orderBy?: IndexOrder | null },
): Promise<Page> {
  const q: IndexQuery = { filter: args.filter, orderBy: args.orderBy, first: args.first, after: args.after, last: args.last, before: args.before };
  if (!ctx.index) {
    normalizeFilter(args.filter); // bad input is still reported as such
    throw new AuditError(ErrorCode.INDEX_UNAVAILABLE, 'No event index is configured on this gateway');
  }
  const page = await ctx.index.query(q);
  const filter = normalizeFilter(args.filter);
  const stored = await ctx.loaders.event.loadMany(page.edges.map((e) => e.eventId));
  const edges: Page['edges'] = [];
  page.edges.forEach((e, i) => {
    const node = stored[i];
    if (node instanceof Error) throw node;
    if (!node || comparePositions(positionOf(node.record), e.position) !== 0 || !matches(node.record, filter)) return;
    edges.push({ cursor: e.cursor, node });
  });
  // The index's cursors, even when an unbacked entry was dropped at an end: paging goes on from there.
  return { edges, pageInfo: page.pageInfo };
}

builder.queryField('auditEvents', (t) =>
  t.connection(
    {
      authScopes: { scope: 'audit:read' },
      type: AuditEventRef,
      description:
        'Events across correlations from the secondary index: lists are OR within a field, fields are AND, since/until are [since, until). ' +
        `Ordered by (timestamp, eventId), newest first by default; page size ${PAGE.default} by default, at most ${PAGE.max}. ` +
        'Cursors are stable while events arrive. The index follows the ledger within moments of a write; when it cannot answer, INDEX_UNAVAILABLE.',
      args: {
        filter: t.arg({ type: AuditEventFilterRef }),
        orderBy: t.arg({ type: AuditEventOrderEnum, defaultValue: 'TIMESTAMP_DESC' }),
      },
      complexity: (args) => ({ field: COST.connection, multiplier: costPageSize(args) }),
      resolve: (_root, args, ctx) => resolveAuditEvents(ctx, args),
    },
    AuditEventConnection,
  ),
);
