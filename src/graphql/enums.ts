/**
 * Enums of event values, used by the AuditEvent type and by both input types: here, so the inputs
 * need not import nodes/AuditEvent.ts (which imports AuditEventFilter: a cycle).
 */
import { OUTCOMES, SEVERITIES } from '../events/types.ts';
import { builder } from './builder.ts';

export const EventOutcomeEnum = builder.enumType('EventOutcome', { values: OUTCOMES });
export const SeverityEnum = builder.enumType('Severity', { values: SEVERITIES });
