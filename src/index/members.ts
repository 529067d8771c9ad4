/**
 * What the index stores: set keys, and the members of those sets.
 *
 * Members: every set holds, per event, the 29-byte string `BE48(ms) ‖ uuid(16 bytes) ‖ codes(7)`
 * with score 0. Byte order of members is then (timestamp ms, eventId) order — the API's order —
 * and Redis' own lexicographic mode (ZRANGE … BYLEX, ZLEXCOUNT) gives exact keyset paging even
 * through thousands of events in one millisecond, which score = ms could not (ties inside a score
 * cannot be seeked). The 7 code bytes carry the coded fields (eventCategory, resourceType, actorType, outcome,
 * clusterName, eventAction, resourceNamespace, recordedBy, severity)
 * (codes.ts), so filters on them are checked while walking, without a set per value. The member
 * carries the position and those codes only: event bodies always come from the ledger.
 */
import { escapeValue, fieldValue, INDEX_FIELDS, unescapeValue, type IndexField } from '../events/filter.ts';
import type { EventPosition } from '../events/paging.ts';
import { MAX_TIMESTAMP_MS } from '../events/time.ts';
import type { AuditEventRecord } from '../events/types.ts';
import { CODE_BYTES, type CodedField, isCodedField } from './codes.ts';

// --- keys ------------------------------------------------------------------------------------

/** Short key codes: every event is in one set per field, so key length is memory. */
const FIELD_CODE: Record<IndexField, string> = {
  correlationId: 'ci',
  eventType: 'et',
  eventCategory: 'ec',
  actorId: 'ai',
  actorType: 'at',
  outcome: 'oc',
  resourceType: 'rt',
  resourceId: 'ri',
  severity: 'sv',
  eventAction: 'ea',
  resourceNamespace: 'rn',
  clusterName: 'cl',
  recordedBy: 'rb',
  parentEventId: 'pe',
};

/** The two-letter code of a field, as its keys start (`<fc>:`). */
export const fieldCode = (field: IndexField): string => FIELD_CODE[field];

/** The value a set key stands for (`fieldKey`'s inverse, given the field). */
export const valueOfKey = (key: string): string => unescapeValue(key.slice(3));

/**
 * The fields stats group by (AuditEventDimension). The index keeps a registry of their values
 * (`dv`), since a dense coded value has no set to find it by.
 */
export const DIMENSION_FIELDS = [
  'outcome',
  'eventType',
  'eventCategory',
  'actorId',
  'severity',
  'clusterName',
  'resourceType',
] as const satisfies readonly IndexField[];
export type DimensionField = (typeof DIMENSION_FIELDS)[number];
const DIMENSION_CODES: ReadonlySet<string> = new Set(DIMENSION_FIELDS.map((f) => FIELD_CODE[f]));
/** Whether a set key (`<fc>:<esc(v)>`) is a value of a dimension field. */
export const isDimensionKey = (key: string): boolean => DIMENSION_CODES.has(key.slice(0, 2)) && key[2] === ':';
/** Set keys of correlations start so. */
export const CORRELATION_KEY_PREFIX = `${FIELD_CODE.correlationId}:`;

/** Key (relative to the namespace) of the set holding every event. */
export const GLOBAL_KEY = 'all';

export function fieldKey(field: IndexField, value: string): string {
  return `${FIELD_CODE[field]}:${escapeValue(value)}`;
}

/**
 * Fields with one set per value, whatever the value. The coded fields (codes.ts) have a set only
 * for their rare values, and are otherwise found through the codes inside the members. An event
 * without a value of a field (no severity, no parent…) is in none of its sets.
 */
export const SET_FIELDS: readonly SetField[] = INDEX_FIELDS.filter((f): f is SetField => !isCodedField(f));
type SetField = Exclude<IndexField, CodedField>;

/** The set keys (relative) an event always belongs to, the global one first. */
export function setFieldKeys(r: AuditEventRecord): string[] {
  const out = [GLOBAL_KEY];
  for (const field of SET_FIELDS) {
    const v = fieldValue(r, field);
    if (v !== undefined) out.push(fieldKey(field, v));
  }
  return out;
}

// --- members ---------------------------------------------------------------------------------

const LOWER_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** `BE48(ms) ‖ uuid`: the part of a member that orders it. */
export const POSITION_LENGTH = 22;
export const MEMBER_LENGTH = POSITION_LENGTH + CODE_BYTES;

/** `BE48(ms) ‖ uuid bytes` as a latin1 string (one char per byte, so JS `<` is byte order). */
export function encodePosition(p: EventPosition): string {
  // MAX_TIMESTAMP_MS < 2^48, so 6 bytes hold every timestamp.
  if (!Number.isInteger(p.ms) || p.ms < 0 || p.ms > MAX_TIMESTAMP_MS) throw new RangeError(`timestamp out of range: ${p.ms}`);
  if (!LOWER_UUID.test(p.eventId)) throw new TypeError('eventId must be a lowercase UUID');
  const b = Buffer.alloc(POSITION_LENGTH);
  b.writeUIntBE(p.ms, 0, 6);
  b.write(p.eventId.replaceAll('-', ''), 6, 'hex');
  return b.toString('latin1');
}

/** A member: the position, then the code bytes (codes.ts `packCodes`). */
export function encodeMember(p: EventPosition, codes: string): string {
  return memberAt(encodePosition(p), codes);
}

/** The member of an encoded position (`encodePosition`) and its packed codes. */
export function memberAt(position: string, codes: string): string {
  if (position.length !== POSITION_LENGTH) throw new TypeError(`a position is ${POSITION_LENGTH} bytes`);
  if (codes.length !== CODE_BYTES) throw new TypeError(`codes must be ${CODE_BYTES} bytes`);
  return position + codes;
}

export function decodeMember(m: string): EventPosition {
  if (m.length !== MEMBER_LENGTH) throw new Error('malformed index member');
  const b = Buffer.from(m.slice(0, POSITION_LENGTH), 'latin1');
  const h = b.toString('hex', 6);
  return { ms: b.readUIntBE(0, 6), eventId: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}` };
}

/** The timestamp (ms) a member or position starts with. */
export function memberMs(m: string): number {
  let ms = 0;
  for (let c = 0; c < 6; c++) ms = ms * 256 + m.charCodeAt(c);
  return ms;
}

/** A bound on the time axis only: every member of millisecond `ms` sorts after it. */
export function msPrefix(ms: number): string {
  const b = Buffer.alloc(6);
  b.writeUIntBE(Math.min(Math.max(ms, 0), 2 ** 48 - 1), 0, 6);
  return b.toString('latin1');
}
