/**
 * Dual proof construction, as immudb's ImmuStore.DualProof (embedded/store/immustore.go),
 * for ledgers that keep their own chain of tx headers and an AHTree of their Alhs (the embedded
 * ledger, and tests). The output is exactly what `verifyProofBundle` checks.
 *
 * Public surface:
 * - `interface DualProofStore { aht: AHTree; header(id: bigint): TxHeader }`: leaf n of `aht` must be
 *   the Alh of tx n, and `header(id)` must return any committed tx (1..last).
 * - `buildDualProof(sourceTx, targetTx, store): DualProofJson` (sourceTx.id <= targetTx.id).
 * - `buildLinearProof(sourceTxId, targetTxId, store)`: Alh@source, then each later tx's innerHash.
 * Whole bundles over such a dual proof: bundle.ts.
 */
import type { AHTree } from './ahtree.ts';
import { toHex } from './codecs.ts';
import { ZERO_HASH } from './hashing.ts';
import { txAlh, txHeaderToJson, txInnerHash, type TxHeader } from './tx-header.ts';
import type { DualProofJson } from './types.ts';

export interface DualProofStore {
  aht: AHTree;
  header(id: bigint): TxHeader;
}

export interface LinearProof {
  sourceTxId: bigint;
  targetTxId: bigint;
  terms: Buffer[];
}

export function buildLinearProof(sourceTxId: bigint, targetTxId: bigint, store: DualProofStore): LinearProof {
  if (sourceTxId < 1n || sourceTxId > targetTxId) throw new RangeError('linear proof: need 1 <= source <= target');
  const terms = [txAlh(store.header(sourceTxId))];
  for (let id = sourceTxId + 1n; id <= targetTxId; id++) terms.push(txInnerHash(store.header(id)));
  return { sourceTxId, targetTxId, terms };
}

export function buildDualProof(sourceTx: TxHeader, targetTx: TxHeader, store: DualProofStore): DualProofJson {
  if (sourceTx.id < 1n || sourceTx.id > targetTx.id) throw new RangeError('dual proof: need 1 <= source.id <= target.id');
  // A later tx can't have linked fewer txs than an earlier one; immudb calls this corrupted data.
  if (sourceTx.blTxId > targetTx.blTxId) throw new RangeError('dual proof: source.blTxId > target.blTxId');
  if (BigInt(store.aht.size) < targetTx.blTxId) throw new RangeError('dual proof: binary linking tree is behind target.blTxId');

  const aht = store.aht;
  const hex = (terms: Buffer[]) => terms.map(toHex);
  // Source inside target's linked tree: prove its Alh is a leaf of target.blRoot.
  const inclusionProof = sourceTx.id < targetTx.blTxId ? aht.inclusionProof(Number(sourceTx.id), Number(targetTx.blTxId)) : [];
  // source.blRoot is a prefix of target.blRoot.
  const consistencyProof = sourceTx.blTxId > 0n ? aht.consistencyProof(Number(sourceTx.blTxId), Number(targetTx.blTxId)) : [];
  let targetBlTxAlh = ZERO_HASH;
  let lastInclusionProof: Buffer[] = [];
  if (targetTx.blTxId > 0n) {
    // Pins target.blRoot to a tree whose last leaf is Alh@blTxId, where the linear proof may start.
    targetBlTxAlh = txAlh(store.header(targetTx.blTxId));
    lastInclusionProof = aht.lastInclusionProof(Number(targetTx.blTxId));
  }
  // biome-ignore lint/complexity/useMathMinMax: bigints, which Math.max does not take (it throws a TypeError)
  const start = sourceTx.id > targetTx.blTxId ? sourceTx.id : targetTx.blTxId;
  const linear = buildLinearProof(start, targetTx.id, store);

  return {
    sourceTx: txHeaderToJson(sourceTx),
    targetTx: txHeaderToJson(targetTx),
    inclusionProof: hex(inclusionProof),
    consistencyProof: hex(consistencyProof),
    targetBlTxAlh: toHex(targetBlTxAlh),
    lastInclusionProof: hex(lastInclusionProof),
    linearProof: {
      sourceTxId: linear.sourceTxId.toString(),
      targetTxId: linear.targetTxId.toString(),
      terms: hex(linear.terms),
    },
  };
}
