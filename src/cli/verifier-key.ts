/** `--key <verifier key or file>` of `auditgraph verify` and `auditgraph monitor`. */
import { NoteError, parseVerifierKey, type NoteVerifier } from '../checkpoint/note.ts';

// `<name>+<8 hex>+<base64>`: what GET /checkpoint/key serves. Anything else is taken as a file holding one.
const VERIFIER_KEY = /^[^+\s]+\+[0-9A-Fa-f]{8}\+[A-Za-z0-9+/=]+$/;
/** A verifier key is under 300 bytes; a file far larger holds something else. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/** The verifier `arg` names, or why there is none (a usage error: exit 2). */
export async function readVerifierKey(arg: string, readFile: (path: string) => Promise<string>): Promise<NoteVerifier | string> {
  let text = arg;
  if (!VERIFIER_KEY.test(arg)) {
    try {
      text = await readFile(arg);
    } catch (e) {
      return `--key ${arg} is neither a verifier key (<name>+<hash>+<key>) nor a readable file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
    if (text.length > MAX_KEY_FILE_BYTES) return `--key file ${arg} does not hold a verifier key`;
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
    if (lines.length !== 1) return `--key file ${arg} must hold one verifier key line (<name>+<hash>+<key>)`;
    text = lines[0]!.trim();
  }
  try {
    return parseVerifierKey(text);
  } catch (e) {
    if (e instanceof NoteError) return `--key: ${e.message}`;
    throw e;
  }
}
