/** The GraphQL schema: importing the type modules registers them with the builder. */
import { builder } from './builder.ts';
import './nodes/AuditEvent.ts';
import './nodes/Verification.ts';
import './nodes/ConsistencyProof.ts';
import './nodes/LedgerState.ts';
import './nodes/AuditEventStats.ts';
import './nodes/Correlation.ts';
import './inputs/AuditEventInput.ts';
import './mutations/createAuditEvent.ts';
import './mutations/createAuditEvents.ts';
import './subscriptions/auditEventCreated.ts';

export const schema = builder.toSchema({ sortSchema: true });
