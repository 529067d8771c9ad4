/**
 * One live subscription (`LiveFeed.subscribe()`): a pull-based async iterator.
 *
 * - With `afterTxId`: replay first — the subscription reads the ledger itself, page by page, and
 *   only as fast as its consumer takes events — until its read position has reached the feed's.
 *   Then, in the same synchronous step, it joins the feed, skipping every tx up to where its replay
 *   read. The feed dispatches each tx whole and synchronously, and its position moves tx by tx, so
 *   nothing can fall between the replay and the join: no gap and no duplicate, and no buffer of
 *   live events that grows while a long replay runs.
 * - With `afterTxId` and `after.eventId`: the same, but from inside that tx — the events of it
 *   after that event, then the txs after it. A tx holds up to 64 events (group commit), and a
 *   disconnect can fall between two of them: (txId, eventId) of the last event received is an
 *   exact resume point where the txId alone would skip the rest of its tx.
 * - Without: it joins at the feed's position at once (events committed from then on).
 * - Live, each subscription has a bounded queue. The feed never waits for a consumer: when a tx
 *   does not fit, the subscription ends with SUBSCRIPTION_OVERFLOW (memory freed at once) and
 *   tells the client which afterTxId resumes it without a gap. Everyone else is unaffected.
 *
 * The iterator's return() ends a subscription at once, even while it waits for an event (a native
 * async generator would queue the return behind that wait and leak the subscription).
 */
import { AuditError, ErrorCode, ValidationError } from '../errors.ts';
import { matches, type NormalizedFilter } from '../events/filter.ts';
import type { CommittedTx, StoredEvent } from '../ledger/port.ts';
import { filterKey, type FilterGroup } from './fanout.ts';
import type { LiveFeed } from './feed.ts';

/** What a subscription yields: an event, or the error that ends it (then it completes). */
export type LiveItem = { kind: 'event'; event: StoredEvent } | { kind: 'end'; error: Error };

const MAX_TX_ID = 2n ** 64n - 1n;
const DONE: IteratorResult<LiveItem> = { value: undefined, done: true };

/** The `afterTxId` argument: a decimal tx id (64-bit). */
export function parseTxId(value: unknown, path = 'afterTxId'): bigint {
  if (typeof value === 'string' && /^(?:0|[1-9][0-9]{0,19})$/.test(value)) {
    const n = BigInt(value);
    if (n <= MAX_TX_ID) return n;
  }
  throw new ValidationError([{ path, message: 'must be a ledger txId: a decimal integer from 0 to 18446744073709551615' }]);
}

export function overflowError(limit: number, afterTxId: bigint): AuditError {
  const after = afterTxId.toString();
  return new AuditError(
    ErrorCode.SUBSCRIPTION_OVERFLOW,
    `This subscription fell more than ${limit} events behind and was ended. Subscribe again with afterTxId: "${after}" ` +
      '(or the txId of the last event you received) to continue without a gap.',
    { afterTxId: after },
  );
}

/** One subscription: an async iterator of LiveItems (the file comment tells its life cycle). */
export class LiveSubscription implements AsyncIterableIterator<LiveItem> {
  /** Events waiting for the consumer, from `head` on (shifting a big array is O(n)). */
  private queue: (StoredEvent | undefined)[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<LiveItem>) => void) | null = null;
  /** Where the replay has read to; null until the replay starts. */
  private cursor: bigint | null;
  private attached = false;
  /** Txs up to this one were replayed: the feed's copies are skipped. */
  private skipThrough = -1n;
  /** The tx of the last event handed out (overflow keeps the rest of that tx). */
  private lastTx: string | null = null;
  /** Resuming inside a tx: its events up to and including this one were received already. */
  private resumeIn: { txId: bigint; eventId: string } | null = null;
  /** The error to yield once the queue is drained; then the subscription completes. */
  private ending: Error | null = null;
  private done = false;
  private inflight: Promise<IteratorResult<LiveItem>> | null = null;
  /** @internal The feed's group of subscriptions with this filter, while attached. */
  group: FilterGroup<LiveSubscription, StoredEvent> | null = null;
  /** @internal */ readonly filterKey: string;

  constructor(
    private readonly feed: LiveFeed,
    /** @internal */ readonly filter: NormalizedFilter,
    afterTxId: bigint | null,
    afterEventId: string | null = null,
  ) {
    if (afterEventId !== null && afterTxId !== null && afterTxId > 0n) {
      this.resumeIn = { txId: afterTxId, eventId: afterEventId };
      this.cursor = afterTxId - 1n;
    } else {
      this.cursor = afterTxId;
    }
    this.filterKey = filterKey(filter);
    feed.stats.replaying++;
  }

  /** @internal Still to skip into its resume tx (afterEventId): selects its events itself. */
  isResuming(): boolean {
    return this.resumeIn !== null;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<LiveItem>> {
    // Consumers pull one at a time; should one not, calls are served in order.
    if (this.inflight) return this.inflight.then(() => this.next());
    const r = this.pull();
    if (!(r instanceof Promise)) return Promise.resolve(r);
    this.inflight = r.finally(() => (this.inflight = null));
    return this.inflight;
  }

  /** Ends the subscription now (client unsubscribed, socket closed, feed stopped). */
  return(): Promise<IteratorResult<LiveItem>> {
    this.finish();
    return Promise.resolve(DONE);
  }

  throw(): Promise<IteratorResult<LiveItem>> {
    return this.return();
  }

  /**
   * @internal The feed hands over a tx after the ones this subscription has seen, with its events
   * that match the filter (`matched`, shared with the other subscriptions of the filter and never
   * modified), or null: select them here (a subscription still resuming inside a tx).
   */
  offer(tx: CommittedTx, id: bigint, matched: StoredEvent[] | null = null): void {
    if (id <= this.skipThrough || this.done || this.ending) return;
    if (matched === null) {
      try {
        matched = this.select(tx, id);
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e))); // afterEventId not in its tx
        return;
      }
      if (this.attached && this.resumeIn === null) this.feed.resumed(this);
    }
    if (!matched) return;
    const waiting = this.size();
    // A tx is never split: one bigger than the limit still fits into an empty queue.
    if (waiting > 0 && waiting + matched.length > this.feed.queueLimit) {
      this.overflow(id);
      return;
    }
    this.feed.stats.eventsQueued += matched.length;
    for (const e of matched) this.queue.push(e);
    if (waiting + matched.length > this.feed.queueLimit / 2) this.feed.notePressure();
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(this.take());
    }
  }

  /** @internal Ends the subscription with `error` after what is queued. */
  fail(error: Error): void {
    if (this.done || this.ending) return;
    this.ending = error;
    this.feed.detach(this);
    this.wakeWaiter();
  }

  private size(): number {
    return this.queue.length - this.head;
  }

  private pull(): IteratorResult<LiveItem> | Promise<IteratorResult<LiveItem>> {
    if (this.done) return DONE;
    if (this.size() > 0) return this.take();
    if (this.ending) {
      const error = this.ending;
      this.finish();
      return { value: { kind: 'end', error }, done: false };
    }
    if (!this.attached) return this.replay();
    return new Promise((resolve) => (this.waiter = resolve));
  }

  private take(): IteratorResult<LiveItem> {
    const event = this.queue[this.head]!;
    this.queue[this.head++] = undefined;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.lastTx = event.txId;
    return { value: { kind: 'event', event }, done: false };
  }

  /** Reads the ledger after `cursor` until there is something to hand out, or joins the feed. */
  private async replay(): Promise<IteratorResult<LiveItem>> {
    try {
      await this.feed.ready();
      for (;;) {
        if (this.done) return DONE;
        if (this.feed.isStopped()) {
          this.finish();
          return DONE;
        }
        const position = this.feed.currentPosition()!;
        this.cursor ??= position;
        // Checked and joined in one synchronous step: see the file comment.
        if (this.cursor >= position) {
          this.join(this.cursor);
          return this.pull();
        }
        const txs = await this.feed.ledger.readTransactions(this.cursor.toString(), this.feed.replayTxs);
        if (this.done) return DONE;
        if (txs.length === 0) {
          // The feed has read txs this read did not return yet (a replica behind?): ask again shortly.
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        for (const tx of txs) {
          const id = BigInt(tx.txId);
          if (id <= this.cursor) continue;
          this.cursor = id;
          const matched = this.select(tx, id);
          if (matched) for (const e of matched) this.queue.push(e);
        }
        if (this.size() > 0) return this.take();
      }
    } catch (e) {
      // The client resumes with the txId of the last event it received: everything up to it was sent.
      this.ending = e instanceof Error ? e : new Error(String(e));
      return this.pull();
    }
  }

  /** The tx's events for this subscription: matching, and after the resume point inside its tx. */
  private select(tx: CommittedTx, id: bigint): StoredEvent[] | null {
    let events = tx.events;
    if (this.resumeIn && id >= this.resumeIn.txId) {
      const { txId, eventId } = this.resumeIn;
      this.resumeIn = null;
      if (id === txId) {
        const at = events.findIndex((e) => e.record.eventId === eventId);
        if (at < 0) throw new ValidationError([{ path: 'afterEventId', message: `is not an event of tx ${txId}` }]);
        events = events.slice(at + 1);
      }
      // A later tx first: tx `txId` holds no event (a foreign tx); nothing to skip.
    }
    let matched: StoredEvent[] | null = null;
    for (const e of events) {
      if (!matches(e.record, this.filter)) continue;
      matched ??= [];
      matched.push(e);
    }
    return matched;
  }

  private join(through: bigint): void {
    this.skipThrough = through;
    this.attached = true;
    this.feed.stats.replaying--;
    this.feed.attach(this);
  }

  private overflow(incoming: bigint): void {
    // Keep the rest of the tx the client is in the middle of, so the last txId it receives is
    // complete; drop everything after it. Every matching event before `firstDropped` is delivered.
    let keep = this.head;
    if (this.lastTx !== null) while (keep < this.queue.length && this.queue[keep]!.txId === this.lastTx) keep++;
    const firstDropped = keep < this.queue.length ? BigInt(this.queue[keep]!.txId) : incoming;
    this.queue.length = keep;
    this.feed.stats.overflows++;
    this.fail(overflowError(this.feed.queueLimit, firstDropped - 1n));
  }

  private wakeWaiter(): void {
    if (!this.waiter) return;
    const w = this.waiter;
    this.waiter = null;
    const r = this.pull();
    // pull() cannot wait here: there is either an event, the ending, or done.
    w(r instanceof Promise ? DONE : r);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.attached) this.feed.detach(this);
    else this.feed.stats.replaying--;
    this.queue = [];
    this.head = 0;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(DONE);
    }
  }
}
