/**
 * `AuditEvent` (a Relay node; global id from eventId) with its value types, and the queries that
 * return it: `node` (from the Relay plugin), `auditEvent` and `timeline`.
 */
import { ValidationError, type FieldViolation } from '../../errors.ts';
import { isWellFormed } from '../../events/json.ts';
import { LIMITS } from '../../events/limits.ts';
import { OUTCOMES, SEVERITIES, type AuditEventRecord } from '../../events/types.ts';
import { decodeTimelineCursor, encodeTimelineCursor } from '../../ledger/keys.ts';
import type { StoredEvent, TimelinePosition } from '../../ledger/port.ts';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { COST, PAGE, costPageSize } from '../limits.ts';
import { parseEventId, printableKey } from './ids.ts';
import { VerificationRef, verifyKnownEvent } from './Verification.ts';

export const EventOutcomeEnum = builder.enumType('EventOutcome', { values: OUTCOMES });
export const SeverityEnum = builder.enumType('Severity', { values: SEVERITIES });

const ActorRef = builder.objectRef<AuditEventRecord['actor']>('Actor').implement({
  description: 'Who or what caused the event.',
  fields: (t) => ({
    type: t.exposeString('type'),
    id: t.exposeString('id'),
  }),
});

const ResourceRef = builder.objectRef<NonNullable<AuditEventRecord['resource']>>('Resource').implement({
  description: 'What the event was about.',
  fields: (t) => ({
    type: t.exposeString('type'),
    id: t.exposeString('id'),
    namespace: t.exposeString('namespace', { nullable: true }),
  }),
});

const EventErrorRef = builder.objectRef<NonNullable<AuditEventRecord['error']>>('EventError').implement({
  fields: (t) => ({
    code: t.exposeString('code', { nullable: true }),
    message: t.exposeString('message', { nullable: true }),
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
    eventId: t.id({ resolve: (e) => e.record.eventId }),
    eventType: t.string({ resolve: (e) => e.record.eventType }),
    eventCategory: t.string({ resolve: (e) => e.record.eventCategory }),
    eventAction: t.string({ nullable: true, resolve: (e) => e.record.eventAction }),
    outcome: t.field({ type: EventOutcomeEnum, resolve: (e) => e.record.outcome }),
    timestamp: t.field({ type: 'DateTime', description: 'When it happened.', resolve: (e) => e.record.timestamp }),
    recordedAt: t.field({ type: 'DateTime', description: 'When the ledger committed it.', resolve: async (e, _args, ctx) => {
        const at = e.recordedAt ?? (await ctx.loaders.commitTime.load(e.txId));
        if (!at) throw new Error(`no commit time for tx ${e.txId}`);
        return at;
      },
    }),
    correlationId: t.string({ resolve: (e) => e.record.correlationId }),
    parentEventId: t.id({ nullable: true, resolve: (e) => e.record.parentEventId }),
    actor: t.field({ type: ActorRef, resolve: (e) => e.record.actor }),
    resource: t.field({ type: ResourceRef, nullable: true, resolve: (e) => e.record.resource }),
    clusterName: t.string({ nullable: true, resolve: (e) => e.record.clusterName }),
    severity: t.field({ type: SeverityEnum, nullable: true, resolve: (e) => e.record.severity }),
    durationMs: t.int({ nullable: true, resolve: (e) => e.record.durationMs }),
    error: t.field({ type: EventErrorRef, nullable: true, resolve: (e) => e.record.error }),
    data: t.field({ type: 'JSON', nullable: true, resolve: (e) => e.record.data }),
    recordedBy: t.string({
      nullable: true,
      description: 'The authenticated principal (token name) that wrote it, part of the proven record; null when written to a server without authentication.',
      resolve: (e) => e.record.recordedBy,
    }),
    ledger: t.field({ type: LedgerLocationRef, resolve: (e) => e }),
    verification: t.field({
      type: VerificationRef,
      description: 'A verified read of this event from the ledger (one ledger round trip; costs 250 towards the query cost limit).',
      complexity: COST.verification,
      resolve: (e, _args, ctx) => verifyKnownEvent(ctx, e.record.eventId),
    }),
  }),
});

export const AuditEventConnection = builder.connectionObject(
  {
    type: AuditEventRef,
    name: 'AuditEventConnection',
    edgesNullable: { list: false, items: false },
    nodeNullable: false,
  },
  { name: 'AuditEventEdge' },
);

builder.queryField('auditEvent', (t) =>
  t.field({
    authScopes: { scope: 'audit:read' },
    type: AuditEventRef,
    nullable: true,
    description: 'The event with this eventId, or null.',
    args: { eventId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.loaders.event.load(parseEventId(args.eventId, 'eventId')),
  }),
);

// --- timeline --------------------------------------------------------------------------------

export interface ConnectionArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

const position = (e: StoredEvent): TimelinePosition => ({ timestamp: e.record.timestamp, eventId: e.record.eventId });
/** Keyset order: canonical timestamps are fixed-width, UUIDs lowercase, so text order is the order. */
const compare = (a: TimelinePosition, b: TimelinePosition): number =>
  a.timestamp === b.timestamp ? (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0) : a.timestamp < b.timestamp ? -1 : 1;

function checkCorrelationId(value: string, out: FieldViolation[]): void {
  const fail = (message: string): void => {
    out.push({ path: 'correlationId', message });
  };
  if (value.length === 0) return fail('must not be empty');
  if (!isWellFormed(value)) return fail('must be well-formed Unicode (contains a lone surrogate)');
  if ([...value].length > LIMITS.identifierMaxChars) return fail(`must be at most ${LIMITS.identifierMaxChars} characters`);
  if (Buffer.byteLength(value, 'utf8') > LIMITS.correlationIdMaxBytes) fail(`must be at most ${LIMITS.correlationIdMaxBytes} bytes in UTF-8`);
}

function checkSize(name: 'first' | 'last', value: number | null | undefined, out: FieldViolation[]): void {
  if (value != null && (value < 0 || value > PAGE.max)) out.push({ path: name, message: `must be from 0 to ${PAGE.max}` });
}

function cursor(name: 'after' | 'before', value: string | null | undefined, out: FieldViolation[]): TimelinePosition | undefined {
  if (value == null) return undefined;
  try {
    return decodeTimelineCursor(value, name);
  } catch (e) {
    if (e instanceof ValidationError) out.push(...e.violations);
    else throw e;
    return undefined;
  }
}

interface Page {
  edges: { cursor: string; node: StoredEvent }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/**
 * One page of a correlation's events in (timestamp, eventId) order, by keyset.
 *
 * Forward (`first`, `after`; the default): scan ascending after `after`, one more than asked;
 * `hasNextPage` says whether that extra one exists (within `before`, when given), and
 * `hasPreviousPage` is true exactly when `after` was given (it names an event before the page).
 * Backward (`last`, `before`; also `before` alone): the mirror image, scanned descending and
 * reversed. `first` and `last` together are refused.
 */
export async function resolveTimeline(ctx: GraphQLContext, correlationId: string, args: ConnectionArgs): Promise<Page> {
  const violations: FieldViolation[] = [];
  checkCorrelationId(correlationId, violations);
  if (args.first != null && args.last != null) {
    violations.push({ path: 'first', message: 'cannot be combined with last: page forwards with first/after or backwards with last/before' });
  }
  checkSize('first', args.first, violations);
  checkSize('last', args.last, violations);
  const after = cursor('after', args.after, violations);
  const before = cursor('before', args.before, violations);
  if (violations.length > 0) throw new ValidationError(violations);

  const backward = args.last != null || (args.first == null && before !== undefined && after === undefined);
  const size = (backward ? args.last : args.first) ?? PAGE.default;
  let events: StoredEvent[];
  let more: boolean;
  if (backward) {
    const page = await ctx.ledger.scanTimeline(correlationId, { ...(before ? { after: before } : {}), limit: size + 1, direction: 'desc' });
    const found = after ? page.events.filter((e) => compare(position(e), after) > 0) : page.events;
    more = found.length > size;
    events = found.slice(0, size).reverse();
  } else {
    const page = await ctx.ledger.scanTimeline(correlationId, { ...(after ? { after } : {}), limit: size + 1, direction: 'asc' });
    const found = before ? page.events.filter((e) => compare(position(e), before) < 0) : page.events;
    more = found.length > size;
    events = found.slice(0, size);
  }
  for (const e of events) ctx.loaders.event.prime(e.record.eventId, e);

  const edges = events.map((node) => ({ cursor: encodeTimelineCursor(position(node)), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: backward ? before !== undefined : more,
      hasPreviousPage: backward ? more : after !== undefined,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
  };
}

builder.queryField('timeline', (t) =>
  t.connection(
    {
      authScopes: { scope: 'audit:read' },
      type: AuditEventRef,
      description:
        `One correlation's events in (timestamp, eventId) order. Page forwards with first/after or backwards with last/before; ` +
        `page size ${PAGE.default} by default, at most ${PAGE.max}. Cursors are stable: paging while events arrive neither repeats nor skips.`,
      args: { correlationId: t.arg.string({ required: true }) },
      complexity: (args) => ({ field: COST.connection, multiplier: costPageSize(args) }),
      resolve: (_root, args, ctx) => resolveTimeline(ctx, args.correlationId, args),
    },
    AuditEventConnection,
  ),
);
