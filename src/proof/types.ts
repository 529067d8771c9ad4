/** Hex strings are lowercase, 64-bit integers decimal strings, raw bytes base64 (api-contract.md). */
export interface TxHeaderJson {
  id: string;
  prevAlh: string;
  ts: string;
  nEntries: number;
  eH: string;
  blTxId: string;
  blRoot: string;
}

export interface LedgerState {
  txId: string;
  txHash: string;
}

export interface StateSignatureJson {
  publicKey: string;
  signature: string;
}

export interface DualProofJson {
  sourceTx: TxHeaderJson;
  targetTx: TxHeaderJson;
  inclusionProof: string[];
  consistencyProof: string[];
  targetBlTxAlh: string;
  lastInclusionProof: string[];
  linearProof: { sourceTxId: string; targetTxId: string; terms: string[] };
}

export interface ProofBundle {
  format: 'auditgraph.proof.v1';
  ledger: 'immudb' | 'embedded';
  database: string;
  /** Key and value as the gateway wrote them (immudb's internal one-byte prefixes not included). */
  entry: { key: string; value: string };
  tx: TxHeaderJson;
  inclusion: { leaf: number; width: number; terms: string[] };
  trustedState: LedgerState;
  dualProof: DualProofJson;
  state: LedgerState & { signature: StateSignatureJson | null };
}

export const PROOF_FORMAT = 'auditgraph.proof.v1' as const;

/** Freezes a bundle part that several bundles share, so no holder can change it for the others. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
