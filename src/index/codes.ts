/**
 * Low-cardinality attributes carried inside every index member, so that a query filters on them
 * while it walks another set instead of keeping one sorted set per value.
 *
 * Members are 29 bytes: `BE48(ms) ‖ uuid(16) ‖ codes(7)` (members.ts). The 7 code bytes hold
 * (CODE_LAYOUT): eventCategory, resourceType, actorType (5 bits) with outcome (3 bits),
 * clusterName, eventAction, resourceNamespace, recordedBy (5 bits) with severity (3 bits). The
 * first three bytes are also the cells of the rollups (rollups.ts). A field's codes are assigned
 * by the index itself, in order of first sight (a per-epoch codebook): 0 means "no value" (an
 * event without a resource, a severity…), 1…max are values, and the all-ones code means
 * "overflow": a value seen after the field ran out of codes. Overflow values keep a set of their
 * own, so a filter can still tell them apart.
 *
 * Dense and sparse values: a coded value keeps its own set as long as it is rare, so that a filter
 * on it alone can still walk just its events. Once it holds more than `denseMinEvents` events and
 * more than 1/32 of all events it becomes dense: its set is deleted for good (until the next
 * rebuild) and a filter on it checks codes while walking another set, reading at most ~32
 * members per match. (At 1/16, a field of 20 values of 5 % each, such as namespaces, kept a set
 * for every one: a membership more per event, for queries that walk a little less.) Only common values lose their set, which is where the memory went (each
 * set membership costs 30–130 bytes of Redis).
 */
import type { IndexField } from '../events/filter.ts';

/** Index fields too: a record's value of one is `fieldValue` (events/filter.ts). In the order of the apply script's arguments. */
export const CODED_FIELDS = [
  'eventCategory',
  'resourceType',
  'actorType',
  'outcome',
  'clusterName',
  'eventAction',
  'resourceNamespace',
  'recordedBy',
  'severity',
] as const satisfies readonly IndexField[];
export type CodedField = (typeof CODED_FIELDS)[number];

const CODED: ReadonlySet<string> = new Set(CODED_FIELDS);
export const isCodedField = (field: string): field is CodedField => CODED.has(field);

/**
 * Where each field's code sits among the code bytes: byte (0-based), shift and width in bits, and
 * the field's key code (members.ts' `<fc>:`), which the Lua scripts name it by.
 */
export const CODE_LAYOUT: Readonly<Record<CodedField, { fc: string; byte: number; shift: number; bits: number }>> = {
  eventCategory: { fc: 'ec', byte: 0, shift: 0, bits: 8 },
  resourceType: { fc: 'rt', byte: 1, shift: 0, bits: 8 },
  actorType: { fc: 'at', byte: 2, shift: 3, bits: 5 },
  outcome: { fc: 'oc', byte: 2, shift: 0, bits: 3 },
  clusterName: { fc: 'cl', byte: 3, shift: 0, bits: 8 },
  eventAction: { fc: 'ea', byte: 4, shift: 0, bits: 8 },
  resourceNamespace: { fc: 'rn', byte: 5, shift: 0, bits: 8 },
  recordedBy: { fc: 'rb', byte: 6, shift: 3, bits: 5 },
  severity: { fc: 'sv', byte: 6, shift: 0, bits: 3 },
};
export const CODE_BYTES = 7;
/** Width of each field's code in the member. */
export const CODE_BITS: Readonly<Record<CodedField, number>> = Object.fromEntries(CODED_FIELDS.map((f) => [f, CODE_LAYOUT[f].bits])) as Record<
  CodedField,
  number
>;
/** The code of an absent value. */
export const ABSENT_CODE = 0;
/** The code of a value seen after its field ran out of codes. */
export const overflowCode = (field: CodedField): number => 2 ** CODE_BITS[field] - 1;
/** Codes a field can hand out: 1 … 2^bits − 2. */
export const MAX_CODES: Readonly<Record<CodedField, number>> = Object.fromEntries(CODED_FIELDS.map((f) => [f, overflowCode(f) - 1])) as Record<
  CodedField,
  number
>;

/**
 * The layout as Lua locals for the scripts (redis-commands.ts prepends it): CODED (field codes in
 * CODED_FIELDS order) and LAYOUT[fc] = { byte (1-based among the code bytes), div, mod, ovf }.
 */
export function luaCodeLayout(): string {
  const entries = CODED_FIELDS.map((f) => {
    const l = CODE_LAYOUT[f];
    return `${l.fc} = { byte = ${l.byte + 1}, div = ${2 ** l.shift}, mod = ${2 ** l.bits}, ovf = ${overflowCode(f)} }`;
  });
  return `local CODED = { ${CODED_FIELDS.map((f) => `'${CODE_LAYOUT[f].fc}'`).join(', ')} }\nlocal LAYOUT = { ${entries.join(', ')} }\n`;
}

/** Past this many events, a value that is also more than 1/DENSE_SHARE_INVERSE of all events is dense. */
export const DENSE_MIN_EVENTS = 2048;
export const DENSE_SHARE_INVERSE = 32;

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

/** The code bytes, as a latin1 string. */
export function packCodes(c: Codes): string {
  const bytes = new Array<number>(CODE_BYTES).fill(0);
  for (const f of CODED_FIELDS) {
    const l = CODE_LAYOUT[f];
    bytes[l.byte]! |= check(f, c[f]) << l.shift;
  }
  return String.fromCharCode(...bytes);
}

/** The code bytes sort last among members of one position (a bound "after every member of p"). */
export const HIGHEST_CODES = '\xff'.repeat(CODE_BYTES);

/** One field's code inside a member (code bytes from offset 22), or inside `codes` alone when `offset` is 0. */
export function memberCode(member: string, field: CodedField, offset = 22): number {
  const l = CODE_LAYOUT[field];
  return (member.charCodeAt(offset + l.byte) >> l.shift) & (2 ** l.bits - 1);
}

/** A coded value as the index knows it. */
export interface CodeEntry {
  code: number;
  /** Its set was dropped: only the code finds it. */
  dense: boolean;
  /** Events with this value (all time, this epoch). */
  count: number;
}
