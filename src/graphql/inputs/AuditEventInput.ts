/**
 * `AuditEventInput` (api-contract.md). GraphQL checks only shapes here; every rule about values
 * (lengths, formats, UUIDs, timestamp skew, `data` size and depth) is validateEventInput's, which
 * reports all violations at once with their paths.
 */
import { builder } from '../builder.ts';
import { EventOutcomeEnum, SeverityEnum } from '../enums.ts';

export const AuditEventInputRef = builder.inputType('AuditEventInput', {
  description: 'A new audit event. Limits: identifiers ≤ 128 characters, errorMessage ≤ 1024, data ≤ 64 KiB serialized and ≤ 32 levels deep.',
  fields: (t) => ({
    eventId: t.id({ description: 'UUID, the idempotency key. Omitted: the server generates a UUIDv7.' }),
    eventType: t.string({ required: true, description: 'Dotted lowercase name, e.g. `gateway.signal.received`.' }),
    eventCategory: t.string({ required: true, description: 'Emitting service, e.g. `gateway`.' }),
    eventAction: t.string(),
    outcome: t.field({ type: EventOutcomeEnum, required: true }),
    timestamp: t.field({
      type: 'DateTime',
      description: 'When it happened: RFC 3339, at most millisecond precision, at most 5 minutes ahead of the server. Omitted: server time.',
    }),
    correlationId: t.string({ required: true, description: 'Groups the events of one flow, e.g. `rr-2025-001` (≤ 256 bytes UTF-8).' }),
    parentEventId: t.id(),
    actorType: t.string({ required: true }),
    actorId: t.string({ required: true }),
    resourceType: t.string({ description: 'Given together with resourceId.' }),
    resourceId: t.string(),
    resourceNamespace: t.string({ description: 'Only with resourceType and resourceId.' }),
    clusterName: t.string(),
    severity: t.field({ type: SeverityEnum }),
    durationMs: t.int({ description: 'Non-negative.' }),
    errorCode: t.string(),
    errorMessage: t.string(),
    data: t.field({ type: 'JSON', description: 'Service-specific payload: any JSON.' }),
  }),
});
