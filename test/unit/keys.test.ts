import { describe, expect, it } from 'vitest';
import { ErrorCode, ValidationError } from '../../src/errors.ts';
import { decodeTimelineCursor, encodeTimelineCursor } from '../../src/events/paging.ts';
import {
  EVENT_ID_PREFIX,
  MAX_KEY_BYTES,
  TIMELINE_PREFIX,
  escapeKeyComponent,
  eventIdKey,
  timelineBoundKey,
  timelineKey,
  timelinePrefix,
  timelineSeekKey,
  timelineWindow,
} from '../../src/ledger/keys.ts';
import { KEY_SPACES, parseTimelineKey, timelinePrefixEnd, unescapeKeyComponent } from '../support/keys.ts';
import { prng, randomString, randomUuid } from './_random.ts';

const ID = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const TS = '2025-01-02T03:04:05.678Z';
const str = (b: Buffer) => b.toString('latin1');
const startsWith = (key: Buffer, prefix: Buffer) => key.subarray(0, prefix.length).equals(prefix);

describe('key layout', () => {
  it('timeline key: tl/<esc correlationId>/<15-digit ms>/<lowercase eventId>', () => {
    expect(str(timelineKey('rr-2025-001', TS, ID.toUpperCase()))).toBe(`tl/rr-2025-001/001735787045678/${ID}`);
    expect(str(timelineKey('rr', '1970-01-01T00:00:00.000Z', ID))).toBe(`tl/rr/000000000000000/${ID}`);
    expect(str(timelineKey('rr', '9999-12-31T23:59:59.999Z', ID))).toBe(`tl/rr/253402300799999/${ID}`);
  });

  it('eventId key: ev/<lowercase eventId>; prefixes are constants, never audit:', () => {
    expect(str(eventIdKey(ID.toUpperCase()))).toBe(`ev/${ID}`);
    expect(TIMELINE_PREFIX).toBe('tl/');
    expect(EVENT_ID_PREFIX).toBe('ev/');
    for (const space of KEY_SPACES) expect(space.startsWith('audit:')).toBe(false);
    expect(str(timelineKey('audit:x', TS, ID)).startsWith('audit:')).toBe(false);
  });

  it('prefix ends with the separator; seek key is the key of the position', () => {
    expect(str(timelinePrefix('rr-1'))).toBe('tl/rr-1/');
    expect(timelineSeekKey('rr-1', { timestamp: TS, eventId: ID }).equals(timelineKey('rr-1', TS, ID))).toBe(true);
  });

  it.each([
    ['unreserved characters stay', 'Az09._~-', 'Az09._~-'],
    ['slash', 'a/b', 'a%2Fb'],
    ['percent', '100%', '100%25'],
    ['a literal escape sequence', '%2F', '%252F'],
    ['NUL', 'a\u0000b', 'a%00b'],
    ['colon', 'rr-1:x', 'rr-1%3Ax'],
    ['space and plus', 'a b+c', 'a%20b%2Bc'],
    ['non-ASCII as UTF-8 bytes', 'é', '%C3%A9'],
    ['emoji (astral)', '😀', '%F0%9F%98%80'],
    ['U+FFFD', '\ufffd', '%EF%BF%BD'],
  ])('escapes %s', (_name, input, escaped) => {
    expect(escapeKeyComponent(input)).toBe(escaped);
    expect(unescapeKeyComponent(escaped)).toBe(input);
  });

  it.each([
    ['an empty correlationId', () => timelineKey('', TS, ID)],
    ['a lone surrogate', () => timelineKey('a\ud800', TS, ID)],
    ['a non-UUID eventId', () => timelineKey('rr', TS, 'evt-1')],
    ['a timestamp without ms', () => timelineKey('rr', '2025-01-02T03:04:05Z', ID)],
    ['a timestamp with an offset', () => timelineKey('rr', '2025-01-02T03:04:05.678+00:00', ID)],
    ['an impossible date', () => timelineKey('rr', '2025-02-30T03:04:05.678Z', ID)],
    ['a pre-1970 timestamp', () => timelineKey('rr', '1969-12-31T23:59:59.999Z', ID)],
    ['a key over 1024 bytes', () => timelineKey('/'.repeat(400), TS, ID)],
    ['a non-UUID eventId key', () => eventIdKey('x')],
  ])('refuses %s', (_name, fn) => {
    expect(fn).toThrow();
  });

  it('fits the longest valid correlationId (256 UTF-8 bytes, all escaped) within immudb limits', () => {
    const key = timelineKey('é'.repeat(128), TS, ID);
    expect(key.length).toBe(3 + 768 + 1 + 15 + 1 + 36);
    expect(key.length).toBeLessThanOrEqual(MAX_KEY_BYTES);
  });
});

describe('prefix isolation', () => {
  it.each([
    ['rr-1', 'rr-10'],
    ['rr-1', 'rr-1:x'],
    ['rr-1', 'rr-1%'],
    ['rr-1', 'rr-1/x'],
    ['rr-1', 'rr-1/'],
    ['rr', 'rr-1'],
    ['rr-1', 'rr-1\u0000'],
    ['rr-1', 'rr-1 '],
    ['a%2Fb', 'a/b'],
    ['a/b', 'a%2Fb'],
  ])('a scan for %s never returns events of %s', (scanned, other) => {
    const key = timelineKey(other, TS, ID);
    expect(startsWith(key, timelinePrefix(scanned))).toBe(false);
    expect(startsWith(timelineKey(scanned, TS, ID), timelinePrefix(scanned))).toBe(true); // control
  });

  it('prefix end bounds the correlation: other correlations sort outside [prefix, prefixEnd)', () => {
    const rand = prng(7);
    for (let i = 0; i < 300; i++) {
      const a = randomString(rand);
      const b = randomString(rand);
      if (a === b) continue;
      const lo = timelinePrefix(a);
      const hi = timelinePrefixEnd(a);
      const own = timelineKey(a, TS, randomUuid(rand));
      expect(Buffer.compare(lo, own) < 0 && Buffer.compare(own, hi) < 0).toBe(true);
      const other = timelineKey(b, TS, randomUuid(rand));
      expect(Buffer.compare(other, lo) < 0 || Buffer.compare(other, hi) > 0).toBe(true);
    }
  });
});

describe('properties over seeded random strings (separators, %, NUL, emoji, astral)', () => {
  const rand = prng(0x5eed);
  const strings = [...new Set(Array.from({ length: 2000 }, () => randomString(rand, 6)))];

  it('escaping is injective and reversible', () => {
    const seen = new Map<string, string>();
    for (const s of strings) {
      const e = escapeKeyComponent(s);
      expect(e).toMatch(/^(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+$/);
      const prior = seen.get(e);
      if (prior !== undefined && prior !== s) throw new Error(`collision: ${JSON.stringify(prior)} and ${JSON.stringify(s)} → ${e}`);
      seen.set(e, s);
      expect(unescapeKeyComponent(e)).toBe(s);
    }
    expect(seen.size).toBe(strings.length);
  });

  it("no correlation's prefix is a prefix of another correlation's keys", () => {
    const sample = strings.slice(0, 400);
    const keys = sample.map((s) => timelineKey(s, TS, ID));
    const prefixes = sample.map((s) => timelinePrefix(s));
    for (let i = 0; i < sample.length; i++) {
      for (let j = 0; j < sample.length; j++) {
        if (startsWith(keys[j]!, prefixes[i]!) !== (i === j)) {
          throw new Error(`prefix of ${JSON.stringify(sample[i])} vs key of ${JSON.stringify(sample[j])}`);
        }
      }
    }
  });

  it('byte order of timeline keys equals (timestamp, eventId) order', () => {
    const correlation = 'rr/%\u0000😀';
    const base = Date.UTC(2025, 0, 1);
    const events = Array.from({ length: 2000 }, () => {
      // Few distinct timestamps, spanning digit-count changes, so ties on timestamp are common.
      const ms = [0, 9, 10, 999, 1000, base, base + 1, 10 ** 12 - 1, 10 ** 12][Math.floor(rand() * 9)]!;
      const eventId = rand() < 0.5 ? randomUuid(rand) : randomUuid(rand).toUpperCase();
      return { ms, eventId, timestamp: new Date(ms).toISOString() };
    });
    const byTuple = [...events].sort(
      (x, y) => x.ms - y.ms || (x.eventId.toLowerCase() < y.eventId.toLowerCase() ? -1 : x.eventId.toLowerCase() > y.eventId.toLowerCase() ? 1 : 0),
    );
    const byKey = [...events].sort((x, y) =>
      Buffer.compare(timelineKey(correlation, x.timestamp, x.eventId), timelineKey(correlation, y.timestamp, y.eventId)),
    );
    expect(byKey.map((e) => `${e.ms}/${e.eventId.toLowerCase()}`)).toEqual(byTuple.map((e) => `${e.ms}/${e.eventId.toLowerCase()}`));
  });

  it('parseTimelineKey inverts timelineKey', () => {
    for (const s of strings.slice(0, 500)) {
      const eventId = randomUuid(rand);
      const timestamp = new Date(Math.floor(rand() * 253402300799999)).toISOString();
      expect(parseTimelineKey(timelineKey(s, timestamp, eventId.toUpperCase()))).toEqual({ correlationId: s, timestamp, eventId });
    }
  });
});

// The parser is the test's oracle (test/support/keys.ts): only a strict one makes the round trip above prove anything.
describe('parseTimelineKey rejects anything timelineKey cannot produce', () => {
  const good = `tl/rr-1/001735787045678/${ID}`;
  it('accepts the control key', () => {
    expect(parseTimelineKey(Buffer.from(good))).toEqual({ correlationId: 'rr-1', timestamp: TS, eventId: ID });
  });
  it.each([
    ['the eventId key space', `ev/${ID}`],
    ['another prefix', `audit:rr-1/001735787045678/${ID}`],
    ['an unescaped slash in the correlation', `tl/rr/1/001735787045678/${ID}`],
    ['an empty correlation', `tl//001735787045678/${ID}`],
    ['lowercase escape hex', `tl/a%2fb/001735787045678/${ID}`],
    ['a needless escape', `tl/%41/001735787045678/${ID}`],
    ['a truncated escape', `tl/a%2/001735787045678/${ID}`],
    ['invalid UTF-8 escaped', `tl/%FF/001735787045678/${ID}`],
    ['an escaped lone surrogate (CESU)', `tl/%ED%A0%80/001735787045678/${ID}`],
    ['14 timestamp digits', `tl/rr-1/01735787045678/${ID}`],
    ['a timestamp past 9999', `tl/rr-1/253402300800000/${ID}`],
    ['an uppercase eventId', `tl/rr-1/001735787045678/${ID.toUpperCase()}`],
    ['a trailing separator', `${good}/`],
    ['a missing eventId', 'tl/rr-1/001735787045678/'],
    ['just the prefix', 'tl/rr-1/'],
    ['a non-ASCII byte', `tl/é/001735787045678/${ID}`],
    ['a space', `tl/a b/001735787045678/${ID}`],
  ])('%s', (_name, key) => {
    expect(() => parseTimelineKey(Buffer.from(key, 'utf8'))).toThrow(/malformed timeline key/);
  });
});

describe('timeline cursors', () => {
  it('round-trip, are base64url, versioned and opaque', () => {
    const pos = { timestamp: TS, eventId: ID };
    const cursor = encodeTimelineCursor(pos);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(cursor, 'base64url').toString()).toMatch(/^t1:/);
    expect(decodeTimelineCursor(cursor, 'after')).toEqual(pos);
    expect(decodeTimelineCursor(encodeTimelineCursor({ timestamp: TS, eventId: ID.toUpperCase() }))).toEqual(pos);
  });

  it('round-trip seeded random positions', () => {
    const rand = prng(99);
    for (let i = 0; i < 500; i++) {
      const pos = { timestamp: new Date(Math.floor(rand() * 253402300799999)).toISOString(), eventId: randomUuid(rand) };
      expect(decodeTimelineCursor(encodeTimelineCursor(pos), 'before')).toEqual(pos);
    }
  });

  const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64url');
  const valid = encodeTimelineCursor({ timestamp: TS, eventId: ID });
  /** Sets an unused low bit of the last base64 character: Node decodes it to the same bytes. */
  const withTrailingBit = (c: string) => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const spelled = `${c.slice(0, -1)}${alphabet[alphabet.indexOf(c.at(-1)!) | 1]}`;
    expect(Buffer.from(spelled, 'base64url').equals(Buffer.from(c, 'base64url'))).toBe(true);
    return spelled;
  };
  it.each<[string, unknown]>([
    ['empty', ''],
    ['not a string', 42],
    ['null', null],
    ['non-base64url characters', 'abc+/='],
    ['padding', `${valid}=`],
    ['non-canonical trailing bits (same bytes, other spelling)', withTrailingBit(valid)],
    ['too long', 'A'.repeat(200)],
    ['another version', b64(`t2:001735787045678:${ID}`)],
    ['another connection kind', b64(`ix1:001735787045678:${ID}`)],
    ['an uppercase eventId', b64(`t1:001735787045678:${ID.toUpperCase()}`)],
    ['a non-UUID', b64('t1:001735787045678:x')],
    ['short timestamp', b64(`t1:1735787045678:${ID}`)],
    ['a timestamp past 9999', b64(`t1:999999999999999:${ID}`)],
    ['trailing data', b64(`t1:001735787045678:${ID}:x`)],
    ['JSON', b64(JSON.stringify({ timestamp: TS, eventId: ID }))],
  ])('decode rejects %s as BAD_USER_INPUT at the argument path', (_name, cursor) => {
    let caught: unknown;
    try {
      decodeTimelineCursor(cursor, 'after');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).code).toBe(ErrorCode.BAD_USER_INPUT);
    expect((caught as ValidationError).violations).toEqual([{ path: 'after', message: 'is not a valid timeline cursor' }]);
  });

  it('decodes the unmodified cursor of the table above (control)', () => {
    expect(() => decodeTimelineCursor(valid, 'after')).not.toThrow();
  });
});

describe('timeline window keys', () => {
  it('puts a bound key after every key before its ms and before every key at or after it; never a key itself', () => {
    const rand = prng(31);
    for (let i = 0; i < 300; i++) {
      const corr = randomString(rand, 6, ['a', '/', 'é', '%', '-']) || 'c';
      const ms = Math.floor(rand() * 4e12);
      const bound = timelineBoundKey(corr, ms);
      expect(bound.subarray(0, timelinePrefix(corr).length)).toEqual(timelinePrefix(corr));
      for (const d of [-1000, -1, 0, 1, 1000]) {
        const key = timelineKey(corr, new Date(ms + d).toISOString(), randomUuid(rand));
        expect(Math.sign(Buffer.compare(key, bound)), `${ms}${d}`).toBe(d < 0 ? -1 : 1);
      }
    }
    expect(() => timelineBoundKey('c', -1)).toThrow(RangeError);
    expect(() => timelineBoundKey('c', 253402300800000)).toThrow(RangeError);
    expect(() => timelineBoundKey('c', 1.5)).toThrow(RangeError);
  });

  it('narrows a window to what keys hold, null when nothing can be in it', () => {
    expect(timelineWindow(undefined, undefined)).toEqual({});
    expect(timelineWindow(5, 10)).toEqual({ since: 5, until: 10 });
    expect(timelineWindow(-5, 1e16)).toEqual({});
    expect(timelineWindow(0, undefined)).toEqual({});
    expect(timelineWindow(5, 5)).toBeNull();
    expect(timelineWindow(6, 5)).toBeNull();
    expect(timelineWindow(undefined, 0)).toBeNull();
    expect(timelineWindow(253402300800000, undefined)).toBeNull();
    expect(timelineWindow(253402300799999, undefined)).toEqual({ since: 253402300799999 });
  });
});
