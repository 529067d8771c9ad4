/**
 * The Pothos schema builder: plugins and scalars only. Each object type lives in nodes/ with the
 * query fields that return it (nodes/AuditEvent.ts: `auditEvent`, `timeline`, `auditEvents`;
 * nodes/AuditEventStats.ts: `auditEventStats`; nodes/Correlation.ts: `correlations`);
 * input types in inputs/, mutations in mutations/, subscriptions in subscriptions/. schema.ts
 * imports them all.
 */
import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import RelayPlugin, { decodeGlobalID } from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { JSONResolver } from 'graphql-scalars';
import { hasScope, type Scope } from '../auth/tokens.ts';
import { AuditError, ErrorCode, ValidationError } from '../errors.ts';
import { TIMESTAMP_MAX_LENGTH } from '../events/time.ts';
import type { GraphQLContext } from './context.ts';
import { COST } from './limits.ts';

/** Types that implement Node; a global id naming anything else is refused as input. */
const NODE_TYPES: ReadonlySet<string> = new Set(['AuditEvent']);

const parseDateTime = (value: unknown): string => {
  if (typeof value !== 'string') throw new GraphQLError('DateTime must be an RFC 3339 date-time string, e.g. "2025-01-02T03:04:05.678Z"');
  if (value.length > TIMESTAMP_MAX_LENGTH) throw new GraphQLError(`DateTime must be at most ${TIMESTAMP_MAX_LENGTH} characters`);
  return value;
};

/**
 * RFC 3339 date-time. Output is always UTC with milliseconds. Input is kept as the text the client
 * sent (no Date round trip, which would silently drop sub-millisecond digits or accept loose
 * formats): the field that takes it validates it with parseRfc3339 (events/time.ts) and reports
 * problems at its own path.
 */
export const DateTimeScalar = new GraphQLScalarType<string, string>({
  name: 'DateTime',
  description:
    'An RFC 3339 date-time. Returned as UTC with milliseconds, e.g. `2025-01-02T03:04:05.678Z`. ' +
    'Accepted with any offset and at most millisecond precision (further digits must be zeros); ' +
    'leap seconds (`:60`) are refused.',
  specifiedByURL: 'https://scalars.graphql.org/andimarek/date-time',
  serialize(value) {
    if (typeof value === 'string') return value;
    if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
    throw new GraphQLError('DateTime cannot represent this value');
  },
  parseValue: parseDateTime,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be an RFC 3339 date-time string', { nodes: ast });
    return parseDateTime(ast.value);
  },
});

export interface SchemaTypes {
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: string; Output: string };
    JSON: { Input: unknown; Output: unknown };
  };
  AuthScopes: { scope: Scope };
  /** What connection resolvers may add: `AuditEventConnection.totalCount`, counted only when asked for. */
  Connection: { totalCount?: () => Promise<number> };
}

export const builder = new SchemaBuilder<SchemaTypes>({
  // Scope auth first: a refused field never reaches the other plugins' wrappers or its resolver.
  plugins: [ScopeAuthPlugin, RelayPlugin, ComplexityPlugin],
  scopeAuth: {
    // Checked when the subscription starts, not per event: a refused one never joins the feed.
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({
      scope: (scope: Scope) => !ctx.authRequired || (ctx.principal !== null && hasScope(ctx.principal, scope)),
    }),
    unauthorizedError: (_parent, ctx) =>
      ctx.principal === null
        ? new AuditError(ErrorCode.UNAUTHENTICATED, 'Authentication required: send Authorization: Bearer <token>.')
        : new AuditError(ErrorCode.FORBIDDEN, `${ctx.principal.name} lacks the scope this field needs.`),
  },
  defaultFieldNullability: false,
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // The contract names `node`; a `nodes` list would be one more unbounded fan-out to police.
    nodesQueryOptions: false,
    nodeQueryOptions: {
      description: 'Fetches an object by its Relay global id.',
      authScopes: { scope: 'audit:read' },
      args: { id: { description: 'A global id from an `id` field (not an eventId).' } },
    },
    nodeTypeOptions: { description: 'An object with a global id, fetchable with `node(id:)`.' },
    idFieldOptions: { description: 'Global id (Relay), for `node(id:)` and client caches; not the eventId.' },
    pageInfoTypeOptions: { description: 'Where a page sits in its connection, and the cursors to page on from it.' },
    hasNextPageFieldOptions: { description: 'More items follow this page (page on with `after: endCursor`).' },
    hasPreviousPageFieldOptions: { description: 'Items come before this page (page back with `before: startCursor`).' },
    startCursorFieldOptions: { description: 'Cursor of the first item of the page; null when the page is empty.' },
    endCursorFieldOptions: { description: 'Cursor of the last item of the page; null when the page is empty.' },
    edgesFieldOptions: { description: 'The page’s items, in order.' },
    pageInfoFieldOptions: { description: 'Paging information for this page.' },
    cursorFieldOptions: { description: 'Opaque position of this item: pass it as `after` or `before` to page from here.' },
    nodeFieldOptions: { description: 'The item.' },
    firstArgOptions: { description: 'Page forwards: at most this many items after `after` (or from the start).' },
    afterArgOptions: { description: 'Page forwards from this cursor (an `endCursor` or edge cursor), exclusive.' },
    lastArgOptions: { description: 'Page backwards: at most this many items before `before` (or from the end).' },
    beforeArgOptions: { description: 'Page backwards from this cursor (a `startCursor` or edge cursor), exclusive.' },
    decodeGlobalID: (globalID) => {
      let decoded: { typename: string; id: string } | null = null;
      try {
        decoded = decodeGlobalID(globalID);
      } catch {
        // reported below
      }
      if (!decoded || !NODE_TYPES.has(decoded.typename)) throw new ValidationError([{ path: 'id', message: 'is not a global id of this API' }]);
      return decoded;
    },
  },
  complexity: {
    // Enforced per request by the cost limit in limits.ts (before execution), not per resolver.
    disabled: true,
    defaultComplexity: COST.field,
    // Lists are priced where their length is known (page size, batch size), not by a guess.
    defaultListMultiplier: 1,
  },
});

builder.addScalarType('DateTime', DateTimeScalar);
builder.addScalarType('JSON', JSONResolver);

builder.queryType({ description: 'Reads: events by id, by correlation (timeline) or by filter (auditEvents), verified reads and the ledger state.' });
builder.mutationType({ description: 'Writes: append audit events to the ledger; each comes back with its proof.' });
builder.subscriptionType({ description: 'Live events over WebSocket (graphql-ws) or server-sent events.' });
