/**
 * `Ledger.proveTxAt`'s answer for both backends (port.ts, `AnchoredTx`): a tx's tree, rebuilt from
 * its entries and found to hash to its eH (proof/tx-tree.ts), and its dual proof to the anchor,
 * checked here by the consistency proofs' verifier (the tx's state is in the history of the anchor)
 * before anything of it is handed out. The tx that is the anchor is checked by its Alh alone.
 */
import { verificationFailed } from '../errors.ts';
import { assertConsistencyProof, consistencyProofOf } from '../proof/consistency.ts';
import { toHex } from '../proof/codecs.ts';
import { EMPTY, HASH_SIZE, SET_KEY_PREFIX } from '../proof/hashing.ts';
import { txAlh, txHeaderFromJson, txHeaderToJson, type TxHeader } from '../proof/tx-header.ts';
import type { VerifiedTxTree } from '../proof/tx-tree.ts';
import type { DualProofJson, LedgerState } from '../proof/types.ts';
import type { AnchoredTx } from './port.ts';

export interface AnchoredTxInput {
  ledger: 'immudb' | 'embedded';
  database: string;
  /** The tx's header; `tree` was verified against it. */
  tx: TxHeader;
  tree: VerifiedTxTree;
  anchor: LedgerState;
  /** From tx (source) to the anchor (target); ignored when the tx is the anchor. */
  dualProof: DualProofJson | null;
}

export function anchoredTx(input: AnchoredTxInput): AnchoredTx {
  const { tx, tree, anchor } = input;
  if (!tree.eH.equals(tx.eH) || tree.version !== tx.version || tree.width !== tx.nEntries) {
    throw verificationFailed(`tx ${tx.id}: its entries' tree is not the one its header commits to`);
  }
  let dualProof: DualProofJson | null = null;
  if (tx.id.toString() === anchor.txId) {
    if (toHex(txAlh(tx)) !== anchor.txHash) throw verificationFailed(`tx ${tx.id} does not hash to the anchor state's hash`);
  } else {
    if (!input.dualProof) throw verificationFailed(`tx ${tx.id}: no dual proof to the anchor tx ${anchor.txId}`);
    let target: TxHeader;
    try {
      target = txHeaderFromJson(input.dualProof.targetTx);
    } catch (e) {
      throw verificationFailed(`tx ${tx.id}: the dual proof's target header is malformed`, e);
    }
    // The tx's own header as the source, the anchor as the expected target: a dual proof that
    // passes shows the tx's state in the history of the anchor.
    assertConsistencyProof(consistencyProofOf({ ledger: input.ledger, database: input.database, source: tx, target, dualProof: input.dualProof }), {
      to: anchor,
    });
    dualProof = input.dualProof;
  }
  let leaves: Map<string, number> | undefined;
  return {
    tx: txHeaderToJson(tx),
    dualProof,
    entry(key, value) {
      leaves ??= leafIndex(tree);
      const leaf = leaves.get(String.fromCharCode(SET_KEY_PREFIX) + key.toString('latin1'));
      if (leaf === undefined) return null;
      const metadata = metadataOf(tree, leaf);
      if (!tree.hasEntry(leaf, key, value, metadata)) return null;
      return { leaf, metadata, terms: tree.inclusionProofHex(leaf) };
    },
  };
}

/**
 * The stored key (prefix included) of a leaf's digest input, as writeTxEntryDigestInput lays it
 * out: v0 key ‖ hValue; v1 u16 mdLen ‖ md ‖ u16 kLen ‖ key ‖ hValue.
 */
function storedKeyOf(tree: VerifiedTxTree, leaf: number): Buffer {
  const input = tree.digestInput(leaf);
  if (tree.version !== 1) return input.subarray(0, input.length - HASH_SIZE);
  const at = 2 + input.readUInt16BE(0);
  return input.subarray(at + 2, at + 2 + input.readUInt16BE(at));
}

function metadataOf(tree: VerifiedTxTree, leaf: number): Buffer {
  if (tree.version !== 1) return EMPTY;
  const input = tree.digestInput(leaf);
  return Buffer.from(input.subarray(2, 2 + input.readUInt16BE(0)));
}

/** Leaf by stored key (latin1: one code unit per byte); the first leaf of a key wins. */
function leafIndex(tree: VerifiedTxTree): Map<string, number> {
  const out = new Map<string, number>();
  for (let leaf = 0; leaf < tree.width; leaf++) {
    const k = storedKeyOf(tree, leaf).toString('latin1');
    if (!out.has(k)) out.set(k, leaf);
  }
  return out;
}
