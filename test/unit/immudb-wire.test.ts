/**
 * The hand-written protobuf codec of TxScan and GetAll against immudb-node's generated
 * google-protobuf classes: whatever the generated code encodes, wire.ts decodes to the same
 * values, and what wire.ts encodes, the generated code decodes to the request meant.
 */
import { describe, expect, it } from 'vitest';
import { pb } from '../../src/ledger/immudb/grpc.ts';
import { decodeEntries, decodeTxList, encodeKeyListRequest, encodeTxScanRequest, MalformedReply } from '../../src/ledger/immudb/wire.ts';
import { prng } from './_random.ts';

const bytes = (rand: () => number, max: number) => Buffer.from(Array.from({ length: Math.floor(rand() * (max + 1)) }, () => Math.floor(rand() * 256)));
// Ids and times across the varint widths, up to 2^53 − 1.
const bigNumber = (rand: () => number) => Math.floor(rand() * 2 ** Math.floor(rand() * 54));

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
    const md = new pb.TxMetadata();
    md.setId(t.id);
    md.setPrevalh(t.prevAlh);
    md.setTs(t.ts);
    md.setNentries(t.entries.length);
    md.setEh(t.eh);
    md.setBltxid(t.id > 0 ? t.id - 1 : 0);
    md.setBlroot(t.eh);
    const tx = new pb.Tx();
    tx.setMetadata(md);
    for (const e of t.entries) {
      const te = new pb.TxEntry();
      te.setKey(e.key);
      te.setHvalue(e.hValue);
      te.setVoff(e.vOff);
      te.setVlen(e.vLen);
      tx.addEntries(te);
    }
    list.addTxs(tx);
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

describe('wire: decoding what google-protobuf encodes', () => {
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
      for (const decode of [decodeTxList, decodeEntries]) {
        try {
          decode(junk);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedReply);
        }
      }
    }
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
