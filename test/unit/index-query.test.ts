import { describe, expect, it } from 'vitest';
import {
  comparePositions,
  decodeCursor,
  decodeMember,
  encodeCursor,
  encodeMember,
  escapeValue,
  fieldKey,
  MAX_MS,
  msPrefix,
  normalizeFilter,
  parseDateTime,
  plan,
  type IndexPosition,
} from '../../src/index/query.ts';
import { isWellFormed } from '../../src/events/json.ts';
import { NASTY_ALPHABET, prng, randomString, randomUuid } from './_random.ts';

describe('index members', () => {
  it('sort bytewise exactly as (timestamp ms, eventId), and round-trip', () => {
    const rand = prng(1);
    const hot = [0, 1, 255, 256, 65_535, 1_735_689_600_000, MAX_MS];
    const positions: IndexPosition[] = Array.from({ length: 3_000 }, () => ({
      ms: rand() < 0.5 ? hot[Math.floor(rand() * hot.length)]! : Math.floor(rand() * MAX_MS),
      eventId: randomUuid(rand),
    }));
    for (const p of positions) expect(decodeMember(encodeMember(p))).toEqual(p);
    const byMember = [...positions].sort((a, b) => (encodeMember(a) < encodeMember(b) ? -1 : encodeMember(a) > encodeMember(b) ? 1 : 0));
    expect(byMember).toEqual([...positions].sort(comparePositions));
  });

  it('millisecond prefixes bound members: every member of ms m is ≥ prefix(m) and < prefix(m + 1)', () => {
    const rand = prng(2);
    for (let i = 0; i < 500; i++) {
      const ms = Math.floor(rand() * MAX_MS);
      const m = encodeMember({ ms, eventId: randomUuid(rand) });
      expect(m >= msPrefix(ms) && m < msPrefix(ms + 1)).toBe(true);
      expect(m < msPrefix(ms)).toBe(false);
    }
  });

  it('refuses what has no member', () => {
    expect(() => encodeMember({ ms: -1, eventId: '00000000-0000-4000-8000-000000000000' })).toThrow();
    expect(() => encodeMember({ ms: MAX_MS + 1, eventId: '00000000-0000-4000-8000-000000000000' })).toThrow();
    expect(() => encodeMember({ ms: 1, eventId: '00000000-0000-4000-8000-00000000000A' })).toThrow();
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
    for (const bad of ['', 'x', `${c}=`, `${c}A`, c.slice(0, -1), Buffer.from('t1:001735689600123:0190a5d2-0000-7000-8000-000000000001').toString('base64url'), 42, null]) {
      expect(() => decodeCursor(bad, 'after')).toThrow(/after|cursor/);
    }
  });
});

describe('filter normalization', () => {
  it('sorts and dedupes list values, keeps single fields, parses the window', () => {
    const f = normalizeFilter({ outcome: ['FAILURE', 'SUCCESS', 'FAILURE'], correlationId: 'rr-1', since: '2025-01-01T01:00:00+01:00', until: null });
    expect(f).toEqual({ terms: [{ field: 'correlationId', values: ['rr-1'] }, { field: 'outcome', values: ['FAILURE', 'SUCCESS'] }], since: Date.UTC(2025, 0, 1), until: null });
  });

  it('parses RFC 3339 strictly', () => {
    expect(parseDateTime('2025-01-01T00:00:00Z')).toBe(Date.UTC(2025, 0, 1));
    expect(parseDateTime('2025-01-01t00:00:00.5000z')).toBe(Date.UTC(2025, 0, 1, 0, 0, 0, 500));
    expect(parseDateTime('2025-01-01T00:00:00-00:30')).toBe(Date.UTC(2025, 0, 1, 0, 30));
    for (const bad of ['2025-02-30T00:00:00Z', '2025-01-01 00:00:00Z', '2025-01-01T24:00:00Z', '2025-01-01T00:00:00.0001Z', '2025-01-01T00:00:60Z', '2025-01-01']) {
      expect(parseDateTime(bad), bad).toBeNull();
    }
  });
});

describe('plan', () => {
  const counts = (o: Record<string, number>) => new Map(Object.entries(o));
  it('drives from the term with the fewest events and probes the others', () => {
    const terms = normalizeFilter({ eventType: ['a', 'b'], outcome: ['FAILURE'] }).terms;
    const p = plan(terms, counts({ 'et:a': 300, 'et:b': 100, 'oc:FAILURE': 50 }), 10_000);
    expect(p.driver).toEqual([{ key: 'oc:FAILURE', count: 50 }]);
    expect(p.checks).toEqual([['et:a', 'et:b']]);
    expect(p.selectivity).toBeCloseTo(400 / 10_000);
  });
  it('knows an empty result from the counts alone', () => {
    const terms = normalizeFilter({ eventType: ['a'], actorId: ['nobody'] }).terms;
    expect(plan(terms, counts({ 'et:a': 300 }), 10_000).empty).toBe(true);
    expect(plan([], counts({}), 0).empty).toBe(true);
  });
});
