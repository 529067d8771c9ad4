import { describe, expect, it } from 'vitest';
import {
  AHTree,
  ahtConsistencyProofLength,
  ahtInclusionProofLength,
  ahtLeaf,
  verifyAhtConsistency,
  verifyAhtInclusion,
  verifyAhtLastInclusion,
} from '../../src/proof/ahtree.ts';
import { toHex } from '../../src/proof/codecs.ts';
import { sha256 } from '../../src/proof/hashing.ts';
import { ahtLeafData, vectors, vectors111 } from '../support/immudb-vectors.ts';

const hex = (h: string) => Buffer.from(h, 'hex');
const V = vectors.ahtree;
const tree = AHTree.fromLeaves(Array.from({ length: V.size }, (_, i) => ahtLeafData(i + 1)));
const rootOf = (n: number) => hex(V.roots[n - 1]!);

describe('AHTree against immudb embedded/ahtree', () => {
  it('has the same root at every size 1..1030', () => {
    expect(tree.size).toBe(V.size);
    for (let n = 1; n <= V.size; n++) expect(toHex(tree.root(n)), `size ${n}`).toBe(V.roots[n - 1]);
  });

  it('produces the same inclusion proofs (every pair up to 24, samples to 1030)', () => {
    for (const p of V.inclusion) {
      expect(tree.inclusionProof(p.i, p.j).map(toHex), `${p.i},${p.j}`).toEqual(p.terms);
      expect(ahtInclusionProofLength(BigInt(p.i), BigInt(p.j))).toBe(p.terms.length);
    }
  });

  it('produces the same consistency proofs', () => {
    for (const p of V.consistency) {
      expect(tree.consistencyProof(p.i, p.j).map(toHex), `${p.i},${p.j}`).toEqual(p.terms);
      expect(ahtConsistencyProofLength(BigInt(p.i), BigInt(p.j))).toBe(p.terms.length);
    }
  });

  it('over the Alhs of immudb 1.11.1 stores (v0 and v1 headers, linked and lagging) gives every header its blRoot', () => {
    for (const st of [vectors111.store, vectors111.laggedStore]) {
      const t = AHTree.fromLeaves(st.txs.map((x) => hex(x.alh)));
      for (const x of st.txs) {
        const bl = Number(x.header.blTxId);
        expect(bl === 0 ? '0'.repeat(64) : toHex(t.root(bl)), `tx ${x.header.id}`).toBe(x.header.blRoot);
      }
      // And the proofs of immudb's dual proofs between them.
      for (const d of st.dualProofs) {
        const [s, g] = [d.proof.sourceTx, d.proof.targetTx];
        if (BigInt(s.id) < BigInt(g.blTxId)) expect(t.inclusionProof(Number(s.id), Number(g.blTxId)).map(toHex)).toEqual(d.proof.inclusionProof);
        if (s.blTxId !== '0') expect(t.consistencyProof(Number(s.blTxId), Number(g.blTxId)).map(toHex)).toEqual(d.proof.consistencyProof);
        if (g.blTxId !== '0') expect(t.lastInclusionProof(Number(g.blTxId)).map(toHex)).toEqual(d.proof.lastInclusionProof);
      }
    }
  });

  it('lastInclusionProof(n) is InclusionProof(n, n)', () => {
    for (const p of V.inclusion.filter((x) => x.i === x.j)) expect(tree.lastInclusionProof(p.j).map(toHex)).toEqual(p.terms);
  });
});

describe('ahtree verification', () => {
  it('accepts every immudb inclusion proof, and rejects any change to it', () => {
    for (const p of V.inclusion) {
      const i = BigInt(p.i);
      const j = BigInt(p.j);
      const leaf = ahtLeaf(ahtLeafData(p.i));
      const terms = p.terms.map(hex);
      expect(verifyAhtInclusion(terms, i, j, leaf, rootOf(p.j))).toBe(true);
      if (p.i === p.j) expect(verifyAhtLastInclusion(terms, j, leaf, rootOf(p.j))).toBe(true);
      for (let k = 0; k < terms.length; k++) {
        const bad = terms.map((t, x) => (x === k ? sha256(t) : t));
        expect(verifyAhtInclusion(bad, i, j, leaf, rootOf(p.j))).toBe(false);
      }
      expect(verifyAhtInclusion([...terms, leaf], i, j, leaf, rootOf(p.j))).toBe(false);
      if (terms.length > 0) expect(verifyAhtInclusion(terms.slice(0, -1), i, j, leaf, rootOf(p.j))).toBe(false);
      expect(verifyAhtInclusion(terms, i, j, sha256(leaf), rootOf(p.j))).toBe(false);
      if (p.j > 1) expect(verifyAhtInclusion(terms, i, j, leaf, rootOf(p.j - 1))).toBe(false);
    }
  });

  it('accepts every immudb consistency proof, and rejects any change to it', () => {
    for (const p of V.consistency) {
      const i = BigInt(p.i);
      const j = BigInt(p.j);
      const terms = p.terms.map(hex);
      expect(verifyAhtConsistency(terms, i, j, rootOf(p.i), rootOf(p.j))).toBe(true);
      for (let k = 0; k < terms.length; k++) {
        const bad = terms.map((t, x) => (x === k ? sha256(t) : t));
        expect(verifyAhtConsistency(bad, i, j, rootOf(p.i), rootOf(p.j))).toBe(false);
      }
      expect(verifyAhtConsistency([...terms, rootOf(1)], i, j, rootOf(p.i), rootOf(p.j))).toBe(false);
      if (terms.length > 0) expect(verifyAhtConsistency(terms.slice(1), i, j, rootOf(p.i), rootOf(p.j))).toBe(false);
      if (p.j > p.i) {
        expect(verifyAhtConsistency(terms, i, j, rootOf(p.i + 1), rootOf(p.j))).toBe(false);
        expect(verifyAhtConsistency(terms, i, j, rootOf(p.i), rootOf(p.j - 1))).toBe(false);
      }
    }
  });

  it('rejects invalid index pairs like immudb (i = 0, i > j)', () => {
    const leaf = ahtLeaf(ahtLeafData(1));
    expect(verifyAhtInclusion([], 0n, 1n, leaf, rootOf(1))).toBe(false);
    expect(verifyAhtInclusion([], 2n, 1n, leaf, rootOf(1))).toBe(false);
    expect(verifyAhtInclusion([], 1n, 1n, leaf, rootOf(1))).toBe(true);
    expect(verifyAhtConsistency([], 0n, 0n, rootOf(1), rootOf(1))).toBe(false);
    expect(verifyAhtConsistency([], 1n, 1n, rootOf(1), rootOf(1))).toBe(true);
    expect(verifyAhtLastInclusion([], 0n, leaf, leaf)).toBe(false);
    expect(ahtInclusionProofLength(0n, 5n)).toBe(-1);
    expect(ahtConsistencyProofLength(6n, 5n)).toBe(-1);
  });

  it('computes proof lengths for ids anywhere in uint64 without precision loss', () => {
    const max = (1n << 64n) - 1n;
    expect(ahtInclusionProofLength(max, max)).toBe(63);
    expect(ahtInclusionProofLength(1n, max)).toBe(64);
    expect(ahtConsistencyProofLength(1n << 53n, (1n << 53n) + 1n)).toBeGreaterThan(0);
    // The same relative position far up the id space has the same shape as near the origin.
    expect(ahtInclusionProofLength((1n << 60n) + 3n, (1n << 60n) + 9n)).toBe(ahtInclusionProofLength(3n, 9n) + 1);
  });
});

describe('AHTree persistence and rollback', () => {
  it('restores from nodes() without rehashing, and keeps appending identically', () => {
    const part = AHTree.fromLeaves(Array.from({ length: 700 }, (_, i) => ahtLeafData(i + 1)));
    expect(part.nodes().length).toBe(AHTree.nodesFor(700) * 32);
    const restored = AHTree.restore(700, Buffer.from(part.nodes()));
    for (let n = 701; n <= V.size; n++) restored.append(ahtLeafData(n));
    expect(toHex(restored.root())).toBe(V.roots[V.size - 1]);
    expect(restored.nodes().equals(tree.nodes())).toBe(true);
    expect(() => AHTree.restore(700, part.nodes().subarray(32))).toThrow();
  });

  it('nodes() only grows at the end (a mirror file can be append-only)', () => {
    const t = new AHTree();
    let prev = Buffer.alloc(0);
    for (let n = 1; n <= 70; n++) {
      t.append(ahtLeafData(n));
      const now = Buffer.from(t.nodes());
      expect(now.subarray(0, prev.length).equals(prev)).toBe(true);
      prev = now;
    }
  });

  it('truncate drops later leaves like immudb ResetSize', () => {
    const t = AHTree.fromLeaves(Array.from({ length: 40 }, (_, i) => ahtLeafData(i + 1)));
    t.append(Buffer.from('uncommitted'));
    t.truncate(40);
    expect(t.size).toBe(40);
    expect(toHex(t.root())).toBe(V.roots[39]);
    t.append(ahtLeafData(41));
    expect(toHex(t.root())).toBe(V.roots[40]);
    expect(() => t.truncate(42)).toThrow();
  });

  it('rejects out-of-range requests', () => {
    const t = AHTree.fromLeaves([Buffer.from('a')]);
    expect(() => t.root(2)).toThrow();
    expect(() => t.root(0)).toThrow();
    expect(() => t.inclusionProof(0, 1)).toThrow();
    expect(() => t.inclusionProof(2, 1)).toThrow();
    expect(() => new AHTree().root()).toThrow();
  });

  it('appends 200,000 leaves quickly with ~2 digests per leaf, and proofs stay valid', () => {
    const t = new AHTree();
    const d = Buffer.alloc(32);
    const started = Date.now();
    for (let i = 0; i < 200_000; i++) {
      d.writeUInt32BE(i, 0);
      t.append(d);
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(t.nodes().length).toBeLessThan(2 * 200_000 * 32);
    const j = 199_999;
    const i = 123_457;
    d.writeUInt32BE(i - 1, 0);
    expect(verifyAhtInclusion(t.inclusionProof(i, j), BigInt(i), BigInt(j), ahtLeaf(d), t.root(j))).toBe(true);
    expect(verifyAhtConsistency(t.consistencyProof(i, j), BigInt(i), BigInt(j), t.root(i), t.root(j))).toBe(true);
  });
});
