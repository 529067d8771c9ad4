/**
 * The pure part of the secondary index: filter normalization, set keys, member encoding, keyset
 * cursors, ranges and the plan. No I/O here; executor.ts walks the plan over a SetReader (Redis or
 * in-process), so both indexes answer every query with the same code.
 *
 * Members: every set holds, per event, the 25-byte string `BE48(ms) ‖ uuid(16 bytes) ‖ codes(3)`
 * with score 0. Byte order of members is then (timestamp ms, eventId) order — the API's order —
 * and Redis' own lexicographic mode (ZRANGE … BYLEX, ZLEXCOUNT) gives exact keyset paging even
 * through thousands of events in one millisecond, which score = ms could not (ties inside a score
 * cannot be seeked). The 3 code bytes carry eventCategory, resourceType, actorType and outcome
 * (codes.ts), so filters on them are checked while walking, without a set per value. The member
 * carries the position and those codes only: event bodies always come from the ledger.
 */
import { ValidationError, type FieldViolation } from '../errors.ts';
import { isWellFormed } from '../events/json.ts';
import { LIMITS } from '../events/limits.ts';
import { OUTCOMES, type AuditEventRecord } from '../events/types.ts';
import { CODE_BYTES, HIGHEST_CODES, isCodedField, type CodeEntry, type CodedField } from './codes.ts';

// --- fields and keys -----------------------------------------------------------------------

export const INDEX_FIELDS = ['correlationId', 'eventType', 'eventCategory', 'actorId', 'actorType', 'outcome', 'resourceType', 'resourceId'] as const;
export type IndexField = (typeof INDEX_FIELDS)[number];

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
};

/** Key (relative to the namespace) of the set holding every event. */
export const GLOBAL_KEY = 'all';

const UNRESERVED_BYTE: boolean[] = Array.from({ length: 256 }, (_, b) => /^[A-Za-z0-9._~-]$/.test(String.fromCharCode(b)));
const HEX = '0123456789ABCDEF';

/**
 * Percent-encodes UTF-8 bytes outside [A-Za-z0-9._~-]. The result never contains `:`, `{`, `}`,
 * `*`, `?`, `[` or `]`, so a crafted value can neither reach another field's keys, break the
 * cluster hash tag, nor match a SCAN pattern; and it is injective on well-formed strings.
 */
export function escapeValue(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += UNRESERVED_BYTE[b] ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  return out;
}

export function fieldKey(field: IndexField, value: string): string {
  return `${FIELD_CODE[field]}:${escapeValue(value)}`;
}

/** A record's value of one field; undefined for the resource fields of an event without a resource. */
export function fieldValue(r: AuditEventRecord, field: IndexField): string | undefined {
  switch (field) {
    case 'correlationId':
      return r.correlationId;
    case 'eventType':
      return r.eventType;
    case 'eventCategory':
      return r.eventCategory;
    case 'actorId':
      return r.actor.id;
    case 'actorType':
      return r.actor.type;
    case 'outcome':
      return r.outcome;
    case 'resourceType':
      return r.resource?.type;
    case 'resourceId':
      return r.resource?.id;
  }
}

/**
 * Fields with one set per value, whatever the value. The coded fields (codes.ts) have a set only
 * for their rare values, and are otherwise found through the codes inside the members.
 */
export const SET_FIELDS = ['correlationId', 'eventType', 'actorId', 'resourceId'] as const satisfies readonly IndexField[];

/** The set keys (relative) an event always belongs to, the global one first. */
export function setFieldKeys(r: AuditEventRecord): string[] {
  const out = [GLOBAL_KEY];
  for (const field of SET_FIELDS) {
    const v = fieldValue(r, field);
    if (v !== undefined) out.push(fieldKey(field, v));
  }
  return out;
}

// --- positions and members -----------------------------------------------------------------

export interface IndexPosition {
  /** Event timestamp, ms since the epoch. */
  ms: number;
  /** Lowercase UUID. */
  eventId: string;
}

const LOWER_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** 9999-12-31T23:59:59.999Z (the ledger's bound too); < 2^48, so 6 bytes hold it. */
export const MAX_MS = 253402300799999;
/** `BE48(ms) ‖ uuid`: the part of a member that orders it. */
export const POSITION_LENGTH = 22;
export const MEMBER_LENGTH = POSITION_LENGTH + CODE_BYTES;

export function positionOf(r: AuditEventRecord): IndexPosition {
  return { ms: Date.parse(r.timestamp), eventId: r.eventId };
}

/** `BE48(ms) ‖ uuid bytes` as a latin1 string (one char per byte, so JS `<` is byte order). */
export function encodePosition(p: IndexPosition): string {
  if (!Number.isInteger(p.ms) || p.ms < 0 || p.ms > MAX_MS) throw new RangeError(`timestamp out of range: ${p.ms}`);
  if (!LOWER_UUID.test(p.eventId)) throw new TypeError('eventId must be a lowercase UUID');
  const b = Buffer.alloc(POSITION_LENGTH);
  b.writeUIntBE(p.ms, 0, 6);
  b.write(p.eventId.replaceAll('-', ''), 6, 'hex');
  return b.toString('latin1');
}

/** A member: the position, then the 3 code bytes (codes.ts `packCodes`). */
export function encodeMember(p: IndexPosition, codes: string): string {
  return memberAt(encodePosition(p), codes);
}

/** The member of an encoded position (`encodePosition`) and its packed codes. */
export function memberAt(position: string, codes: string): string {
  if (position.length !== POSITION_LENGTH) throw new TypeError(`a position is ${POSITION_LENGTH} bytes`);
  if (codes.length !== CODE_BYTES) throw new TypeError(`codes must be ${CODE_BYTES} bytes`);
  return position + codes;
}

export function decodeMember(m: string): IndexPosition {
  if (m.length !== MEMBER_LENGTH) throw new Error('malformed index member');
  const b = Buffer.from(m.slice(0, POSITION_LENGTH), 'latin1');
  const h = b.toString('hex', 6);
  return { ms: b.readUIntBE(0, 6), eventId: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}` };
}

/** A bound on the time axis only: every member of millisecond `ms` sorts after it. */
export function msPrefix(ms: number): string {
  const b = Buffer.alloc(6);
  b.writeUIntBE(Math.min(Math.max(ms, 0), 2 ** 48 - 1), 0, 6);
  return b.toString('latin1');
}

export const comparePositions = (a: IndexPosition, b: IndexPosition): number =>
  a.ms !== b.ms ? a.ms - b.ms : a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;

// --- ranges over members (ascending byte order) -------------------------------------------

/** null: unbounded. `value` is a member or a millisecond prefix. */
export type Bound = { value: string; inclusive: boolean } | null;
export interface MemberRange {
  min: Bound;
  max: Bound;
}

export const aboveMin = (m: string, min: Bound): boolean => min === null || (min.inclusive ? m >= min.value : m > min.value);
export const belowMax = (m: string, max: Bound): boolean => max === null || (max.inclusive ? m <= max.value : m < max.value);
export const inRange = (m: string, r: MemberRange): boolean => aboveMin(m, r.min) && belowMax(m, r.max);

function tighterMin(a: Bound, b: Bound): Bound {
  if (a === null) return b;
  if (b === null) return a;
  if (a.value !== b.value) return a.value > b.value ? a : b;
  return a.inclusive ? b : a;
}
function tighterMax(a: Bound, b: Bound): Bound {
  if (a === null) return b;
  if (b === null) return a;
  if (a.value !== b.value) return a.value < b.value ? a : b;
  return a.inclusive ? b : a;
}
export const intersect = (a: MemberRange, b: MemberRange): MemberRange => ({ min: tighterMin(a.min, b.min), max: tighterMax(a.max, b.max) });

/** True when the bounds exclude everything (a non-empty range may still hold no member). */
export function isEmptyRange(r: MemberRange): boolean {
  if (r.min === null || r.max === null) return false;
  if (r.min.value < r.max.value) return false;
  return !(r.min.value === r.max.value && r.min.inclusive && r.max.inclusive);
}

/** Redis ZRANGE/ZLEXCOUNT bound syntax as bytes. */
export function lexArg(bound: Bound, side: 'min' | 'max'): Buffer {
  if (bound === null) return Buffer.from(side === 'min' ? '-' : '+');
  return Buffer.concat([Buffer.from(bound.inclusive ? '[' : '('), Buffer.from(bound.value, 'latin1')]);
}

// --- filter ------------------------------------------------------------------------------

/** `AuditEventFilter` of the API contract, as a client sends it. */
export interface AuditEventFilterInput {
  correlationId?: string | null;
  eventType?: readonly string[] | null;
  eventCategory?: readonly string[] | null;
  actorId?: readonly string[] | null;
  actorType?: readonly string[] | null;
  outcome?: readonly string[] | null;
  resourceType?: string | null;
  resourceId?: string | null;
  since?: string | null;
  until?: string | null;
}

export interface FilterTerm {
  field: IndexField;
  /** OR within the term; sorted, distinct. */
  values: string[];
}

export interface NormalizedFilter {
  /** AND across terms; in INDEX_FIELDS order. */
  terms: FilterTerm[];
  /** [since, until) in ms; null: unbounded. */
  since: number | null;
  until: number | null;
}

/** Most values one list field may hold: each is one more set to count and merge or probe. */
export const MAX_VALUES_PER_FIELD = 100;

const LIST_FIELDS: ReadonlySet<IndexField> = new Set(['eventType', 'eventCategory', 'actorId', 'actorType', 'outcome']);

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** RFC 3339 → ms, at most ms precision (further digits must be zeros); null when invalid. */
export function parseDateTime(s: string): number | null {
  if (s.length > 64) return null;
  const m = RFC3339.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const frac = m[7];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return null;
  if (frac !== undefined && /[1-9]/.test(frac.slice(3))) return null;
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  if (date.getUTCDate() !== d) return null; // 31 April and friends roll over
  date.setUTCHours(h, mi, sec, frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0')));
  let ms = date.getTime();
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return null;
    ms -= (m[8] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  return Number.isFinite(ms) ? ms : null;
}

function checkValue(field: IndexField, value: unknown, path: string, out: FieldViolation[]): value is string {
  const fail = (message: string) => (out.push({ path, message }), false);
  if (typeof value !== 'string') return fail('must be a string');
  if (value.length === 0) return fail('must not be empty');
  if (!isWellFormed(value)) return fail('must be well-formed Unicode (contains a lone surrogate)');
  if (field === 'outcome' && !(OUTCOMES as readonly string[]).includes(value)) return fail(`must be one of ${OUTCOMES.join(', ')}`);
  // Longer values cannot be stored, so they could only ever match nothing: say so instead.
  if ([...value].length > LIMITS.identifierMaxChars) return fail(`must be at most ${LIMITS.identifierMaxChars} characters`);
  if (field === 'correlationId' && Buffer.byteLength(value, 'utf8') > LIMITS.correlationIdMaxBytes) {
    return fail(`must be at most ${LIMITS.correlationIdMaxBytes} bytes in UTF-8`);
  }
  return true;
}

/** Validates and normalizes a filter; every problem is reported at once (BAD_USER_INPUT). */
export function normalizeFilter(input: AuditEventFilterInput | null | undefined, path = 'filter'): NormalizedFilter {
  const violations: FieldViolation[] = [];
  const terms: FilterTerm[] = [];
  const f = (input ?? {}) as Record<string, unknown>;
  for (const field of INDEX_FIELDS) {
    const raw = f[field];
    if (raw === undefined || raw === null) continue;
    if (LIST_FIELDS.has(field)) {
      if (!Array.isArray(raw)) {
        violations.push({ path: `${path}.${field}`, message: 'must be a list' });
        continue;
      }
      if (raw.length === 0) {
        violations.push({ path: `${path}.${field}`, message: 'must not be empty: omit the field to match any value' });
        continue;
      }
      if (raw.length > MAX_VALUES_PER_FIELD) {
        violations.push({ path: `${path}.${field}`, message: `must have at most ${MAX_VALUES_PER_FIELD} values` });
        continue;
      }
      const values = new Set<string>();
      raw.forEach((v, i) => checkValue(field, v, `${path}.${field}.${i}`, violations) && values.add(v));
      terms.push({ field, values: [...values].sort() });
    } else if (checkValue(field, raw, `${path}.${field}`, violations)) {
      terms.push({ field, values: [raw] });
    }
  }
  const time = (name: 'since' | 'until'): number | null => {
    const raw = f[name];
    if (raw === undefined || raw === null) return null;
    const ms = typeof raw === 'string' ? parseDateTime(raw) : null;
    if (ms === null) violations.push({ path: `${path}.${name}`, message: 'must be an RFC 3339 date-time with at most millisecond precision' });
    return ms;
  };
  const since = time('since');
  const until = time('until');
  if (violations.length > 0) throw new ValidationError(violations);
  return { terms, since, until };
}

/**
 * Whether a ledger record satisfies the filter: the resolver re-checks what the index returned, and
 * live subscriptions select with it (once per event and subscriber, so it allocates nothing).
 */
export function matches(r: AuditEventRecord, filter: NormalizedFilter): boolean {
  for (const t of filter.terms) {
    const v = fieldValue(r, t.field);
    if (v === undefined || !t.values.includes(v)) return false;
  }
  if (filter.since === null && filter.until === null) return true;
  const ms = Date.parse(r.timestamp);
  return (filter.since === null || ms >= filter.since) && (filter.until === null || ms < filter.until);
}

/** The filter's time window as a member range: [since, until). */
export function windowRange(filter: NormalizedFilter): MemberRange {
  return {
    min: filter.since === null ? null : { value: msPrefix(filter.since), inclusive: true },
    max: filter.until === null ? null : { value: msPrefix(filter.until), inclusive: false },
  };
}

// --- paging ------------------------------------------------------------------------------

export const INDEX_ORDERS = ['TIMESTAMP_ASC', 'TIMESTAMP_DESC'] as const;
export type IndexOrder = (typeof INDEX_ORDERS)[number];
export const DEFAULT_ORDER: IndexOrder = 'TIMESTAMP_DESC';
export const PAGE_SIZE = { default: 50, max: 500 } as const;

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export interface PageRequest {
  order: IndexOrder;
  /** last/before paging: walk against the order from `before`, then reverse. */
  backward: boolean;
  size: number;
  after?: IndexPosition;
  before?: IndexPosition;
}

/*
 * Cursors: base64url("i1:<15-digit ms>:<eventId>"). A position only, so a cursor stays valid while
 * events arrive and under any filter; "i1" versions it and keeps it apart from timeline cursors.
 */
const CURSOR_PAYLOAD = /^i1:(\d{15}):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export function encodeCursor(p: IndexPosition): string {
  return Buffer.from(`i1:${String(p.ms).padStart(15, '0')}:${p.eventId}`, 'latin1').toString('base64url');
}

export function decodeCursor(cursor: unknown, path = 'cursor'): IndexPosition {
  const invalid = () => new ValidationError([{ path, message: 'is not a valid auditEvents cursor' }]);
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > 128 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  const bytes = Buffer.from(cursor, 'base64url');
  if (bytes.toString('base64url') !== cursor) throw invalid();
  const m = CURSOR_PAYLOAD.exec(bytes.toString('latin1'));
  const ms = m ? Number(m[1]) : Number.NaN;
  if (!m || ms > MAX_MS) throw invalid();
  return { ms, eventId: m[2]! };
}

export function normalizePage(args: PageArgs, order: IndexOrder | null | undefined): PageRequest {
  const violations: FieldViolation[] = [];
  if (args.first != null && args.last != null) {
    violations.push({ path: 'first', message: 'cannot be combined with last: page forwards with first/after or backwards with last/before' });
  }
  for (const name of ['first', 'last'] as const) {
    const v = args[name];
    if (v != null && (!Number.isInteger(v) || v < 0 || v > PAGE_SIZE.max)) violations.push({ path: name, message: `must be from 0 to ${PAGE_SIZE.max}` });
  }
  const cursor = (name: 'after' | 'before'): IndexPosition | undefined => {
    const v = args[name];
    if (v == null) return undefined;
    try {
      return decodeCursor(v, name);
    } catch (e) {
      if (e instanceof ValidationError) violations.push(...e.violations);
      else throw e;
      return undefined;
    }
  };
  const after = cursor('after');
  const before = cursor('before');
  if (order != null && !(INDEX_ORDERS as readonly string[]).includes(order)) violations.push({ path: 'orderBy', message: `must be one of ${INDEX_ORDERS.join(', ')}` });
  if (violations.length > 0) throw new ValidationError(violations);
  const backward = args.last != null || (args.first == null && before !== undefined && after === undefined);
  return {
    order: order ?? DEFAULT_ORDER,
    backward,
    size: (backward ? args.last : args.first) ?? PAGE_SIZE.default,
    ...(after ? { after } : {}),
    ...(before ? { before } : {}),
  };
}

/*
 * Bounds at a position. A member of position p is `enc(p) ‖ codes`, so it sorts after `enc(p)` and
 * no later than `enc(p) ‖ ff ff ff`: "strictly after p" is `> enc(p)‖ffffff`, "strictly before p"
 * is `< enc(p)`, whatever p's codes are.
 */
const strictlyAfter = (p: IndexPosition): Bound => ({ value: encodePosition(p) + HIGHEST_CODES, inclusive: false });
const strictlyBefore = (p: IndexPosition): Bound => ({ value: encodePosition(p), inclusive: false });

/**
 * Member range of the positions strictly between `after` and `before` in `order`, intersected
 * with `base`. In descending order "after" means older, so the bounds swap sides.
 */
export function cursorRange(base: MemberRange, order: IndexOrder, after?: IndexPosition, before?: IndexPosition): MemberRange {
  const asc = order === 'TIMESTAMP_ASC';
  const lo = asc ? after : before;
  const hi = asc ? before : after;
  return intersect(base, { min: lo ? strictlyAfter(lo) : null, max: hi ? strictlyBefore(hi) : null });
}

/** Positions at or before `p` in `order` (the "previous" side of a forward page), within base. */
export function atOrBefore(base: MemberRange, order: IndexOrder, p: IndexPosition): MemberRange {
  return intersect(
    base,
    order === 'TIMESTAMP_ASC' ? { min: null, max: { value: encodePosition(p) + HIGHEST_CODES, inclusive: true } } : { min: { value: encodePosition(p), inclusive: true }, max: null },
  );
}

/** Positions at or after `p` in `order` (the "next" side of a backward page), within base. */
export function atOrAfter(base: MemberRange, order: IndexOrder, p: IndexPosition): MemberRange {
  return atOrBefore(base, order === 'TIMESTAMP_ASC' ? 'TIMESTAMP_DESC' : 'TIMESTAMP_ASC', p);
}

// --- plan --------------------------------------------------------------------------------

export interface KeyCount {
  key: string;
  count: number;
}

/** A coded term checked on the member's code bytes. */
export interface CodeCheck {
  field: CodedField;
  /** Codes of the term's values (OR). */
  codes: number[];
  /**
   * Sets of the term's values that have no code (the field overflowed): a member with the
   * overflow code passes when one of them holds it.
   */
  overflowKeys: string[];
}

/** What a candidate must pass, besides being in the driver's sets. */
export interface MemberFilter {
  codes: CodeCheck[];
  /** Per term, its value sets: a candidate passes a term when any of them holds it. */
  sets: string[][];
}

/** What the store says about the filter's values, for one range. */
export interface PlanInput {
  /** Members of the global set in the range (an estimate for big ranges). */
  total: number;
  /** Distinct events in the index, all time. */
  events: number;
  /** Members in the range of each set key asked for (estimates for big ranges, exact when 0). */
  counts: ReadonlyMap<string, number>;
  /** Codebook entries of coded values (by fieldKey); a value absent here has no code. */
  codes: ReadonlyMap<string, CodeEntry>;
}

export interface Plan {
  /** Empty result, known from the counts alone. */
  empty: boolean;
  /** Sets walked in order and merged (one term's values, or the global set). */
  driver: KeyCount[];
  filter: MemberFilter;
  /** Estimated share of driver members that pass the filter. */
  selectivity: number;
}

/** The keys of a term's values (every value of a coded term has one, whether or not its set exists). */
export const termKeys = (t: FilterTerm): string[] => t.values.map((v) => fieldKey(t.field, v));

/**
 * Chooses the driver: among the terms whose every value has a set (set fields; coded terms
 * without a dense value), the one with the fewest members in the range — each event has one value
 * per field, so a term's count is the sum of its sets'. Without one, the global set. Coded terms
 * are checked on the members' codes, the other terms by membership. A walk then reads about
 * (results wanted) / selectivity members, never more than the driver holds.
 */
export function plan(terms: FilterTerm[], input: PlanInput): Plan {
  const empty: Plan = { empty: true, driver: [], filter: { codes: [], sets: [] }, selectivity: 0 };
  if (input.total === 0) return empty;
  const counted = (key: string) => input.counts.get(key) ?? 0;
  const planned = terms.map((t) => {
    const keys = termKeys(t);
    if (!isCodedField(t.field)) {
      const sets = keys.map((key) => ({ key, count: counted(key) })).filter((k) => k.count > 0);
      return { count: sets.reduce((n, k) => n + k.count, 0), sets: sets as KeyCount[] | null, check: { set: sets.map((k) => k.key) } as { set?: string[]; code?: CodeCheck } };
    }
    const check: CodeCheck = { field: t.field, codes: [], overflowKeys: [] };
    const sets: KeyCount[] = [];
    let count = 0;
    let drivable = true;
    for (const key of keys) {
      const entry = input.codes.get(key);
      const n = counted(key);
      if (entry) {
        check.codes.push(entry.code);
        if (entry.dense) {
          drivable = false;
          // No set to count: its share of all events, applied to the range.
          count += input.events > 0 ? input.total * Math.min(1, entry.count / input.events) : 0;
          continue;
        }
      } else if (n > 0) check.overflowKeys.push(key);
      count += n;
      if (n > 0) sets.push({ key, count: n });
    }
    return { count, sets: drivable ? sets : null, check: { code: check } };
  });
  if (planned.some((t) => t.count === 0)) return empty;
  let best = -1;
  planned.forEach((t, i) => {
    if (t.sets && (best < 0 || t.count < planned[best]!.count)) best = i;
  });
  const driver = best < 0 ? [{ key: GLOBAL_KEY, count: input.total }] : planned[best]!.sets!;
  const others = planned.filter((_, i) => i !== best);
  // Independence assumption; only sizes the first reads, the walk reads on when it was wrong.
  const selectivity = others.reduce((s, t) => s * Math.min(1, t.count / input.total), 1);
  return {
    empty: false,
    driver,
    filter: { codes: others.flatMap((t) => (t.check.code ? [t.check.code] : [])), sets: others.flatMap((t) => (t.check.set ? [t.check.set] : [])) },
    selectivity,
  };
}
