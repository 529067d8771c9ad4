/**
 * HTree: the per-tx Merkle tree over entry digests (immudb's embedded/htree), built and verified.
 * Leaves are sha256(0x00 ‖ d), nodes sha256(0x01 ‖ l ‖ r); an odd node at the end of a level is
 * carried up unchanged. Its root is a tx's eH.
 *
 * Public surface: `HTree` (`HTree.build(digests, hashInto?)`, `.root`, `.width`, `.inclusionProof(i)`,
 * `.inclusionProofHex(i)`), `txEntryTree(entries, version, hashInto?)` (a tx's tree from its entries'
 * keys, value hashes and metadata), `HashInto` / `nodeHashInto` (a ledger building its own trees may
 * pass a faster hash; the verifier uses node:crypto), `verifyHTreeInclusion`, `htreeProofLength`,
 * `HTreeFolds`.
 */
import { isUint32, UINT32_MAX } from './codecs.ts';
import { EMPTY, HASH_SIZE, LEAF_PREFIX, NODE_PREFIX, sha256, sha256Into, txEntryDigestInputSize, writeTxEntryDigestInput } from './hashing.ts';

const bitLen32 = (x: number): number => 32 - Math.clz32(x);

/** Layers of a tree of up to 2^32 leaves fit below this: a node (layer, at) is numbered layer + NODE_SLOTS * at. */
const NODE_SLOTS = 64;

/** Writes sha256(src[start..end)) to out[at..at+32). */
export type HashInto = (src: Uint8Array, start: number, end: number, out: Uint8Array, at: number) => void;

/** node:crypto as a HashInto (the default; a ledger may pass a faster one, its trees are verified). */
export const nodeHashInto: HashInto = (src, start, end, out, at) => {
  if (Buffer.isBuffer(out)) sha256Into(src, start, end, out, at);
  else out.set(sha256(src.subarray(start, end)), at);
};

export class HTree {
  /** levels[0] = leaf hashes, levels[last] = [root]; each level one buffer of 32-byte hashes. */
  private constructor(private readonly levels: Buffer[]) {}

  /**
   * The tree over `digests`: 32-byte digests, as a list or packed one after another in one buffer.
   * `hashInto` computes every hash of the tree (node:crypto unless given).
   */
  static build(digests: readonly Uint8Array[] | Buffer, hashInto: HashInto = nodeHashInto): HTree {
    const packed = Buffer.isBuffer(digests);
    if (packed && digests.length % HASH_SIZE !== 0) throw new RangeError('htree: digests must be 32 bytes');
    const width = packed ? digests.length / HASH_SIZE : digests.length;
    if (width === 0) throw new RangeError('htree: at least one digest required');
    if (width > UINT32_MAX) throw new RangeError('htree: too many digests');
    const scratch = Buffer.allocUnsafe(1 + 2 * HASH_SIZE);
    let level = Buffer.allocUnsafe(width * HASH_SIZE);
    scratch[0] = LEAF_PREFIX;
    for (let i = 0; i < width; i++) {
      if (packed) digests.copy(scratch, 1, i * HASH_SIZE, (i + 1) * HASH_SIZE);
      else {
        const d = (digests as readonly Uint8Array[])[i]!;
        if (d.length !== HASH_SIZE) throw new RangeError('htree: digests must be 32 bytes');
        scratch.set(d, 1);
      }
      hashInto(scratch, 0, 1 + HASH_SIZE, level, i * HASH_SIZE);
    }
    const levels = [level];
    scratch[0] = NODE_PREFIX;
    for (let n = width; n > 1; ) {
      const up = Math.ceil(n / 2);
      const next = Buffer.allocUnsafe(up * HASH_SIZE);
      for (let i = 0; i + 1 < n; i += 2) {
        level.copy(scratch, 1, i * HASH_SIZE, (i + 2) * HASH_SIZE);
        hashInto(scratch, 0, 1 + 2 * HASH_SIZE, next, (i / 2) * HASH_SIZE);
      }
      if (n % 2 === 1) level.copy(next, (up - 1) * HASH_SIZE, (n - 1) * HASH_SIZE, n * HASH_SIZE);
      levels.push(next);
      level = next;
      n = up;
    }
    return new HTree(levels);
  }

  get width(): number {
    return this.levels[0]!.length / HASH_SIZE;
  }

  get root(): Buffer {
    return Buffer.from(this.node(this.levels.length - 1, 0));
  }

  /** A view of the hash at (layer, at). */
  private node(layer: number, at: number): Buffer {
    const level = this.levels[layer];
    if (!level || at < 0 || (at + 1) * HASH_SIZE > level.length) throw new RangeError(`htree: no node ${at} at layer ${layer}`);
    return level.subarray(at * HASH_SIZE, (at + 1) * HASH_SIZE);
  }

  /**
   * Where the terms of `leaf`'s inclusion proof sit, bottom-up, as immudb's HTree.InclusionProof
   * finds them: split the range at the largest power of two below its width, take the sibling
   * subtree's root, descend into the half holding the leaf. Each node as `layer + 64 * at`
   * (numbers rather than an object per term).
   */
  private inclusionNodes(leaf: number): number[] {
    const width = this.width;
    if (!Number.isInteger(leaf) || leaf < 0 || leaf >= width) throw new RangeError('htree: leaf out of range');
    const nodes: number[] = [];
    let m = leaf;
    let n = width;
    let offset = 0;
    while (!(n < 1 || (n === 1 && m === 0))) {
      const k = 2 ** (bitLen32(n - 1) - 1);
      let lo: number;
      let hi: number;
      if (m < k) {
        lo = offset + k;
        hi = offset + n - 1;
        n = k;
      } else {
        lo = offset;
        hi = offset + k - 1;
        m -= k;
        n -= k;
        offset += k;
      }
      // The sibling range [lo, hi] is a subtree whose root sits at layer bitLen(hi - lo).
      const layer = bitLen32(hi - lo);
      nodes.push(layer + NODE_SLOTS * Math.floor(lo / 2 ** layer));
    }
    return nodes.reverse();
  }

  /** Terms bottom-up, as immudb's HTree.InclusionProof. */
  inclusionProof(leaf: number): Buffer[] {
    return this.inclusionNodes(leaf).map((x) => Buffer.from(this.node(x % NODE_SLOTS, Math.floor(x / NODE_SLOTS))));
  }

  private hexLevels: (string | undefined)[][] | undefined;
  private hexProofs: (readonly string[] | undefined)[] | undefined;

  /**
   * `inclusionProof(leaf)` as lowercase hex (the same strings `toHex` gives). Each node is encoded
   * once per tree, so the proofs of all leaves share their upper terms' strings.
   */
  inclusionProofHex(leaf: number): string[] {
    // Spread, not slice(): V8 slices a frozen array the slow way.
    return [...this.hexProof(leaf)];
  }

  /** Whether `terms` is `inclusionProofHex(leaf)`, term by term (`leaf` in range). */
  hasInclusionProofHex(leaf: number, terms: readonly unknown[]): boolean {
    const expected = this.hexProof(leaf);
    if (terms.length !== expected.length) return false;
    for (let k = 0; k < expected.length; k++) if (terms[k] !== expected[k]) return false;
    return true;
  }

  /** The proof of `leaf` in hex, worked out once per leaf (frozen: it is this tree's own). */
  private hexProof(leaf: number): readonly string[] {
    this.hexProofs ??= new Array<readonly string[] | undefined>(this.width);
    let proof = this.hexProofs[leaf];
    if (proof === undefined) {
      this.hexLevels ??= this.levels.map((l) => new Array<string | undefined>(l.length / HASH_SIZE));
      const hexLevels = this.hexLevels;
      const levels = this.levels;
      proof = Object.freeze(
        this.inclusionNodes(leaf).map((x) => {
          const layer = x % NODE_SLOTS;
          const at = Math.floor(x / NODE_SLOTS);
          const level = hexLevels[layer]!;
          level[at] ??= levels[layer]!.toString('hex', at * HASH_SIZE, (at + 1) * HASH_SIZE);
          return level[at]!;
        }),
      );
      this.hexProofs[leaf] = proof;
    }
    return proof;
  }
}

/**
 * The hash tree of a tx of header `version` from its entries as immudb lists them (key with its
 * one-byte prefix, hash of the stored value, KV metadata bytes): digests as store.TxEntry's
 * (v0 sha256(key ‖ hValue), v1 sha256(u16 mdLen ‖ md ‖ u16 kLen ‖ key ‖ hValue)), then the tree.
 * Its root is the tx's eH. Every hash through `hashInto`.
 */
export function txEntryTree(
  entries: readonly { key: Uint8Array; hValue: Uint8Array; metadata?: Uint8Array }[],
  version: number,
  hashInto: HashInto = nodeHashInto,
): HTree {
  const digests = Buffer.allocUnsafe(entries.length * HASH_SIZE);
  const scratch = Buffer.allocUnsafe(
    entries.reduce((m, e) => Math.max(m, txEntryDigestInputSize(version, e.key.length, e.metadata?.length ?? 0, e.hValue.length)), 0),
  );
  entries.forEach(({ key, hValue, metadata = EMPTY }, i) => {
    hashInto(scratch, 0, writeTxEntryDigestInput(scratch, version, key, hValue, metadata), digests, i * HASH_SIZE);
  });
  return HTree.build(digests, hashInto);
}

/** Number of terms immudb's HTree.InclusionProof yields for (leaf, width); -1 when out of range. */
export function htreeProofLength(leaf: number, width: number): number {
  if (!isUint32(leaf) || !isUint32(width) || leaf >= width) return -1;
  let m = leaf;
  let n = width;
  let count = 0;
  while (!(n < 1 || (n === 1 && m === 0))) {
    const k = 2 ** (bitLen32(n - 1) - 1);
    if (m < k) n = k;
    else {
      m -= k;
      n -= k;
    }
    count++;
  }
  return count;
}

/**
 * States of the htree fold that went on to reach the root, by (i, r, calc), each with the terms
 * that were left to fold from there: shared by the inclusion checks of one tx (one width, one root).
 */
export type HTreeFolds = Map<string, { terms: readonly Uint8Array[]; from: number }>;

/**
 * htree.VerifyInclusion, plus the exact term count for (leaf, width).
 *
 * With `folds` (the bundle check of one tx, verify.ts), the fold's states are remembered. The fold
 * is a pure function: from a state (i, r, calc) the remaining terms alone decide whether it ends at
 * `root`. So when this fold arrives at a state an earlier fold passed through on its way to `root`
 * (same i, same r, same calc bytes) with the same terms left to fold (same count, same bytes), the
 * rest would compute exactly what it computed then, and the answer is the same `true`; those
 * hashes are not repeated. No hash-collision argument is needed: only states from which the very
 * same computation already succeeded are reused. The digest is still hashed into the fold, and the
 * terms up to there still folded.
 */
export function verifyHTreeInclusion(
  terms: readonly Uint8Array[],
  leaf: number,
  width: number,
  digest: Uint8Array,
  root: Uint8Array,
  folds?: HTreeFolds,
): boolean {
  if (htreeProofLength(leaf, width) !== terms.length) return false;
  const b = Buffer.allocUnsafe(1 + 2 * HASH_SIZE);
  b[0] = LEAF_PREFIX;
  b.set(digest, 1);
  let calc = sha256(b.subarray(0, 1 + HASH_SIZE));
  let i = leaf;
  let r = width - 1;
  b[0] = NODE_PREFIX;
  const seen: string[] = [];
  for (let s = 0; ; s++) {
    if (folds) {
      const state = `${i}/${r}/${calc.toString('latin1')}`;
      const known = folds.get(state);
      if (known !== undefined && sameTerms(known.terms, known.from, terms, s)) break;
      seen.push(state);
    }
    if (s === terms.length) {
      if (!(i === r && calc.equals(root))) return false;
      break;
    }
    const t = terms[s]!;
    // A left child with a right sibling hashes first; the last node of a level (carried up) is a right child.
    if (i % 2 === 0 && i !== r) {
      b.set(calc, 1);
      b.set(t, 1 + HASH_SIZE);
    } else {
      b.set(t, 1);
      b.set(calc, 1 + HASH_SIZE);
    }
    calc = sha256(b);
    i = Math.floor(i / 2);
    r = Math.floor(r / 2);
  }
  // Reached root: every state passed on the way leads there with the terms that followed it.
  if (folds) for (let s = 0; s < seen.length; s++) folds.set(seen[s]!, { terms, from: s });
  return true;
}

function sameTerms(a: readonly Uint8Array[], aFrom: number, b: readonly Uint8Array[], bFrom: number): boolean {
  if (a.length - aFrom !== b.length - bFrom) return false;
  for (let k = 0; k < a.length - aFrom; k++) {
    const x = a[aFrom + k]!;
    const y = b[bFrom + k]!;
    if (x !== y && !Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(y)) return false;
  }
  return true;
}
