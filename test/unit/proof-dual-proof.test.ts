import { describe, expect, it } from 'vitest';
import { AHTree } from '../../src/proof/ahtree.ts';
import { buildDualProof, buildLinearProof, type DualProofStore } from '../../src/proof/dual-proof.ts';
import { toHex } from '../../src/proof/codecs.ts';
import { entryDigest } from '../../src/proof/hashing.ts';
import { HTree } from '../../src/proof/htree.ts';
import { txAlh, type TxHeader, txHeaderFromJson } from '../../src/proof/tx-header.ts';
import type { ProofBundle } from '../../src/proof/types.ts';
import { verifyProofBundle } from '../../src/proof/verify.ts';
import { TestChain, toV1Bundle, verdictWithoutLinking } from '../support/proof-chain.ts';
import {
  asV2Header,
  immuDualProof,
  immuInclusionProof,
  immuNode,
  vectors,
  vectors111,
  type DualProofJsonV1,
  type Store111,
} from '../support/immudb-vectors.ts';

const hex = (h: string) => Buffer.from(h, 'hex');
const b64 = (s: string) => Buffer.from(s, 'base64');

/** The immudb store of the vectors, rebuilt from its headers with our AHTree. */
const goTxs = vectors.store.txs;
const goHeaders: TxHeader[] = goTxs.map((t) => txHeaderFromJson(t.header));
const goStore: DualProofStore = {
  aht: AHTree.fromLeaves(goHeaders.map(txAlh)),
  header: (id) => goHeaders[Number(id) - 1]!,
};

const linked = (id: number) => goHeaders[id - 1]!.blTxId === BigInt(id - 1);

/** immudb 1.1 hands out headers without version or metadata; buildDualProof writes them in the v2 form. */
const asV2 = (p: DualProofJsonV1) => ({ ...p, sourceTx: asV2Header(p.sourceTx), targetTx: asV2Header(p.targetTx) });

function goBundle(source: number, target: number, txSide: 'source' | 'target', signed: boolean): ProofBundle {
  const d = vectors.store.dualProofs.find((x) => x.source === source && x.target === target)!;
  const txId = txSide === 'target' ? target : source;
  const trustedId = txSide === 'target' ? source : target;
  const tx = goTxs[txId - 1]!;
  const leaf = tx.entries.length - 1;
  // The v1 form (immudb 1.1 headers), which ProofBundle (what ledgers issue now) does not describe.
  return {
    format: 'auditgraph.proof.v1',
    ledger: 'immudb',
    database: 'defaultdb',
    entry: tx.entries[leaf]!,
    tx: tx.header,
    inclusion: { leaf, width: tx.entries.length, terms: tx.proofs[leaf]! },
    trustedState: { txId: String(trustedId), txHash: goTxs[trustedId - 1]!.alh },
    dualProof: d.proof,
    state: {
      txId: String(target),
      txHash: goTxs[target - 1]!.alh,
      signature: signed ? { publicKey: d.signature.publicKey, signature: d.signature.signature } : null,
    },
  } as unknown as ProofBundle;
}

describe('buildDualProof against immudb store.DualProof', () => {
  it('the vectors cross blTxId boundaries (lagging binary linking)', () => {
    const lagging = goHeaders.filter((h) => h.blTxId < h.id - 1n && h.blTxId > 0n);
    expect(lagging.length).toBeGreaterThan(20);
    expect(vectors.store.dualProofs.length).toBeGreaterThan(100);
  });

  it.each(vectors.store.dualProofs.map((d) => ({ s: d.source, t: d.target, d })))('source $s → target $t: identical to immudb', ({ s, t, d }) => {
    expect(buildDualProof(goHeaders[s - 1]!, goHeaders[t - 1]!, goStore)).toEqual(asV2(d.proof));
  });

  it('refuses impossible requests', () => {
    expect(() => buildDualProof(goHeaders[5]!, goHeaders[4]!, goStore)).toThrow();
    expect(() => buildLinearProof(0n, 3n, goStore)).toThrow();
    const short: DualProofStore = { aht: AHTree.fromLeaves(goHeaders.slice(0, 3).map(txAlh)), header: goStore.header };
    expect(() => buildDualProof(goHeaders[0]!, goHeaders[20]!, short)).toThrow();
  });
});

describe('buildDualProof against immudb 1.11.1 store.DualProof (v0 and v1 headers)', () => {
  const rebuilt = (st: Store111): DualProofStore => {
    const headers = st.txs.map((t) => txHeaderFromJson(t.header));
    return { aht: AHTree.fromLeaves(headers.map(txAlh)), header: (id) => headers[Number(id) - 1]! };
  };
  for (const [name, st] of [
    ['store', vectors111.store],
    ['laggedStore', vectors111.laggedStore],
  ] as const) {
    it(`${name}: every one of its ${st.dualProofs.length} dual proofs, LinearAdvanceProof aside`, () => {
      const store = rebuilt(st);
      for (const d of st.dualProofs) {
        const { linearAdvanceProof: _lap, ...proof } = d.proof;
        expect(buildDualProof(store.header(BigInt(d.source)), store.header(BigInt(d.target)), store), `${d.source}→${d.target}`).toEqual(proof);
      }
    });
  }
});

describe('bundles made of immudb 1.1 answers', () => {
  it('the vectors hold pairs with both headers linked, and pairs with a lagging one', () => {
    const both = vectors.store.dualProofs.filter((d) => linked(d.source) && linked(d.target));
    expect(both.length).toBeGreaterThan(20);
    expect(vectors.store.dualProofs.length - both.length).toBeGreaterThan(50);
  });

  // immudb 1.1 servers link every tx they commit (MaxLinearProofLen 0); these vectors were fed
  // lagging blTxIds through ReplicateTx, so only the pairs of linked headers verify.
  it.each(vectors.store.dualProofs.map((d) => ({ s: d.source, t: d.target })))(
    'trusted $s, tx $t (signed by immudb pkg/signer) and trusted $t, tx $s',
    ({ s, t }) => {
      const fwd = verifyProofBundle(goBundle(s, t, 'target', true));
      const back = verifyProofBundle(goBundle(s, t, 'source', false));
      if (!(linked(s) && linked(t))) {
        const unlinked = linked(s) ? t : s;
        for (const r of [fwd, back])
          expect(r).toMatchObject({ ok: false, check: 'dualProof.linking', message: expect.stringContaining(`tx ${unlinked} links tx`) });
        // The one objection: immudb's own arithmetic holds.
        expect(verdictWithoutLinking(goBundle(s, t, 'target', true))).toBeNull();
        expect(verdictWithoutLinking(goBundle(s, t, 'source', false))).toBeNull();
        return;
      }
      expect(fwd).toMatchObject({ ok: true, txId: String(t), state: { txId: String(t), txHash: goTxs[t - 1]!.alh } });
      expect(fwd.ok && fwd.summary).toMatch(/signed by key [0-9a-f]{16}$/);
      expect(back).toMatchObject({ ok: true, txId: String(s), state: { txId: String(t) } });
      expect(back.ok && back.summary).toMatch(/unsigned$/);
    },
  );

  it('immudb-node agrees on every immudb dual proof and entry proof (sanity of the cross-check)', () => {
    for (const d of vectors.store.dualProofs) {
      const ok = immuNode.verification.verifyDualProof(
        immuDualProof(d.proof),
        d.source,
        d.target,
        hex(goTxs[d.source - 1]!.alh),
        hex(goTxs[d.target - 1]!.alh),
      );
      expect(ok, `${d.source}→${d.target}`).toBe(true);
    }
    for (const t of goTxs) {
      t.entries.forEach((e, i) => {
        const digest = entryDigest(b64(e.key), b64(e.value));
        expect(immuNode.verification.verifyInclusion(immuInclusionProof(i, t.entries.length, t.proofs[i]!), digest, hex(t.header.eH))).toBe(true);
      });
    }
  });
});

describe('our chains, checked by immudb-node (independent implementation)', () => {
  const chain = new TestChain();
  // Irregular lag crossing many blTxId boundaries, multi-entry txs of varying width: immudb-node
  // (a 1.1 client) takes the lag; our verifier takes only the pairs whose headers are linked.
  for (let i = 0; i < 90; i++) {
    const id = chain.size + 1;
    const n = 1 + ((id * 7) % 9);
    chain.commit(
      Array.from({ length: n }, (_, e) => ({ key: Buffer.from(`k/${id}/${e}`), value: Buffer.from(`v${id}.${e}`) })),
      [0, 4, 1, 0, 9, 2, 0, 0, 3][i % 9],
    );
  }
  const isLinked = (id: number) => chain.header(BigInt(id)).blTxId === BigInt(id - 1);

  it('accepts our dual proofs for every pair (source <= target)', () => {
    let checked = 0;
    for (let t = 1; t <= chain.size; t++) {
      for (let s = 1; s <= t; s += s < 10 || t - s < 10 ? 1 : 7) {
        const src = chain.header(BigInt(s));
        const dst = chain.header(BigInt(t));
        const p = buildDualProof(src, dst, chain);
        expect(immuNode.verification.verifyDualProof(immuDualProof(p), s, t, txAlh(src), txAlh(dst)), `${s}→${t}`).toBe(true);
        // And flips its verdict when the claimed source state is wrong.
        expect(immuNode.verification.verifyDualProof(immuDualProof(p), s, t, txAlh(dst), txAlh(dst))).toBe(s === t);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('accepts our entry proofs', () => {
    for (let id = 1; id <= chain.size; id++) {
      const b = chain.bundle({ txId: id, leaf: (id * 5) % chain.header(BigInt(id)).nEntries });
      const digest = entryDigest(b64(b.entry.key), b64(b.entry.value));
      expect(immuNode.verification.verifyInclusion(immuInclusionProof(b.inclusion.leaf, b.inclusion.width, b.inclusion.terms), digest, hex(b.tx.eH))).toBe(
        true,
      );
    }
  });

  it('our bundles for every (trusted, tx) pair: verified when both headers are linked, else dualProof.linking', () => {
    let ok = 0;
    for (let t = 1; t <= chain.size; t += 3) {
      for (let s = 1; s <= chain.size; s += 2) {
        const r = verifyProofBundle(chain.bundle({ txId: t, trustedTxId: s }));
        if (isLinked(s) && isLinked(t)) {
          expect(r.ok, `${s}/${t}: ${JSON.stringify(r)}`).toBe(true);
          ok++;
        } else expect(r.ok ? 'ok' : r.check, `${s}/${t}`).toBe('dualProof.linking');
      }
    }
    expect(ok).toBeGreaterThan(100);
  });

  it('a linked chain: every pair verifies, in v2 and in its v1 form', () => {
    const linkedChain = new TestChain();
    linkedChain.grow(40, 3);
    for (let t = 1; t <= 40; t += 3) {
      for (let s = 1; s <= 40; s++) {
        const b = linkedChain.bundle({ txId: t, trustedTxId: s, leaf: (s + t) % 3 });
        expect(verifyProofBundle(b).ok, `${s}/${t}`).toBe(true);
        expect(verifyProofBundle(toV1Bundle(b)).ok, `v1 ${s}/${t}`).toBe(true);
      }
    }
  });

  it('the htree root we commit is what immudb-node computes for the same entries', () => {
    for (let id = 1; id <= 20; id++) {
      const h = chain.header(BigInt(id));
      const digests = Array.from({ length: h.nEntries }, (_, e) => entryDigest(Buffer.from(`k/${id}/${e}`), Buffer.from(`v${id}.${e}`)));
      const theirs = new immuNode.HTree(h.nEntries);
      theirs.buildWith(digests.map((d) => new Uint8Array(d)));
      expect(toHex(theirs.root)).toBe(toHex(h.eH));
      expect(HTree.build(digests).root.equals(h.eH)).toBe(true);
    }
  });
});
