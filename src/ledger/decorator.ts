import type { NewEvent } from '../events/types.ts';
import type { LedgerState } from '../proof/types.ts';
import type { AppendListener, Ledger, TimelineScan } from './port.ts';

/** What a Ledger and a LedgerBackend (group-commit.ts) both answer: the reads, `trustedState` and `ping`. */
export type LedgerReads = Pick<
  Ledger,
  | 'getVerified'
  | 'getVerifiedFrom'
  | 'consistencyProof'
  | 'proveTxAt'
  | 'getMany'
  | 'scanTimeline'
  | 'readTransactions'
  | 'readInBulk'
  | 'commitTimes'
  | 'lastTxId'
  | 'trustedState'
  | 'ping'
>;

/**
 * Delegates every read to `inner`: group commit's reads go to its backend unchanged, and so do a
 * decorator's (below) unless it overrides them.
 */
export class ReadDelegate<R extends LedgerReads> implements LedgerReads {
  constructor(protected readonly inner: R) {}

  getVerified(eventId: string, trusted?: LedgerState) {
    return this.inner.getVerified(eventId, trusted);
  }
  getVerifiedFrom(eventId: string, trustedTxId: string) {
    return this.inner.getVerifiedFrom(eventId, trustedTxId);
  }
  consistencyProof(fromTxId: string, toTxId?: string) {
    return this.inner.consistencyProof(fromTxId, toTxId);
  }
  proveTxAt(txId: string, anchor: LedgerState) {
    return this.inner.proveTxAt(txId, anchor);
  }
  getMany(eventIds: readonly string[]) {
    return this.inner.getMany(eventIds);
  }
  scanTimeline(correlationId: string, options: TimelineScan) {
    return this.inner.scanTimeline(correlationId, options);
  }
  readTransactions(afterTxId: string, maxTxs: number) {
    return this.inner.readTransactions(afterTxId, maxTxs);
  }
  readInBulk(afterTxId: string, options: { maxEvents: number; attempts?: number }) {
    return this.inner.readInBulk(afterTxId, options);
  }
  commitTimes(txIds: readonly string[]) {
    return this.inner.commitTimes(txIds);
  }
  lastTxId() {
    return this.inner.lastTxId();
  }
  trustedState() {
    return this.inner.trustedState();
  }
  ping() {
    return this.inner.ping();
  }
}

/**
 * A Ledger around another that delegates every member of the port. Decorators (the body cache,
 * the metrics' instrumentation) extend it and override what they change: the compiler checks
 * each override against the port, and a member added to the port is delegated here once.
 */
export class LedgerDecorator<L extends Ledger = Ledger> extends ReadDelegate<L> implements Ledger {
  get kind(): Ledger['kind'] {
    return this.inner.kind;
  }
  get database(): string {
    return this.inner.database;
  }
  get maxEventsPerAppend(): number {
    return this.inner.maxEventsPerAppend;
  }
  append(events: NewEvent[]) {
    return this.inner.append(events);
  }
  onAppended(listener: AppendListener) {
    return this.inner.onAppended(listener);
  }
  close() {
    return this.inner.close();
  }
}
