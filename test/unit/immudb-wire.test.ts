/**
 * The hand-written protobuf codec of TxScan, GetAll, ExecAll and VerifiableTxById against
 * protobufjs encoding immudb 1.10/1.11's messages (test/support/immudb-schema.ts): whatever the
 * library encodes, wire-decode.ts decodes to the same values, header and KV metadata to the bytes
 * immudb 1.11.1 hashes (its vectors), and what wire-encode.ts encodes, the library decodes to the request meant.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MalformedReply, varintBytes } from '../../src/ledger/immudb/protobuf.ts';
import {
  decodeEntries,
  decodeTxList,
  decodeTxMetadata,
  decodeVerifiableTx,
  type WireEntry,
  type WireTxEntry,
  type WireTxHeader,
} from '../../src/ledger/immudb/wire-decode.ts';
import {
  encodeExecAllRequest,
  encodeKeyListRequest,
  encodeScanRequest,
  encodeTxScanRequest,
  encodeVerifiableTxHeaderRequest,
  encodeVerifiableTxRequest,
} from '../../src/ledger/immudb/wire-encode.ts';
import { checkProvenHeader } from '../../src/ledger/immudb/proven-tx.ts';
import { codeOf } from '../support/error-code.ts';
import { decode, encode, FUTURE_FIELDS, immudbSchema, reencode } from '../support/immudb-schema.ts';
import { prng } from './_random.ts';

type Msg = Record<string, unknown>;

interface KvMetadataCase {
  deleted: boolean;
  expiresAt: string | null;
  nonIndexable: boolean;
  bytes: string;
}
interface TxMetadataCase {
  truncatedTxId: string;
  extra: string;
  bytes: string;
}
const vectors = JSON.parse(readFileSync(new URL('../fixtures/immudb-v1.11.1/vectors.json', import.meta.url), 'utf8')) as {
  kvMetadata: KvMetadataCase[];
  txMetadata: TxMetadataCase[];
};

const immudb = immudbSchema();
// The same messages plus a field of each wire type in every one: what a later immudb may send.
const later = immudbSchema({ future: true });

const EMPTY = Buffer.alloc(0);
const hex = (h: string) => Buffer.from(h, 'hex');
const bytes = (rand: () => number, max: number) => Buffer.from(Array.from({ length: Math.floor(rand() * (max + 1)) }, () => Math.floor(rand() * 256)));
// Ids and times across the varint widths, up to 2^53 − 1.
const bigNumber = (rand: () => number) => Math.floor(rand() * 2 ** Math.floor(rand() * 54));
// Non-negative int32s across the varint widths.
const int32 = (rand: () => number) => Math.floor(rand() * 2 ** Math.floor(rand() * 32));
const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const hashes = (rand: () => number) => Array.from({ length: Math.floor(rand() * 6) }, () => bytes(rand, 32));

/** Half the time, a value for each of `later`'s extra fields. */
const future = (rand: () => number): Msg =>
  rand() < 0.5 ? {} : { future15: bigNumber(rand), future2047: bigNumber(rand), future2048: bytes(rand, 40), future536870911: Math.floor(rand() * 2 ** 32) };

/** `message` without later fields at its top (nested ones stay): a reply cut just before those would decode whole. */
const withoutTrailingUnknown = (message: Msg): Msg => ({ ...message, ...Object.fromEntries(FUTURE_FIELDS.map((f) => [f.name, null])) });

const inSafeRange = (n: string | null) => n === null || (BigInt(n) >= 0n && BigInt(n) <= BigInt(Number.MAX_SAFE_INTEGER));
// Vector cases whose 64-bit numbers wire-decode.ts can read (the others: the it.fails in the vector tests).
const kvCases = vectors.kvMetadata.filter((c) => inSafeRange(c.expiresAt));
const txCases = vectors.txMetadata.filter((c) => inSafeRange(c.truncatedTxId));

/**
 * `m` as immudb's Go code puts it on the wire, proto3 leaving zeros, false and empty bytes out; or,
 * when `explicit`, with them written, as protobufjs writes what it is given. Readers take both.
 */
const zeros = (m: Msg, explicit: boolean): Msg =>
  explicit ? m : Object.fromEntries(Object.entries(m).filter(([, v]) => !(v === 0 || v === '0' || v === false || (Buffer.isBuffer(v) && v.length === 0))));

const kvMetadataMsg = (c: KvMetadataCase, rand: () => number, explicit = rand() < 0.5): Msg => ({
  ...zeros({ deleted: c.deleted, nonIndexable: c.nonIndexable }, explicit),
  // An expiration at 0 is an empty Expiration from Go: present all the same.
  ...(c.expiresAt !== null && { expiration: { ...zeros({ expiresAt: c.expiresAt }, explicit), ...future(rand) } }),
  ...future(rand),
});
const txMetadataMsg = (c: TxMetadataCase, rand: () => number, explicit = rand() < 0.5): Msg => ({
  ...zeros({ truncatedTxID: c.truncatedTxId, extra: hex(c.extra) }, explicit),
  ...future(rand),
});

function randomHeader(rand: () => number) {
  const md = rand() < 0.5 ? null : pick(rand, txCases);
  const h: WireTxHeader = {
    id: bigNumber(rand),
    prevAlh: bytes(rand, 32),
    ts: bigNumber(rand),
    // Mostly the versions immudb writes; the decoder takes any (checkProvenHeader judges them).
    version: rand() < 0.8 ? Math.floor(rand() * 2) : int32(rand),
    metadata: md ? hex(md.bytes) : EMPTY,
    nEntries: int32(rand),
    eH: bytes(rand, 32),
    blTxId: bigNumber(rand),
    blRoot: bytes(rand, 32),
  };
  const { id, prevAlh, ts, version, nEntries: nentries, eH, blTxId, blRoot } = h;
  const message: Msg = {
    ...zeros({ id, prevAlh, ts, nentries, eH, blTxId, blRoot, version }, rand() < 0.5),
    ...(md && { metadata: txMetadataMsg(md, rand) }),
    ...future(rand),
  };
  return { h, message };
}

function randomTxEntry(rand: () => number) {
  const md = rand() < 0.5 ? null : pick(rand, kvCases);
  const e: WireTxEntry = { key: bytes(rand, 300), hValue: bytes(rand, 32), vLen: int32(rand), metadata: md ? hex(md.bytes) : EMPTY };
  const message: Msg = {
    ...zeros({ key: e.key, hValue: e.hValue, vLen: e.vLen }, rand() < 0.5),
    ...(md && { metadata: kvMetadataMsg(md, rand) }),
    ...(rand() < 0.3 && { value: bytes(rand, 600) }), // what an entriesSpec asks for: skipped
    ...future(rand),
  };
  return { e, message };
}

/** An Entry with every field 1.11 has: wire-decode.ts reads tx, key and value and skips the rest (any KV metadata, even one it could not read). */
function randomEntry(rand: () => number) {
  const e: WireEntry = { tx: bigNumber(rand), key: bytes(rand, 300), value: bytes(rand, 600) };
  const message: Msg = {
    ...e,
    ...(rand() < 0.3 && {
      referencedBy: {
        tx: bigNumber(rand),
        key: bytes(rand, 60),
        atTx: bigNumber(rand),
        ...(rand() < 0.5 && { metadata: kvMetadataMsg(pick(rand, vectors.kvMetadata), rand) }),
        revision: bigNumber(rand),
        ...future(rand),
      },
    }),
    ...(rand() < 0.3 && { metadata: kvMetadataMsg(pick(rand, vectors.kvMetadata), rand) }),
    expired: rand() < 0.3,
    revision: bigNumber(rand),
    ...future(rand),
  };
  return { e, message };
}

/** A Tx: its header and entries, and (skipped) the resolved entries an entriesSpec asks for. */
function randomTx(rand: () => number) {
  const header = randomHeader(rand);
  const entries = Array.from({ length: Math.floor(rand() * 6) }, () => randomTxEntry(rand));
  const message: Msg = {
    header: header.message,
    entries: entries.map((e) => e.message),
    kvEntries: Array.from({ length: rand() < 0.7 ? 0 : 2 }, () => randomEntry(rand).message),
    zEntries: Array.from({ length: rand() < 0.7 ? 0 : 1 }, () => ({
      set: bytes(rand, 10),
      key: bytes(rand, 10),
      entry: randomEntry(rand).message,
      score: rand() * 1e9,
      atTx: bigNumber(rand),
      ...future(rand),
    })),
    ...future(rand),
  };
  return { header: header.h, entries: entries.map((e) => e.e), message };
}

function randomTxList(rand: () => number) {
  const txs = Array.from({ length: Math.floor(rand() * 5) }, () => randomTx(rand));
  const message = { txs: txs.map((t) => t.message), ...future(rand) };
  return { expected: txs.map((t) => ({ id: t.header.id, ts: t.header.ts, entries: t.entries })), message, encoded: encode(later, 'TxList', message) };
}

function randomEntries(rand: () => number) {
  const entries = Array.from({ length: Math.floor(rand() * 8) }, () => randomEntry(rand));
  const message = { entries: entries.map((e) => e.message), ...future(rand) };
  return { expected: entries.map((e) => e.e), message, encoded: encode(later, 'Entries', message) };
}

function randomVerifiableTx(rand: () => number) {
  const tx = randomTx(rand);
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
  const message: Msg = {
    tx: tx.message,
    dualProof: {
      sourceTxHeader: source.message,
      targetTxHeader: target.message,
      inclusionProof: dualProof.inclusionProof,
      consistencyProof: dualProof.consistencyProof,
      targetBlTxAlh: dualProof.targetBlTxAlh,
      lastInclusionProof: dualProof.lastInclusionProof,
      linearProof: {
        sourceTxId: dualProof.linearProof.sourceTxId,
        TargetTxId: dualProof.linearProof.targetTxId,
        terms: dualProof.linearProof.terms,
        ...future(rand),
      },
      // Not read: wire-decode.ts leaves it out of WireDualProof.
      ...(rand() < 0.5 && {
        LinearAdvanceProof: {
          linearProofTerms: hashes(rand),
          inclusionProofs: Array.from({ length: Math.floor(rand() * 3) }, () => ({
            leaf: int32(rand),
            width: int32(rand),
            terms: hashes(rand),
            ...future(rand),
          })),
          ...future(rand),
        },
      }),
      ...future(rand),
    },
    ...(signature && { signature: { ...signature, ...future(rand) } }),
    ...future(rand),
  };
  return { expected: { header: tx.header, entries: tx.entries, dualProof, signature }, message, encoded: encode(later, 'VerifiableTx', message) };
}

describe('wire: decoding what protobufjs encodes (immudb 1.10/1.11 messages, with fields of a later immudb)', () => {
  it('VerifiableTx: every header field (version, metadata), entry (vLen, KV metadata), proof term and the signature (400 random replies)', () => {
    const rand = prng(17);
    for (let i = 0; i < 400; i++) {
      const { expected, encoded } = randomVerifiableTx(rand);
      expect(decodeVerifiableTx(encoded)).toEqual(expected);
    }
  });

  it('TxHeader (what ExecAll answers): every field (200 random headers)', () => {
    const rand = prng(18);
    for (let i = 0; i < 200; i++) {
      const { h, message } = randomHeader(rand);
      expect(decodeTxMetadata(encode(later, 'TxHeader', message))).toEqual(h);
    }
  });

  it('TxList: every tx id, time and entry key/hValue/vLen/metadata, in order (500 random lists)', () => {
    const rand = prng(11);
    for (let i = 0; i < 500; i++) {
      const { expected, encoded } = randomTxList(rand);
      expect(decodeTxList(encoded)).toEqual(expected);
    }
  });

  it('Entries: every tx, key and value, in order; reference, metadata, expired and revision skipped (300 random lists)', () => {
    const rand = prng(12);
    for (let i = 0; i < 300; i++) {
      const { expected, encoded } = randomEntries(rand);
      expect(decodeEntries(encoded)).toEqual(expected);
    }
  });

  it('the fields immudb 1.11 sends that wire-decode.ts does not read change nothing (Entry 4–7, TxEntry value, Tx kv/zEntries, LinearAdvanceProof)', () => {
    const rand = prng(22);
    let seen = 0;
    for (let i = 0; i < 50; i++) {
      const { message } = randomEntry(rand);
      const plain = { tx: message.tx, key: message.key, value: message.value };
      const full = encode(immudb, 'Entries', { entries: [message] });
      expect(full.equals(encode(immudb, 'Entries', { entries: [plain] }))).toBe(false); // revision, at least, is there
      expect(decodeEntries(full)).toEqual(decodeEntries(encode(immudb, 'Entries', { entries: [plain] })));

      const vtx = randomVerifiableTx(rand);
      const tx = vtx.message.tx as Msg;
      const dp = vtx.message.dualProof as Msg;
      const stripped = {
        ...vtx.message,
        tx: { ...tx, kvEntries: [], zEntries: [], entries: (tx.entries as Msg[]).map(({ value: _, ...e }) => e) },
        dualProof: { ...dp, LinearAdvanceProof: null },
      };
      const a = encode(immudb, 'VerifiableTx', vtx.message);
      const b = encode(immudb, 'VerifiableTx', stripped);
      if (!a.equals(b)) seen++;
      expect(decodeVerifiableTx(a)).toEqual(decodeVerifiableTx(b));
    }
    expect(seen).toBeGreaterThan(25);
  });

  it('an empty reply is an empty list; an entry with an empty value decodes to an empty value', () => {
    expect(decodeTxList(EMPTY)).toEqual([]);
    expect(decodeEntries(EMPTY)).toEqual([]);
    const encoded = encode(immudb, 'Entries', { entries: [{ tx: 7, key: Buffer.from('k') }] });
    expect(decodeEntries(encoded)).toEqual([{ tx: 7, key: Buffer.from('k'), value: EMPTY }]);
  });
});

describe('wire: header and KV metadata as the bytes immudb 1.11.1 hashes (its vectors)', () => {
  // Every case, the 64-bit extremes included: a negative expiresAt (a 10-byte varint) and a
  // truncatedTxID past 2^53 are hashed as their raw u64, so wire-decode.ts reads them whole.
  const kvIt = (_c: KvMetadataCase) => it;
  const txIt = (_c: TxMetadataCase) => it;

  for (const c of vectors.kvMetadata) {
    kvIt(c)(
      `KVMetadata deleted=${c.deleted} expiresAt=${c.expiresAt} nonIndexable=${c.nonIndexable} → "${c.bytes}", in a VerifiableTx's and a TxList's TxEntry`,
      () => {
        const rand = prng(23);
        for (const explicit of [false, true]) {
          const { message } = randomVerifiableTx(rand);
          const tx = message.tx as Msg;
          const entry = { key: Buffer.from('k'), hValue: Buffer.alloc(32, 1), vLen: 3, metadata: kvMetadataMsg(c, rand, explicit) };
          const withEntry = { ...tx, entries: [entry, ...(tx.entries as Msg[])] };
          expect(decodeVerifiableTx(encode(later, 'VerifiableTx', { ...message, tx: withEntry })).entries[0]!.metadata.toString('hex')).toBe(c.bytes);
          expect(decodeTxList(encode(later, 'TxList', { txs: [withEntry] }))[0]!.entries[0]!.metadata.toString('hex')).toBe(c.bytes);
        }
      },
    );
  }

  for (const c of vectors.txMetadata) {
    txIt(c)(
      `TxMetadata truncatedTxID=${c.truncatedTxId} extra of ${c.extra.length / 2} bytes → its bytes, in every header of a VerifiableTx and in ExecAll's TxHeader`,
      () => {
        const rand = prng(24);
        for (const explicit of [false, true]) {
          const { message } = randomVerifiableTx(rand);
          const tx = message.tx as Msg;
          const dp = message.dualProof as Msg;
          const md = (h: unknown) => ({ ...(h as Msg), metadata: txMetadataMsg(c, rand, explicit) });
          const decoded = decodeVerifiableTx(
            encode(later, 'VerifiableTx', {
              ...message,
              tx: { ...tx, header: md(tx.header) },
              dualProof: { ...dp, sourceTxHeader: md(dp.sourceTxHeader), targetTxHeader: md(dp.targetTxHeader) },
            }),
          );
          for (const h of [decoded.header, decoded.dualProof.sourceTx, decoded.dualProof.targetTx]) expect(h.metadata.toString('hex')).toBe(c.bytes);
          expect(decodeTxMetadata(encode(later, 'TxHeader', md({ id: 3, version: 1 }))).metadata.toString('hex')).toBe(c.bytes);
        }
      },
    );
  }

  it('no metadata is empty bytes, and so is a metadata message with nothing set', () => {
    const entry = (metadata?: Msg) =>
      encode(immudb, 'TxList', { txs: [{ header: { id: 1 }, entries: [{ key: Buffer.from('k'), ...(metadata && { metadata }) }] }] });
    expect(decodeTxList(entry())[0]!.entries[0]!.metadata).toEqual(EMPTY);
    expect(entry({}).length).toBeGreaterThan(entry().length); // the empty message is on the wire
    expect(decodeTxList(entry({}))[0]!.entries[0]!.metadata).toEqual(EMPTY);
    expect(decodeTxMetadata(encode(immudb, 'TxHeader', { id: 1, version: 1 })).metadata).toEqual(EMPTY);
    expect(decodeTxMetadata(encode(immudb, 'TxHeader', { id: 1, version: 1, metadata: {} })).metadata).toEqual(EMPTY);
  });

  it('tx metadata whose extra does not fit its 16-bit length is refused', () => {
    const header = (n: number) => encode(immudb, 'TxHeader', { id: 1, version: 1, metadata: { extra: Buffer.alloc(n, 7) } });
    expect(decodeTxMetadata(header(0xffff)).metadata.subarray(0, 3).toString('hex')).toBe('01ffff');
    expect(() => decodeTxMetadata(header(0x10000))).toThrow(/65,535/);
  });
});

describe('wire: fields it does not know', () => {
  it('are skipped at the top of a reply, of every wire type', () => {
    const { expected, encoded } = randomTxList(prng(13));
    // Unknown fields 15 (varint), 16 (fixed64), 17 (bytes) and 18 (fixed32) before the real ones.
    const unknown = Buffer.from([0x78, 0x96, 0x01, 0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x8a, 0x01, 2, 0xaa, 0xbb, 0x95, 0x01, 1, 2, 3, 4]);
    expect(expected.length).toBeGreaterThan(0);
    expect(decodeTxList(Buffer.concat([unknown, encoded]))).toEqual(expected);
  });

  it('are skipped in every message of a VerifiableTx, before, between and after known fields in any order', () => {
    const unknown = [0x78, 0x05, 0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x8a, 0x01, 0x01, 0xff, 0x95, 0x01, 1, 2, 3, 4]; // fields 15–18, every wire type
    const msg = (field: number, body: number[]) => [(field << 3) | 2, ...varintBytes(body.length), ...body];
    const varint = (field: number, n: number) => [field << 3, ...varintBytes(n)];
    const h = (b: number) => Array.from({ length: 32 }, () => b);
    // TxMetadata { truncatedTxID 12, extra cafe } and KVMetadata { deleted, expiresAt 1893456000, nonIndexable }: vector cases.
    const txMd = msg(9, [...unknown, ...msg(2, [0xca, 0xfe]), ...unknown, ...varint(1, 12), ...unknown]);
    const kvMd = msg(4, [...unknown, ...varint(3, 1), ...msg(2, [...unknown, ...varint(1, 1893456000), ...unknown]), ...unknown, ...varint(1, 1), ...unknown]);
    const header = (field: number, id: number) =>
      msg(field, [
        ...unknown,
        ...varint(8, 1),
        ...varint(1, id),
        ...msg(2, h(1)),
        ...txMd,
        ...varint(3, 42),
        ...varint(4, 2),
        ...unknown,
        ...msg(5, h(2)),
        ...varint(6, id - 1),
        ...msg(7, h(3)),
        ...unknown,
      ]);
    const entry = msg(2, [...unknown, ...msg(5, [0x76]), ...msg(1, [0x6b]), ...kvMd, ...msg(2, h(4)), ...unknown, ...varint(3, 9), ...unknown]);
    const kvEntry = msg(3, [...varint(1, 7), ...msg(2, [0x6b]), ...msg(3, [0x76]), ...varint(7, 1)]);
    const tx = msg(1, [...unknown, ...entry, ...kvEntry, ...header(1, 7), ...unknown]);
    const linear = msg(7, [...unknown, ...msg(3, h(5)), ...varint(2, 7), ...unknown, ...varint(1, 6), ...unknown]);
    const advance = msg(8, [...unknown, ...msg(1, h(10)), ...msg(2, [...varint(1, 1), ...varint(2, 2), ...msg(3, h(11)), ...unknown])]);
    const dual = msg(2, [
      ...unknown,
      ...advance,
      ...header(2, 7),
      ...header(1, 6),
      ...unknown,
      ...msg(3, h(6)),
      ...msg(4, h(7)),
      ...msg(5, h(8)),
      ...unknown,
      ...linear,
      ...msg(6, h(9)),
      ...unknown,
    ]);
    const sig = msg(3, [...unknown, ...msg(2, [0x30]), ...unknown, ...msg(1, [0x04]), ...unknown]);
    const buf = Buffer.from([...unknown, ...sig, ...unknown, ...dual, ...unknown, ...tx, ...unknown]);
    const hdr = (id: number): WireTxHeader => ({
      id,
      prevAlh: Buffer.from(h(1)),
      ts: 42,
      version: 1,
      metadata: hex('00000000000000000c010002cafe'),
      nEntries: 2,
      eH: Buffer.from(h(2)),
      blTxId: id - 1,
      blRoot: Buffer.from(h(3)),
    });
    const expected = {
      header: hdr(7),
      entries: [{ key: Buffer.from('k'), hValue: Buffer.from(h(4)), vLen: 9, metadata: hex('00010000000070dbd88002') }],
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
    };
    expect(decodeVerifiableTx(buf)).toEqual(expected);
    // The bytes built by hand mean what `expected` says: the library reads them so too.
    const lib = decode<{
      tx: { header: { version: number }; entries: { vLen: number; metadata: { expiration: { expiresAt: number } } }[] };
      dualProof: { linearProof: { TargetTxId: number } };
    }>(immudb, 'VerifiableTx', buf);
    expect([lib.tx.header.version, lib.tx.entries[0]!.vLen, lib.tx.entries[0]!.metadata.expiration.expiresAt, lib.dualProof.linearProof.TargetTxId]).toEqual([
      1, 9, 1893456000, 7,
    ]);
  });

  it('are skipped inside TxList and Entries messages too (Tx, TxHeader, TxEntry, Entry)', () => {
    const unknown = [0x78, 0x05, 0x8a, 0x01, 0x01, 0xff]; // field 15 varint 5, field 17 bytes [0xff]
    const msg = (field: number, body: number[]) => [(field << 3) | 2, body.length, ...body];
    const header = msg(1, [...unknown, 0x08, 0x07, ...unknown, 0x18, 0x2a, 0x40, 0x01]); // id 7, ts 42, version 1
    const entry = msg(2, [...unknown, ...msg(1, [0x6b]), ...unknown, ...msg(2, [1, 2]), 0x18, 0x03, ...msg(4, [...unknown, 0x18, 0x01])]); // key "k", hValue, vLen 3, non-indexable
    expect(decodeTxList(Buffer.from(msg(1, [...header, ...unknown, ...entry])))).toEqual([
      { id: 7, ts: 42, entries: [{ key: Buffer.from('k'), hValue: Buffer.from([1, 2]), vLen: 3, metadata: Buffer.from([0x02]) }] },
    ]);
    const e = msg(1, [...unknown, 0x08, 0x09, ...msg(2, [0x6b]), ...unknown, 0x38, 0x04, ...msg(3, [0x76]), ...unknown]); // revision 4 among them
    expect(decodeEntries(Buffer.from([...unknown, ...e]))).toEqual([{ tx: 9, key: Buffer.from('k'), value: Buffer.from('v') }]);
  });
});

describe('wire: malformed replies', () => {
  it('every truncation of an Entries or a TxList either decodes to a prefix of it or throws MalformedReply', () => {
    const rand = prng(14);
    const nonEmpty = <T extends { expected: unknown[] }>(random: () => T): T => {
      for (;;) {
        const r = random();
        if (r.expected.length > 1) return r;
      }
    };
    for (const [decodeIt, type, { message }] of [
      [decodeEntries, 'Entries', nonEmpty(() => randomEntries(rand))],
      [decodeTxList, 'TxList', nonEmpty(() => randomTxList(rand))],
      [decodeTxList, 'TxList', nonEmpty(() => randomTxList(rand))],
    ] as const) {
      const encoded = encode(later, type, withoutTrailingUnknown(message));
      const whole: unknown[] = decodeIt(encoded);
      let thrown = 0;
      for (let n = 0; n < encoded.length; n++) {
        try {
          const part: unknown[] = decodeIt(encoded.subarray(0, n));
          expect(part.length).toBeLessThan(whole.length);
          expect(whole.slice(0, part.length)).toEqual(part);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedReply);
          thrown++;
        }
      }
      expect(thrown).toBeGreaterThan(encoded.length / 2);
    }
  });

  it('random bytes never throw anything but MalformedReply', () => {
    const rand = prng(15);
    for (let i = 0; i < 2000; i++) {
      const junk = bytes(rand, 64);
      for (const decodeIt of [decodeTxList, decodeEntries, decodeVerifiableTx, decodeTxMetadata]) {
        try {
          decodeIt(junk);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedReply);
        }
      }
    }
  });

  it('a VerifiableTx that lacks a part of its proof is refused, whatever else it holds', () => {
    /** The parts of a VerifiableTx message the cases remove. */
    interface Parts {
      tx?: { header?: Msg };
      dualProof?: { sourceTxHeader?: Msg; targetTxHeader?: Msg; linearProof?: Msg };
    }
    const without = (strip: (vtx: Parts) => void) => {
      const { message } = randomVerifiableTx(prng(19));
      const copy = structuredClone(message) as Parts;
      strip(copy);
      return encode(immudb, 'VerifiableTx', copy);
    };
    expect(() => decodeVerifiableTx(without(() => {}))).not.toThrow();
    expect(() => decodeVerifiableTx(without((v) => delete v.tx))).toThrow(/without its tx/);
    expect(() => decodeVerifiableTx(without((v) => delete v.tx!.header))).toThrow(/without metadata/);
    expect(() => decodeVerifiableTx(without((v) => delete v.dualProof))).toThrow(/without a dual proof/);
    expect(() => decodeVerifiableTx(without((v) => delete v.dualProof!.sourceTxHeader))).toThrow(/source or target header/);
    expect(() => decodeVerifiableTx(without((v) => delete v.dualProof!.targetTxHeader))).toThrow(/source or target header/);
    expect(() => decodeVerifiableTx(without((v) => delete v.dualProof!.linearProof))).toThrow(/without a linear proof/);
    expect(() => decodeVerifiableTx(EMPTY)).toThrow(MalformedReply);
  });

  it('a negative int64 ts or int32 version (a 10-byte varint) is beyond 2^53', () => {
    expect(() => decodeTxMetadata(encode(immudb, 'TxHeader', { ts: -1 }))).toThrow(/2\^53/);
    expect(() => decodeTxMetadata(encode(immudb, 'TxHeader', { version: -1 }))).toThrow(/2\^53/);
  });

  it('every truncation of a VerifiableTx throws MalformedReply or decodes to something else than the whole (20 replies, signed or not)', () => {
    const rand = prng(20);
    const signed = new Set<boolean>();
    for (let k = 0; k < 20; k++) {
      const { expected, message } = randomVerifiableTx(rand);
      const encoded = encode(later, 'VerifiableTx', withoutTrailingUnknown(message));
      signed.add(expected.signature !== null);
      expect(decodeVerifiableTx(encoded)).toEqual(expected);
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
    const at = (id: string) => encode(immudb, 'TxList', { txs: [{ header: { id } }] });
    expect(decodeTxList(at('9007199254740991'))[0]!.id).toBe(2 ** 53 - 1);
    expect(() => decodeTxList(at('18014398509481984'))).toThrow(/beyond 2\^53/); // 2^54
  });
});

describe('wire: requests protobufjs reads back', () => {
  it('TxScanRequest', () => {
    for (const [initialTx, limit] of [
      [1, 1],
      [127, 128],
      [2 ** 40 + 3, 1000],
    ] as const) {
      const buf = encodeTxScanRequest(initialTx, limit);
      expect(decode(immudb, 'TxScanRequest', buf)).toEqual({ initialTx, limit, desc: false });
      expect(reencode(immudb, 'TxScanRequest', buf)).toEqual(buf);
    }
  });

  it('VerifiableTxRequest', () => {
    for (const [tx, proveSinceTx] of [
      [1, 1],
      [300, 7],
      [2 ** 40 + 3, 2 ** 33],
    ] as const) {
      const buf = encodeVerifiableTxRequest(tx, proveSinceTx);
      expect(decode(immudb, 'VerifiableTxRequest', buf)).toEqual({ tx, proveSinceTx });
      expect(reencode(immudb, 'VerifiableTxRequest', buf)).toEqual(buf);
    }
  });

  it('VerifiableTxRequest for the header alone: every kind of entry excluded, references left unresolved, nothing else', () => {
    for (const [tx, proveSinceTx] of [
      [1, 1],
      [7, 300],
      [2 ** 40 + 3, 2 ** 33],
    ] as const) {
      const buf = encodeVerifiableTxHeaderRequest(tx, proveSinceTx);
      expect(decode(immudb, 'VerifiableTxRequestFull', buf)).toEqual({
        tx,
        proveSinceTx,
        entriesSpec: { kvEntriesSpec: null, zEntriesSpec: null, sqlEntriesSpec: null },
        sinceTx: 0,
        noWait: false,
        keepReferencesUnresolved: true,
      });
      expect(reencode(immudb, 'VerifiableTxRequestFull', buf)).toEqual(buf);
    }
  });

  it('ExecAllRequest: per event its timeline entry and an unbound reference to it from its id key, then per event "id key must not exist", nothing else (200 random batches)', () => {
    const rand = prng(21);
    for (let i = 0; i < 200; i++) {
      // Values up to 70 KB: lengths across the varint widths.
      const events = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => ({
        key: bytes(rand, 300),
        value: bytes(rand, rand() < 0.2 ? 70_000 : 600),
        idKey: bytes(rand, 60),
      }));
      const buf = encodeExecAllRequest(events);
      // equals(), not toEqual(): vitest compares 70 KB buffers byte by byte as objects, slowly.
      expect(reencode(immudb, 'ExecAllRequest', buf).equals(buf)).toBe(true);
      const req = decode<{
        noWait: boolean;
        Operations: { operation: string; kv: { key: Buffer; value: Buffer; metadata: unknown }; ref: { key: Buffer; referencedKey: Buffer } }[];
        preconditions: { precondition: string; keyMustNotExist: { key: Buffer } }[];
      }>(immudb, 'ExecAllRequest', buf);
      expect(req.noWait).toBe(false);
      const ops = req.Operations;
      expect(ops).toHaveLength(2 * events.length);
      events.forEach((e, j) => {
        const kvOp = ops[2 * j]!;
        const refOp = ops[2 * j + 1]!;
        expect(kvOp.operation).toBe('kv');
        expect(e.key.equals(kvOp.kv.key)).toBe(true);
        expect(e.value.equals(kvOp.kv.value)).toBe(true);
        expect(kvOp.kv.metadata).toBeNull();
        expect(refOp.operation).toBe('ref');
        const { key, referencedKey, ...rest } = refOp.ref;
        expect(e.idKey.equals(key)).toBe(true);
        expect(e.key.equals(referencedKey)).toBe(true);
        expect(rest).toEqual({ atTx: 0, boundRef: false, noWait: false, preconditions: [] });
      });
      const preconditions = req.preconditions;
      expect(preconditions).toHaveLength(events.length);
      events.forEach((e, j) => {
        expect(preconditions[j]!.precondition).toBe('keyMustNotExist');
        expect(e.idKey.equals(preconditions[j]!.keyMustNotExist.key)).toBe(true);
      });
    }
  });

  it('KeyListRequest: every key byte for byte, in order, and sinceTx', () => {
    const rand = prng(16);
    for (let i = 0; i < 200; i++) {
      const keys = Array.from({ length: Math.floor(rand() * 10) }, () => bytes(rand, 400));
      const sinceTx = bigNumber(rand);
      const buf = encodeKeyListRequest(keys, sinceTx);
      expect(decode(immudb, 'KeyListRequest', buf)).toEqual({ keys, sinceTx });
      expect(reencode(immudb, 'KeyListRequest', buf)).toEqual(buf);
    }
  });

  it('ScanRequest: prefix, exclusive seek and end keys (or none), direction, limit and sinceTx', () => {
    const rand = prng(17);
    for (let i = 0; i < 200; i++) {
      const prefix = bytes(rand, 300);
      const seekKey = rand() < 0.3 ? undefined : bytes(rand, 400);
      const endKey = rand() < 0.5 ? undefined : bytes(rand, 400);
      const desc = rand() < 0.5;
      const limit = Math.floor(rand() * 1000);
      const sinceTx = bigNumber(rand);
      const buf = encodeScanRequest(prefix, { ...(seekKey ? { seekKey } : {}), ...(endKey ? { endKey } : {}), desc, limit, sinceTx });
      expect(decode(immudb, 'ScanRequest', buf)).toEqual({
        seekKey: seekKey ?? Buffer.alloc(0),
        prefix,
        desc,
        limit,
        sinceTx,
        endKey: endKey ?? Buffer.alloc(0),
      });
      expect(reencode(immudb, 'ScanRequest', buf)).toEqual(buf);
    }
  });
});

describe('a proven tx header the immudb ledger accepts', () => {
  const v0: WireTxHeader = {
    id: 9,
    prevAlh: Buffer.alloc(32, 1),
    ts: 1_764_000_000,
    version: 0,
    metadata: EMPTY,
    nEntries: 200,
    eH: Buffer.alloc(32, 2),
    blTxId: 8,
    blRoot: Buffer.alloc(32, 3),
  };
  const v1: WireTxHeader = { ...v0, version: 1, metadata: hex('00000000000000000c010002cafe') };

  it('is one immudb 1.10/1.11 commits: v0 without metadata, v1 with TxMetadata.Bytes() or none; 32-byte hashes, a time a Date can hold', () => {
    expect(codeOf(() => checkProvenHeader(v0))).toBe('ok');
    expect(codeOf(() => checkProvenHeader({ ...v0, nEntries: 0xffff, ts: 8.64e12 }))).toBe('ok');
    expect(codeOf(() => checkProvenHeader(v1))).toBe('ok');
    expect(codeOf(() => checkProvenHeader({ ...v1, nEntries: 0x7fffffff, ts: 8.64e12 }))).toBe('ok');
    for (const c of vectors.txMetadata) expect(codeOf(() => checkProvenHeader({ ...v1, metadata: hex(c.bytes) }))).toBe('ok');
  });

  it('anything else is VERIFICATION_FAILED, never a crash further on', () => {
    const bad: Partial<WireTxHeader>[] = [
      { prevAlh: Buffer.alloc(31) },
      { eH: EMPTY },
      { blRoot: Buffer.alloc(33) },
      { version: 1, nEntries: 2 ** 31 },
      { version: 1, nEntries: 2 ** 32 },
      { ts: 8.64e12 + 1 },
      // Versions immudb 1.11 does not write.
      { version: 2 },
      { version: 2, metadata: v1.metadata },
      { version: 0x7fffffff },
      // v0 hashes neither metadata nor more than 16 bits of entry count.
      { version: 0, metadata: v1.metadata },
      { version: 0, metadata: hex('000000000000000001') },
      { version: 0, nEntries: 0x10000 },
      // v1 metadata that is not TxMetadata.Bytes() of anything.
      { version: 1, metadata: hex('02') },
      { version: 1, metadata: hex('00') }, // truncatedTxID cut short
      { version: 1, metadata: hex('0000000000000000') },
      { version: 1, metadata: hex('010000') }, // an empty extra is left out, not written
      { version: 1, metadata: hex('010002ca') }, // extra cut short
      { version: 1, metadata: Buffer.concat([hex('010101'), Buffer.alloc(257)]) }, // extra beyond 256 bytes
      { version: 1, metadata: hex('010002cafe00000000000000000c') }, // attributes out of order
      { version: 1, metadata: hex('00000000000000000c00') }, // a trailing byte
    ];
    for (const b of bad) expect([b, codeOf(() => checkProvenHeader({ ...v1, ...b }))]).toEqual([b, 'VERIFICATION_FAILED']);
    // And each is refused for what it is: the v1 header it changes passes.
    expect(codeOf(() => checkProvenHeader(v1))).toBe('ok');
  });
});
