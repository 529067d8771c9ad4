/**
 * The GraphQL API's results as the tests read them (schema.graphql): every field a selection can
 * hold, so one type serves every query of the tests. A response holds only what its query selected.
 */
import type { ProofBundle } from '../../src/proof/types.ts';

export interface ActorJson {
  id: string;
  type: string;
}

export interface ResourceJson {
  id: string;
  namespace: string | null;
  type: string;
}

export interface LedgerLocationJson {
  key: string;
  txId: string;
}

export interface ProofBundleJson {
  json: ProofBundle;
  txId: string;
  verified: boolean;
}

export interface VerificationJson {
  eventId: string;
  proof: ProofBundleJson;
  verified: boolean;
}

export interface AuditEventJson {
  id: string;
  eventId: string;
  eventType: string;
  eventCategory: string;
  eventAction: string | null;
  correlationId: string;
  parentEventId: string | null;
  outcome: 'SUCCESS' | 'FAILURE' | 'PENDING';
  severity: 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL' | null;
  timestamp: string;
  recordedAt: string;
  recordedBy: string | null;
  actor: ActorJson;
  resource: ResourceJson | null;
  clusterName: string | null;
  durationMs: number | null;
  error: { code: string | null; message: string | null } | null;
  data: unknown;
  ledger: LedgerLocationJson;
  verification: VerificationJson;
}

export interface PageInfoJson {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

export interface AuditEventConnectionJson {
  edges: { cursor: string; node: AuditEventJson }[];
  pageInfo: PageInfoJson;
}

export interface LedgerStateJson {
  txId: string;
  txHash: string;
  signature: { publicKey: string; signature: string } | null;
}

/** Query, Mutation and Subscription fields under their own names (the tests alias a few; those say so). */
export interface ApiData {
  auditEvent: AuditEventJson | null;
  auditEvents: AuditEventConnectionJson;
  timeline: AuditEventConnectionJson;
  ledgerState: LedgerStateJson;
  node: AuditEventJson | null;
  verifyAuditEvent: VerificationJson;
  consistencyProof: { fromTxId: string; toTxId: string; json: string };
  createAuditEvent: { created: boolean; event: AuditEventJson; proof: ProofBundleJson };
  createAuditEvents: { events: AuditEventJson[]; proofs: ProofBundleJson[] };
  auditEventCreated: AuditEventJson;
}

/** A field violation in a BAD_USER_INPUT error's extensions. */
export interface ViolationJson {
  path: string;
  message: string;
}

/** An error of a GraphQL response: `extensions.code`, and by code more (src/graphql/errors.ts). */
export interface GraphQLErrorJson {
  message: string;
  path?: (string | number)[];
  locations?: { line: number; column: number }[];
  extensions?: {
    code?: string;
    /** BAD_USER_INPUT */
    violations?: ViolationJson[];
    /** EVENT_ID_CONFLICT */
    eventId?: string;
    /** SUBSCRIPTION_OVERFLOW */
    afterTxId?: string;
    /** RATE_LIMITED */
    retryAfterMs?: number;
    /** QUERY_LIMIT_EXCEEDED: the limit's name and value */
    limit?: string;
    max?: number;
    [key: string]: unknown;
  };
}

/** A GraphQL response body. */
export interface GraphQLBody<T = ApiData> {
  data?: T | null;
  errors?: GraphQLErrorJson[];
}

/** GET /readyz: each check's entry has `ok` and what the check adds (the index's `lag`), or the failure's `code` and `message`. */
export interface ReadyzBody {
  status: 'ready' | 'unavailable';
  failing: string[];
  checks: Record<string, { ok: boolean; [detail: string]: unknown }>;
}

/** A graphql-transport-ws message from the server, as the tests that speak the protocol by hand read it. */
export type WsMessageJson =
  | { type: 'connection_ack'; payload?: unknown }
  | { type: 'ping' | 'pong'; payload?: unknown }
  | { type: 'next'; id: string; payload: GraphQLBody }
  | { type: 'error'; id: string; payload: GraphQLErrorJson[] }
  | { type: 'complete'; id: string };
