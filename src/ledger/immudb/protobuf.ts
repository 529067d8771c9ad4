/**
 * The protobuf primitives of the hand-written immudb codecs (wire-decode.ts, wire-encode.ts):
 * wire types, a cursor that reads a reply's fields as views of its buffer, varints written.
 * A reply that is not well-formed protobuf throws `MalformedReply`.
 */

export class MalformedReply extends Error {
  constructor(what: string) {
    super(`malformed immudb reply: ${what}`);
    this.name = 'MalformedReply';
  }
}

export const VARINT = 0;
const FIXED64 = 1;
export const BYTES = 2;
const FIXED32 = 5;

/** A cursor over one message: the bytes from `pos` to `end` of `buf`. */
export class Cursor {
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
    const start = this.delimited('field runs past its message');
    return new Cursor(this.buf, start, this.pos);
  }

  /** The next length-delimited field number `field` as a cursor of its own, other fields skipped; null at the end. */
  nextMessage(field: number): Cursor | null {
    while (this.pos < this.end) {
      const tag = this.tag();
      if (tag === ((field << 3) | BYTES)) return this.sub();
      this.skip(tag & 7);
    }
    return null;
  }

  /** A bytes field: a view of the reply, not a copy. */
  bytes(): Buffer {
    const start = this.delimited('bytes run past their message');
    return this.buf.subarray(start, this.pos);
  }

  /** Steps over a length-delimited body (`overrun`: why, when it is longer than the message); returns where it starts. */
  private delimited(overrun: string): number {
    const length = this.varint();
    const start = this.pos;
    if (length > this.end - start) throw new MalformedReply(overrun);
    this.pos = start + length;
    return start;
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
export function varintSize(n: number): number {
  let size = 1;
  for (; n > 0x7f; size++) n = Math.floor(n / 128);
  return size;
}

/** Writes `n` (a length) as a varint at `pos`; returns the position after it. */
export function writeVarint(out: Buffer, pos: number, n: number): number {
  for (; n > 0x7f; n = Math.floor(n / 128)) out[pos++] = (n % 128) | 0x80;
  out[pos++] = n;
  return pos;
}
