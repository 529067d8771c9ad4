/**
 * `auditgraph monitor <gateway url> --state <file> --key <verifier key | file> [--interval <s>]
 * [--token <bearer>]`: watches a gateway's signed checkpoints for forks and rewritten history.
 *
 * Each round fetches GET <url>/checkpoint and checks its signature with the key. With no state file
 * yet, it saves the checkpoint, trusted on first use. Otherwise it asks <url>/graphql for
 * `consistencyProof(fromTxId: saved, toTxId: new)`, verifies it offline (proof/consistency.ts)
 * between exactly the two signed states, and only then saves the new checkpoint (atomically, with
 * fsync). A checkpoint older than the saved one is proved the other way (new → saved) and reported
 * stale, never saved. One line per round: time, txId, verdict.
 *
 * Exit codes: 0 consistent (one round), 1 network or other error (with --interval: printed, and the
 * next round tries again), 2 usage, 3 consistency failure: two checkpoints signed by the key that
 * no valid proof links (a fork, or history rewritten), named in the message. A gateway that does
 * not hand out a proof is an error (1), not a proven fork. The token comes from --token or
 * AUDITGRAPH_TOKEN.
 *
 * Public surface: `runMonitor(argv, io?) -> Promise<CliResult>`; it writes its round lines as it
 * goes (io.out, io.err) and returns only the exit code.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Checkpoint, describeCheckpoint, openCheckpoint } from '../checkpoint/checkpoint.ts';
import type { NoteVerifier } from '../checkpoint/note.ts';
import { verifyConsistencyProof } from '../proof/consistency.ts';
import { readVerifierKey } from './verifier-key.ts';
import type { CliResult } from './verify.ts';

export const USAGE =
  'usage: auditgraph monitor <gateway url> --state <file> --key <verifier key | file> [--interval <seconds>] [--token <bearer token>] (or AUDITGRAPH_TOKEN)';

export interface MonitorIO {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  fetch: typeof fetch;
  now(): Date;
  sleep(ms: number): Promise<void>;
  readFile(path: string): Promise<string>;
  /** undefined: the file does not exist. */
  readBytes(path: string): Promise<Uint8Array | undefined>;
  /** Replaces `path` atomically and durably. */
  writeAtomic(path: string, data: Uint8Array): Promise<void>;
}

/** How long one HTTP request may take. */
const REQUEST_TIMEOUT_MS = 15_000;
/** A checkpoint is a few hundred bytes and a consistency proof a few KB; far larger answers are not them. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const MAX_INTERVAL_S = 86_400;

const nodeIO: MonitorIO = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
  env: process.env,
  fetch: (...args) => fetch(...args),
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  readFile: (path) => readFile(path, 'utf8'),
  async readBytes(path) {
    try {
      return await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  },
  writeAtomic,
};

/** Temp file, fsync, rename over, fsync the directory: the state file is the old one or the new one, whole. */
async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

interface Options {
  base: string;
  stateFile: string;
  verifier: NoteVerifier;
  intervalMs: number | null;
  token: string | undefined;
}

const usage = (message: string): CliResult => ({ exitCode: 2, stdout: [], stderr: [`auditgraph monitor: ${message}`, USAGE] });

async function parseArgs(argv: readonly string[], io: MonitorIO): Promise<Options | CliResult> {
  let url: string | undefined;
  const given: Record<'state' | 'key' | 'interval' | 'token', string | undefined> = { state: undefined, key: undefined, interval: undefined, token: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return { exitCode: 0, stdout: [USAGE], stderr: [] };
    const option = (['state', 'key', 'interval', 'token'] as const).find((o) => a === `--${o}` || a.startsWith(`--${o}=`));
    if (option) {
      if (given[option] !== undefined) return usage(`--${option} given twice`);
      const v = a === `--${option}` ? argv[++i] : a.slice(option.length + 3);
      // `--checkpoint --key k` lacks a value: an option is not taken as one (`--opt=--x` still is).
      if (v === undefined || v === '' || (a === `--${option}` && v.startsWith('--'))) return usage(`--${option} needs a value`);
      given[option] = v;
    } else if (a.startsWith('-')) {
      return usage(`unknown option ${a}`);
    } else if (url !== undefined) {
      return usage('exactly one gateway url expected');
    } else {
      url = a;
    }
  }
  if (url === undefined) return usage('missing gateway url');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return usage(`${url} is not a URL (e.g. http://127.0.0.1:4000)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return usage(`${url} is not an http:// or https:// URL`);
  if (parsed.search || parsed.hash) return usage(`${url}: give the gateway's base URL, without a query or fragment`);
  // The gateway's base URL; its GraphQL URL (…/graphql) is taken too.
  const base = parsed.href.replace(/\/+$/, '').replace(/\/graphql$/, '');
  if (given.state === undefined) return usage('--state <file> is required: where the last checkpoint is kept');
  if (given.key === undefined) return usage('--key <verifier key | file> is required: the key the checkpoints must be signed with');
  let intervalMs: number | null = null;
  if (given.interval !== undefined) {
    const s = Number(given.interval);
    if (!/^\d+(?:\.\d+)?$/.test(given.interval) || !(s > 0) || s > MAX_INTERVAL_S)
      return usage(`--interval must be a number of seconds above 0, at most ${MAX_INTERVAL_S}`);
    intervalMs = Math.round(s * 1000);
  }
  const token = given.token ?? (io.env.AUDITGRAPH_TOKEN || undefined);
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) return usage('the token must be printable ASCII without spaces');
  const verifier = await readVerifierKey(given.key, io.readFile);
  if (typeof verifier === 'string') return usage(verifier);
  return { base, stateFile: given.state, verifier, intervalMs, token };
}

export async function runMonitor(argv: readonly string[], io: MonitorIO = nodeIO): Promise<CliResult> {
  const options = await parseArgs(argv, io);
  if ('exitCode' in options) return options;
  for (;;) {
    const code = await round(options, io);
    if (options.intervalMs === null || code === 3) return { exitCode: code, stdout: [], stderr: [] };
    await io.sleep(options.intervalMs);
  }
}

class RoundError extends Error {}

/** One round: 0 consistent (or first use, or stale), 1 error, 3 consistency failure. */
async function round(o: Options, io: MonitorIO): Promise<0 | 1 | 3> {
  const time = () => io.now().toISOString();
  try {
    const fetched = await getCheckpoint(o, io);
    const latest = openCheckpoint(fetched, o.verifier);
    if (!latest.ok) throw new RoundError(`the checkpoint from ${o.base}/checkpoint does not verify: ${latest.message}`);
    const next = latest.checkpoint;
    const savedNote = await io.readBytes(o.stateFile).catch((e: unknown) => {
      throw new RoundError(`cannot read the state file ${o.stateFile}: ${(e as Error).message}`);
    });
    if (savedNote === undefined) {
      await save(o, io, fetched);
      io.out(
        `${time()} tx ${next.txId} trusted on first use: saved ${describeCheckpoint(next)} to ${o.stateFile}; nothing earlier to check it against, so compare it with an independent source if that matters`,
      );
      return 0;
    }
    const opened = openCheckpoint(savedNote, o.verifier);
    if (!opened.ok) throw new RoundError(`the state file ${o.stateFile} does not hold a checkpoint signed by this key: ${opened.message}`);
    const saved = opened.checkpoint;
    const fork = (why: string) => {
      io.out(
        `${time()} tx ${next.txId} FORK: saved ${describeCheckpoint(saved)} and fetched ${describeCheckpoint(next)}, both signed by the key, are not one history: ${why}`,
      );
      return 3 as const;
    };
    const newer = BigInt(next.txId) - BigInt(saved.txId);
    if (newer === 0n) {
      if (next.txHash !== saved.txHash) return fork('the same tx with two hashes');
      io.out(`${time()} tx ${next.txId} ok: unchanged`);
      return 0;
    }
    const [from, to] = newer > 0n ? [saved, next] : [next, saved];
    // Tx 0 (an empty ledger) is the start of every history: nothing to prove.
    if (from.txId !== '0') {
      const proof = await getConsistencyProof(o, io, from, to);
      const r = verifyConsistencyProof(proof, { from: state(from), to: state(to) });
      if (!r.ok) return fork(`the consistency proof from tx ${from.txId} to tx ${to.txId} fails (${r.check}: ${r.message.replace(/[\r\n]+/g, ' ')})`);
    }
    if (newer < 0n) {
      io.out(`${time()} tx ${next.txId} stale: older than the saved tx ${saved.txId} and consistent with it; not saved`);
      return 0;
    }
    await save(o, io, fetched);
    io.out(`${time()} tx ${next.txId} ok: consistent with the saved tx ${saved.txId}; saved`);
    return 0;
  } catch (e) {
    const message = e instanceof RoundError ? e.message : `unexpected error: ${(e as Error)?.message ?? String(e)}`;
    io.err(`${time()} error: ${message.replace(/[\r\n]+/g, ' ')}`);
    return 1;
  }
}

const state = (cp: Checkpoint) => ({ txId: cp.txId, txHash: cp.txHash });

async function save(o: Options, io: MonitorIO, note: Uint8Array): Promise<void> {
  try {
    await io.writeAtomic(o.stateFile, note);
  } catch (e) {
    throw new RoundError(`cannot save the checkpoint to ${o.stateFile}: ${(e as Error).message}`);
  }
}

async function request(o: Options, io: MonitorIO, path: string, init: RequestInit): Promise<{ status: number; body: Uint8Array; type: string }> {
  const url = `${o.base}${path}`;
  try {
    const res = await io.fetch(url, {
      ...init,
      redirect: 'error',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      headers: { ...(init.headers as Record<string, string>), ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
    });
    const body = new Uint8Array(await res.arrayBuffer());
    if (body.length > MAX_RESPONSE_BYTES) throw new RoundError(`${url} answered with ${body.length} bytes, far more than expected`);
    return { status: res.status, body, type: res.headers.get('content-type') ?? '' };
  } catch (e) {
    if (e instanceof RoundError) throw e;
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : (err.cause?.code ?? err.cause?.message ?? err.message);
    throw new RoundError(`${init.method ?? 'GET'} ${url}: ${why}`);
  }
}

/** An error answer's `errors[0]` (code and message), for the round's line. */
function errorOf(body: Uint8Array): string {
  try {
    const e = JSON.parse(Buffer.from(body).toString('utf8'))?.errors?.[0];
    if (e && typeof e.message === 'string') return `${e.extensions?.code ?? 'ERROR'}: ${e.message}`;
  } catch {
    // not JSON
  }
  return 'no error message';
}

async function getCheckpoint(o: Options, io: MonitorIO): Promise<Uint8Array> {
  const r = await request(o, io, '/checkpoint', { method: 'GET', headers: { accept: 'text/plain' } });
  if (r.status !== 200) throw new RoundError(`GET ${o.base}/checkpoint: HTTP ${r.status} ${errorOf(r.body)}`);
  return r.body;
}

const CONSISTENCY_QUERY = 'query Consistency($from: String!, $to: String) { consistencyProof(fromTxId: $from, toTxId: $to) { json } }';

async function getConsistencyProof(o: Options, io: MonitorIO, from: Checkpoint, to: Checkpoint): Promise<unknown> {
  const r = await request(o, io, '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
    body: JSON.stringify({ query: CONSISTENCY_QUERY, variables: { from: from.txId, to: to.txId } }),
  });
  const what = `the consistency proof from tx ${from.txId} to tx ${to.txId}`;
  let doc: { data?: { consistencyProof?: { json?: unknown } | null } | null; errors?: unknown[] };
  try {
    doc = JSON.parse(Buffer.from(r.body).toString('utf8'));
  } catch {
    throw new RoundError(`${o.base}/graphql did not answer ${what} with JSON (HTTP ${r.status})`);
  }
  if (doc?.errors?.length || !doc?.data?.consistencyProof) throw new RoundError(`${o.base}/graphql did not give ${what}: ${errorOf(r.body)}`);
  const json = doc.data.consistencyProof.json;
  if (typeof json !== 'string') return json;
  try {
    return JSON.parse(json);
  } catch {
    return json;
  }
}
