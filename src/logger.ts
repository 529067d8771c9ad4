/**
 * Structured logging: one JSON object per line on stderr, tagged with the id of the request being
 * served (carried by AsyncLocalStorage, so nothing has to thread it through). Yoga logs through
 * this too, which is how masked internal errors end up in the log with their request id.
 * The one Logger type of the project: components that log take it (or a Pick of the levels they use).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { isAuditError } from './errors.ts';

export interface RequestScope {
  requestId: string;
}

const scope = new AsyncLocalStorage<RequestScope>();

/** Runs `fn` with `requestId` as the current request. */
export const runWithRequest = <T>(requestId: string, fn: () => T): T => scope.run({ requestId }, fn);
export const currentRequestId = (): string | undefined => scope.getStore()?.requestId;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** Codes that describe the client's request, not a server problem: logged at debug, not error. */
const CLIENT_CODES: ReadonlySet<string> = new Set([
  'BAD_USER_INPUT',
  'EVENT_ID_CONFLICT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'SUBSCRIPTION_OVERFLOW',
]);

function causeChain(e: unknown): unknown[] {
  const out: unknown[] = [];
  for (let cur: unknown = e; cur != null && out.length < 8; ) {
    out.push(cur);
    const next = (cur as { originalError?: unknown; cause?: unknown }).originalError ?? (cur as { cause?: unknown }).cause;
    if (next === cur) break;
    cur = next;
  }
  return out;
}

function isClientError(e: unknown): boolean {
  return causeChain(e).some((c) => isAuditError(c) && CLIENT_CODES.has(c.code));
}

/**
 * The client hung up before its request was read (node's `abortIncoming`: ECONNRESET "aborted"), or
 * the request was aborted: Yoga reports it as a failed request, but nothing went wrong here.
 */
function isClientAbort(e: unknown): boolean {
  return causeChain(e).some((c) => {
    const { code, name, message } = c as { code?: unknown; name?: unknown; message?: unknown };
    return (code === 'ECONNRESET' && message === 'aborted') || name === 'AbortError';
  });
}

function describe(arg: unknown): unknown {
  if (arg instanceof Error) {
    const chain = causeChain(arg).filter((c): c is Error => c instanceof Error);
    return chain.map((c) => ({
      name: c.name,
      message: c.message,
      ...(isAuditError(c) ? { code: c.code } : {}),
      stack: c.stack,
    }));
  }
  return arg;
}

export function createLogger(options: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = RANK[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const log = (level: LogLevel, args: unknown[]) => {
    // Client mistakes that reach the error log (Yoga logs every error it masks) are demoted.
    if (level === 'error' && args.length > 0 && args.every((a) => a instanceof Error) && args.every(isClientError)) level = 'debug';
    // A client that went away mid-request: one line at debug, no stack.
    if (args.length > 0 && args.every((a) => a instanceof Error) && args.every(isClientAbort)) {
      level = 'debug';
      args = ['request aborted by the client'];
    }
    if (RANK[level] < min) return;
    const [first, ...rest] = args;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level };
    const requestId = currentRequestId();
    if (requestId) entry.requestId = requestId;
    if (typeof first === 'string') entry.msg = first;
    else if (first !== undefined) rest.unshift(first);
    if (rest.length === 1) entry.detail = describe(rest[0]);
    else if (rest.length > 1) entry.detail = rest.map(describe);
    let line: string;
    try {
      line = JSON.stringify(entry);
    } catch {
      line = JSON.stringify({ time: entry.time, level, requestId, msg: String(entry.msg ?? 'unserializable log entry') });
    }
    write(`${line}\n`);
  };
  return {
    debug: (...a) => log('debug', a),
    info: (...a) => log('info', a),
    warn: (...a) => log('warn', a),
    error: (...a) => log('error', a),
  };
}

/** Drops everything: the default of components whose logger is optional. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
