/**
 * The live feed: one per gateway instance. It follows the ledger itself — committed txs after the
 * last one it has seen, in txId order — and fans every committed event out, in process, to the
 * subscriptions whose filter it matches. So every instance delivers every event exactly once and in
 * commit order, whichever instance wrote it.
 *
 * Wake-ups: `appended()` right after a local append (it also publishes the txId on the signal),
 * the signal when another instance wrote, and a slow poll (`pollMs`) as the safety net when a
 * signal was lost. A signal only ever causes a read; what is delivered always comes from the ledger.
 * A wake-up that names its txId reads up to that tx; the poll and a signal gap read until the
 * ledger has nothing newer (one more, empty, read). Reads are spaced (`readIntervalMs`, 15 ms):
 * under a steady stream of commits one read takes the several txs committed meanwhile.
 *
 * Subscriptions (`subscribe()`) are pull-based async iterators:
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
 * - Live, the feed matches each event once per distinct filter, not once per subscription
 *   (fanout.ts: subscriptions grouped by filter, groups indexed by one of their terms), and hands
 *   every subscription of a matching group the same event objects.
 * - Live, each subscription has a bounded queue. The feed never waits for a consumer: when a tx
 *   does not fit, the subscription ends with SUBSCRIPTION_OVERFLOW (memory freed at once) and
 *   tells the client which afterTxId resumes it without a gap. Everyone else is unaffected. When a
 *   queue is more than half full, the feed yields a turn of the event loop before the next tx of
 *   its read, so a consumer that keeps up has emptied its queue however many txs the read took.
 *
 * The iterator's return() ends a subscription at once, even while it waits for an event (a native
 * async generator would queue the return behind that wait and leak the subscription).
 */
import type { Logger } from '../server/logger.ts';
import { AuditError, ErrorCode, ValidationError } from '../errors.ts';
import { matches, type NormalizedFilter } from '../index/query.ts';
import type { AppendResult, CommittedTx, Ledger, StoredEvent } from '../ledger/port.ts';
import { Wakeup } from '../ledger/wakeup.ts';
import { filterKey, SubscriberIndex, type FilterGroup } from './fanout.ts';
import type { LiveSignal } from './port.ts';

/** The server's Logger, of which only these levels are used here. */
export type LiveLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface LiveFeedOptions {
  /** Safety-net poll of the ledger when no wake-up came (ms). */
  pollMs?: number;
  /** Txs per ledger read while following. */
  readTxs?: number;
  /**
   * A read starts at least this long (ms) after the previous one started: under a stream of
   * commits, one read then takes several txs instead of one read (two immudb calls) per tx. An
   * event committed after a quiet spell is read at once.
   */
  readIntervalMs?: number;
  /** Txs per ledger read of a subscription's replay. */
  replayTxs?: number;
  /** Events a subscription may have waiting for its consumer before it is ended. */
  queueLimit?: number;
  logger?: LiveLogger;
}

/** What a subscription yields: an event, or the error that ends it (then it completes). */
export type LiveItem = { kind: 'event'; event: StoredEvent } | { kind: 'end'; error: Error };

export interface LiveStats {
  /** Subscriptions attached to the feed (replaying ones are not yet). */
  subscribers: number;
  /** Subscriptions still replaying from the ledger. */
  replaying: number;
  /** Distinct filters among the attached subscriptions (what the feed matches each event against). */
  filters: number;
  txsRead: number;
  eventsRead: number;
  /** Events handed to subscription queues. */
  eventsQueued: number;
  overflows: number;
  lastError: string | null;
}

const quiet: LiveLogger = { info() {}, warn() {}, error() {} };
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

export class LiveFeed {
  readonly queueLimit: number;
  readonly replayTxs: number;
  readonly stats: LiveStats = { subscribers: 0, replaying: 0, filters: 0, txsRead: 0, eventsRead: 0, eventsQueued: 0, overflows: 0, lastError: null };
  private readonly pollMs: number;
  private readonly readTxs: number;
  private readonly readIntervalMs: number;
  private lastReadAt = Number.NEGATIVE_INFINITY;
  private readonly log: LiveLogger;
  /** The last tx dispatched; null until the ledger has told us where it is. */
  private position: bigint | null = null;
  private readonly subs = new Set<LiveSubscription>();
  /** The attached subscriptions by filter, minus those still resuming inside a tx. */
  private readonly index = new SubscriberIndex<LiveSubscription, StoredEvent>();
  /** Attached subscriptions that still skip into a tx (afterEventId): they select for themselves. */
  private readonly resuming = new Set<LiveSubscription>();
  /** Groups with matching events in the tx being dispatched (reused). */
  private touched: FilterGroup<LiveSubscription, StoredEvent>[] = [];
  private running = false;
  private stopped = false;
  private loopDone: Promise<void> | null = null;
  private readonly wakeup = new Wakeup();
  /** The newest txId a wake-up named: reading up to it is enough. */
  private target = 0n;
  /** Read until an empty page (poll, gap, a kick without a txId). */
  private readToEnd = true;
  /** A subscription's queue is more than half full since the last yield to consumers. */
  private queuePressure = false;
  private unsubscribeSignal: (() => void) | null = null;
  private markReady!: () => void;
  private readonly readyPromise = new Promise<void>((resolve) => (this.markReady = resolve));

  constructor(
    readonly ledger: Ledger,
    readonly signal: LiveSignal,
    options: LiveFeedOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 1_000;
    this.readTxs = options.readTxs ?? 500;
    this.readIntervalMs = options.readIntervalMs ?? 15;
    this.replayTxs = options.replayTxs ?? 100;
    this.queueLimit = options.queueLimit ?? 1_000;
    this.log = options.logger ?? quiet;
  }

  /** Starts following from the ledger's current head. Never fails: an unreachable ledger is retried. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.unsubscribeSignal = this.signal.subscribe({
      onTx: (txId) => {
        if (!/^[0-9]{1,20}$/.test(txId)) return this.kick();
        // Our own publications come back too: only a tx we have not read yet is news.
        const id = BigInt(txId);
        if (this.position === null || id > this.position) this.kick(id);
      },
      onGap: () => this.kick(),
    });
    this.loopDone = this.loop();
  }

  /** Stops following and completes every subscription. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribeSignal?.();
    this.unsubscribeSignal = null;
    if (this.running) {
      this.running = false;
      this.wakeup.close();
      await this.loopDone;
    }
    this.markReady(); // replays waiting for a position see `stopped` and end
    for (const s of [...this.subs]) s.return();
  }

  /**
   * The ledger may have new txs (up to `txId`, when known): read now rather than at the next poll.
   * Never throws, never waits.
   */
  kick(txId?: bigint): void {
    if (txId === undefined) this.readToEnd = true;
    else if (txId > this.target) this.target = txId;
    this.wakeup.kick();
  }

  /** The write path's hook: wake this feed, and every other instance through the signal. */
  appended(results: readonly AppendResult[]): void {
    let newest: bigint | null = null;
    for (const r of results) {
      const id = BigInt(r.event.txId);
      if (newest === null || id > newest) newest = id;
    }
    this.kick(newest ?? undefined);
    if (newest !== null) this.signal.publish(newest.toString());
  }

  /** The last txId delivered to attached subscriptions, or null before the first read. */
  txId(): string | null {
    return this.position === null ? null : this.position.toString();
  }

  /** Resolves once the feed knows its position (or is stopped). */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /**
   * A subscription to the committed events matching `filter`: with `afterTxId`, every one
   * committed after that tx, then live; without, those committed from now on.
   */
  subscribe(filter: NormalizedFilter, afterTxId: bigint | null = null, afterEventId: string | null = null): LiveSubscription {
    return new LiveSubscription(this, filter, afterTxId, afterEventId);
  }

  // --- used by subscriptions -------------------------------------------------------------------

  /** @internal */ isStopped(): boolean {
    return this.stopped;
  }

  /** @internal A subscription's queue is more than half full: let consumers drain before the next tx. */
  notePressure(): void {
    this.queuePressure = true;
  }

  /** @internal The feed's position, for a replay deciding whether it may join. */
  currentPosition(): bigint | null {
    return this.position;
  }

  /** @internal */ attach(s: LiveSubscription): void {
    this.subs.add(s);
    if (s.isResuming()) this.resuming.add(s);
    else s.group = this.index.add(s, s.filter, s.filterKey);
    this.stats.subscribers = this.subs.size;
    this.stats.filters = this.index.groupCount();
  }

  /** @internal */ detach(s: LiveSubscription): void {
    if (!this.subs.delete(s)) return;
    this.resuming.delete(s);
    if (s.group) this.index.remove(s, s.group);
    s.group = null;
    this.stats.subscribers = this.subs.size;
    this.stats.filters = this.index.groupCount();
  }

  /** @internal A resuming subscription has passed its resume point: from now on the index selects for it. */
  resumed(s: LiveSubscription): void {
    if (!this.resuming.delete(s)) return;
    s.group = this.index.add(s, s.filter, s.filterKey);
    this.stats.filters = this.index.groupCount();
  }

  // --- the loop --------------------------------------------------------------------------------

  private async loop(): Promise<void> {
    let failures = 0;
    let lastReport = 0;
    while (this.running) {
      try {
        await this.follow();
        if (failures > 0) this.log.info(`live feed: following the ledger again after ${failures} failed attempt(s)`);
        failures = 0;
      } catch (e) {
        failures++;
        this.readToEnd = true; // what the failed read was after is unknown now
        this.stats.lastError = e instanceof Error ? e.message : String(e);
        if (failures === 1 || Date.now() - lastReport > 30_000) {
          lastReport = Date.now();
          this.log.warn(`live feed: ${this.stats.lastError}; retrying with backoff (subscriptions wait, nothing is lost)`);
        }
        await this.wakeup.pause(Math.min(100 * 2 ** Math.min(failures - 1, 6), 5_000));
        continue;
      }
      // The poll ran out with nobody naming a tx: read to the end.
      if (await this.wakeup.sleep(this.pollMs)) this.readToEnd = true;
    }
  }

  /** Reads and dispatches up to the named txId, or until the ledger has nothing newer. */
  private async follow(): Promise<void> {
    if (this.position === null) {
      this.position = BigInt(await this.ledger.lastTxId());
      this.markReady();
    }
    const toEnd = this.readToEnd;
    this.readToEnd = false;
    while (this.running) {
      // Only an empty read means "caught up" (the port promises at most maxTxs, not that fewer
      // is the end); a named tx spares that extra read.
      if (!toEnd && this.position >= this.target) return;
      const wait = this.lastReadAt + this.readIntervalMs - performance.now();
      if (wait > 0) {
        await this.wakeup.pause(wait);
        if (!this.running) return;
      }
      this.lastReadAt = performance.now();
      const txs = await this.ledger.readTransactions(this.position.toString(), this.readTxs);
      if (txs.length === 0 || !this.running) return;
      for (let i = 0; i < txs.length; i++) {
        // One read may hold more matching events than a queue takes. When a queue fills up, the
        // consumers get a turn to drain theirs (their pulls are microtasks) before the next tx,
        // so only a slow one overflows. Only then: a turn per tx costs latency under load.
        if (i > 0 && this.queuePressure) {
          this.queuePressure = false;
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (!this.running) return;
        }
        this.dispatch(txs[i]!);
      }
    }
  }

  /** Synchronous for the whole tx and all subscriptions: the replay join relies on it. */
  private dispatch(tx: CommittedTx): void {
    const id = BigInt(tx.txId);
    if (this.position !== null && id <= this.position) return; // never twice, never backwards
    this.position = id;
    this.stats.txsRead++;
    this.stats.eventsRead += tx.events.length;
    if (tx.events.length === 0) return;
    // Each distinct filter is matched once per event; its subscriptions get the same events.
    const touched = this.touched;
    for (const e of tx.events) {
      this.index.forEachMatch(e.record, (g) => {
        if (g.pending === null) {
          g.pending = [];
          touched.push(g);
        }
        g.pending.push(e);
      });
    }
    for (const g of touched) {
      const events = g.pending!;
      g.pending = null;
      for (const s of g.members) this.offer(s, tx, id, events);
    }
    touched.length = 0;
    for (const s of [...this.resuming]) this.offer(s, tx, id, null);
  }

  private offer(s: LiveSubscription, tx: CommittedTx, id: bigint, matched: StoredEvent[] | null): void {
    try {
      s.offer(tx, id, matched);
    } catch (e) {
      // One broken subscription must not starve the others.
      this.log.error('live feed: a subscription failed to take an event', e);
      s.fail(e instanceof Error ? e : new Error(String(e)));
    }
  }
}

/** One subscription: an async iterator of LiveItems (see the file comment for its life cycle). */
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
        return this.fail(e instanceof Error ? e : new Error(String(e))); // afterEventId not in its tx
      }
      if (this.attached && this.resumeIn === null) this.feed.resumed(this);
    }
    if (!matched) return;
    const waiting = this.size();
    // A tx is never split: one bigger than the limit still fits into an empty queue.
    if (waiting > 0 && waiting + matched.length > this.feed.queueLimit) return this.overflow(id);
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
    for (const e of events) if (matches(e.record, this.filter)) (matched ??= []).push(e);
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
