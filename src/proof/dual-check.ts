/**
 * The dual-proof checks both verifiers share: a proof bundle's link between its trusted state and
 * its tx (verify.ts), and a consistency proof's between two states (consistency.ts). Pure.
 *
 * - `checkStateSide`: a header of the dual proof is the given state's tx (its id, and its Alh).
 * - `checkDualProof`: both headers link their predecessor (`dualProof.linking`: blTxId == id − 1,
 *   which closes GHSA-672p-m5jq-mrh8), then immudb's store.VerifyDualProof, strict (exact proof
 *   lengths, empty proofs where immudb gives none): `dualProof.inclusion`, `.consistency`,
 *   `.lastInclusion`, `.linear`, from the source's Alh to the target's. verify.ts lists what each covers.
 */
import { ahtLeaf, verifyAhtConsistency, verifyAhtInclusion, verifyAhtLastInclusion } from './ahtree.ts';
import type { ParsedDualProof, ParsedState } from './bundle-parse.ts';
import { fail } from './checks.ts';
import { ZERO_HASH } from './hashing.ts';
import { alhOf, txAlh, type TxHeader } from './tx-header.ts';

/** Header `h` is the tx of `state` (named `name` in messages): id state.txId, Alh state.txHash. Fails `check`. */
export function checkStateSide(h: TxHeader, state: ParsedState, name: string, check: 'dualProof.sourceTx' | 'dualProof.targetTx'): void {
  if (h.id !== state.txId) fail(check, `id ${h.id} != ${name}.txId ${state.txId}`);
  if (!txAlh(h).equals(state.txHash)) fail(check, `header does not hash to ${name}.txHash`);
}

/**
 * The dual proof links `sourceAlh` (dp.source's Alh, already bound by the caller) to `targetAlh`
 * (dp.target's): the linking rule on both headers, then the tree and linear checks.
 */
export function checkDualProof(dp: ParsedDualProof, sourceAlh: Buffer, targetAlh: Buffer): void {
  checkLinking(dp.source, 'source');
  checkLinking(dp.target, 'target');
  verifyDual(dp, sourceAlh, targetAlh);
}

/** Every tx links its predecessor (see `dualProof.linking` in verify.ts); tx 1 links nothing, so its blRoot is zero. */
function checkLinking(h: TxHeader, side: 'source' | 'target'): void {
  if (h.blTxId !== h.id - 1n) {
    fail(
      'dualProof.linking',
      `${side} tx ${h.id} links tx ${h.blTxId}, not its predecessor: a linear proof over unlinked txs can be faked (GHSA-672p-m5jq-mrh8)`,
    );
  }
  if (h.blTxId === 0n && !h.blRoot.equals(ZERO_HASH)) fail('dualProof.linking', `${side} tx 1: blRoot must be zero`);
}

/** store.VerifyDualProof with sourceTxID/targetTxID taken from the headers the caller bound. */
function verifyDual(dp: ParsedDualProof, sourceAlh: Buffer, targetAlh: Buffer): void {
  const { source, target } = dp;

  if (source.id < target.blTxId) {
    if (!verifyAhtInclusion(dp.inclusion, source.id, target.blTxId, ahtLeaf(sourceAlh), target.blRoot)) {
      fail('dualProof.inclusion', `source tx ${source.id} is not leaf ${source.id} of target.blRoot (size ${target.blTxId})`);
    }
  } else if (dp.inclusion.length !== 0) {
    fail('dualProof.inclusion', 'must be empty when source.id >= target.blTxId');
  }

  if (source.blTxId > target.blTxId) fail('dualProof.consistency', `source.blTxId ${source.blTxId} > target.blTxId ${target.blTxId}`);
  if (source.blTxId > 0n) {
    if (!verifyAhtConsistency(dp.consistency, source.blTxId, target.blTxId, source.blRoot, target.blRoot)) {
      fail('dualProof.consistency', `source.blRoot (size ${source.blTxId}) is not a prefix of target.blRoot (size ${target.blTxId})`);
    }
  } else if (dp.consistency.length !== 0) {
    fail('dualProof.consistency', 'must be empty when source.blTxId is 0');
  }

  if (target.blTxId > 0n) {
    if (!verifyAhtLastInclusion(dp.lastInclusion, target.blTxId, ahtLeaf(dp.targetBlTxAlh), target.blRoot)) {
      fail('dualProof.lastInclusion', `targetBlTxAlh is not the last leaf of target.blRoot (size ${target.blTxId})`);
    }
    if (source.id === target.blTxId && !dp.targetBlTxAlh.equals(sourceAlh)) {
      fail('dualProof.lastInclusion', 'targetBlTxAlh differs from the source Alh of the same tx');
    }
  } else {
    if (dp.lastInclusion.length !== 0) fail('dualProof.lastInclusion', 'must be empty when target.blTxId is 0');
    if (!dp.targetBlTxAlh.equals(ZERO_HASH)) fail('dualProof.lastInclusion', 'targetBlTxAlh must be zero when target.blTxId is 0');
  }

  // Linear part: from whichever of source / target.blTxId is later, up to the target.
  const fromLinked = source.id < target.blTxId;
  const start = fromLinked ? target.blTxId : source.id;
  const startAlh = fromLinked ? dp.targetBlTxAlh : sourceAlh;
  const lp = dp.linear;
  if (lp.sourceTxId !== start) fail('dualProof.linear', `sourceTxId ${lp.sourceTxId} != ${start}`);
  if (lp.targetTxId !== target.id) fail('dualProof.linear', `targetTxId ${lp.targetTxId} != ${target.id}`);
  const expected = target.id - start + 1n;
  if (BigInt(lp.terms.length) !== expected) fail('dualProof.linear', `${lp.terms.length} terms, expected ${expected}`);
  if (!lp.terms[0]!.equals(startAlh)) fail('dualProof.linear', `first term is not the Alh of tx ${start}`);
  let alh: Buffer = lp.terms[0]!;
  for (let i = 1; i < lp.terms.length; i++) alh = alhOf(start + BigInt(i), alh, lp.terms[i]!);
  if (!alh.equals(targetAlh)) fail('dualProof.linear', `does not reach the Alh of tx ${target.id}`);
}
