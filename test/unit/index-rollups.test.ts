import { describe, expect, it } from 'vitest';
import { coveringUnits, rollupKeysOf } from '../../src/index/rollups.ts';
import { prng } from './_random.ts';

const WIDTH: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };
const unitOf = (key: string) => {
  const [, level, index] = key.split(':');
  return { width: WIDTH[level!]!, start: Number(index) * WIDTH[level!]! };
};

describe('rollup units', () => {
  it('cover a window of whole minutes exactly, coarsest first, never wider than asked', () => {
    const r = prng(3);
    for (let i = 0; i < 400; i++) {
      const from = Math.floor(r() * 40 * 86_400) * 60_000;
      const to = from + Math.floor(r() ** 3 * (i % 4 === 0 ? 2 : 20) * 86_400) * 60_000;
      const max = [60_000, 3_600_000, 86_400_000, Number.POSITIVE_INFINITY][i % 4]!;
      const units = coveringUnits(from, to, max);
      let at = from;
      for (const u of units) {
        const { width, start } = unitOf(u.key);
        // contiguous (no gap, no overlap), within the width asked, and the coarsest that fits here
        const wider = Object.values(WIDTH).filter((w) => w > width && w <= max);
        if (start !== u.start || start !== at || width > max || wider.some((w) => at % w === 0 && at + w <= to)) {
          expect({ from, to, max, unit: u.key }).toBe('a correct unit');
        }
        at += width;
      }
      expect(at).toBe(to === from ? from : to);
      if (max === Number.POSITIVE_INFINITY) expect(units.length).toBeLessThanOrEqual(2 * 59 + 2 * 23 + Math.ceil((to - from) / 86_400_000) + 1);
    }
  });

  it('refuse windows off minute boundaries, and name an event’s three buckets', () => {
    expect(() => coveringUnits(1, 60_000, Number.POSITIVE_INFINITY)).toThrow(RangeError);
    const ms = Date.UTC(2025, 0, 2, 3, 4, 5, 6);
    expect(rollupKeysOf(ms)).toEqual([`ru:m:${Math.floor(ms / 60_000)}`, `ru:h:${Math.floor(ms / 3_600_000)}`, `ru:d:${Math.floor(ms / 86_400_000)}`]);
  });
});
