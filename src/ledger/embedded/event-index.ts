/**
 * The embedded ledger's in-memory index, rebuilt from the log's keys at start-up (values stay on
 * disk and are read by offset). Events are numbered in log order; per event it keeps where its
 * timeline entry is, and per correlation the event numbers sorted by (timestamp, eventId) — the
 * byte order of immudb's timeline keys, so scans page exactly like an immudb prefix scan.
 *
 * Sized for millions of events: eventIds are kept as 16 binary bytes in one buffer and found
 * through an open-addressing table of event numbers (a JS Map of a million strings costs about
 * twice the time and several times the memory at start-up). The table's hash is seeded per
 * process, so clients choosing eventIds can't aim for collisions. Byte order of the binary ids
 * is the order of their lowercase text, so ties in a timeline sort exactly as immudb's keys do.
 */
import { randomBytes } from 'node:crypto';
import { Column } from './column.ts';

/** A keyset position in a timeline: strictly-after semantics in either direction. */
export interface IndexPosition {
  tsMs: number;
  /** Lowercase UUID text. */
  eventId: string;
}

interface Timeline {
  items: number[];
  /** False while bulk loading appended out of order; sorted once by finishBulk. */
  sorted: boolean;
}

const ID = 16;
const HEX = '0123456789abcdef';
/** ASCII code → hex digit value, or 255. Only lowercase digits: the keys hold canonical ids. */
const NIBBLE = new Uint8Array(256).fill(255);
for (let i = 0; i < 16; i++) NIBBLE[HEX.charCodeAt(i)] = i;
/** Where the 32 hex digits sit in the 36-character text (dashes at 8, 13, 18, 23). */
const DIGIT_AT = [...Array(36).keys()].filter((i) => i !== 8 && i !== 13 && i !== 18 && i !== 23);

const u32Column = (n: number) => new Uint32Array(n);

export class EventIndex {
  // Per event, in typed columns (see column.ts); the getters below expose their arrays.
  private readonly cTs = new Column();
  private readonly cTx = new Column();
  private readonly cOff = new Column();
  private readonly cLen = new Column(u32Column);
  private readonly cLeaf = new Column(u32Column);
  private ids = new Uint8Array(ID * 1024);
  private count = 0;
  /** Event number + 1 per slot, 0 = empty; power-of-two size, at most half full. */
  private table = new Int32Array(2048);
  private readonly seed = randomBytes(4).readUInt32LE(0);
  private readonly scratch = new Uint8Array(ID);
  private readonly timelines = new Map<string, Timeline>();

  get size(): number {
    return this.count;
  }

  // Per event n < size. Each is a typed array that a later add may replace: a reference taken
  // earlier still holds every event added before it was taken.
  /** Timestamp (ms) from the timeline key. */
  get tsMs(): Float64Array {
    return this.cTs.data;
  }
  get txIds(): Float64Array {
    return this.cTx.data;
  }
  /** File offset of the timeline entry (its u32 key length) and the entry's length. */
  get entryOff(): Float64Array {
    return this.cOff.data;
  }
  get entryLen(): Uint32Array {
    return this.cLen.data;
  }
  /** Position of the timeline entry in its transaction (its htree leaf). */
  get leaf(): Uint32Array {
    return this.cLeaf.data;
  }

  /** Event number of a lowercase UUID, if stored. */
  find(eventId: string): number | undefined {
    if (!parseText(eventId, this.scratch, 0)) return undefined;
    const n = this.lookup(this.scratch, 0);
    return n < 0 ? undefined : n;
  }

  has(eventId: string): boolean {
    return this.find(eventId) !== undefined;
  }

  /** The eventId of event n as lowercase UUID text. */
  eventId(n: number): string {
    const b = this.ids;
    let s = '';
    for (let i = 0, o = n * ID; i < ID; i++, o++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
      s += HEX[b[o]! >> 4]! + HEX[b[o]! & 15]!;
    }
    return s;
  }

  /**
   * Adds an event whose id is the lowercase UUID text `eventId`. `prefix` is its
   * `tl/<esc(correlationId)>/` as latin1 (one timeline per prefix), `entryOff`/`entryLen` where
   * its timeline entry is in the file, `leaf` its position in the tx. `bulk` (start-up) appends
   * and sorts later; otherwise it is inserted in place so that scans see it at once.
   */
  add(eventId: string, prefix: string, tsMs: number, txId: number, entryOff: number, entryLen: number, leaf: number, bulk: boolean): number {
    this.reserve();
    if (!parseText(eventId, this.ids, this.count * ID)) throw new Error(`eventId ${eventId.slice(0, 40)} is not a lowercase UUID`);
    return this.insert(prefix, tsMs, txId, entryOff, entryLen, leaf, bulk);
  }

  /** As add, with the id as 36 ASCII bytes at `at` of `src` (a timeline key in a log record); -1 when they are not a lowercase UUID. */
  addAscii(src: Uint8Array, at: number, prefix: string, tsMs: number, txId: number, entryOff: number, entryLen: number, leaf: number, bulk: boolean): number {
    this.reserve();
    if (at < 0 || at + 36 > src.length || !parseAscii(src, at, this.ids, this.count * ID)) return -1;
    return this.insert(prefix, tsMs, txId, entryOff, entryLen, leaf, bulk);
  }

  /** Ends a bulk load: sorts the timelines that were appended out of order. */
  finishBulk(): void {
    for (const t of this.timelines.values()) {
      if (t.sorted) continue;
      t.items.sort((a, b) => this.compare(a, b));
      t.sorted = true;
    }
  }

  /**
   * Up to `limit` event numbers of one timeline strictly after `after` in the scan direction and
   * within `window` ([since, until) in ms),
   * and whether more follow them.
   */
  scan(
    prefix: string,
    after: IndexPosition | undefined,
    limit: number,
    desc: boolean,
    window: { since?: number; until?: number } = {},
  ): { items: number[]; hasMore: boolean } {
    const t = this.timelines.get(prefix);
    if (!t || t.items.length === 0) return { items: [], hasMore: false };
    const items = t.items;
    const out: number[] = [];
    let pos: Uint8Array | null = null;
    if (after) {
      pos = new Uint8Array(ID);
      if (!parseText(after.eventId, pos, 0)) throw new TypeError('position eventId must be a lowercase UUID');
    }
    // The window [since, until) as item indexes [lo, hi): the scan starts at its near end (or the
    // cursor, when that is further in) and stops at its far end.
    const lo = window.since === undefined ? 0 : this.firstAt(items, window.since);
    const hi = window.until === undefined ? items.length : this.firstAt(items, window.until);
    if (!desc) {
      let i = Math.max(lo, after ? this.bound(items, after.tsMs, pos!, true) : 0);
      for (; i < hi && out.length < limit; i++) out.push(items[i]!);
      return { items: out, hasMore: i < hi };
    }
    let i = Math.min(hi, after ? this.bound(items, after.tsMs, pos!, false) : items.length) - 1;
    for (; i >= lo && out.length < limit; i--) out.push(items[i]!);
    return { items: out, hasMore: i >= lo };
  }

  // --- internals -------------------------------------------------------------------------

  /** Room for one more id in `ids` and the table kept at most half full. */
  private reserve(): void {
    const n = this.count;
    if ((n + 1) * 2 > this.table.length) this.grow();
    if (ID * (n + 1) > this.ids.length) {
      const next = new Uint8Array(this.ids.length * 2);
      next.set(this.ids);
      this.ids = next;
    }
  }

  /** Indexes event `count`, whose binary id the caller has just parsed into its place in `ids`. */
  private insert(prefix: string, tsMs: number, txId: number, entryOff: number, entryLen: number, leaf: number, bulk: boolean): number {
    const n = this.count;
    // Probe for a free slot; meeting the same id means it is stored twice.
    const mask = this.table.length - 1;
    for (let s = this.hash(this.ids, n * ID) & mask; ; s = (s + 1) & mask) {
      const e = this.table[s]!;
      if (e === 0) {
        this.table[s] = n + 1;
        break;
      }
      if (this.sameId(e - 1, this.ids, n * ID)) throw new Error(`eventId ${this.eventId(n)} is stored twice`);
    }
    this.count = n + 1;
    this.cTs.push(tsMs);
    this.cTx.push(txId);
    this.cOff.push(entryOff);
    this.cLen.push(entryLen);
    this.cLeaf.push(leaf);

    let t = this.timelines.get(prefix);
    if (!t) {
      t = { items: [], sorted: true };
      this.timelines.set(prefix, t);
    }
    const items = t.items;
    const last = items[items.length - 1];
    if (last === undefined || this.compare(last, n) < 0) items.push(n);
    else if (bulk) {
      items.push(n);
      t.sorted = false;
    } else items.splice(this.bound(items, tsMs, this.ids.subarray(n * ID, n * ID + ID), true), 0, n);
    return n;
  }

  private lookup(id: Uint8Array, at: number): number {
    const mask = this.table.length - 1;
    for (let s = this.hash(id, at) & mask; ; s = (s + 1) & mask) {
      const e = this.table[s]!;
      if (e === 0) return -1;
      if (this.sameId(e - 1, id, at)) return e - 1;
    }
  }

  private grow(): void {
    const table = new Int32Array(this.table.length * 2);
    const mask = table.length - 1;
    for (let n = 0; n < this.count; n++) {
      let s = this.hash(this.ids, n * ID) & mask;
      while (table[s] !== 0) s = (s + 1) & mask;
      table[s] = n + 1;
    }
    this.table = table;
  }

  /** Seeded multiply-xorshift over the 16 bytes. */
  private hash(b: Uint8Array, at: number): number {
    let h = this.seed;
    for (let i = at; i < at + ID; i += 4) {
      const w = (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
      h = Math.imul(h ^ w, 0x9e3779b1);
      h ^= h >>> 15;
    }
    h = Math.imul(h ^ (h >>> 13), 0x85ebca6b);
    return (h ^ (h >>> 16)) >>> 0;
  }

  private sameId(n: number, b: Uint8Array, at: number): boolean {
    const ids = this.ids;
    for (let i = 0, o = n * ID; i < ID; i++) if (ids[o + i] !== b[at + i]) return false;
    return true;
  }

  /** Byte order of the binary ids of events a and b. */
  private compareIds(a: number, b: Uint8Array, at: number): number {
    const ids = this.ids;
    for (let i = 0, o = a * ID; i < ID; i++) {
      const d = ids[o + i]! - b[at + i]!;
      if (d !== 0) return d;
    }
    return 0;
  }

  private compare(a: number, b: number): number {
    const ts = this.cTs.data;
    const d = ts[a]! - ts[b]!;
    return d !== 0 ? d : this.compareIds(a, this.ids, b * ID);
  }

  /** Index of the first item with a timestamp at or after `tsMs`. */
  private firstAt(items: number[], tsMs: number): number {
    const ts = this.cTs.data;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ts[items[mid]!]! < tsMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose event is > (tsMs, id) when `strict`, else first index >= it. */
  private bound(items: number[], tsMs: number, id: Uint8Array, strict: boolean): number {
    const ts = this.cTs.data;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = items[mid]!;
      const d = ts[e]! - tsMs || this.compareIds(e, id, 0);
      if (strict ? d <= 0 : d < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Lowercase UUID text → 16 bytes at out[o]; false for anything else. */
function parseText(s: string, out: Uint8Array, o: number): boolean {
  if (typeof s !== 'string' || s.length !== 36) return false;
  if (s.charCodeAt(8) !== 0x2d || s.charCodeAt(13) !== 0x2d || s.charCodeAt(18) !== 0x2d || s.charCodeAt(23) !== 0x2d) return false;
  for (let i = 0; i < ID; i++) {
    const hi = NIBBLE[s.charCodeAt(DIGIT_AT[2 * i]!) & 0xff]!;
    const lo = NIBBLE[s.charCodeAt(DIGIT_AT[2 * i + 1]!) & 0xff]!;
    if (hi === 255 || lo === 255 || s.charCodeAt(DIGIT_AT[2 * i]!) > 0xff || s.charCodeAt(DIGIT_AT[2 * i + 1]!) > 0xff) return false;
    out[o + i] = (hi << 4) | lo;
  }
  return true;
}

/** 36 ASCII bytes of lowercase UUID text at `at` → 16 bytes at out[o]; false for anything else. */
function parseAscii(src: Uint8Array, at: number, out: Uint8Array, o: number): boolean {
  if (src[at + 8] !== 0x2d || src[at + 13] !== 0x2d || src[at + 18] !== 0x2d || src[at + 23] !== 0x2d) return false;
  for (let i = 0; i < ID; i++) {
    const hi = NIBBLE[src[at + DIGIT_AT[2 * i]!]!]!;
    const lo = NIBBLE[src[at + DIGIT_AT[2 * i + 1]!]!]!;
    if (hi === 255 || lo === 255) return false;
    out[o + i] = (hi << 4) | lo;
  }
  return true;
}

/**
 * The latin1 string of a byte span, reusing the string made the first time the same bytes were
 * seen: start-up meets each correlation's timeline prefix again and again, and a fresh string
 * costs an allocation and a rehash in the timelines Map each time. An open-addressing table of
 * up to `capacity` distinct spans, each hit checked byte for byte; past that, spans not yet seen
 * just get a fresh string.
 */
export class Latin1Interner {
  private keys: Buffer[] = [];
  private strings: string[] = [];
  private hashes: number[] = [];
  /** Entry index + 1 per slot, 0 = empty; at most half full. */
  private table = new Int32Array(1024);

  constructor(
    private readonly capacity = 1 << 16,
    private readonly maxLength = 256,
  ) {}

  get size(): number {
    return this.keys.length;
  }

  intern(src: Buffer, start: number, end: number): string {
    const len = end - start;
    if (len > this.maxLength) return src.toString('latin1', start, end);
    let h = 0x811c9dc5; // FNV-1a
    for (let i = start; i < end; i++) h = Math.imul(h ^ src[i]!, 0x01000193);
    h = (h ^ (h >>> 15)) | 0;
    const mask = this.table.length - 1;
    let s = h & mask;
    for (let e = this.table[s]!; e !== 0; s = (s + 1) & mask, e = this.table[s]!) {
      if (this.hashes[e - 1] !== h) continue;
      const key = this.keys[e - 1]!;
      if (key.length !== len) continue;
      let i = 0;
      while (i < len && key[i] === src[start + i]) i++;
      if (i === len) return this.strings[e - 1]!;
    }
    const str = src.toString('latin1', start, end);
    if (this.keys.length >= this.capacity) return str;
    this.keys.push(Buffer.from(src.subarray(start, end)));
    this.strings.push(str);
    this.hashes.push(h);
    this.table[s] = this.keys.length;
    if (this.keys.length * 2 > this.table.length) this.rehash();
    return str;
  }

  private rehash(): void {
    const table = new Int32Array(this.table.length * 2);
    const mask = table.length - 1;
    for (let e = 0; e < this.keys.length; e++) {
      let s = this.hashes[e]! & mask;
      while (table[s] !== 0) s = (s + 1) & mask;
      table[s] = e + 1;
    }
    this.table = table;
  }
}
