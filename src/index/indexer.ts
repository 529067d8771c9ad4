/**
 * Follows the ledger into the index.
 *
 * Each step: take or renew the lease and read the index state (one round trip); if this instance
 * holds the lease, read committed txs after the checkpoint in txId order and apply them in batches
 * (entries + new checkpoint atomically, compare-and-set on epoch and checkpoint), reading the next
 * batch from the ledger while the current one is applied. Then poll again after `pollMs`, or at
 * once on `kick()` (the write path calls it after an append).
 *
 * Several instances: the lease (SET PX, renewed every step) makes one of them the follower, so
 * the ledger is read once; the compare-and-set makes that an optimization only. A follower that
 * lost its lease mid-batch (a pause longer than the lease) has its next apply refused, so no tx is
 * ever applied twice and the checkpoint never moves backwards.
 *
 * Index gone (Redis restarted without persistence, FLUSHALL, a reindex left half-cleared): the
 * follower starts a new epoch, clears the namespace and rebuilds from tx 0; queries answer
 * INDEX_UNAVAILABLE until it has caught up with the ledger head of that moment.
 *
 * Redis or the ledger away: the step fails, the loop backs off (100 ms doubling to 5 s) and
 * resumes from the stored checkpoint when both answer again.
 *
 * One class past 400 lines on purpose: the loop, following and bulk loads share the lease, the
 * checkpoint and the stats (the bulk build itself is bulk-build.ts).
 */
import { randomUUID } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import type { CommittedTx, Ledger } from '../ledger/port.ts';
import { Wakeup } from '../ledger/wakeup.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { IndexBuild } from './bulk-build.ts';
import type { EventIndex, IndexState, IndexTx } from './port.ts';

export interface IndexerOptions {
  /** Poll interval when idle. */
  pollMs?: number;
  /** Lease time to live; renewed at least every third of it. */
  leaseMs?: number;
  /** false: no lease, every instance follows: correct through compare-and-set alone, just wasteful (the fault tests run it so). */
  lease?: boolean;
  /** Events per apply script (whole txs; one tx is never split). */
  maxEventsPerApply?: number;
  /**
   * A rebuild reads up to this many events into memory (~600 bytes each at the peak) and writes them into the
   * empty index in one go, far faster than batch by batch; 0: never. Default 1,000,000.
   */
  bulkMaxEvents?: number;
  /** Events one ledger read aims at (the tx count per read adapts to the tx size). */
  eventsPerRead?: number;
  /** Ledger reads in flight while following (windows of consecutive txs). */
  readAhead?: number;
  owner?: string;
  /** Only these levels are used here. */
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Called after every applied batch (progress bars, metrics). */
  onApplied?: (p: { checkpoint: string; events: number; txs: number }) => void;
  /**
   * Called after every ledger read of a bulk load, before anything of it is written (progress
   * bars): the last tx listed, the events read so far and the events of the txs listed so far
   * (the ledger lists txs before it reads their events).
   */
  onBulkRead?: (p: { checkpoint: string; events: number; listed: number }) => void;
}

export interface IndexLag {
  /** Committed txs not yet in the index. */
  txs: number;
  /** Age of the oldest committed tx not yet in the index (0 when caught up). */
  seconds: number;
  checkpoint: string | null;
  head: string;
}

export interface IndexerStats {
  role: 'leader' | 'standby' | 'stopped';
  eventsApplied: number;
  txsApplied: number;
  batches: number;
  /** Rebuilds (or their starts) written in bulk. */
  bulkLoads: number;
  rebuilds: number;
  lastError: string | null;
}

type FollowResult = 'caught-up' | 'more' | 'stale';

const MAX_TXS_PER_READ = 1000;
const BULK_READ_ATTEMPTS = 4;
/**
 * Memory a bulk load takes per event at its peak: the ledger's listing (key and value hash) and
 * the build (bulk-build.ts) at once: the peak RSS of a bulk load of 1,000,000 events
 * (bench/results/index-20261203T1630.md) per event, rounded up.
 */
const BULK_BYTES_PER_EVENT = 640;
/** ~600 MiB at the peak of a bulk load (INDEX_BULK_MAX_EVENTS). */
export const DEFAULT_BULK_MAX_EVENTS = 1_000_000;

export class Indexer {
  readonly owner: string;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly useLease: boolean;
  private readonly maxEventsPerApply: number;
  private readonly eventsPerRead: number;
  /** bulkMaxEvents, bounded by a quarter of the heap limit: a load must never run the process out of memory. */
  private readonly bulkMax: number;
  private readonly readAhead: number;
  private readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;
  private readonly onApplied: IndexerOptions['onApplied'];
  private readonly onBulkRead: IndexerOptions['onBulkRead'];
  /** Starts small (txs hold up to 1,000 events) and adapts to what the txs hold. */
  private txsPerRead = 20;
  private running = false;
  private loopDone: Promise<void> | null = null;
  private wakeup = new Wakeup();
  /** The epoch this instance last worked in: a missing state after it means the index was lost. */
  private knownEpoch: string | null = null;
  readonly stats: IndexerStats = { role: 'stopped', eventsApplied: 0, txsApplied: 0, batches: 0, bulkLoads: 0, rebuilds: 0, lastError: null };

  constructor(
    private readonly ledger: Ledger,
    private readonly index: EventIndex,
    options: IndexerOptions = {},
  ) {
    this.owner = options.owner ?? `${process.pid}-${randomUUID()}`;
    this.pollMs = options.pollMs ?? 100;
    this.leaseMs = options.leaseMs ?? 5_000;
    this.useLease = options.lease ?? true;
    this.maxEventsPerApply = options.maxEventsPerApply ?? 5_000;
    this.eventsPerRead = options.eventsPerRead ?? 5_000;
    const wanted = options.bulkMaxEvents ?? DEFAULT_BULK_MAX_EVENTS;
    this.bulkMax = Math.min(wanted, Math.floor(getHeapStatistics().heap_size_limit / 4 / BULK_BYTES_PER_EVENT));
    this.readAhead = Math.max(1, options.readAhead ?? 2);
    this.log = options.logger ?? silentLogger;
    if (this.bulkMax < wanted) {
      this.log.warn(
        `indexer: rebuilds load ${this.bulkMax} events in bulk, not ${wanted}: more would take over a quarter of the heap (raise it with --max-old-space-size)`,
      );
    }
    this.onApplied = options.onApplied;
    this.onBulkRead = options.onBulkRead;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.wakeup = new Wakeup(); // a stopped indexer may be started again
    this.loopDone = this.loop();
  }

  /** Stops the loop (an apply in flight completes) and hands the lease back. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wakeup.close();
    await this.loopDone;
    this.stats.role = 'stopped';
    if (this.useLease) await this.index.releaseLease(this.owner).catch(() => undefined);
  }

  /** New txs were committed: look now rather than at the next poll. Never throws, never waits. */
  kick(): void {
    this.wakeup.kick();
  }

  async lag(): Promise<IndexLag> {
    const [head, checkpoint] = await Promise.all([this.ledger.lastTxId(), this.index.checkpoint()]);
    const txs = Math.max(0, Number(BigInt(head) - BigInt(checkpoint ?? '0')));
    let seconds = 0;
    if (txs > 0) {
      const [next] = await this.ledger.readTransactions(checkpoint ?? '0', 1);
      if (next) seconds = Math.max(0, (Date.now() - Date.parse(next.recordedAt)) / 1000);
    }
    return { txs, seconds, checkpoint, head };
  }

  /**
   * Rebuilds from scratch, here and now (the reindex command): takes the lease from whoever has
   * it, starts a new epoch (fencing off the old follower's writes), clears the namespace and
   * follows the ledger to its end.
   */
  async rebuild(): Promise<void> {
    await this.index.tick(this.owner, this.leaseMs, true);
    await this.reset('requested');
    await this.catchUp();
  }

  /**
   * Follows until the ledger has nothing newer than the checkpoint (needs the lease). Rides out
   * up to `attempts` consecutive failures (a busy immudb still indexing a bulk load times out).
   */
  async catchUp(attempts = 8): Promise<void> {
    for (let failures = 0; ; ) {
      let outcome: Awaited<ReturnType<Indexer['step']>>;
      try {
        outcome = await this.step();
        failures = 0;
      } catch (e) {
        if (++failures >= attempts) throw e;
        this.shrinkReads();
        this.log.warn(`indexer: ${e instanceof Error ? e.message : String(e)}; retrying (${failures}/${attempts})`);
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** failures, 5_000)));
        continue;
      }
      if (outcome === 'standby') throw new Error('another indexer holds the lease');
      if (outcome === 'caught-up') return;
    }
  }

  // --- the loop ------------------------------------------------------------------------------

  private async loop(): Promise<void> {
    let failures = 0;
    let lastReport = 0;
    while (this.running) {
      let outcome: Awaited<ReturnType<Indexer['step']>>;
      try {
        outcome = await this.step();
        if (failures > 0) this.log.info(`indexer: resumed after ${failures} failed attempt(s)`);
        failures = 0;
      } catch (e) {
        failures++;
        this.shrinkReads();
        this.stats.lastError = e instanceof Error ? e.message : String(e);
        if (failures === 1 || Date.now() - lastReport > 30_000) {
          lastReport = Date.now();
          this.log.warn(`indexer: ${this.stats.lastError}; retrying with backoff`);
        }
        const backoff = Math.min(100 * 2 ** Math.min(failures - 1, 6), 5_000);
        await this.wakeup.pause(backoff * (0.75 + Math.random() * 0.5));
        continue;
      }
      if (outcome !== 'more' && outcome !== 'stale') await this.wakeup.sleep(this.pollMs);
    }
  }

  /** One lease renewal and as much following as fits in a third of the lease. */
  private async step(): Promise<FollowResult | 'standby'> {
    const t = this.useLease ? await this.index.tick(this.owner, this.leaseMs) : { leased: true, state: await this.index.state() };
    if (!t.leased) {
      this.stats.role = 'standby';
      return 'standby';
    }
    this.stats.role = 'leader';
    const state = t.state;
    // Without a lease a clearing state is another follower's rebuild in progress: let it finish.
    if (!this.useLease && (state?.status === 'clearing' || state?.status === 'loading')) return 'standby';
    // With it, a clearing or loading state is one that was cut short (this instance's own runs
    // inside a step): start again.
    if (!state || state.status === 'clearing' || state.status === 'loading') {
      if (!state && this.knownEpoch) this.log.warn('indexer: the index vanished (Redis restarted empty or was flushed); rebuilding it from the ledger');
      else if (state) this.log.warn('indexer: found a rebuild that did not finish; starting it again');
      else this.log.info('indexer: no index yet; building it from the ledger');
      await this.reset(state ? 'unfinished' : 'missing');
      return 'more';
    }
    if (state.epoch !== this.knownEpoch) {
      if (this.knownEpoch) this.log.info(`indexer: following index epoch ${state.epoch} (rebuilt elsewhere)`);
      this.knownEpoch = state.epoch;
    }
    if (state.status === 'building' && state.checkpoint === '0' && this.useLease && this.bulkMax > 0) return this.bulkLoad(state);
    return this.follow(state, Date.now() + this.leaseMs / 3);
  }

  private async reset(why: string): Promise<void> {
    const target = await this.ledger.lastTxId();
    const epoch = randomUUID();
    await this.index.reset(epoch, target);
    this.knownEpoch = epoch;
    this.stats.rebuilds++;
    this.log.info(`indexer: new index epoch ${epoch} (${why}); rebuilding up to tx ${target}`);
  }

  /**
   * Committed txs after `from`, in order, a read's worth at a time; returns 'caught-up' at the
   * ledger's end and 'more' once `keepReading` says stop and the reads in flight are used up.
   */
  private async *txsAfter(from: string, keepReading: () => boolean): AsyncGenerator<CommittedTx[], 'caught-up' | 'more'> {
    // Reads in flight, each a window of txs after a txId. TxIds are dense in practice, so the
    // windows after the first are issued on that guess and dropped when a window comes back short
    // or with a gap: the ledger is read in parallel with the work on earlier txs, never out of order.
    const windows: { after: bigint; size: number; txs: Promise<CommittedTx[]> }[] = [];
    const issue = (after: bigint) => {
      while (windows.length === 0 || (windows.length < this.readAhead && keepReading())) {
        const prev = windows[windows.length - 1];
        const start = prev ? prev.after + BigInt(prev.size) : after;
        windows.push({ after: start, size: this.txsPerRead, txs: this.read(start, this.txsPerRead) });
      }
    };
    issue(BigInt(from));
    for (;;) {
      const w = windows.shift();
      if (!w) return 'more';
      const txs = await w.txs;
      const last = txs[txs.length - 1];
      if (!last) return 'caught-up';
      const full = BigInt(txs[0]!.txId) === w.after + 1n && BigInt(last.txId) === w.after + BigInt(w.size) && txs.length === w.size;
      if (!full) windows.length = 0;
      // Size further reads by what these txs held: few big txs or many small ones, similar work.
      const perTx = Math.max(1, txs.reduce((n, tx) => n + tx.events.length, 0) / txs.length);
      this.txsPerRead = Math.max(1, Math.min(MAX_TXS_PER_READ, Math.round(this.eventsPerRead / perTx)));
      if (keepReading()) issue(BigInt(last.txId));
      yield txs;
    }
  }

  private async follow(state: IndexState, deadline: number): Promise<FollowResult> {
    let checkpoint = state.checkpoint;
    const reads = this.txsAfter(checkpoint, () => Date.now() < deadline);
    for (;;) {
      const next = await reads.next();
      if (next.done) return next.value;
      for (const chunk of chunks(next.value, this.maxEventsPerApply)) {
        const batch = chunk.map(indexTxOf);
        const r = await this.index.apply({ epoch: state.epoch, fromTxId: checkpoint, txs: batch });
        if (!r.ok) {
          // Someone else moved the index on (a rebuild, another follower, a flush): re-read its state.
          this.log.info(`indexer: batch after tx ${checkpoint} not applied (${r.reason}); re-reading the index state`);
          return 'stale';
        }
        checkpoint = chunk[chunk.length - 1]!.txId;
        this.noteApplied(
          checkpoint,
          batch.length,
          batch.reduce((n, tx) => n + tx.records.length, 0),
        );
      }
    }
  }

  /**
   * The start of a rebuild: up to `bulkMaxEvents` events read into an IndexBuild and written into
   * the empty index in one go (bulk-build.ts says why), renewing the lease while reading. What is
   * left of the ledger after that is followed as usual.
   */
  private async bulkLoad(state: IndexState): Promise<FollowResult> {
    const started = Date.now();
    const build = new IndexBuild(this.index.layout);
    const renewEvery = this.leaseMs / 3;
    let renewAt = Date.now() + renewEvery;
    /** Renews the lease; false when this build is no longer the index's own. */
    const stillOurs = async (): Promise<boolean> => {
      const t = await this.index.tick(this.owner, this.leaseMs);
      renewAt = Date.now() + renewEvery;
      if (t.leased && t.state?.epoch === state.epoch && t.state.status === 'building' && t.state.checkpoint === '0') return true;
      this.log.info('indexer: the index moved on during a bulk load (lease lost or a rebuild elsewhere); re-reading its state');
      return false;
    };
    // The ledger lists the txs, then hands their events over in the order it reads fastest, each
    // with its place in commit order, by which the build hands out codes as applying them in order
    // would. A read that fails for want of the ledger is retried (by the ledger): giving up would
    // throw away everything read so far.
    let listed = 0;
    for await (const step of this.ledger.readInBulk('0', { maxEvents: this.bulkMax, attempts: BULK_READ_ATTEMPTS })) {
      if ('txs' in step) {
        for (const tx of step.txs) {
          build.coverTx(tx.txId);
          listed += tx.events;
        }
      } else {
        for (const e of step.events) build.addRecord(e.ordinal, e.record);
      }
      this.onBulkRead?.({ checkpoint: build.lastTxId, events: build.events, listed });
      // Leaving the loop ends the read (its generator returns).
      if (this.stopping()) return 'more';
      if (Date.now() >= renewAt && !(await stillOurs())) return 'stale';
    }
    if (build.events !== listed) throw new Error(`the bulk read listed ${listed} events and handed over ${build.events}`);
    if (build.txCount === 0) return 'caught-up';
    if (this.stopping()) return 'more';
    const built = Date.now();
    const result = build.result();
    const sorted = Date.now();
    // The sort may have outlasted what was left of the lease: renew it right before writing.
    if (this.stopping()) return 'more';
    if (!(await stillOurs())) return 'stale';
    const r = await this.index.load(state.epoch, result, this.owner, this.leaseMs);
    if (!r.ok) {
      this.log.info(`indexer: bulk load up to tx ${build.lastTxId} not written (${r.reason}); re-reading the index state`);
      return 'stale';
    }
    const ms = (from: number, to: number) => `${((to - from) / 1000).toFixed(1)} s`;
    this.log.info(
      `indexer: loaded ${build.events} events of txs 1–${build.lastTxId} in bulk (read ${ms(started, built)}, sorted ${ms(built, sorted)}, written ${ms(sorted, Date.now())})`,
    );
    this.stats.bulkLoads++;
    this.noteApplied(build.lastTxId, build.txCount, build.events);
    return 'more';
  }

  /** stop() was called: a bulk load in progress gives up rather than hold shutdown up. */
  private stopping(): boolean {
    return this.wakeup.closed;
  }

  private noteApplied(checkpoint: string, txs: number, events: number): void {
    this.stats.batches++;
    this.stats.txsApplied += txs;
    this.stats.eventsApplied += events;
    this.onApplied?.({ checkpoint, events, txs });
  }

  /** After a failure read less at once: a read that timed out may have been too big for a busy ledger. */
  private shrinkReads(): void {
    this.txsPerRead = Math.max(1, Math.floor(this.txsPerRead / 2));
  }

  private read(after: bigint, maxTxs: number): Promise<CommittedTx[]> {
    const p = this.ledger.readTransactions(after.toString(), maxTxs);
    p.catch(() => undefined); // awaited later, or dropped with its window
    return p;
  }
}

/** What the index takes of a committed tx. */
export const indexTxOf = (tx: CommittedTx): IndexTx => ({ txId: tx.txId, records: tx.events.map((e) => e.record) });

/** Consecutive runs of whole txs holding at most `maxEvents` events (a bigger tx alone). */
function* chunks(txs: CommittedTx[], maxEvents: number): Generator<CommittedTx[]> {
  let cur: CommittedTx[] = [];
  let n = 0;
  for (const tx of txs) {
    if (cur.length > 0 && n + tx.events.length > maxEvents) {
      yield cur;
      cur = [];
      n = 0;
    }
    cur.push(tx);
    n += tx.events.length;
  }
  if (cur.length > 0) yield cur;
}
