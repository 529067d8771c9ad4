import { canonicalJson, inspectJson, isWellFormed } from './json.ts';
import { LIMITS, MAX_RECORD_BYTES } from './limits.ts';
import { parseCanonicalTimestamp } from './time.ts';
import { OUTCOMES, SEVERITIES, type AuditEventRecord, type Json } from './types.ts';

const LOWER_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const RECORD_KEYS = [
  'actor',
  'clusterName',
  'correlationId',
  'data',
  'durationMs',
  'error',
  'eventAction',
  'eventCategory',
  'eventId',
  'eventType',
  'outcome',
  'parentEventId',
  'recordedBy',
  'resource',
  'severity',
  'timestamp',
] as const;

/** A plain Error (not an AuditError): a malformed stored record is corruption, not user input. */
const malformed = (message: string) => new Error(`Malformed audit event record: ${message}`);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const ACTOR_KEYS = ['type', 'id'] as const;
const RESOURCE_KEYS = ['type', 'id', 'namespace'] as const;
const ERROR_KEYS = ['code', 'message'] as const;

/** Each key list of exactKeys (the constants above) as a set, made once. */
const keySets = new Map<readonly string[], ReadonlySet<string>>();

function exactKeys(v: unknown, keys: readonly string[], what: string): Record<string, unknown> {
  if (!isPlainObject(v)) throw malformed(`${what} is not an object`);
  const actual = Object.keys(v);
  // As many own keys as expected, each an expected one: exactly the expected keys (own keys are distinct).
  let set = keySets.get(keys);
  if (set === undefined) {
    set = new Set(keys);
    keySets.set(keys, set);
  }
  const expected = set;
  if (actual.length === keys.length && actual.every((k) => expected.has(k))) return v;
  const missing = keys.filter((k) => !Object.hasOwn(v, k));
  const extra = actual.filter((k) => !keys.includes(k));
  if (missing.length > 0) throw malformed(`${what} lacks ${missing.join(', ')}`);
  if (extra.length > 0) throw malformed(`${what} has unknown field(s) ${extra.map((k) => JSON.stringify(k.slice(0, 64))).join(', ')}`);
  return v;
}

function text(v: unknown, what: string, nullable: boolean): void {
  if (v === null && nullable) return;
  if (typeof v !== 'string') throw malformed(`${what} is not a string${nullable ? ' or null' : ''}`);
  if (v.length === 0) throw malformed(`${what} is empty`);
  if (!isWellFormed(v)) throw malformed(`${what} is not well-formed Unicode`);
}

/**
 * Asserts that `v` has exactly the shape of an AuditEventRecord as the validator produces it
 * (types, enums, normalized UUIDs and timestamps, JSON `data` within limits). It does not re-apply
 * input-only rules (length caps, eventType syntax) so that tightening those never makes stored
 * records unreadable.
 */
export function assertRecordShape(v: unknown): asserts v is AuditEventRecord {
  const r = exactKeys(v, RECORD_KEYS, 'record');
  if (typeof r.eventId !== 'string' || !LOWER_UUID.test(r.eventId)) throw malformed('eventId is not a lowercase UUID');
  text(r.eventType, 'eventType', false);
  text(r.eventCategory, 'eventCategory', false);
  text(r.eventAction, 'eventAction', true);
  if (typeof r.outcome !== 'string' || !(OUTCOMES as readonly string[]).includes(r.outcome)) throw malformed('outcome is not an EventOutcome');
  if (parseCanonicalTimestamp(r.timestamp) === null) throw malformed('timestamp is not RFC 3339 UTC with milliseconds');
  text(r.correlationId, 'correlationId', false);
  if (r.parentEventId !== null && (typeof r.parentEventId !== 'string' || !LOWER_UUID.test(r.parentEventId))) {
    throw malformed('parentEventId is not a lowercase UUID or null');
  }
  const actor = exactKeys(r.actor, ACTOR_KEYS, 'actor');
  text(actor.type, 'actor.type', false);
  text(actor.id, 'actor.id', false);
  if (r.resource !== null) {
    const resource = exactKeys(r.resource, RESOURCE_KEYS, 'resource');
    text(resource.type, 'resource.type', false);
    text(resource.id, 'resource.id', false);
    text(resource.namespace, 'resource.namespace', true);
  }
  text(r.clusterName, 'clusterName', true);
  if (r.severity !== null && (typeof r.severity !== 'string' || !(SEVERITIES as readonly string[]).includes(r.severity))) {
    throw malformed('severity is not a Severity or null');
  }
  if (r.durationMs !== null) {
    const d = r.durationMs;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > LIMITS.durationMsMax || Object.is(d, -0)) {
      throw malformed('durationMs is not a non-negative 32-bit integer or null');
    }
  }
  if (r.error !== null) {
    const error = exactKeys(r.error, ERROR_KEYS, 'error');
    text(error.code, 'error.code', true);
    text(error.message, 'error.message', true);
    if (error.code === null && error.message === null) throw malformed('error has neither code nor message (must be null)');
  }
  text(r.recordedBy, 'recordedBy', true);
  const { issues } = inspectJson(r.data, { maxDepth: LIMITS.dataMaxDepth, maxBytes: LIMITS.dataMaxBytes, maxIssues: 1 });
  const issue = issues[0];
  if (issue) throw malformed(`data${issue.path.map((p) => `.${String(p).slice(0, 64)}`).join('')} ${issue.message}`);
}

/**
 * The ledger value of an event: canonical JSON (keys sorted recursively, no whitespace) in UTF-8,
 * so equal content is byte-equal — idempotency checks and proofs compare these bytes.
 * Throws if `record` is not exactly an AuditEventRecord (stray fields would otherwise be persisted).
 */
export function encodeRecord(record: AuditEventRecord): Buffer {
  assertRecordShape(record);
  return Buffer.from(canonicalJson(record as unknown as Json), 'utf8');
}

// fatal: invalid UTF-8 is corruption, not something to paper over with U+FFFD.
// ignoreBOM: keep a BOM so that it fails the parse instead of being silently dropped.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Strict inverse of `encodeRecord` for values read from the ledger (which may be corrupt or
 * foreign): the bytes must be valid UTF-8, valid JSON, exactly the record shape, and in canonical
 * form (re-encoding yields the same bytes — rules out duplicate keys, whitespace, reordering).
 * Throws a plain Error describing the first problem.
 */
export function decodeRecord(bytes: Uint8Array): AuditEventRecord {
  if (!(bytes instanceof Uint8Array)) throw malformed('value is not bytes');
  if (bytes.byteLength > MAX_RECORD_BYTES) throw malformed(`${bytes.byteLength} bytes exceeds ${MAX_RECORD_BYTES}`);
  let textValue: string;
  try {
    textValue = utf8.decode(bytes);
  } catch {
    throw malformed('not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(textValue);
  } catch (e) {
    throw malformed(`not valid JSON (${(e as Error).message})`);
  }
  // Records written before authentication existed have no recordedBy: read them as null (their
  // stored bytes, which the proofs cover, are checked for canonical form as they are).
  const legacy = isPlainObject(parsed) && !Object.hasOwn(parsed, 'recordedBy');
  if (legacy) (parsed as Record<string, unknown>).recordedBy = null;
  assertRecordShape(parsed);
  if (legacy) {
    const { recordedBy: _none, ...stored } = parsed;
    const again = Buffer.from(canonicalJson(stored as unknown as Json), 'utf8');
    if (!again.equals(bytes)) throw malformed('not in canonical form');
    return parsed;
  }
  if (!isCanonicalText(parsed, textValue, bytes)) throw malformed('not in canonical form');
  return parsed;
}

/**
 * Whether `text` (the UTF-8 decoding of `bytes`) is the canonical form of `parsed`, without
 * building that form when it is (the common case, on every read): canonical JSON is what
 * JSON.stringify writes once every object's keys are in sorted order, and JSON.parse keeps the
 * text's key order (integer-like keys aside: they fail the order check and take the slow path).
 * A record starts with `{`, so the decoding dropped no byte-order mark. The slow path serializes
 * canonically and compares bytes; the unit tests check both give the same verdict.
 */
function isCanonicalText(parsed: AuditEventRecord, text: string, bytes: Uint8Array): boolean {
  if (bytes[0] === 0x7b && keysInOrder(parsed, 0) && JSON.stringify(parsed) === text) return true;
  return Buffer.from(canonicalJson(parsed as unknown as Json), 'utf8').equals(bytes);
}

/** Every object's own keys, in enumeration order, strictly ascending (as canonicalJson sorts them). */
function keysInOrder(v: unknown, depth: number): boolean {
  if (typeof v !== 'object' || v === null) return true;
  if (depth > 64) return false; // deeper than any valid record: the slow path decides
  if (Array.isArray(v)) {
    for (const item of v) if (!keysInOrder(item, depth + 1)) return false;
    return true;
  }
  let prev: string | null = null;
  for (const key in v) {
    if (prev !== null && !(prev < key)) return false;
    prev = key;
    if (!keysInOrder((v as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}
