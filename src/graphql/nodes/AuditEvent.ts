/**
 * `AuditEvent` (a Relay node; global id from eventId) with its value types, and the queries that
 * return it: `node` (from the Relay plugin), `auditEvent`, `timeline` (one correlation, from the
 * ledger) and `auditEvents` (across correlations, from the index). Both connections page with
 * events/paging.ts.
 */
import { ValidationError, type FieldViolation } from '../../errors.ts';
import { matches, normalizeFilter, parseWindowBound, type AuditEventFilterInput } from '../../events/filter.ts';
import { isWellFormed } from '../../events/json.ts';
import { LIMITS } from '../../events/limits.ts';
import {
  comparePositions,
  decodeTimelineCursor,
  encodeTimelineCursor,
  pageOf,
  PAGE_SIZE,
  parsePageArgs,
  positionOf,
  type Page,
  type PageArgs,
} from '../../events/paging.ts';
import type { AuditEventRecord } from '../../events/types.ts';
import { INDEX_ORDERS, type IndexOrder } from '../../index/index.ts';
import type { StoredEvent } from '../../ledger/port.ts';
import { builder } from '../builder.ts';
import { requireIndex, type GraphQLContext } from '../context.ts';
import { EventOutcomeEnum, SeverityEnum } from '../enums.ts';
import { AuditEventFilterRef, AuditEventOrderEnum } from '../inputs/AuditEventFilter.ts';
import { COST, costPageSize } from '../limits.ts';
import { parseEventId, printableKey } from './ids.ts';
import { VerificationRef, verifyKnownEvent } from './Verification.ts';

const ActorRef = builder.objectRef<AuditEventRecord['actor']>('Actor').implement({
  description: 'Who or what caused the event.',
  fields: (t) => ({
    type: t.exposeString('type', { description: 'Kind of actor, e.g. `service`, `user`.' }),
    id: t.exposeString('id', { description: 'Who or what acted, e.g. `gateway` or a user id.' }),
  }),
});

const ResourceRef = builder.objectRef<NonNullable<AuditEventRecord['resource']>>('Resource').implement({
  description: 'What the event was about.',
  fields: (t) => ({
    type: t.exposeString('type', { description: 'Kind of resource, e.g. `pod`.' }),
    id: t.exposeString('id', { description: 'The resource’s id, e.g. `web-7f9c`.' }),
    namespace: t.exposeString('namespace', { nullable: true, description: 'The resource’s namespace, when it has one.' }),
  }),
});

const EventErrorRef = builder.objectRef<NonNullable<AuditEventRecord['error']>>('EventError').implement({
  description: 'The error a failed action reported.',
  fields: (t) => ({
    code: t.exposeString('code', { nullable: true, description: 'Machine-readable error code.' }),
    message: t.exposeString('message', { nullable: true, description: 'Human-readable error message.' }),
  }),
});

const LedgerLocationRef = builder.objectRef<StoredEvent>('LedgerLocation').implement({
  description: 'Where the event lives in the ledger.',
  fields: (t) => ({
    txId: t.exposeString('txId', { description: 'Transaction that committed the event (decimal, 64-bit).' }),
    key: t.string({
      description: 'The entry key as printable ASCII; bytes outside 0x21–0x7E (and `\\`) are escaped as `\\xHH`. The proof bundle has the raw bytes.',
      resolve: (e) => printableKey(e.key),
    }),
  }),
});

export const AuditEventRef = builder.objectRef<StoredEvent>('AuditEvent');

builder.node(AuditEventRef, {
  description: 'One audit event as committed to the ledger.',
  id: {
    resolve: (e) => e.record.eventId,
    parse: (id) => parseEventId(id, 'id'),
  },
  // The request's DataLoader caches and batches; Pothos' own node cache would only duplicate it.
  loadManyWithoutCache: (ids, ctx) => Promise.all(ids.map((id) => ctx.loaders.event.load(id))),
  fields: (t) => ({
    eventId: t.id({ description: 'The event’s UUID, its idempotency key; what `auditEvent` and `verifyAuditEvent` take.', resolve: (e) => e.record.eventId }),
    eventType: t.string({ description: 'Dotted lowercase name, e.g. `gateway.signal.received`.', resolve: (e) => e.record.eventType }),
    eventCategory: t.string({ description: 'Emitting service, e.g. `gateway`.', resolve: (e) => e.record.eventCategory }),
    eventAction: t.string({ nullable: true, description: 'What was done, e.g. `received`.', resolve: (e) => e.record.eventAction }),
    outcome: t.field({ type: EventOutcomeEnum, description: 'How the action turned out.', resolve: (e) => e.record.outcome }),
    timestamp: t.field({ type: 'DateTime', description: 'When it happened.', resolve: (e) => e.record.timestamp }),
    recordedAt: t.field({
      type: 'DateTime',
      description: 'When the ledger committed it.',
      resolve: async (e, _args, ctx) => {
        const at = e.recordedAt ?? (await ctx.loaders.commitTime.load(e.txId));
        if (!at) throw new Error(`no commit time for tx ${e.txId}`);
        return at;
      },
    }),
    correlationId: t.string({ description: 'Groups the events of one flow; `timeline` lists them.', resolve: (e) => e.record.correlationId }),
    parentEventId: t.id({ nullable: true, description: 'eventId of the event that caused this one, if any.', resolve: (e) => e.record.parentEventId }),
    actor: t.field({ type: ActorRef, description: 'Who or what acted.', resolve: (e) => e.record.actor }),
    resource: t.field({ type: ResourceRef, nullable: true, description: 'What was acted on, if given.', resolve: (e) => e.record.resource }),
    clusterName: t.string({ nullable: true, description: 'Cluster the event happened in, if given.', resolve: (e) => e.record.clusterName }),
    severity: t.field({ type: SeverityEnum, nullable: true, description: 'How much attention it deserves, if given.', resolve: (e) => e.record.severity }),
    durationMs: t.int({ nullable: true, description: 'How long the action took, in milliseconds, if given.', resolve: (e) => e.record.durationMs }),
    error: t.field({ type: EventErrorRef, nullable: true, description: 'The error reported with the event, if any.', resolve: (e) => e.record.error }),
    data: t.field({ type: 'JSON', nullable: true, description: 'Service-specific payload, as written.', resolve: (e) => e.record.data }),
    recordedBy: t.string({
      nullable: true,
      description: 'The authenticated principal (token name) that wrote it, part of the proven record; null when written to a server without authentication.',
      resolve: (e) => e.record.recordedBy,
    }),
    ledger: t.field({ type: LedgerLocationRef, description: 'Where the event lives in the ledger (its txId resumes a subscription).', resolve: (e) => e }),
    verification: t.field({
      type: VerificationRef,
      description: 'A verified read of this event from the ledger (one ledger round trip; costs 250 towards the query cost limit).',
      complexity: COST.verification,
      resolve: (e, _args, ctx) => verifyKnownEvent(ctx, e.record.eventId),
    }),
  }),
});

const AuditEventConnection = builder.connectionObject(
  {
    type: AuditEventRef,
    name: 'AuditEventConnection',
    description: 'A page of audit events, with the cursors to page on.',
    edgesNullable: { list: false, items: false },
    nodeNullable: false,
    fields: (t) => ({
      totalCount: t.int({
        description:
          'How many events the whole connection holds (every page, the same filter or correlation and window), exactly, counted by the event index; ' +
          'INDEX_UNAVAILABLE when no index can answer. For `timeline` it is the index’s count, which follows the ledger within moments.',
        complexity: COST.count,
        resolve: (conn) => {
          if (!conn.totalCount) throw new Error('connection without a count');
          return conn.totalCount();
        },
      }),
    }),
  },
  { name: 'AuditEventEdge', description: 'One event of a page, with its cursor.' },
);

builder.queryField('auditEvent', (t) =>
  t.field({
    authScopes: { scope: 'audit:read' },
    type: AuditEventRef,
    nullable: true,
    description: 'The event with this eventId, or null.',
    args: { eventId: t.arg.id({ required: true, description: 'The event’s eventId (a UUID).' }) },
    resolve: (_root, args, ctx) => ctx.loaders.event.load(parseEventId(args.eventId, 'eventId')),
  }),
);

// --- connections -----------------------------------------------------------------------------

/** What both connection resolvers return (AuditEventConnection's shape). */
type Connection = Page<{ cursor: string; node: StoredEvent }> & { totalCount: () => Promise<number> };

const pageSizes = `page size ${PAGE_SIZE.default} by default, at most ${PAGE_SIZE.max}`;
const connectionComplexity = (args: PageArgs) => ({ field: COST.connection, multiplier: costPageSize(args) });

function checkCorrelationId(value: string, out: FieldViolation[]): void {
  const fail = (message: string): void => {
    out.push({ path: 'correlationId', message });
  };
  if (value.length === 0) fail('must not be empty');
  else if (!isWellFormed(value)) fail('must be well-formed Unicode (contains a lone surrogate)');
  else if ([...value].length > LIMITS.identifierMaxChars) fail(`must be at most ${LIMITS.identifierMaxChars} characters`);
  else if (Buffer.byteLength(value, 'utf8') > LIMITS.correlationIdMaxBytes) fail(`must be at most ${LIMITS.correlationIdMaxBytes} bytes in UTF-8`);
}

/** `timeline`'s own arguments besides the page ones. */
export interface TimelineArgs extends PageArgs {
  since?: string | null;
  until?: string | null;
  orderBy?: IndexOrder | null;
}

/**
 * One page of a correlation's events in (timestamp, eventId) order (`orderBy`: oldest first by
 * default), within the window [since, until), by keyset; the window and the order are pushed into
 * the ledger's scan.
 *
 * Forward (`first`, `after`; the default): scan in the order after `after`, one more than asked;
 * `hasNextPage` says whether that extra one exists (within `before`, when given), and
 * `hasPreviousPage` is true exactly when `after` was given (it names an event before the page).
 * Backward (`last`, `before`; also `before` alone): the mirror image, scanned against the order and
 * reversed. `first` and `last` together are refused.
 */
export async function resolveTimeline(ctx: GraphQLContext, correlationId: string, args: TimelineArgs): Promise<Connection> {
  const violations: FieldViolation[] = [];
  checkCorrelationId(correlationId, violations);
  const { backward, size, after, before } = parsePageArgs(args, decodeTimelineCursor, violations);
  const since = parseWindowBound(args.since, 'since', violations);
  const until = parseWindowBound(args.until, 'until', violations);
  if (since !== null && until !== null && since > until) violations.push({ path: 'since', message: 'must not be after until' });
  if (args.orderBy != null && !(INDEX_ORDERS as readonly string[]).includes(args.orderBy)) {
    violations.push({ path: 'orderBy', message: `must be one of ${INDEX_ORDERS.join(', ')}` });
  }
  if (violations.length > 0) throw new ValidationError(violations);

  // Scan from the cursor the page starts at; the other one, when given, only bounds the result.
  const desc = (args.orderBy === 'TIMESTAMP_DESC') !== backward;
  const from = backward ? before : after;
  const page = await ctx.ledger.scanTimeline(correlationId, {
    ...(from ? { after: from } : {}),
    limit: size + 1,
    direction: desc ? 'desc' : 'asc',
    ...(since !== null ? { since } : {}),
    ...(until !== null ? { until } : {}),
  });
  const bound = backward ? after : before;
  const end = bound ? positionOf(bound) : undefined;
  const found = end
    ? page.events.filter((e) => {
        const c = comparePositions(positionOf(e.record), end);
        return desc ? c > 0 : c < 0;
      })
    : page.events;
  const events = found.slice(0, size);
  if (backward) events.reverse();
  for (const e of events) ctx.loaders.event.prime(e.record.eventId, e);
  const edges = events.map((node) => ({ cursor: encodeTimelineCursor(node.record), node }));
  return {
    ...pageOf(edges, { backward, more: found.length > size, behind: from !== undefined }),
    totalCount: () => countFromIndex(ctx, { correlationId, since: args.since, until: args.until }),
  };
}

/** `totalCount` of a connection, from the index. */
const countFromIndex = (ctx: GraphQLContext, filter: AuditEventFilterInput): Promise<number> => requireIndex(ctx, 'totalCount').count(filter);

builder.queryField('timeline', (t) =>
  t.connection(
    {
      authScopes: { scope: 'audit:read' },
      type: AuditEventRef,
      description:
        `One correlation's events in (timestamp, eventId) order, oldest first by default (orderBy), with timestamps in [since, until). ` +
        `Page forwards with first/after or backwards with last/before; ${pageSizes}. ` +
        'Cursors are stable: paging while events arrive neither repeats nor skips. A window and an order are read from the ledger as one scan.',
      args: {
        correlationId: t.arg.string({ required: true, description: 'The correlation to list, e.g. `rr-2025-001`.' }),
        since: t.arg({ type: 'DateTime', description: 'Events with timestamp ≥ since (none: from the oldest).' }),
        until: t.arg({ type: 'DateTime', description: 'Events with timestamp < until (none: to the newest). since after until is refused.' }),
        orderBy: t.arg({ type: AuditEventOrderEnum, defaultValue: 'TIMESTAMP_ASC', description: 'TIMESTAMP_ASC: oldest first; TIMESTAMP_DESC: newest first.' }),
      },
      complexity: connectionComplexity,
      resolve: (_root, args, ctx) => resolveTimeline(ctx, args.correlationId, args),
    },
    AuditEventConnection,
  ),
);

/**
 * `auditEvents`: the secondary index chooses and orders the events; their content always comes
 * from the ledger (one batched read through the request's DataLoader). An index entry the ledger
 * does not back exactly — no such event, another timestamp, or a record outside the filter — is
 * dropped, so a tampered index can hide events but never forge one.
 */
export async function resolveAuditEvents(
  ctx: GraphQLContext,
  args: PageArgs & { filter?: AuditEventFilterInput | null; orderBy?: IndexOrder | null },
): Promise<Connection> {
  if (!ctx.index) normalizeFilter(args.filter); // bad input is still reported as such
  const page = await requireIndex(ctx).query({
    filter: args.filter,
    orderBy: args.orderBy,
    first: args.first,
    after: args.after,
    last: args.last,
    before: args.before,
  });
  const filter = normalizeFilter(args.filter);
  const stored = await ctx.loaders.event.loadMany(page.edges.map((e) => e.eventId));
  const edges: Connection['edges'] = [];
  page.edges.forEach((e, i) => {
    const node = stored[i];
    if (node instanceof Error) throw node;
    if (!node || comparePositions(positionOf(node.record), e.position) !== 0 || !matches(node.record, filter)) return;
    edges.push({ cursor: e.cursor, node });
  });
  // The index's cursors, even when an unbacked entry was dropped at an end: paging goes on from there.
  return { edges, pageInfo: page.pageInfo, totalCount: () => countFromIndex(ctx, args.filter ?? {}) };
}

builder.queryField('auditEvents', (t) =>
  t.connection(
    {
      authScopes: { scope: 'audit:read' },
      type: AuditEventRef,
      description:
        'Events across correlations from the secondary index: lists are OR within a field, fields are AND, since/until are [since, until). ' +
        `Ordered by (timestamp, eventId), newest first by default; ${pageSizes}. ` +
        'Cursors are stable while events arrive. The index follows the ledger within moments of a write; when it cannot answer, INDEX_UNAVAILABLE.',
      args: {
        filter: t.arg({ type: AuditEventFilterRef, description: 'Only events matching it; none: every event.' }),
        orderBy: t.arg({
          type: AuditEventOrderEnum,
          defaultValue: 'TIMESTAMP_DESC',
          description: 'TIMESTAMP_DESC (default): newest first; TIMESTAMP_ASC: oldest first.',
        }),
      },
      complexity: connectionComplexity,
      resolve: (_root, args, ctx) => resolveAuditEvents(ctx, args),
    },
    AuditEventConnection,
  ),
);
