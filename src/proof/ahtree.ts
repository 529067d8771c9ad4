/**
 * Append-only binary-linking hash tree, as immudb 1.1.0's embedded/ahtree: leaf n (1-based) is
 * sha256(0x00 ‖ data_n), nodes are sha256(0x01 ‖ left ‖ right), and the root at size n folds the
 * perfect subtrees of the first n leaves from right to left. immudb appends tx n's Alh as leaf n.
 *
 * Public surface:
 * - `class AHTree` (optionally given the SHA-256 its appends use for inner nodes): `append(data) -> n`,
 *   `appendLeafHash(leaf)` (a leaf hashed elsewhere), `size`, `root(n?)`, `inclusionProof(i, j)`,
 *   `consistencyProof(i, j)`, `lastInclusionProof(n)` (= immudb's InclusionProof(n, n)),
 *   `truncate(n)` (immudb's ResetSize), and for persistence `nodes()` / `AHTree.restore(size, nodes)`
 *   / `AHTree.fromLeaves(datas)` / `AHTree.nodesFor(size)`: `nodes()` only ever grows at the end
 *   (≈ 2 digests per leaf), so a ledger can mirror it to an append-only file and reload it
 *   without rehashing. Roots and proofs are immudb's; the storage layout is not (see below).
 * - verifiers over bigint ids (uint64, like immudb's): `ahtLeaf`, `verifyAhtInclusion`,
 *   `verifyAhtConsistency`, `verifyAhtLastInclusion`, and the exact proof lengths immudb produces:
 *   `ahtInclusionProofLength`, `ahtConsistencyProofLength`. The verifiers reject any proof whose
 *   length differs from what immudb would have produced for (i, j).
 */
import { HASH_SIZE, LEAF_PREFIX, NODE_PREFIX, sha256 } from './hashing.ts';
import type { HashInto } from './htree.ts';

/** Node n-th append, l-th digest written during that append (immudb's `node(n, l)`). */
interface NodeRef {
  n: bigint;
  l: number;
}

const bitLen = (x: bigint): number => (x === 0n ? 0 : x.toString(2).length);
const bitSet = (x: bigint, h: number): boolean => ((x >> BigInt(h)) & 1n) === 1n;

/** Digest written last during append n within the top `d` levels: the root of its 2^d window. */
function highest(n: bigint, d: number): NodeRef {
  let l = 0;
  for (let r = 0; r < d; r++) if (bitSet(n - 1n, r)) l++;
  return { n, l };
}

/**
 * Proof that leaf i is in the tree of size j (immudb's inclusionProof): walk j-1's set bits from
 * the top; each perfect subtree entirely left of i is a term, the subtree holding i recurses.
 * Terms come out bottom-up, which is the order the evaluator consumes them.
 */
function inclusionPath(i: bigint, j: bigint, height: number): NodeRef[] {
  const upper: NodeRef[] = [];
  for (let h = height - 1; h >= 0; h--) {
    if (!bitSet(j - 1n, h)) continue;
    const k = ((j - 1n) >> BigInt(h)) << BigInt(h);
    if (i <= k) return [...inclusionPath(i, k, h), highest(j, h), ...upper.reverse()];
    upper.push({ n: k, l: h });
  }
  return upper.reverse();
}

/** Proof that the tree of size i is a prefix of the tree of size j (immudb's consistencyProof). */
function consistencyPath(i: bigint, j: bigint, height: number): NodeRef[] {
  const upper: NodeRef[] = [];
  for (let h = height - 1; h >= 0; h--) {
    if (!bitSet(j - 1n, h)) continue;
    const k = ((j - 1n) >> BigInt(h)) << BigInt(h);
    if (i <= k) {
      const tail = [highest(j, h), ...upper.reverse()];
      return i < k ? [...consistencyPath(i, k, h), ...tail] : [highest(i, h), ...tail];
    }
    upper.push({ n: k, l: h });
    if (i === j) return [highest(i, h), ...upper.reverse()];
  }
  return upper.reverse();
}

const validPair = (i: bigint, j: bigint): boolean => i >= 1n && i <= j;

/** Terms immudb's AHtree.InclusionProof(i, j) yields; -1 when (i, j) is not a valid pair. */
export function ahtInclusionProofLength(i: bigint, j: bigint): number {
  return validPair(i, j) ? inclusionPath(i, j, bitLen(j - 1n)).length : -1;
}

/** Terms immudb's AHtree.ConsistencyProof(i, j) yields; -1 when (i, j) is not a valid pair. */
export function ahtConsistencyProofLength(i: bigint, j: bigint): number {
  return validPair(i, j) ? consistencyPath(i, j, bitLen(j - 1n)).length : -1;
}

// ---------------------------------------------------------------------------------------------
// Verification (embedded/ahtree/verification.go), strict on proof lengths.

export function ahtLeaf(data: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(1 + data.length);
  b[0] = LEAF_PREFIX;
  b.set(data, 1);
  return sha256(b);
}

function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return sha256(Uint8Array.of(NODE_PREFIX), left, right);
}

/** iLeaf is the leaf hash (ahtLeaf(alh)), jRoot the root at size j. */
export function verifyAhtInclusion(proof: readonly Uint8Array[], i: bigint, j: bigint, iLeaf: Uint8Array, jRoot: Uint8Array): boolean {
  if (ahtInclusionProofLength(i, j) !== proof.length) return false;
  let i1 = i - 1n;
  let j1 = j - 1n;
  let root: Uint8Array = iLeaf;
  for (const h of proof) {
    // Even position with something to its right: we are the left child.
    root = (i1 & 1n) === 0n && i1 !== j1 ? nodeHash(root, h) : nodeHash(h, root);
    i1 >>= 1n;
    j1 >>= 1n;
  }
  return Buffer.from(root).equals(jRoot);
}

export function verifyAhtConsistency(proof: readonly Uint8Array[], i: bigint, j: bigint, iRoot: Uint8Array, jRoot: Uint8Array): boolean {
  if (ahtConsistencyProofLength(i, j) !== proof.length) return false;
  if (proof.length === 0) return i === j && Buffer.from(iRoot).equals(jRoot);
  let fn = i - 1n;
  let sn = j - 1n;
  // Skip the levels where the old tree's last leaf is a right child: its subtree root is proof[0].
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let ci: Uint8Array = proof[0]!;
  let cj: Uint8Array = proof[0]!;
  for (const h of proof.slice(1)) {
    if ((fn & 1n) === 1n || fn === sn) {
      // h is a left sibling shared by both trees.
      ci = nodeHash(h, ci);
      cj = nodeHash(h, cj);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      // h only exists in the new tree, to the right.
      cj = nodeHash(cj, h);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return Buffer.from(ci).equals(iRoot) && Buffer.from(cj).equals(jRoot);
}

/** Leaf j is the last leaf of the tree of size j: every term is a left sibling. */
export function verifyAhtLastInclusion(proof: readonly Uint8Array[], j: bigint, leaf: Uint8Array, root: Uint8Array): boolean {
  if (ahtInclusionProofLength(j, j) !== proof.length) return false;
  let r: Uint8Array = leaf;
  for (const h of proof) r = nodeHash(h, r);
  return Buffer.from(r).equals(root);
}

// ---------------------------------------------------------------------------------------------
// The tree itself. immudb's tree is the RFC 6962-shaped Merkle tree over leaves 1..n (left
// subtree = the largest power of two), and every node a proof needs is the root of a range
// (start, start+len] that splits into aligned perfect subtrees. So only perfect-subtree roots are
// stored (about 2 digests per leaf, ~1 hash per append); immudb also stores every partial root it
// ever computed (~n·log n/2 digests), which are recomputed here on demand in O(log n) hashes.
//
// Digest layout in `nodes()`, in creation order: append n writes its leaf hash, then the root of
// each perfect subtree that leaf completes (one per trailing zero bit of n). It is append-only, so
// a file that mirrors it can be reloaded with `restore` without hashing.

const popcount32 = (x: number): number => {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
};
const popcount = (x: number): number => popcount32(Math.floor(x / 2 ** 32)) + popcount32(x >>> 0);
/** Bit length of a non-negative safe integer (Math.log2 can round up just below a power of two). */
const bitLen53 = (x: number): number => (x >= 2 ** 32 ? 64 - Math.clz32(Math.floor(x / 2 ** 32)) : 32 - Math.clz32(x));

/** Digests stored for n leaves: n leaves + n - popcount(n) completed perfect subtrees. */
const digestsFor = (n: number): number => 2 * n - popcount(n);

const INITIAL_CAPACITY = 1024; // digests

export class AHTree {
  private buf: Buffer;
  private digests = 0;
  private leaves = 0;
  private readonly scratch = Buffer.allocUnsafe(1 + 2 * HASH_SIZE);

  /**
   * `hashInto`: how appends hash inner nodes, when not node:crypto (the embedded ledger passes an
   * allocation-free one for start-up). Roots and proofs are hashed with node:crypto either way.
   */
  constructor(private readonly hashInto: HashInto | null = null) {
    this.buf = Buffer.allocUnsafe(INITIAL_CAPACITY * HASH_SIZE);
  }

  /** Number of digests (32 bytes each) `nodes()` holds for a tree of `size` leaves. */
  static nodesFor(size: number): number {
    return digestsFor(size);
  }

  static fromLeaves(datas: Iterable<Uint8Array>): AHTree {
    const t = new AHTree();
    for (const d of datas) t.append(d);
    return t;
  }

  /**
   * Rebuilds from a `nodes()` dump; its length must match `size` exactly. Nothing is rehashed, so
   * a caller that may read a damaged file should compare `root(n)` with a stored header's blRoot.
   */
  static restore(size: number, nodes: Uint8Array): AHTree {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError('ahtree: bad size');
    const need = digestsFor(size) * HASH_SIZE;
    if (nodes.length !== need) throw new RangeError(`ahtree: ${nodes.length} bytes of nodes, ${need} expected for size ${size}`);
    const t = new AHTree();
    t.reserve(need / HASH_SIZE);
    t.buf.set(nodes, 0);
    t.digests = need / HASH_SIZE;
    t.leaves = size;
    return t;
  }

  get size(): number {
    return this.leaves;
  }

  /** The digest log (a view; copy it if the tree keeps growing while you hold it). */
  nodes(): Buffer {
    return this.buf.subarray(0, this.digests * HASH_SIZE);
  }

  /** Appends sha256(0x00 ‖ data) as leaf n = size + 1 and returns n. */
  append(data: Uint8Array): number {
    return this.appendLeafHash(ahtLeaf(data));
  }

  /**
   * Appends a leaf already hashed: `leaf[at..at+32)` must be sha256(0x00 ‖ data) (ahtLeaf), e.g.
   * computed by another thread. Returns n.
   */
  appendLeafHash(leaf: Uint8Array, at = 0): number {
    if (at < 0 || at + HASH_SIZE > leaf.length) throw new RangeError('ahtree: leaf hash out of range');
    const n = this.leaves + 1;
    this.reserve(this.digests + 1 + 64);
    let cur = this.digests;
    const buf = this.buf;
    for (let i = 0, o = cur * HASH_SIZE; i < HASH_SIZE; i++) buf[o + i] = leaf[at + i]!;
    this.digests++;
    // While the node just completed is a right child, its parent is complete too.
    const s = this.scratch;
    s[0] = NODE_PREFIX;
    // Plain loops: 32-byte copies cost less than a Buffer.copy call (start-up does a million).
    for (let h = 0, m = n - 1; m % 2 === 1; h++, m = (m - 1) / 2) {
      const lo = this.perfectIndex(h, m - 1) * HASH_SIZE;
      const co = cur * HASH_SIZE;
      for (let i = 0; i < HASH_SIZE; i++) {
        s[1 + i] = buf[lo + i]!;
        s[1 + HASH_SIZE + i] = buf[co + i]!;
      }
      cur = this.digests;
      if (this.hashInto) this.hashInto(s, 0, s.length, buf, cur * HASH_SIZE);
      else {
        const node = sha256(s);
        for (let i = 0, o = cur * HASH_SIZE; i < HASH_SIZE; i++) buf[o + i] = node[i]!;
      }
      this.digests++;
    }
    this.leaves = n;
    return n;
  }

  /** Root of the tree made of the first n leaves (default: all). */
  root(n: number = this.leaves): Buffer {
    this.checkSize(n, 1);
    return this.rangeRoot(0, n);
  }

  inclusionProof(i: number, j: number): Buffer[] {
    this.checkPair(i, j);
    return inclusionPath(BigInt(i), BigInt(j), bitLen(BigInt(j - 1))).map((r) => this.ref(r));
  }

  consistencyProof(i: number, j: number): Buffer[] {
    this.checkPair(i, j);
    return consistencyPath(BigInt(i), BigInt(j), bitLen(BigInt(j - 1))).map((r) => this.ref(r));
  }

  /** Proof that leaf n is the last leaf of the tree of size n (immudb: InclusionProof(n, n)). */
  lastInclusionProof(n: number): Buffer[] {
    return this.inclusionProof(n, n);
  }

  /** Drops every leaf after `n` (immudb's ResetSize), e.g. to undo an append that was not committed. */
  truncate(n: number): void {
    this.checkSize(n, 0);
    this.leaves = n;
    this.digests = digestsFor(n);
  }

  /** Index of the root of perfect subtree m (0-based) at height h: written by append (m+1)·2^h, h-th. */
  private perfectIndex(h: number, m: number): number {
    return digestsFor((m + 1) * 2 ** h - 1) + h;
  }

  /** Root over leaves start+1 .. start+len, `start` aligned to the largest power of two <= len. */
  private rangeRoot(start: number, len: number): Buffer {
    // Split into perfect subtrees, largest first, then fold them from the right.
    const pieces: number[] = [];
    for (let pos = start, rest = len; rest > 0; ) {
      const h = bitLen53(rest) - 1;
      const size = 2 ** h;
      pieces.push(this.perfectIndex(h, pos / size));
      pos += size;
      rest -= size;
    }
    let acc = this.digest(pieces[pieces.length - 1]!);
    for (let p = pieces.length - 2; p >= 0; p--) acc = nodeHash(this.digest(pieces[p]!), acc);
    return acc;
  }

  /** immudb's node(n, l): the l-th digest immudb writes when appending leaf n. */
  private ref(r: NodeRef): Buffer {
    const n = Number(r.n);
    // At append n the fold has swallowed one perfect subtree per set bit of n-1, lowest first;
    // after l of them it covers the leaves after `base`.
    let base = n - 1;
    let taken = 0;
    for (let p = 1; taken < r.l; p *= 2) {
      if (Math.floor(base / p) % 2 === 1) {
        base -= p;
        taken++;
      }
    }
    return this.rangeRoot(base, n - base);
  }

  private digest(index: number): Buffer {
    return Buffer.from(this.buf.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE));
  }

  private checkSize(n: number, min: number): void {
    if (!Number.isSafeInteger(n) || n < min || n > this.leaves) {
      throw new RangeError(`ahtree: size ${n} out of range [${min}, ${this.leaves}]`);
    }
  }

  private checkPair(i: number, j: number): void {
    this.checkSize(j, 1);
    if (!Number.isSafeInteger(i) || i < 1 || i > j) throw new RangeError(`ahtree: need 1 <= i <= j, got i=${i} j=${j}`);
  }

  private reserve(digests: number): void {
    if (digests * HASH_SIZE <= this.buf.length) return;
    let cap = this.buf.length / HASH_SIZE;
    while (cap < digests) cap *= 2;
    const next = Buffer.allocUnsafe(cap * HASH_SIZE);
    this.buf.copy(next, 0, 0, this.digests * HASH_SIZE);
    this.buf = next;
  }
}
