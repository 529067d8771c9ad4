import { LIMITS, validateEventBatch, withRecordedBy } from '../../events/validate.ts';
import type { AppendResult } from '../../ledger/port.ts';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { AuditEventInputRef } from '../inputs/AuditEventInput.ts';
import { COST } from '../limits.ts';
import { AuditEventRef } from '../nodes/AuditEvent.ts';
import { checkedProof, ProofBundleRef } from '../nodes/Verification.ts';
import { primeWritten } from './createAuditEvent.ts';

/** Most events one call may carry: 1,000, or fewer when the ledger commits fewer in one transaction. */
export function maxBatchSize(ctx: Pick<GraphQLContext, 'ledger'>): number {
  return Math.min(LIMITS.maxBatch, ctx.ledger.maxEventsPerAppend);
}

const CreateAuditEventsPayload = builder.objectRef<AppendResult[]>('CreateAuditEventsPayload').implement({
  description: 'The result of createAuditEvents: the stored events and their proofs.',
  fields: (t) => ({
    events: t.field({ type: [AuditEventRef], description: 'In input order.', resolve: (rs) => rs.map((r) => r.event) }),
    proofs: t.field({ type: [ProofBundleRef], description: 'In input order.', resolve: (rs) => rs.map((r) => checkedProof(r.proof)) }),
  }),
});

// Shaped like every Pothos root field (auditEventCreated.ts too): declarations, no logic to share.
builder.mutationField('createAuditEvents', (t) =>
  t.field({
    authScopes: { scope: 'audit:write' },
    type: CreateAuditEventsPayload,
    description:
      'Appends up to 1,000 events in one ledger transaction, all or nothing: if any input is invalid or conflicts, nothing is written ' +
      '(violations name the index, e.g. `input.3.actorId`). Idempotent per eventId like createAuditEvent.',
    args: { input: t.arg({ type: [AuditEventInputRef], required: true, description: 'The events to append (1 to 1,000), written in this order.' }) },
    complexity: (args) => ({ field: COST.mutation, multiplier: Math.min(Math.max(args.input.length, 1), LIMITS.maxBatch) }),
    resolve: async (_root, { input }, ctx) => {
      const events = withRecordedBy(validateEventBatch(input, 'input', new Date(), maxBatchSize(ctx)), ctx.principal?.name ?? null);
      await ctx.takeWrites(events.length);
      const results = await ctx.ledger.append(events);
      primeWritten(ctx, results);
      return results;
    },
  }),
);
