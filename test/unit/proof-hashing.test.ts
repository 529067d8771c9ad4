import { describe, expect, it } from 'vitest';
import { parseBase64, parseHash, parseInt64, parseUint64, toHex } from '../../src/proof/codecs.ts';
import { EMPTY, entryDigest, kvDigest, sha256, storedValueHash } from '../../src/proof/hashing.ts';
import { HTree, htreeProofLength, txEntryTree, verifyHTreeInclusion } from '../../src/proof/htree.ts';
import { stateSignaturePayload } from '../../src/proof/signature.ts';
import { decodeTxHeader, encodeTxHeader, GENESIS_PREV_ALH, txAlh, txHeaderFromJson, txHeaderToJson, txInnerHash } from '../../src/proof/tx-header.ts';
import { createSha256 } from '../../src/ledger/sha256.mjs';
import { asV2Header, immuInclusionProof, immuNode, immuTxMetadata, vectors } from '../support/immudb-vectors.ts';

const hex = (h: string) => Buffer.from(h, 'hex');
const b64 = (s: string) => Buffer.from(s, 'base64');

describe('entry digest (immudb database layer: 0x00 key and value prefixes)', () => {
  it.each(vectors.kv)('matches immudb store.KV.Digest for key $key', (v) => {
    expect(toHex(entryDigest(b64(v.key), b64(v.value)))).toBe(v.digest);
  });

  it('matches immudb-node digestKeyValue(encodeKeyValue(key, value))', () => {
    for (const v of vectors.kv) {
      const kv = immuNode.util.encodeKeyValue(b64(v.key), b64(v.value));
      expect(toHex(immuNode.util.digestKeyValue(kv))).toBe(v.digest);
    }
  });

  it('is sensitive to the prefixes (raw kvDigest differs)', () => {
    const v = vectors.kv[0]!;
    expect(toHex(kvDigest(b64(v.key), b64(v.value)))).not.toBe(v.digest);
    expect(toHex(kvDigest(Buffer.concat([Buffer.of(0), b64(v.key)]), Buffer.concat([Buffer.of(0), b64(v.value)])))).toBe(v.digest);
  });
});

describe('tx header Alh', () => {
  // immudb 1.1 headers are v0: read from their 1.1 JSON form, written back in the v2 form.
  it.each(vectors.alh.map((v, i) => ({ ...v, i })))('matches immudb TxMetadata.Alh (vector $i)', (v) => {
    const h = txHeaderFromJson(v.header);
    expect([h.version, h.metadata.length]).toEqual([0, 0]);
    expect(toHex(txAlh(h))).toBe(v.alh);
    expect(txHeaderToJson(h)).toEqual(asV2Header(v.header));
    // In v2 a v0 header counts at most 65,535 entries (immudb 1.2+ hashes a v0 count in 16 bits);
    // immudb 1.1 hashed 32, so only the v1 form can carry the larger counts.
    if (h.nEntries <= 0xffff) expect(txHeaderFromJson(txHeaderToJson(h))).toEqual(h);
    else expect(() => txHeaderFromJson(txHeaderToJson(h))).toThrow(/^nEntries: /);
    expect(decodeTxHeader(encodeTxHeader(h))).toEqual(h);
  });

  it('encodeTxHeader (the 1.1 layout) refuses what it cannot hold: a v1 header, v0 metadata', () => {
    const h = txHeaderFromJson(vectors.alh[1]!.header);
    expect(() => encodeTxHeader({ ...h, version: 1 })).toThrow(RangeError);
    expect(() => encodeTxHeader({ ...h, metadata: Buffer.of(1, 0, 1, 1) })).toThrow(RangeError);
    expect(() => txInnerHash({ ...h, metadata: Buffer.of(1, 0, 1, 1) })).toThrow(RangeError);
    expect(() => txInnerHash({ ...h, version: 2 })).toThrow(RangeError);
  });

  it('matches immudb-node getAlh where its JS numbers can hold the values (no negative ts, ids < 2^53)', () => {
    for (const v of vectors.alh.slice(0, 1)) expect(toHex(immuNode.util.getAlh(immuTxMetadata(v.header)))).toBe(v.alh);
    for (const t of vectors.store.txs) expect(toHex(immuNode.util.getAlh(immuTxMetadata(t.header)))).toBe(t.alh);
  });

  it('is Alh = sha256(id ‖ prevAlh ‖ innerHash) with innerHash as immudb stores it', () => {
    for (const t of vectors.store.txs) {
      const h = txHeaderFromJson(t.header);
      expect(toHex(txInnerHash(h))).toBe(t.innerHash);
      const idBytes = Buffer.alloc(8);
      idBytes.writeBigUInt64BE(h.id);
      expect(toHex(sha256(idBytes, h.prevAlh, hex(t.innerHash)))).toBe(t.alh);
    }
  });

  it('chains: tx 1 starts from sha256("") and each prevAlh is the previous Alh', () => {
    const txs = vectors.store.txs;
    expect(txs[0]!.header.prevAlh).toBe(toHex(GENESIS_PREV_ALH));
    expect(toHex(GENESIS_PREV_ALH)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    for (let i = 1; i < txs.length; i++) expect(txs[i]!.header.prevAlh).toBe(txs[i - 1]!.alh);
  });

  it('changes with every header field', () => {
    const base = txHeaderFromJson(vectors.store.txs[10]!.header);
    const flip = (b: Buffer) => Buffer.from(b.map((x, i) => (i === b.length - 1 ? x ^ 1 : x)));
    const extra = Buffer.from('01000a61756469746772617068', 'hex');
    for (const b of [base, { ...base, version: 1 }, { ...base, version: 1, metadata: extra }]) {
      const alh = txAlh(b);
      const variants = [
        { ...b, id: b.id + 1n },
        { ...b, prevAlh: flip(b.prevAlh) },
        { ...b, ts: b.ts + 1n },
        { ...b, version: 1 - b.version, metadata: EMPTY },
        { ...b, nEntries: b.nEntries + 1 },
        { ...b, eH: flip(b.eH) },
        { ...b, blTxId: b.blTxId + 1n },
        { ...b, blRoot: flip(b.blRoot) },
      ];
      if (b.version === 1) variants.push({ ...b, metadata: b.metadata.length ? flip(b.metadata) : extra });
      for (const h of variants) expect(txAlh(h).equals(alh)).toBe(false);
    }
  });

  it('rejects malformed JSON headers', () => {
    const h = vectors.store.txs[0]!.header;
    expect(() => txHeaderFromJson({ ...h, id: '01' })).toThrow(/id/);
    expect(() => txHeaderFromJson({ ...h, nEntries: 0 })).toThrow(/nEntries/);
    expect(() => txHeaderFromJson({ ...h, eH: h.eH.toUpperCase() })).toThrow(/eH/);
    expect(() => txHeaderFromJson({ ...h, ts: '1.5' })).toThrow(/ts/);
  });
});

describe('htree (per-tx Merkle tree)', () => {
  it.each(vectors.htree)('width $width: root and every inclusion proof match immudb', (v) => {
    const digests = v.digests.map(hex);
    const t = HTree.build(digests);
    expect(t.width).toBe(v.width);
    expect(toHex(t.root)).toBe(v.root);
    for (let i = 0; i < v.width; i++) {
      const terms = t.inclusionProof(i);
      expect(terms.map(toHex)).toEqual(v.proofs[i]);
      expect(htreeProofLength(i, v.width)).toBe(terms.length);
      expect(verifyHTreeInclusion(terms, i, v.width, digests[i]!, t.root)).toBe(true);
    }
  });

  it.each(vectors.htree)('width $width: immudb-node computes the same root and accepts our proofs', (v) => {
    const digests = v.digests.map(hex);
    const theirs = new immuNode.HTree(v.width);
    theirs.buildWith(digests.map((d) => new Uint8Array(d)));
    expect(toHex(theirs.root)).toBe(v.root);
    for (let i = 0; i < v.width; i++) {
      expect(immuNode.verification.verifyInclusion(immuInclusionProof(i, v.width, v.proofs[i]!), digests[i]!, hex(v.root))).toBe(true);
    }
  });

  it('entry proofs of the immudb store txs match and reach eH', () => {
    for (const t of vectors.store.txs) {
      const digests = t.entries.map((e) => entryDigest(b64(e.key), b64(e.value)));
      const tree = HTree.build(digests);
      expect(toHex(tree.root)).toBe(t.header.eH);
      for (const i of t.entries.keys()) expect(tree.inclusionProof(i).map(toHex)).toEqual(t.proofs[i]);
      for (const i of t.entries.keys()) expect(tree.inclusionProofHex(i)).toEqual(t.proofs[i]);
    }
  });

  it('inclusionProofHex is inclusionProof in hex for every leaf of every width up to 100, asked in any order', () => {
    for (let width = 1; width <= 100; width++) {
      const tree = HTree.build(Array.from({ length: width }, (_, i) => sha256(Buffer.from([i, width]))));
      const plain = Array.from({ length: width }, (_, i) => tree.inclusionProof(i).map(toHex));
      // Backwards, so cached upper terms are reused by leaves on the other side of the tree.
      for (let i = width - 1; i >= 0; i--) expect(tree.inclusionProofHex(i)).toEqual(plain[i]);
    }
  });

  it('rejects tampered proofs: each term, leaf, width, a missing or an extra term', () => {
    const v = vectors.htree.find((x) => x.width === 13)!;
    const digests = v.digests.map(hex);
    const root = hex(v.root);
    for (let i = 0; i < v.width; i++) {
      const terms = v.proofs[i]!.map(hex);
      expect(verifyHTreeInclusion(terms, i, v.width, digests[i]!, root)).toBe(true);
      for (let k = 0; k < terms.length; k++) {
        const bad = terms.map((t, j) => (j === k ? sha256(t) : t));
        expect(verifyHTreeInclusion(bad, i, v.width, digests[i]!, root)).toBe(false);
      }
      expect(verifyHTreeInclusion(terms, (i + 1) % v.width, v.width, digests[i]!, root)).toBe(false);
      // (A wrong width can keep the same shape for leaves of the left perfect subtree; the
      // verifier binds width to tx.nEntries, which the Alh covers.)
      expect(verifyHTreeInclusion(terms, i, v.width - 1, digests[i]!, root)).toBe(i < 8);
      expect(verifyHTreeInclusion(terms.slice(1), i, v.width, digests[i]!, root)).toBe(false);
      expect(verifyHTreeInclusion([...terms, root], i, v.width, digests[i]!, root)).toBe(false);
      expect(verifyHTreeInclusion(terms, i, v.width, digests[(i + 1) % v.width]!, root)).toBe(false);
    }
  });

  it('packed digests and an injected hash (sha256.mjs, as the immudb ledger builds) give the very same tree, widths 1..150', () => {
    const { hashInto } = createSha256();
    for (let width = 1; width <= 150; width++) {
      const digests = Array.from({ length: width }, (_, i) => sha256(Buffer.from([i, width, 7])));
      const plain = HTree.build(digests);
      const packed = HTree.build(Buffer.concat(digests), hashInto);
      expect([packed.width, toHex(packed.root)]).toEqual([width, toHex(plain.root)]);
      for (let i = 0; i < width; i++) {
        expect(packed.inclusionProof(i)).toEqual(plain.inclusionProof(i));
        expect(packed.inclusionProofHex(i)).toEqual(plain.inclusionProofHex(i));
      }
    }
    // The injected hash is the one used, for leaves and inner nodes alike: one that is wrong only
    // for inner nodes (65-byte inputs) gives another root.
    const wrongInner = (src: Uint8Array, start: number, end: number, out: Uint8Array, at: number) =>
      hashInto(src, start, end - start === 65 ? end - 1 : end, out, at);
    const two = [sha256(Buffer.from('a')), sha256(Buffer.from('b'))];
    expect(HTree.build(two, wrongInner).root.equals(HTree.build(two).root)).toBe(false);
    expect(HTree.build(two.slice(0, 1), wrongInner).root.equals(HTree.build(two.slice(0, 1)).root)).toBe(true);
  });

  it('txEntryTree: the tree of a tx from its entries as immudb lists them (prefixed key, value hash) has the tx eH as root', () => {
    const { hashInto } = createSha256();
    for (const t of vectors.store.txs) {
      const entries = t.entries.map((e) => ({ key: Buffer.concat([Buffer.from([0]), b64(e.key)]), hValue: storedValueHash(b64(e.value)) }));
      // immudb 1.1 txs are v0; the same entries hashed as a v1 tx give another root.
      for (const tree of [txEntryTree(entries, 0), txEntryTree(entries, 0, hashInto)]) {
        expect(toHex(tree.root)).toBe(t.header.eH);
        for (const i of t.entries.keys()) expect(tree.inclusionProofHex(i)).toEqual(t.proofs[i]);
      }
      expect(toHex(txEntryTree(entries, 1).root)).not.toBe(t.header.eH);
    }
    expect(() => txEntryTree([{ key: Buffer.of(0, 1), hValue: sha256(), metadata: Buffer.of(2) }], 0)).toThrow(RangeError);
    expect(() => txEntryTree([{ key: Buffer.of(0, 1), hValue: sha256() }], 2)).toThrow(RangeError);
  });

  it('rejects bad arguments', () => {
    expect(() => HTree.build([])).toThrow();
    expect(() => HTree.build(Buffer.alloc(0))).toThrow();
    expect(() => HTree.build(Buffer.alloc(33))).toThrow();
    expect(() => HTree.build([Buffer.alloc(31)])).toThrow();
    expect(() => HTree.build([Buffer.alloc(32)]).inclusionProof(1)).toThrow();
    expect(htreeProofLength(3, 3)).toBe(-1);
    expect(htreeProofLength(0, 1)).toBe(0);
  });
});

describe('state signature payload', () => {
  it('is immudb ImmutableState.ToBytes', () => {
    for (const d of vectors.store.dualProofs.slice(0, 10)) {
      const target = vectors.store.txs[d.target - 1]!;
      expect(toHex(stateSignaturePayload(d.signature.database, BigInt(d.target), hex(target.alh)))).toBe(d.signature.payload);
    }
  });
});

describe('strict codecs', () => {
  it('hashes: exactly 64 lowercase hex chars', () => {
    const h = 'ab'.repeat(32);
    expect(parseHash(h)?.length).toBe(32);
    for (const bad of [h.toUpperCase(), h.slice(1), `${h}0`, ` ${h.slice(1)}`, `0x${h.slice(2)}`, 'g'.repeat(64), 42, null, undefined]) {
      expect(parseHash(bad)).toBeUndefined();
    }
  });

  it('base64: standard alphabet, padded, canonical', () => {
    expect(parseBase64('')?.length).toBe(0);
    expect(parseBase64('QQ==')?.toString()).toBe('A');
    expect(parseBase64('QUI=')?.toString()).toBe('AB');
    expect(parseBase64('+/+/')?.length).toBe(3);
    for (const bad of ['QQ', 'QQ=', 'QR==', 'QUJ=', 'Q Q==', 'QQ==\n', '-_-_', 'QQ==QQ==', '====', 'Q===', 7]) {
      expect(parseBase64(bad), String(bad)).toBeUndefined();
    }
  });

  it('uint64 / int64: canonical decimal strings, full 64-bit range, no precision loss', () => {
    expect(parseUint64('0')).toBe(0n);
    expect(parseUint64('18446744073709551615')).toBe(18446744073709551615n);
    expect(parseUint64('9007199254740993')).toBe(9007199254740993n);
    for (const bad of ['18446744073709551616', '-1', '01', '+1', ' 1', '1 ', '1e3', '1.0', '', '0x10', 1, 1n]) {
      expect(parseUint64(bad), String(bad)).toBeUndefined();
    }
    expect(parseInt64('-9223372036854775808')).toBe(-9223372036854775808n);
    expect(parseInt64('9223372036854775807')).toBe(9223372036854775807n);
    for (const bad of ['9223372036854775808', '-9223372036854775809', '-0', '-01', '00']) {
      expect(parseInt64(bad), bad).toBeUndefined();
    }
  });
});
