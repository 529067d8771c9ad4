/**
 * What a query reads: ranges of members (ascending byte order) for a filter's time window and a
 * page's cursors, and the page request they come from.
 */
import { ValidationError, type FieldViolation } from '../errors.ts';
import type { NormalizedFilter } from '../events/filter.ts';
import { decodeIndexCursor, parsePageArgs, type EventPosition, type PageArgs, type PageRequest } from '../events/paging.ts';
import { HIGHEST_CODES } from './codes.ts';
import { encodePosition, msPrefix } from './members.ts';

// --- ranges ----------------------------------------------------------------------------------

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

/** The filter's time window as a member range: [since, until). */
export function windowRange(filter: NormalizedFilter): MemberRange {
  return {
    min: filter.since === null ? null : { value: msPrefix(filter.since), inclusive: true },
    max: filter.until === null ? null : { value: msPrefix(filter.until), inclusive: false },
  };
}

// --- pages -----------------------------------------------------------------------------------

export const INDEX_ORDERS = ['TIMESTAMP_ASC', 'TIMESTAMP_DESC'] as const;
export type IndexOrder = (typeof INDEX_ORDERS)[number];
export const DEFAULT_ORDER: IndexOrder = 'TIMESTAMP_DESC';

export interface IndexPageRequest extends PageRequest<EventPosition> {
  order: IndexOrder;
}

/** Page arguments (cursors: `auditEvents`' own) and order; every problem at once (BAD_USER_INPUT). */
export function normalizePage(args: PageArgs, order: IndexOrder | null | undefined): IndexPageRequest {
  const violations: FieldViolation[] = [];
  const page = parsePageArgs(args, decodeIndexCursor, violations);
  if (order != null && !(INDEX_ORDERS as readonly string[]).includes(order))
    violations.push({ path: 'orderBy', message: `must be one of ${INDEX_ORDERS.join(', ')}` });
  if (violations.length > 0) throw new ValidationError(violations);
  return { order: order ?? DEFAULT_ORDER, ...page };
}

/*
 * Bounds at a position. A member of position p is `enc(p) ‖ codes`, so it sorts after `enc(p)` and
 * no later than `enc(p) ‖ ff ff ff`: "strictly after p" is `> enc(p)‖ffffff`, "strictly before p"
 * is `< enc(p)`, whatever p's codes are.
 */
const strictlyAfter = (p: EventPosition): Bound => ({ value: encodePosition(p) + HIGHEST_CODES, inclusive: false });
const strictlyBefore = (p: EventPosition): Bound => ({ value: encodePosition(p), inclusive: false });

/**
 * Member range of the positions strictly between `after` and `before` in `order`, intersected
 * with `base`. In descending order "after" means older, so the bounds swap sides.
 */
export function cursorRange(base: MemberRange, order: IndexOrder, after?: EventPosition, before?: EventPosition): MemberRange {
  const asc = order === 'TIMESTAMP_ASC';
  const lo = asc ? after : before;
  const hi = asc ? before : after;
  return intersect(base, { min: lo ? strictlyAfter(lo) : null, max: hi ? strictlyBefore(hi) : null });
}

/** Positions at or before `p` in `order` (the "previous" side of a forward page), within base. */
export function atOrBefore(base: MemberRange, order: IndexOrder, p: EventPosition): MemberRange {
  return intersect(
    base,
    order === 'TIMESTAMP_ASC'
      ? { min: null, max: { value: encodePosition(p) + HIGHEST_CODES, inclusive: true } }
      : { min: { value: encodePosition(p), inclusive: true }, max: null },
  );
}

/** Positions at or after `p` in `order` (the "next" side of a backward page), within base. */
export function atOrAfter(base: MemberRange, order: IndexOrder, p: EventPosition): MemberRange {
  return atOrBefore(base, order === 'TIMESTAMP_ASC' ? 'TIMESTAMP_DESC' : 'TIMESTAMP_ASC', p);
}
