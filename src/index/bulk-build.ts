/**
 * A whole index built in memory from consecutive ledger txs, for a rebuild into an empty index.
 *
 * Applying a rebuild batch by batch inserts every member into its sets one position at a time
 * (events arrive in commit order, not in time order), which is what made a rebuild slow. Built
 * here instead, each set comes out sorted once and the store writes it in its final shape:
 * `RedisEventIndex` as full chunks, a few commands per 128 members.
 *
 * The result is what applying the same txs as one batch would hold: codes handed out in order of
 * first sight, counts per coded value, overflowed values with sets of their own, and the density
 * rule applied to the final counts. (Batch by batch, a value that was common early on may have
 * turned dense where the bulk build keeps its set; queries answer the same either way.) Pure: no I/O.
 *
 * Codes go out by each value's first place in commit order (its ordinal), not by the order records
 * are added in, so a bulk read may hand records over in any order (`coverTx` + `addRecord`).
 *
 * Memory: a 22-character position and four code references per event plus one number per set
 * membership, ~200 bytes an event while building (callers bound the events of one build).
 */
import { fieldValue } from '../events/filter.ts';
import {
  becomesDense,
  CODED_FIELDS,
  overflowCode,
  packCodes,
  resolveMaxCodes,
  DENSE_MIN_EVENTS,
  type CodedField,
  type Codes,
  type IndexLayoutOptions,
} from './codes.ts';
import type { IndexTx } from './port.ts';
import { addToRollups, addToValueRollup, valueRollupOfSet } from './rollups.ts';
import { encodePosition, fieldKey, GLOBAL_KEY, isDimensionKey, memberAt, setFieldKeys } from './members.ts';
import type { AuditEventRecord } from '../events/types.ts';
import { positionOf } from '../events/paging.ts';

/** A coded value's entry in the built codebook (overflowed values have none). */
export interface BuiltCode {
  /** Set key of the value (`ec:…`). */
  key: string;
  code: number;
  dense: boolean;
  count: number;
}

export interface BuiltIndex {
  /** Every set that has members, each sorted ascending without repeats. */
  sets: Map<string, string[]>;
  codes: BuiltCode[];
  /** Codes handed out per field. */
  used: Record<CodedField, number>;
  /** Distinct members of the global set. */
  events: number;
  /** Records added, repeats included. */
  applied: number;
  /** The last tx added ('0': none). */
  lastTxId: string;
  /** Dimension values (set key → events, repeats included). */
  registry: Map<string, number>;
  /** Correlations: correlationId → its newest event's ms. */
  recent: Map<string, number>;
  /** Rollups (rollups.ts): bucket or value rollup key → cell (3 code bytes) → events. */
  rollups: Map<string, Map<string, number>>;
}

interface Pending {
  field: CodedField;
  /** The earliest ordinal (place in commit order) of a record holding the value. */
  first: number;
  count: number;
  /** Set by result(): codes go out in order of first sight, so records may come in any order. */
  code: number;
  /** Still eligible for its own set (not overflowed); set by result(). */
  counted: boolean;
}

export class IndexBuild {
  private readonly denseMin: number;
  private readonly maxCodes: Record<CodedField, number>;
  /** Per record, its position (`encodePosition`); its member is this plus its codes. */
  private readonly positions: string[] = [];
  /** Per record, CODED_FIELDS.length entries: its coded values (undefined: absent). */
  private readonly valuesOf: (Pending | undefined)[] = [];
  /** Set key → indexes into `positions`, in order of addition. */
  private readonly lists = new Map<string, number[]>();
  private readonly coded = new Map<string, Pending>();
  private readonly registry = new Map<string, number>();
  private readonly recent = new Map<string, number>();
  private lastTx = '0';
  private txs = 0;
  private spent = false;

  constructor(layout: IndexLayoutOptions = {}) {
    this.denseMin = layout.denseMinEvents ?? DENSE_MIN_EVENTS;
    this.maxCodes = resolveMaxCodes(layout.maxCodes);
  }

  /** Records added so far (repeats included). */
  get events(): number {
    return this.positions.length; // members in place after result()
  }

  /** Txs added so far. */
  get txCount(): number {
    return this.txs;
  }

  get lastTxId(): string {
    return this.lastTx;
  }

  /** The next tx in txId order, with its records. */
  add(tx: IndexTx): void {
    this.coverTx(tx.txId);
    for (const r of tx.records) this.addRecord(this.positions.length, r);
  }

  /**
   * For records that arrive out of commit order (a bulk read in key order): the next tx in txId
   * order whose records are added with `addRecord`. Don't mix with `add`.
   */
  coverTx(txId: string): void {
    if (this.spent) throw new Error('IndexBuild: add after result()');
    if (this.txs > 0 && BigInt(txId) <= BigInt(this.lastTx)) throw new RangeError(`tx ${txId} added after tx ${this.lastTx}`);
    this.lastTx = txId;
    this.txs++;
  }

  /** A record of a covered tx, in any order; `ordinal` is its place in commit order (unique). */
  addRecord(ordinal: number, r: AuditEventRecord): void {
    if (this.spent) throw new Error('IndexBuild: add after result()');
    const i = this.positions.length;
    const at = positionOf(r);
    const position = encodePosition(at); // first: it throws for a record it cannot place
    const own: string[] = [];
    for (const field of CODED_FIELDS) {
      const v = fieldValue(r, field);
      if (v === undefined) {
        this.valuesOf.push(undefined);
        continue;
      }
      const key = fieldKey(field, v);
      let p = this.coded.get(key);
      if (!p) {
        p = { field, first: ordinal, count: 0, code: 0, counted: false };
        this.coded.set(key, p);
      } else if (ordinal < p.first) {
        p.first = ordinal;
      }
      p.count++;
      this.valuesOf.push(p);
      own.push(key);
    }
    this.positions.push(position);
    for (const key of setFieldKeys(r)) {
      this.push(key, i);
      if (isDimensionKey(key)) this.registry.set(key, (this.registry.get(key) ?? 0) + 1);
    }
    for (const key of own) {
      this.push(key, i);
      if (isDimensionKey(key)) this.registry.set(key, (this.registry.get(key) ?? 0) + 1);
    }
    const last = this.recent.get(r.correlationId);
    if (last === undefined || at.ms > last) this.recent.set(r.correlationId, at.ms);
  }

  private push(key: string, i: number): void {
    const list = this.lists.get(key);
    if (list) list.push(i);
    else this.lists.set(key, [i]);
  }

  /** Codes per field in order of first sight; values past a field's limit overflow. */
  private assignCodes(): Record<CodedField, number> {
    const byField = new Map<CodedField, Pending[]>(CODED_FIELDS.map((f) => [f, []]));
    for (const p of this.coded.values()) byField.get(p.field)!.push(p);
    const used = {} as Record<CodedField, number>;
    for (const [field, values] of byField) {
      values.sort((a, b) => a.first - b.first);
      const max = this.maxCodes[field];
      values.forEach((p, k) => {
        p.counted = k < max;
        p.code = p.counted ? k + 1 : overflowCode(field);
      });
      used[field] = Math.min(values.length, max);
    }
    return used;
  }

  /** Turns `positions` into the members, in place (one array of strings at the peak, not two). */
  private members(): string[] {
    const f = CODED_FIELDS.length;
    const v = this.valuesOf;
    const m = this.positions;
    for (let i = 0; i < m.length; i++) {
      const codes = {} as Codes;
      for (let k = 0; k < f; k++) codes[CODED_FIELDS[k]!] = v[i * f + k]?.code ?? 0;
      m[i] = memberAt(m[i]!, packCodes(codes));
    }
    v.length = 0;
    return m;
  }

  /** The finished index, once: the build hands its lists over and is spent afterwards. */
  result(): BuiltIndex {
    if (this.spent) throw new Error('IndexBuild: result() called twice');
    this.spent = true;
    const used = this.assignCodes();
    const m = this.members();
    const rollups = new Map<string, Map<string, number>>();
    for (const member of m) addToRollups(rollups, member);
    // Every record counts, repeats too, as the batch script counts them.
    for (const [key, list] of this.lists) if (valueRollupOfSet(key)) for (const i of list) addToValueRollup(rollups, key, m[i]!);
    // Rank every member once; each set then sorts small integers instead of strings. The sort
    // compares numbers first: the member's first 8 bytes (48-bit milliseconds, 2 uuid bytes) as a
    // double, which rounds but never reverses their order; equal ones compare as strings.
    const n = m.length;
    const lead = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = m[i]!;
      let k = 0;
      for (let c = 0; c < 8; c++) k = k * 256 + s.charCodeAt(c);
      lead[i] = k;
    }
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => lead[a]! - lead[b]! || (m[a]! < m[b]! ? -1 : m[a]! > m[b]! ? 1 : a - b));
    const rank = new Uint32Array(n);
    for (let r = 0; r < n; r++) rank[order[r]!] = r;

    const global = this.lists.get(GLOBAL_KEY) ?? [];
    const sorted = (list: number[]): string[] => {
      const ranks = new Uint32Array(list.length);
      for (let k = 0; k < list.length; k++) ranks[k] = rank[list[k]!]!;
      ranks.sort();
      const out: string[] = [];
      for (let k = 0; k < ranks.length; k++) {
        const member = m[order[ranks[k]!]!]!;
        if (out.length === 0 || out[out.length - 1] !== member) out.push(member);
      }
      return out;
    };
    const sets = new Map<string, string[]>();
    const all = sorted(global);
    const events = all.length;
    const codes: BuiltCode[] = [];
    for (const [key, p] of this.coded) {
      if (!p.counted) continue;
      const dense = becomesDense(p.count, events, this.denseMin);
      codes.push({ key, code: p.code, dense, count: p.count });
    }
    const denseKeys = new Set(codes.filter((c) => c.dense).map((c) => c.key));
    for (const [key, list] of this.lists) {
      if (denseKeys.has(key)) continue;
      sets.set(key, key === GLOBAL_KEY ? all : sorted(list));
    }
    this.lists.clear();
    return { sets, codes, used, events, applied: n, lastTxId: this.lastTx, registry: this.registry, recent: this.recent, rollups };
  }
}
