/**
 * `auditgraph export <gateway url> [--filter <JSON> | --correlation <id>] [--since <t>] [--until <t>]
 * [--format ndjson|csv] [--token <bearer> | AUDITGRAPH_TOKEN] [-o <file | ->]`: downloads an export
 * (GET <url>/export) into a file, with progress on stderr (events so far, events/s).
 *
 * The file is written under a temporary name next to it and renamed once the download is
 * complete (for NDJSON: once its closing line has arrived), so a file under the final name is
 * never a partial one; a download cut short leaves nothing. Without -o the file takes the name the
 * gateway suggests, in the current directory; `-o -` writes to stdout.
 *
 * Exit codes: 0 written, 1 refused by the gateway or cut short, 2 usage error.
 *
 * Public surface: `runExport(argv, io?) -> Promise<CliResult>`.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { once } from 'node:events';
import type { CliResult } from './verify.ts';

export interface ExportIO {
  fetch: typeof fetch;
  env: Record<string, string | undefined>;
  /** Progress and notes (stderr); `tty`: progress may redraw one line. */
  progress: { write(s: string): void; tty: boolean };
  /** Where `-o -` writes. */
  stdout: NodeJS.WritableStream;
  now(): number;
}

export const USAGE =
  'usage: auditgraph export <gateway url> [--filter <AuditEventFilter JSON> | --correlation <correlationId>] [--since <RFC 3339>] [--until <RFC 3339>] [--format ndjson|csv] [--token <bearer token>] [-o <file | ->]';

const nodeIO: ExportIO = {
  fetch: (...args) => fetch(...args),
  env: process.env,
  progress: { write: (s) => void process.stderr.write(s), tty: process.stderr.isTTY === true },
  stdout: process.stdout,
  now: () => performance.now(),
};

const usage = (message: string): CliResult => ({ exitCode: 2, stdout: [], stderr: [`auditgraph export: ${message}`, USAGE] });
const failed = (message: string): CliResult => ({ exitCode: 1, stdout: [], stderr: [`auditgraph export: ${message.replace(/[\r\n]+/g, ' ')}`] });

type Option = 'filter' | 'correlation' | 'since' | 'until' | 'format' | 'token' | 'o';

export async function runExport(argv: readonly string[], io: ExportIO = nodeIO): Promise<CliResult> {
  let url: string | undefined;
  const given: Partial<Record<Option, string>> = {};
  const names: Option[] = ['filter', 'correlation', 'since', 'until', 'format', 'token', 'o'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return { exitCode: 0, stdout: [USAGE], stderr: [] };
    const option = names.find((o) => (o === 'o' ? a === '-o' || a === '--output' : a === `--${o}` || a.startsWith(`--${o}=`)));
    if (option) {
      if (given[option] !== undefined) return usage(`${option === 'o' ? '-o' : `--${option}`} given twice`);
      const inline = a.includes('=') && option !== 'o' ? a.slice(option.length + 3) : undefined;
      const v = inline ?? argv[++i];
      if (v === undefined || v === '' || (inline === undefined && v.startsWith('--'))) return usage(`${option === 'o' ? '-o' : `--${option}`} needs a value`);
      given[option] = v;
    } else if (a.startsWith('-')) return usage(`unknown option ${a}`);
    else if (url !== undefined) return usage('exactly one gateway url expected');
    else url = a;
  }
  if (url === undefined) return usage('missing gateway url');
  if (given.filter !== undefined && given.correlation !== undefined) return usage('give --filter or --correlation, not both');
  const format = given.format ?? 'ndjson';
  if (format !== 'ndjson' && format !== 'csv') return usage('--format must be ndjson or csv');
  let endpoint: URL;
  try {
    endpoint = exportUrl(url);
  } catch {
    return usage(`${url} is not an http:// or https:// URL (e.g. http://127.0.0.1:4000)`);
  }
  const params: [string, string | undefined][] = [
    ['format', format],
    ['correlationId', given.correlation],
    ['filter', given.filter],
    ['since', given.since],
    ['until', given.until],
  ];
  for (const [k, v] of params) if (v !== undefined) endpoint.searchParams.set(k, v);
  const token = given.token ?? (io.env.AUDITGRAPH_TOKEN || undefined);
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) return usage('the token must be printable ASCII without spaces');

  let res: Response;
  try {
    res = await io.fetch(endpoint, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (e) {
    return failed(
      `GET ${endpoint.origin}${endpoint.pathname}: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`,
    );
  }
  if (res.status !== 200 || !res.body) return failed(`the gateway refused the export: ${await refusal(res)}`);

  const toStdout = given.o === '-';
  const target = toStdout ? null : (given.o ?? suggestedName(res.headers.get('content-disposition')) ?? `auditgraph-export.${format}`);
  const temp = target === null ? null : join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.part`);
  let out: NodeJS.WritableStream | WriteStream;
  if (temp === null) out = io.stdout;
  else {
    out = createWriteStream(temp, { flags: 'wx' });
    try {
      await once(out, 'open');
    } catch (e) {
      return failed(`cannot write ${temp}: ${(e as Error).message}`);
    }
  }

  const counter = format === 'csv' ? new CsvRows() : new EventLines();
  const started = io.now();
  let lastShown = started;
  // A terminal gets one line redrawn 4 times a second, a log a line every 10 s.
  const every = io.progress.tty ? 250 : 10_000;
  const show = (final: boolean) => {
    const now = io.now();
    if (!final && now - lastShown < every) return;
    lastShown = now;
    const seconds = (now - started) / 1000;
    const rate = seconds > 0 ? Math.round(counter.events / seconds) : 0;
    const text = `${counter.events.toLocaleString('en-US')} events, ${rate.toLocaleString('en-US')} events/s`;
    io.progress.write(io.progress.tty ? `\r${text}${final ? '\n' : ''}` : `${text}\n`);
  };
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      counter.push(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
      show(false);
    }
    if (format === 'ndjson' && !(counter as EventLines).closed) throw new Error('the download ended without the closing line: the export was cut short');
    if (temp !== null) {
      (out as WriteStream).end();
      await once(out, 'close');
      await rename(temp, target!);
    }
  } catch (e) {
    if (temp !== null) {
      (out as WriteStream).destroy();
      await rm(temp, { force: true });
    }
    show(true);
    return failed(`${(e as Error).message}${target ? `; nothing was written to ${target}` : ''}`);
  }
  show(true);
  const anchor = res.headers.get('x-auditgraph-anchor');
  return {
    exitCode: 0,
    stdout: [],
    stderr: [`auditgraph export: ${counter.events} events${target ? ` written to ${target}` : ''}${anchor ? `, anchored at tx ${anchor.split(':')[0]}` : ''}`],
  };
}

/** <url>/export from a gateway's base URL, its /graphql URL or its /export URL. */
function exportUrl(given: string): URL {
  const u = new URL(given);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError('not http');
  const path = u.pathname.replace(/\/+$/, '').replace(/\/(graphql|export)$/, '');
  u.pathname = `${path}/export`;
  u.search = '';
  u.hash = '';
  return u;
}

/** The file name of `attachment; filename="…"`, reduced to a plain name (never a path). */
function suggestedName(header: string | null): string | null {
  const m = header ? /filename="([^"]+)"/.exec(header) : null;
  const name = m ? basename(m[1]!).replace(/[^A-Za-z0-9._-]/g, '_') : '';
  return name && !name.startsWith('.') ? name : null;
}

/** The gateway's JSON error (`code: message`), or its status. */
async function refusal(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const e = (JSON.parse(text) as { errors?: { message?: string; extensions?: { code?: string } }[] }).errors?.[0];
    if (e?.message) return `${res.status} ${e.extensions?.code ?? ''}: ${e.message}`.slice(0, 2000);
  } catch {
    // not JSON
  }
  return `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
}

/** Counts NDJSON event lines (those starting `{"txId":`) as chunks pass, and whether the last line closed the file. */
class EventLines {
  events = 0;
  closed = false;
  /** The first bytes of the line being read (enough to tell its kind). */
  private head = '';
  private static readonly EVENT = '{"txId":';
  private static readonly END = '{"end":true';

  push(chunk: Uint8Array): void {
    let from = 0;
    while (from < chunk.length) {
      const nl = chunk.indexOf(10, from);
      const stop = nl < 0 ? chunk.length : nl;
      if (this.head.length < 16)
        this.head += Buffer.from(chunk.buffer, chunk.byteOffset + from, Math.min(stop - from, 16 - this.head.length)).toString('latin1');
      if (nl < 0) return;
      if (this.head.startsWith(EventLines.EVENT)) this.events++;
      this.closed = this.head.startsWith(EventLines.END);
      this.head = '';
      from = nl + 1;
    }
  }
}

/** Counts CSV rows (RFC 4180: a newline inside quotes is not a row's end), less the header row. */
class CsvRows {
  private rows = 0;
  private quoted = false;

  get events(): number {
    return Math.max(0, this.rows - 1);
  }

  push(chunk: Uint8Array): void {
    for (const b of chunk) {
      if (b === 0x22) this.quoted = !this.quoted;
      else if (b === 0x0a && !this.quoted) this.rows++;
    }
  }
}
