import { ValidationError, type FieldViolation } from '../errors.ts';
import { encodeRecord } from './canonical.ts';
import { inspectJson, isWellFormed, normalizedJsonCopy } from './json.ts';
import { LIMITS } from './limits.ts';
import { MAX_TIMESTAMP_MS, parseRfc3339 } from './time.ts';
import { OUTCOMES, SEVERITIES, type AuditEventRecord, type Json, type NewEvent, type Outcome, type Severity } from './types.ts';
import { isUuid, uuidv7 } from './uuid.ts';

export { LIMITS } from './limits.ts';

const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  'eventId',
  'eventType',
  'eventCategory',
  'eventAction',
  'outcome',
  'timestamp',
  'correlationId',
  'parentEventId',
  'actorType',
  'actorId',
  'resourceType',
  'resourceId',
  'resourceNamespace',
  'clusterName',
  'severity',
  'durationMs',
  'errorCode',
  'errorMessage',
  'data',
]);

/** Dotted lowercase name: `gateway.signal.received`; a single segment is allowed. */
const EVENT_TYPE_RE = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;

/** Dotted path of a field; hostile field names are truncated so error messages stay small. */
function fieldPath(base: string, key: string | number): string {
  const k = String(key);
  return `${base}.${k.length > 64 ? `${k.slice(0, 64)}…` : k}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Code points in `s` exceed `max`? Counts lazily: most strings are decided by `.length`. */
function exceedsChars(s: string, max: number): boolean {
  if (s.length <= max) return false;
  let n = 0;
  for (const _ of s) if (++n > max) return true;
  return false;
}

/**
 * The field readers of one event's validation (own properties only: never something from a
 * prototype), recording each violation under `path`. A class rather than closures made per event:
 * the same code, without allocating (and, under tsx, naming) eight functions for every event.
 */
class FieldReader {
  constructor(
    private readonly input: Record<string, unknown>,
    private readonly path: string,
    private readonly out: FieldViolation[],
  ) {}

  fail(field: string, message: string): void {
    this.out.push({ path: fieldPath(this.path, field), message });
  }

  reject(field: string, message: string): null {
    this.fail(field, message);
    return null;
  }

  get(field: string): unknown {
    return Object.hasOwn(this.input, field) ? this.input[field] : undefined;
  }

  provided(field: string): boolean {
    return this.get(field) !== undefined && this.get(field) !== null;
  }

  /** A string field: null when absent or invalid (invalid ones are recorded). */
  str(field: string, opts: { required: boolean; maxChars: number; maxBytes?: number }): string | null {
    const v = this.get(field);
    if (v === undefined || v === null) {
      if (opts.required) this.fail(field, 'is required');
      return null;
    }
    if (typeof v !== 'string') return this.reject(field, 'must be a string');
    // Clients omit an optional field with null; an empty string is never a meaningful value.
    if (v.length === 0) return this.reject(field, 'must not be empty');
    if (!isWellFormed(v)) return this.reject(field, 'must be well-formed Unicode (contains a lone surrogate)');
    if (exceedsChars(v, opts.maxChars)) return this.reject(field, `must be at most ${opts.maxChars} characters`);
    if (opts.maxBytes !== undefined && Buffer.byteLength(v, 'utf8') > opts.maxBytes) {
      return this.reject(field, `must be at most ${opts.maxBytes} bytes in UTF-8`);
    }
    return v;
  }

  ident(field: string, required: boolean): string | null {
    return this.str(field, { required, maxChars: LIMITS.identifierMaxChars });
  }

  uuid(field: string): string | null {
    const v = this.ident(field, false);
    if (v === null) return null;
    if (!isUuid(v)) return this.reject(field, 'must be a UUID');
    return v.toLowerCase();
  }

  oneOf<T extends string>(field: string, allowed: readonly T[], required: boolean): T | null {
    const v = this.get(field);
    if (v === undefined || v === null) {
      if (required) this.fail(field, 'is required');
      return null;
    }
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      return this.reject(field, `must be one of ${allowed.join(', ')}`);
    }
    return v as T;
  }
}

/** Collects the violations of one event; returns the event only when it has none. */
function collectEvent(input: unknown, path: string, now: Date, out: FieldViolation[]): NewEvent | null {
  const before = out.length;

  if (!isPlainObject(input)) {
    out.push({ path, message: 'must be an AuditEventInput object' });
    return null;
  }
  const f = new FieldReader(input, path, out);
  for (const key of Object.keys(input)) if (!KNOWN_FIELDS.has(key)) f.fail(key, 'is not a known field');

  const suppliedEventId = f.uuid('eventId');
  const eventType = f.ident('eventType', true);
  if (eventType !== null && !EVENT_TYPE_RE.test(eventType)) {
    f.fail('eventType', 'must be a dotted lowercase name of [a-z0-9_-] segments, e.g. gateway.signal.received');
  }
  const eventCategory = f.ident('eventCategory', true);
  const eventAction = f.ident('eventAction', false);
  const outcome = f.oneOf<Outcome>('outcome', OUTCOMES, true);
  const correlationId = f.str('correlationId', {
    required: true,
    maxChars: LIMITS.identifierMaxChars,
    maxBytes: LIMITS.correlationIdMaxBytes,
  });
  const parentEventId = f.uuid('parentEventId');
  const actorType = f.ident('actorType', true);
  const actorId = f.ident('actorId', true);
  const resourceType = f.ident('resourceType', false);
  const resourceId = f.ident('resourceId', false);
  const resourceNamespace = f.ident('resourceNamespace', false);
  const clusterName = f.ident('clusterName', false);
  const severity = f.oneOf<Severity>('severity', SEVERITIES, false);
  const errorCode = f.ident('errorCode', false);
  const errorMessage = f.str('errorMessage', { required: false, maxChars: LIMITS.freeTextMaxChars });

  // Pairing is judged on what was sent, so a malformed resourceId does not also claim it is missing.
  if (f.provided('resourceType') && !f.provided('resourceId')) f.fail('resourceId', 'is required when resourceType is given');
  if (f.provided('resourceId') && !f.provided('resourceType')) f.fail('resourceType', 'is required when resourceId is given');
  if (f.provided('resourceNamespace') && !f.provided('resourceType') && !f.provided('resourceId')) {
    f.fail('resourceNamespace', 'is only allowed together with resourceType and resourceId');
  }

  let durationMs: number | null = null;
  const rawDuration = f.get('durationMs');
  if (rawDuration !== undefined && rawDuration !== null) {
    if (typeof rawDuration !== 'number' || !Number.isInteger(rawDuration) || rawDuration < 0 || rawDuration > LIMITS.durationMsMax) {
      f.fail('durationMs', `must be an integer from 0 to ${LIMITS.durationMsMax}`);
    } else {
      durationMs = rawDuration === 0 ? 0 : rawDuration; // -0 → 0
    }
  }

  let timestamp: string | null = null;
  const timestampDefaulted = !f.provided('timestamp');
  const nowMs = now.getTime();
  if (timestampDefaulted) {
    timestamp = new Date(nowMs).toISOString();
  } else {
    const raw = f.get('timestamp');
    let parsed: { ms: number } | { error: string };
    if (raw instanceof Date) parsed = Number.isNaN(raw.getTime()) ? { error: 'must be a valid date' } : { ms: raw.getTime() };
    else if (typeof raw === 'string') parsed = parseRfc3339(raw);
    else parsed = { error: 'must be an RFC 3339 date-time string' };
    if ('error' in parsed) f.fail('timestamp', parsed.error);
    else if (parsed.ms < 0) f.fail('timestamp', 'must not be before 1970-01-01T00:00:00Z');
    else if (parsed.ms > nowMs + LIMITS.maxFutureSkewMs || parsed.ms > MAX_TIMESTAMP_MS) {
      f.fail('timestamp', 'must not be more than 5 minutes in the future');
    } else timestamp = new Date(parsed.ms).toISOString();
  }

  let data: Json = null;
  const rawData = f.get('data');
  if (rawData !== undefined && rawData !== null) {
    const { issues } = inspectJson(rawData, {
      maxDepth: LIMITS.dataMaxDepth,
      maxBytes: LIMITS.dataMaxBytes,
      maxIssues: LIMITS.dataMaxIssues,
    });
    for (const issue of issues) {
      out.push({ path: issue.path.reduce<string>((p, k) => fieldPath(p, k), fieldPath(path, 'data')), message: issue.message });
    }
    // A detached, normalized copy (sorted keys, -0 → 0): the caller's object can't change it later.
    if (issues.length === 0) data = normalizedJsonCopy(rawData as Json);
  }

  if (out.length > before) return null;

  // Keys in sorted order (nested ones too): canonical JSON is then what JSON.stringify writes (json.ts).
  const record: AuditEventRecord = {
    actor: { id: actorId!, type: actorType! },
    clusterName,
    correlationId: correlationId!,
    data,
    durationMs,
    error: errorCode !== null || errorMessage !== null ? { code: errorCode, message: errorMessage } : null,
    eventAction,
    eventCategory: eventCategory!,
    eventId: suppliedEventId ?? uuidv7(),
    eventType: eventType!,
    outcome: outcome!,
    parentEventId,
    // The caller sets it from the authenticated principal (withRecordedBy); input cannot.
    recordedBy: null,
    resource: resourceType !== null && resourceId !== null ? { id: resourceId, namespace: resourceNamespace, type: resourceType } : null,
    severity,
    timestamp: timestamp!,
  };
  return { record, timestampDefaulted, eventIdGenerated: suppliedEventId == null };
}

function checkNow(now: Date): void {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new TypeError('now must be a valid Date');
}

/**
 * Validates one `AuditEventInput` into the record to store. Throws `ValidationError` listing
 * every violation (one per offending field, `path`-prefixed: `input.actorId`).
 */
export function validateEventInput(input: unknown, path = 'input', now: Date = new Date()): NewEvent {
  checkNow(now);
  const violations: FieldViolation[] = [];
  const event = collectEvent(input, path, now, violations);
  if (event === null) throw new ValidationError(violations);
  return event;
}

/**
 * Validates a batch (`createAuditEvents`): a non-empty list of at most `maxBatch` inputs, all
 * validated against the same `now`; violations of every element are collected (`input.3.actorId`).
 * A repeated eventId must carry byte-identical content; identical repeats are kept (the result is
 * positional) and the ledger must write them once.
 */
export function validateEventBatch(inputs: unknown, path = 'input', now: Date = new Date(), maxBatch: number = LIMITS.maxBatch): NewEvent[] {
  checkNow(now);
  if (!Array.isArray(inputs)) throw new ValidationError([{ path, message: 'must be a list of AuditEventInput' }]);
  if (inputs.length === 0) throw new ValidationError([{ path, message: 'must contain at least one event' }]);
  // Too long: refuse before doing per-element work.
  if (inputs.length > maxBatch) throw new ValidationError([{ path, message: `must contain at most ${maxBatch} events` }]);

  const violations: FieldViolation[] = [];
  const events: (NewEvent | null)[] = [];
  for (let i = 0; i < inputs.length; i++) events.push(collectEvent(inputs[i], fieldPath(path, i), now, violations));

  // Canonical bytes only where an eventId repeats: the ledger encodes every record anyway, and
  // generated ids never repeat.
  const firstById = new Map<string, { index: number; bytes?: Buffer }>();
  events.forEach((event, i) => {
    if (event === null) return;
    const first = firstById.get(event.record.eventId);
    if (first === undefined) firstById.set(event.record.eventId, { index: i });
    else {
      first.bytes ??= encodeRecord(events[first.index]!.record);
      if (!first.bytes.equals(encodeRecord(event.record))) {
        violations.push({
          path: fieldPath(fieldPath(path, i), 'eventId'),
          message: `repeats the eventId of ${fieldPath(path, first.index)} with different content`,
        });
      }
    }
  });

  if (violations.length > 0) throw new ValidationError(violations);
  return events as NewEvent[];
}

/** Stamps validated events with who writes them (the principal's name; null on an open server). */
export function withRecordedBy<T extends NewEvent>(events: T[], recordedBy: string | null): T[] {
  for (const e of events) e.record.recordedBy = recordedBy;
  return events;
}

/**
 * Idempotency: is `a` a retry of the already stored event? Content must be byte-equal in canonical
 * form, except that a server-chosen timestamp (`timestampDefaulted`) is not part of the comparison —
 * a retry without a timestamp gets a new `now` but is still the same event. `recordedBy` is content:
 * the same eventId sent by another principal is an EVENT_ID_CONFLICT, not a retry (the stored
 * record must keep saying who wrote it, and one principal must not learn another's events by
 * replaying ids).
 */
export function sameContent(a: NewEvent, stored: AuditEventRecord): boolean {
  const candidate = a.timestampDefaulted ? { ...a.record, timestamp: stored.timestamp } : a.record;
  return encodeRecord(candidate).equals(encodeRecord(stored));
}
