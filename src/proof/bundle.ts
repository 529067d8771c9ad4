/**
 * The one builder of `auditgraph.proof.v2` bundles, for both ledgers and the tests. A bundle is
 * one entry's inclusion in its tx over a link every entry of that tx shares (the tx's header, the
 * trusted state, the dual proof between them, the state handed out): the ledgers build the link
 * once per tx, frozen, so that `assertProofBundlesOfTx` verifies it once.
 *
 * Public surface:
 * - `proofLink(input): ProofLink`: the shared part, from a dual proof however it was obtained.
 * - `entryBundle(link, entry): ProofBundle`: one entry's bundle over a link.
 * - `buildProofBundle(input): ProofBundle`: a whole bundle for one entry, its dual proof built from
 *   a DualProofStore (dual-proof.ts).
 */
import { buildDualProof, type DualProofStore } from './dual-proof.ts';
import { toBase64, toHex } from './codecs.ts';
import { EMPTY } from './hashing.ts';
import { stateSignaturePayload } from './signature.ts';
import { txAlh, txHeaderToJson, type TxHeader } from './tx-header.ts';
import { PROOF_FORMAT, type DualProofJson, type LedgerState, type ProofBundle, type StateSignatureJson } from './types.ts';

/** What every bundle of one tx shares. */
export type ProofLink = Pick<ProofBundle, 'ledger' | 'database' | 'tx' | 'trustedState' | 'dualProof' | 'state'>;

export interface ProofLinkInput {
  ledger: ProofBundle['ledger'];
  database: string;
  tx: TxHeader;
  /** The state the reader trusts; null: the tx proves itself (the ledger's first proof). */
  trusted: LedgerState | null;
  /** Between the lower and the higher of (trusted, tx). */
  dualProof: DualProofJson;
  /** Signs the state handed out (the later of trusted and tx); omitted: signature null. */
  sign?: (state: LedgerState) => StateSignatureJson | null;
}

export function proofLink(input: ProofLinkInput): ProofLink {
  const { tx } = input;
  const own = { txId: tx.id.toString(), txHash: toHex(txAlh(tx)) };
  const trusted = input.trusted ? { txId: input.trusted.txId, txHash: input.trusted.txHash } : own;
  const target = BigInt(trusted.txId) > tx.id ? trusted : own;
  return {
    ledger: input.ledger,
    database: input.database,
    tx: txHeaderToJson(tx),
    trustedState: trusted,
    dualProof: input.dualProof,
    state: { txId: target.txId, txHash: target.txHash, signature: input.sign?.(target) ?? null },
  };
}

export interface BundleEntry {
  /** Gateway-level key and value (without immudb's one-byte prefixes), and the entry's KV metadata bytes (none: empty). */
  key: Uint8Array;
  value: Uint8Array;
  metadata?: Uint8Array;
  /** The entry's position in the tx, the tx's width (nEntries) and the htree proof's terms (hex). */
  inclusion: { leaf: number; width: number; terms: string[] };
}

export function entryBundle(link: ProofLink, entry: BundleEntry): ProofBundle {
  return {
    format: PROOF_FORMAT,
    ledger: link.ledger,
    database: link.database,
    entry: { key: toBase64(entry.key), value: toBase64(entry.value), metadata: toHex(entry.metadata ?? EMPTY) },
    tx: link.tx,
    inclusion: entry.inclusion,
    trustedState: link.trustedState,
    dualProof: link.dualProof,
    state: link.state,
  };
}

export interface ProofBundleInput {
  ledger: ProofBundle['ledger'];
  database: string;
  /** Gateway-level key and value (without immudb's one-byte prefixes), and the entry's KV metadata bytes (none: empty). */
  key: Uint8Array;
  value: Uint8Array;
  metadata?: Uint8Array;
  tx: TxHeader;
  /** The entry's position in tx and its htree proof (`HTree.inclusionProof(leaf)`); width is tx.nEntries. */
  leaf: number;
  inclusionTerms: readonly Uint8Array[];
  /** Header of the tx the reader trusts; its Alh becomes trustedState.txHash. */
  trustedTx: TxHeader;
  store: DualProofStore;
  /** Signs `stateSignaturePayload(database, state.txId, state.txHash)`; omitted: signature null. */
  sign?: (payload: Buffer) => StateSignatureJson;
}

/** A bundle for one entry of a committed tx, linked to a trusted tx (either side of it), optionally signed. */
export function buildProofBundle(input: ProofBundleInput): ProofBundle {
  const { tx, trustedTx, sign } = input;
  // The lower id is the source.
  const [source, target] = trustedTx.id <= tx.id ? [trustedTx, tx] : [tx, trustedTx];
  const link = proofLink({
    ledger: input.ledger,
    database: input.database,
    tx,
    trusted: { txId: trustedTx.id.toString(), txHash: toHex(txAlh(trustedTx)) },
    dualProof: buildDualProof(source, target, input.store),
    ...(sign ? { sign: (s: LedgerState) => sign(stateSignaturePayload(input.database, BigInt(s.txId), Buffer.from(s.txHash, 'hex'))) } : {}),
  });
  return entryBundle(link, {
    key: input.key,
    value: input.value,
    ...(input.metadata ? { metadata: input.metadata } : {}),
    inclusion: { leaf: input.leaf, width: tx.nEntries, terms: input.inclusionTerms.map(toHex) },
  });
}
