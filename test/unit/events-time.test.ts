import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { normalizeFilter } from '../../src/events/filter.ts';
import { MAX_TIMESTAMP_MS, parseCanonicalTimestamp, parseRfc3339 } from '../../src/events/time.ts';
import { validateEventInput } from '../../src/events/validate.ts';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const event = (timestamp: string) => ({
  eventType: 'gateway.signal.received',
  eventCategory: 'gateway',
  outcome: 'SUCCESS',
  correlationId: 'rr-1',
  actorType: 'service',
  actorId: 'gateway-7',
  timestamp,
});

/** What each input path makes of a text: epoch ms, or the message of its violation. */
function ingest(s: string): number | string {
  try {
    return Date.parse(validateEventInput(event(s), 'input', NOW).record.timestamp);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return e.violations[0]!.message;
  }
}
function filter(s: string): number | string {
  try {
    return normalizeFilter({ since: s }).since!;
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return e.violations[0]!.message;
  }
}

describe('parseRfc3339', () => {
  it('parses RFC 3339 strictly', () => {
    expect(parseRfc3339('2025-01-01T00:00:00Z')).toEqual({ ms: Date.UTC(2025, 0, 1) });
    expect(parseRfc3339('2025-01-01t00:00:00.5000z')).toEqual({ ms: Date.UTC(2025, 0, 1, 0, 0, 0, 500) });
    expect(parseRfc3339('2025-01-01T00:00:00-00:30')).toEqual({ ms: Date.UTC(2025, 0, 1, 0, 30) });
    expect(parseRfc3339('0001-01-01T00:00:00Z')).toEqual({ ms: Date.UTC(2000, 0, 1) - 730_119 * 86_400_000 });
    for (const bad of [
      '2025-02-30T00:00:00Z',
      '2025-01-01 00:00:00Z',
      '2025-01-01T24:00:00Z',
      '2025-01-01T00:00:00.0001Z',
      '2025-01-01',
      `2025-01-01T00:00:00.${'0'.repeat(60)}Z`,
    ]) {
      expect(parseRfc3339(bad), bad).toHaveProperty('error');
    }
  });

  it('refuses leap seconds, at the end of a UTC day or not, in any offset', () => {
    for (const leap of ['2016-12-31T23:59:60Z', '2016-12-31T23:59:60.000Z', '2016-12-31T18:59:60-05:00', '2025-01-01T00:00:60Z']) {
      expect(parseRfc3339(leap), leap).toEqual({ error: 'leap seconds are not supported' });
    }
  });

  it('gives ingestion and filters the same answer', () => {
    const texts = [
      '2016-12-31T23:59:60Z',
      '2016-12-31T18:59:60-05:00',
      '2025-01-01T00:00:00Z',
      '2025-01-01t00:00:00.5000z',
      '2025-01-01T01:00:00+01:00',
      '2024-02-29T12:00:00Z',
      '2025-02-29T12:00:00Z',
      '2025-01-01T00:00:00.0001Z',
      '2025-01-01T24:00:00Z',
      '2025-01-01T00:00:00+24:00',
      '2025-01-01',
    ];
    for (const s of texts) expect(filter(s), s).toEqual(ingest(s));
    expect(ingest('2016-12-31T23:59:60Z')).toBe('leap seconds are not supported');
  });
});

describe('parseCanonicalTimestamp', () => {
  it('takes only the stored form, 1970 to 9999', () => {
    expect(parseCanonicalTimestamp('1970-01-01T00:00:00.000Z')).toBe(0);
    expect(parseCanonicalTimestamp('9999-12-31T23:59:59.999Z')).toBe(MAX_TIMESTAMP_MS);
    for (const bad of ['2025-01-01T00:00:00Z', '2025-02-30T00:00:00.000Z', '2016-12-31T23:59:60.000Z', '2025-01-01T00:00:00.000+00:00', 1, null]) {
      expect(parseCanonicalTimestamp(bad), String(bad)).toBeNull();
    }
  });
});
