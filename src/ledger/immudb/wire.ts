/**
 * Protobuf encoding and decoding, by hand, of the immudb 1.1 calls that move many entries: TxScan
 * (a TxList of entry keys and value hashes) and GetAll (an Entries of keys and values).
 *
 * Why by hand: google-protobuf builds a message object per entry and copies every bytes field at
 * least twice on the way to a Buffer. Rebuilding the index reads two entries per event this way,
 * and decoding them cost the gateway more CPU than everything else it does per event. Here a reply
 * becomes plain objects whose bytes are views of the reply's buffer. Pure: no I/O.
 *
 * Field numbers are immudb 1.1's schema.proto (as in immudb-node's generated schema_pb.js); unknown
 * fields are skipped, as protobuf requires. A reply that is not well-formed protobuf throws
 * `MalformedReply`.
 */

export class MalformedReply extends Error {
  constructor(what: string) {
    super(`malformed immudb reply: ${what}`);
    this.name = 'MalformedReply';
  }
}

/** TxEntry: a key a tx wrote, the hash and length of its value (values are not in a TxScan reply). */
export interface WireTxEntry {
  key: Buffer;
  hValue: Buffer;
  vLen: number;
}

/** Tx: its metadata's id and time (seconds) and its entries. */
export interface WireTx {
  id: number;
  ts: number;
  entries: WireTxEntry[];
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
    if (tag === ((1 << 3) | BYTES)) txs.push(decodeTx(c.sub()));
    else c.skip(tag & 7);
  }
  return txs;
}

/** Tx { TxMetadata metadata = 1; repeated TxEntry entries = 2 } */
function decodeTx(c: Cursor): WireTx {
  let metadata = false;
  let id = 0;
  let ts = 0;
  const entries: WireTxEntry[] = [];
  while (c.more) {
    const tag = c.tag();
    const n = tag >>> 3;
    const w = tag & 7;
    if (n === 1 && w === BYTES) {
      // TxMetadata { uint64 id = 1; bytes prevAlh = 2; int64 ts = 3; int32 nentries = 4; … }
      const m = c.sub();
      metadata = true;
      while (m.more) {
        const t = m.tag();
        if (t === ((1 << 3) | VARINT)) id = m.varint();
        else if (t === ((3 << 3) | VARINT)) ts = m.varint();
        else m.skip(t & 7);
      }
    } else if (n === 2 && w === BYTES) {
      // TxEntry { bytes key = 1; bytes hValue = 2; int64 vOff = 3; int32 vLen = 4 }
      const e = c.sub();
      // proto3 leaves empty bytes out: absent means empty.
      let key: Buffer = EMPTY;
      let hValue: Buffer = EMPTY;
      let vLen = 0;
      while (e.more) {
        const t = e.tag();
        if (t === ((1 << 3) | BYTES)) key = e.bytes();
        else if (t === ((2 << 3) | BYTES)) hValue = e.bytes();
        else if (t === ((4 << 3) | VARINT)) vLen = e.varint();
        else e.skip(t & 7);
      }
      entries.push({ key, hValue, vLen });
    } else {
      c.skip(w);
    }
  }
  if (!metadata) throw new MalformedReply('a Tx without metadata');
  return { id, ts, entries };
}

/** Entries { repeated Entry entries = 1 }; Entry { uint64 tx = 1; bytes key = 2; bytes value = 3; Reference referencedBy = 4 } */
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
  return Buffer.from([0x08, ...varintBytes(initialTx), 0x10, ...varintBytes(limit)]);
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
