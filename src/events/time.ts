/**
 * The one home of timestamp rules: RFC 3339 input (event timestamps, filter since/until), the
 * canonical stored form, and the range every layer (validation, ledger keys, index members,
 * cursors) accepts.
 */

/**
 * 9999-12-31T23:59:59.999Z: the last instant with a 4-digit year. Fits the ledger keys' 15 digits
 * and the index members' 48 bits.
 */
export const MAX_TIMESTAMP_MS = 253402300799999;

const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
/** Longest sensible RFC 3339 text (nanoseconds + offset is 35); bounds regex work on junk. */
export const TIMESTAMP_MAX_LENGTH = 64;
/** How a timestamp is stored and returned: UTC with milliseconds, what `Date#toISOString` writes. */
const CANONICAL_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Parses an RFC 3339 date-time to epoch ms, or says why not; every input path (event timestamps,
 * filter since/until) uses this, so they accept the same texts. Any offset; at most millisecond
 * precision (further digits must be zeros, or precision would be dropped silently).
 *
 * Leap seconds (`:60`) are refused everywhere: epoch ms, like POSIX time, have no instant for
 * them, and mapping one onto a neighbour would give two texts one timestamp. No range check
 * here: ingestion bounds the result (0..MAX_TIMESTAMP_MS), a filter window need not.
 */
export function parseRfc3339(s: string): { ms: number } | { error: string } {
  const bad = { error: 'must be an RFC 3339 date-time, e.g. 2025-01-02T03:04:05.678Z' };
  if (s.length > TIMESTAMP_MAX_LENGTH) return bad;
  const m = RFC3339_RE.exec(s);
  if (!m) return bad;
  const [, ys, mos, ds, hs, mis, ss, frac, sign, ohs, oms] = m;
  const [y, mo, d, h, mi, sec] = [ys, mos, ds, hs, mis, ss].map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59) return bad;
  if (sec === 60) return { error: 'leap seconds are not supported' };
  if (sec > 59) return bad;
  let millis = 0;
  if (frac !== undefined) {
    if (/[1-9]/.test(frac.slice(3))) return { error: 'must not be more precise than milliseconds' };
    millis = Number(frac.slice(0, 3).padEnd(3, '0'));
  }
  let offsetMin = 0;
  if (sign !== undefined) {
    const oh = Number(ohs);
    const om = Number(oms);
    if (oh > 23 || om > 59) return bad;
    offsetMin = (sign === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // setUTCFullYear, because Date.UTC maps years 0–99 to 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, sec, millis);
  return { ms: date.getTime() - offsetMin * 60_000 };
}

/**
 * Epoch ms of a timestamp in the canonical stored form (`2025-01-02T03:04:05.678Z`, 1970 to
 * 9999), or null for anything else: stored records and ledger keys hold exactly this form.
 */
export function parseCanonicalTimestamp(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  // The last text parsed and its result: a pure function of the text, asked for the same
  // timestamp over and over (validation, the record's shape check and the ledger key of each
  // event, and every event of a batch stamped with the same time).
  if (v === lastCanonical.text) return lastCanonical.ms;
  let ms: number | null = null;
  if (CANONICAL_RE.test(v)) {
    const parsed = Date.parse(v);
    // The round trip refuses what Date.parse would roll over (02-30) or take loosely.
    if (Number.isFinite(parsed) && parsed >= 0 && parsed <= MAX_TIMESTAMP_MS && new Date(parsed).toISOString() === v) ms = parsed;
  }
  lastCanonical.text = v;
  lastCanonical.ms = ms;
  return ms;
}

const lastCanonical: { text: string | undefined; ms: number | null } = { text: undefined, ms: null };
