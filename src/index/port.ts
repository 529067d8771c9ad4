/**
 * The secondary index: sets of ledger positions by field value, derived from the ledger and
 * rebuildable from it at any time. It answers "which events, in which order"; what an event says
 * is always read from the ledger, so a tampered index can hide events but never forge one.
 *
 * Implemented in Redis (redis-index.ts, shared by every gateway instance) and in process
 * (memory-index.ts, when REDIS_URL is unset). Both pass the same contract suite.
 */
import type { AuditEventFilterInput } from '../events/filter.ts';
import type { EventPosition, Page, PageArgs } from '../events/paging.ts';
import type { AuditEventRecord } from '../events/types.ts';
import type { BuiltIndex } from './bulk-build.ts';
import type { IndexLayoutOptions } from './codes.ts';
import type { IndexOrder } from './range.ts';
import type { StatsArgs, StatsResult } from './counting.ts';
import type { CorrelationPage, CorrelationQuery } from './correlations.ts';

export type IndexStatus =
  /** A rebuild has started and is deleting the old keys. */
  | 'clearing'
  /** A bulk load is writing a built index into the empty one (Redis); found by anyone else, it was cut short. */
  | 'loading'
  /** Following the ledger from scratch; queries are refused until `target` is reached. */
  | 'building'
  | 'ready';

export interface IndexState {
  /** Identity of this build of the index; every rebuild makes a new one. */
  epoch: string;
  /** Every ledger tx up to this one is applied (decimal). */
  checkpoint: string;
  status: IndexStatus;
  /** The ledger head when this build started: reaching it makes the index ready. */
  target: string;
  /** Distinct events in the index. */
  events: number;
  /** Events of every applied tx, summed: equals `events` unless a tx was ever applied twice. */
  applied: number;
}

/** One ledger tx's worth of index entries. */
export interface IndexTx {
  txId: string;
  records: AuditEventRecord[];
}

export interface ApplyBatch {
  epoch: string;
  /** The checkpoint the batch continues from: applied only if the index is still there. */
  fromTxId: string;
  /** Consecutive txs after fromTxId; the last one becomes the checkpoint. */
  txs: IndexTx[];
}

export type ApplyResult =
  | { ok: true; added: number; status: IndexStatus }
  /** Nothing was written: the index is gone, was rebuilt, is being cleared, or moved on. */
  | { ok: false; reason: 'missing' | 'epoch' | 'clearing' | 'loading' | 'moved' | 'lease' };

export interface IndexQuery extends PageArgs {
  filter?: AuditEventFilterInput | null;
  orderBy?: IndexOrder | null;
}

export interface IndexEdge {
  eventId: string;
  position: EventPosition;
  cursor: string;
}

export type IndexPage = Page<IndexEdge>;

export interface TickResult {
  /** This owner holds (or now took) the lease: it alone follows the ledger. */
  leased: boolean;
  state: IndexState | null;
}

export interface EventIndex {
  readonly kind: 'redis' | 'memory';
  /** Its layout knobs, resolved: a bulk build for it must use the same. */
  readonly layout: Required<IndexLayoutOptions>;
  /**
   * Takes or renews the follower lease for `owner` and returns the index state, in one round
   * trip. `force` takes the lease from whoever holds it (the reindex command).
   */
  tick(owner: string, leaseMs: number, force?: boolean): Promise<TickResult>;
  releaseLease(owner: string): Promise<void>;
  state(): Promise<IndexState | null>;
  /**
   * Starts a new build: a new epoch (which fences off every writer of the old one), status
   * `clearing`, every index key deleted, then status `building` at checkpoint 0 (or `ready` when
   * `target` is 0).
   */
  reset(epoch: string, target: string): Promise<void>;
  /** Adds the txs' entries and moves the checkpoint, atomically; refused unless epoch and checkpoint match. */
  apply(batch: ApplyBatch): Promise<ApplyResult>;
  /**
   * Writes an index built in memory (bulk-build.ts) into the empty index of `epoch` (building, at
   * checkpoint 0) and moves the checkpoint to its last tx; refused (nothing more written) as soon
   * as the epoch moved on or `owner` lost the lease, which each step renews.
   */
  load(epoch: string, built: BuiltIndex, owner: string, leaseMs: number): Promise<ApplyResult>;
  /** One page of eventIds. Throws ValidationError on bad input, INDEX_UNAVAILABLE when it cannot answer. */
  query(q: IndexQuery): Promise<IndexPage>;
  /** Events matching the filter, exactly (`totalCount`). Errors as `query`. */
  count(filter: AuditEventFilterInput | null | undefined): Promise<number>;
  /** `auditEventStats`: total, groups and histogram, exactly. Errors as `query`. */
  stats(q: StatsArgs): Promise<StatsResult>;
  /** `correlations`: the most recently active first. Errors as `query`. */
  correlations(q: CorrelationQuery): Promise<CorrelationPage>;
  /** The applied checkpoint, or null when there is no index. */
  checkpoint(): Promise<string | null>;
  /** Resolves when the index store answers; throws AuditError INDEX_UNAVAILABLE otherwise. */
  health(): Promise<void>;
  close(): Promise<void>;
}
