import { describe, expect, it } from 'vitest';
import { ErrorCode, ValidationError, type FieldViolation } from '../../src/errors.ts';
import { encodeRecord } from '../../src/events/canonical.ts';
import type { NewEvent } from '../../src/events/types.ts';
import { sameContent, validateEventBatch, validateEventInput, withRecordedBy } from '../../src/events/validate.ts';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const ID = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';

const valid = (): Record<string, unknown> => ({
  eventType: 'gateway.signal.received',
  eventCategory: 'gateway',
  outcome: 'SUCCESS',
  correlationId: 'rr-2025-001',
  actorType: 'service',
  actorId: 'gateway-7',
});

function violationsOf(fn: () => unknown): FieldViolation[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as ValidationError).code).toBe(ErrorCode.BAD_USER_INPUT);
    return (e as ValidationError).violations;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

const validate = (patch: Record<string, unknown>) => validateEventInput({ ...valid(), ...patch }, 'input', NOW);
const without = (field: string) => {
  const v = valid();
  delete v[field];
  return v;
};
const nested = (depth: number): unknown => {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};
class Point {
  x = 1;
}
const long = (n: number, ch = 'a') => ch.repeat(n);

describe('validateEventInput: one rule per row', () => {
  const rows: [name: string, input: unknown, path: string, message: RegExp][] = [
    ['not an object', 'event', 'input', /must be an AuditEventInput/],
    ['null input', null, 'input', /must be an AuditEventInput/],
    ['an array input', [valid()], 'input', /must be an AuditEventInput/],
    ['a class instance input', new Point(), 'input', /must be an AuditEventInput/],
    ...(['eventType', 'eventCategory', 'outcome', 'correlationId', 'actorType', 'actorId'] as const).map((f): [string, unknown, string, RegExp] => [
      `missing ${f}`,
      without(f),
      `input.${f}`,
      /is required/,
    ]),
    ['null actorId', { ...valid(), actorId: null }, 'input.actorId', /is required/],
    ['empty actorId', { ...valid(), actorId: '' }, 'input.actorId', /must not be empty/],
    ['empty optional clusterName', { ...valid(), clusterName: '' }, 'input.clusterName', /must not be empty/],
    ['numeric actorId', { ...valid(), actorId: 7 }, 'input.actorId', /must be a string/],
    ['lowercase outcome', { ...valid(), outcome: 'success' }, 'input.outcome', /one of SUCCESS, FAILURE, PENDING/],
    ['unknown severity', { ...valid(), severity: 'DEBUG' }, 'input.severity', /one of INFO, WARNING, ERROR, CRITICAL/],
    ['unknown field', { ...valid(), actorName: 'x' }, 'input.actorName', /not a known field/],
    [
      'unknown field __proto__-like',
      JSON.parse('{"eventType":"a","eventCategory":"c","outcome":"SUCCESS","correlationId":"r","actorType":"t","actorId":"i","__proto__":1}'),
      'input.__proto__',
      /not a known field/,
    ],
    // Length limits: 128 code points for identifiers and names, 1024 for free text.
    ...(['eventCategory', 'eventAction', 'correlationId', 'actorId', 'actorType', 'clusterName', 'errorCode'] as const).map(
      (f): [string, unknown, string, RegExp] => [`${f} of 129 characters`, { ...valid(), [f]: long(129) }, `input.${f}`, /at most 128 characters/],
    ),
    ['eventType of 129 characters', { ...valid(), eventType: long(129) }, 'input.eventType', /at most 128 characters/],
    ['eventId of 129 characters', { ...valid(), eventId: long(129) }, 'input.eventId', /at most 128 characters/],
    ['parentEventId of 129 characters', { ...valid(), parentEventId: long(129) }, 'input.parentEventId', /at most 128 characters/],
    ['resourceType of 129 characters', { ...valid(), resourceType: long(129), resourceId: 'r' }, 'input.resourceType', /at most 128/],
    ['resourceId of 129 characters', { ...valid(), resourceType: 'Pod', resourceId: long(129) }, 'input.resourceId', /at most 128/],
    [
      'resourceNamespace of 129 characters',
      { ...valid(), resourceType: 'Pod', resourceId: 'r', resourceNamespace: long(129) },
      'input.resourceNamespace',
      /at most 128/,
    ],
    ['actorId of 129 astral characters', { ...valid(), actorId: long(129, '😀') }, 'input.actorId', /at most 128 characters/],
    ['correlationId over 256 UTF-8 bytes', { ...valid(), correlationId: long(86, '中') }, 'input.correlationId', /at most 256 bytes/],
    ['errorMessage of 1025 characters', { ...valid(), errorMessage: long(1025) }, 'input.errorMessage', /at most 1024 characters/],
    // Well-formed Unicode everywhere.
    ['lone high surrogate in actorId', { ...valid(), actorId: 'a\ud800' }, 'input.actorId', /lone surrogate/],
    ['lone low surrogate in errorMessage', { ...valid(), errorMessage: '\udc00x' }, 'input.errorMessage', /lone surrogate/],
    ['reversed surrogate pair in correlationId', { ...valid(), correlationId: '\ude00\ud83d' }, 'input.correlationId', /lone surrogate/],
    ['lone surrogate in a data string', { ...valid(), data: { a: ['\ud800'] } }, 'input.data.a.0', /lone surrogate/],
    ['lone surrogate in a data key', { ...valid(), data: { '\udfff': 1 } }, 'input.data.\udfff', /lone surrogate/],
    // eventType syntax.
    ...['Gateway.signal', 'gateway..signal', '.gateway', 'gateway.', 'gate way', 'gateway/signal', 'gateway.sígnal'].map(
      (t): [string, unknown, string, RegExp] => [`eventType ${JSON.stringify(t)}`, { ...valid(), eventType: t }, 'input.eventType', /dotted lowercase/],
    ),
    // UUIDs.
    ['non-UUID eventId', { ...valid(), eventId: 'evt-1' }, 'input.eventId', /must be a UUID/],
    ['braced eventId', { ...valid(), eventId: `{${ID}}` }, 'input.eventId', /must be a UUID/],
    ['non-UUID parentEventId', { ...valid(), parentEventId: 'parent' }, 'input.parentEventId', /must be a UUID/],
    // Timestamps.
    ['timestamp not RFC 3339', { ...valid(), timestamp: '2025-01-02 03:04:05' }, 'input.timestamp', /RFC 3339/],
    ['timestamp without offset', { ...valid(), timestamp: '2025-01-02T03:04:05' }, 'input.timestamp', /RFC 3339/],
    ['date-only timestamp', { ...valid(), timestamp: '2025-01-02' }, 'input.timestamp', /RFC 3339/],
    ['timestamp month 13', { ...valid(), timestamp: '2025-13-02T03:04:05Z' }, 'input.timestamp', /RFC 3339/],
    ['timestamp Feb 29 in a common year', { ...valid(), timestamp: '2025-02-29T03:04:05Z' }, 'input.timestamp', /RFC 3339/],
    ['timestamp hour 24', { ...valid(), timestamp: '2025-01-02T24:00:00Z' }, 'input.timestamp', /RFC 3339/],
    ['timestamp offset +24:00', { ...valid(), timestamp: '2025-01-02T03:04:05+24:00' }, 'input.timestamp', /RFC 3339/],
    ['timestamp leap second', { ...valid(), timestamp: '2016-12-31T23:59:60Z' }, 'input.timestamp', /leap seconds/],
    ['timestamp with microseconds', { ...valid(), timestamp: '2025-01-02T03:04:05.678901Z' }, 'input.timestamp', /more precise than milliseconds/],
    ['timestamp with nanoseconds', { ...valid(), timestamp: '2025-01-02T03:04:05.000000001Z' }, 'input.timestamp', /more precise than milliseconds/],
    ['timestamp 5 min + 1 ms ahead', { ...valid(), timestamp: '2025-06-01T12:05:00.001Z' }, 'input.timestamp', /5 minutes in the future/],
    ['timestamp far future', { ...valid(), timestamp: '9999-12-31T23:59:59Z' }, 'input.timestamp', /5 minutes in the future/],
    ['timestamp before 1970', { ...valid(), timestamp: '1969-12-31T23:59:59.999Z' }, 'input.timestamp', /before 1970/],
    ['timestamp before 1970 via offset', { ...valid(), timestamp: '1970-01-01T00:30:00+01:00' }, 'input.timestamp', /before 1970/],
    ['timestamp year 0050', { ...valid(), timestamp: '0050-01-01T00:00:00Z' }, 'input.timestamp', /before 1970/],
    ['numeric timestamp', { ...valid(), timestamp: 1735787045678 }, 'input.timestamp', /RFC 3339/],
    ['invalid Date timestamp', { ...valid(), timestamp: new Date('nope') }, 'input.timestamp', /valid date/],
    ['Date timestamp in the future', { ...valid(), timestamp: new Date(NOW.getTime() + 300_001) }, 'input.timestamp', /future/],
    // durationMs.
    ['negative durationMs', { ...valid(), durationMs: -1 }, 'input.durationMs', /integer from 0 to 2147483647/],
    ['fractional durationMs', { ...valid(), durationMs: 1.5 }, 'input.durationMs', /integer/],
    ['durationMs 2^31', { ...valid(), durationMs: 2 ** 31 }, 'input.durationMs', /integer/],
    ['string durationMs', { ...valid(), durationMs: '5' }, 'input.durationMs', /integer/],
    ['NaN durationMs', { ...valid(), durationMs: Number.NaN }, 'input.durationMs', /integer/],
    // Resource pairing.
    ['resourceType without resourceId', { ...valid(), resourceType: 'Pod' }, 'input.resourceId', /required when resourceType/],
    ['resourceId without resourceType', { ...valid(), resourceId: 'web-1' }, 'input.resourceType', /required when resourceId/],
    ['resourceNamespace alone', { ...valid(), resourceNamespace: 'prod' }, 'input.resourceNamespace', /only allowed together/],
    // data: JSON only, bounded.
    ['data with undefined', { ...valid(), data: { a: undefined } }, 'input.data.a', /undefined/],
    ['data with a function', { ...valid(), data: { f: () => 1 } }, 'input.data.f', /function/],
    ['data with NaN', { ...valid(), data: [1, Number.NaN] }, 'input.data.1', /finite/],
    ['data with Infinity', { ...valid(), data: { x: { y: Infinity } } }, 'input.data.x.y', /finite/],
    ['data with BigInt', { ...valid(), data: { n: 10n } }, 'input.data.n', /bigint/],
    ['data with a symbol', { ...valid(), data: [Symbol('s')] }, 'input.data.0', /symbol/],
    ['data with a Date', { ...valid(), data: { at: new Date(0) } }, 'input.data.at', /Date/],
    ['data with a Map', { ...valid(), data: new Map() }, 'input.data', /Map/],
    ['data with a class instance', { ...valid(), data: { p: new Point() } }, 'input.data.p', /Point/],
    ['data with a Buffer', { ...valid(), data: Buffer.from('x') }, 'input.data', /not JSON/],
    // biome-ignore lint/suspicious/noSparseArray: the hole is the input under test
    ['data with an array hole', { ...valid(), data: [1, , 3] }, 'input.data.1', /hole/],
    ['data with symbol keys', { ...valid(), data: { [Symbol('k')]: 1 } }, 'input.data', /symbol keys/],
    ['data over 64 KiB', { ...valid(), data: 'x'.repeat(65535) }, 'input.data', /larger than 65536 bytes/],
    ['data over 64 KiB in UTF-8 (not UTF-16)', { ...valid(), data: '中'.repeat(21845) }, 'input.data', /larger than 65536/],
    ['data nested 33 deep', { ...valid(), data: nested(33) }, `input.data${'.0'.repeat(32)}`, /nested more than 32 levels/],
  ];

  it.each(rows)('%s', (_name, input, path, message) => {
    const violations = violationsOf(() => validateEventInput(input, 'input', NOW));
    expect(violations.map((v) => v.path)).toEqual([path]);
    expect(violations[0]!.message).toMatch(message);
  });

  it('the base input of the table is valid (control)', () => {
    expect(() => validateEventInput(valid(), 'input', NOW)).not.toThrow();
  });
});

describe('validateEventInput: accepted values and normalization', () => {
  it('fills every absent optional field with null and generates a UUIDv7 eventId', () => {
    const { record, timestampDefaulted } = validateEventInput(valid(), 'input', NOW);
    expect(record).toEqual({
      eventId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      eventType: 'gateway.signal.received',
      eventCategory: 'gateway',
      eventAction: null,
      outcome: 'SUCCESS',
      timestamp: '2025-06-01T12:00:00.000Z',
      correlationId: 'rr-2025-001',
      parentEventId: null,
      actor: { type: 'service', id: 'gateway-7' },
      resource: null,
      clusterName: null,
      severity: null,
      durationMs: null,
      error: null,
      data: null,
      recordedBy: null,
    });
    expect(timestampDefaulted).toBe(true);
  });

  it('treats null optional fields as absent', () => {
    const nulls = Object.fromEntries(
      [
        'eventId',
        'eventAction',
        'timestamp',
        'parentEventId',
        'resourceType',
        'resourceId',
        'resourceNamespace',
        'clusterName',
        'severity',
        'durationMs',
        'errorCode',
        'errorMessage',
        'data',
      ].map((k) => [k, null]),
    );
    const { record, timestampDefaulted } = validate(nulls);
    expect(timestampDefaulted).toBe(true);
    expect(record.data).toBeNull();
    expect(record.resource).toBeNull();
  });

  it('maps every field into the record', () => {
    const { record, timestampDefaulted } = validate({
      eventId: ID.toUpperCase(),
      eventAction: 'received',
      timestamp: '2025-06-01T14:04:05.6+02:00',
      parentEventId: '3F2504E0-4F89-41D3-9A0C-0305E82C3301',
      resourceType: 'Pod',
      resourceId: 'web-1',
      resourceNamespace: 'prod',
      clusterName: 'eu-1',
      severity: 'WARNING',
      durationMs: 0,
      errorCode: 'E42',
      errorMessage: 'it broke',
      data: { z: 1, a: [true, null, 'x'] },
    });
    expect(timestampDefaulted).toBe(false);
    expect(record).toEqual({
      eventId: ID,
      eventType: 'gateway.signal.received',
      eventCategory: 'gateway',
      eventAction: 'received',
      outcome: 'SUCCESS',
      timestamp: '2025-06-01T12:04:05.600Z',
      correlationId: 'rr-2025-001',
      parentEventId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
      actor: { type: 'service', id: 'gateway-7' },
      resource: { type: 'Pod', id: 'web-1', namespace: 'prod' },
      clusterName: 'eu-1',
      severity: 'WARNING',
      durationMs: 0,
      error: { code: 'E42', message: 'it broke' },
      data: { a: [true, null, 'x'], z: 1 },
      recordedBy: null,
    });
  });

  it.each([
    ['2025-01-02T03:04:05Z', '2025-01-02T03:04:05.000Z'],
    ['2025-01-02t03:04:05.1z', '2025-01-02T03:04:05.100Z'],
    ['2025-01-02T03:04:05.12Z', '2025-01-02T03:04:05.120Z'],
    ['2025-01-02T03:04:05.123000Z', '2025-01-02T03:04:05.123Z'],
    ['2025-01-02T03:04:05.678-05:30', '2025-01-02T08:34:05.678Z'],
    ['2025-01-02T00:30:00+01:00', '2025-01-01T23:30:00.000Z'],
    ['2025-01-02T03:04:05-00:00', '2025-01-02T03:04:05.000Z'],
    ['2024-02-29T23:59:59.999Z', '2024-02-29T23:59:59.999Z'],
    ['1970-01-01T00:00:00Z', '1970-01-01T00:00:00.000Z'],
    ['2025-06-01T12:05:00.000Z', '2025-06-01T12:05:00.000Z'], // exactly now + 5 min
    ['2025-06-01T13:05:00+01:00', '2025-06-01T12:05:00.000Z'],
  ])('timestamp %s → %s', (input, expected) => {
    const { record, timestampDefaulted } = validate({ timestamp: input });
    expect(record.timestamp).toBe(expected);
    expect(timestampDefaulted).toBe(false);
  });

  it('accepts a Date timestamp', () => {
    expect(validate({ timestamp: new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 6)) }).record.timestamp).toBe('2025-01-02T03:04:05.006Z');
  });

  it('accepts separators, %, NUL, controls, emoji and astral characters in ids', () => {
    const ids = ['rr/1', 'rr%2F1', 'a\u0000b', 'x:y', '😀', '𝄞'.repeat(64), '\u0001\u001f', 'tl/ev/audit:'];
    for (const id of ids) {
      const { record } = validate({ correlationId: id, actorId: id, actorType: id, clusterName: id, resourceType: id, resourceId: id });
      expect(record.correlationId).toBe(id);
      expect(record.actor.id).toBe(id);
      expect(record.resource?.id).toBe(id);
    }
  });

  it('counts length in code points: 128 astral characters pass, 256 bytes of correlationId pass', () => {
    expect(validate({ actorId: '😀'.repeat(128) }).record.actor.id).toHaveLength(256);
    expect(validate({ correlationId: 'é'.repeat(128) }).record.correlationId).toHaveLength(128);
    expect(validate({ errorMessage: 'm'.repeat(1024) }).record.error).toEqual({ code: null, message: 'm'.repeat(1024) });
  });

  it.each(['gateway.signal.received', 'gateway', 'a_b-c.0.x9'])('eventType %s is accepted', (t) => {
    expect(validate({ eventType: t }).record.eventType).toBe(t);
  });

  it('accepts durationMs 2^31 − 1 and normalizes -0', () => {
    expect(validate({ durationMs: 2 ** 31 - 1 }).record.durationMs).toBe(2147483647);
    expect(Object.is(validate({ durationMs: -0 }).record.durationMs, 0)).toBe(true);
  });

  it('builds error from errorCode alone', () => {
    expect(validate({ errorCode: 'E1' }).record.error).toEqual({ code: 'E1', message: null });
  });

  it('accepts any JSON data at the limits: exactly 64 KiB and 32 levels', () => {
    expect(validate({ data: 'x'.repeat(65534) }).record.data).toHaveLength(65534);
    expect(validate({ data: nested(32) }).record.data).toEqual(nested(32));
    for (const v of [0, false, 'str', [], {}, -1.5e300]) expect(validate({ data: v }).record.data).toEqual(v);
  });

  it('copies data: later mutation by the caller does not change the record', () => {
    const data = { list: [1, 2] };
    const { record } = validate({ data });
    data.list.push(3);
    expect(record.data).toEqual({ list: [1, 2] });
  });

  it('keeps a "__proto__" data key as data', () => {
    const { record } = validate({ data: JSON.parse('{"__proto__":{"admin":true}}') });
    expect(Object.keys(record.data as object)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(record.data)).toBe(Object.prototype);
  });

  it('accepts a null-prototype input object (graphql-js args)', () => {
    const input = Object.assign(Object.create(null) as object, valid());
    expect(validateEventInput(input, 'input', NOW).record.actor.id).toBe('gateway-7');
  });

  it('rejects a depth bomb of 100,000 nested arrays quickly, without a stack overflow', () => {
    const bomb = nested(100_000);
    const t0 = performance.now();
    const violations = violationsOf(() => validate({ data: bomb }));
    expect(performance.now() - t0).toBeLessThan(200);
    expect(violations).toHaveLength(1);
    expect(violations[0]!.message).toMatch(/nested more than 32 levels/);
    expect(violations[0]!.path.startsWith('input.data.0.0')).toBe(true);
  });

  it('rejects a depth bomb of nested objects and a cyclic value', () => {
    let obj: unknown = {};
    for (let i = 0; i < 100_000; i++) obj = { k: obj };
    expect(violationsOf(() => validate({ data: obj }))[0]!.message).toMatch(/nested more than 32/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(violationsOf(() => validate({ data: cyclic }))[0]!.message).toMatch(/nested more than 32/);
  });
});

describe('validateEventInput: reports every violation', () => {
  it('lists all offending fields at once, each with its path', () => {
    const violations = violationsOf(() =>
      validateEventInput(
        {
          eventType: 'Bad Type',
          outcome: 'OK',
          actorId: '',
          correlationId: 'c',
          actorType: 't',
          severity: 1,
          durationMs: -5,
          resourceId: 'r',
          extra: true,
          data: [Number.NaN, undefined],
        },
        'input',
        NOW,
      ),
    );
    expect(violations.map((v) => v.path).sort()).toEqual(
      [
        'input.actorId',
        'input.data.0',
        'input.data.1',
        'input.durationMs',
        'input.eventCategory',
        'input.eventType',
        'input.extra',
        'input.outcome',
        'input.resourceType',
        'input.severity',
      ].sort(),
    );
  });

  it('prefixes paths with the given root and renders them in the error message', () => {
    try {
      validateEventInput({ ...valid(), actorId: '' }, 'event', NOW);
      expect.unreachable();
    } catch (e) {
      expect((e as ValidationError).violations).toEqual([{ path: 'event.actorId', message: 'must not be empty' }]);
      expect((e as Error).message).toContain('event.actorId: must not be empty');
    }
  });

  it('truncates hostile unknown field names in paths', () => {
    const [v] = violationsOf(() => validate({ ['k'.repeat(10_000)]: 1 }));
    expect(v!.path.length).toBeLessThan(100);
  });

  it('caps the number of data issues reported', () => {
    expect(violationsOf(() => validate({ data: Array(1000).fill(Number.NaN) }))).toHaveLength(10);
  });

  it('refuses an invalid `now` as a programming error', () => {
    expect(() => validateEventInput(valid(), 'input', new Date(Number.NaN))).toThrow(TypeError);
  });
});

describe('validateEventBatch', () => {
  it.each<[string, unknown, number | undefined, RegExp]>([
    ['a non-array', valid(), undefined, /must be a list/],
    ['an empty list', [], undefined, /at least one event/],
    ['more than maxBatch', [valid(), valid(), valid()], 2, /at most 2 events/],
    ['more than 1000 by default', Array.from({ length: 1001 }, valid), undefined, /at most 1000 events/],
  ])('rejects %s at the list path', (_name, inputs, max, message) => {
    const violations = violationsOf(() => validateEventBatch(inputs, 'input', NOW, max));
    expect(violations).toHaveLength(1);
    expect(violations[0]!.path).toBe('input');
    expect(violations[0]!.message).toMatch(message);
  });

  it('collects the violations of every element with indexed paths', () => {
    const inputs = [valid(), { ...valid(), actorId: '' }, valid(), { ...valid(), outcome: 'NOPE', durationMs: 1.5 }, null];
    expect(violationsOf(() => validateEventBatch(inputs, 'input', NOW)).map((v) => v.path)).toEqual([
      'input.1.actorId',
      'input.3.outcome',
      'input.3.durationMs',
      'input.4',
    ]);
  });

  it('rejects a repeated eventId with different content at the later element', () => {
    const inputs = [{ ...valid(), eventId: ID }, valid(), { ...valid(), eventId: ID.toUpperCase(), actorId: 'someone-else' }];
    const violations = violationsOf(() => validateEventBatch(inputs, 'input', NOW));
    expect(violations).toEqual([{ path: 'input.2.eventId', message: 'repeats the eventId of input.0 with different content' }]);
  });

  it('accepts identical repeats (also differing only in eventId case or key order) and keeps positions', () => {
    const a = { ...valid(), eventId: ID, data: { x: 1, y: 2 } };
    const b = { ...valid(), data: { y: 2, x: 1 }, eventId: ID.toUpperCase() };
    const events = validateEventBatch([a, valid(), b], 'input', NOW);
    expect(events).toHaveLength(3);
    expect(encodeRecord(events[0]!.record).equals(encodeRecord(events[2]!.record))).toBe(true);
    expect(events[1]!.record.eventId).not.toBe(ID);
  });

  it('validates all elements against one `now` and generates distinct ids', () => {
    const events = validateEventBatch([valid(), valid(), valid()], 'input', NOW);
    expect(new Set(events.map((e) => e.record.timestamp))).toEqual(new Set([NOW.toISOString()]));
    expect(new Set(events.map((e) => e.record.eventId)).size).toBe(3);
  });
});

describe('sameContent', () => {
  const stored = validate({ eventId: ID, timestamp: '2025-06-01T11:00:00Z', data: { a: 1 } }).record;
  const retry = (patch: Record<string, unknown>): NewEvent => validate({ eventId: ID, data: { a: 1 }, ...patch });

  it('is true for the same content, whatever the key order or id case', () => {
    expect(sameContent(retry({ timestamp: '2025-06-01T12:00:00+01:00', eventId: ID.toUpperCase() }), stored)).toBe(true);
  });
  it('ignores the timestamp only when the server chose it', () => {
    expect(sameContent(retry({}), stored)).toBe(true);
    expect(sameContent(retry({ timestamp: '2025-06-01T11:00:00.001Z' }), stored)).toBe(false);
  });
  it.each<[string, Record<string, unknown>]>([
    ['data', { data: { a: 2 } }],
    ['data type', { data: { a: '1' } }],
    ['an optional field', { severity: 'INFO' }],
    ['outcome', { outcome: 'FAILURE' }],
    ['a string by one code unit', { actorId: 'gateway-8' }],
  ])('is false when %s differs', (_name, patch) => {
    expect(sameContent(retry(patch), stored)).toBe(false);
  });
  it('treats recordedBy as content: the same event from another principal is not a retry', () => {
    const mine = { ...stored, recordedBy: 'svc-a' };
    expect(sameContent(withRecordedBy([retry({})], 'svc-a')[0]!, mine)).toBe(true);
    expect(sameContent(withRecordedBy([retry({})], 'svc-b')[0]!, mine)).toBe(false);
    expect(sameContent(retry({}), mine)).toBe(false);
  });
  it('never takes recordedBy from the input', () => {
    expect(() => validate({ recordedBy: 'someone-else' })).toThrow(/input\.recordedBy: is not a known field/);
    expect(validate({}).record.recordedBy).toBeNull();
  });
});
