/**
 * `AuditEventFilter` and `AuditEventOrder` (api-contract.md): lists are OR within a field, fields
 * are AND, since/until are [since, until). Shapes only here; values are checked by normalizeFilter
 * (events/filter.ts), which reports every problem at its path (`filter.actorId.2`).
 */
import { MAX_VALUES_PER_FIELD } from '../../events/filter.ts';
import type { IndexOrder } from '../../index/index.ts';
import { builder } from '../builder.ts';
import { EventOutcomeEnum, SeverityEnum } from '../enums.ts';

export const AuditEventOrderEnum = builder.enumType('AuditEventOrder', {
  description: 'Order by (timestamp, eventId).',
  values: {
    TIMESTAMP_ASC: { description: 'Oldest first (ties by eventId, ascending).' },
    TIMESTAMP_DESC: { description: 'Newest first (ties by eventId, descending).' },
  } satisfies Record<IndexOrder, { description: string }>,
});

const list = `Any of these values (OR), at most ${MAX_VALUES_PER_FIELD}; an empty list is refused (omit the field instead).`;

export const AuditEventFilterRef = builder.inputType('AuditEventFilter', {
  description: 'Events matching every given field (AND); within a list field, any of its values (OR).',
  fields: (t) => ({
    correlationId: t.string({
      description: 'Only events of this correlation (exact match). Given with `correlationIds`, an event must match both (the intersection).',
    }),
    correlationIds: t.stringList({
      description: `Only events of any of these correlations: ${list} Given with \`correlationId\`, an event must match both (the intersection).`,
    }),
    eventType: t.stringList({ description: list }),
    eventCategory: t.stringList({ description: list }),
    actorId: t.stringList({ description: list }),
    actorType: t.stringList({ description: list }),
    outcome: t.field({ type: [EventOutcomeEnum], description: list }),
    resourceType: t.string({ description: 'Only events about resources of this type (exact match), e.g. `pod`.' }),
    resourceId: t.string({ description: 'Only events about the resource with this id (exact match).' }),
    severity: t.field({ type: [SeverityEnum], description: `${list} Events without a severity match no value.` }),
    eventAction: t.stringList({ description: `${list} Events without an eventAction match no value.` }),
    resourceNamespace: t.stringList({ description: `${list} Events without a resource namespace match no value.` }),
    clusterName: t.stringList({ description: `${list} Events without a clusterName match no value.` }),
    recordedBy: t.stringList({
      description: `The principal (token name) that wrote the event: ${list} Events written on an open server (recordedBy null) match no value.`,
    }),
    parentEventId: t.id({ description: 'Only direct children of this event (exact match on parentEventId; any case, as UUIDs are stored lowercased).' }),
    since: t.field({ type: 'DateTime', description: 'Events with timestamp ≥ since.' }),
    until: t.field({ type: 'DateTime', description: 'Events with timestamp < until.' }),
  }),
});
