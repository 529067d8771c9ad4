/**
 * The plan of a query: which sets to walk and what a candidate must pass, chosen from the counts
 * the store reports. No I/O here; executor.ts walks the plan over a SetReader (Redis or
 * in-process), so both indexes answer every query with the same code.
 */
import type { FilterTerm } from '../events/filter.ts';
import { isCodedField, type CodeEntry, type CodedField } from './codes.ts';
import { fieldKey, GLOBAL_KEY } from './members.ts';

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
      return {
        count: sets.reduce((n, k) => n + k.count, 0),
        sets: sets as KeyCount[] | null,
        check: { set: sets.map((k) => k.key) } as { set?: string[]; code?: CodeCheck },
      };
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
