/**
 * `auditgraph verify <file|-> [--trusted <txId>:<txHash> | --checkpoint <file> --key <key|file>]`:
 * checks a proof bundle offline.
 *
 * Exit codes: 0 valid (prints the one-line summary), 1 invalid (`invalid: <check>: <message>`),
 * 2 usage error, unreadable file or bad JSON. Without --trusted the bundle's own trustedState is
 * taken as given, so only --trusted ties it to a state you saw before. --checkpoint does the same
 * with a signed checkpoint: its signature is checked with the verifier key, then its (txId, Alh) is
 * the trusted state (`invalid: checkpoint: <why>` when it does not verify).
 *
 * Public surface: `runVerify(argv, io?) -> Promise<CliResult>` (argv: the words after `verify`).
 */
import { readFile } from 'node:fs/promises';
import { openCheckpoint } from '../checkpoint/checkpoint.ts';
import { parseHash, parseUint64 } from '../proof/codecs.ts';
import type { LedgerState } from '../proof/types.ts';
import { verifyProofBundle } from '../proof/verify.ts';
import { readVerifierKey } from './verifier-key.ts';

export interface CliResult {
  /** 3: only `monitor`, a consistency failure. */
  exitCode: 0 | 1 | 2 | 3;
  stdout: string[];
  stderr: string[];
}

export interface CliIO {
  readFile(path: string): Promise<string>;
  readStdin(): Promise<string>;
  /** A file's bytes (a checkpoint must be UTF-8, which decoding to a string would hide); default: readFile's text. */
  readBytes?(path: string): Promise<Uint8Array>;
}

export const USAGE = 'usage: auditgraph verify <bundle.json | -> [--trusted <txId>:<txHash> | --checkpoint <checkpoint.txt> --key <verifier key | file>]';

// A bundle is a few KB; anything far larger is not one, and reading it whole would be the attack.
const MAX_INPUT_BYTES = 64 * 1024 * 1024;

const nodeIO: CliIO = {
  async readFile(path) {
    return readFile(path, 'utf8');
  },
  async readBytes(path) {
    return readFile(path);
  },
  async readStdin() {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      size += b.length;
      if (size > MAX_INPUT_BYTES) throw new Error('input too large');
      chunks.push(b);
    }
    return Buffer.concat(chunks).toString('utf8');
  },
};

const usage = (message: string): CliResult => ({ exitCode: 2, stdout: [], stderr: [`auditgraph verify: ${message}`, USAGE] });

export async function runVerify(argv: readonly string[], io: CliIO = nodeIO): Promise<CliResult> {
  let file: string | undefined;
  const options: Record<'trusted' | 'checkpoint' | 'key', string | undefined> = { trusted: undefined, checkpoint: undefined, key: undefined };
  const what = { trusted: '<txId>:<txHash>', checkpoint: 'a checkpoint file', key: 'a verifier key or a file holding one' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return { exitCode: 0, stdout: [USAGE], stderr: [] };
    const option = (['trusted', 'checkpoint', 'key'] as const).find((o) => a === `--${o}` || a.startsWith(`--${o}=`));
    if (option) {
      if (options[option] !== undefined) return usage(`--${option} given twice`);
      const v = a === `--${option}` ? argv[++i] : a.slice(option.length + 3);
      // `--checkpoint --key k` lacks a value: an option is not taken as one (`--opt=--x` still is).
      if (v === undefined || v === '' || (a === `--${option}` && v.startsWith('--'))) return usage(`--${option} needs ${what[option]}`);
      options[option] = v;
    } else if (a.startsWith('-') && a !== '-') {
      return usage(`unknown option ${a}`);
    } else if (file !== undefined) {
      return usage('exactly one bundle file expected');
    } else {
      file = a;
    }
  }
  if (file === undefined) return usage('missing bundle file');
  const { trusted: trustedArg, checkpoint: checkpointFile, key: keyArg } = options;
  if (checkpointFile !== undefined && trustedArg !== undefined) return usage('give --trusted or --checkpoint, not both');
  if (checkpointFile !== undefined && keyArg === undefined) return usage('--checkpoint needs --key <verifier key | file> to check its signature');
  if (keyArg !== undefined && checkpointFile === undefined) return usage('--key is for checking a --checkpoint');

  let trusted: LedgerState | undefined;
  const stdout: string[] = [];
  if (trustedArg !== undefined) {
    const m = /^([^:]*):([^:]*)$/.exec(trustedArg);
    const id = m ? parseUint64(m[1]) : undefined;
    if (!m || id === undefined || id < 1n || !parseHash(m[2])) {
      return usage('--trusted must be <txId>:<txHash> (decimal id >= 1, 64 lowercase hex)');
    }
    trusted = { txId: m[1]!, txHash: m[2]! };
  }
  if (checkpointFile !== undefined) {
    const verifier = await readVerifierKey(keyArg!, io.readFile);
    if (typeof verifier === 'string') return usage(verifier);
    let note: Uint8Array;
    try {
      note = io.readBytes ? await io.readBytes(checkpointFile) : Buffer.from(await io.readFile(checkpointFile), 'utf8');
    } catch (e) {
      return usage(`cannot read ${checkpointFile}: ${(e as Error).message}`);
    }
    const cp = openCheckpoint(note, verifier);
    if (!cp.ok) return invalid('checkpoint', cp.message);
    if (cp.checkpoint.txId === '0') return invalid('checkpoint', 'it is of an empty ledger (tx 0), which no proof can start from');
    trusted = { txId: cp.checkpoint.txId, txHash: cp.checkpoint.txHash };
    stdout.push(
      `checkpoint: ${cp.checkpoint.origin} tx ${cp.checkpoint.txId} (${cp.checkpoint.txHash}), signed by ${verifier.verifierKey.split('+', 2).join('+')}`,
    );
  }

  let text: string;
  try {
    text = file === '-' ? await io.readStdin() : await io.readFile(file);
  } catch (e) {
    return usage(`cannot read ${file === '-' ? 'stdin' : file}: ${(e as Error).message}`);
  }
  let bundle: unknown;
  try {
    bundle = JSON.parse(text);
  } catch (e) {
    return usage(`${file === '-' ? 'stdin' : file} is not JSON: ${(e as Error).message}`);
  }

  const r = verifyProofBundle(bundle, trusted);
  if (r.ok) return { exitCode: 0, stdout: [...stdout, r.summary], stderr: [] };
  return invalid(r.check, r.message);
}

// Messages never hold raw input bytes beyond ids and field names, but keep the verdict one line.
const invalid = (check: string, message: string): CliResult => ({
  exitCode: 1,
  stdout: [`invalid: ${check}: ${message.replace(/[\r\n]+/g, ' ')}`],
  stderr: [],
});
