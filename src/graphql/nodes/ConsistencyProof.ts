/** `ConsistencyProof` and `consistencyProof`: that the ledger at one tx is a prefix of the ledger at a later one. */
import type { ConsistencyProofJson } from '../../proof/types.ts';
import { builder } from '../builder.ts';
import { COST } from '../limits.ts';

const ConsistencyProofRef = builder.objectRef<ConsistencyProofJson>('ConsistencyProof').implement({
  description:
    'A proof that the ledger state at `fromTxId` is in the history of the state at `toTxId`: nothing before `fromTxId` was rewritten since. ' +
    'Checked by the gateway before it is returned; check it yourself offline with `verifyConsistencyProof` (src/proof/consistency.ts).',
  fields: (t) => ({
    fromTxId: t.string({ description: 'The earlier tx (decimal, 64-bit).', resolve: (p) => p.from.txId }),
    toTxId: t.string({ description: 'The later tx (decimal, 64-bit): the newest committed one when `toTxId` was omitted.', resolve: (p) => p.to.txId }),
    json: t.string({
      description:
        'The `auditgraph.consistency.v1` document: `{ format, ledger, database, from: { txId, txHash }, to: { txId, txHash }, dualProof }`, ' +
        'the dual proof as in proof bundles.',
      resolve: (p) => JSON.stringify(p),
    }),
  }),
});

builder.queryField('consistencyProof', (t) =>
  t.field({
    authScopes: { scope: 'audit:read' },
    type: ConsistencyProofRef,
    description:
      'A consistency proof between two ledger states, e.g. a state you saved and the newest: what a monitor checks to see that the ledger never forked or rewrote history. ' +
      'The gateway checks first that the later state is in the history it trusts (else VERIFICATION_FAILED).',
    args: {
      fromTxId: t.arg.string({ required: true, description: 'The earlier ledger txId (decimal, from 1).' }),
      toTxId: t.arg.string({
        description: 'The later ledger txId (decimal, at least `fromTxId`, at most the newest committed tx); omitted: the newest committed tx.',
      }),
    },
    complexity: COST.verification,
    // The ledger checks both ids (BAD_USER_INPUT naming the argument) before fetching any proof.
    resolve: (_root, args, ctx) => ctx.ledger.consistencyProof(args.fromTxId, args.toTxId ?? undefined),
  }),
);
