/**
 * Protobuf decoding, by hand, of the immudb replies that move many entries: TxScan (a TxList of
 * entry keys and value hashes), GetAll and Scan (an Entries of keys and values), and the write
 * path's ExecAll (a TxHeader) and VerifiableTxById (a tx's entries and its proof). Requests:
 * wire-encode.ts.
 *
 * Why by hand: google-protobuf builds a message object per entry and copies every bytes field at
 * least twice on the way to a Buffer. Rebuilding the index reads two entries per event this way,
 * and decoding them cost the gateway more CPU than everything else it does per event. Here a reply
 * becomes plain objects whose bytes are views of the reply's buffer. Pure: no I/O.
 *
 * Field numbers are immudb 1.10/1.11's pkg/api/schema/schema.proto (TxHeader adds version 8 and
 * metadata 9 to 1.1's TxMetadata; TxEntry has vLen 3, metadata 4, value 5; DualProof's
 * LinearAdvanceProof 8 is not needed, see proof/verify.ts); unknown fields are skipped, as protobuf
 * requires. Header and KV metadata come back as the bytes immudb hashes (its protoconv's
 * TxMetadataFromProto / KVMetadataFromProto, then Bytes()). A reply that is not well-formed
 * protobuf throws `MalformedReply`.
 */
import { BYTES, Cursor, MalformedReply, VARINT } from './protobuf.ts';

/** TxEntry: a key a tx wrote, the hash and length of its value (values are not in a TxScan reply), its KV metadata bytes. */
export interface WireTxEntry {
  key: Buffer;
  hValue: Buffer;
  vLen: number;
  metadata: Buffer;
}

/** Tx: its metadata's id and time (seconds) and its entries. */
export interface WireTx {
  id: number;
  ts: number;
  entries: WireTxEntry[];
}

/** TxHeader, every field: the header a tx's proofs cover. Hashes are views, unchecked in length. */
export interface WireTxHeader {
  id: number;
  prevAlh: Buffer;
  ts: number;
  version: number;
  /** TxMetadata as the bytes immudb hashes (empty when none). */
  metadata: Buffer;
  nEntries: number;
  eH: Buffer;
  blTxId: number;
  blRoot: Buffer;
}

/** DualProof of a tx from a trusted one (schema.DualProof, without its LinearAdvanceProof). */
export interface WireDualProof {
  sourceTx: WireTxHeader;
  targetTx: WireTxHeader;
  inclusionProof: Buffer[];
  consistencyProof: Buffer[];
  targetBlTxAlh: Buffer;
  lastInclusionProof: Buffer[];
  linearProof: { sourceTxId: number; targetTxId: number; terms: Buffer[] };
}

/** VerifiableTx: a tx (header and entries), its dual proof, and the state's signature if immudb signs. */
export interface WireVerifiableTx {
  header: WireTxHeader;
  entries: WireTxEntry[];
  dualProof: WireDualProof;
  signature: { publicKey: Buffer; signature: Buffer } | null;
}

/** Entry: a key's value and the tx that wrote it. */
export interface WireEntry {
  tx: number;
  key: Buffer;
  value: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** TxList { repeated Tx txs = 1 } */
export function decodeTxList(buf: Buffer): WireTx[] {
  const txs: WireTx[] = [];
  const c = new Cursor(buf, 0, buf.length);
  for (let tx = c.nextMessage(1); tx; tx = c.nextMessage(1)) txs.push(readTxOf(tx));
  return txs;
}

/** A Tx on its own: what TxById answers. */
export function decodeTx(buf: Buffer): WireTx {
  return readTxOf(new Cursor(buf, 0, buf.length));
}

/** Tx { TxHeader header = 1; repeated TxEntry entries = 2 } */
function readTxOf(c: Cursor): WireTx {
  const { header, entries } = readTx(c);
  return { id: header.id, ts: header.ts, entries };
}

function readTx(c: Cursor): { header: WireTxHeader; entries: WireTxEntry[] } {
  let header: WireTxHeader | null = null;
  const entries: WireTxEntry[] = [];
  while (c.more) {
    const tag = c.tag();
    if (tag === ((1 << 3) | BYTES)) header = readTxHeader(c.sub());
    else if (tag === ((2 << 3) | BYTES)) entries.push(readTxEntry(c.sub()));
    else c.skip(tag & 7);
  }
  if (!header) throw new MalformedReply('a Tx without metadata');
  return { header, entries };
}

/**
 * TxHeader { uint64 id = 1; bytes prevAlh = 2; int64 ts = 3; int32 nentries = 4; bytes eH = 5;
 * uint64 blTxId = 6; bytes blRoot = 7; int32 version = 8; TxMetadata metadata = 9 }
 */
function readTxHeader(m: Cursor): WireTxHeader {
  // proto3 leaves zeros and empty bytes out: absent means zero or empty. A negative ts, nentries
  // or version (a 10-byte varint) is beyond 2^53 and refused by varint().
  const h: WireTxHeader = { id: 0, prevAlh: EMPTY, ts: 0, version: 0, metadata: EMPTY, nEntries: 0, eH: EMPTY, blTxId: 0, blRoot: EMPTY };
  while (m.more) {
    const t = m.tag();
    if (t === ((1 << 3) | VARINT)) h.id = m.varint();
    else if (t === ((2 << 3) | BYTES)) h.prevAlh = m.bytes();
    else if (t === ((3 << 3) | VARINT)) h.ts = m.varint();
    else if (t === ((4 << 3) | VARINT)) h.nEntries = m.varint();
    else if (t === ((5 << 3) | BYTES)) h.eH = m.bytes();
    else if (t === ((6 << 3) | VARINT)) h.blTxId = m.varint();
    else if (t === ((7 << 3) | BYTES)) h.blRoot = m.bytes();
    else if (t === ((8 << 3) | VARINT)) h.version = m.varint();
    else if (t === ((9 << 3) | BYTES)) h.metadata = readTxMetadata(m.sub());
    else m.skip(t & 7);
  }
  return h;
}

/**
 * TxMetadata { uint64 truncatedTxID = 1; bytes extra = 2 } as store.TxMetadata.Bytes(): 0x00 ‖
 * u64 truncatedTxID when it is not 0, then 0x01 ‖ u16 len ‖ extra when extra is not empty.
 */
function readTxMetadata(m: Cursor): Buffer {
  let truncated = 0n;
  let extra: Buffer = EMPTY;
  while (m.more) {
    const t = m.tag();
    if (t === ((1 << 3) | VARINT)) truncated = m.varint64();
    else if (t === ((2 << 3) | BYTES)) extra = m.bytes();
    else m.skip(t & 7);
  }
  if (extra.length > 0xffff) throw new MalformedReply('tx metadata extra longer than 65,535 bytes');
  const out = Buffer.allocUnsafe((truncated > 0n ? 9 : 0) + (extra.length > 0 ? 3 + extra.length : 0));
  let at = 0;
  if (truncated > 0n) {
    out[at] = 0x00;
    out.writeBigUInt64BE(truncated, at + 1);
    at += 9;
  }
  if (extra.length > 0) {
    out[at] = 0x01;
    out.writeUInt16BE(extra.length, at + 1);
    extra.copy(out, at + 3);
  }
  return out;
}

/**
 * KVMetadata { bool deleted = 1; Expiration expiration = 2 { int64 expiresAt = 1 }; bool
 * nonIndexable = 3 } as store.KVMetadata.Bytes(): 0x00 when deleted, 0x01 ‖ u64 expiresAt when
 * expiring, 0x02 when non-indexable.
 */
function readKvMetadata(m: Cursor): Buffer {
  let deleted = false;
  let expiresAt: bigint | null = null;
  let nonIndexable = false;
  while (m.more) {
    const t = m.tag();
    if (t === ((1 << 3) | VARINT)) deleted = m.varint() !== 0;
    else if (t === ((3 << 3) | VARINT)) nonIndexable = m.varint() !== 0;
    else if (t === ((2 << 3) | BYTES)) {
      const x = m.sub();
      expiresAt = 0n;
      while (x.more) {
        const u = x.tag();
        if (u === ((1 << 3) | VARINT)) expiresAt = x.varint64();
        else x.skip(u & 7);
      }
    } else m.skip(t & 7);
  }
  const out = Buffer.allocUnsafe((deleted ? 1 : 0) + (expiresAt !== null ? 9 : 0) + (nonIndexable ? 1 : 0));
  let at = 0;
  if (deleted) out[at++] = 0x00;
  if (expiresAt !== null) {
    out[at] = 0x01;
    out.writeBigUInt64BE(expiresAt, at + 1);
    at += 9;
  }
  if (nonIndexable) out[at] = 0x02;
  return out;
}

// One field loop per message, as decodeEntries below: other fields; a table-driven decoder would cost the hot reads.
/** TxEntry { bytes key = 1; bytes hValue = 2; int32 vLen = 3; KVMetadata metadata = 4; bytes value = 5 (not asked for: skipped) } */
function readTxEntry(e: Cursor): WireTxEntry {
  let key: Buffer = EMPTY;
  let hValue: Buffer = EMPTY;
  let vLen = 0;
  let metadata: Buffer = EMPTY;
  while (e.more) {
    const t = e.tag();
    if (t === ((1 << 3) | BYTES)) key = e.bytes();
    else if (t === ((2 << 3) | BYTES)) hValue = e.bytes();
    else if (t === ((3 << 3) | VARINT)) vLen = e.varint();
    else if (t === ((4 << 3) | BYTES)) metadata = readKvMetadata(e.sub());
    else e.skip(t & 7);
  }
  return { key, hValue, vLen, metadata };
}

/** TxHeader: what ExecAll answers. */
export function decodeTxMetadata(buf: Buffer): WireTxHeader {
  return readTxHeader(new Cursor(buf, 0, buf.length));
}

/**
 * VerifiableTx { Tx tx = 1; DualProof dualProof = 2; Signature signature = 3 }. A reply without its
 * tx, dual proof, their headers or the linear proof throws MalformedReply: it proves nothing.
 */
export function decodeVerifiableTx(buf: Buffer): WireVerifiableTx {
  let tx: { header: WireTxHeader; entries: WireTxEntry[] } | null = null;
  let dualProof: WireDualProof | null = null;
  let signature: WireVerifiableTx['signature'] = null;
  const c = new Cursor(buf, 0, buf.length);
  while (c.more) {
    const tag = c.tag();
    if (tag === ((1 << 3) | BYTES)) tx = readTx(c.sub());
    else if (tag === ((2 << 3) | BYTES)) dualProof = readDualProof(c.sub());
    else if (tag === ((3 << 3) | BYTES)) {
      // Signature { bytes publicKey = 1; bytes signature = 2 }
      const s = c.sub();
      signature = { publicKey: EMPTY, signature: EMPTY };
      while (s.more) {
        const t = s.tag();
        if (t === ((1 << 3) | BYTES)) signature.publicKey = s.bytes();
        else if (t === ((2 << 3) | BYTES)) signature.signature = s.bytes();
        else s.skip(t & 7);
      }
    } else c.skip(tag & 7);
  }
  if (!tx) throw new MalformedReply('a VerifiableTx without its tx');
  if (!dualProof) throw new MalformedReply('a VerifiableTx without a dual proof');
  return { header: tx.header, entries: tx.entries, dualProof, signature };
}

/**
 * DualProof { TxHeader sourceTxHeader = 1; TxHeader targetTxHeader = 2; repeated bytes
 * inclusionProof = 3; repeated bytes consistencyProof = 4; bytes targetBlTxAlh = 5; repeated bytes
 * lastInclusionProof = 6; LinearProof linearProof = 7; LinearAdvanceProof = 8 (skipped: every tx
 * proven must link its predecessor, and then there is nothing to advance over) }
 */
function readDualProof(c: Cursor): WireDualProof {
  let sourceTx: WireTxHeader | null = null;
  let targetTx: WireTxHeader | null = null;
  let linearProof: WireDualProof['linearProof'] | null = null;
  const inclusionProof: Buffer[] = [];
  const consistencyProof: Buffer[] = [];
  const lastInclusionProof: Buffer[] = [];
  let targetBlTxAlh: Buffer = EMPTY;
  while (c.more) {
    const t = c.tag();
    if (t === ((1 << 3) | BYTES)) sourceTx = readTxHeader(c.sub());
    else if (t === ((2 << 3) | BYTES)) targetTx = readTxHeader(c.sub());
    else if (t === ((3 << 3) | BYTES)) inclusionProof.push(c.bytes());
    else if (t === ((4 << 3) | BYTES)) consistencyProof.push(c.bytes());
    else if (t === ((5 << 3) | BYTES)) targetBlTxAlh = c.bytes();
    else if (t === ((6 << 3) | BYTES)) lastInclusionProof.push(c.bytes());
    else if (t === ((7 << 3) | BYTES)) {
      // LinearProof { uint64 sourceTxId = 1; uint64 TargetTxId = 2; repeated bytes terms = 3 }
      const l = c.sub();
      linearProof = { sourceTxId: 0, targetTxId: 0, terms: [] };
      while (l.more) {
        const u = l.tag();
        if (u === ((1 << 3) | VARINT)) linearProof.sourceTxId = l.varint();
        else if (u === ((2 << 3) | VARINT)) linearProof.targetTxId = l.varint();
        else if (u === ((3 << 3) | BYTES)) linearProof.terms.push(l.bytes());
        else l.skip(u & 7);
      }
    } else c.skip(t & 7);
  }
  if (!sourceTx || !targetTx) throw new MalformedReply('a DualProof without its source or target header');
  if (!linearProof) throw new MalformedReply('a DualProof without a linear proof');
  return { sourceTx, targetTx, inclusionProof, consistencyProof, targetBlTxAlh, lastInclusionProof, linearProof };
}

/**
 * Entries { repeated Entry entries = 1 }; Entry { uint64 tx = 1; bytes key = 2; bytes value = 3;
 * Reference referencedBy = 4; KVMetadata metadata = 5; bool expired = 6; uint64 revision = 7 }
 * (only the first three are read).
 */
export function decodeEntries(buf: Buffer): WireEntry[] {
  const out: WireEntry[] = [];
  const c = new Cursor(buf, 0, buf.length);
  for (let e = c.nextMessage(1); e; e = c.nextMessage(1)) {
    let tx = 0;
    let key: Buffer = EMPTY;
    let value: Buffer = EMPTY;
    while (e.more) {
      const t = e.tag();
      if (t === ((1 << 3) | VARINT)) tx = e.varint();
      else if (t === ((2 << 3) | BYTES)) key = e.bytes();
      else if (t === ((3 << 3) | BYTES)) value = e.bytes();
      else e.skip(t & 7);
    }
    out.push({ tx, key, value });
  }
  return out;
}

/**
 * DatabaseSettingsResponse { string database = 1; DatabaseNullableSettings settings = 2 }, of which
 * settings.maxTxEntries (NullableUint32 maxTxEntries = 11 { uint32 value = 1 }); null when absent.
 */
export function decodeMaxTxEntries(buf: Buffer): number | null {
  let found: number | null = null;
  const c = new Cursor(buf, 0, buf.length);
  for (let settings = c.nextMessage(2); settings; settings = c.nextMessage(2)) {
    for (let nullable = settings.nextMessage(11); nullable; nullable = settings.nextMessage(11)) {
      found = 0;
      while (nullable.more) {
        const u = nullable.tag();
        if (u === ((1 << 3) | VARINT)) found = nullable.varint();
        else nullable.skip(u & 7);
      }
    }
  }
  return found;
}
