/**
 * Enums of event values, used by the AuditEvent type and by both input types: here, so the inputs
 * need not import nodes/AuditEvent.ts (which imports AuditEventFilter: a cycle). The two read alike
 * because each is a declaration of its values, each checked against its type in events/types.ts.
 */
import type { Outcome, Severity } from '../events/types.ts';
import { builder } from './builder.ts';

export const EventOutcomeEnum = builder.enumType('EventOutcome', {
  description: 'How the action the event records turned out.',
  values: {
    SUCCESS: { description: 'The action completed as intended.' },
    FAILURE: { description: 'The action failed; `error` usually says why.' },
    PENDING: { description: 'The action started and its result is not known yet (a later event of the same correlation reports it).' },
  } satisfies Record<Outcome, { description: string }>,
});

export const SeverityEnum = builder.enumType('Severity', {
  description: 'How much attention the event deserves, lowest first.',
  values: {
    INFO: { description: 'Routine: no action needed.' },
    WARNING: { description: 'Unusual, worth a look; nothing is broken yet.' },
    ERROR: { description: 'Something failed and may need action.' },
    CRITICAL: { description: 'Severe failure needing immediate action.' },
  } satisfies Record<Severity, { description: string }>,
});
