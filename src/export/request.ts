/**
 * What `GET /export` asks for, from its query parameters: `format` (ndjson, the default, or csv),
 * `correlationId` (one timeline) or `filter` (an AuditEventFilter as JSON, through the index;
 * neither: every event), and `since` / `until` (RFC 3339, [since, until)). Checked by the code
 * the GraphQL arguments go through (events/filter.ts, events/time.ts); every problem is reported at
 * once as BAD_USER_INPUT at its parameter (`filter.outcome.0`). Pure.
 */
import { ValidationError, type FieldViolation } from '../errors.ts';
import { INDEX_FIELDS, normalizeFilter, type AuditEventFilterInput, type NormalizedFilter } from '../events/filter.ts';
import { exportWindow, filterJson, type ExportSelection } from './format.ts';

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportRequest {
  format: ExportFormat;
  /** As the header states it. */
  selection: ExportSelection;
  /** Filter mode: what the index is asked (the client's filter with the window); null: one correlation's timeline. */
  indexFilter: AuditEventFilterInput | null;
  /** What every exported event matches (the correlation as a one-value term in timeline mode). */
  filter: NormalizedFilter;
  /** The window, normalized (format.ts exportWindow), in ms. */
  since: number | null;
  until: number | null;
}

const PARAMS = ['format', 'correlationId', 'filter', 'since', 'until'] as const;
/** The fields an AuditEventFilter has (the GraphQL input type refuses any other). */
const FILTER_FIELDS: ReadonlySet<string> = new Set([...INDEX_FIELDS, 'correlationIds', 'since', 'until']);

export function parseExportQuery(params: URLSearchParams): ExportRequest {
  const violations: FieldViolation[] = [];
  const seen = new Map<string, string>();
  for (const [name, value] of params) {
    if (!(PARAMS as readonly string[]).includes(name))
      violations.push({ path: name.slice(0, 64), message: `unknown parameter (expected ${PARAMS.join(', ')})` });
    else if (seen.has(name)) violations.push({ path: name, message: 'given more than once' });
    else seen.set(name, value);
  }
  const format = seen.get('format') ?? 'ndjson';
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) violations.push({ path: 'format', message: `must be one of ${EXPORT_FORMATS.join(', ')}` });

  const correlationId = seen.get('correlationId');
  const rawFilter = seen.get('filter');
  if (correlationId !== undefined && rawFilter !== undefined)
    violations.push({ path: 'filter', message: 'cannot be combined with correlationId: give one of them' });

  let input: Record<string, unknown> = {};
  if (rawFilter !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawFilter);
    } catch (e) {
      violations.push({ path: 'filter', message: `is not JSON (${(e as Error).message.slice(0, 120)})` });
    }
    if (parsed !== undefined) {
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        violations.push({ path: 'filter', message: 'must be a JSON object (an AuditEventFilter)' });
      else {
        input = parsed as Record<string, unknown>;
        for (const k of Object.keys(input))
          if (!FILTER_FIELDS.has(k)) violations.push({ path: `filter.${k.slice(0, 64)}`, message: 'is not a field of AuditEventFilter' });
      }
    }
  }

  // The window: the parameters, or the filter's own since/until, not both.
  for (const bound of ['since', 'until'] as const) {
    if (seen.has(bound) && input[bound] !== undefined && input[bound] !== null) {
      violations.push({ path: `filter.${bound}`, message: `cannot be combined with the ${bound} parameter: give it once` });
    }
  }
  const sinceText = seen.get('since') ?? input.since;
  const untilText = seen.get('until') ?? input.until;

  let filter: NormalizedFilter | null = null;
  const filterInput = { ...input, since: sinceText ?? null, until: untilText ?? null } as AuditEventFilterInput;
  try {
    if (correlationId !== undefined) {
      filter = normalizeFilter({ correlationId, since: filterInput.since ?? null, until: filterInput.until ?? null }, '');
    } else filter = normalizeFilter(filterInput, 'filter');
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    // Each problem at the parameter it came from: timeline mode checks them under their own names
    // (a path of '' + '.correlationId'), a window given as parameters is not the filter's.
    const at = (path: string) => {
      if (path.startsWith('.')) return path.slice(1);
      const bound = /^filter\.(since|until)$/.exec(path)?.[1];
      return bound && seen.has(bound) ? bound : path;
    };
    violations.push(...e.violations.map((v) => ({ path: at(v.path), message: v.message })));
  }
  if (violations.length > 0 || filter === null) throw new ValidationError(violations);

  const window = exportWindow(filter.since, filter.until);
  return {
    format: format as ExportFormat,
    selection: correlationId !== undefined ? { correlationId } : { filter: filterJson(filter) },
    indexFilter: correlationId !== undefined ? null : filterInput,
    filter: { ...filter, ...window },
    ...window,
  };
}
