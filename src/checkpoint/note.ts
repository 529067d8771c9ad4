/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, under the rules of Go's
 * golang.org/x/mod/sumdb/note (pinned by test/fixtures/sumdb-note-v0.43.0):
 *
 * - a note is UTF-8 text without control characters other than "\n", ending in "\n"; then a blank
 *   line; then 1 to 100 lines `— <key name> <base64(4-byte key hash ‖ signature)>`;
 * - a key name is non-empty, well-formed, without Unicode white space or "+"; the key hash is the
 *   first 4 bytes (big-endian) of SHA-256(name ‖ "\n" ‖ 0x01 ‖ 32-byte public key);
 * - a verifier key reads `<name>+<8 hex key hash>+<base64(0x01 ‖ public key)>`;
 * - signatures by unknown keys are ignored, a repeated one counted once; a bad signature by a known
 *   key rejects the note, and at least one known key must have signed it.
 *
 * One rule is stricter than Go: base64 must be canonical. Go's decoder ignores the unused bits of
 * the last digit, so a note with such a bit flipped would still open there; here no byte of a note
 * can change without it being refused.
 *
 * Pure: no I/O; node:crypto only.
 */
// No maintained npm package encodes or verifies C2SP signed notes (there are Go, Rust, PHP and Elixir ones), so this file does.
import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { parseBase64 } from '../proof/codecs.ts';

/** The algorithm byte of an Ed25519 key in a verifier key (the only algorithm of the format). */
const ALG_ED25519 = 0x01;
/** Go refuses notes with more signature lines than this. */
export const MAX_NOTE_SIGNATURES = 100;
const SIGNATURE_PREFIX = '\u2014 ';

/** Why a note or key was refused, in the categories Go's errors fall into. */
export type NoteErrorReason = 'malformed' | 'invalid-signature' | 'unverified' | 'ambiguous' | 'bad-key';

export class NoteError extends Error {
  constructor(
    readonly reason: NoteErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'NoteError';
  }
}

// unicode.IsSpace (Go) is White_Space: JS's \s adds U+FEFF and lacks U+0085, so the class is spelt out.
const SPACE_OR_PLUS = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+]/;

// With the u flag a surrogate pair is one code point, so this matches lone surrogates only (not well-formed).
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Whether `name` may name a key: non-empty, well-formed, no Unicode white space, no "+". */
export function isValidKeyName(name: string): boolean {
  return name !== '' && !LONE_SURROGATE.test(name) && !SPACE_OR_PLUS.test(name);
}

/** The 32-bit key hash of a key named `name` whose encoded public key is `algKey` (algorithm byte first). */
export function keyHash(name: string, algKey: Uint8Array): number {
  return createHash('sha256').update(name, 'utf8').update('\n').update(algKey).digest().readUInt32BE(0);
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyHash: number;
  /** The verifier key string it was made from (or that makes it). */
  readonly verifierKey: string;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSigner {
  readonly name: string;
  readonly keyHash: number;
  /** The verifier key of this signer, to hand to whoever checks its notes. */
  readonly verifierKey: string;
  sign(message: Uint8Array): Uint8Array;
}

/** `name+hash` as notes and errors name a key. */
export const keyId = (name: string, hash: number) => `${name}+${hash.toString(16).padStart(8, '0')}`;

// SubjectPublicKeyInfo header of a raw Ed25519 public key (RFC 8410).
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function verifierKeyOf(name: string, publicKey: Uint8Array): { key: string; hash: number } {
  const algKey = Buffer.concat([Buffer.from([ALG_ED25519]), publicKey]);
  const hash = keyHash(name, algKey);
  return { key: `${keyId(name, hash)}+${algKey.toString('base64')}`, hash };
}

/** A signer for the Ed25519 private key `privateKey`, named `name`. */
export function ed25519Signer(name: string, privateKey: KeyObject): NoteSigner {
  if (!isValidKeyName(name)) throw new NoteError('bad-key', `invalid key name ${JSON.stringify(name)}: it must be non-empty, without spaces or "+"`);
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519')
    throw new NoteError('bad-key', 'the signing key must be an Ed25519 private key');
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const { key, hash } = verifierKeyOf(name, spki.subarray(ED25519_SPKI_PREFIX.length));
  return {
    name,
    keyHash: hash,
    verifierKey: key,
    sign: (message) => cryptoSign(null, message, privateKey),
  };
}

/** Parses a verifier key `<name>+<hash>+<base64 key>`; NoteError('bad-key') says what is wrong with it. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const bad = (why: string) => new NoteError('bad-key', `malformed verifier key: ${why}`);
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  if (second < 0) throw bad('expected <name>+<hash>+<key>');
  const name = vkey.slice(0, first);
  const hash16 = vkey.slice(first + 1, second);
  const key = parseBase64(vkey.slice(second + 1));
  if (!isValidKeyName(name)) throw bad('the name must be non-empty, without spaces or "+"');
  if (!/^[0-9a-fA-F]{8}$/.test(hash16)) throw bad('the key hash must be 8 hex digits');
  if (!key || key.length === 0) throw bad('the key must be standard base64');
  const hash = Number.parseInt(hash16, 16);
  if (hash !== keyHash(name, key)) throw bad(`the key hash ${hash16} is not the hash of this name and key`);
  if (key[0] !== ALG_ED25519) throw bad(`unknown key algorithm ${key[0]}`);
  if (key.length !== 33) throw bad('an Ed25519 key is 32 bytes');
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, key.subarray(1)]), format: 'der', type: 'spki' });
  } catch {
    throw bad('not an Ed25519 public key');
  }
  return {
    name,
    keyHash: hash,
    verifierKey: vkey,
    // crypto/ed25519's Verify: false for a signature of the wrong length, never an error.
    verify: (message, signature) => signature.length === 64 && cryptoVerify(null, message, publicKey, signature),
  };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters other than "\n", which notes may not hold
const CONTROL = /[\x00-\x09\x0b-\x1f]/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The note as text: well-formed UTF-8 without control characters except "\n". */
function noteText(message: Uint8Array | string): string {
  let text: string;
  if (typeof message === 'string') {
    if (LONE_SURROGATE.test(message)) throw new NoteError('malformed', 'malformed note: not well-formed Unicode');
    text = message;
  } else {
    try {
      text = utf8.decode(message);
    } catch {
      throw new NoteError('malformed', 'malformed note: not UTF-8');
    }
  }
  if (CONTROL.test(text)) throw new NoteError('malformed', 'malformed note: a control character other than a newline');
  return text;
}

/** Signs `text` (which must end in "\n" and obey the note rules) with each signer, in order. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  noteText(text);
  if (!text.endsWith('\n')) throw new NoteError('malformed', 'malformed note: the text must end with a newline');
  if (signers.length === 0 || signers.length > MAX_NOTE_SIGNATURES) throw new NoteError('malformed', `a note needs 1 to ${MAX_NOTE_SIGNATURES} signatures`);
  const message = Buffer.from(text, 'utf8');
  let out = `${text}\n`;
  for (const s of signers) {
    if (!isValidKeyName(s.name)) throw new NoteError('bad-key', `invalid key name ${JSON.stringify(s.name)}`);
    const sig = Buffer.alloc(4 + 64);
    sig.writeUInt32BE(s.keyHash, 0);
    const raw = s.sign(message);
    if (raw.length !== 64) throw new NoteError('bad-key', 'an Ed25519 signature is 64 bytes');
    sig.set(raw, 4);
    out += `${SIGNATURE_PREFIX}${s.name} ${sig.toString('base64')}\n`;
  }
  return out;
}

export interface NoteSignature {
  name: string;
  keyHash: number;
}

export interface OpenedNote {
  /** The signed text, ending in "\n". */
  text: string;
  /** Known keys whose signatures verified, in note order. */
  verified: NoteSignature[];
  /** Signatures by keys not among the known ones (not checked), each once. */
  unverified: NoteSignature[];
}

/**
 * Opens a signed note: checks its form and the signatures of the `known` keys (Go's note.Open).
 * Throws NoteError: `malformed`, `invalid-signature` (a known key's signature does not verify),
 * `unverified` (no known key signed it) or `ambiguous` (two known keys share name and hash).
 */
export function openNote(message: Uint8Array | string, known: readonly NoteVerifier[]): OpenedNote {
  const note = noteText(message);
  const malformed = (why: string) => new NoteError('malformed', `malformed note: ${why}`);
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const sigs = note.slice(split + 2);
  if (sigs === '' || !sigs.endsWith('\n')) throw malformed('the signatures must be lines ending with a newline');
  const signed = Buffer.from(text, 'utf8');

  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  const seenUnverified = new Set<string>();
  const lines = sigs.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformed(`more than ${MAX_NOTE_SIGNATURES} signatures`);
  for (const whole of lines) {
    if (!whole.startsWith(SIGNATURE_PREFIX)) throw malformed('a signature line must start with "— " (em dash, space)');
    const line = whole.slice(SIGNATURE_PREFIX.length);
    const space = line.indexOf(' ');
    const name = space < 0 ? line : line.slice(0, space);
    const b64 = space < 0 ? '' : line.slice(space + 1);
    const sig = b64 === '' ? undefined : parseBase64(b64);
    if (!sig || !isValidKeyName(name) || sig.length < 5) throw malformed('a signature line must be "— <key name> <base64 key hash and signature>"');
    const hash = sig.readUInt32BE(0);
    const id = keyId(name, hash);
    const matches = known.filter((v) => v.name === name && v.keyHash === hash);
    if (matches.length === 0) {
      if (!seenUnverified.has(line)) {
        seenUnverified.add(line);
        unverified.push({ name, keyHash: hash });
      }
      continue;
    }
    if (matches.length > 1) throw new NoteError('ambiguous', `ambiguous key ${id}: more than one known key has that name and hash`);
    if (seen.has(id)) continue;
    seen.add(id);
    if (!matches[0]!.verify(signed, sig.subarray(4))) throw new NoteError('invalid-signature', `invalid signature for key ${id}`);
    verified.push({ name, keyHash: hash });
  }
  if (verified.length === 0) {
    const others = unverified.map((s) => keyId(s.name, s.keyHash));
    throw new NoteError(
      'unverified',
      `not signed by ${known.length === 1 ? `the key ${keyId(known[0]!.name, known[0]!.keyHash)}` : 'any known key'}${others.length ? ` (signed by ${others.join(', ')})` : ''}`,
    );
  }
  return { text, verified, unverified };
}
