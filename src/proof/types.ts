/** Hex strings are lowercase, 64-bit integers decimal strings, raw bytes base64 (api-contract.md). */
export interface TxHeaderJsonV1 {
  id: string;
  prevAlh: string;
  ts: string;
  nEntries: number;
  eH: string;
  blTxId: string;
  blRoot: string;
}

/** A tx header of `auditgraph.proof.v2`: v1's fields, the header version (0 or 1) and its metadata (hex). */
export interface TxHeaderJson extends TxHeaderJsonV1 {
  version: number;
  metadata: string;
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

/** What the ledgers issue: `auditgraph.proof.v2`. Verifiers also take v1 bundles (headers without version or metadata, entry without metadata). */
export interface ProofBundle {
  format: typeof PROOF_FORMAT;
  ledger: 'immudb' | 'embedded';
  database: string;
  /** Key and value as the gateway wrote them (immudb's internal one-byte prefixes not included); KV metadata in hex. */
  entry: { key: string; value: string; metadata: string };
  tx: TxHeaderJson;
  inclusion: { leaf: number; width: number; terms: string[] };
  trustedState: LedgerState;
  dualProof: DualProofJson;
  state: LedgerState & { signature: StateSignatureJson | null };
}

/**
 * `auditgraph.consistency.v1`: the ledger at tx `from` is a prefix of the ledger at tx `to`
 * (from.txId <= to.txId): the dual proof from `from`'s tx (source) to `to`'s (target), v2 headers.
 * Verified by consistency.ts.
 */
export interface ConsistencyProofJson {
  format: typeof CONSISTENCY_FORMAT;
  ledger: 'immudb' | 'embedded';
  database: string;
  from: LedgerState;
  to: LedgerState;
  dualProof: DualProofJson;
}

export const CONSISTENCY_FORMAT = 'auditgraph.consistency.v1' as const;

export const PROOF_FORMAT = 'auditgraph.proof.v2' as const;
/** The format issued before immudb 1.2+ support; its bundles keep verifying. */
export const PROOF_FORMAT_V1 = 'auditgraph.proof.v1' as const;

/** Freezes a bundle part that several bundles share, so no holder can change it for the others. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
