/**
 * Paging through events in (timestamp, eventId) order, the order of both connections — `timeline`
 * (a ledger scan) and `auditEvents` (the index): positions, cursors, page arguments and pageInfo,
 * one of each. Here rather than in graphql/ because index/ builds its pages with it too.
 */
import { ValidationError, type FieldViolation } from '../errors.ts';
import { MAX_TIMESTAMP_MS } from './time.ts';
import type { AuditEventRecord } from './types.ts';
import { isUuid } from './uuid.ts';

// --- positions -------------------------------------------------------------------------------

/** Where an event sorts: by timestamp, then eventId. */
export interface EventPosition {
  /** Event timestamp, ms since the epoch. */
  ms: number;
  /** Lowercase UUID. */
  eventId: string;
}

/** A record's position; anything with a canonical timestamp and an eventId (a ledger TimelinePosition too). */
export function positionOf(r: Pick<AuditEventRecord, 'timestamp' | 'eventId'>): EventPosition {
  return { ms: Date.parse(r.timestamp), eventId: r.eventId };
}

export const comparePositions = (a: EventPosition, b: EventPosition): number =>
  a.ms !== b.ms ? a.ms - b.ms : a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;

// --- cursors ---------------------------------------------------------------------------------

/*
 * base64url("<tag>:<15-digit ms>:<eventId>"): a position only, so a cursor stays valid while events
 * arrive and under any filter. The tag versions the format and keeps the connections' cursors
 * apart: `t1` timeline, `i1` auditEvents. Clients hold these: the formats must keep decoding.
 */
const CURSOR_PAYLOAD = /^([a-z][0-9]):(\d{15}):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const CURSOR_MAX_LENGTH = 128;

function cursorCodec(tag: string, connection: string) {
  return {
    encode(p: EventPosition): string {
      if (!Number.isInteger(p.ms) || p.ms < 0 || p.ms > MAX_TIMESTAMP_MS) throw new RangeError(`timestamp out of range: ${p.ms}`);
      if (!isUuid(p.eventId)) throw new TypeError('eventId must be a UUID');
      return Buffer.from(`${tag}:${String(p.ms).padStart(15, '0')}:${p.eventId.toLowerCase()}`, 'latin1').toString('base64url');
    },
    /** Strict: anything but an `encode` output of this connection is a ValidationError at `path`. */
    decode(cursor: unknown, path = 'cursor'): EventPosition {
      const invalid = () => new ValidationError([{ path, message: `is not a valid ${connection} cursor` }]);
      if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > CURSOR_MAX_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
      const bytes = Buffer.from(cursor, 'base64url');
      // Node's decoder is lenient (ignores stray bits): demand the one canonical spelling.
      if (bytes.toString('base64url') !== cursor) throw invalid();
      const m = CURSOR_PAYLOAD.exec(bytes.toString('latin1'));
      const ms = m ? Number(m[2]) : Number.NaN;
      if (!m || m[1] !== tag || ms > MAX_TIMESTAMP_MS) throw invalid();
      return { ms, eventId: m[3]! };
    },
  };
}

const indexCodec = cursorCodec('i1', 'auditEvents');
const timelineCodec = cursorCodec('t1', 'timeline');

export const encodeIndexCursor = (p: EventPosition): string => indexCodec.encode(p);
export const decodeIndexCursor = (cursor: unknown, path = 'cursor'): EventPosition => indexCodec.decode(cursor, path);

/** Timeline positions in the ledger's terms ({timestamp, eventId}: what scanTimeline seeks to). */
export const encodeTimelineCursor = (p: Pick<AuditEventRecord, 'timestamp' | 'eventId'>): string => timelineCodec.encode(positionOf(p));
export function decodeTimelineCursor(cursor: unknown, path = 'cursor'): Pick<AuditEventRecord, 'timestamp' | 'eventId'> {
  const p = timelineCodec.decode(cursor, path);
  return { timestamp: new Date(p.ms).toISOString(), eventId: p.eventId };
}

/**
 * `correlations` cursors: base64url("c1:<15-digit ms>:<correlationId>"), the position of a
 * correlation in that list (last activity, then id).
 */
export interface CorrelationPosition {
  lastMs: number;
  correlationId: string;
}

export function encodeCorrelationCursor(p: CorrelationPosition): string {
  if (!Number.isInteger(p.lastMs) || p.lastMs < 0 || p.lastMs > MAX_TIMESTAMP_MS) throw new RangeError(`timestamp out of range: ${p.lastMs}`);
  return Buffer.from(`c1:${String(p.lastMs).padStart(15, '0')}:${p.correlationId}`, 'utf8').toString('base64url');
}

const CORRELATION_CURSOR_MAX_LENGTH = 1024;

export function decodeCorrelationCursor(cursor: unknown, path = 'after'): CorrelationPosition {
  const invalid = () => new ValidationError([{ path, message: 'is not a valid correlations cursor' }]);
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > CORRELATION_CURSOR_MAX_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  const bytes = Buffer.from(cursor, 'base64url');
  if (bytes.toString('base64url') !== cursor) throw invalid();
  const text = bytes.toString('utf8');
  // A canonical UTF-8 round trip: no lone bytes standing in for replacement characters.
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw invalid();
  const m = /^c1:(\d{15}):([\s\S]+)$/.exec(text);
  const ms = m ? Number(m[1]) : Number.NaN;
  if (!m || ms > MAX_TIMESTAMP_MS) throw invalid();
  return { lastMs: ms, correlationId: m[2]! };
}

// --- page arguments --------------------------------------------------------------------------

/** Page sizes of connections (api-contract.md). */
export const PAGE_SIZE = { default: 50, max: 500 } as const;

/** Relay's connection arguments, as a client sends them. */
export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export interface PageRequest<P> {
  /** last/before paging: walk against the order from `before`, then reverse. */
  backward: boolean;
  size: number;
  after?: P;
  before?: P;
}

/**
 * Checks page arguments, appending every problem to `violations`: the caller adds its own
 * arguments' problems around them and throws all at once, so the request means something only
 * when nothing was added. Forward (first/after) is the default; last, or before alone, pages
 * backward.
 */
export function parsePageArgs<P>(args: PageArgs, decode: (cursor: unknown, path: string) => P, violations: FieldViolation[]): PageRequest<P> {
  if (args.first != null && args.last != null) {
    violations.push({ path: 'first', message: 'cannot be combined with last: page forwards with first/after or backwards with last/before' });
  }
  for (const name of ['first', 'last'] as const) {
    const v = args[name];
    if (v != null && (!Number.isInteger(v) || v < 0 || v > PAGE_SIZE.max)) violations.push({ path: name, message: `must be from 0 to ${PAGE_SIZE.max}` });
  }
  const cursor = (name: 'after' | 'before'): P | undefined => {
    const v = args[name];
    if (v == null) return undefined;
    try {
      return decode(v, name);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      violations.push(...e.violations);
      return undefined;
    }
  };
  const after = cursor('after');
  const before = cursor('before');
  const backward = args.last != null || (args.first == null && before !== undefined && after === undefined);
  return {
    backward,
    size: (backward ? args.last : args.first) ?? PAGE_SIZE.default,
    ...(after !== undefined ? { after } : {}),
    ...(before !== undefined ? { before } : {}),
  };
}

// --- pages -----------------------------------------------------------------------------------

export interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

export interface Page<E extends { cursor: string }> {
  edges: E[];
  pageInfo: PageInfo;
}

/**
 * A page per the Relay cursor spec. `more`: an item exists past the page's far end (found by
 * reading one more than asked); `behind`: one exists on the other side of the cursor the page
 * started from. A forward page's far end is its next side, a backward page's its previous one.
 */
export function pageOf<E extends { cursor: string }>(edges: E[], flags: { backward: boolean; more: boolean; behind: boolean }): Page<E> {
  return {
    edges,
    pageInfo: {
      hasNextPage: flags.backward ? flags.behind : flags.more,
      hasPreviousPage: flags.backward ? flags.more : flags.behind,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
  };
}
