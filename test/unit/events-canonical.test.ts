import { describe, expect, it } from 'vitest';
import { isAuditError } from '../../src/errors.ts';
import { assertRecordShape, decodeRecord, encodeRecord } from '../../src/events/canonical.ts';
import { canonicalJson, inspectJson, normalizedJsonCopy } from '../../src/events/json.ts';
import { MAX_RECORD_BYTES } from '../../src/events/limits.ts';
import type { AuditEventRecord, Json } from '../../src/events/types.ts';
import { NASTY_ALPHABET, prng, randomString, randomUuid } from './_random.ts';

const base = (): AuditEventRecord => ({
  eventId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  eventType: 'gateway.signal.received',
  eventCategory: 'gateway',
  eventAction: 'received',
  outcome: 'SUCCESS',
  timestamp: '2025-01-02T03:04:05.678Z',
  correlationId: 'rr-2025-001',
  parentEventId: null,
  actor: { type: 'service', id: 'gateway-7' },
  resource: { type: 'Pod', id: 'web-1', namespace: null },
  clusterName: null,
  severity: 'INFO',
  durationMs: 12,
  error: null,
  data: { b: [1, { y: true, x: null }], a: 'z' },
  recordedBy: 'gateway-svc',
});

const utf8 = (s: string) => Buffer.from(s, 'utf8');

describe('canonicalJson', () => {
  it('sorts keys recursively and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"e":2,"f":1}]},"b":1}');
  });
  it('gives equal strings for equal content in any key order', () => {
    expect(canonicalJson({ x: 1, y: { p: 'q', r: [] } })).toBe(canonicalJson({ y: { r: [], p: 'q' }, x: 1 }));
  });
  it('sorts by UTF-16 code units and writes -0 as 0', () => {
    expect(canonicalJson({ é: 1, z: 2, Z: 3, '😀': 4, '\uffff': 5 })).toBe('{"Z":3,"z":2,"é":1,"😀":4,"\uffff":5}');
    expect(canonicalJson([-0, 1e21, 0.1])).toBe('[0,1e+21,0.1]');
  });
  it('refuses non-JSON values instead of silently writing null', () => {
    expect(() => canonicalJson(Number.NaN as Json)).toThrow(TypeError);
    expect(() => canonicalJson({ a: undefined } as unknown as Json)).toThrow(TypeError);
  });
});

describe('inspectJson', () => {
  const limits = { maxDepth: 3, maxBytes: 20 };
  it('counts exactly the canonical UTF-8 bytes', () => {
    const v = { é: ['😀', 1.5, null, true], a: 'x\u0000' };
    expect(inspectJson(v, { maxDepth: 10, maxBytes: 1000 }).bytes).toBe(utf8(canonicalJson(v)).length);
  });
  it('counts depth from 1 for the outermost container', () => {
    expect(inspectJson([[[1]]], limits).issues).toEqual([]);
    expect(inspectJson([[[[1]]]], limits).issues).toEqual([{ path: [0, 0, 0], message: 'is nested more than 3 levels deep' }]);
    expect(inspectJson('scalar', limits).issues).toEqual([]);
  });
  it('stops at the byte budget, also for huge sparse arrays and long strings', () => {
    expect(inspectJson('x'.repeat(18), limits).issues).toEqual([]); // 20 bytes with quotes
    expect(inspectJson('x'.repeat(19), limits).issues[0]?.message).toMatch(/larger than 20 bytes/);
    const t0 = performance.now();
    expect(inspectJson(new Array(1e9), limits).issues[0]?.message).toMatch(/larger than/);
    expect(inspectJson('y'.repeat(10_000_000), limits).issues[0]?.message).toMatch(/larger than/);
    expect(performance.now() - t0).toBeLessThan(500);
  });
  it('terminates on cycles and on exponential sharing', () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    expect(inspectJson(cyclic, { maxDepth: 32, maxBytes: 65536 }).issues[0]?.message).toMatch(/nested more than 32/);
    let shared: unknown = 0;
    for (let i = 0; i < 30; i++) shared = [shared, shared]; // 2^30 leaves if expanded
    const t0 = performance.now();
    expect(inspectJson(shared, { maxDepth: 32, maxBytes: 65536 }).issues[0]?.message).toMatch(/larger than/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('encodeRecord / decodeRecord', () => {
  it('is canonical: sorted keys, no whitespace, key order of the input irrelevant', () => {
    const a = base();
    const b = { ...base(), data: { a: 'z', b: [1, { x: null, y: true }] } };
    const bytes = encodeRecord(a);
    expect(bytes.equals(encodeRecord(b))).toBe(true);
    expect(bytes.toString('utf8')).toMatch(/^\{"actor":\{"id":"gateway-7","type":"service"\},"clusterName":null,"correlationId":/);
    expect(bytes.toString('utf8')).not.toMatch(/\s/);
  });

  it('stores recordedBy in the record (so proofs cover it) and reads records from before it existed as null', () => {
    const bytes = encodeRecord(base());
    expect(bytes.toString('utf8')).toContain('"recordedBy":"gateway-svc"');
    expect(decodeRecord(encodeRecord({ ...base(), recordedBy: null })).recordedBy).toBeNull();
    const { recordedBy: _r, ...legacy } = base();
    const legacyBytes = utf8(canonicalJson(legacy as unknown as Json));
    expect(decodeRecord(legacyBytes)).toEqual({ ...base(), recordedBy: null });
    // Still strict about form and type.
    expect(() => decodeRecord(utf8(JSON.stringify(legacy)))).toThrow(/canonical/);
    expect(() => decodeRecord(encodeRecord({ ...base(), recordedBy: 7 as unknown as string }))).toThrow(/recordedBy/);
  });

  it('round-trips every string exactly', () => {
    const controls = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('');
    const nasty = ['\u0000\u00ff\ufffd', controls, '\u007f\u0080\u2028\u2029', '"\\/', '😀𝄞\u{10ffff}', 'مرحبا', '\ufeffbom'];
    for (const s of nasty) {
      const r = { ...base(), actor: { type: s, id: s }, correlationId: s, eventAction: s, data: { [s]: [s] } };
      const back = decodeRecord(encodeRecord(r));
      expect(back).toEqual(r);
      expect(back.correlationId).toBe(s);
    }
  });

  it('round-trips seeded random records (property)', () => {
    const rand = prng(0xc0ffee);
    for (let i = 0; i < 300; i++) {
      const s = () => randomString(rand, 6, NASTY_ALPHABET);
      const r: AuditEventRecord = {
        ...base(),
        eventId: randomUuid(rand),
        correlationId: s(),
        actor: { type: s(), id: s() },
        resource: rand() < 0.5 ? null : { type: s(), id: s(), namespace: rand() < 0.5 ? null : s() },
        error: rand() < 0.5 ? null : { code: s(), message: rand() < 0.5 ? null : s() },
        data: { [s()]: [s(), rand(), Math.floor(rand() * 1e6), { [s()]: s() }] },
      };
      const bytes = encodeRecord(r);
      const back = decodeRecord(bytes);
      expect(back).toEqual(r);
      expect(encodeRecord(back).equals(bytes)).toBe(true);
    }
  });

  it('accepts exactly the bytes a full canonical re-encoding accepts (differential, seeded)', () => {
    // decodeRecord skips building the canonical form when the text already is it; the verdict must
    // be the one of comparing with canonicalJson's bytes, for canonical and non-canonical texts alike.
    const rand = prng(0xdec0de);
    const keys = ['a', 'b', 'B', '1', '10', '9', '01', '-1', 'é', '😀', '__proto__', '\u0000', 'a b', ''];
    const randomJson = (depth: number): Json => {
      const r = rand();
      if (depth > 3 || r < 0.3) return [null, true, 0, -0, 1.5, 1e21, 'x', '\u2028', '"/', '😀'][Math.floor(rand() * 10)] as Json;
      if (r < 0.5) return Array.from({ length: Math.floor(rand() * 3) }, () => randomJson(depth + 1));
      const o: Record<string, Json> = {};
      for (let k = Math.floor(rand() * 4); k > 0; k--) o[keys[Math.floor(rand() * keys.length)]!] = randomJson(depth + 1);
      return o;
    };
    /** A JSON text of `v` with its keys in a random order (not necessarily sorted). */
    const shuffled = (v: Json): string => {
      if (v === null || typeof v !== 'object') return JSON.stringify(v);
      if (Array.isArray(v)) return `[${v.map(shuffled).join(',')}]`;
      const entries = Object.entries(v).sort(() => rand() - 0.5);
      return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${shuffled(x)}`).join(',')}}`;
    };
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 2_000; i++) {
      const data = randomJson(0);
      const record = { ...base(), data };
      const canonical = canonicalJson(record as unknown as Json);
      const variants = [
        canonical,
        JSON.stringify(record),
        shuffled(record as unknown as Json),
        `{"data":${shuffled(data)},${canonical.slice(1).replace(/"data":.*?,"durationMs"/, '"durationMs"')}`,
        `\ufeff${canonical}`,
        `${canonical} `,
      ];
      for (const text of variants) {
        const bytes = utf8(text);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          continue;
        }
        const expected = utf8(canonicalJson(parsed as Json)).equals(bytes);
        let got: boolean;
        try {
          decodeRecord(bytes);
          got = true;
        } catch (e) {
          got = false;
          expect(String(e)).not.toMatch(/lacks|unknown field/); // only the canonical form may differ here
        }
        expect(got, text).toBe(expected);
        if (got) accepted++;
        else refused++;
      }
    }
    expect(accepted).toBeGreaterThanOrEqual(2_000);
    expect(refused).toBeGreaterThan(2_000);
  });

  it('preserves a "__proto__" key as data, not as a prototype', () => {
    const data = JSON.parse('{"__proto__":{"polluted":true}}') as Json;
    const back = decodeRecord(encodeRecord({ ...base(), data }));
    expect(Object.keys(back.data as object)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps a maximal record under MAX_RECORD_BYTES', () => {
    const worst = '\u0001'.repeat(128); // escapes to 6 bytes per character
    const r: AuditEventRecord = {
      ...base(),
      eventType: 'a'.repeat(128),
      eventCategory: worst,
      eventAction: worst,
      correlationId: worst,
      parentEventId: base().eventId,
      actor: { type: worst, id: worst },
      resource: { type: worst, id: worst, namespace: worst },
      clusterName: worst,
      error: { code: worst, message: '\u0001'.repeat(1024) },
      data: 'x'.repeat(64 * 1024 - 2),
    };
    expect(encodeRecord(r).length).toBeLessThanOrEqual(MAX_RECORD_BYTES);
  });

  const good = encodeRecord(base()).toString('utf8');
  const reencode = (patch: (r: Record<string, unknown>) => void) => {
    const r = JSON.parse(good) as Record<string, unknown>;
    patch(r);
    return utf8(canonicalJson(r as Json));
  };
  it.each<[string, Uint8Array | unknown, RegExp]>([
    ['invalid UTF-8', Buffer.concat([utf8(good.slice(0, -2)), Buffer.from([0xff]), utf8('}')]), /UTF-8/],
    ['a BOM', utf8(`\ufeff${good}`), /JSON/],
    ['not JSON', utf8('{"eventId":'), /JSON/],
    ['a JSON array', utf8('[]'), /not an object/],
    ['whitespace', utf8(good.replace(',', ', ')), /canonical/],
    ['unsorted keys', utf8(`{"clusterName":null,${good.slice(1).replace('"clusterName":null,', '')}`), /canonical/],
    ['a duplicate key', utf8(good.replace('{', '{"actor":{"id":"x","type":"y"},')), /canonical/],
    ['an escaped "/" (non-canonical)', utf8(good.replace('gateway.signal', 'gateway\\/signal')), /canonical/],
    ['a missing field', reencode((r) => delete r.severity), /lacks severity/],
    ['an unknown field', reencode((r) => (r.recordedAt = 'x')), /unknown field/],
    ['an uppercase eventId', reencode((r) => (r.eventId = String(r.eventId).toUpperCase())), /eventId/],
    ['a non-UUID parentEventId', reencode((r) => (r.parentEventId = 'p')), /parentEventId/],
    ['a wrong outcome', reencode((r) => (r.outcome = 'success')), /outcome/],
    ['a wrong severity', reencode((r) => (r.severity = 'DEBUG')), /severity/],
    ['a non-canonical timestamp', reencode((r) => (r.timestamp = '2025-01-02T03:04:05Z')), /timestamp/],
    ['an impossible timestamp', reencode((r) => (r.timestamp = '2025-02-30T03:04:05.678Z')), /timestamp/],
    ['a fractional durationMs', reencode((r) => (r.durationMs = 1.5)), /durationMs/],
    ['an empty actor.id', reencode((r) => (r.actor = { id: '', type: 't' })), /actor\.id/],
    ['an actor with extra keys', reencode((r) => (r.actor = { id: 'i', type: 't', x: 1 })), /actor has unknown/],
    ['an empty error object', reencode((r) => (r.error = { code: null, message: null })), /error has neither/],
    ['a lone surrogate', reencode((r) => (r.clusterName = '\ud800')), /clusterName/],
    ['data nested 33 deep', reencode((r) => (r.data = JSON.parse('['.repeat(33) + ']'.repeat(33)) as Json)), /data.* nested/],
    ['a string, not bytes', good, /not bytes/],
    ['too many bytes', Buffer.alloc(MAX_RECORD_BYTES + 1, 0x20), /exceeds/],
  ])('decode rejects %s with a plain Error', (_name, bytes, message) => {
    let caught: unknown;
    try {
      decodeRecord(bytes as Uint8Array);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(isAuditError(caught)).toBe(false);
    expect((caught as Error).message).toMatch(/^Malformed audit event record: /);
    expect((caught as Error).message).toMatch(message);
  });

  it('decodes the canonical bytes it is given (control for the table above)', () => {
    expect(decodeRecord(utf8(good))).toEqual(base());
  });

  it('encode refuses records with stray or missing fields', () => {
    expect(() => encodeRecord({ ...base(), recordedAt: 'x' } as AuditEventRecord)).toThrow(/unknown field/);
    const { data: _data, ...rest } = base();
    expect(() => encodeRecord(rest as AuditEventRecord)).toThrow(/lacks data/);
    expect(() => assertRecordShape({ ...base(), data: { d: new Date(0) } })).toThrow(/Date/);
  });
});

describe('canonicalJson through JSON.stringify, and normalizedJsonCopy', () => {
  const rand = prng(0x5a17ed);
  const keys = ['a', 'b', 'B', '1', '10', '9', '01', '-1', 'é', '😀', '__proto__', 'toJSON', '\u0000', '\ud800', 'a b', ''];
  const leaves = [null, true, false, 0, -0, 1.5, -2, 1e21, 5e-324, 'x', '\u2028', '"/\\', '😀', '\ud800', '\udc00x', ''] as Json[];
  /** Random JSON, keys inserted in random order or in sorted order (to take both paths). */
  const randomJson = (depth: number, sorted: boolean): Json => {
    const r = rand();
    if (depth > 4 || r < 0.3) return leaves[Math.floor(rand() * leaves.length)]!;
    if (r < 0.5) return Array.from({ length: Math.floor(rand() * 4) }, () => randomJson(depth + 1, sorted));
    const picked = Array.from({ length: Math.floor(rand() * 5) }, () => keys[Math.floor(rand() * keys.length)]!);
    const o: Record<string, Json> = {};
    for (const k of sorted ? [...new Set(picked)].sort() : picked) {
      Object.defineProperty(o, k, { value: randomJson(depth + 1, sorted), enumerable: true, writable: true, configurable: true });
    }
    return o;
  };
  /** Canonical JSON written independently: keys sorted by UTF-16 code units, scalars as JSON.stringify writes them. */
  const reference = (v: Json): string => {
    if (v === null || typeof v !== 'object') return JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${reference(v[k]!)}`)
      .join(',')}}`;
  };

  it('writes what an independent canonical writer writes, whatever the key order (seeded)', () => {
    for (let i = 0; i < 3_000; i++) {
      const v = randomJson(0, i % 2 === 0);
      expect(canonicalJson(v)).toBe(reference(v));
    }
  });

  it('does not let JSON.stringify decide what it would write otherwise: toJSON, holes, undefined, non-plain objects', () => {
    expect(canonicalJson({ a: { toJSON: 1 } } as unknown as Json)).toBe('{"a":{"toJSON":1}}');
    expect(() => canonicalJson({ a: { toJSON: () => 1 } } as unknown as Json)).toThrow();
    // biome-ignore lint/suspicious/noSparseArray: a hole is the point
    expect(() => canonicalJson([1, , 2] as unknown as Json)).toThrow(/undefined array element/);
    expect(() => canonicalJson({ a: undefined } as unknown as Json)).toThrow(/undefined property/);
    expect(() => canonicalJson({ a: Number.NaN } as unknown as Json)).toThrow(/non-finite/);
    expect(canonicalJson({ d: new Date(0) } as unknown as Json)).toBe('{"d":{}}');
  });

  it('normalizedJsonCopy is JSON.parse(canonicalJson(v)): same text, same own keys in the same order, a detached copy (seeded)', () => {
    for (let i = 0; i < 3_000; i++) {
      const v = randomJson(0, i % 2 === 0);
      if (inspectJson(v, { maxDepth: 64, maxBytes: 1 << 20 }).issues.length > 0) continue;
      const want = JSON.parse(canonicalJson(v)) as Json;
      const got = normalizedJsonCopy(v);
      expect(JSON.stringify(got)).toBe(JSON.stringify(want));
      const shape = (x: unknown): unknown =>
        x === null || typeof x !== 'object'
          ? Object.is(x, -0)
            ? 'minus zero'
            : x
          : Array.isArray(x)
            ? x.map(shape)
            : [Object.getPrototypeOf(x) === Object.prototype, Reflect.ownKeys(x).map((k) => [k, shape((x as Record<string, unknown>)[k as string])])];
      expect(shape(got)).toEqual(shape(want));
      if (v !== null && typeof v === 'object') expect(got).not.toBe(v);
    }
    expect(Object.getPrototypeOf(normalizedJsonCopy(JSON.parse('{"__proto__":{"x":1}}') as Json))).toBe(Object.prototype);
  });
});
