import { describe, expect, it } from 'vitest';
import {
  ABSENT_CODE,
  becomesDense,
  CODE_BITS,
  CODE_BYTES,
  CODED_FIELDS,
  MAX_CODES,
  memberCode,
  overflowCode,
  packCodes,
  resolveMaxCodes,
  type CodeEntry,
  type Codes,
} from '../../src/index/codes.ts';
import { escapeValue, normalizeFilter } from '../../src/events/filter.ts';
import {
  comparePositions,
  decodeIndexCursor as decodeCursor,
  encodeIndexCursor as encodeCursor,
  type EventPosition as IndexPosition,
} from '../../src/events/paging.ts';
import { MAX_TIMESTAMP_MS as MAX_MS } from '../../src/events/time.ts';
import { decodeMember, encodeMember, encodePosition, fieldKey, MEMBER_LENGTH, msPrefix } from '../../src/index/members.ts';
import { plan } from '../../src/index/plan.ts';
import { atOrAfter, atOrBefore, cursorRange, inRange, type IndexOrder } from '../../src/index/range.ts';
import { isWellFormed } from '../../src/events/json.ts';
import { unpackCodes } from '../support/codes.ts';
import { NASTY_ALPHABET, prng, randomString, randomUuid } from './_random.ts';

const randomCodes = (rand: () => number): Codes => Object.fromEntries(CODED_FIELDS.map((f) => [f, Math.floor(rand() * 2 ** CODE_BITS[f])])) as Codes;
const memberOf = (p: IndexPosition, rand: () => number) => encodeMember(p, packCodes(randomCodes(rand)));
const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

describe('index members', () => {
  it('sort bytewise exactly as (timestamp ms, eventId) whatever their codes, and round-trip', () => {
    const rand = prng(1);
    const hot = [0, 1, 255, 256, 65_535, 1_735_689_600_000, MAX_MS];
    const positions: IndexPosition[] = Array.from({ length: 3_000 }, () => ({
      ms: rand() < 0.5 ? hot[Math.floor(rand() * hot.length)]! : Math.floor(rand() * MAX_MS),
      eventId: randomUuid(rand),
    }));
    const members = positions.map((p) => memberOf(p, rand));
    members.forEach((m, i) => {
      expect(m).toHaveLength(MEMBER_LENGTH);
      expect(decodeMember(m)).toEqual(positions[i]);
    });
    const byMember = positions.map((p, i) => [p, members[i]!] as const).sort((a, b) => byteOrder(a[1], b[1]));
    expect(byMember.map(([p]) => p)).toEqual([...positions].sort(comparePositions));
  });

  it('millisecond prefixes bound members: every member of ms m is ≥ prefix(m) and < prefix(m + 1)', () => {
    const rand = prng(2);
    for (let i = 0; i < 500; i++) {
      const ms = Math.floor(rand() * MAX_MS);
      const m = memberOf({ ms, eventId: randomUuid(rand) }, rand);
      expect(m >= msPrefix(ms) && m < msPrefix(ms + 1)).toBe(true);
      expect(m < msPrefix(ms)).toBe(false);
    }
  });

  it('cursor bounds exclude exactly the cursor position, whatever codes its member carries', () => {
    const rand = prng(21);
    const ms = 1_735_689_600_000;
    const ids = Array.from({ length: 40 }, () => randomUuid(rand)).sort();
    // several members per position: every possible code byte at the edges, and random ones
    const members = ids.flatMap((eventId) =>
      ['\x00'.repeat(CODE_BYTES), '\xff'.repeat(CODE_BYTES), packCodes(randomCodes(rand))].map((c) =>
        encodeMember({ ms: ms + (eventId < ids[20]! ? 0 : 1), eventId }, c),
      ),
    );
    const all = { min: null, max: null };
    for (let i = 0; i < 200; i++) {
      const p = decodeMember(members[Math.floor(rand() * members.length)]!);
      const q = decodeMember(members[Math.floor(rand() * members.length)]!);
      for (const order of ['TIMESTAMP_ASC', 'TIMESTAMP_DESC'] as IndexOrder[]) {
        const asc = order === 'TIMESTAMP_ASC';
        const cmp = (x: IndexPosition, y: IndexPosition) => (asc ? comparePositions(x, y) : comparePositions(y, x));
        const r = cursorRange(all, order, p, q);
        for (const m of members) {
          const x = decodeMember(m);
          expect(inRange(m, r)).toBe(cmp(x, p) > 0 && cmp(x, q) < 0);
          expect(inRange(m, atOrBefore(all, order, p))).toBe(cmp(x, p) <= 0);
          expect(inRange(m, atOrAfter(all, order, p))).toBe(cmp(x, p) >= 0);
        }
      }
    }
  });

  it('refuses what has no member', () => {
    expect(() => encodePosition({ ms: -1, eventId: '00000000-0000-4000-8000-000000000000' })).toThrow();
    expect(() => encodePosition({ ms: MAX_MS + 1, eventId: '00000000-0000-4000-8000-000000000000' })).toThrow();
    expect(() => encodePosition({ ms: 1, eventId: '00000000-0000-4000-8000-00000000000A' })).toThrow();
    expect(() => encodeMember({ ms: 1, eventId: '00000000-0000-4000-8000-000000000000' }, '\x00')).toThrow();
    expect(() => decodeMember('x'.repeat(22))).toThrow();
  });
});

describe('member codes', () => {
  it('pack into 7 bytes and read back field by field, every width edge of every field included', () => {
    const rand = prng(22);
    const edges = (f: (typeof CODED_FIELDS)[number]) => [0, 1, overflowCode(f) - 1, overflowCode(f)];
    const cases: Codes[] = Array.from({ length: 2_000 }, () => randomCodes(rand));
    // each field at each edge, the others random: a field's bits never reach another's
    for (const f of CODED_FIELDS) for (const e of edges(f)) for (let k = 0; k < 20; k++) cases.push({ ...randomCodes(rand), [f]: e });
    for (const c of cases) {
      const packed = packCodes(c);
      expect(packed).toHaveLength(CODE_BYTES);
      const m = encodeMember({ ms: 5, eventId: '00000000-0000-4000-8000-000000000000' }, packed);
      expect(unpackCodes(m)).toEqual(c);
      for (const f of CODED_FIELDS) expect(memberCode(m, f)).toBe(c[f]);
    }
    const zero = Object.fromEntries(CODED_FIELDS.map((f) => [f, 0])) as Codes;
    for (const f of CODED_FIELDS) {
      expect(() => packCodes({ ...zero, [f]: overflowCode(f) + 1 })).toThrow(RangeError);
      expect(() => packCodes({ ...zero, [f]: -1 })).toThrow(RangeError);
    }
  });

  it('reserve 0 for "no value" and all-ones for overflow; values get 1 … max', () => {
    for (const f of CODED_FIELDS) {
      expect(overflowCode(f)).toBe(2 ** CODE_BITS[f] - 1);
      expect(MAX_CODES[f]).toBe(overflowCode(f) - 1);
      expect(ABSENT_CODE).toBe(0);
    }
    expect(MAX_CODES.outcome).toBeGreaterThanOrEqual(3); // SUCCESS, FAILURE, PENDING never overflow
    expect(resolveMaxCodes({ actorType: 2 })).toEqual({ ...MAX_CODES, actorType: 2 });
    expect(() => resolveMaxCodes({ outcome: MAX_CODES.outcome + 1 })).toThrow(RangeError);
  });

  it('turn a value dense only past the minimum and past 1/32 of all events', () => {
    expect(becomesDense(2048, 2048)).toBe(false); // not past the minimum
    expect(becomesDense(2049, 2049 * 32)).toBe(false); // exactly 1/32
    expect(becomesDense(2049, 2049 * 32 - 1)).toBe(true);
    expect(becomesDense(10_000, 1_000_000)).toBe(false); // 1 %
    expect(becomesDense(900_000, 1_000_000)).toBe(true);
    expect(becomesDense(11, 100, 10)).toBe(true);
  });
});

describe('index keys', () => {
  it('escape values injectively, without separators, hash-tag braces or glob characters', () => {
    const rand = prng(3);
    const seen = new Map<string, string>();
    for (let i = 0; i < 5_000; i++) {
      const v = randomString(rand, 6, NASTY_ALPHABET);
      if (!isWellFormed(v)) continue;
      const e = escapeValue(v);
      expect(e).toMatch(/^[A-Za-z0-9._~%-]*$/);
      const prior = seen.get(e);
      if (prior !== undefined) expect(prior).toBe(v);
      seen.set(e, v);
    }
    // a crafted actorId cannot land in another field's set or another value's
    expect(fieldKey('actorId', 'x:oc:FAILURE')).not.toBe(fieldKey('outcome', 'FAILURE'));
    expect(fieldKey('actorId', 'a:b')).toBe('ai:a%3Ab');
    expect(fieldKey('actorId', 'a%3Ab')).toBe('ai:a%253Ab');
    expect(fieldKey('actorId', '}{*?[]')).toBe('ai:%7D%7B%2A%3F%5B%5D');
  });
});

describe('index cursors', () => {
  it('round-trip and accept only their own canonical spelling', () => {
    const p = { ms: 1_735_689_600_123, eventId: '0190a5d2-0000-7000-8000-000000000001' };
    const c = encodeCursor(p);
    expect(decodeCursor(c)).toEqual(p);
    for (const bad of [
      '',
      'x',
      `${c}=`,
      `${c}A`,
      c.slice(0, -1),
      Buffer.from('t1:001735689600123:0190a5d2-0000-7000-8000-000000000001').toString('base64url'),
      42,
      null,
    ]) {
      expect(() => decodeCursor(bad, 'after')).toThrow(/after|cursor/);
    }
  });
});

describe('filter normalization', () => {
  it('sorts and dedupes list values, keeps single fields, parses the window', () => {
    const f = normalizeFilter({ outcome: ['FAILURE', 'SUCCESS', 'FAILURE'], correlationId: 'rr-1', since: '2025-01-01T01:00:00+01:00', until: null });
    expect(f).toEqual({
      terms: [
        { field: 'correlationId', values: ['rr-1'] },
        { field: 'outcome', values: ['FAILURE', 'SUCCESS'] },
      ],
      since: Date.UTC(2025, 0, 1),
      until: null,
    });
  });
});

describe('plan', () => {
  const counts = (o: Record<string, number>) => new Map(Object.entries(o));
  const codes = (o: Record<string, CodeEntry>) => new Map(Object.entries(o));
  const input = (c: Record<string, number>, e: Record<string, CodeEntry> = {}, total = 10_000) => ({
    total,
    events: total,
    counts: counts(c),
    codes: codes(e),
  });

  it('drives from the term with the fewest events and probes the others', () => {
    const terms = normalizeFilter({ eventType: ['a', 'b'], actorId: ['x'] }).terms;
    const p = plan(terms, input({ 'et:a': 300, 'et:b': 100, 'ai:x': 50 }));
    expect(p.driver).toEqual([{ key: 'ai:x', count: 50 }]);
    expect(p.filter).toEqual({ codes: [], sets: [['et:a', 'et:b']] });
    expect(p.selectivity).toBeCloseTo(400 / 10_000);
  });

  it('checks coded terms on codes, and drives by one only when every value has a set', () => {
    const sparse = { code: 2, dense: false, count: 40 };
    const dense = { code: 1, dense: true, count: 9_000 };
    // outcome PENDING (sparse, 40 events) is the smallest term: it drives, eventType is probed
    let p = plan(normalizeFilter({ eventType: ['a'], outcome: ['PENDING'] }).terms, input({ 'et:a': 300, 'oc:PENDING': 40 }, { 'oc:PENDING': sparse }));
    expect(p.driver).toEqual([{ key: 'oc:PENDING', count: 40 }]);
    expect(p.filter).toEqual({ codes: [], sets: [['et:a']] });
    // SUCCESS is dense: no set to walk, so eventType drives and SUCCESS is a code check
    p = plan(
      normalizeFilter({ eventType: ['a'], outcome: ['SUCCESS', 'PENDING'] }).terms,
      input({ 'et:a': 300, 'oc:PENDING': 40 }, { 'oc:PENDING': sparse, 'oc:SUCCESS': dense }),
    );
    expect(p.driver).toEqual([{ key: 'et:a', count: 300 }]);
    expect(p.filter).toEqual({ codes: [{ field: 'outcome', codes: [2, 1], overflowKeys: [] }], sets: [] });
    expect(p.selectivity).toBeCloseTo((40 + 9_000) / 10_000);
    // only a dense coded term: the global set drives
    p = plan(normalizeFilter({ outcome: ['SUCCESS'] }).terms, input({}, { 'oc:SUCCESS': dense }));
    expect(p.driver).toEqual([{ key: 'all', count: 10_000 }]);
    expect(p.filter.codes).toEqual([{ field: 'outcome', codes: [1], overflowKeys: [] }]);
  });

  it('keeps overflowed values (no code, a set) as sets to probe for the overflow code', () => {
    const terms = normalizeFilter({ eventCategory: ['known', 'late'], actorId: ['x'] }).terms;
    const p = plan(terms, input({ 'ec:late': 20, 'ai:x': 10 }, { 'ec:known': { code: 3, dense: true, count: 5_000 } }));
    expect(p.driver).toEqual([{ key: 'ai:x', count: 10 }]);
    expect(p.filter.codes).toEqual([{ field: 'eventCategory', codes: [3], overflowKeys: ['ec:late'] }]);
    // all values sparse or overflowed: the term can drive, over all of its sets
    const q = plan(
      normalizeFilter({ eventCategory: ['a', 'late'] }).terms,
      input({ 'ec:a': 7, 'ec:late': 20 }, { 'ec:a': { code: 1, dense: false, count: 7 } }),
    );
    expect(q.driver).toEqual([
      { key: 'ec:a', count: 7 },
      { key: 'ec:late', count: 20 },
    ]);
  });

  it('knows an empty result from the counts alone', () => {
    expect(plan(normalizeFilter({ eventType: ['a'], actorId: ['nobody'] }).terms, input({ 'et:a': 300 })).empty).toBe(true);
    expect(plan([], input({}, {}, 0)).empty).toBe(true);
    // a coded value the codebook never saw, and no set: nothing has it
    expect(plan(normalizeFilter({ actorType: ['ghost'] }).terms, input({})).empty).toBe(true);
    // a sparse value with nothing in the range
    expect(plan(normalizeFilter({ actorType: ['bot'] }).terms, input({}, { 'at:bot': { code: 4, dense: false, count: 3 } })).empty).toBe(true);
  });
});
