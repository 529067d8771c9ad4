/**
 * Strict codecs of the proof formats' text: hex, base64, decimal 64-bit integers. Each parser
 * returns undefined on anything non-canonical so a tampered encoding can't smuggle alternative
 * bytes past an equality check.
 */

export const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
export const UINT32_MAX = 0xffffffff;

export const HASH_MSG = 'expected 64 lowercase hex chars';

export function isUint32(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= UINT32_MAX && !Object.is(x, -0);
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

const HASH_RE = /^[0-9a-f]{64}$/;
const HEX_RE = /^(?:[0-9a-f]{2})*$/;

/** Lowercase hex of any length (an even number of digits, possibly none). */
export function parseHex(s: unknown): Buffer | undefined {
  return typeof s === 'string' && HEX_RE.test(s) ? Buffer.from(s, 'hex') : undefined;
}

export function parseHash(s: unknown): Buffer | undefined {
  return typeof s === 'string' && HASH_RE.test(s) ? Buffer.from(s, 'hex') : undefined;
}

export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/**
 * Standard alphabet, padded, and re-encoding must give the same text (no stray pad bits).
 * The round trip alone decides: Node's decoder is lenient (skips unknown characters, takes
 * '-'/'_', missing padding), but its encoder only ever writes canonical padded standard base64,
 * so `decode(s).toString('base64') === s` holds exactly for the canonical strings (those that
 * match /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/ without stray pad
 * bits) — the regex that used to run first refused nothing more, and cost more than the decode.
 */
export function parseBase64(s: unknown): Buffer | undefined {
  if (typeof s !== 'string') return undefined;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : undefined;
}

const UINT_RE = /^(?:0|[1-9][0-9]{0,19})$/;
const INT_RE = /^(?:0|-?[1-9][0-9]{0,18})$/;

export function parseUint64(s: unknown): bigint | undefined {
  if (typeof s !== 'string' || !UINT_RE.test(s)) return undefined;
  const v = BigInt(s);
  return v <= UINT64_MAX ? v : undefined;
}

export function parseInt64(s: unknown): bigint | undefined {
  if (typeof s !== 'string' || !INT_RE.test(s)) return undefined;
  const v = BigInt(s);
  return v >= INT64_MIN && v <= INT64_MAX ? v : undefined;
}
