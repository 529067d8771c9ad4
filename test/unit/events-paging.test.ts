import { describe, expect, it } from 'vitest';
import type { ValidationError, FieldViolation } from '../../src/errors.ts';
import {
  comparePositions,
  decodeIndexCursor,
  decodeTimelineCursor,
  encodeIndexCursor,
  encodeTimelineCursor,
  pageOf,
  PAGE_SIZE,
  parsePageArgs,
  positionOf,
  type EventPosition,
} from '../../src/events/paging.ts';
import { prng, randomUuid } from './_random.ts';

const ID = '0190a5d2-0000-7000-8000-000000000001';
const MS = 1_735_689_600_123;
const TS = new Date(MS).toISOString();
const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64url');

describe('cursors', () => {
  it('keep the wire formats clients hold: t1 for timeline, i1 for auditEvents', () => {
    expect(encodeTimelineCursor({ timestamp: TS, eventId: ID })).toBe(b64(`t1:001735689600123:${ID}`));
    expect(encodeIndexCursor({ ms: MS, eventId: ID })).toBe(b64(`i1:001735689600123:${ID}`));
    expect(decodeTimelineCursor(b64(`t1:001735689600123:${ID}`))).toEqual({ timestamp: TS, eventId: ID });
    expect(decodeIndexCursor(b64(`i1:001735689600123:${ID}`))).toEqual({ ms: MS, eventId: ID });
  });

  it('of one connection are refused by the other, at the argument path', () => {
    const violation = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as ValidationError).violations;
      }
      return null;
    };
    expect(violation(() => decodeIndexCursor(encodeTimelineCursor({ timestamp: TS, eventId: ID }), 'before'))).toEqual([
      { path: 'before', message: 'is not a valid auditEvents cursor' },
    ]);
    expect(violation(() => decodeTimelineCursor(encodeIndexCursor({ ms: MS, eventId: ID }), 'after'))).toEqual([
      { path: 'after', message: 'is not a valid timeline cursor' },
    ]);
  });

  it('round-trip the whole timestamp range, and encode only what decodes', () => {
    const rand = prng(7);
    for (const ms of [0, 1, MS, 253402300799999, ...Array.from({ length: 200 }, () => Math.floor(rand() * 253402300799999))]) {
      const p = { ms, eventId: randomUuid(rand) };
      expect(decodeIndexCursor(encodeIndexCursor(p))).toEqual(p);
      expect(positionOf(decodeTimelineCursor(encodeTimelineCursor({ timestamp: new Date(ms).toISOString(), eventId: p.eventId })))).toEqual(p);
    }
    expect(encodeIndexCursor({ ms: MS, eventId: ID.toUpperCase() })).toBe(encodeIndexCursor({ ms: MS, eventId: ID }));
    expect(() => encodeIndexCursor({ ms: 253402300799999 + 1, eventId: ID })).toThrow(RangeError);
    expect(() => encodeIndexCursor({ ms: -1, eventId: ID })).toThrow(RangeError);
    expect(() => encodeIndexCursor({ ms: MS, eventId: 'x' })).toThrow(TypeError);
  });
});

describe('positions', () => {
  it('order by timestamp, then eventId', () => {
    const a: EventPosition = { ms: 1, eventId: ID };
    expect(comparePositions(a, { ms: 2, eventId: '00000000-0000-4000-8000-000000000000' })).toBeLessThan(0);
    expect(comparePositions(a, { ms: 1, eventId: ID.replace(/1$/, '2') })).toBeLessThan(0);
    expect(comparePositions(a, { ...a })).toBe(0);
    expect(positionOf({ timestamp: TS, eventId: ID })).toEqual({ ms: MS, eventId: ID });
  });
});

describe('page arguments', () => {
  const parse = (args: Parameters<typeof parsePageArgs>[0], violations: FieldViolation[] = []) => ({
    req: parsePageArgs(args, decodeIndexCursor, violations),
    violations,
  });
  const c1 = encodeIndexCursor({ ms: MS, eventId: ID });
  const c2 = encodeIndexCursor({ ms: MS + 1, eventId: ID });

  it('page forward by default, backward with last or with before alone', () => {
    expect(parse({})).toEqual({ req: { backward: false, size: PAGE_SIZE.default }, violations: [] });
    expect(PAGE_SIZE).toEqual({ default: 50, max: 500 });
    expect(parse({ first: 3, after: c1 }).req).toEqual({ backward: false, size: 3, after: { ms: MS, eventId: ID } });
    expect(parse({ last: 4 }).req).toEqual({ backward: true, size: 4 });
    expect(parse({ before: c2 }).req).toEqual({ backward: true, size: PAGE_SIZE.default, before: { ms: MS + 1, eventId: ID } });
    expect(parse({ before: c2, after: c1 }).req.backward).toBe(false);
    expect(parse({ first: 2, before: c2 }).req.backward).toBe(false);
    expect(parse({ first: 0 }).req.size).toBe(0);
    expect(parse({ last: PAGE_SIZE.max }).req.size).toBe(PAGE_SIZE.max);
  });

  it('report every problem, in argument order, after the caller’s own', () => {
    const own = { path: 'correlationId', message: 'must not be empty' };
    const { violations } = parse({ first: -1, last: 501, after: 'x', before: encodeTimelineCursor({ timestamp: TS, eventId: ID }) }, [own]);
    expect(violations).toEqual([
      own,
      { path: 'first', message: 'cannot be combined with last: page forwards with first/after or backwards with last/before' },
      { path: 'first', message: 'must be from 0 to 500' },
      { path: 'last', message: 'must be from 0 to 500' },
      { path: 'after', message: 'is not a valid auditEvents cursor' },
      { path: 'before', message: 'is not a valid auditEvents cursor' },
    ]);
    expect(parse({ first: 1.5 }).violations).toEqual([{ path: 'first', message: 'must be from 0 to 500' }]);
  });

  it('let other errors of the decoder through', () => {
    const boom = new Error('boom');
    expect(() =>
      parsePageArgs({ after: 'x' }, () => {
        throw boom;
      }, []),
    ).toThrow(boom);
  });
});

describe('pageOf', () => {
  const edges = [{ cursor: 'a' }, { cursor: 'b' }];

  it('reads `more` as the far side and `behind` as the near side of the page', () => {
    expect(pageOf(edges, { backward: false, more: true, behind: false }).pageInfo).toEqual({
      hasNextPage: true,
      hasPreviousPage: false,
      startCursor: 'a',
      endCursor: 'b',
    });
    expect(pageOf(edges, { backward: true, more: true, behind: false }).pageInfo).toEqual({
      hasNextPage: false,
      hasPreviousPage: true,
      startCursor: 'a',
      endCursor: 'b',
    });
    expect(pageOf([], { backward: false, more: false, behind: true })).toEqual({
      edges: [],
      pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null },
    });
  });
});
