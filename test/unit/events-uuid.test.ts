import { describe, expect, it } from 'vitest';
import { createUuidv7Generator, isUuid, normalizeUuid, uuidv7 } from '../../src/events/uuid.ts';
import { uuidv7Timestamp } from '../support/uuid.ts';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('isUuid / normalizeUuid', () => {
  it.each([
    ['lowercase v4', '3f2504e0-4f89-41d3-9a0c-0305e82c3301', true],
    ['uppercase', '3F2504E0-4F89-41D3-9A0C-0305E82C3301', true],
    ['mixed case v7', '0190A1B2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', true],
    ['nil', '00000000-0000-0000-0000-000000000000', true],
    ['v1', 'c232ab00-9414-11ec-b3c8-9f6bdeced846', true],
    ['no hyphens', '3f2504e04f8941d39a0c0305e82c3301', false],
    ['braces', '{3f2504e0-4f89-41d3-9a0c-0305e82c3301}', false],
    ['urn', 'urn:uuid:3f2504e0-4f89-41d3-9a0c-0305e82c3301', false],
    ['non-hex', '3f2504e0-4f89-41d3-9a0c-0305e82c330g', false],
    ['trailing newline', '3f2504e0-4f89-41d3-9a0c-0305e82c3301\n', false],
    ['too short', '3f2504e0-4f89-41d3-9a0c-0305e82c330', false],
    ['empty', '', false],
    ['number', 42, false],
    ['null', null, false],
  ])('%s', (_name, value, expected) => {
    expect(isUuid(value)).toBe(expected);
  });

  it('normalizes to lowercase and refuses non-UUIDs', () => {
    expect(normalizeUuid('3F2504E0-4F89-41D3-9A0C-0305E82C3301')).toBe('3f2504e0-4f89-41d3-9a0c-0305e82c3301');
    expect(() => normalizeUuid('nope')).toThrow(TypeError);
  });
});

describe('uuidv7', () => {
  it('has version 7, RFC variant, lowercase, and the current time', () => {
    const before = Date.now();
    const id = uuidv7();
    const after = Date.now();
    expect(id).toMatch(V7);
    expect(isUuid(id)).toBe(true);
    expect(uuidv7Timestamp(id)).toBeGreaterThanOrEqual(before);
    expect(uuidv7Timestamp(id)).toBeLessThanOrEqual(after);
  });

  it('is strictly increasing over 10,000 calls (many share a millisecond)', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7());
    for (let i = 1; i < ids.length; i++) {
      if (!(ids[i - 1]! < ids[i]!)) throw new Error(`not increasing at ${i}: ${ids[i - 1]} >= ${ids[i]}`);
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(V7);
  });

  it('stays monotonic on a frozen clock: one millisecond, 10,000 distinct increasing ids', () => {
    const gen = createUuidv7Generator(() => 1_700_000_000_000);
    const ids = Array.from({ length: 10_000 }, gen);
    expect(ids.every((id) => uuidv7Timestamp(id) === 1_700_000_000_000)).toBe(true);
    expect(ids.every((id, i) => i === 0 || ids[i - 1]! < id)).toBe(true);
    for (const id of ids) expect(id).toMatch(V7);
  });

  it('stays monotonic when the clock steps backwards', () => {
    const times = [5_000, 5_000, 4_000, 3_000, 5_001, 100, 5_002];
    let i = 0;
    const gen = createUuidv7Generator(() => times[i++]!);
    const ids = times.map(() => gen());
    expect(ids.every((id, k) => k === 0 || ids[k - 1]! < id)).toBe(true);
    expect(ids.map(uuidv7Timestamp)).toEqual([5_000, 5_000, 5_000, 5_000, 5_001, 5_001, 5_002]);
  });

  it('re-seeds the counter randomly in a new millisecond (ids are not guessable from the previous one)', () => {
    let t = 10_000;
    const gen = createUuidv7Generator(() => t++);
    const tails = new Set(Array.from({ length: 50 }, () => gen().slice(14)));
    expect(tails.size).toBe(50);
  });

  it('keeps the low 32 bits random across many refills of its entropy pool', () => {
    const gen = createUuidv7Generator(() => 20_000); // one millisecond: only the low bits are random
    const lows = Array.from({ length: 20_000 }, () => gen().slice(-8));
    // 20,000 draws of 32 random bits: a handful of collisions at most; a stale or exhausted pool repeats.
    expect(new Set(lows).size).toBeGreaterThan(19_900);
    expect(new Set(lows.map((l) => l[0])).size).toBe(16);
  });
});
