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
    eventAction: t.string({ description: 'What was done, e.g. `received`, `restart`.' }),
    outcome: t.field({ type: EventOutcomeEnum, required: true, description: 'How the action turned out.' }),
    timestamp: t.field({
      type: 'DateTime',
      description: 'When it happened: RFC 3339, at most millisecond precision, at most 5 minutes ahead of the server. Omitted: server time.',
    }),
    correlationId: t.string({ required: true, description: 'Groups the events of one flow, e.g. `rr-2025-001` (≤ 256 bytes UTF-8).' }),
    parentEventId: t.id({ description: 'UUID of the event that caused this one, when there is one.' }),
    actorType: t.string({ required: true, description: 'Kind of actor, e.g. `service`, `user`.' }),
    actorId: t.string({ required: true, description: 'Who or what acted, e.g. `gateway` or a user id.' }),
    resourceType: t.string({ description: 'Given together with resourceId.' }),
    resourceId: t.string({ description: 'Id of the resource acted on; given together with resourceType.' }),
    resourceNamespace: t.string({ description: 'Only with resourceType and resourceId.' }),
    clusterName: t.string({ description: 'Cluster the event happened in.' }),
    severity: t.field({ type: SeverityEnum, description: 'How much attention the event deserves.' }),
    durationMs: t.int({ description: 'Non-negative.' }),
    errorCode: t.string({ description: 'Machine-readable error code, for a failed action.' }),
    errorMessage: t.string({ description: 'Human-readable error message, for a failed action.' }),
    data: t.field({ type: 'JSON', description: 'Service-specific payload: any JSON.' }),
  }),
});
