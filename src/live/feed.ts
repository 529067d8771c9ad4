/**
 * The live feed: one per gateway instance. It follows the ledger itself — committed txs after the
 * last one it has seen, in txId order — and fans every committed event out, in process, to the
 * subscriptions whose filter it matches (subscription.ts). So every instance delivers every event
 * exactly once and in commit order, whichever instance wrote it.
 *
 * Wake-ups: `appended()` right after a local append (it also publishes the txId on the signal),
 * the signal when another instance wrote, and a slow poll (`pollMs`) as the safety net when a
 * signal was lost. A signal only ever causes a read; what is delivered always comes from the ledger.
 * A wake-up that names its txId reads up to that tx; the poll and a signal gap read until the
 * ledger has nothing newer (one more, empty, read). Reads are spaced (`readIntervalMs`, 15 ms):
 * under a steady stream of commits one read takes the several txs committed meanwhile.
 *
 * Fan-out: the feed matches each event once per distinct filter, not once per subscription
 * (fanout.ts: subscriptions grouped by filter, groups indexed by one of their terms), and hands
 * every subscription of a matching group the same event objects. It dispatches each tx whole and
 * synchronously, and its position moves tx by tx: a replaying subscription joins between two txs
 * (subscription.ts). The feed never waits for a consumer; when a subscription's queue is more than
 * half full, it yields a turn of the event loop before the next tx of its read, so a consumer that
 * keeps up has emptied its queue however many txs the read took.
 */
import type { NormalizedFilter } from '../events/filter.ts';
import type { AppendResult, CommittedTx, Ledger, StoredEvent } from '../ledger/port.ts';
import { Wakeup } from '../ledger/wakeup.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { SubscriberIndex, type FilterGroup } from './fanout.ts';
import type { LiveSignal } from './port.ts';
import { LiveSubscription } from './subscription.ts';

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
  /** Only these levels are used here. */
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

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

export class LiveFeed {
  readonly queueLimit: number;
  readonly replayTxs: number;
  readonly stats: LiveStats = { subscribers: 0, replaying: 0, filters: 0, txsRead: 0, eventsRead: 0, eventsQueued: 0, overflows: 0, lastError: null };
  private readonly pollMs: number;
  private readonly readTxs: number;
  private readonly readIntervalMs: number;
  private lastReadAt = Number.NEGATIVE_INFINITY;
  private readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;
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
    this.log = options.logger ?? silentLogger;
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
