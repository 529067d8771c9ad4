/**
 * The gateway's checkpoint signing key: an Ed25519 private key in a PKCS#8 PEM file
 * (`-----BEGIN PRIVATE KEY-----`). CHECKPOINT_KEY_FILE names one that must exist; unset, the key is
 * `DATA_DIR/checkpoint-key.pem`, generated on the first start and kept.
 *
 * Generation is safe against a crash and against a second gateway starting on the same DATA_DIR
 * at the same moment: the key is written to a temporary file (mode 0600) and fsynced, then linked
 * to its name, which fails if the name exists (no replace), and the directory is fsynced. Whoever
 * loses the race reads the winner's key, so both end with the same one.
 *
 * Synchronous: it runs once at start-up, beside the other configuration loaders. Problems are
 * ConfigErrors naming the file, never showing its content.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '../errors.ts';

export const DEFAULT_KEY_FILE = 'checkpoint-key.pem';

/** A PEM key is a few hundred bytes; anything far larger is not one. */
const MAX_KEY_FILE_BYTES = 64 * 1024;
const PKCS8_PEM = /^\s*-----BEGIN PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PRIVATE KEY-----\s*$/;

export interface CheckpointKey {
  key: KeyObject;
  file: string;
  /** This start generated it. */
  generated: boolean;
}

/**
 * Loads the signing key from `file` (CHECKPOINT_KEY_FILE), or from DATA_DIR's key file, generating
 * that one when it does not exist yet.
 */
export function loadCheckpointKey(options: { file: string | null; dataDir: string }): CheckpointKey {
  if (options.file !== null) return { key: readKey(options.file, 'CHECKPOINT_KEY_FILE'), file: options.file, generated: false };
  const file = join(options.dataDir, DEFAULT_KEY_FILE);
  const what = `the checkpoint key in DATA_DIR (${DEFAULT_KEY_FILE})`;
  if (statSync(file, { throwIfNoEntry: false })) return { key: readKey(file, what), file, generated: false };
  const generated = createKeyFile(file, what);
  return { key: readKey(file, what), file, generated };
}

function readKey(file: string, what: string): KeyObject {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_KEY_FILE_BYTES) throw new ConfigError([`${what} ${file} is not an Ed25519 private key in PKCS#8 PEM (it is ${size} bytes)`]);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError([`${what} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  const notKey = new ConfigError([`${what} ${file} is not an Ed25519 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)`]);
  if (!PKCS8_PEM.test(text)) throw notKey;
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch {
    throw notKey;
  }
  if (key.asymmetricKeyType !== 'ed25519') throw notKey;
  return key;
}

/** Writes a new key to `file` unless one appears there first; true when this call's key is the one there. */
function createKeyFile(file: string, what: string): boolean {
  const dir = dirname(file);
  const tmp = join(dir, `.${DEFAULT_KEY_FILE}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    mkdirSync(dir, { recursive: true });
    const pem = String(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }));
    fd = openSync(tmp, 'wx', 0o600);
    writeFileSync(fd, pem);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    let won = true;
    try {
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      won = false;
    }
    unlinkSync(tmp);
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return won;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // not created, or already gone
    }
    throw new ConfigError([`${what} ${file} cannot be created: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
}
