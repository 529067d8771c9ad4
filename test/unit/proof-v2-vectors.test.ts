/**
 * auditgraph.proof.v2 against immudb 1.11.1's own answers (test/fixtures/immudb-v1.11.1): v0 and v1
 * tx headers, KV and tx metadata, dual proofs across the v0→v1 boundary, a store whose binary
 * linking lags (dualProof.linking), the GHSA-672p-m5jq-mrh8 linear fake, and the v1/v2 format rules.
 */
import { describe, expect, it } from 'vitest';
import { buildProofBundle } from '../../src/proof/bundle.ts';
import type { DualProofStore } from '../../src/proof/dual-proof.ts';
import { toHex } from '../../src/proof/codecs.ts';
import { checkKvMetadata, EMPTY, entryDigest, sha256, storedValueHash } from '../../src/proof/hashing.ts';
import { txEntryTree, verifyHTreeInclusion } from '../../src/proof/htree.ts';
import { checkTxMetadata, GENESIS_PREV_ALH, txAlh, type TxHeader, txHeaderFromJson, txHeaderToJson, txInnerHash } from '../../src/proof/tx-header.ts';
import type { ProofBundle } from '../../src/proof/types.ts';
import { verifyProofBundle } from '../../src/proof/verify.ts';
import { createSha256 } from '../../src/ledger/sha256.mjs';
import { immuDualProof, immuInclusionProof, immuNode, vectorBundle, vectors111, type DualProof111, type Store111 } from '../support/immudb-vectors.ts';
import {
  clone,
  ForgedChain,
  leaves,
  setAt,
  tamperCases,
  TestChain,
  toV1Bundle,
  verdictWithoutLinking,
  type Entry,
  type Scenario,
} from '../support/proof-chain.ts';

const hex = (h: string) => Buffer.from(h, 'hex');
const b64 = (s: string) => Buffer.from(s, 'base64');
const withPrefix = (b: Buffer) => Buffer.concat([Buffer.of(0), b]);
const { store, laggedStore } = vectors111;
const stores = [
  ['store', store, 14],
  ['laggedStore', laggedStore, 10],
] as const;
const isLinked = (st: Store111, id: number) => BigInt(st.txs[id - 1]!.header.blTxId) === BigInt(id - 1);
const versionOf = (st: Store111, id: number) => st.txs[id - 1]!.header.version;
/** Leaves of tx `id` a bundle can hold (a delete has no value). */
const valuedLeaves = (st: Store111, id: number) => st.txs[id - 1]!.entries.flatMap((e, i) => (e.value === null ? [] : [i]));

describe('immudb 1.11.1 tx headers: txInnerHash and txAlh, v0 and v1', () => {
  it('the vectors are what this file relies on', () => {
    expect(vectors111.immudb).toBe('v1.11.1');
    expect(store.txs).toHaveLength(36);
    expect(laggedStore.txs).toHaveLength(22);
    expect(store.txs.filter((t) => t.header.version === 1 && t.header.metadata !== '').length).toBeGreaterThan(3);
    expect(store.dualProofs.filter((d) => versionOf(store, d.source) !== versionOf(store, d.target))).toHaveLength(51);
    expect(laggedStore.txs.filter((t) => !t.blTxIdIsIdMinus1).length).toBeGreaterThan(5);
  });

  for (const [name, st, lastV0] of stores) {
    it(`${name}: every header hashes to immudb's inner hash and Alh, and round-trips through JSON`, () => {
      let prevAlh = GENESIS_PREV_ALH;
      for (const t of st.txs) {
        const h = txHeaderFromJson(t.header);
        expect(h.version, `tx ${h.id}`).toBe(h.id <= BigInt(lastV0) ? 0 : 1);
        expect(toHex(txInnerHash(h)), `inner hash of tx ${h.id}`).toBe(t.innerHash);
        expect(toHex(txAlh(h)), `Alh of tx ${h.id}`).toBe(t.alh);
        expect(h.prevAlh.equals(prevAlh), `prevAlh of tx ${h.id}`).toBe(true);
        expect(h.blTxId === h.id - 1n).toBe(t.blTxIdIsIdMinus1);
        expect(txHeaderToJson(h)).toEqual(t.header);
        prevAlh = hex(t.alh);
      }
    });
  }

  it('the version is hashed: a v1 header read as v0 (or the reverse) gives another Alh', () => {
    for (const t of store.txs) {
      const h = txHeaderFromJson(t.header);
      if (h.metadata.length > 0) continue;
      expect(toHex(txAlh({ ...h, version: 1 - h.version })), `tx ${h.id}`).not.toBe(t.alh);
    }
  });
});

describe('immudb 1.11.1 entries: entryDigest, txEntryTree and htree proofs', () => {
  for (const [name, st] of stores) {
    it(`${name}: entryDigest (v0, and v1 with KV metadata) of every entry with a value is immudb's digest`, () => {
      let withMetadata = 0;
      for (const t of st.txs) {
        for (const e of t.entries) {
          if (e.value === null) continue;
          expect(toHex(storedValueHash(b64(e.value)))).toBe(e.hValue);
          expect(toHex(entryDigest(b64(e.key), b64(e.value), t.header.version, hex(e.metadata))), `${t.header.id}/${e.key}`).toBe(e.digest);
          // The header version decides the digest: the other one's differs.
          if (e.metadata === '') expect(toHex(entryDigest(b64(e.key), b64(e.value), 1 - t.header.version))).not.toBe(e.digest);
          if (e.metadata !== '') withMetadata++;
        }
      }
      expect(withMetadata).toBeGreaterThan(name === 'store' ? 10 : 2);
    });

    it(`${name}: txEntryTree of every tx has its eH as root and immudb's proofs (node:crypto and sha256.mjs)`, () => {
      const { hashInto } = createSha256();
      for (const t of st.txs) {
        const entries = t.entries.map((e) => ({ key: withPrefix(b64(e.key)), hValue: hex(e.hValue), metadata: hex(e.metadata) }));
        for (const tree of [txEntryTree(entries, t.header.version), txEntryTree(entries, t.header.version, hashInto)]) {
          expect(toHex(tree.root), `eH of tx ${t.header.id}`).toBe(t.header.eH);
          t.entries.forEach((e, i) => {
            expect(tree.inclusionProof(i).map(toHex)).toEqual(t.proofs[i]);
            expect(tree.inclusionProofHex(i)).toEqual(t.proofs[i]);
            expect(verifyHTreeInclusion(t.proofs[i]!.map(hex), i, t.entries.length, hex(e.digest), hex(t.header.eH))).toBe(true);
          });
        }
      }
    });
  }

  it('the delete (nil stored value, "deleted" metadata) is in its tx tree with hValue sha256("")', () => {
    const deletes = store.txs.flatMap((t) => t.entries.filter((e) => e.value === null).map((e) => ({ t, e })));
    expect(deletes).toHaveLength(1);
    const { t, e } = deletes[0]!;
    expect([t.header.id, e.metadata, e.hValue]).toEqual(['19', '00', toHex(sha256())]);
  });

  it('a v0 tx entry has no metadata: entryDigest and txEntryTree refuse it', () => {
    const t = store.txs[4]!;
    const e = t.entries[0]!;
    expect(() => entryDigest(b64(e.key), b64(e.value!), 0, Buffer.of(2))).toThrow(RangeError);
    expect(() => txEntryTree([{ key: withPrefix(b64(e.key)), hValue: hex(e.hValue), metadata: Buffer.of(2) }], 0)).toThrow(RangeError);
  });
});

describe('immudb 1.11.1 metadata encodings: checkTxMetadata / checkKvMetadata', () => {
  const u64 = (v: bigint) => BigInt.asUintN(64, v).toString(16).padStart(16, '0');
  const u16 = (v: number) => v.toString(16).padStart(4, '0');

  it('the tx metadata vectors are 00 ‖ u64 truncatedTxId, then 01 ‖ u16 len ‖ extra; all accepted', () => {
    for (const m of vectors111.txMetadata) {
      const want = (m.truncatedTxId !== '0' ? `00${u64(BigInt(m.truncatedTxId))}` : '') + (m.extra ? `01${u16(m.extra.length / 2)}${m.extra}` : '');
      expect(m.bytes).toBe(want);
      expect(checkTxMetadata(hex(m.bytes))).toBeNull();
    }
    for (const t of [...store.txs, ...laggedStore.txs]) expect(checkTxMetadata(hex(t.header.metadata))).toBeNull();
  });

  it('the KV metadata vectors are 00 (deleted), 01 ‖ u64 expiresAt, 02 (non-indexable); all accepted', () => {
    for (const m of vectors111.kvMetadata) {
      const want = (m.deleted ? '00' : '') + (m.expiresAt !== null ? `01${u64(BigInt(m.expiresAt))}` : '') + (m.nonIndexable ? '02' : '');
      expect(m.bytes).toBe(want);
      expect(checkKvMetadata(hex(m.bytes))).toBeNull();
    }
    for (const t of [...store.txs, ...laggedStore.txs]) for (const e of t.entries) expect(checkKvMetadata(hex(e.metadata))).toBeNull();
  });

  it('tx metadata cut short, in the wrong order, with an unknown code, a repeated attribute or an extra of 0 or 257 bytes is refused', () => {
    const both = vectors111.txMetadata.find((m) => m.truncatedTxId !== '0' && m.extra === 'cafe')!.bytes;
    const bad: [string, string][] = [
      // every vector ends inside a sized attribute, so dropping its last byte leaves it cut short
      ...vectors111.txMetadata.filter((m) => m.bytes).map((m): [string, string] => [`${m.bytes} cut short`, m.bytes.slice(0, -2)]),
      ['extra before truncation', both.slice(18) + both.slice(0, 18)],
      ['unknown code 02', '02'],
      ['unknown code after a valid one', `${both}02`],
      ['unknown code before a valid one', `02${both}`],
      ['truncation twice', `00${u64(1n)}00${u64(2n)}`],
      ['extra twice', '0100010a0100010b'],
      ['extra of 0 bytes', '010000'],
      ['extra of 257 bytes', `010101${'ab'.repeat(257)}`],
      ['extra longer than what follows', '010003abab'],
    ];
    for (const [why, b] of bad) expect(checkTxMetadata(hex(b)), why).toEqual(expect.any(String));
    expect(checkTxMetadata(hex(`010100${'ab'.repeat(256)}`))).toBeNull();
  });

  it('KV metadata cut short, in the wrong order, with an unknown code or a repeated attribute is refused', () => {
    const bad: [string, string][] = [
      ...vectors111.kvMetadata
        .filter((m) => m.bytes.endsWith('02') === false && m.expiresAt !== null)
        .map((m): [string, string] => [`${m.bytes} cut short`, m.bytes.slice(0, -2)]),
      ['expiry without its time', '01'],
      ['non-indexable before deleted', '0200'],
      ['expiry before deleted', `01${u64(1n)}00`],
      ['non-indexable before expiry', `0201${u64(1n)}`],
      ['unknown code 03', '03'],
      ['unknown code after a valid one', '000203'],
      ['deleted twice', '0000'],
      ['non-indexable twice', '0202'],
    ];
    for (const [why, b] of bad) expect(checkKvMetadata(hex(b)), why).toEqual(expect.any(String));
  });
});

// ---------------------------------------------------------------------------------------------

describe('v2 bundles made of immudb 1.11.1 answers', () => {
  it('every entry with a value, with every dual proof of the store, in both directions: verified (signed by immudb)', () => {
    let crossing = 0;
    let count = 0;
    for (const d of store.dualProofs) {
      for (const txSide of ['target', 'source'] as const) {
        const txId = txSide === 'target' ? d.target : d.source;
        for (const leaf of valuedLeaves(store, txId)) {
          const b = vectorBundle(store, d, txSide, leaf, true);
          const r = verifyProofBundle(b);
          expect(r, `${d.source}→${d.target} ${txSide} leaf ${leaf}: ${JSON.stringify(r)}`).toMatchObject({
            ok: true,
            txId: String(txId),
            state: { txId: String(d.target), txHash: store.txs[d.target - 1]!.alh },
          });
          expect(r.ok && r.summary).toMatch(/, signed by key [0-9a-f]{16}$/);
          count++;
          if (versionOf(store, d.source) !== versionOf(store, d.target)) crossing++;
        }
      }
    }
    expect(count).toBeGreaterThan(500);
    expect(crossing).toBeGreaterThan(2 * 51);
  });

  it('the same trusted state argument as the bundle: verified; another state of the store: trustedState', () => {
    const d = store.dualProofs.find((x) => x.source === 13 && x.target === 36)!;
    const b = vectorBundle(store, d, 'target', 0);
    expect(verifyProofBundle(b, { txId: '13', txHash: store.txs[12]!.alh }).ok).toBe(true);
    expect(verifyProofBundle(b, { txId: '14', txHash: store.txs[13]!.alh })).toMatchObject({ ok: false, check: 'trustedState' });
  });

  it('auditgraph.proof.v1 bundles of the v0 part (no version, no metadata) still verify', () => {
    const v0Pairs = store.dualProofs.filter((d) => d.target <= 14);
    expect(v0Pairs.length).toBeGreaterThan(20);
    for (const d of v0Pairs) {
      for (const txSide of ['target', 'source'] as const) {
        const b = toV1Bundle(vectorBundle(store, d, txSide, 0));
        expect(b.tx).not.toHaveProperty('version');
        expect(verifyProofBundle(b).ok, `${d.source}→${d.target} ${txSide}`).toBe(true);
      }
    }
  });
});

describe('flipping any field of a v2 vector bundle fails with the named check', () => {
  const pick = (s: number, t: number) => store.dualProofs.find((d) => d.source === s && d.target === t)!;
  const scenarios: Scenario[] = [
    {
      name: 'v0 trusted 13 → v1 tx 22 (tx metadata, entry expiry)',
      relation: 'below',
      signed: true,
      bundle: vectorBundle(store, pick(13, 22), 'target', 0, true),
    },
    {
      name: 'v0 tx 14 → v1 trusted 15 (across the boundary, adjacent)',
      relation: 'above',
      signed: false,
      bundle: vectorBundle(store, pick(14, 15), 'source', 0),
    },
    { name: 'v1 tx 18 (non-indexable entry) → v1 trusted 36', relation: 'above', signed: true, bundle: vectorBundle(store, pick(18, 36), 'source', 0, true) },
    {
      name: 'v0 trusted 3 → v1 tx 35 (tx metadata, non-indexable entry)',
      relation: 'below',
      signed: false,
      bundle: vectorBundle(store, pick(3, 35), 'target', 0),
    },
    { name: 'v1 tx 30 == trusted 30', relation: 'same', signed: true, bundle: vectorBundle(store, pick(30, 30), 'target', 2, true) },
    {
      name: 'lagged store, linked pair: v0 trusted 9 → v1 tx 12',
      relation: 'below',
      signed: true,
      bundle: vectorBundle(laggedStore, laggedStore.dualProofs.find((d) => d.source === 9 && d.target === 12)!, 'target', 0, true),
    },
  ];

  it('the scenarios flip every header field, version and metadata included, and the entry metadata', () => {
    const flipped = new Set(scenarios.flatMap((s) => tamperCases(s).map((c) => c.path.filter((p) => typeof p === 'string').join('.'))));
    for (const side of ['tx', 'dualProof.sourceTx', 'dualProof.targetTx']) {
      for (const f of ['id', 'prevAlh', 'ts', 'version', 'metadata', 'nEntries', 'eH', 'blTxId', 'blRoot']) expect(flipped).toContain(`${side}.${f}`);
    }
    expect(flipped).toContain('entry.metadata');
    expect(scenarios.map((s) => s.bundle.entry.metadata)).toContain('02');
    expect(scenarios.some((s) => /^01/.test(s.bundle.entry.metadata))).toBe(true);
    for (const s of scenarios) expect(verifyProofBundle(s.bundle).ok, s.name).toBe(true);
  });

  for (const s of scenarios) {
    const cases = tamperCases(s);
    it(`${s.name}: ${cases.length} tampered variants`, () => {
      for (const c of cases) {
        const b = clone(s.bundle);
        setAt(b, c.path, c.v);
        const r = verifyProofBundle(b);
        expect(r.ok ? 'ok' : r.check, `${c.where}: ${JSON.stringify(r)}`).toBe(c.want);
      }
    });
  }
});

describe("dualProof.linking: the lagged store, where immudb's own verifier accepted every proof", () => {
  const outcome = laggedStore.dualProofs.map((d) => {
    const leaf = (d.source + d.target) % laggedStore.txs[d.target - 1]!.entries.length;
    const bundles = [vectorBundle(laggedStore, d, 'target', leaf, true), vectorBundle(laggedStore, d, 'source', 0)];
    return { d, bundles, linked: isLinked(laggedStore, d.source) && isLinked(laggedStore, d.target) };
  });

  it('immudb verified them all; 34 needed its LinearAdvanceProof, which a bundle does not carry', () => {
    expect(laggedStore.dualProofs.every((d) => d.verified)).toBe(true);
    expect(laggedStore.dualProofs.filter((d) => d.proof.linearAdvanceProof)).toHaveLength(34);
    expect(outcome.filter((o) => o.linked).length).toBeGreaterThan(20);
    expect(outcome.filter((o) => !o.linked).length).toBeGreaterThan(50);
  });

  it('every proof whose headers do not both link their predecessor is refused with dualProof.linking', () => {
    const unlinked = (d: DualProof111) => (isLinked(laggedStore, d.source) ? d.target : d.source);
    for (const { d, bundles, linked } of outcome) {
      if (linked) continue;
      for (const b of bundles) {
        // Only the linking rule objects: immudb's arithmetic (entry, trees, linear proof) holds.
        expect(verdictWithoutLinking(b), `${d.source}→${d.target}`).toBeNull();
        const r = verifyProofBundle(b);
        const id = unlinked(d);
        expect(r, `${d.source}→${d.target}`).toMatchObject({
          ok: false,
          check: 'dualProof.linking',
          message: expect.stringContaining(`tx ${id} links tx ${laggedStore.txs[id - 1]!.header.blTxId}, not its predecessor`),
        });
      }
    }
  });

  it('a LinearAdvanceProof is only ever needed where a header lags: all of those are refused', () => {
    for (const { d, linked } of outcome) if (d.proof.linearAdvanceProof) expect(linked, `${d.source}→${d.target}`).toBe(false);
  });

  it('every proof whose both headers link their predecessor still verifies, v0 and v1 alike', () => {
    const versions = new Set<string>();
    for (const { d, bundles, linked } of outcome) {
      if (!linked) continue;
      versions.add(`${versionOf(laggedStore, d.source)}→${versionOf(laggedStore, d.target)}`);
      for (const b of bundles) expect(verifyProofBundle(b).ok, `${d.source}→${d.target}`).toBe(true);
    }
    expect([...versions].sort()).toEqual(['0→0', '0→1', '1→1']);
  });
});

// ---------------------------------------------------------------------------------------------
// GHSA-672p-m5jq-mrh8, as in immudb's proof of concept. A reader trusts tx 5 of a genuine, fully
// linked chain. The server forges tx 8 (other entries) and re-issues tx 10 linking tx 6: tx 10's
// blRoot is the genuine tree of 6 txs, so txs 7..10 are bound only by the linear proof, which the
// server computes through its fake tx 8.
//   step 1: trusted 5 → tx 10'. The reader adopts state 10'.
//   step 2: trusted 10' → tx 12'', which links tx 11 in the server's tree (genuine leaves 1..7,
//           then 8', 9', 10', 11''): tx 10' is leaf 10 and its tree of 6 a prefix. Adopts 12''.
//   step 3: trusted 12'' → the fake tx 8': leaf 8 of that tree. The reader reads forged entries
//           for tx 8, while the genuine tx 8 verifies against the genuine state with others.
// Before 1.4.1 immudb's clients accepted all three. Each bundle is checked on its own, so the
// defence is at the steps that adopt a state: 1 and 2 carry tx 10', which does not link tx 9,
// and are refused with dualProof.linking; without them the reader never holds 12''.

describe('dualProof.linking: the GHSA-672p-m5jq-mrh8 linear fake', () => {
  for (const format of ['auditgraph.proof.v1', 'auditgraph.proof.v2'] as const) {
    const version = format === 'auditgraph.proof.v1' ? 0 : 1;
    const entries = (id: number): Entry[] =>
      Array.from({ length: 2 }, (_, e) => ({
        key: Buffer.from(`evt/${id}/${e}`),
        value: Buffer.from(JSON.stringify({ id, e })),
        ...(version === 1 && e === 1 ? { metadata: Buffer.from('02', 'hex') } : {}),
      }));
    const txMetadata = (id: number) => (version === 1 && id % 3 === 0 ? { metadata: Buffer.from(`0100020${id % 10}0${id % 10}`, 'hex') } : {});
    const genuine = new TestChain(version);
    for (let id = 1; id <= 12; id++) genuine.commit(entries(id), 0, txMetadata(id));
    const fakeEntries: Entry[] = [{ key: Buffer.from('evt/8/0'), value: Buffer.from('{"forged":true}') }];
    const forged = new ForgedChain(genuine, {
      linkedTo: 6,
      fake: 8,
      target: 10,
      extendTo: 12,
      fakeEntries,
      ...(version === 1 ? { fakeMetadata: Buffer.from('01000166', 'hex') } : {}),
    });
    const as = (b: ProofBundle) => (format === 'auditgraph.proof.v1' ? toV1Bundle(b) : b);

    const step1 = as(forged.bundle({ txId: 10, trustedTxId: 5 }));
    const step2 = as(forged.bundle({ txId: 12, trustedTxId: 10 }));
    const step3 = as(forged.bundle({ txId: 8, trustedTxId: 12 }));

    describe(format, () => {
      it('the forged tx 10 links tx 6; every other tx of the forgery links its predecessor', () => {
        expect(step1.format).toBe(format);
        expect(step1.tx).toMatchObject({ id: '10', blTxId: '6' });
        expect(step1.dualProof.linearProof).toMatchObject({ sourceTxId: '6', targetTxId: '10' });
        expect(step1.dualProof.linearProof.terms).toHaveLength(5);
        for (const id of [7n, 8n, 9n, 11n, 12n]) expect(forged.header(id).blTxId).toBe(id - 1n);
        expect(step3.tx).toMatchObject({ id: '8', blTxId: '7' });
        expect(step3.tx.eH).not.toBe(toHex(genuine.header(8n).eH));
        if (version === 1) expect(step1.tx).toMatchObject({ version: 1, metadata: '' });
        // Each step starts from the state the one before hands out.
        expect(step2.trustedState).toEqual({ txId: step1.state.txId, txHash: step1.state.txHash });
        expect(step3.trustedState).toEqual({ txId: step2.state.txId, txHash: step2.state.txHash });
      });

      it('step 1 (trusted 5 → forged tx 10) is refused: dualProof.linking', () => {
        expect(verifyProofBundle(step1)).toEqual({
          ok: false,
          check: 'dualProof.linking',
          message: 'target tx 10 links tx 6, not its predecessor: a linear proof over unlinked txs can be faked (GHSA-672p-m5jq-mrh8)',
        });
      });

      it('step 2 (trusted forged 10 → tx 12 in the forged tree) is refused: dualProof.linking', () => {
        expect(verifyProofBundle(step2)).toMatchObject({
          ok: false,
          check: 'dualProof.linking',
          message: expect.stringMatching(/^source tx 10 links tx 6, not its predecessor/),
        });
      });

      it("without the linking rule all three steps pass: every other step of immudb's verification holds", () => {
        for (const b of [step1, step2, step3]) expect(verdictWithoutLinking(b)).toBeNull();
        if (version === 0) {
          // immudb-node 1.1.1, a client without the 1.4.1 fix, accepts every dual proof and the fake entry.
          for (const b of [step1, step2, step3]) {
            const trustedIsSource = BigInt(b.trustedState.txId) <= BigInt(b.tx.id);
            const sourceAlh = trustedIsSource ? hex(b.trustedState.txHash) : txAlh(txHeaderFromJson(b.tx));
            const [s, t] = [Number(b.dualProof.sourceTx.id), Number(b.dualProof.targetTx.id)];
            expect(immuNode.verification.verifyDualProof(immuDualProof(b.dualProof), s, t, sourceAlh, hex(b.state.txHash))).toBe(true);
          }
          const digest = entryDigest(b64(step3.entry.key), b64(step3.entry.value));
          expect(
            immuNode.verification.verifyInclusion(
              immuInclusionProof(step3.inclusion.leaf, step3.inclusion.width, step3.inclusion.terms),
              digest,
              hex(step3.tx.eH),
            ),
          ).toBe(true);
        }
      });

      it('the payoff, step 3: consistent with the forged state 12 it starts from, so only steps 1 and 2 can stop it', () => {
        // All of its headers link their predecessor: a reader holding 12'' would be shown the fake.
        expect(verifyProofBundle(step3).ok).toBe(true);
        // The genuine tx 8 holds other entries and verifies against the genuine state 12.
        const real = as(genuine.bundle({ txId: 8, trustedTxId: 12 }));
        expect(verifyProofBundle(real).ok).toBe(true);
        expect(real.tx.id).toBe(step3.tx.id);
        expect(b64(real.entry.value).toString()).toBe('{"id":8,"e":0}');
        expect(b64(step3.entry.value).toString()).toBe('{"forged":true}');
        expect(real.trustedState.txHash).not.toBe(step3.trustedState.txHash);
      });

      // Leaf values of a bundle by path, and the paths where two bundles differ.
      const at = (b: unknown) =>
        new Map(
          leaves(b)
            .filter((l) => !Array.isArray(l.value))
            .map((l) => [l.path.join('.'), l.value]),
        );
      const diff = (a: unknown, b: unknown) => {
        const [x, y] = [at(a), at(b)];
        return [...new Set([...x.keys(), ...y.keys()])].filter((k) => x.get(k) !== y.get(k)).sort();
      };

      it('against the genuine bundle (trusted 5 → tx 10, linked), which verifies, step 1 differs only in how tx 10 is linked', () => {
        const real = as(genuine.bundle({ txId: 10, trustedTxId: 5 }));
        expect(verifyProofBundle(real).ok).toBe(true);
        const d = diff(real, step1);
        // The same entry, inclusion, trusted side and tx contents...
        for (const same of ['entry.', 'inclusion.', 'trustedState.', 'dualProof.sourceTx.', 'tx.id', 'tx.ts', 'tx.nEntries', 'tx.eH', 'format']) {
          expect(
            d.filter((p) => p.startsWith(same)),
            same,
          ).toEqual([]);
        }
        // ...and differences only in tx 10's link (blTxId, blRoot, prevAlh) and the proof from that link.
        const linkPart =
          /^(tx|dualProof\.targetTx)\.(prevAlh|blTxId|blRoot)$|^dualProof\.(inclusionProof|consistencyProof|lastInclusionProof|targetBlTxAlh|linearProof)|^state\.txHash$/;
        expect(d.filter((p) => !linkPart.test(p))).toEqual([]);
        expect(d).toContain('tx.blTxId');
      });

      it('against an honest server that linked txs 8–10 to tx 6 (immudb < 1.3.2 could), the same forgery differs only in the unlinked part', () => {
        // Txs 1..7 linked, then 8, 9 and 10 all link tx 6: the lag an asynchronous linker leaves.
        const honestChain = new TestChain(version);
        for (let id = 1; id <= 10; id++) honestChain.commit(entries(id), Math.max(0, id - 7), txMetadata(id));
        const honest = as(honestChain.bundle({ txId: 10, trustedTxId: 5 }));
        const forgedOfHonest = new ForgedChain(honestChain, { linkedTo: 6, fake: 8, target: 10, fakeEntries });
        const fake = as(forgedOfHonest.bundle({ txId: 10, trustedTxId: 5 }));
        expect([honest.tx.blTxId, fake.tx.blTxId]).toEqual(['6', '6']);
        // The linear term of tx 8 (its inner hash) and the Alhs chained from it: nothing else. No
        // tree holds the Alhs of txs 7..10, so nothing but the linear proof itself binds that term.
        expect(diff(honest, fake)).toEqual(['dualProof.linearProof.terms.2', 'dualProof.targetTx.prevAlh', 'state.txHash', 'tx.prevAlh']);
        // Without the linking rule the two are equally valid; with it, both are refused.
        for (const b of [honest, fake]) {
          expect(verdictWithoutLinking(b)).toBeNull();
          expect(verifyProofBundle(b)).toMatchObject({ ok: false, check: 'dualProof.linking', message: expect.stringMatching(/^target tx 10 links tx 6, /) });
        }
      });

      it('linked, the forgery cannot pass: the tree of tx 10 then holds the genuine tx 8 and 9', () => {
        // Re-link the forged tx 10 to tx 9 with the genuine tree: its last leaf is the genuine Alh(9).
        const relinked: TxHeader = { ...forged.header(10n), blTxId: 9n, blRoot: genuine.aht.root(9) };
        const mixed: DualProofStore = { aht: genuine.aht, header: (id) => (id === 10n ? relinked : forged.header(id)) };
        const entry = genuine.entries(10n)[0]!;
        const make = (trustedTx: TxHeader, tx: TxHeader, key: Buffer, value: Buffer, terms: Buffer[], s: DualProofStore, metadata?: Buffer) =>
          as(
            buildProofBundle({
              ledger: 'embedded',
              database: 'defaultdb',
              key,
              value,
              ...(metadata ? { metadata } : {}),
              tx,
              leaf: 0,
              inclusionTerms: terms,
              trustedTx,
              store: s,
            }),
          );
        const b = make(genuine.header(5n), relinked, entry.key, entry.value, genuine.tree(10n).inclusionProof(0), mixed);
        expect(verifyProofBundle(b)).toMatchObject({ ok: false, check: 'dualProof.lastInclusion' });
        // With the genuine Alh(9) as the last leaf instead, the linear step from it does not reach the forged tx 10.
        const c = clone(b);
        c.dualProof.targetBlTxAlh = toHex(genuine.alh(9n));
        c.dualProof.linearProof.terms[0] = toHex(genuine.alh(9n));
        expect(verifyProofBundle(c)).toMatchObject({ ok: false, check: 'dualProof.linear' });
        // And a reader holding a genuine state cannot be shown the fake tx 8: it is not leaf 8 of that tree.
        const fake8 = forged.header(8n);
        const fakeStore: DualProofStore = { aht: genuine.aht, header: (id) => (id === 8n ? fake8 : genuine.header(id)) };
        const f = make(genuine.header(10n), fake8, fakeEntries[0]!.key, fakeEntries[0]!.value, [], fakeStore);
        expect(verifyProofBundle(f)).toMatchObject({ ok: false, check: 'dualProof.inclusion' });
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe('format rules of v1 and v2 bundles', () => {
  const d = store.dualProofs.find((x) => x.source === 3 && x.target === 22)!;
  const v2 = vectorBundle(store, d, 'source', 0); // v0 tx 3 → v1 trusted 22
  const v2v1tx = vectorBundle(store, d, 'target', 0); // v0 trusted 3 → v1 tx 22 (tx metadata, entry expiry)
  const v1 = toV1Bundle(vectorBundle(store, store.dualProofs.find((x) => x.source === 3 && x.target === 13)!, 'target', 0));
  type Loose = Record<string, Record<string, unknown>>;
  const edit = (b: ProofBundle, f: (x: Loose) => void) => {
    const x = clone(b) as unknown as Loose;
    f(x);
    return verifyProofBundle(x);
  };

  it('the untouched bundles verify', () => {
    for (const b of [v2, v2v1tx, v1]) expect(verifyProofBundle(b).ok).toBe(true);
  });

  it('a v1 bundle with a version (or metadata) field anywhere is a format failure', () => {
    expect(edit(v1, (x) => (x.tx!.version = 0))).toMatchObject({ ok: false, check: 'format', message: 'tx: unknown field "version"' });
    expect(edit(v1, (x) => ((x.dualProof!.sourceTx as Loose[string]).version = 0))).toMatchObject({
      ok: false,
      check: 'format',
      message: 'dualProof.sourceTx: unknown field "version"',
    });
    expect(edit(v1, (x) => (x.tx!.metadata = ''))).toMatchObject({ ok: false, check: 'format', message: 'tx: unknown field "metadata"' });
    expect(edit(v1, (x) => (x.entry!.metadata = ''))).toMatchObject({ ok: false, check: 'format', message: 'entry: unknown field "metadata"' });
  });

  it('a v2 bundle without a version (or metadata) field anywhere is a format failure', () => {
    expect(edit(v2, (x) => delete x.tx!.version)).toMatchObject({ ok: false, check: 'format', message: 'tx: missing field "version"' });
    expect(edit(v2, (x) => delete (x.dualProof!.targetTx as Loose[string]).version)).toMatchObject({
      ok: false,
      check: 'format',
      message: 'dualProof.targetTx: missing field "version"',
    });
    expect(edit(v2, (x) => delete x.tx!.metadata)).toMatchObject({ ok: false, check: 'format', message: 'tx: missing field "metadata"' });
    expect(edit(v2, (x) => delete x.entry!.metadata)).toMatchObject({ ok: false, check: 'format', message: 'entry: missing field "metadata"' });
    // A v2 bundle relabelled v1 (or the reverse) is one of the above.
    expect(edit(v2, (x) => ((x as unknown as Record<string, unknown>).format = 'auditgraph.proof.v1'))).toMatchObject({ ok: false, check: 'format' });
    expect(edit(v1, (x) => ((x as unknown as Record<string, unknown>).format = 'auditgraph.proof.v2'))).toMatchObject({ ok: false, check: 'format' });
  });

  it('v2 header: version 0 with metadata, version 2 (or not an integer), non-canonical metadata or non-hex metadata: format', () => {
    expect(edit(v2, (x) => (x.tx!.metadata = '01000101'))).toMatchObject({ ok: false, check: 'format', message: 'tx.metadata: a v0 header has no metadata' });
    for (const version of [2, -1, 0.5, '1', null]) {
      expect(edit(v2, (x) => (x.tx!.version = version))).toMatchObject({ ok: false, check: 'format', message: 'tx.version: expected 0 or 1' });
    }
    expect(edit(v2v1tx, (x) => (x.tx!.metadata = `${x.tx!.metadata}02`))).toMatchObject({
      ok: false,
      check: 'format',
      message: 'tx.metadata: not a canonical TxMetadata encoding',
    });
    expect(edit(v2v1tx, (x) => (x.tx!.metadata = (x.tx!.metadata as string).toUpperCase()))).toMatchObject({
      ok: false,
      check: 'format',
      message: 'tx.metadata: expected lowercase hex',
    });
    expect(edit(v2v1tx, (x) => (x.tx!.metadata = (x.tx!.metadata as string).slice(1)))).toMatchObject({
      ok: false,
      check: 'format',
      message: 'tx.metadata: expected lowercase hex',
    });
  });

  it('entry metadata on a v0 tx, or not canonical KV metadata: entry', () => {
    expect(edit(v2, (x) => (x.entry!.metadata = '02'))).toMatchObject({ ok: false, check: 'entry', message: 'an entry of a v0 tx has no metadata' });
    expect(edit(v2v1tx, (x) => (x.entry!.metadata = '0200'))).toMatchObject({
      ok: false,
      check: 'entry',
      message: 'metadata: not a canonical KVMetadata encoding',
    });
    expect(edit(v2v1tx, (x) => (x.entry!.metadata = 'zz'))).toMatchObject({ ok: false, check: 'format', message: 'entry.metadata: expected lowercase hex' });
  });

  describe('a v0 tx of 65,536 entries: immudb 1.1 hashed its count in 32 bits, immudb 1.2+ in 16', () => {
    const big = (version: 0 | 1) => {
      const c = new TestChain(version);
      c.grow(2);
      c.commit(Array.from({ length: 65_536 }, (_, e) => ({ key: Buffer.from(`bulk/${e}`), value: Buffer.from([e & 0xff]) })));
      return c.bundle({ txId: 3, trustedTxId: 1, leaf: 65_535 });
    };
    const v0 = big(0);
    const v1Header = big(1);

    it('as auditgraph.proof.v1 (a v0 header in immudb 1.1 terms) it verifies', () => {
      expect(verifyProofBundle(toV1Bundle(v0)).ok).toBe(true);
    });

    it('as v2 with version 0 it is a format failure naming nEntries; as a v1 header it verifies', () => {
      expect(verifyProofBundle(v0)).toMatchObject({ ok: false, check: 'format', message: 'tx.nEntries: a v0 header holds at most 65,535 entries' });
      expect(v1Header.tx).toMatchObject({ version: 1, nEntries: 65_536 });
      expect(verifyProofBundle(v1Header).ok).toBe(true);
    });
  });

  it('a v2 bundle with v0 headers only and no metadata anywhere is equivalent to its v1 form', () => {
    const b = vectorBundle(store, store.dualProofs.find((x) => x.source === 3 && x.target === 13)!, 'target', 0);
    const [r2, r1] = [verifyProofBundle(b), verifyProofBundle(toV1Bundle(b))];
    expect(r2).toEqual(r1);
    expect(r2.ok).toBe(true);
    // EMPTY is what a v1 bundle's headers carry as metadata.
    expect(txHeaderFromJson(toV1Bundle(b).tx).metadata.equals(EMPTY)).toBe(true);
  });
});
