/**
 * Transaction headers of immudb (store.TxMetadata / TxHeader), bit for bit, for both versions: v0
 * (immudb 1.1, and 1.2+ in compatibility mode) and v1 (immudb 1.2+: header metadata hashed).
 * References: embedded/store/tx.go, tx_metadata.go (immudb 1.1.0 and 1.11.1).
 *
 * Public surface:
 * - `TxHeader` (binary tx header, ids as bigint, `version` 0 or 1, `metadata` bytes), `txInnerHash`,
 *   `txAlh`, `alhOf(id, prevAlh, innerHash)`, `GENESIS_PREV_ALH` (tx 1's prevAlh),
 *   `encodeTxHeader` / `decodeTxHeader` (immudb 1.1's 124-byte serialization of a v0 header),
 *   `txHeaderToJson` / `txHeaderFromJson` (strict; throws `TypeError` naming the field).
 * - `checkTxHeaderVersion` / `checkTxMetadata`: is this a header immudb hashes as shown (else why not).
 */
import crypto from 'node:crypto';
import { HASH_MSG, isUint32, parseHash, parseHex, parseInt64, parseUint64, toHex } from './codecs.ts';
import { EMPTY, HASH_SIZE, sha256 } from './hashing.ts';
import type { TxHeaderJson, TxHeaderJsonV1 } from './types.ts';

/** An empty immudb store's Alh is sha256 of nothing, so tx 1's prevAlh is this (embedded/store Open). */
export const GENESIS_PREV_ALH: Buffer = crypto.createHash('sha256').digest();

export interface TxHeader {
  id: bigint;
  prevAlh: Buffer;
  /** Unix seconds; int64 in immudb, hashed as its two's-complement uint64. */
  ts: bigint;
  /** 0: immudb 1.1 (and 1.2+ in compatibility mode); 1: immudb 1.2+. */
  version: number;
  /** TxMetadata.Bytes() (canonical, see checkTxMetadata); always empty in v0. */
  metadata: Buffer;
  nEntries: number;
  eH: Buffer;
  blTxId: bigint;
  blRoot: Buffer;
}

/** Bytes of what a v0 header's innerHash hashes: ts(8) ‖ u32 nEntries ‖ eH ‖ blTxId(8) ‖ blRoot. */
const V0_INNER_SIZE = 8 + 4 + HASH_SIZE + 8 + HASH_SIZE;

/**
 * v0: sha256(ts(8) ‖ u32 nEntries ‖ eH ‖ blTxId(8) ‖ blRoot), as immudb 1.1 computes it. immudb
 * 1.2+ writes u16 version (0) ‖ u16 nEntries in those four bytes: the same bytes for nEntries <
 * 65,536, the only v0 headers such a server can hash the way it wrote them.
 * v1: sha256(ts(8) ‖ u16 1 ‖ u16 mdLen ‖ md ‖ u32 nEntries ‖ eH ‖ blTxId(8) ‖ blRoot).
 * Big-endian throughout.
 */
export function txInnerHash(h: TxHeader): Buffer {
  if (h.version === 0) {
    if (h.metadata.length !== 0) throw new RangeError('tx header: a v0 header has no metadata');
    const b = Buffer.allocUnsafe(V0_INNER_SIZE);
    writeV0Inner(b, 0, h);
    return sha256(b);
  }
  if (h.version !== 1) throw new RangeError(`tx header: unknown version ${h.version}`);
  const md = h.metadata;
  const b = Buffer.allocUnsafe(8 + 2 + 2 + md.length + 4 + HASH_SIZE + 8 + HASH_SIZE);
  b.writeBigUInt64BE(BigInt.asUintN(64, h.ts), 0);
  b.writeUInt16BE(1, 8);
  b.writeUInt16BE(md.length, 10);
  md.copy(b, 12);
  let at = 12 + md.length;
  at = b.writeUInt32BE(h.nEntries, at);
  at += h.eH.copy(b, at);
  at = b.writeBigUInt64BE(h.blTxId, at);
  h.blRoot.copy(b, at);
  return sha256(b);
}

/** Alh = sha256(id(8) ‖ prevAlh ‖ innerHash): the accumulative linear hash (also a linear-proof step). */
export function alhOf(id: bigint, prevAlh: Uint8Array, innerHash: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(8 + 2 * HASH_SIZE);
  b.writeBigUInt64BE(id, 0);
  b.set(prevAlh, 8);
  b.set(innerHash, 8 + HASH_SIZE);
  return sha256(b);
}

export function txAlh(h: TxHeader): Buffer {
  return alhOf(h.id, h.prevAlh, txInnerHash(h));
}

export const TX_HEADER_SIZE = 8 + HASH_SIZE + V0_INNER_SIZE;

/** immudb 1.1's TxMetadata.serialize layout of a v0 header: id, prevAlh, ts, nEntries, eH, blTxId, blRoot. */
export function encodeTxHeader(h: TxHeader): Buffer {
  if (h.version !== 0 || h.metadata.length !== 0) throw new RangeError('encodeTxHeader: only v0 headers have this layout');
  const b = Buffer.allocUnsafe(TX_HEADER_SIZE);
  b.writeBigUInt64BE(h.id, 0);
  h.prevAlh.copy(b, 8);
  writeV0Inner(b, 8 + HASH_SIZE, h);
  return b;
}

/** Writes what a v0 header's innerHash hashes at `at`: also the tail of the header's serialization. */
function writeV0Inner(b: Buffer, at: number, h: TxHeader): void {
  b.writeBigUInt64BE(BigInt.asUintN(64, h.ts), at);
  b.writeUInt32BE(h.nEntries, at + 8);
  h.eH.copy(b, at + 12);
  b.writeBigUInt64BE(h.blTxId, at + 12 + HASH_SIZE);
  h.blRoot.copy(b, at + 20 + HASH_SIZE);
}

export function decodeTxHeader(b: Uint8Array): TxHeader {
  if (b.length !== TX_HEADER_SIZE) throw new RangeError(`tx header must be ${TX_HEADER_SIZE} bytes, got ${b.length}`);
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return {
    id: buf.readBigUInt64BE(0),
    prevAlh: Buffer.from(buf.subarray(8, 40)),
    ts: BigInt.asIntN(64, buf.readBigUInt64BE(40)),
    version: 0,
    metadata: EMPTY,
    nEntries: buf.readUInt32BE(48),
    eH: Buffer.from(buf.subarray(52, 84)),
    blTxId: buf.readBigUInt64BE(84),
    blRoot: Buffer.from(buf.subarray(92, 124)),
  };
}

/** The `auditgraph.proof.v2` form of a header. */
export function txHeaderToJson(h: TxHeader): TxHeaderJson {
  return {
    id: h.id.toString(),
    prevAlh: toHex(h.prevAlh),
    ts: h.ts.toString(),
    version: h.version,
    metadata: toHex(h.metadata),
    nEntries: h.nEntries,
    eH: toHex(h.eH),
    blTxId: h.blTxId.toString(),
    blRoot: toHex(h.blRoot),
  };
}

/**
 * Strict: canonical decimal ids, 64 lowercase hex hashes, 1 <= nEntries <= 2^32-1, and for a v2
 * header (one with `version`) what checkTxHeaderVersion requires. A header without `version` and
 * `metadata` (auditgraph.proof.v1) is v0. Throws TypeError naming the field.
 */
export function txHeaderFromJson(j: TxHeaderJson | TxHeaderJsonV1): TxHeader {
  const fail = (field: string, why: string): never => {
    throw new TypeError(`${field}: ${why}`);
  };
  const id = parseUint64(j.id) ?? fail('id', 'expected a decimal uint64 string');
  const ts = parseInt64(j.ts) ?? fail('ts', 'expected a decimal int64 string');
  const blTxId = parseUint64(j.blTxId) ?? fail('blTxId', 'expected a decimal uint64 string');
  const nEntries = j.nEntries;
  if (!isUint32(nEntries) || nEntries < 1) fail('nEntries', 'expected an integer in [1, 2^32-1]');
  let version = 0;
  let metadata = EMPTY;
  if ('version' in j) {
    version = j.version;
    metadata = parseHex(j.metadata) ?? fail('metadata', 'expected lowercase hex');
    const why = checkTxHeaderVersion(version, metadata, nEntries);
    if (why) fail(why.field, why.message);
  }
  return {
    id,
    prevAlh: parseHash(j.prevAlh) ?? fail('prevAlh', HASH_MSG),
    ts,
    version,
    metadata,
    nEntries,
    eH: parseHash(j.eH) ?? fail('eH', HASH_MSG),
    blTxId,
    blRoot: parseHash(j.blRoot) ?? fail('blRoot', HASH_MSG),
  };
}

/**
 * What a v2 header must satisfy to be one immudb 1.2+ hashes as shown: version 0 or 1; v0 without
 * metadata and with fewer than 65,536 entries (1.2+ hashes its count in 16 bits); v1 metadata in
 * TxMetadata's canonical encoding. Returns the failing field and why, or null.
 */
export function checkTxHeaderVersion(version: unknown, metadata: Buffer, nEntries: number): { field: string; message: string } | null {
  if (version !== 0 && version !== 1) return { field: 'version', message: 'expected 0 or 1' };
  if (version === 0) {
    if (metadata.length !== 0) return { field: 'metadata', message: 'a v0 header has no metadata' };
    if (nEntries > 0xffff) return { field: 'nEntries', message: 'a v0 header holds at most 65,535 entries' };
    return null;
  }
  const why = checkTxMetadata(metadata);
  return why ? { field: 'metadata', message: why } : null;
}

/** immudb's limit on a tx's extra metadata (tx_metadata.go maxExtraLen). */
export const MAX_TX_EXTRA = 256;

/**
 * TxMetadata.Bytes() is the attributes in code order: 0x00 ‖ u64 truncatedUpToTxId, then
 * 0x01 ‖ u16 len ‖ extra (1..256 bytes). Returns why `b` is not such an encoding, or null.
 */
export function checkTxMetadata(b: Uint8Array): string | null {
  let at = 0;
  if (at < b.length && b[at] === 0x00) {
    if (b.length - at < 9) return 'truncated tx id attribute cut short';
    at += 9;
  }
  if (at < b.length && b[at] === 0x01) {
    if (b.length - at < 3) return 'extra attribute cut short';
    const len = (b[at + 1]! << 8) | b[at + 2]!;
    if (len < 1 || len > MAX_TX_EXTRA) return `extra attribute of ${len} bytes (1..${MAX_TX_EXTRA})`;
    if (b.length - at - 3 < len) return 'extra attribute cut short';
    at += 3 + len;
  }
  return at === b.length ? null : 'not a canonical TxMetadata encoding';
}
