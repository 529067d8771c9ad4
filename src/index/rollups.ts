/**
 * Rollups: per UTC minute, hour and day, the events counted by their first code bytes (the cell:
 * eventCategory, resourceType, actorType and outcome; codes.ts). The batch script keeps them with
 * the members, so a count whose filter is only coded fields and a window (the dashboard's "events
 * by outcome per hour over 30 days") adds up a few hundred small hashes instead of walking a
 * million members. Pure: which buckets cover a window, and the keys they live at.
 *
 * Value rollups: the same cells and fields per value of eventType and actorId, all time (no time
 * dimension), so an unwindowed count of one such value and coded fields ("this event type's
 * failures") reads one hash instead of walking the value's set, which can hold a fifth of all events.
 *
 * Exact only while every event was applied once (the index's `events` equals `applied`), and for
 * values that have a code (an overflowed value shares the overflow code): counting.ts checks both
 * and walks otherwise.
 */
import type { IndexField } from '../events/filter.ts';
import { CODE_LAYOUT, type CodedField, memberCode } from './codes.ts';
import { fieldCode, fieldKey, memberMs } from './members.ts';

/** A cell: the first code bytes of a member, which hold these fields' codes. */
export const ROLLUP_CELL_BYTES = 3;
export const ROLLUP_FIELDS: readonly CodedField[] = ['eventCategory', 'resourceType', 'actorType', 'outcome'];

/** The total field of a bucket: its events. */
export const TOTAL_FIELD = '#t';

/**
 * What one event of `cell` adds 1 to in its buckets: the cell, the bucket's total, and per rollup
 * field `#<fc><code>` (4 bytes; cells are 3, the total 2: no name meets another), so a count
 * without checks reads a few fields instead of every cell.
 */
export function rollupFieldsOf(cell: string): string[] {
  return [cell, TOTAL_FIELD, ...ROLLUP_FIELDS.map((f) => `#${CODE_LAYOUT[f].fc}${String.fromCharCode(memberCode(cell, f, 0))}`)];
}

/**
 * Minute buckets are read only for the last MINUTE_RETENTION_MS (by the gateway's clock) and
 * expire MINUTE_KEEP_MS after their minute ends (by Redis'): a 7-year trail would otherwise keep
 * 3.7 million of them. Older windows walk their partial hours instead; hours and days stay.
 * The day between the two covers clocks that disagree.
 */
export const MINUTE_RETENTION_MS = 35 * 86_400_000;
export const MINUTE_KEEP_MS = 36 * 86_400_000;

/** Set fields with a value rollup each (`vr:<fc>:<esc(v)>`): the fields a dashboard counts one value of. */
export const VALUE_ROLLUP_FIELDS = ['eventType', 'actorId'] as const satisfies readonly IndexField[];
export type ValueRollupField = (typeof VALUE_ROLLUP_FIELDS)[number];
const VALUE_ROLLED: ReadonlySet<string> = new Set(VALUE_ROLLUP_FIELDS);
export const isValueRollupField = (field: string): field is ValueRollupField => VALUE_ROLLED.has(field);

/** Key (relative to the namespace) of a value's rollup: `vr:` and the value's set key. */
export const valueRollupKey = (field: ValueRollupField, value: string): string => `vr:${fieldKey(field, value)}`;

const VALUE_ROLLUP_PREFIXES = VALUE_ROLLUP_FIELDS.map((f) => `${fieldCode(f)}:`);
/** The value rollup a set key (`<fc>:<esc(v)>`) feeds, if its field has them. */
export const valueRollupOfSet = (setKey: string): string | null => (VALUE_ROLLUP_PREFIXES.some((p) => setKey.startsWith(p)) ? `vr:${setKey}` : null);

/** The rollup fields' codes, the value rollups' field codes and the minute buckets' keep, as Lua locals for the write scripts (redis-commands.ts prepends them). */
export const luaRollupFields = (): string =>
  `local ROLLUP = { ${ROLLUP_FIELDS.map((f) => `'${CODE_LAYOUT[f].fc}'`).join(', ')} }\n` +
  `local VALUE_ROLLUP = { ${VALUE_ROLLUP_FIELDS.map((f) => `${fieldCode(f)} = true`).join(', ')} }\n` +
  `local MINUTE_KEEP_MS = ${MINUTE_KEEP_MS}\n`;

/** Rollup levels, finest first, and their widths in ms. */
export const ROLLUP_LEVELS = [
  ['m', 60_000],
  ['h', 3_600_000],
  ['d', 86_400_000],
] as const;
export type RollupLevel = (typeof ROLLUP_LEVELS)[number][0];
export const MINUTE_MS = 60_000;

/** Key (relative to the namespace) of one bucket's hash: cell (3 code bytes) → events. */
export const rollupKey = (level: RollupLevel, index: number): string => `ru:${level}:${index}`;

/** Whether the minute bucket starting at `start` may be read at `now` (see MINUTE_RETENTION_MS). */
export const minuteReadable = (start: number, now: number): boolean => start >= now - MINUTE_RETENTION_MS;

/** The keys an event at `ms` is counted under, one per level. */
export const rollupKeysOf = (ms: number): string[] => ROLLUP_LEVELS.map(([level, width]) => rollupKey(level, Math.floor(ms / width)));

export interface RollupUnit {
  key: string;
  /** Start of the unit (ms). */
  start: number;
}

/**
 * Whole buckets covering [from, to) exactly; both ends on minute boundaries. Each unit is the
 * coarsest level whose bucket starts at the cursor and ends by `to`, never wider than `maxWidth`
 * (a histogram's interval: each unit then falls inside one histogram bucket).
 */
export function coveringUnits(from: number, to: number, maxWidth: number): RollupUnit[] {
  if (from % MINUTE_MS !== 0 || to % MINUTE_MS !== 0) throw new RangeError('rollup windows start and end on minute boundaries');
  const out: RollupUnit[] = [];
  let at = from;
  while (at < to) {
    let chosen: readonly [RollupLevel, number] = ROLLUP_LEVELS[0];
    for (const level of ROLLUP_LEVELS) if (level[1] <= maxWidth && at % level[1] === 0 && at + level[1] <= to) chosen = level;
    out.push({ key: rollupKey(chosen[0], at / chosen[1]), start: at });
    at += chosen[1];
  }
  return out;
}

function addCell(rollups: Map<string, Map<string, number>>, key: string, cell: string): void {
  let cells = rollups.get(key);
  if (!cells) {
    cells = new Map();
    rollups.set(key, cells);
  }
  cells.set(cell, (cells.get(cell) ?? 0) + 1);
}

/** Counts one member (`BE48(ms) ‖ uuid ‖ codes`) into in-process rollups (memory index, bulk build): its time buckets. */
export function addToRollups(rollups: Map<string, Map<string, number>>, member: string): void {
  const cell = member.slice(22, 22 + ROLLUP_CELL_BYTES);
  for (const key of rollupKeysOf(memberMs(member))) addCell(rollups, key, cell);
}

/** Counts one member of set `setKey` into that value's rollup, when its field has them. */
export function addToValueRollup(rollups: Map<string, Map<string, number>>, setKey: string, member: string): void {
  const key = valueRollupOfSet(setKey);
  if (key) addCell(rollups, key, member.slice(22, 22 + ROLLUP_CELL_BYTES));
}
