/**
 * The CSV form of an export, for spreadsheets (no proofs): a UTF-8 byte-order mark (so spreadsheet
 * programs read the file as UTF-8), a header row, one row per event. RFC 4180: CRLF line ends, a
 * cell holding `"`, `,`, CR or LF is quoted with `"` doubled. Cells are defused for spreadsheets
 * (OWASP, CSV injection): a cell starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`.
 * Nulls are empty cells; `data` is its compact (canonical) JSON. Pure.
 */
import { canonicalJson } from '../events/json.ts';
import type { AuditEventRecord } from '../events/types.ts';

export const CSV_COLUMNS = [
  'eventId',
  'timestamp',
  'eventType',
  'eventCategory',
  'eventAction',
  'outcome',
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
  'recordedBy',
  'data',
  'recordedAt',
  'txId',
  'key',
] as const;

export const CSV_BOM = '\ufeff';

const NEEDS_QUOTES = /[",\r\n]/;
const FORMULA = /^[=+\-@\t\r]/;

/** One cell: defused, then quoted when RFC 4180 needs it. */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let s = String(value);
  if (FORMULA.test(s)) s = `'${s}`;
  return NEEDS_QUOTES.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export const csvHeader = (): string => `${CSV_BOM}${CSV_COLUMNS.join(',')}\r\n`;

/** One event's row; `key` is the entry key as the API's `ledger.key` shows it (timeline keys are ASCII). */
export function csvRow(r: AuditEventRecord, ledger: { txId: string; key: Buffer; recordedAt: string | null }): string {
  const cells: (string | number | null)[] = [
    r.eventId,
    r.timestamp,
    r.eventType,
    r.eventCategory,
    r.eventAction,
    r.outcome,
    r.correlationId,
    r.parentEventId,
    r.actor.type,
    r.actor.id,
    r.resource?.type ?? null,
    r.resource?.id ?? null,
    r.resource?.namespace ?? null,
    r.clusterName,
    r.severity,
    r.durationMs,
    r.error?.code ?? null,
    r.error?.message ?? null,
    r.recordedBy,
    r.data === null ? null : canonicalJson(r.data),
    ledger.recordedAt,
    ledger.txId,
    ledger.key.toString('latin1'),
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}
