/**
 * SHA-256 and entry digests of immudb, bit for bit, for both transaction header versions: v0
 * (immudb 1.1, and 1.2+ in compatibility mode) and v1 (immudb 1.2+: KV metadata hashed).
 * References: embedded/store/tx.go, kv_metadata.go, pkg/database/meta.go (immudb 1.1.0 and
 * 1.11.1). Pure: nothing but node:crypto. The rest of the arithmetic: tx-header.ts (headers, Alh),
 * htree.ts (a tx's Merkle tree), ahtree.ts (binary linking), codecs.ts (strict text codecs).
 *
 * Public surface:
 * - `sha256(...parts)`, `sha256Into(src, start, end, out, at)`, `HASH_SIZE`, `ZERO_HASH`, `EMPTY`, the one-byte prefixes.
 * - `entryDigest(key, value, version?, metadata?)`: digest of a gateway entry as immudb's database
 *   layer stores it (key = 0x00 ‖ key, value = 0x00 ‖ value) in a tx of that header version, and
 *   `entryDigestInput` (the bytes it hashes);
 *   `kvDigest(storedKey, storedValue)`: the raw v0 store digest; `storedValueHash(value)` (in hex:
 *   `storedValueHashHex`);
 *   `writeTxEntryDigestInput` / `txEntryDigestInputSize`: what a tx entry's digest hashes;
 *   `withPrefix(prefix, bytes)`: a key or value as the database layer stores it.
 * - `checkKvMetadata`: is this the canonical KV metadata encoding immudb hashes (else why not).
 */
import crypto from 'node:crypto';

export const HASH_SIZE = 32;
export const ZERO_HASH: Buffer = Buffer.alloc(HASH_SIZE);
export const EMPTY: Buffer = Buffer.alloc(0);

/** immudb's database layer prefixes (pkg/database/meta.go): SetKeyPrefix and PlainValuePrefix. */
export const SET_KEY_PREFIX = 0x00;
export const PLAIN_VALUE_PREFIX = 0x00;

// Prefixes that keep leaves and inner nodes apart, in both htree and ahtree.
export const LEAF_PREFIX = 0x00;
export const NODE_PREFIX = 0x01;

// crypto.hash (Node >= 20.12) skips the Hash object: cheaper on small inputs.
const oneShot = typeof crypto.hash === 'function';

export function sha256(...parts: Uint8Array[]): Buffer {
  if (!oneShot) {
    const h = crypto.createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest();
  }
  // SHA-256 of the parts in sequence is SHA-256 of their concatenation; for the small inputs
  // hashed here (keys, digests, headers) one copy is cheaper than a Hash object per call.
  // The digest comes back as a 'binary' (latin1) string (one code unit per byte, exact) and is copied into a
  // Buffer from Node's pool: cheaper than the 'buffer' output, which gives each digest its own
  // ArrayBuffer.
  return Buffer.from(crypto.hash('sha256', parts.length === 1 ? parts[0]! : Buffer.concat(parts), 'binary'), 'latin1');
}

/** sha256(src[start..end)) written to out[at..at+32): no Buffer per digest (see sha256). */
export function sha256Into(src: Uint8Array, start: number, end: number, out: Buffer, at: number): void {
  if (!oneShot) {
    crypto.createHash('sha256').update(src.subarray(start, end)).digest().copy(out, at);
    return;
  }
  out.write(crypto.hash('sha256', src.subarray(start, end), 'binary'), at, HASH_SIZE, 'latin1');
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
  return sha256(entryDigestInput(key, value, version, metadata));
}

/** What entryDigest hashes: writeTxEntryDigestInput over 0x00 ‖ key and sha256(0x00 ‖ value). */
export function entryDigestInput(key: Uint8Array, value: Uint8Array, version = 0, metadata: Uint8Array = EMPTY): Buffer {
  const storedKey = withPrefix(SET_KEY_PREFIX, key);
  const b = Buffer.allocUnsafe(txEntryDigestInputSize(version, storedKey.length, metadata.length));
  return b.subarray(0, writeTxEntryDigestInput(b, version, storedKey, storedValueHash(value), metadata));
}

/** Bytes writeTxEntryDigestInput writes for a key, metadata and value hash of these lengths. */
export const txEntryDigestInputSize = (version: number, keyLength: number, mdLength: number, hLength = HASH_SIZE) =>
  (version === 1 ? 4 + mdLength : 0) + keyLength + hLength;

/**
 * What a tx entry's digest hashes (store.TxEntry's, over the key as stored and the value's hash),
 * written at the start of `out`; returns its length. v0 (TxEntryDigest_v1_1, no metadata):
 * key ‖ hValue. v1 (TxEntryDigest_v1_2): u16 mdLen ‖ md ‖ u16 kLen ‖ key ‖ hValue.
 */
export function writeTxEntryDigestInput(out: Buffer, version: number, key: Uint8Array, hValue: Uint8Array, metadata: Uint8Array): number {
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

/** storedValueHash(value) in hex, hashed from a scratch buffer reused from call to call. */
export function storedValueHashHex(value: Uint8Array): string {
  if (scratch.length < 1 + value.length) scratch = Buffer.allocUnsafe(Math.max(1 + value.length, 2 * scratch.length));
  scratch[0] = PLAIN_VALUE_PREFIX;
  scratch.set(value, 1);
  const data = scratch.subarray(0, 1 + value.length);
  return oneShot ? crypto.hash('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
}

let scratch = Buffer.allocUnsafe(1024);

/** prefix ‖ b, as immudb's database layer stores keys and values. */
export function withPrefix(prefix: number, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + b.length);
  out[0] = prefix;
  out.set(b, 1);
  return out;
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
