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

export const TIMESTAMP_DIGITS = 15;
/** immudb refuses keys longer than 1024 bytes (its default maxKeyLen). */
export const MAX_KEY_BYTES = 1024;

const UNRESERVED = /^[A-Za-z0-9._~-]$/;
const ALL_UNRESERVED = /^[A-Za-z0-9._~-]+$/;

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

function timestampDigits(timestamp: string): string {
  const ms = parseCanonicalTimestamp(timestamp);
  if (ms === null) {
    throw new TypeError('timestamp must be RFC 3339 UTC with milliseconds, from 1970 to 9999');
  }
  return String(ms).padStart(TIMESTAMP_DIGITS, '0');
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
 * `tl/<esc(correlationId)>/<ms, 15 digits>`: never itself a key (keys go on with `/<eventId>`); it
 * sorts after every key of that timeline before `ms` and before every key at or after `ms`. So it is
 * the exclusive seek (or end) key of a window bound: ascending from `since`, descending from `until`.
 */
export function timelineBoundKey(correlationId: string, ms: number): Buffer {
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_TIMESTAMP_MS) throw new RangeError(`timestamp out of range: ${ms}`);
  return ascii(`${TIMELINE_PREFIX}${escapeKeyComponent(correlationId)}${KEY_SEPARATOR}${String(ms).padStart(TIMESTAMP_DIGITS, '0')}`);
}

/**
 * A timeline window [since, until) (ms; either may be absent) narrowed to what keys can hold:
 * bounds no key lies beyond are dropped, and null means no event can be in it.
 */
export function timelineWindow(since: number | undefined, until: number | undefined): { since?: number; until?: number } | null {
  // Timestamps are whole ms: ts ≥ since ⇔ ts ≥ ⌈since⌉, ts < until ⇔ ts < ⌈until⌉.
  const lo = since === undefined || since <= 0 ? undefined : Math.ceil(since);
  const hi = until === undefined || until > MAX_TIMESTAMP_MS ? undefined : Math.ceil(until);
  if ((lo !== undefined && lo > MAX_TIMESTAMP_MS) || (hi !== undefined && hi <= 0) || (lo !== undefined && hi !== undefined && lo >= hi)) return null;
  if (Number.isNaN(lo) || Number.isNaN(hi)) throw new RangeError('window bounds must be numbers');
  return { ...(lo !== undefined ? { since: lo } : {}), ...(hi !== undefined ? { until: hi } : {}) };
}

export function eventIdKey(eventId: string): Buffer {
  return ascii(`${EVENT_ID_PREFIX}${eventIdPart(eventId)}`);
}
