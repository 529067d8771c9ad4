export const OUTCOMES = ['SUCCESS', 'FAILURE', 'PENDING'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const SEVERITIES = ['INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** `AuditEventInput` of the API contract, as a client sends it (unvalidated). */
export interface AuditEventInput {
  eventId?: string | null;
  eventType: string;
  eventCategory: string;
  eventAction?: string | null;
  outcome: string;
  timestamp?: string | Date | null;
  correlationId: string;
  parentEventId?: string | null;
  actorType: string;
  actorId: string;
  resourceType?: string | null;
  resourceId?: string | null;
  resourceNamespace?: string | null;
  clusterName?: string | null;
  severity?: string | null;
  durationMs?: number | null;
  errorCode?: string | null;
  errorMessage?: string | null;
  data?: unknown;
}

/**
 * The event as it is written to the ledger (serialized canonically, see `canonical.ts`).
 * Absent optional fields are `null`, never missing, so that equal content has equal bytes.
 */
export interface AuditEventRecord {
  eventId: string;
  eventType: string;
  eventCategory: string;
  eventAction: string | null;
  outcome: Outcome;
  /** RFC 3339 UTC with milliseconds: `2025-01-02T03:04:05.678Z`. */
  timestamp: string;
  correlationId: string;
  parentEventId: string | null;
  actor: { type: string; id: string };
  resource: { type: string; id: string; namespace: string | null } | null;
  clusterName: string | null;
  severity: Severity | null;
  durationMs: number | null;
  error: { code: string | null; message: string | null } | null;
  data: Json;
  /**
   * The authenticated principal that wrote it (its token's name), null on an open server. Set by
   * the server, never from client input, and stored in the record so that the proof covers it.
   */
  recordedBy: string | null;
}

/** A validated event ready to append, with what the server chose for the client. */
export interface NewEvent {
  record: AuditEventRecord;
  /** The client sent no timestamp: the server's clock chose it, so idempotent retries ignore it. */
  timestampDefaulted: boolean;
  /** The server generated the eventId (UUIDv7): not stored yet unless these very events are resubmitted, so looked up only after a refused write. */
  eventIdGenerated?: boolean;
}
