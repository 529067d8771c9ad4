import { validateEventInput, withRecordedBy } from '../../events/validate.ts';
import type { AppendResult } from '../../ledger/port.ts';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { AuditEventInputRef } from '../inputs/AuditEventInput.ts';
import { COST } from '../limits.ts';
import { AuditEventRef } from '../nodes/AuditEvent.ts';
import { checkedProof, ProofBundleRef } from '../nodes/Verification.ts';

/** Later reads in the same request see what was just written without asking the ledger. */
export function primeWritten(ctx: GraphQLContext, results: AppendResult[]): void {
  for (const r of results) ctx.loaders.event.clear(r.event.record.eventId).prime(r.event.record.eventId, r.event);
}

const CreateAuditEventPayload = builder.objectRef<AppendResult>('CreateAuditEventPayload').implement({
  description: 'The result of createAuditEvent: the stored event and its proof.',
  fields: (t) => ({
    event: t.field({ type: AuditEventRef, description: 'The stored event (on an idempotent retry, the one stored before).', resolve: (r) => r.event }),
    proof: t.field({
      type: ProofBundleRef,
      description: 'Proof of the committed entry, from the gateway’s trusted state.',
      resolve: (r) => checkedProof(r.proof),
    }),
    created: t.exposeBoolean('created', {
      description: 'false: an event with this eventId and the same content was already stored (an idempotent retry); nothing new was written.',
    }),
  }),
});

builder.mutationField('createAuditEvent', (t) =>
  t.field({
    authScopes: { scope: 'audit:write' },
    type: CreateAuditEventPayload,
    description:
      'Appends one event and returns it with its proof. The same eventId with identical content returns the stored event (`created: false`); with other content it fails with EVENT_ID_CONFLICT.',
    args: { input: t.arg({ type: AuditEventInputRef, required: true, description: 'The event to append.' }) },
    complexity: COST.mutation,
    resolve: async (_root, { input }, ctx) => {
      const [event] = withRecordedBy([validateEventInput(input, 'input')], ctx.principal?.name ?? null);
      await ctx.takeWrites(1);
      const results = await ctx.ledger.append([event!]);
      primeWritten(ctx, results);
      return results[0]!;
    },
  }),
);
