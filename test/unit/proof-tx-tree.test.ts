/**
 * VerifiedTxTree (a tx's tree from its entries, checked against eH) and assertProofBundlesOfTx
 * with it: the shared bundles of a tx are checked against the tree instead of folding each proof,
 * and every tampered entry, leaf, width or inclusion term of any of them is still refused.
 */
import { describe, expect, it } from 'vitest';
import { entryBundle, proofLink } from '../../src/proof/bundle.ts';
import { toHex } from '../../src/proof/codecs.ts';
import { buildDualProof } from '../../src/proof/dual-proof.ts';
import { SET_KEY_PREFIX, storedValueHash, withPrefix } from '../../src/proof/hashing.ts';
import { HTree, htreeProofLength, verifyHTreeInclusion } from '../../src/proof/htree.ts';
import { txAlh } from '../../src/proof/tx-header.ts';
import { VerifiedTxTree } from '../../src/proof/tx-tree.ts';
import { deepFreeze, type ProofBundle } from '../../src/proof/types.ts';
import { assertProofBundlesOfTx } from '../../src/proof/verify.ts';
import { flipHex, TestChain, type Entry } from '../support/proof-chain.ts';

/** A committed tx of `n` entries (some with KV metadata in v1), its tree and its bundles over one shared, frozen link. */
function committedTx(version: 0 | 1, n: number) {
  const chain = new TestChain(version);
  chain.grow(3, 2);
  const entries: Entry[] = Array.from({ length: n }, (_, e) => ({
    key: Buffer.from(`tl/rr-${e % 3}/${String(e).padStart(4, '0')}`),
    value: Buffer.from(JSON.stringify({ e, pad: 'v'.repeat(e % 40) })),
    ...(version === 1 && e % 3 === 1 ? { metadata: Buffer.from([0x02]) } : {}),
  }));
  const tx = chain.commit(entries);
  const stored = entries.map((e) => ({
    key: withPrefix(SET_KEY_PREFIX, e.key),
    hValue: storedValueHash(e.value),
    ...(e.metadata ? { metadata: e.metadata } : {}),
  }));
  const tree = VerifiedTxTree.verify(tx, stored);
  if (typeof tree === 'string') throw new Error(tree);
  const trustedTx = chain.header(2n);
  const link = deepFreeze(
    proofLink({
      ledger: 'immudb',
      database: 'db',
      tx,
      trusted: { txId: '2', txHash: toHex(txAlh(trustedTx)) },
      dualProof: buildDualProof(trustedTx, tx, chain),
    }),
  );
  const bundles = entries.map((e, leaf) =>
    entryBundle(link, {
      key: e.key,
      value: e.value,
      ...(e.metadata ? { metadata: e.metadata } : {}),
      inclusion: { leaf, width: n, terms: tree.inclusionProofHex(leaf) },
    }),
  );
  return { tx, stored, tree, link, bundles };
}

/** 'ok', or the check a VERIFICATION_FAILED names. */
function verdict(bundles: ProofBundle[], trusted: ProofBundle['trustedState'], tree?: VerifiedTxTree): string {
  try {
    assertProofBundlesOfTx(bundles, trusted, tree);
    return 'ok';
  } catch (e) {
    const err = e as { code?: string; details?: { check?: string } };
    return err.code === 'VERIFICATION_FAILED' ? String(err.details?.check) : String(e);
  }
}

const withBundle = (bundles: ProofBundle[], i: number, b: ProofBundle) => bundles.map((x, j) => (j === i ? b : x));
const withTerms = (b: ProofBundle, terms: string[]): ProofBundle => ({ ...b, inclusion: { ...b.inclusion, terms } });

describe('VerifiedTxTree', () => {
  it('is the tree of the entries when they hash to eH, and says why not otherwise', () => {
    for (const version of [0, 1] as const) {
      const { tx, stored, tree } = committedTx(version, 9);
      expect(tree.width).toBe(9);
      expect(tree.eH.equals(tx.eH)).toBe(true);
      expect(typeof VerifiedTxTree.verify({ ...tx, eH: Buffer.alloc(32) }, stored)).toBe('string');
      expect(typeof VerifiedTxTree.verify({ ...tx, nEntries: 8 }, stored)).toBe('string');
      expect(typeof VerifiedTxTree.verify(tx, stored.slice(0, 8))).toBe('string');
      const flipped = stored.map((e, i) => (i === 4 ? { ...e, hValue: Buffer.from(e.hValue).fill(1, 0, 1) } : e));
      expect(typeof VerifiedTxTree.verify(tx, flipped)).toBe('string');
      const reordered = [stored[1]!, stored[0]!, ...stored.slice(2)];
      expect(typeof VerifiedTxTree.verify(tx, reordered)).toBe('string');
      // Another header version digests the entries differently.
      expect(typeof VerifiedTxTree.verify({ ...tx, version: version === 0 ? 1 : 0 }, stored)).toBe('string');
    }
  });

  it('keeps its own copy of the entries', () => {
    const { tx, stored } = committedTx(0, 5);
    const tree = VerifiedTxTree.verify(tx, stored) as VerifiedTxTree;
    const before = Buffer.from(tree.digestInput(2));
    stored[2]!.key.fill(0x41);
    expect(tree.digestInput(2).equals(before)).toBe(true);
  });
});

describe('assertProofBundlesOfTx with the tx tree', () => {
  for (const version of [0, 1] as const) {
    it(`v${version}: accepts every bundle of a multi-entry tx, refuses a tampered term, leaf, width or entry in any one of them`, () => {
      const n = 13;
      const { bundles, link, tree } = committedTx(version, n);
      const trusted = link.trustedState;
      expect(verdict(bundles, trusted, tree)).toBe('ok');
      expect(verdict(bundles, trusted)).toBe('ok');
      for (const i of [1, 5, 6, n - 1]) {
        const b = bundles[i]!;
        const terms = b.inclusion.terms;
        for (let k = 0; k < terms.length; k++) {
          expect(
            verdict(
              withBundle(
                bundles,
                i,
                withTerms(
                  b,
                  terms.map((t, j) => (j === k ? flipHex(t) : t)),
                ),
              ),
              trusted,
              tree,
            ),
          ).toBe('inclusion');
        }
        // Another leaf's (valid) proof, a missing or an extra term, a term not hex.
        expect(verdict(withBundle(bundles, i, withTerms(b, bundles[i === 1 ? 2 : 1]!.inclusion.terms)), trusted, tree)).toBe('inclusion');
        expect(verdict(withBundle(bundles, i, withTerms(b, terms.slice(1))), trusted, tree)).toBe('inclusion');
        expect(verdict(withBundle(bundles, i, withTerms(b, [...terms, terms[0]!])), trusted, tree)).toBe('inclusion');
        expect(
          verdict(
            withBundle(
              bundles,
              i,
              withTerms(
                b,
                terms.map((t, j) => (j === 0 ? t.toUpperCase() : t)),
              ),
            ),
            trusted,
            tree,
          ),
        ).toBe('format');
        // Leaf and width.
        for (const leaf of [(i + 1) % n, i ^ 1, n, -1]) {
          const got = verdict(withBundle(bundles, i, { ...b, inclusion: { ...b.inclusion, leaf } }), trusted, tree);
          expect(got).toBe(leaf < 0 ? 'format' : 'inclusion');
        }
        expect(verdict(withBundle(bundles, i, { ...b, inclusion: { ...b.inclusion, width: n + 1 } }), trusted, tree)).toBe('inclusion');
        // The entry: another value, key or metadata (all in canonical encodings).
        const other = bundles[(i + 1) % n]!.entry;
        expect(verdict(withBundle(bundles, i, { ...b, entry: { ...b.entry, value: other.value } }), trusted, tree)).toBe('inclusion');
        expect(verdict(withBundle(bundles, i, { ...b, entry: { ...b.entry, key: other.key } }), trusted, tree)).toBe('inclusion');
        const md = version === 1 ? (b.entry.metadata === '' ? '02' : '') : '';
        if (version === 1) expect(verdict(withBundle(bundles, i, { ...b, entry: { ...b.entry, metadata: md } }), trusted, tree)).toBe('inclusion');
        else expect(verdict(withBundle(bundles, i, { ...b, entry: { ...b.entry, metadata: '02' } }), trusted, tree)).toBe('entry');
      }
    });
  }

  it('a tree of another tx is not used: the bundles are checked by their own proofs', () => {
    const a = committedTx(0, 6);
    const b = committedTx(1, 6);
    expect(verdict(a.bundles, a.link.trustedState, b.tree)).toBe('ok');
    const tampered = withBundle(a.bundles, 3, withTerms(a.bundles[3]!, a.bundles[3]!.inclusion.terms.map(flipHex)));
    expect(verdict(tampered, a.link.trustedState, b.tree)).toBe('inclusion');
    expect(verdict(tampered, a.link.trustedState, a.tree)).toBe('inclusion');
  });
});

describe('HTree inclusion proofs (what the tree check relies on)', () => {
  it('every leaf of every width up to 300: the proof folds from the leaf to the root, and only there', () => {
    for (let width = 1; width <= 300; width++) {
      const digests = Array.from({ length: width }, (_, i) => storedValueHash(Buffer.from(`d${width}/${i}`)));
      const tree = HTree.build(digests);
      const root = tree.root;
      for (let leaf = 0; leaf < width; leaf++) {
        const terms = tree.inclusionProof(leaf);
        expect(terms.length).toBe(htreeProofLength(leaf, width));
        expect(tree.inclusionProofHex(leaf)).toEqual(terms.map(toHex));
        expect(verifyHTreeInclusion(terms, leaf, width, digests[leaf]!, root)).toBe(true);
        if (width > 1) expect(verifyHTreeInclusion(terms, leaf, width, digests[(leaf + 1) % width]!, root)).toBe(false);
      }
    }
  });
});
