import type { AuditEventRecord, NewEvent } from '../events/types.ts';
import type { ConsistencyProofJson, DualProofJson, LedgerState, ProofBundle, TxHeaderJson } from '../proof/types.ts';

/** An event as read back from the ledger. */
export interface StoredEvent {
  record: AuditEventRecord;
  /** Ledger transaction that committed it (decimal string: 64-bit). */
  txId: string;
  /** Gateway-level key of the entry (what the proof bundle's `entry.key` holds). */
  key: Buffer;
  /**
   * When the ledger committed it (RFC 3339). null when the read did not carry it: immudb returns a
   * tx's time only with all of its entries, so reads leave it to `commitTimes`, batched, on demand.
   */
  recordedAt: string | null;
}

export interface AppendResult {
  event: StoredEvent;
  proof: ProofBundle;
  /** false when the eventId was already stored with the same content (idempotent retry). */
  created: boolean;
}

/** Told the results of one successful append (Ledger.onAppended). */
export type AppendListener = (results: AppendResult[]) => void;

/** Keyset position inside one correlation's timeline. */
export interface TimelinePosition {
  timestamp: string;
  eventId: string;
}

export interface TimelinePage {
  events: StoredEvent[];
  /** There are more events beyond this page in the scan direction. */
  hasMore: boolean;
}

export type ScanDirection = 'asc' | 'desc';

/** What `Ledger.scanTimeline` reads. */
export interface TimelineScan {
  /** Strictly after this position in `direction`. */
  after?: TimelinePosition;
  limit: number;
  direction: ScanDirection;
  /**
   * The window on the event timestamp, [since, until) in ms since the epoch (either may be absent,
   * and may lie outside 0..MAX_TIMESTAMP_MS). Pushed into the scan: it starts at the window's near
   * bound (or `after`, when that is further in) and stops at its far one.
   */
  since?: number;
  until?: number;
}

/** One committed ledger transaction and the audit events it holds (none for foreign txs). */
export interface CommittedTx {
  txId: string;
  recordedAt: string;
  events: StoredEvent[];
}

/**
 * A committed tx proven against an anchor, a state of the ledger at or after it (`Ledger.proveTxAt`):
 * what an evidence export carries per tx. Verified before it is returned.
 */
export interface AnchoredTx {
  /** The tx's header, as proof bundles give it. */
  tx: TxHeaderJson;
  /** immudb's dual proof from this tx (source) to the anchor (target); null when the tx is the anchor. */
  dualProof: DualProofJson | null;
  /**
   * The entry of this tx with this gateway key and value (immudb's one-byte prefixes not included):
   * its leaf, KV metadata and inclusion proof (hex terms, bottom-up) in the tx's tree, which was
   * rebuilt from the tx's entries and found to hash to tx.eH. null when the tx holds no such entry.
   */
  entry(key: Buffer, value: Buffer): { leaf: number; metadata: Buffer; terms: string[] } | null;
}

/** What `Ledger.readInBulk` yields: the txs it covers, then (or in between) their events. */
export type BulkReadStep =
  /** The next txs covered, in txId order, with how many events each holds. */
  | { txs: { txId: string; events: number }[] }
  /** Events of txs already listed, each once, in any order; `ordinal` is its place in commit order (0: the first tx's first event). */
  | { events: { ordinal: number; record: AuditEventRecord }[] };

/**
 * The system of record. Implemented by the immudb adapter and the embedded ledger; both pass
 * the same contract suite.
 */
export interface Ledger {
  readonly kind: 'immudb' | 'embedded';
  readonly database: string;
  /** Most events one append may hold (one transaction: a caller's batch is never split). */
  readonly maxEventsPerAppend: number;
  /**
   * Appends the events in one transaction, all or nothing. Each result carries a proof bundle
   * that was verified against the gateway's trusted state before it is returned.
   * Throws AuditError EVENT_ID_CONFLICT (nothing written) when an eventId is stored with other content.
   */
  append(events: NewEvent[]): Promise<AppendResult[]>;
  /**
   * Calls `listener` with the results of every append on this ledger that succeeds, before the
   * appending caller continues (the indexer's kick, the live feed's `appended`). Returns its removal.
   */
  onAppended(listener: AppendListener): () => void;
  /** Verified read with a fresh proof from `trusted` (default: the gateway's trusted state). null when absent. */
  getVerified(eventId: string, trusted?: LedgerState): Promise<AppendResult | null>;
  /**
   * Verified read with a fresh proof anchored where the reader chooses: the bundle's trustedState
   * is the ledger's state at tx `trustedTxId` (canonical decimal, 1 to the newest tx), linked to the
   * event's tx in whichever direction the ids require. Before it returns, the later of the two
   * states is checked to be in the gateway's trusted history (so the anchor is too), else
   * VERIFICATION_FAILED. null when the event is absent. A tx beyond the newest is BAD_USER_INPUT
   * (path `trustedTxId`).
   */
  getVerifiedFrom(eventId: string, trustedTxId: string): Promise<AppendResult | null>;
  /**
   * A consistency proof (`auditgraph.consistency.v1`) from the state at tx `fromTxId` to the state
   * at tx `toTxId` (default: the newest), fromTxId <= toTxId, both canonical decimal from 1. It was
   * verified, and `to` checked to be in the gateway's trusted history, before it is returned (else
   * VERIFICATION_FAILED). A tx beyond the newest, or from after to, is BAD_USER_INPUT (path
   * `fromTxId` / `toTxId`).
   */
  consistencyProof(fromTxId: string, toTxId?: string): Promise<ConsistencyProofJson>;
  /**
   * Tx `txId` proven against `anchor` (a state of this ledger at or after tx `txId`, e.g. the
   * trusted state): its header, the dual proof to the anchor and its entries' inclusion proofs, all
   * verified (VERIFICATION_FAILED otherwise, or when the anchor is not a state of this ledger).
   */
  proveTxAt(txId: string, anchor: LedgerState): Promise<AnchoredTx>;
  /** Batched plain read by eventId (for DataLoader); position i answers eventIds[i]. */
  getMany(eventIds: readonly string[]): Promise<(StoredEvent | null)[]>;
  /**
   * One correlation's events ordered by (timestamp, eventId), strictly after `after` in `direction`,
   * within the window [since, until); `hasMore` counts only events within the window.
   */
  scanTimeline(correlationId: string, options: TimelineScan): Promise<TimelinePage>;
  /**
   * Committed transactions with txId > afterTxId, in txId order, at most `maxTxs` of them: what
   * the index and the live subscriptions follow. Every tx is listed, even one without events, so a
   * follower's checkpoint can move past it.
   */
  readTransactions(afterTxId: string, maxTxs: number): Promise<CommittedTx[]>;
  /**
   * The events of whole txs after `afterTxId`, as many txs as hold at most `maxEvents` events (at
   * least one tx), for building an index in bulk: every tx is listed before its events come, and the
   * events come in whatever order the ledger reads fastest (immudb: key order). Each failed read is
   * tried up to `attempts` times (default 1) before the generator throws.
   */
  readInBulk(afterTxId: string, options: { maxEvents: number; attempts?: number }): AsyncGenerator<BulkReadStep, void, undefined>;
  /** Commit times of transactions (RFC 3339), position i for txIds[i]; null for an unknown tx. */
  commitTimes(txIds: readonly string[]): Promise<(string | null)[]>;
  /** The newest committed txId (as the ledger reports it; for lag, not for trust). */
  lastTxId(): Promise<string>;
  /** The gateway's current trusted ledger state (only ever advanced through verified proofs). */
  trustedState(): Promise<LedgerState>;
  /** Resolves when the ledger answers; throws LEDGER_UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
