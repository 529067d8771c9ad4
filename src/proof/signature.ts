/**
 * State signatures as immudb's pkg/signer makes them: ECDSA P-256 over sha256 of the state's bytes
 * (ImmutableState.ToBytes), DER SEQUENCE { r INTEGER, s INTEGER }, the key an uncompressed point.
 */
import crypto from 'node:crypto';
import { fail } from './checks.ts';

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

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
// SubjectPublicKeyInfo header for an uncompressed P-256 point (id-ecPublicKey, prime256v1).
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

/** Fails the `signature` check unless `signature` is the key's signature of `payload`. */
export function checkSignature(payload: Buffer, publicKey: Buffer, signature: Buffer): void {
  // elliptic.Unmarshal accepts only the uncompressed form.
  if (publicKey.length !== 65 || publicKey[0] !== 0x04) fail('signature', 'public key is not an uncompressed P-256 point');
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: Buffer.concat([P256_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  } catch {
    fail('signature', 'public key is not a point on P-256');
    return;
  }
  const rs = parseDerSignature(signature) ?? fail('signature', 'signature is not a DER ECDSA signature');
  if (!crypto.verify('sha256', payload, { key, dsaEncoding: 'ieee-p1363' }, rs)) {
    fail('signature', 'signature does not match the state');
  }
}

/** Strict DER: minimal lengths and integers, 0 < r, s < n, nothing after. Returns r ‖ s (64 bytes). */
function parseDerSignature(der: Buffer): Buffer | undefined {
  let pos = 0;
  const byte = () => (pos < der.length ? der[pos++]! : -1);
  const len = (): number => {
    const l = byte();
    // Every valid P-256 signature fits short-form lengths (< 128).
    return l >= 0 && l < 0x80 ? l : -1;
  };
  const int = (): bigint | undefined => {
    if (byte() !== 0x02) return undefined;
    const l = len();
    if (l < 1 || pos + l > der.length) return undefined;
    const bytes = der.subarray(pos, pos + l);
    pos += l;
    if (bytes[0]! & 0x80) return undefined; // negative
    if (l > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) return undefined; // non-minimal
    const v = BigInt(`0x${bytes.toString('hex')}`);
    return v > 0n && v < P256_N ? v : undefined;
  };
  if (byte() !== 0x30) return undefined;
  const seqLen = len();
  if (seqLen < 0 || pos + seqLen !== der.length) return undefined;
  const r = int();
  const s = int();
  if (r === undefined || s === undefined || pos !== der.length) return undefined;
  const out = Buffer.alloc(64);
  out.write(r.toString(16).padStart(64, '0'), 0, 'hex');
  out.write(s.toString(16).padStart(64, '0'), 32, 'hex');
  return out;
}
