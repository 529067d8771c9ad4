/** `ledgerState`: the ledger state the gateway trusts, which proofs it hands out start from or lead to. */
import type { LedgerState, StateSignatureJson } from '../../proof/types.ts';
import { builder } from '../builder.ts';

type LedgerStateShape = LedgerState & { signature?: StateSignatureJson | null };

const StateSignatureRef = builder.objectRef<StateSignatureJson>('StateSignature').implement({
  description: "immudb's ECDSA P-256 signature of the state (base64): only when immudb runs with a signing key.",
  fields: (t) => ({
    publicKey: t.exposeString('publicKey', { description: 'The signing public key (base64).' }),
    signature: t.exposeString('signature', { description: 'The signature of the state (base64).' }),
  }),
});

const LedgerStateRef = builder.objectRef<LedgerStateShape>('LedgerState').implement({
  description: 'A ledger state: the newest transaction the gateway has verified, and its hash (Alh). Save it to check later proofs against it.',
  fields: (t) => ({
    txId: t.exposeString('txId', { description: 'Decimal, 64-bit; "0" for an empty ledger.' }),
    txHash: t.exposeString('txHash', { description: 'Lowercase hex.' }),
    signature: t.field({
      type: StateSignatureRef,
      nullable: true,
      description: 'immudb’s signature of this state; null on the embedded ledger or an immudb without a signing key.',
      resolve: (s) => s.signature ?? null,
    }),
    checkpoint: t.string({
      description:
        'This state (exactly this txId and txHash) as a checkpoint signed by the gateway: a C2SP signed note (https://c2sp.org/signed-note) ' +
        'of four lines (origin, txId, the Alh in base64, `immudb-alh-sha256`), a blank line and an Ed25519 signature line. Check it with the ' +
        'verifier key from GET /checkpoint/key (`auditgraph verify --checkpoint`). An empty ledger gives tx 0 with the all-zero hash.',
      resolve: (s, _args, ctx) => ctx.checkpoints.checkpoint(s),
    }),
  }),
});

builder.queryField('ledgerState', (t) =>
  t.field({
    authScopes: { scope: 'audit:read' },
    type: LedgerStateRef,
    description: 'The newest ledger state the gateway has verified; proofs it returns lead to or from it.',
    resolve: (_root, _args, ctx) => ctx.ledger.trustedState(),
  }),
);
