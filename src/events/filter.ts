/**
 * Event filters (`AuditEventFilter` of the API contract): validation and normalization, and the
 * match of one record. The index (index/) plans its queries from a normalized filter and live
 * subscriptions (live/) select with it; neither owns it.
 */
import { ValidationError, type FieldViolation } from '../errors.ts';
import { isWellFormed } from './json.ts';
import { LIMITS } from './limits.ts';
import { parseRfc3339 } from './time.ts';
import { OUTCOMES, SEVERITIES, type AuditEventRecord } from './types.ts';
import { isUuid } from './uuid.ts';

/** The fields a filter selects on, and the index keys on. */
export const INDEX_FIELDS = [
  'correlationId',
  'eventType',
  'eventCategory',
  'actorId',
  'actorType',
  'outcome',
  'resourceType',
  'resourceId',
  'severity',
  'eventAction',
  'resourceNamespace',
  'clusterName',
  'recordedBy',
  'parentEventId',
] as const;
export type IndexField = (typeof INDEX_FIELDS)[number];

const UNRESERVED_BYTE: boolean[] = Array.from({ length: 256 }, (_, b) => /^[A-Za-z0-9._~-]$/.test(String.fromCharCode(b)));
const HEX = '0123456789ABCDEF';

/**
 * Percent-encodes UTF-8 bytes outside [A-Za-z0-9._~-]. The result never contains `:`, `{`, `}`,
 * `*`, `?`, `[` or `]`, so a crafted value can neither reach another field's keys, break the
 * cluster hash tag, nor match a SCAN pattern; and it is injective on well-formed strings.
 */
export function escapeValue(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += UNRESERVED_BYTE[b] ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  return out;
}

/** The inverse of escapeValue (index keys back to values: stats groups, correlation ids). */
export function unescapeValue(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(s.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** A record's value of one field; undefined when the event has none (no resource, no severity…). */
export function fieldValue(r: AuditEventRecord, field: IndexField): string | undefined {
  switch (field) {
    case 'correlationId':
      return r.correlationId;
    case 'eventType':
      return r.eventType;
    case 'eventCategory':
      return r.eventCategory;
    case 'actorId':
      return r.actor.id;
    case 'actorType':
      return r.actor.type;
    case 'outcome':
      return r.outcome;
    case 'resourceType':
      return r.resource?.type;
    case 'resourceId':
      return r.resource?.id;
    case 'severity':
      return r.severity ?? undefined;
    case 'eventAction':
      return r.eventAction ?? undefined;
    case 'resourceNamespace':
      return r.resource?.namespace ?? undefined;
    case 'clusterName':
      return r.clusterName ?? undefined;
    case 'recordedBy':
      return r.recordedBy ?? undefined;
    case 'parentEventId':
      return r.parentEventId ?? undefined;
  }
}

/** `AuditEventFilter` of the API contract, as a client sends it (one declaration a field: alike lines by design). */
export interface AuditEventFilterInput {
  correlationId?: string | null;
  eventType?: readonly string[] | null;
  eventCategory?: readonly string[] | null;
  actorId?: readonly string[] | null;
  actorType?: readonly string[] | null;
  outcome?: readonly string[] | null;
  resourceType?: string | null;
  resourceId?: string | null;
  severity?: readonly string[] | null;
  eventAction?: readonly string[] | null;
  resourceNamespace?: readonly string[] | null;
  clusterName?: readonly string[] | null;
  recordedBy?: readonly string[] | null;
  parentEventId?: string | null;
  /** The list form of `correlationId` (OR); with both, an event must match both (the intersection). */
  correlationIds?: readonly string[] | null;
  since?: string | null;
  until?: string | null;
}

export interface FilterTerm {
  field: IndexField;
  /** OR within the term; sorted, distinct; empty (matches nothing) when correlationId ∩ correlationIds is. */
  values: string[];
}

export interface NormalizedFilter {
  /** AND across terms; in INDEX_FIELDS order. */
  terms: FilterTerm[];
  /** [since, until) in ms; null: unbounded. */
  since: number | null;
  until: number | null;
}

/** Most values one list field may hold: each is one more set to count and merge or probe. */
export const MAX_VALUES_PER_FIELD = 100;

const LIST_FIELDS: ReadonlySet<IndexField> = new Set([
  'eventType',
  'eventCategory',
  'actorId',
  'actorType',
  'outcome',
  'severity',
  'eventAction',
  'resourceNamespace',
  'clusterName',
  'recordedBy',
]);

function checkValue(field: IndexField, value: unknown, path: string, out: FieldViolation[]): value is string {
  const fail = (message: string) => {
    out.push({ path, message });
    return false;
  };
  if (typeof value !== 'string') return fail('must be a string');
  if (value.length === 0) return fail('must not be empty');
  if (!isWellFormed(value)) return fail('must be well-formed Unicode (contains a lone surrogate)');
  if (field === 'outcome' && !(OUTCOMES as readonly string[]).includes(value)) return fail(`must be one of ${OUTCOMES.join(', ')}`);
  if (field === 'severity' && !(SEVERITIES as readonly string[]).includes(value)) return fail(`must be one of ${SEVERITIES.join(', ')}`);
  // Stored lowercased (validate.ts): any other text could only ever match nothing.
  if (field === 'parentEventId' && !isUuid(value)) return fail('must be a UUID');
  // Longer values cannot be stored, so they could only ever match nothing: say so instead.
  if ([...value].length > LIMITS.identifierMaxChars) return fail(`must be at most ${LIMITS.identifierMaxChars} characters`);
  if (field === 'correlationId' && Buffer.byteLength(value, 'utf8') > LIMITS.correlationIdMaxBytes) {
    return fail(`must be at most ${LIMITS.correlationIdMaxBytes} bytes in UTF-8`);
  }
  return true;
}

/**
 * A window bound (`since`, `until`: filters and `timeline`) in ms, null when absent; a bad one is
 * added to `violations` at `path`.
 */
export function parseWindowBound(raw: unknown, path: string, violations: FieldViolation[]): number | null {
  if (raw === undefined || raw === null) return null;
  // The parser of event timestamps too, so a text is refused (leap seconds…) for the same reason.
  const parsed = typeof raw === 'string' ? parseRfc3339(raw) : { error: 'must be an RFC 3339 date-time string' };
  if ('ms' in parsed) return parsed.ms;
  violations.push({ path, message: parsed.error });
  return null;
}

/**
 * Validates and normalizes a filter; every problem is reported at once (BAD_USER_INPUT).
 * `correlationIds` is the list form of `correlationId`: both become one `correlationId` term, and
 * with both given an event must match both, so its values are the intersection (maybe none: the
 * filter then matches nothing).
 */
export function normalizeFilter(input: AuditEventFilterInput | null | undefined, path = 'filter'): NormalizedFilter {
  const violations: FieldViolation[] = [];
  const terms: FilterTerm[] = [];
  const f = (input ?? {}) as Record<string, unknown>;
  const listValues = (field: IndexField, name: string, raw: unknown): string[] | null => {
    if (!Array.isArray(raw)) {
      violations.push({ path: `${path}.${name}`, message: 'must be a list' });
      return null;
    }
    if (raw.length === 0) {
      violations.push({ path: `${path}.${name}`, message: 'must not be empty: omit the field to match any value' });
      return null;
    }
    if (raw.length > MAX_VALUES_PER_FIELD) {
      violations.push({ path: `${path}.${name}`, message: `must have at most ${MAX_VALUES_PER_FIELD} values` });
      return null;
    }
    const values = new Set<string>();
    raw.forEach((v, i) => {
      if (checkValue(field, v, `${path}.${name}.${i}`, violations)) values.add(field === 'parentEventId' ? v.toLowerCase() : v);
    });
    return [...values].sort();
  };
  for (const field of INDEX_FIELDS) {
    const raw = f[field];
    let values: string[] | null = null;
    if (raw !== undefined && raw !== null) {
      if (LIST_FIELDS.has(field)) values = listValues(field, field, raw);
      else if (checkValue(field, raw, `${path}.${field}`, violations)) values = [field === 'parentEventId' ? raw.toLowerCase() : raw];
    }
    if (field === 'correlationId' && f.correlationIds !== undefined && f.correlationIds !== null) {
      const list = listValues(field, 'correlationIds', f.correlationIds);
      if (list) values = values === null ? list : list.filter((v) => values!.includes(v));
    }
    if (values) terms.push({ field, values });
  }
  const since = parseWindowBound(f.since, `${path}.since`, violations);
  const until = parseWindowBound(f.until, `${path}.until`, violations);
  // An inverted window is a mistake, not an empty answer (timeline says the same of its arguments).
  if (since !== null && until !== null && since > until) violations.push({ path: `${path}.since`, message: 'must not be after until' });
  if (violations.length > 0) throw new ValidationError(violations);
  return { terms, since, until };
}

/**
 * Whether a ledger record satisfies the filter: the resolver re-checks what the index returned, and
 * live subscriptions select with it (once per event and subscriber, so it allocates nothing).
 */
export function matches(r: AuditEventRecord, filter: NormalizedFilter): boolean {
  for (const t of filter.terms) {
    const v = fieldValue(r, t.field);
    if (v === undefined || !t.values.includes(v)) return false;
  }
  if (filter.since === null && filter.until === null) return true;
  const ms = Date.parse(r.timestamp);
  return (filter.since === null || ms >= filter.since) && (filter.until === null || ms < filter.until);
}
