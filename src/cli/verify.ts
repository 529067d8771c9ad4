/**
 * `auditgraph verify <file|-> [--trusted <txId>:<txHash>]`: checks a proof bundle offline.
 *
 * Exit codes: 0 valid (prints the one-line summary), 1 invalid (`invalid: <check>: <message>`),
 * 2 usage error, unreadable file or bad JSON. Without --trusted the bundle's own trustedState is
 * taken as given, so only --trusted ties it to a state you saw before.
 *
 * Public surface: `runVerify(argv, io?) -> Promise<CliResult>` (argv: the words after `verify`).
 */
import { readFile } from 'node:fs/promises';
import { parseHash, parseUint64 } from '../proof/codecs.ts';
import type { LedgerState } from '../proof/types.ts';
import { verifyProofBundle } from '../proof/verify.ts';

export interface CliResult {
  exitCode: 0 | 1 | 2;
  stdout: string[];
  stderr: string[];
}

export interface CliIO {
  readFile(path: string): Promise<string>;
  readStdin(): Promise<string>;
}

export const USAGE = 'usage: auditgraph verify <bundle.json | -> [--trusted <txId>:<txHash>]';

// A bundle is a few KB; anything far larger is not one, and reading it whole would be the attack.
const MAX_INPUT_BYTES = 64 * 1024 * 1024;

const nodeIO: CliIO = {
  async readFile(path) {
    return readFile(path, 'utf8');
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
  let trustedArg: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return { exitCode: 0, stdout: [USAGE], stderr: [] };
    if (a === '--trusted' || a.startsWith('--trusted=')) {
      if (trustedArg !== undefined) return usage('--trusted given twice');
      const v = a === '--trusted' ? argv[++i] : a.slice('--trusted='.length);
      if (v === undefined) return usage('--trusted needs <txId>:<txHash>');
      trustedArg = v;
    } else if (a.startsWith('-') && a !== '-') {
      return usage(`unknown option ${a}`);
    } else if (file !== undefined) {
      return usage('exactly one bundle file expected');
    } else {
      file = a;
    }
  }
  if (file === undefined) return usage('missing bundle file');

  let trusted: LedgerState | undefined;
  if (trustedArg !== undefined) {
    const m = /^([^:]*):([^:]*)$/.exec(trustedArg);
    const id = m ? parseUint64(m[1]) : undefined;
    if (!m || id === undefined || id < 1n || !parseHash(m[2])) {
      return usage('--trusted must be <txId>:<txHash> (decimal id >= 1, 64 lowercase hex)');
    }
    trusted = { txId: m[1]!, txHash: m[2]! };
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
  if (r.ok) return { exitCode: 0, stdout: [r.summary], stderr: [] };
  // Messages never hold raw input bytes beyond ids and field names, but keep the verdict one line.
  return { exitCode: 1, stdout: [`invalid: ${r.check}: ${r.message.replace(/[\r\n]+/g, ' ')}`], stderr: [] };
}
