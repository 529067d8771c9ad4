/**
 * Low-cardinality attributes carried inside every index member, so that a query filters on them
 * while it walks another set instead of keeping one sorted set per value.
 *
 * Members are 25 bytes: `BE48(ms) ‖ uuid(16) ‖ codes(3)` (members.ts). The 3 code bytes hold, in
 * this order: eventCategory (8 bits), resourceType (8 bits), actorType (5 bits) and outcome
 * (3 bits). A field's codes are assigned by the index itself, in order of first sight (a per-epoch
 * codebook): 0 means "no value" (an event without a resource), 1…max are values, and the
 * all-ones code means "overflow": a value seen after the field ran out of codes. Overflow values
 * keep a set of their own, so a filter can still tell them apart.
 *
 * Dense and sparse values: a coded value keeps its own set as long as it is rare, so that a filter
 * on it alone can still walk just its events. Once it holds more than `denseMinEvents` events and
 * more than 1/16 of all events it becomes dense: its set is deleted for good (until the next
 * rebuild) and a filter on it checks codes while walking another set, reading at most ~16
 * members per match. Only common values lose their set, which is where the memory went (each
 * set membership costs 30–130 bytes of Redis).
 */
import type { IndexField } from '../events/filter.ts';

/** Index fields too: a record's value of one is `fieldValue` (events/filter.ts). */
export const CODED_FIELDS = ['eventCategory', 'resourceType', 'actorType', 'outcome'] as const satisfies readonly IndexField[];
export type CodedField = (typeof CODED_FIELDS)[number];

const CODED: ReadonlySet<string> = new Set(CODED_FIELDS);
export const isCodedField = (field: string): field is CodedField => CODED.has(field);

/** Width of each field's code in the member. */
export const CODE_BITS: Readonly<Record<CodedField, number>> = { eventCategory: 8, resourceType: 8, actorType: 5, outcome: 3 };
export const CODE_BYTES = 3;
/** The code of an absent value (only resourceType can be absent). */
export const ABSENT_CODE = 0;
/** The code of a value seen after its field ran out of codes. */
export const overflowCode = (field: CodedField): number => 2 ** CODE_BITS[field] - 1;
/** Codes a field can hand out: 1 … 2^bits − 2. */
export const MAX_CODES: Readonly<Record<CodedField, number>> = {
  eventCategory: overflowCode('eventCategory') - 1,
  resourceType: overflowCode('resourceType') - 1,
  actorType: overflowCode('actorType') - 1,
  outcome: overflowCode('outcome') - 1,
};

/** Past this many events, a value that is also more than 1/DENSE_SHARE_INVERSE of all events is dense. */
export const DENSE_MIN_EVENTS = 2048;
export const DENSE_SHARE_INVERSE = 16;

/** The density rule, the same in Lua (redis-scripts/apply.lua) and in process (memory-index.ts). */
export function becomesDense(count: number, events: number, denseMin = DENSE_MIN_EVENTS): boolean {
  return count > denseMin && count * DENSE_SHARE_INVERSE > events;
}

/** Layout knobs: the defaults are for production; tests shrink them to reach every case quickly. */
export interface IndexLayoutOptions {
  /** See DENSE_MIN_EVENTS. */
  denseMinEvents?: number;
  /** Codes a field may hand out before its values overflow (at most MAX_CODES). */
  maxCodes?: Partial<Record<CodedField, number>>;
}

export function resolveMaxCodes(o: IndexLayoutOptions['maxCodes']): Record<CodedField, number> {
  const out = { ...MAX_CODES };
  for (const f of CODED_FIELDS) {
    const v = o?.[f];
    if (v !== undefined) {
      if (!Number.isInteger(v) || v < 0 || v > MAX_CODES[f]) throw new RangeError(`maxCodes.${f} must be an integer from 0 to ${MAX_CODES[f]}`);
      out[f] = v;
    }
  }
  return out;
}

export type Codes = Record<CodedField, number>;

function check(field: CodedField, code: number): number {
  if (!Number.isInteger(code) || code < 0 || code > overflowCode(field)) throw new RangeError(`${field} code out of range: ${code}`);
  return code;
}

/** The 3 code bytes, as a latin1 string. */
export function packCodes(c: Codes): string {
  const at = check('actorType', c.actorType);
  const oc = check('outcome', c.outcome);
  return String.fromCharCode(check('eventCategory', c.eventCategory), check('resourceType', c.resourceType), (at << 3) | oc);
}

/** The codes bytes sort last among members of one position (a bound "after every member of p"). */
export const HIGHEST_CODES = '\xff\xff\xff';

/** One field's code inside a member (offset 22 on). */
export function memberCode(member: string, field: CodedField): number {
  switch (field) {
    case 'eventCategory':
      return member.charCodeAt(22);
    case 'resourceType':
      return member.charCodeAt(23);
    case 'actorType':
      return member.charCodeAt(24) >> 3;
    case 'outcome':
      return member.charCodeAt(24) & 7;
  }
}

/** A coded value as the index knows it. */
export interface CodeEntry {
  code: number;
  /** Its set was dropped: only the code finds it. */
  dense: boolean;
  /** Events with this value (all time, this epoch). */
  count: number;
}
