/**
 * The inverse of src/ledger/keys.ts, for the key tests: nothing in src/ reads a key back (the
 * ledgers look events up by key, they never parse one), so the parsers live here. Strict: they
 * accept exactly what keys.ts produces, which is what makes a round trip through them a proof
 * that the key layout is injective and canonical.
 */
import { MAX_TIMESTAMP_MS } from '../../src/events/time.ts';
import { EVENT_ID_PREFIX, escapeKeyComponent, KEY_SEPARATOR, MAX_KEY_BYTES, TIMELINE_PREFIX, timelinePrefix } from '../../src/ledger/keys.ts';

/** Every key space of the ledger. */
export const KEY_SPACES = [TIMELINE_PREFIX, EVENT_ID_PREFIX] as const;

const ESCAPED_COMPONENT = /^(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+$/;
const LOWER_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
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

function digitsTimestamp(digits: string): string {
  if (!/^\d{15}$/.test(digits)) throw new Error('malformed timestamp digits');
  const ms = Number(digits);
  if (ms > MAX_TIMESTAMP_MS) throw new Error('timestamp out of range');
  return new Date(ms).toISOString();
}

/**
 * A key greater than every key of the correlation and smaller than every later key outside it
 * (the prefix + 0xFF; keys are ASCII).
 */
export function timelinePrefixEnd(correlationId: string): Buffer {
  return Buffer.concat([timelinePrefix(correlationId), Buffer.from([0xff])]);
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
