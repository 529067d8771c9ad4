import { randomFillSync } from 'node:crypto';

/** Any RFC 9562 textual UUID (8-4-4-4-12 hex, any version/variant, any case). */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

/** Lowercase form, so one UUID has exactly one key and one idempotency identity. Throws on non-UUIDs. */
export function normalizeUuid(value: string): string {
  if (!isUuid(value)) throw new TypeError('not a UUID');
  return value.toLowerCase();
}

/*
 * UUIDv7, RFC 9562 §6.2 method 1 (fixed-length dedicated counter):
 *   48-bit unix ms | ver 7 | 12-bit rand_a | var 10 | 62-bit rand_b
 * rand_a (12 bits) and the top 30 bits of rand_b form a 42-bit counter; the low 32 bits of
 * rand_b stay random. A new millisecond re-seeds the counter randomly with its top bit clear,
 * leaving at least 2^41 increments of headroom; a counter overflow or a clock that steps back
 * borrows the next millisecond instead, so ids from this process are strictly increasing.
 */
const COUNTER_BITS = 42;
const COUNTER_MAX = 2 ** COUNTER_BITS - 1;
const SEED_RANGE = 2 ** (COUNTER_BITS - 1);
const LOW_30 = 2 ** 30;

/**
 * A UUIDv7 generator with its own monotonic state. `clock` is injectable so tests can
 * replay a frozen or backwards-stepping clock; production code uses `uuidv7`.
 */
export function createUuidv7Generator(clock: () => number = Date.now): () => string {
  let lastMs = -1;
  let counter = 0;
  // Random bytes drawn from a pool refilled 4 KiB at a time: one randomFillSync per id cost as much
  // as the rest of an event's validation (node's randomUUID pools its entropy the same way).
  const pool = Buffer.alloc(4096);
  let used = pool.length;
  const take = (n: number): number => {
    if (used + n > pool.length) {
      randomFillSync(pool);
      used = 0;
    }
    const at = used;
    used += n;
    return at;
  };

  const reseed = (): number => {
    // 41 random bits: the counter's top bit starts clear, so it cannot overflow within a ms
    // unless 2^41 ids are generated in it.
    return pool.readUIntBE(take(6), 6) % SEED_RANGE;
  };

  return () => {
    const now = Math.floor(clock());
    if (now > lastMs) {
      lastMs = now;
      counter = reseed();
    } else {
      // Same millisecond, or the clock stepped back: keep counting on the last timestamp.
      counter += 1;
      if (counter > COUNTER_MAX) {
        lastMs += 1;
        counter = reseed();
      }
    }
    const bytes = Buffer.alloc(16);
    bytes.writeUIntBE(lastMs, 0, 6);
    bytes.writeUInt16BE(0x7000 + Math.floor(counter / LOW_30), 6); // ver 7 | counter bits 41..30
    bytes.writeUInt32BE(0x80000000 + (counter % LOW_30), 8); // var 10 | counter bits 29..0
    const r = take(4);
    pool.copy(bytes, 12, r, r + 4); // 32 random bits
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
}

/** Generates a lowercase UUIDv7, strictly greater than every earlier one from this process. */
export const uuidv7: () => string = createUuidv7Generator();
