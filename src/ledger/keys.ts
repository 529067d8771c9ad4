/**
 * The immudb key design. Keys are ASCII bytes:
 *
 *   tl/<esc(correlationId)>/<ms since epoch, 15 digits>/<eventId, lowercase>   the event (value: record)
 *   ev/<eventId, lowercase>                                                     reference → timeline key
 *
 * Within one correlation, byte order of timeline keys is (timestamp, eventId) order: both parts are
 * fixed-width. `esc` percent-encodes (uppercase hex) every UTF-8 byte outside [A-Za-z0-9._~-], so
 * it never contains `/`: the `/` after it ends the component and `tl/rr-1/` cannot be a prefix of
 * any key of `rr-10`, `rr-1:x`, `rr-1%` or `rr-1/x` (whose `/` is escaped to `%2F`).
 */
import { isWellFormed } from '../events/json.ts';
import { MAX_TIMESTAMP_MS, parseCanonicalTimestamp } from '../events/time.ts';
import { isUuid } from '../events/uuid.ts';
import type { TimelinePosition } from './port.ts';

export const KEY_SEPARATOR = '/';
/** Key space of the timeline entries (the values are the encoded records). */
export const TIMELINE_PREFIX = 'tl/';
/** Key space of the eventId references. */
export const EVENT_ID_PREFIX = 'ev/';
export const KEY_SPACES = [TIMELINE_PREFIX, EVENT_ID_PREFIX] as const;

export const TIMESTAMP_DIGITS = 15;
/** immudb refuses keys longer than 1024 bytes (its default maxKeyLen). */
export const MAX_KEY_BYTES = 1024;

const UNRESERVED = /^[A-Za-z0-9._~-]$/;
const ALL_UNRESERVED = /^[A-Za-z0-9._~-]+$/;
const ESCAPED_COMPONENT = /^(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+$/;
const LOWER_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const UNRESERVED_BYTE: boolean[] = Array.from({ length: 256 }, (_, b) => UNRESERVED.test(String.fromCharCode(b)));
const HEX = '0123456789ABCDEF';

/**
 * Percent-encodes the UTF-8 bytes of `s` outside [A-Za-z0-9._~-]. Injective on well-formed
 * strings (lone surrogates would all become U+FFFD, so they are refused).
 */
export function escapeKeyComponent(s: string): string {
  if (typeof s !== 'string' || s.length === 0) throw new TypeError('key component must be a non-empty string');
  // All unreserved ASCII: each character is its own UTF-8 byte and is kept as is (nor can an ASCII
  // string hold a lone surrogate), so the loop below would give `s` back.
  if (ALL_UNRESERVED.test(s)) return s;
  if (!isWellFormed(s)) throw new TypeError('key component must be well-formed Unicode');
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += UNRESERVED_BYTE[b] ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict inverse of `escapeKeyComponent`: accepts exactly its outputs. */
export function unescapeKeyComponent(escaped: string): string {
  if (!ESCAPED_COMPONENT.test(escaped)) throw new Error('malformed key component');
  const bytes: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    if (escaped[i] === '%') {
      bytes.push(Number.parseInt(escaped.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(escaped.charCodeAt(i));
  }
  let s: string;
  try {
    s = utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw new Error('malformed key component: not UTF-8');
  }
  // Rejects needless escapes such as %41 for "A": one string, one key.
  if (escapeKeyComponent(s) !== escaped) throw new Error('malformed key component: not canonically escaped');
  return s;
}

function timestampDigits(timestamp: string): string {
  const ms = parseCanonicalTimestamp(timestamp);
  if (ms === null) {
    throw new TypeError('timestamp must be RFC 3339 UTC with milliseconds, from 1970 to 9999');
  }
  return String(ms).padStart(TIMESTAMP_DIGITS, '0');
}

function digitsTimestamp(digits: string): string {
  if (!/^\d{15}$/.test(digits)) throw new Error('malformed timestamp digits');
  const ms = Number(digits);
  if (ms > MAX_TIMESTAMP_MS) throw new Error('timestamp out of range');
  return new Date(ms).toISOString();
}

function eventIdPart(eventId: string): string {
  if (!isUuid(eventId)) throw new TypeError('eventId must be a UUID');
  return eventId.toLowerCase();
}

function ascii(s: string): Buffer {
  const key = Buffer.from(s, 'latin1'); // every character is ASCII by construction
  if (key.length > MAX_KEY_BYTES) throw new RangeError(`key of ${key.length} bytes exceeds ${MAX_KEY_BYTES}`);
  return key;
}

/** `tl/<esc(correlationId)>/`: scans exactly one correlation's events. */
export function timelinePrefix(correlationId: string): Buffer {
  return ascii(`${TIMELINE_PREFIX}${escapeKeyComponent(correlationId)}${KEY_SEPARATOR}`);
}

/** The timeline key of an event; `timestamp` is the record's (RFC 3339 UTC, ms). */
export function timelineKey(correlationId: string, timestamp: string, eventId: string): Buffer {
  const prefix = `${TIMELINE_PREFIX}${escapeKeyComponent(correlationId)}${KEY_SEPARATOR}`;
  return ascii(`${prefix}${timestampDigits(timestamp)}${KEY_SEPARATOR}${eventIdPart(eventId)}`);
}

/** The key at a cursor position: seek there and skip it to continue strictly after it. */
export function timelineSeekKey(correlationId: string, position: TimelinePosition): Buffer {
  return timelineKey(correlationId, position.timestamp, position.eventId);
}

/**
 * A key greater than every key of the correlation and smaller than every later key outside it
 * (the prefix + 0xFF; keys are ASCII): a start point for descending scans without a cursor.
 */
export function timelinePrefixEnd(correlationId: string): Buffer {
  return Buffer.concat([timelinePrefix(correlationId), Buffer.from([0xff])]);
}

export function eventIdKey(eventId: string): Buffer {
  return ascii(`${EVENT_ID_PREFIX}${eventIdPart(eventId)}`);
}

export interface ParsedTimelineKey {
  correlationId: string;
  timestamp: string;
  eventId: string;
}

/** Inverse of `timelineKey`; throws on anything that `timelineKey` could not have produced. */
export function parseTimelineKey(key: Uint8Array): ParsedTimelineKey {
  if (!(key instanceof Uint8Array)) throw new Error('malformed timeline key: not bytes');
  if (key.length > MAX_KEY_BYTES || key.some((b) => b > 0x7e || b < 0x21)) throw new Error('malformed timeline key: not printable ASCII');
  const text = Buffer.from(key).toString('latin1');
  const parts = text.split(KEY_SEPARATOR);
  if (parts.length !== 4 || `${parts[0]}${KEY_SEPARATOR}` !== TIMELINE_PREFIX) throw new Error('malformed timeline key: wrong layout');
  const [, esc, digits, eventId] = parts as [string, string, string, string];
  if (!LOWER_UUID.test(eventId)) throw new Error('malformed timeline key: eventId');
  let correlationId: string;
  let timestamp: string;
  try {
    correlationId = unescapeKeyComponent(esc);
    timestamp = digitsTimestamp(digits);
  } catch (e) {
    throw new Error(`malformed timeline key: ${(e as Error).message}`);
  }
  return { correlationId, timestamp, eventId };
}
