/**
 * Checkpoints: a ledger state (txId, Alh) as a C2SP signed note, its body in the style of
 * https://c2sp.org/tlog-checkpoint:
 *
 *     auditgraph/defaultdb                           origin (CHECKPOINT_ORIGIN), also the key's name
 *     42                                             txId, decimal
 *     IkUwVHUR0/nqFLxQyrxo9R4GS/ECQ3sW2sj4h7HCh6g=   the tx's Alh, standard base64
 *     immudb-alh-sha256                              the hash scheme (one extension line)
 *
 *     — auditgraph/defaultdb jA8FJ7Ao9cgpYno/…       key hash and Ed25519 signature, base64
 *
 * `immudb-alh-sha256` says the hash is immudb's accumulated linear hash, SHA-256 over
 * (id ‖ prevAlh ‖ innerHash) as in docs/proof-format.md, so every tx is bound to all before it. An
 * empty ledger's checkpoint is tx 0 with the all-zero hash, as ledgerState reports it. No other
 * extension lines are taken: a line this verifier does not know could change what a checkpoint means.
 *
 * Public surface: `createCheckpointSigner`, `openCheckpoint`, `describeCheckpoint`,
 * `defaultCheckpointOrigin`, the `Checkpoint` and `CheckpointSigner` types. Pure: node:crypto only.
 */
import type { KeyObject } from 'node:crypto';
import { parseBase64, parseHash, parseUint64 } from '../proof/codecs.ts';
import type { LedgerState } from '../proof/types.ts';
import { ed25519Signer, NoteError, openNote, signNote, type NoteVerifier } from './note.ts';

export const CHECKPOINT_HASH_SCHEME = 'immudb-alh-sha256';

/** A checkpoint's content: txHash is lowercase hex, as everywhere else. */
export interface Checkpoint extends LedgerState {
  origin: string;
}

export const defaultCheckpointOrigin = (database: string) => `auditgraph/${database}`;

const ZERO_HASH = '0'.repeat(64);

/** The signed text of a checkpoint (ends with a newline). */
export function checkpointText(cp: Checkpoint): string {
  const hash = parseHash(cp.txHash);
  if (parseUint64(cp.txId) === undefined || !hash) throw new TypeError('a checkpoint needs a decimal txId and a 64-hex-digit txHash');
  return `${cp.origin}\n${cp.txId}\n${hash.toString('base64')}\n${CHECKPOINT_HASH_SCHEME}\n`;
}

/** The checkpoint a note's text holds, or why it holds none. */
export function parseCheckpointText(text: string): Checkpoint | string {
  const lines = text.split('\n');
  if (lines.pop() !== '') return 'the text must end with a newline';
  if (lines.length < 3) return 'expected four lines: origin, txId, base64 hash, hash scheme';
  const [origin, txId, hash64, scheme, ...rest] = lines as [string, string, string, string | undefined, ...string[]];
  if (origin === '') return 'the origin line is empty';
  if (parseUint64(txId) === undefined) return `the txId line ${JSON.stringify(txId)} is not a decimal 64-bit number`;
  const hash = parseBase64(hash64);
  if (hash?.length !== 32) return 'the hash line is not 32 bytes in standard base64';
  if (scheme === undefined) return 'the hash scheme line is missing';
  if (scheme !== CHECKPOINT_HASH_SCHEME) return `unknown hash scheme ${JSON.stringify(scheme)} (expected ${CHECKPOINT_HASH_SCHEME})`;
  if (rest.length > 0) return `unexpected extension line ${JSON.stringify(rest[0])}`;
  const txHash = hash.toString('hex');
  if (txId === '0' && txHash !== ZERO_HASH) return 'tx 0 (an empty ledger) must have the all-zero hash';
  return { origin, txId, txHash };
}

export type CheckpointResult = { ok: true; checkpoint: Checkpoint } | { ok: false; message: string };

/**
 * Checks `note`'s signature by `verifier` (signed-note rules, note.ts) and reads the checkpoint in
 * it; its origin must be the key's name. Never throws.
 */
export function openCheckpoint(note: Uint8Array | string, verifier: NoteVerifier): CheckpointResult {
  let text: string;
  try {
    text = openNote(note, [verifier]).text;
  } catch (e) {
    if (e instanceof NoteError) return { ok: false, message: e.message };
    throw e;
  }
  const cp = parseCheckpointText(text);
  if (typeof cp === 'string') return { ok: false, message: cp };
  if (cp.origin !== verifier.name) return { ok: false, message: `origin ${JSON.stringify(cp.origin)} is not the key's name ${JSON.stringify(verifier.name)}` };
  return { ok: true, checkpoint: cp };
}

/** One line naming a checkpoint: origin, txId and hash. */
export const describeCheckpoint = (cp: Checkpoint) => `${cp.origin} tx ${cp.txId} hash ${cp.txHash}`;

export interface CheckpointSigner {
  /** The first line of every checkpoint, and the key's name. */
  readonly origin: string;
  /** `<origin>+<key hash>+<base64 key>`: what verifiers of these checkpoints need. */
  readonly verifierKey: string;
  /** The signed checkpoint of exactly `state`. */
  checkpoint(state: LedgerState): string;
  /**
   * Any other statement signed with the same key, as a signed note of `text` (an export's closing
   * line: export/format.ts). Never checkpoint-shaped text: a second line that is no txId keeps the two apart.
   */
  signNote(text: string): string;
}

/** Signs checkpoints with an Ed25519 private key; throws NoteError when `origin` cannot name a key. */
export function createCheckpointSigner(privateKey: KeyObject, origin: string): CheckpointSigner {
  const signer = ed25519Signer(origin, privateKey);
  // Ed25519 is deterministic: the newest state's note is kept and handed out again until the state moves.
  let last: { txId: string; txHash: string; note: string } | null = null;
  return {
    origin,
    verifierKey: signer.verifierKey,
    checkpoint(state) {
      if (last?.txId === state.txId && last.txHash === state.txHash) return last.note;
      const note = signNote(checkpointText({ origin, txId: state.txId, txHash: state.txHash }), [signer]);
      last = { txId: state.txId, txHash: state.txHash, note };
      return note;
    },
    signNote(text) {
      if (typeof parseCheckpointText(text) !== 'string') throw new TypeError('signNote: checkpoints are signed by checkpoint()');
      return signNote(text, [signer]);
    },
  };
}
