/**
 * Hash primitives of immudb, bit for bit, for both transaction header versions: v0 (immudb 1.1,
 * and 1.2+ in compatibility mode) and v1 (immudb 1.2+: header metadata and KV metadata hashed).
 * References: embedded/store/tx.go, tx_metadata.go, kv_metadata.go, embedded/htree/htree.go,
 * pkg/database/meta.go (immudb 1.1.0 and 1.11.1). Pure: nothing but node:crypto.
 *
 * Public surface:
 * - `sha256(...parts)`, `HASH_SIZE`, `ZERO_HASH`
 * - `entryDigest(key, value, version?, metadata?)`: digest of a gateway entry as immudb's database
 *   layer stores it (key = 0x00 ‖ key, value = 0x00 ‖ value) in a tx of that header version;
 *   `kvDigest(storedKey, storedValue)`: the raw v0 store digest.
 * - `TxHeader` (binary tx header, ids as bigint, `version` 0 or 1, `metadata` bytes), `txInnerHash`,
 *   `txAlh`, `alhOf(id, prevAlh, innerHash)`, `GENESIS_PREV_ALH` (tx 1's prevAlh),
 *   `encodeTxHeader` / `decodeTxHeader` (immudb 1.1's 124-byte serialization of a v0 header),
 *   `txHeaderToJson` / `txHeaderFromJson` (strict; throws `TypeError` naming the field).
 * - `checkTxMetadata` / `checkKvMetadata`: is this the canonical encoding immudb hashes (else why not).
 * - `HTree` (per-tx Merkle tree: `HTree.build(digests, hashInto?)`, `.root`, `.width`, `.inclusionProof(i)`),
 *   `txEntryTree(entries, version, hashInto?)` (a tx's tree from its entries' keys, value hashes and metadata),
 *   `HashInto` / `nodeHashInto` (a ledger building its own trees may pass a faster hash; the verifier uses node:crypto),
 *   `verifyHTreeInclusion`, `htreeProofLength`.
 * - `stateSignaturePayload(database, txId, txHash)`: the bytes immudb's server signs (ImmutableState.ToBytes).
 * - strict codecs: `toHex`, `parseHash`, `toBase64`, `parseBase64`, `parseUint64`, `parseInt64`.
 */
import crypto from 'node:crypto';
import type { TxHeaderJson, TxHeaderJsonV1 } from './types.ts';

export const HASH_SIZE = 32;
export const ZERO_HASH: Buffer = Buffer.alloc(HASH_SIZE);
/** An empty immudb store's Alh is sha256 of nothing, so tx 1's prevAlh is this (embedded/store Open). */
export const GENESIS_PREV_ALH: Buffer = crypto.createHash('sha256').digest();

/** immudb's database layer prefixes (pkg/database/meta.go): SetKeyPrefix and PlainValuePrefix. */
export const SET_KEY_PREFIX = 0x00;
export const PLAIN_VALUE_PREFIX = 0x00;

// Prefixes that keep leaves and inner nodes apart, in both htree and ahtree.
export const LEAF_PREFIX = 0x00;
export const NODE_PREFIX = 0x01;

export const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
export const UINT32_MAX = 0xffffffff;

// crypto.hash (Node >= 20.12) skips the Hash object and is ~1.5x faster on small inputs.
const oneShot = typeof crypto.hash === 'function';

export function sha256(...parts: Uint8Array[]): Buffer {
  if (!oneShot) {
    const h = crypto.createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest();
  }
  if (parts.length === 1) return crypto.hash('sha256', parts[0]!, 'buffer');
  // SHA-256 of the parts in sequence is SHA-256 of their concatenation; for the small inputs
  // hashed here (keys, digests, headers) one copy is cheaper than a Hash object per call.
  return crypto.hash('sha256', Buffer.concat(parts), 'buffer');
}

/** store.KV.Digest: sha256(key ‖ sha256(value)) over the bytes the store holds. */
export function kvDigest(storedKey: Uint8Array, storedValue: Uint8Array): Buffer {
  return sha256(storedKey, sha256(storedValue));
}

/**
 * Digest of an entry written through immudb's database layer (Set / VerifiableSet / ExecAll) in a
 * tx of header `version`: the stored key is 0x00 ‖ key, the hValue sha256(0x00 ‖ value); see
 * writeTxEntryDigestInput.
 */
export function entryDigest(key: Uint8Array, value: Uint8Array, version = 0, metadata: Uint8Array = EMPTY): Buffer {
  const storedKey = withPrefix(SET_KEY_PREFIX, key);
  const b = Buffer.allocUnsafe(txEntryDigestInputSize(version, storedKey.length, metadata.length));
  return sha256(b.subarray(0, writeTxEntryDigestInput(b, version, storedKey, storedValueHash(value), metadata)));
}

/** Bytes writeTxEntryDigestInput writes for a key, metadata and value hash of these lengths. */
const txEntryDigestInputSize = (version: number, keyLength: number, mdLength: number, hLength = HASH_SIZE) => (version === 1 ? 4 + mdLength : 0) + keyLength + hLength;

/**
 * What a tx entry's digest hashes (store.TxEntry's, over the key as stored and the value's hash),
 * written at the start of `out`; returns its length. v0 (TxEntryDigest_v1_1, no metadata):
 * key ‖ hValue. v1 (TxEntryDigest_v1_2): u16 mdLen ‖ md ‖ u16 kLen ‖ key ‖ hValue.
 */
function writeTxEntryDigestInput(out: Buffer, version: number, key: Uint8Array, hValue: Uint8Array, metadata: Uint8Array): number {
  let at = 0;
  if (version === 1) {
    at = out.writeUInt16BE(metadata.length, 0);
    out.set(metadata, at);
    at = out.writeUInt16BE(key.length, at + metadata.length);
  } else if (version !== 0) throw new RangeError(`tx header: unknown version ${version}`);
  else if (metadata.length !== 0) throw new RangeError('tx entry: a v0 tx entry has no metadata');
  out.set(key, at);
  out.set(hValue, at + key.length);
  return at + key.length + hValue.length;
}

/** The hValue immudb's TxScan lists for a value written through its database layer: sha256(0x00 ‖ value). */
export function storedValueHash(value: Uint8Array): Buffer {
  return sha256(withPrefix(PLAIN_VALUE_PREFIX, value));
}

function withPrefix(prefix: number, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + b.length);
  out[0] = prefix;
  out.set(b, 1);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tx header (store.TxMetadata)

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

export const EMPTY: Buffer = Buffer.alloc(0);

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
    const b = Buffer.allocUnsafe(8 + 4 + HASH_SIZE + 8 + HASH_SIZE);
    b.writeBigUInt64BE(BigInt.asUintN(64, h.ts), 0);
    b.writeUInt32BE(h.nEntries, 8);
    h.eH.copy(b, 12);
    b.writeBigUInt64BE(h.blTxId, 44);
    h.blRoot.copy(b, 52);
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

export const TX_HEADER_SIZE = 8 + HASH_SIZE + 8 + 4 + HASH_SIZE + 8 + HASH_SIZE;

/** immudb 1.1's TxMetadata.serialize layout of a v0 header: id, prevAlh, ts, nEntries, eH, blTxId, blRoot. */
export function encodeTxHeader(h: TxHeader): Buffer {
  if (h.version !== 0 || h.metadata.length !== 0) throw new RangeError('encodeTxHeader: only v0 headers have this layout');
  const b = Buffer.allocUnsafe(TX_HEADER_SIZE);
  b.writeBigUInt64BE(h.id, 0);
  h.prevAlh.copy(b, 8);
  b.writeBigUInt64BE(BigInt.asUintN(64, h.ts), 40);
  b.writeUInt32BE(h.nEntries, 48);
  h.eH.copy(b, 52);
  b.writeBigUInt64BE(h.blTxId, 84);
  h.blRoot.copy(b, 92);
  return b;
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

/**
 * KVMetadata.Bytes() is the attributes in code order: 0x00 (deleted), 0x01 ‖ u64 expiresAt,
 * 0x02 (non-indexable). Returns why `b` is not such an encoding, or null.
 */
export function checkKvMetadata(b: Uint8Array): string | null {
  let at = 0;
  if (at < b.length && b[at] === 0x00) at += 1;
  if (at < b.length && b[at] === 0x01) {
    if (b.length - at < 9) return 'expiration attribute cut short';
    at += 9;
  }
  if (at < b.length && b[at] === 0x02) at += 1;
  return at === b.length ? null : 'not a canonical KVMetadata encoding';
}

export const HASH_MSG = 'expected 64 lowercase hex chars';

/** ImmutableState.ToBytes (pkg/api/schema/state.go): u32 len(db) ‖ db ‖ u64 txId ‖ txHash. */
export function stateSignaturePayload(database: string, txId: bigint, txHash: Uint8Array): Buffer {
  const db = Buffer.from(database, 'utf8');
  const b = Buffer.alloc(4 + db.length + 8 + txHash.length);
  b.writeUInt32BE(db.length, 0);
  db.copy(b, 4);
  b.writeBigUInt64BE(txId, 4 + db.length);
  b.set(txHash, 4 + db.length + 8);
  return b;
}

// ---------------------------------------------------------------------------------------------
// HTree: the per-tx Merkle tree over entry digests (embedded/htree). Leaves are sha256(0x00 ‖ d),
// nodes sha256(0x01 ‖ l ‖ r); an odd node at the end of a level is carried up unchanged.

const bitLen32 = (x: number): number => 32 - Math.clz32(x);

/** Writes sha256(src[start..end)) to out[at..at+32). */
export type HashInto = (src: Uint8Array, start: number, end: number, out: Uint8Array, at: number) => void;

/** node:crypto as a HashInto (the default; a ledger may pass a faster one, its trees are verified). */
export const nodeHashInto: HashInto = (src, start, end, out, at) => {
  out.set(sha256(src.subarray(start, end)), at);
};

export class HTree {
  /** levels[0] = leaf hashes, levels[last] = [root]; each level one buffer of 32-byte hashes. */
  private constructor(private readonly levels: Buffer[]) {}

  /**
   * The tree over `digests`: 32-byte digests, as a list or packed one after another in one buffer.
   * `hashInto` computes every hash of the tree (node:crypto unless given).
   */
  static build(digests: readonly Uint8Array[] | Buffer, hashInto: HashInto = nodeHashInto): HTree {
    const packed = Buffer.isBuffer(digests);
    if (packed && digests.length % HASH_SIZE !== 0) throw new RangeError('htree: digests must be 32 bytes');
    const width = packed ? digests.length / HASH_SIZE : digests.length;
    if (width === 0) throw new RangeError('htree: at least one digest required');
    if (width > UINT32_MAX) throw new RangeError('htree: too many digests');
    const scratch = Buffer.allocUnsafe(1 + 2 * HASH_SIZE);
    let level = Buffer.allocUnsafe(width * HASH_SIZE);
    scratch[0] = LEAF_PREFIX;
    for (let i = 0; i < width; i++) {
      if (packed) digests.copy(scratch, 1, i * HASH_SIZE, (i + 1) * HASH_SIZE);
      else {
        const d = (digests as readonly Uint8Array[])[i]!;
        if (d.length !== HASH_SIZE) throw new RangeError('htree: digests must be 32 bytes');
        scratch.set(d, 1);
      }
      hashInto(scratch, 0, 1 + HASH_SIZE, level, i * HASH_SIZE);
    }
    const levels = [level];
    scratch[0] = NODE_PREFIX;
    for (let n = width; n > 1; ) {
      const up = Math.ceil(n / 2);
      const next = Buffer.allocUnsafe(up * HASH_SIZE);
      for (let i = 0; i + 1 < n; i += 2) {
        level.copy(scratch, 1, i * HASH_SIZE, (i + 2) * HASH_SIZE);
        hashInto(scratch, 0, 1 + 2 * HASH_SIZE, next, (i / 2) * HASH_SIZE);
      }
      if (n % 2 === 1) level.copy(next, (up - 1) * HASH_SIZE, (n - 1) * HASH_SIZE, n * HASH_SIZE);
      levels.push(next);
      level = next;
      n = up;
    }
    return new HTree(levels);
  }

  get width(): number {
    return this.levels[0]!.length / HASH_SIZE;
  }

  get root(): Buffer {
    return Buffer.from(this.node(this.levels.length - 1, 0));
  }

  /** A view of the hash at (layer, at). */
  private node(layer: number, at: number): Buffer {
    const level = this.levels[layer];
    if (!level || at < 0 || (at + 1) * HASH_SIZE > level.length) throw new RangeError(`htree: no node ${at} at layer ${layer}`);
    return level.subarray(at * HASH_SIZE, (at + 1) * HASH_SIZE);
  }

  /**
   * Where the terms of `leaf`'s inclusion proof sit, bottom-up, as immudb's HTree.InclusionProof
   * finds them: split the range at the largest power of two below its width, take the sibling
   * subtree's root, descend into the half holding the leaf.
   */
  private inclusionNodes(leaf: number): { layer: number; at: number }[] {
    const width = this.width;
    if (!Number.isInteger(leaf) || leaf < 0 || leaf >= width) throw new RangeError('htree: leaf out of range');
    const nodes: { layer: number; at: number }[] = [];
    let m = leaf;
    let n = width;
    let offset = 0;
    while (!(n < 1 || (n === 1 && m === 0))) {
      const k = 2 ** (bitLen32(n - 1) - 1);
      let lo: number;
      let hi: number;
      if (m < k) {
        lo = offset + k;
        hi = offset + n - 1;
        n = k;
      } else {
        lo = offset;
        hi = offset + k - 1;
        m -= k;
        n -= k;
        offset += k;
      }
      // The sibling range [lo, hi] is a subtree whose root sits at layer bitLen(hi - lo).
      const layer = bitLen32(hi - lo);
      nodes.push({ layer, at: Math.floor(lo / 2 ** layer) });
    }
    return nodes.reverse();
  }

  /** Terms bottom-up, as immudb's HTree.InclusionProof. */
  inclusionProof(leaf: number): Buffer[] {
    return this.inclusionNodes(leaf).map(({ layer, at }) => Buffer.from(this.node(layer, at)));
  }

  private hexLevels: (string | undefined)[][] | undefined;

  /**
   * `inclusionProof(leaf)` as lowercase hex (the same strings `toHex` gives). Each node is encoded
   * once per tree, so the proofs of all leaves share their upper terms' strings.
   */
  inclusionProofHex(leaf: number): string[] {
    const hexLevels = (this.hexLevels ??= this.levels.map((l) => new Array<string | undefined>(l.length / HASH_SIZE)));
    return this.inclusionNodes(leaf).map(({ layer, at }) => (hexLevels[layer]![at] ??= this.node(layer, at).toString('hex')));
  }
}

/**
 * The hash tree of a tx of header `version` from its entries as immudb lists them (key with its
 * one-byte prefix, hash of the stored value, KV metadata bytes): digests as store.TxEntry's
 * (v0 sha256(key ‖ hValue), v1 sha256(u16 mdLen ‖ md ‖ u16 kLen ‖ key ‖ hValue)), then the tree.
 * Its root is the tx's eH. Every hash through `hashInto`.
 */
export function txEntryTree(
  entries: readonly { key: Uint8Array; hValue: Uint8Array; metadata?: Uint8Array }[],
  version: number,
  hashInto: HashInto = nodeHashInto,
): HTree {
  const digests = Buffer.allocUnsafe(entries.length * HASH_SIZE);
  const scratch = Buffer.allocUnsafe(entries.reduce((m, e) => Math.max(m, txEntryDigestInputSize(version, e.key.length, e.metadata?.length ?? 0, e.hValue.length)), 0));
  entries.forEach(({ key, hValue, metadata = EMPTY }, i) => {
    hashInto(scratch, 0, writeTxEntryDigestInput(scratch, version, key, hValue, metadata), digests, i * HASH_SIZE);
  });
  return HTree.build(digests, hashInto);
}

/** Number of terms immudb's HTree.InclusionProof yields for (leaf, width); -1 when out of range. */
export function htreeProofLength(leaf: number, width: number): number {
  if (!isUint32(leaf) || !isUint32(width) || leaf >= width) return -1;
  let m = leaf;
  let n = width;
  let count = 0;
  while (!(n < 1 || (n === 1 && m === 0))) {
    const k = 2 ** (bitLen32(n - 1) - 1);
    if (m < k) n = k;
    else {
      m -= k;
      n -= k;
    }
    count++;
  }
  return count;
}

/**
 * States of the htree fold that went on to reach the root, by (i, r, calc), each with the terms
 * that were left to fold from there: shared by the inclusion checks of one tx (one width, one root).
 */
export type HTreeFolds = Map<string, { terms: readonly Uint8Array[]; from: number }>;

/**
 * htree.VerifyInclusion, plus the exact term count for (leaf, width).
 *
 * With `folds` (the bundle check of one tx, verify.ts), the fold's states are remembered. The fold
 * is a pure function: from a state (i, r, calc) the remaining terms alone decide whether it ends at
 * `root`. So when this fold arrives at a state an earlier fold passed through on its way to `root`
 * (same i, same r, same calc bytes) with the same terms left to fold (same count, same bytes), the
 * rest would compute exactly what it computed then, and the answer is the same `true`; those
 * hashes are not repeated. No hash-collision argument is needed: only states from which the very
 * same computation already succeeded are reused. The digest is still hashed into the fold, and the
 * terms up to there still folded.
 */
export function verifyHTreeInclusion(
  terms: readonly Uint8Array[],
  leaf: number,
  width: number,
  digest: Uint8Array,
  root: Uint8Array,
  folds?: HTreeFolds,
): boolean {
  if (htreeProofLength(leaf, width) !== terms.length) return false;
  const b = Buffer.allocUnsafe(1 + 2 * HASH_SIZE);
  b[0] = LEAF_PREFIX;
  b.set(digest, 1);
  let calc = sha256(b.subarray(0, 1 + HASH_SIZE));
  let i = leaf;
  let r = width - 1;
  b[0] = NODE_PREFIX;
  const seen: string[] = [];
  for (let s = 0; ; s++) {
    if (folds) {
      const state = `${i}/${r}/${calc.toString('latin1')}`;
      const known = folds.get(state);
      if (known !== undefined && sameTerms(known.terms, known.from, terms, s)) break;
      seen.push(state);
    }
    if (s === terms.length) {
      if (!(i === r && calc.equals(root))) return false;
      break;
    }
    const t = terms[s]!;
    // A left child with a right sibling hashes first; the last node of a level (carried up) is a right child.
    if (i % 2 === 0 && i !== r) {
      b.set(calc, 1);
      b.set(t, 1 + HASH_SIZE);
    } else {
      b.set(t, 1);
      b.set(calc, 1 + HASH_SIZE);
    }
    calc = sha256(b);
    i = Math.floor(i / 2);
    r = Math.floor(r / 2);
  }
  // Reached root: every state passed on the way leads there with the terms that followed it.
  if (folds) for (let s = 0; s < seen.length; s++) folds.set(seen[s]!, { terms, from: s });
  return true;
}

function sameTerms(a: readonly Uint8Array[], aFrom: number, b: readonly Uint8Array[], bFrom: number): boolean {
  if (a.length - aFrom !== b.length - bFrom) return false;
  for (let k = 0; k < a.length - aFrom; k++) {
    const x = a[aFrom + k]!;
    const y = b[bFrom + k]!;
    if (x !== y && !Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(y)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Strict codecs. Each returns undefined on anything non-canonical so a tampered encoding can't
// smuggle alternative bytes past an equality check.

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
