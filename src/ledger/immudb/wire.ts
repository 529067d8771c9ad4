/**
 * Protobuf encoding and decoding, by hand, of the immudb calls that move many entries: TxScan
 * (a TxList of entry keys and value hashes), GetAll and Scan (an Entries of keys and values), and the write
 * path's ExecAll (two operations an event) and VerifiableTxById (a tx's entries and its proof).
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

export class MalformedReply extends Error {
  constructor(what: string) {
    super(`malformed immudb reply: ${what}`);
    this.name = 'MalformedReply';
  }
}

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

/** One event's two operations in an ExecAll: its timeline entry and the id key that refers to it. */
export interface WireEventWrite {
  key: Buffer;
  value: Buffer;
  idKey: Buffer;
}

/** Entry: a key's value and the tx that wrote it. */
export interface WireEntry {
  tx: number;
  key: Buffer;
  value: Buffer;
}

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;
const EMPTY = Buffer.alloc(0);

/** A cursor over one message: the bytes from `pos` to `end` of `buf`. */
class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  get more(): boolean {
    return this.pos < this.end;
  }

  /** An unsigned varint that must fit a safe integer (ids, times, lengths). */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new MalformedReply('truncated varint');
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
      if (scale > 2 ** 63) throw new MalformedReply('varint longer than 10 bytes');
    }
    if (value > Number.MAX_SAFE_INTEGER) throw new MalformedReply('integer beyond 2^53');
    return value;
  }

  /**
   * A varint as the 64 bits it carries (int64 and uint64 fields hashed as raw u64: a negative
   * expiration or a tx id above 2^53 is still a valid value).
   */
  varint64(): bigint {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (this.pos >= this.end) throw new MalformedReply('truncated varint');
      if (shift > 63n) throw new MalformedReply('varint longer than 10 bytes');
      const b = this.buf[this.pos++]!;
      value |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    return BigInt.asUintN(64, value);
  }

  /** A field's tag: field number << 3 | wire type. */
  tag(): number {
    const t = this.varint();
    if (t > 0xffffffff || t >>> 3 === 0) throw new MalformedReply(`invalid field tag ${t}`);
    return t;
  }

  /** A length-delimited field's body, as a cursor of its own. */
  sub(): Cursor {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) throw new MalformedReply('field runs past its message');
    this.pos = start + length;
    return new Cursor(this.buf, start, this.pos);
  }

  /** A bytes field: a view of the reply, not a copy. */
  bytes(): Buffer {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) throw new MalformedReply('bytes run past their message');
    this.pos = start + length;
    return this.buf.subarray(start, this.pos);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        for (;;) {
          if (this.pos >= this.end) throw new MalformedReply('truncated varint');
          if (this.buf[this.pos++]! < 0x80) return;
        }
      case FIXED64:
        this.advance(8);
        return;
      case BYTES:
        this.advance(this.varint());
        return;
      case FIXED32:
        this.advance(4);
        return;
      default:
        throw new MalformedReply(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new MalformedReply('field runs past its message');
    this.pos += n;
  }
}

/** TxList { repeated Tx txs = 1 } */
export function decodeTxList(buf: Buffer): WireTx[] {
  const txs: WireTx[] = [];
  const c = new Cursor(buf, 0, buf.length);
  while (c.more) {
    const tag = c.tag();
    if (tag === ((1 << 3) | BYTES)) txs.push(readTxOf(c.sub()));
    else c.skip(tag & 7);
  }
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
  while (c.more) {
    const tag = c.tag();
    if (tag !== ((1 << 3) | BYTES)) {
      c.skip(tag & 7);
      continue;
    }
    const e = c.sub();
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

/** TxScanRequest { uint64 initialTx = 1; uint32 limit = 2; bool desc = 3 } (ascending). */
export function encodeTxScanRequest(initialTx: number, limit: number): Buffer {
  return twoVarints(initialTx, limit);
}

/** A message of two varint fields, 1 and 2 (both written, even when zero). */
function twoVarints(first: number, second: number): Buffer {
  return Buffer.from([0x08, ...varintBytes(first), 0x10, ...varintBytes(second)]);
}

/**
 * TxRequest { uint64 tx = 1; EntriesSpec entriesSpec = 2 } with an empty EntriesSpec: every kind of
 * entry excluded, so immudb answers the header alone (a nil spec would list every entry's digest).
 */
export function encodeTxHeaderRequest(tx: number): Buffer {
  return Buffer.from([0x08, ...varintBytes(tx), 0x12, 0x00]);
}

/**
 * CreateDatabaseRequest { string name = 1; DatabaseNullableSettings settings = 2 { NullableUint32
 * maxTxEntries = 11; NullableUint32 writeTxHeaderVersion = 20; NullableMilliseconds syncFrequency =
 * 23 }; bool ifNotExists = 3 (true) }. A Nullable* { value = 1 } is written even for 0: present is
 * what "set" means; a setting left out keeps immudb's default.
 */
export function encodeCreateDatabaseRequest(name: string, settings: { maxTxEntries: number; writeTxHeaderVersion?: number; syncFrequencyMs?: number }): Buffer {
  const field = (tag: number[], body: readonly number[]) => [...tag, ...varintBytes(body.length), ...body];
  const nullable = (tag: number[], value: number) => field(tag, [0x08, ...varintBytes(value)]);
  const body = [
    ...nullable([0x5a], settings.maxTxEntries),
    ...(settings.writeTxHeaderVersion === undefined ? [] : nullable([0xa2, 0x01], settings.writeTxHeaderVersion)),
    ...(settings.syncFrequencyMs === undefined ? [] : nullable([0xba, 0x01], settings.syncFrequencyMs)),
  ];
  return Buffer.from([...field([0x0a], [...Buffer.from(name, 'utf8')]), ...field([0x12], body), 0x18, 0x01]);
}

/**
 * DatabaseSettingsResponse { string database = 1; DatabaseNullableSettings settings = 2 }, of which
 * settings.maxTxEntries (NullableUint32 maxTxEntries = 11 { uint32 value = 1 }); null when absent.
 */
export function decodeMaxTxEntries(buf: Buffer): number | null {
  let found: number | null = null;
  const c = new Cursor(buf, 0, buf.length);
  while (c.more) {
    const tag = c.tag();
    if (tag !== ((2 << 3) | BYTES)) {
      c.skip(tag & 7);
      continue;
    }
    const settings = c.sub();
    while (settings.more) {
      const t = settings.tag();
      if (t !== ((11 << 3) | BYTES)) {
        settings.skip(t & 7);
        continue;
      }
      const nullable = settings.sub();
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

/**
 * ScanRequest { bytes seekKey = 1 (exclusive); bytes prefix = 2; bool desc = 3; uint64 limit = 4;
 * uint64 sinceTx = 5 }; what it answers is an Entries (decodeEntries).
 */
export function encodeScanRequest(prefix: Buffer, { seekKey, desc = false, limit, sinceTx }: { seekKey?: Buffer; desc?: boolean; limit: number; sinceTx: number }): Buffer {
  const parts: Buffer[] = [];
  const bytes = (tag: number, b: Buffer) => parts.push(Buffer.from([tag, ...varintBytes(b.length)]), b);
  if (seekKey) bytes(0x0a, seekKey);
  bytes(0x12, prefix);
  parts.push(Buffer.from([...(desc ? [0x18, 1] : []), 0x20, ...varintBytes(limit), 0x28, ...varintBytes(sinceTx)]));
  return Buffer.concat(parts);
}

/** KeyListRequest { repeated bytes keys = 1; uint64 sinceTx = 2 } */
export function encodeKeyListRequest(keys: readonly Buffer[], sinceTx: number): Buffer {
  const since = varintBytes(sinceTx);
  let size = 1 + since.length;
  for (const k of keys) size += 1 + varintSize(k.length) + k.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const k of keys) {
    out[pos++] = 0x0a;
    pos = writeVarint(out, pos, k.length);
    pos += k.copy(out, pos);
  }
  out[pos++] = 0x10;
  out.set(since, pos);
  return out;
}

/** VerifiableTxRequest { uint64 tx = 1; uint64 proveSinceTx = 2 } */
export function encodeVerifiableTxRequest(tx: number, proveSinceTx: number): Buffer {
  return twoVarints(tx, proveSinceTx);
}

/**
 * ExecAllRequest { repeated Op Operations = 1; bool noWait = 2 (false: left out); repeated
 * Precondition preconditions = 3 }, two operations an event, in order: Op { KeyValue kv = 1 } with
 * { bytes key = 1; bytes value = 2 }, then Op { ReferenceRequest ref = 3 } with { bytes key = 1
 * (the id key); bytes referencedKey = 2 }: an unbound reference (atTx 0, boundRef false, both left
 * out). Then per event Precondition { KeyMustNotExist keyMustNotExist = 2 { bytes key = 1 } } on
 * its id key: immudb refuses the whole tx when any id is already stored (FAILED_PRECONDITION).
 */
export function encodeExecAllRequest(events: readonly WireEventWrite[]): Buffer {
  const bytesField = (length: number) => 1 + varintSize(length) + length;
  // Body sizes of each event's KeyValue and ReferenceRequest, computed once for both passes.
  const sizes = new Array<number>(2 * events.length);
  let size = 0;
  events.forEach(({ key, value, idKey }, i) => {
    const kv = (sizes[2 * i] = bytesField(key.length) + bytesField(value.length));
    const ref = (sizes[2 * i + 1] = bytesField(idKey.length) + bytesField(key.length));
    size += bytesField(bytesField(kv)) + bytesField(bytesField(ref)) + bytesField(bytesField(bytesField(idKey.length)));
  });
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  const put = (tag: number, length: number) => {
    out[pos++] = tag;
    pos = writeVarint(out, pos, length);
  };
  const putBytes = (tag: number, b: Buffer) => {
    put(tag, b.length);
    pos += b.copy(out, pos);
  };
  events.forEach(({ key, value, idKey }, i) => {
    const kv = sizes[2 * i]!;
    put(0x0a, bytesField(kv)); // Operations
    put(0x0a, kv); // Op.kv
    putBytes(0x0a, key);
    putBytes(0x12, value);
    const ref = sizes[2 * i + 1]!;
    put(0x0a, bytesField(ref)); // Operations
    put(0x1a, ref); // Op.ref
    putBytes(0x0a, idKey);
    putBytes(0x12, key);
  });
  for (const { idKey } of events) {
    put(0x1a, bytesField(bytesField(idKey.length))); // preconditions
    put(0x12, bytesField(idKey.length)); // Precondition.keyMustNotExist
    putBytes(0x0a, idKey);
  }
  if (pos !== size) throw new Error(`ExecAllRequest: wrote ${pos} bytes of ${size}`);
  return out;
}

export function varintBytes(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a varint: ${n}`);
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** Bytes of `n` (a length: a safe non-negative integer) as a varint. */
function varintSize(n: number): number {
  let size = 1;
  for (; n > 0x7f; size++) n = Math.floor(n / 128);
  return size;
}

/** Writes `n` (a length) as a varint at `pos`; returns the position after it. */
function writeVarint(out: Buffer, pos: number, n: number): number {
  for (; n > 0x7f; n = Math.floor(n / 128)) out[pos++] = (n % 128) | 0x80;
  out[pos++] = n;
  return pos;
}
