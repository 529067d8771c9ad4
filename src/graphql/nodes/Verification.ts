/** `Verification`, `ProofBundle` and `verifyAuditEvent`: verified reads with offline-checkable proofs. */
import { ValidationError, verificationFailed } from '../../errors.ts';
import type { AppendResult } from '../../ledger/port.ts';
import type { ProofBundle } from '../../proof/types.ts';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { COST } from '../limits.ts';
import { parseEventId } from './ids.ts';

export interface ProofShape {
  verified: boolean;
  txId: string;
  json: ProofBundle;
}

export interface VerificationShape {
  verified: boolean;
  eventId: string;
  proof: ProofShape;
}

/**
 * `verified: true` is a statement the Ledger port guarantees: every bundle a ledger returns went
 * through the offline verifier (assertProofBundle) before it left the ledger, and one that fails is
 * VERIFICATION_FAILED there — never data with `verified: false`. Checking it again here would run
 * the same code on the same object in the same process (a visible share of a create's CPU, for nothing).
 */
export function checkedProof(bundle: ProofBundle): ProofShape {
  return { verified: true, txId: bundle.tx.id, json: bundle };
}

export function toVerification(result: AppendResult): VerificationShape {
  return { verified: true, eventId: result.event.record.eventId, proof: checkedProof(result.proof) };
}

/** The verified read of an event this request already knows exists. */
export async function verifyKnownEvent(ctx: GraphQLContext, eventId: string): Promise<VerificationShape> {
  const result = await ctx.loaders.verified.load(eventId);
  if (!result) throw verificationFailed(`event ${eventId} was readable but has no verifiable ledger entry`);
  return toVerification(result);
}

export const ProofBundleRef = builder.objectRef<ProofShape>('ProofBundle').implement({
  description:
    'A proof that an entry is in the ledger, checkable offline against a ledger state you trust. ' +
    '`json` is the `auditgraph.proof.v2` document (see `npx auditgraph verify`, which also verifies `auditgraph.proof.v1` documents).',
  fields: (t) => ({
    verified: t.exposeBoolean('verified', {
      description: 'The gateway checked the proof before returning it (always true: a failing proof is a VERIFICATION_FAILED error).',
    }),
    txId: t.exposeString('txId', { description: 'Ledger transaction holding the entry (decimal, 64-bit).' }),
    json: t.field({ type: 'JSON', description: 'The proof document; save it and check it offline with `npx auditgraph verify`.', resolve: (p) => p.json }),
  }),
});

export const VerificationRef = builder.objectRef<VerificationShape>('Verification').implement({
  description: 'A verified read of one event from the ledger, with its proof.',
  fields: (t) => ({
    verified: t.exposeBoolean('verified', { description: 'The event and its proof checked out (always true: a failed check is a VERIFICATION_FAILED error).' }),
    eventId: t.exposeID('eventId', { description: 'The event that was read.' }),
    proof: t.field({
      type: ProofBundleRef,
      description:
        'Proof of the event’s ledger entry, from the gateway’s trusted state (or, with `verifyAuditEvent`’s `trustedTxId`, from the state at that tx).',
      resolve: (v) => v.proof,
    }),
  }),
});

builder.queryField('verifyAuditEvent', (t) =>
  t.field({
    authScopes: { scope: 'audit:read' },
    type: VerificationRef,
    description:
      'Reads the event from the ledger with a fresh proof from the gateway’s trusted state, or with `trustedTxId` from the ledger state at that tx: ' +
      'a state you saved earlier (`ledgerState`), so that `npx auditgraph verify proof.json --trusted <txId>:<txHash>` checks the proof against exactly that state.',
    args: {
      eventId: t.arg.id({ required: true, description: 'The event’s eventId (a UUID); an unknown one is a validation error.' }),
      trustedTxId: t.arg.string({
        description:
          'Anchor the proof at this ledger txId (decimal, from 1 to the newest committed tx): the proof’s `trustedState` is the state at that tx, ' +
          'linked to the event’s tx before or after it. The gateway checks first that this state is in the history it trusts (else VERIFICATION_FAILED). ' +
          'Omitted: the proof starts from the gateway’s trusted state.',
      }),
    },
    complexity: COST.verification,
    resolve: async (_root, args, ctx) => {
      const eventId = parseEventId(args.eventId, 'eventId');
      // An anchored read is its own proof; the ledger checks trustedTxId (BAD_USER_INPUT naming it) before reading anything.
      const result = args.trustedTxId == null ? await ctx.loaders.verified.load(eventId) : await ctx.ledger.getVerifiedFrom(eventId, args.trustedTxId);
      if (!result) throw new ValidationError([{ path: 'eventId', message: 'no event with this eventId is stored' }]);
      return toVerification(result);
    },
  }),
);
