/**
 * `auditgraph verify-export <file | -> [--trusted <txId>:<txHash> | --checkpoint <file>] [--key <key | file>]`:
 * verifies an `auditgraph.export.v1` file offline (docs/export-format.md), streaming: the file is
 * read in chunks and checked line by line (export/verify.ts), in memory bounded by the header's
 * window whatever the file's size.
 *
 * What the anchor is checked against: `--trusted` (exactly that state), `--checkpoint` (a signed
 * checkpoint you hold, checked with `--key`: exactly its state), or with `--key` alone the
 * checkpoint the export carries. With `--key` the closing line's signature is checked too, so no
 * line can be left out or added unseen. Without any, the file is checked against itself only.
 *
 * Files of 32 MiB or more are checked on several threads (up to 4, as many as the machine has;
 * `--threads <n>` chooses, 0 for none): each event line's own checks run on a worker thread, the
 * rest in order on the main one (export/verify-parallel.ts), with the same verdict.
 *
 * Exit codes: 0 valid (the summary on stdout), 1 invalid (`invalid: line <n>: <check>: <message>`),
 * 2 usage error or unreadable file.
 *
 * Public surface: `runVerifyExport(argv, io?) -> Promise<CliResult>`.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { openCheckpoint } from '../checkpoint/checkpoint.ts';
import { MAX_LINE_BYTES } from '../export/format.ts';
import { splitLines } from '../export/lines.ts';
import { verifyExportLines } from '../export/verify.ts';
import { verifyExportLinesParallel } from '../export/verify-parallel.ts';
import { parseHash, parseUint64 } from '../proof/codecs.ts';
import type { LedgerState } from '../proof/types.ts';
import { readVerifierKey } from './verifier-key.ts';
import type { CliResult } from './verify.ts';

export interface VerifyExportIO {
  /** The export's bytes, in chunks. */
  open(path: string): AsyncIterable<Uint8Array>;
  stdin(): AsyncIterable<Uint8Array>;
  readFile(path: string): Promise<string>;
  readBytes(path: string): Promise<Uint8Array>;
  /** A file's size in bytes (large files are checked on several threads). */
  size(path: string): Promise<number>;
}

/** Files from this size on are checked on several threads (below it, starting them costs more than they save). */
const PARALLEL_FROM_BYTES = 32 * 1024 * 1024;

export const USAGE =
  'usage: auditgraph verify-export <export.ndjson | -> [--trusted <txId>:<txHash> | --checkpoint <checkpoint.txt>] [--key <verifier key | file>] [--threads <n>]';

const nodeIO: VerifyExportIO = {
  open: (path) => createReadStream(path, { highWaterMark: 256 * 1024 }),
  stdin: () => process.stdin,
  readFile: (path) => readFile(path, 'utf8'),
  readBytes: (path) => readFile(path),
  size: async (path) => (await stat(path)).size,
};

const usage = (message: string): CliResult => ({ exitCode: 2, stdout: [], stderr: [`auditgraph verify-export: ${message}`, USAGE] });
const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ');

export async function runVerifyExport(argv: readonly string[], io: VerifyExportIO = nodeIO): Promise<CliResult> {
  let file: string | undefined;
  const given: Record<'trusted' | 'checkpoint' | 'key' | 'threads', string | undefined> = {
    trusted: undefined,
    checkpoint: undefined,
    key: undefined,
    threads: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return { exitCode: 0, stdout: [USAGE], stderr: [] };
    const option = (['trusted', 'checkpoint', 'key', 'threads'] as const).find((o) => a === `--${o}` || a.startsWith(`--${o}=`));
    if (option) {
      if (given[option] !== undefined) return usage(`--${option} given twice`);
      const v = a === `--${option}` ? argv[++i] : a.slice(option.length + 3);
      if (v === undefined || v === '' || (a === `--${option}` && v.startsWith('--'))) return usage(`--${option} needs a value`);
      given[option] = v;
    } else if (a.startsWith('-') && a !== '-') return usage(`unknown option ${a}`);
    else if (file !== undefined) return usage('exactly one export file expected');
    else file = a;
  }
  if (file === undefined) return usage('missing export file');
  if (given.trusted !== undefined && given.checkpoint !== undefined) return usage('give --trusted or --checkpoint, not both');
  if (given.checkpoint !== undefined && given.key === undefined) return usage('--checkpoint needs --key <verifier key | file> to check its signature');

  let trusted: LedgerState | undefined;
  if (given.trusted !== undefined) {
    const m = /^([^:]*):([^:]*)$/.exec(given.trusted);
    const id = m ? parseUint64(m[1]) : undefined;
    if (!m || id === undefined || !parseHash(m[2])) return usage('--trusted must be <txId>:<txHash> (decimal id, 64 lowercase hex)');
    trusted = { txId: m[1]!, txHash: m[2]! };
  }
  const stdout: string[] = [];
  let key: Awaited<ReturnType<typeof readVerifierKey>> | undefined;
  if (given.key !== undefined) {
    key = await readVerifierKey(given.key, io.readFile);
    if (typeof key === 'string') return usage(key);
  }
  if (given.checkpoint !== undefined && key !== undefined && typeof key !== 'string') {
    let note: Uint8Array;
    try {
      note = await io.readBytes(given.checkpoint);
    } catch (e) {
      return usage(`cannot read ${given.checkpoint}: ${(e as Error).message}`);
    }
    const cp = openCheckpoint(note, key);
    if (!cp.ok) return { exitCode: 1, stdout: [`invalid: checkpoint ${given.checkpoint}: ${oneLine(cp.message)}`], stderr: [] };
    trusted = { txId: cp.checkpoint.txId, txHash: cp.checkpoint.txHash };
    stdout.push(`checkpoint: ${cp.checkpoint.origin} tx ${cp.checkpoint.txId} (${cp.checkpoint.txHash}), signed by ${key.name}`);
  }

  let threads = 0;
  if (given.threads !== undefined) {
    threads = /^[0-9]{1,2}$/.test(given.threads) ? Number(given.threads) : Number.NaN;
    if (!(threads <= 32)) return usage('--threads must be a number from 0 to 32');
  } else if (file !== '-' && ((await io.size(file).catch(() => 0)) ?? 0) >= PARALLEL_FROM_BYTES) {
    threads = Math.min(4, availableParallelism());
  }

  const source = file === '-' ? io.stdin() : io.open(file);
  const verifyOptions = {
    ...(trusted ? { trusted } : {}),
    ...(key !== undefined && typeof key !== 'string' ? { key } : {}),
  };
  let result: Awaited<ReturnType<typeof verifyExportLines>>;
  try {
    const lines = splitLines(source, MAX_LINE_BYTES);
    result = threads > 0 ? await verifyExportLinesParallel(lines, verifyOptions, threads) : await verifyExportLines(lines, verifyOptions);
  } catch (e) {
    // Only reading can throw here (the verifier reports what it finds in the file).
    return usage(`cannot read ${file === '-' ? 'stdin' : file}: ${(e as Error).message}`);
  }
  if (result.ok) return { exitCode: 0, stdout: [...stdout, result.summary], stderr: [] };
  return { exitCode: 1, stdout: [...stdout, `invalid: line ${result.line}: ${result.check}: ${oneLine(result.message)}`], stderr: [] };
}
