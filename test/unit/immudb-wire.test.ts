/**
 * The hand-written protobuf codec of TxScan, GetAll, ExecAll and VerifiableTxById against immudb-node's generated
 * google-protobuf classes: whatever the generated code encodes, wire.ts decodes to the same
 * values, and what wire.ts encodes, the generated code decodes to the request meant.
 */
import { describe, expect, it } from 'vitest';
import { pb } from '../../src/ledger/immudb/grpc.ts';
import {
  decodeEntries,
  decodeTxList,
  decodeTxMetadata,
  decodeVerifiableTx,
  encodeExecAllRequest,
  encodeKeyListRequest,
  encodeTxScanRequest,
  encodeVerifiableTxRequest,
  MalformedReply,
  varintBytes,
  type WireTxHeader,
} from '../../src/ledger/immudb/wire.ts';
import { checkProvenHeader } from '../../src/ledger/immudb/immudb-ledger.ts';
import { codeOf } from '../support/error-code.ts';
import { prng } from './_random.ts';

const bytes = (rand: () => number, max: number) => Buffer.from(Array.from({ length: Math.floor(rand() * (max + 1)) }, () => Math.floor(rand() * 256)));
// Ids and times across the varint widths, up to 2^53 − 1.
const bigNumber = (rand: () => number) => Math.floor(rand() * 2 ** Math.floor(rand() * 54));

/** google-protobuf's TxMetadata of a header. */
function pbHeader(h: WireTxHeader) {
  const md = new pb.TxMetadata();
  md.setId(h.id);
  md.setPrevalh(h.prevAlh);
  md.setTs(h.ts);
  md.setNentries(h.nEntries);
  md.setEh(h.eH);
  md.setBltxid(h.blTxId);
  md.setBlroot(h.blRoot);
  return md;
}

/** google-protobuf's Tx of a header and entries (vOff: immudb-node's stubs carry it, immudb 1.1 does not). */
function pbTx(md: unknown, entries: readonly { key: Buffer; hValue: Buffer; vOff: number; vLen: number }[]) {
  const tx = new pb.Tx();
  tx.setMetadata(md);
  for (const e of entries) {
    const te = new pb.TxEntry();
    te.setKey(e.key);
    te.setHvalue(e.hValue);
    te.setVoff(e.vOff);
    te.setVlen(e.vLen);
    tx.addEntries(te);
  }
  return tx;
}

function randomTxList(rand: () => number) {
  const txs = Array.from({ length: Math.floor(rand() * 5) }, () => ({
    id: bigNumber(rand),
    ts: bigNumber(rand),
    prevAlh: bytes(rand, 32),
    eh: bytes(rand, 32),
    entries: Array.from({ length: Math.floor(rand() * 6) }, () => ({ key: bytes(rand, 300), hValue: bytes(rand, 32), vOff: bigNumber(rand), vLen: Math.floor(rand() * 70000) })),
  }));
  const list = new pb.TxList();
  for (const t of txs) {
    const md = pbHeader({ id: t.id, prevAlh: t.prevAlh, ts: t.ts, nEntries: t.entries.length, eH: t.eh, blTxId: t.id > 0 ? t.id - 1 : 0, blRoot: t.eh });
    list.addTxs(pbTx(md, t.entries));
  }
  return { txs, encoded: Buffer.from(list.serializeBinary()) };
}

function randomEntries(rand: () => number) {
  const entries = Array.from({ length: Math.floor(rand() * 8) }, () => ({ tx: bigNumber(rand), key: bytes(rand, 300), value: bytes(rand, 600), ref: rand() < 0.3 }));
  const list = new pb.Entries();
  for (const e of entries) {
    const entry = new pb.Entry();
    entry.setTx(e.tx);
    entry.setKey(e.key);
    entry.setValue(e.value);
    if (e.ref) {
      const r = new pb.Reference();
      r.setTx(e.tx + 1);
      r.setKey(e.key);
      r.setAttx(e.tx);
      entry.setReferencedby(r);
    }
    list.addEntries(entry);
  }
  return { entries, encoded: Buffer.from(list.serializeBinary()) };
}

function randomHeader(rand: () => number) {
  const h: WireTxHeader = {
    id: bigNumber(rand),
    prevAlh: bytes(rand, 32),
    ts: bigNumber(rand),
    nEntries: Math.floor(rand() * 2 ** 31),
    eH: bytes(rand, 32),
    blTxId: bigNumber(rand),
    blRoot: bytes(rand, 32),
  };
  return { h, md: pbHeader(h) };
}

const hashes = (rand: () => number) => Array.from({ length: Math.floor(rand() * 6) }, () => bytes(rand, 32));

function randomVerifiableTx(rand: () => number) {
  const header = randomHeader(rand);
  const entries = Array.from({ length: Math.floor(rand() * 6) }, () => ({ key: bytes(rand, 300), hValue: bytes(rand, 32), vLen: Math.floor(rand() * 70000) }));
  const source = randomHeader(rand);
  const target = randomHeader(rand);
  const dualProof = {
    sourceTx: source.h,
    targetTx: target.h,
    inclusionProof: hashes(rand),
    consistencyProof: hashes(rand),
    targetBlTxAlh: bytes(rand, 32),
    lastInclusionProof: hashes(rand),
    linearProof: { sourceTxId: bigNumber(rand), targetTxId: bigNumber(rand), terms: hashes(rand) },
  };
  const signature = rand() < 0.5 ? null : { publicKey: bytes(rand, 65), signature: bytes(rand, 72) };
  const tx = pbTx(
    header.md,
    entries.map((e) => ({ ...e, vOff: bigNumber(rand) })),
  );
  const dp = new pb.DualProof();
  dp.setSourcetxmetadata(source.md);
  dp.setTargettxmetadata(target.md);
  dp.setInclusionproofList(dualProof.inclusionProof);
  dp.setConsistencyproofList(dualProof.consistencyProof);
  dp.setTargetbltxalh(dualProof.targetBlTxAlh);
  dp.setLastinclusionproofList(dualProof.lastInclusionProof);
  const lp = new pb.LinearProof();
  lp.setSourcetxid(dualProof.linearProof.sourceTxId);
  lp.setTargettxid(dualProof.linearProof.targetTxId);
  lp.setTermsList(dualProof.linearProof.terms);
  dp.setLinearproof(lp);
  const vtx = new pb.VerifiableTx();
  vtx.setTx(tx);
  vtx.setDualproof(dp);
  if (signature) {
    const sig = new pb.Signature();
    sig.setPublickey(signature.publicKey);
    sig.setSignature(signature.signature);
    vtx.setSignature(sig);
  }
  return { expected: { header: header.h, entries, dualProof, signature }, vtx, encoded: Buffer.from(vtx.serializeBinary()) };
}

describe('wire: decoding what google-protobuf encodes', () => {
  it('VerifiableTx: every header field, entry, proof term and the signature (400 random replies)', () => {
    const rand = prng(17);
    for (let i = 0; i < 400; i++) {
      const { expected, encoded } = randomVerifiableTx(rand);
      expect(decodeVerifiableTx(encoded)).toEqual(expected);
    }
  });

  it('TxMetadata (what ExecAll answers): every field (200 random headers)', () => {
    const rand = prng(18);
    for (let i = 0; i < 200; i++) {
      const { h, md } = randomHeader(rand);
      expect(decodeTxMetadata(Buffer.from(md.serializeBinary()))).toEqual(h);
    }
  });

  it('TxList: every tx id, time and entry key/hValue/vLen, in order (500 random lists)', () => {
    const rand = prng(11);
    for (let i = 0; i < 500; i++) {
      const { txs, encoded } = randomTxList(rand);
      expect(decodeTxList(encoded)).toEqual(txs.map((t) => ({ id: t.id, ts: t.ts, entries: t.entries.map((e) => ({ key: e.key, hValue: e.hValue, vLen: e.vLen })) })));
    }
  });

  it('Entries: every tx, key and value, in order, references skipped (300 random lists)', () => {
    const rand = prng(12);
    for (let i = 0; i < 300; i++) {
      const { entries, encoded } = randomEntries(rand);
      expect(decodeEntries(encoded)).toEqual(entries.map((e) => ({ tx: e.tx, key: e.key, value: e.value })));
    }
  });

  it('an empty reply is an empty list; an entry with an empty value decodes to an empty value', () => {
    expect(decodeTxList(Buffer.alloc(0))).toEqual([]);
    expect(decodeEntries(Buffer.alloc(0))).toEqual([]);
    const entry = new pb.Entry();
    entry.setTx(7);
    entry.setKey(Buffer.from('k'));
    const list = new pb.Entries();
    list.addEntries(entry);
    expect(decodeEntries(Buffer.from(list.serializeBinary()))).toEqual([{ tx: 7, key: Buffer.from('k'), value: Buffer.alloc(0) }]);
  });

  it('skips fields it does not know, of every wire type', () => {
    const { txs, encoded } = randomTxList(prng(13));
    // Unknown fields 15 (varint), 16 (fixed64), 17 (bytes) and 18 (fixed32) before the real ones.
    const unknown = Buffer.from([0x78, 0x96, 0x01, 0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x8a, 0x01, 2, 0xaa, 0xbb, 0x95, 0x01, 1, 2, 3, 4]);
    expect(decodeTxList(Buffer.concat([unknown, encoded]))).toEqual(decodeTxList(encoded));
    expect(decodeTxList(encoded)).toHaveLength(txs.length);
  });

  it('skips unknown fields inside nested messages too (TxMetadata, TxEntry, Entry)', () => {
    const unknown = [0x78, 0x05, 0x8a, 0x01, 0x01, 0xff]; // field 15 varint 5, field 17 bytes [0xff]
    const msg = (field: number, body: number[]) => [(field << 3) | 2, body.length, ...body];
    const metadata = msg(1, [...unknown, 0x08, 0x07, ...unknown, 0x18, 0x2a]); // id 7, ts 42
    const entry = msg(2, [...unknown, ...msg(1, [0x6b]), ...unknown, ...msg(2, [1, 2]), 0x20, 0x03]); // key "k", hValue, vLen 3
    expect(decodeTxList(Buffer.from(msg(1, [...metadata, ...unknown, ...entry])))).toEqual([{ id: 7, ts: 42, entries: [{ key: Buffer.from('k'), hValue: Buffer.from([1, 2]), vLen: 3 }] }]);
    const e = msg(1, [...unknown, 0x08, 0x09, ...msg(2, [0x6b]), ...unknown, ...msg(3, [0x76]), ...unknown]);
    expect(decodeEntries(Buffer.from([...unknown, ...e]))).toEqual([{ tx: 9, key: Buffer.from('k'), value: Buffer.from('v') }]);
  });
});

describe('wire: unknown fields in a VerifiableTx', () => {
  it('are skipped in every message of it: VerifiableTx, Tx, TxMetadata, TxEntry, DualProof, LinearProof, Signature', () => {
    const unknown = [0x78, 0x05, 0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x8a, 0x01, 0x01, 0xff, 0x95, 0x01, 1, 2, 3, 4]; // fields 15–18, every wire type
    const msg = (field: number, body: number[]) => [(field << 3) | 2, ...varintBytes(body.length), ...body];
    const h = (b: number) => Array.from({ length: 32 }, () => b);
    const headerField = (field: number, id: number) =>
      msg(field, [...unknown, 0x08, id, ...msg(2, h(1)), 0x18, 0x2a, 0x20, 0x02, ...unknown, ...msg(5, h(2)), 0x30, id - 1, ...msg(7, h(3)), ...unknown]);
    const entry = msg(2, [...unknown, ...msg(1, [0x6b]), ...msg(2, h(4)), ...unknown, 0x20, 0x09]);
    const tx = msg(1, [...unknown, ...headerField(1, 7), ...unknown, ...entry, ...unknown]);
    const linear = msg(7, [...unknown, 0x08, 0x06, 0x10, 0x07, ...unknown, ...msg(3, h(5)), ...unknown]);
    const dual = msg(2, [...unknown, ...headerField(1, 6), ...headerField(2, 7), ...unknown, ...msg(3, h(6)), ...msg(4, h(7)), ...msg(5, h(8)), ...unknown, ...msg(6, h(9)), ...linear, ...unknown]);
    const sig = msg(3, [...unknown, ...msg(1, [0x04]), ...unknown, ...msg(2, [0x30]), ...unknown]);
    const hdr = (id: number) => ({ id, prevAlh: Buffer.from(h(1)), ts: 42, nEntries: 2, eH: Buffer.from(h(2)), blTxId: id - 1, blRoot: Buffer.from(h(3)) });
    expect(decodeVerifiableTx(Buffer.from([...unknown, ...tx, ...unknown, ...dual, ...unknown, ...sig, ...unknown]))).toEqual({
      header: hdr(7),
      entries: [{ key: Buffer.from('k'), hValue: Buffer.from(h(4)), vLen: 9 }],
      dualProof: {
        sourceTx: hdr(6),
        targetTx: hdr(7),
        inclusionProof: [Buffer.from(h(6))],
        consistencyProof: [Buffer.from(h(7))],
        targetBlTxAlh: Buffer.from(h(8)),
        lastInclusionProof: [Buffer.from(h(9))],
        linearProof: { sourceTxId: 6, targetTxId: 7, terms: [Buffer.from(h(5))] },
      },
      signature: { publicKey: Buffer.from([0x04]), signature: Buffer.from([0x30]) },
    });
  });
});

describe('wire: malformed replies', () => {
  it('every truncation of a reply either decodes to a prefix of it or throws MalformedReply', () => {
    const { encoded } = randomEntries(prng(14));
    const whole = decodeEntries(encoded);
    expect(whole.length).toBeGreaterThan(0);
    let thrown = 0;
    for (let n = 0; n < encoded.length; n++) {
      try {
        const part = decodeEntries(encoded.subarray(0, n));
        expect(whole.slice(0, part.length)).toEqual(part);
      } catch (e) {
        expect(e).toBeInstanceOf(MalformedReply);
        thrown++;
      }
    }
    expect(thrown).toBeGreaterThan(encoded.length / 2);
  });

  it('random bytes never throw anything but MalformedReply', () => {
    const rand = prng(15);
    for (let i = 0; i < 2000; i++) {
      const junk = bytes(rand, 64);
      for (const decode of [decodeTxList, decodeEntries, decodeVerifiableTx, decodeTxMetadata]) {
        try {
          decode(junk);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedReply);
        }
      }
    }
  });

  it('a VerifiableTx that lacks a part of its proof is refused, whatever else it holds', () => {
    const without = (strip: (vtx: ReturnType<typeof randomVerifiableTx>['vtx']) => void) => {
      const { vtx } = randomVerifiableTx(prng(19));
      strip(vtx);
      return Buffer.from(vtx.serializeBinary());
    };
    expect(() => decodeVerifiableTx(without((v) => v.clearTx()))).toThrow(/without its tx/);
    expect(() => decodeVerifiableTx(without((v) => v.getTx().clearMetadata()))).toThrow(/without metadata/);
    expect(() => decodeVerifiableTx(without((v) => v.clearDualproof()))).toThrow(/without a dual proof/);
    expect(() => decodeVerifiableTx(without((v) => v.getDualproof().clearSourcetxmetadata()))).toThrow(/source or target header/);
    expect(() => decodeVerifiableTx(without((v) => v.getDualproof().clearTargettxmetadata()))).toThrow(/source or target header/);
    expect(() => decodeVerifiableTx(without((v) => v.getDualproof().clearLinearproof()))).toThrow(/without a linear proof/);
    expect(() => decodeVerifiableTx(Buffer.alloc(0))).toThrow(MalformedReply);
    // A negative int64 ts is a 10-byte varint: beyond 2^53.
    const md = new pb.TxMetadata();
    md.setTs(-1);
    expect(() => decodeTxMetadata(Buffer.from(md.serializeBinary()))).toThrow(/varint|2\^53/);
  });

  it('every truncation of a VerifiableTx throws MalformedReply or decodes to something else than the whole (20 replies, signed or not)', () => {
    const rand = prng(20);
    const signed = new Set<boolean>();
    for (let k = 0; k < 20; k++) {
      const { expected, encoded } = randomVerifiableTx(rand);
      signed.add(expected.signature !== null);
      for (let n = 0; n < encoded.length; n++) {
        try {
          expect(decodeVerifiableTx(encoded.subarray(0, n))).not.toEqual(expected);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedReply);
        }
      }
    }
    expect(signed).toEqual(new Set([true, false]));
  });

  it('names what is wrong: a length past the end, a tx without metadata, an id beyond 2^53', () => {
    expect(() => decodeEntries(Buffer.from([0x0a, 0x05, 0x08]))).toThrow(/runs past/);
    expect(() => decodeTxList(Buffer.from([0x0a, 0x00]))).toThrow(/without metadata/);
    // Field number 0, and a tag beyond 32 bits that would wrap to field 1 (0x0a) when shifted.
    expect(() => decodeEntries(Buffer.from([0x02, 0x00]))).toThrow(/invalid field tag/);
    expect(() => decodeEntries(Buffer.from([0x8a, 0x80, 0x80, 0x80, 0x20, 0x00]))).toThrow(/invalid field tag/);
    const md = new pb.TxMetadata();
    md.setId('18014398509481984'); // 2^54
    const tx = new pb.Tx();
    tx.setMetadata(md);
    const list = new pb.TxList();
    list.addTxs(tx);
    expect(() => decodeTxList(Buffer.from(list.serializeBinary()))).toThrow(/beyond 2\^53/);
  });
});

describe('wire: requests google-protobuf reads back', () => {
  it('TxScanRequest', () => {
    for (const [initialTx, limit] of [[1, 1], [127, 128], [2 ** 40 + 3, 1000]] as const) {
      const req = pb.TxScanRequest.deserializeBinary(encodeTxScanRequest(initialTx, limit));
      expect([req.getInitialtx(), req.getLimit(), req.getDesc()]).toEqual([initialTx, limit, false]);
    }
  });

  it('VerifiableTxRequest', () => {
    for (const [tx, since] of [[1, 1], [300, 7], [2 ** 40 + 3, 2 ** 33]] as const) {
      const req = pb.VerifiableTxRequest.deserializeBinary(encodeVerifiableTxRequest(tx, since));
      expect([req.getTx(), req.getProvesincetx()]).toEqual([tx, since]);
    }
  });

  it('ExecAllRequest: per event its timeline entry, then an unbound reference to it from its id key (200 random batches)', () => {
    const rand = prng(21);
    for (let i = 0; i < 200; i++) {
      // Values up to 70 KB: lengths across the varint widths.
      const events = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => ({ key: bytes(rand, 300), value: bytes(rand, rand() < 0.2 ? 70_000 : 600), idKey: bytes(rand, 60) }));
      const req = pb.ExecAllRequest.deserializeBinary(encodeExecAllRequest(events));
      expect(req.getNowait()).toBe(false);
      const ops = req.getOperationsList();
      expect(ops).toHaveLength(2 * events.length);
      events.forEach((e, j) => {
        const kvOp = ops[2 * j];
        const refOp = ops[2 * j + 1];
        expect([kvOp.hasKv(), kvOp.hasRef(), kvOp.hasZadd()]).toEqual([true, false, false]);
        // equals(), not toEqual(): vitest compares 70 KB buffers byte by byte as objects, slowly.
        expect(e.key.equals(kvOp.getKv().getKey_asU8())).toBe(true);
        expect(e.value.equals(kvOp.getKv().getValue_asU8())).toBe(true);
        expect([refOp.hasKv(), refOp.hasRef(), refOp.hasZadd()]).toEqual([false, true, false]);
        const ref = refOp.getRef();
        expect(e.idKey.equals(ref.getKey_asU8())).toBe(true);
        expect(e.key.equals(ref.getReferencedkey_asU8())).toBe(true);
        expect([ref.getAttx(), ref.getBoundref(), ref.getNowait()]).toEqual([0, false, false]);
      });
    }
  });

  it('KeyListRequest: every key byte for byte, in order, and sinceTx', () => {
    const rand = prng(16);
    for (let i = 0; i < 200; i++) {
      const keys = Array.from({ length: Math.floor(rand() * 10) }, () => bytes(rand, 400));
      const sinceTx = bigNumber(rand);
      const req = pb.KeyListRequest.deserializeBinary(encodeKeyListRequest(keys, sinceTx));
      expect(req.getKeysList_asU8().map((k: Uint8Array) => Buffer.from(k))).toEqual(keys);
      expect(req.getSincetx()).toBe(sinceTx);
    }
  });
});

describe('a proven tx header the immudb ledger accepts', () => {
  const ok = { id: 9, prevAlh: Buffer.alloc(32, 1), ts: 1_764_000_000, nEntries: 200, eH: Buffer.alloc(32, 2), blTxId: 8, blRoot: Buffer.alloc(32, 3) };

  it('is one immudb 1.1 commits: 32-byte hashes, an int32 entry count, a time a Date can hold', () => {
    expect(codeOf(() => checkProvenHeader(ok))).toBe('ok');
    expect(codeOf(() => checkProvenHeader({ ...ok, nEntries: 0x7fffffff, ts: 8.64e12 }))).toBe('ok');
  });

  it('anything else is VERIFICATION_FAILED, never a crash further on', () => {
    for (const bad of [
      { prevAlh: Buffer.alloc(31) },
      { eH: Buffer.alloc(0) },
      { blRoot: Buffer.alloc(33) },
      { nEntries: 2 ** 31 },
      { nEntries: 2 ** 32 },
      { ts: 8.64e12 + 1 },
    ]) {
      expect(codeOf(() => checkProvenHeader({ ...ok, ...bad }))).toBe('VERIFICATION_FAILED');
    }
  });
});
