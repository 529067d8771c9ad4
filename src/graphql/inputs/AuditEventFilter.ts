/**
 * `AuditEventFilter` and `AuditEventOrder` (api-contract.md): lists are OR within a field, fields
 * are AND, since/until are [since, until). Shapes only here; values are checked by normalizeFilter
 * (events/filter.ts), which reports every problem at its path (`filter.actorId.2`).
 */
import { MAX_VALUES_PER_FIELD } from '../../events/filter.ts';
import { INDEX_ORDERS } from '../../index/index.ts';
import { builder } from '../builder.ts';
import { EventOutcomeEnum } from '../enums.ts';

export const AuditEventOrderEnum = builder.enumType('AuditEventOrder', {
  description: 'Order by (timestamp, eventId).',
  values: INDEX_ORDERS,
});

const list = `Any of these values (OR), at most ${MAX_VALUES_PER_FIELD}; an empty list is refused (omit the field instead).`;

export const AuditEventFilterRef = builder.inputType('AuditEventFilter', {
  description: 'Events matching every given field (AND); within a list field, any of its values (OR).',
  fields: (t) => ({
    correlationId: t.string(),
    eventType: t.stringList({ description: list }),
    eventCategory: t.stringList({ description: list }),
    actorId: t.stringList({ description: list }),
    actorType: t.stringList({ description: list }),
    outcome: t.field({ type: [EventOutcomeEnum], description: list }),
    resourceType: t.string(),
    resourceId: t.string(),
    since: t.field({ type: 'DateTime', description: 'Events with timestamp ≥ since.' }),
    until: t.field({ type: 'DateTime', description: 'Events with timestamp < until.' }),
  }),
});
