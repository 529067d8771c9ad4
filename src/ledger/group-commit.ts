/**
 * Group commit and idempotency, shared by every ledger backend.
 *
 * Concurrent append() calls queue here and are drained into as few ledger transactions as the
 * backend allows, so throughput grows with concurrency while every caller still gets its own
 * proof. Each caller's batch stays all-or-nothing: a caller whose events conflict is rejected
 * alone and the others go on.
 *
 * A backend may take several groups at once (`commitConcurrency`): immudb overlaps the round
 * trips and fsyncs of concurrent transactions, so a second group need not wait for the first
 * one's write, proof and verification. Idempotency still holds in this process: a group waits
 * for every earlier group that holds one of its caller-given eventIds before it checks them
 * (check-then-write per eventId stays serial), so two concurrent retries cannot both write.
 * Across processes, a backend that can write conditionally (immudb: KeyMustNotExist on each id
 * key) refuses a transaction whose eventId another writer stored after the check, with
 * `EventIdTaken`; the group is then checked again and decided as if it had come later.
 */
import { AuditError, ErrorCode } from '../errors.ts';
import type { AuditEventRecord, NewEvent } from '../events/types.ts';
import { sameContent } from '../events/validate.ts';
import { ReadDelegate, type LedgerReads } from './decorator.ts';
import type { EventIdClaims } from './id-claims.ts';
import type { AppendListener, AppendResult, Ledger, StoredEvent } from './port.ts';

/**
 * Thrown by a backend's commit() when the transaction was refused, and nothing of it written,
 * because an eventId in it was stored meanwhile by another writer.
 */
export class EventIdTaken extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventIdTaken';
  }
}

/** A group checked again after EventIdTaken this many times at most (each time another writer won a race). */
const MAX_ID_RACES = 3;

/** What a storage engine provides; group commit turns it into a Ledger. Its reads are the port's (LedgerReads). */
export interface LedgerBackend extends LedgerReads {
  readonly kind: Ledger['kind'];
  readonly database: string;
  /** Most events one transaction can hold. */
  readonly maxEventsPerTx: number;
  /** How many commit() calls may run at once (default 1: one after the other). */
  readonly commitConcurrency?: number;
  /**
   * Makes the next reads see every transaction committed so far, by any writer. Called after an
   * eventId claim was granted: another instance may have just written the id.
   */
  catchUp?(): Promise<void>;
  /** Commits the records in one transaction and returns verified proofs, in order. */
  commit(records: AuditEventRecord[]): Promise<AppendResult[]>;
  close(): Promise<void>;
}

export interface GroupCommitOptions {
  /**
   * How many events concurrent callers may share one transaction with (default 64). Kept moderate:
   * immudb 1.1's Scan read each value by reading its whole transaction, so events committed in huge
   * transactions paged slower for good there; 1.2+ reads single entries, and a group of 64 still
   * takes most of the per-tx cost off. A single caller's batch is never split, whatever its size:
   * it is all or nothing.
   */
  groupLimit?: number;
  /** Claims caller-given eventIds across gateway instances during check-then-write (id-claims.ts). */
  claims?: EventIdClaims;
}

interface Pending {
  events: NewEvent[];
  resolve: (r: AppendResult[]) => void;
  reject: (e: unknown) => void;
}

/** Appends go through the queue below; every read goes to the backend unchanged (ReadDelegate). */
export class GroupCommitLedger extends ReadDelegate<LedgerBackend> implements Ledger {
  readonly kind: Ledger['kind'];
  readonly database: string;
  private queue: Pending[] = [];
  private queuedEvents = 0;
  /** Groups started and not yet settled. */
  private active = 0;
  private idle: { promise: Promise<void>; resolve: () => void } | null = null;
  /** Caller-given eventId → settles when the newest group holding it is done. */
  private readonly holders = new Map<string, Promise<void>>();
  private readonly maxActive: number;
  private closed = false;

  private readonly groupLimit: number;
  private readonly claims: EventIdClaims | null;
  private readonly appendListeners: AppendListener[] = [];

  constructor(backend: LedgerBackend, options: GroupCommitOptions = {}) {
    super(backend);
    this.kind = backend.kind;
    this.database = backend.database;
    this.maxActive = Math.max(1, backend.commitConcurrency ?? 1);
    this.groupLimit = options.groupLimit ?? 64;
    this.claims = options.claims ?? null;
  }

  get maxEventsPerAppend(): number {
    return this.inner.maxEventsPerTx;
  }

  async append(events: NewEvent[]): Promise<AppendResult[]> {
    // Listeners hear of every append here, whichever decorators it came through.
    const results = await this.enqueue(events);
    for (const listener of this.appendListeners) listener(results);
    return results;
  }

  onAppended(listener: AppendListener): () => void {
    this.appendListeners.push(listener);
    return () => {
      const at = this.appendListeners.indexOf(listener);
      if (at >= 0) this.appendListeners.splice(at, 1);
    };
  }

  private enqueue(events: NewEvent[]): Promise<AppendResult[]> {
    if (this.closed) return Promise.reject(new AuditError(ErrorCode.LEDGER_UNAVAILABLE, 'the ledger is shutting down'));
    if (events.length === 0) return Promise.resolve([]);
    if (events.length > this.inner.maxEventsPerTx) {
      return Promise.reject(
        new AuditError(ErrorCode.BAD_USER_INPUT, `This ledger commits at most ${this.inner.maxEventsPerTx} events in one transaction; got ${events.length}`, {
          violations: [{ path: 'input', message: `at most ${this.inner.maxEventsPerTx} events` }],
        }),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.queuedEvents += events.length;
      this.kick();
    });
  }

  /**
   * Starts groups while slots are free. With a commit already in flight, a new one starts only
   * for a full group: small appends gain more from waiting and sharing the next transaction
   * (overlapping many small transactions was slower than sharing them in bench/write-shape.ts).
   */
  private kick(): void {
    const limit = Math.min(this.groupLimit, this.inner.maxEventsPerTx);
    while (this.queue.length > 0 && this.active < this.maxActive && (this.active === 0 || this.queuedEvents >= limit)) {
      this.start(this.takeGroup());
    }
  }

  /** Whole callers while they fit the group (the first one always goes, whatever its size). */
  private takeGroup(): Pending[] {
    const group: Pending[] = [];
    let size = 0;
    const limit = Math.min(this.groupLimit, this.inner.maxEventsPerTx);
    while (this.queue.length > 0 && (group.length === 0 || size + this.queue[0]!.events.length <= limit)) {
      const p = this.queue.shift()!;
      group.push(p);
      size += p.events.length;
    }
    this.queuedEvents -= size;
    return group;
  }

  private start(group: Pending[]): void {
    // Claim the caller-given ids now, synchronously, so later groups queue behind this one.
    const ids = [...new Set(group.flatMap((p) => p.events.filter((e) => !e.eventIdGenerated).map((e) => e.record.eventId)))];
    const earlier = new Set<Promise<void>>();
    for (const id of ids) {
      const held = this.holders.get(id);
      if (held) earlier.add(held);
    }
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    for (const id of ids) this.holders.set(id, done);
    this.active++;
    (async () => {
      if (earlier.size > 0) await Promise.all(earlier);
      if (!this.claims || ids.length === 0) return this.commitGroup(group);
      const release = await this.claims.claim(ids);
      try {
        await this.inner.catchUp?.();
        await this.commitGroup(group);
      } finally {
        await release();
      }
    })()
      .catch((e: unknown) => {
        for (const p of group) p.reject(e); // settled callers ignore a second settlement
      })
      .finally(() => {
        for (const id of ids) if (this.holders.get(id) === done) this.holders.delete(id);
        release();
        this.active--;
        if (this.active === 0 && this.queue.length === 0 && this.idle) {
          this.idle.resolve();
          this.idle = null;
        }
        this.kick();
      });
  }

  private async commitGroup(group: Pending[], races = 0): Promise<void> {
    let existing: Map<string, StoredEvent>;
    try {
      // After a refused write every id is looked up, generated ones too: a caller may resubmit the
      // very events of an attempt whose reply was lost (the write landed, the caller saw an error).
      existing = await this.lookup(group, races > 0);
    } catch (e) {
      for (const p of group) p.reject(e);
      return;
    }

    // Decide per caller: conflict (reject alone), or which of its events are new.
    const toWrite: AuditEventRecord[] = [];
    const claimed = new Map<string, NewEvent>(); // eventIds written by this group
    const plans: { p: Pending; fresh: boolean[] }[] = [];
    for (const p of group) {
      const fresh: boolean[] = [];
      let conflict: string | null = null;
      for (const ev of p.events) {
        const stored = existing.get(ev.record.eventId);
        const sibling = claimed.get(ev.record.eventId);
        if (stored) {
          if (!sameContent(ev, stored.record)) conflict ??= ev.record.eventId;
          fresh.push(false);
        } else if (sibling) {
          if (!sameContent(ev, sibling.record)) conflict ??= ev.record.eventId;
          fresh.push(false);
        } else fresh.push(true);
      }
      if (conflict) {
        p.reject(
          new AuditError(ErrorCode.EVENT_ID_CONFLICT, `eventId ${conflict} is already stored with different content`, {
            eventId: conflict,
          }),
        );
        continue;
      }
      p.events.forEach((ev, i) => {
        if (fresh[i]) {
          claimed.set(ev.record.eventId, ev);
          toWrite.push(ev.record);
        }
      });
      plans.push({ p, fresh });
    }
    if (plans.length === 0) return;

    let written = new Map<string, AppendResult>();
    try {
      if (toWrite.length > 0) {
        const results = await this.inner.commit(toWrite);
        written = new Map(results.map((r) => [r.event.record.eventId, r]));
      }
    } catch (e) {
      if (e instanceof EventIdTaken && races < MAX_ID_RACES) {
        // Nothing was written: check every eventId again, seeing what the other writer stored.
        try {
          await this.inner.catchUp?.();
        } catch (err) {
          for (const { p } of plans) p.reject(err);
          return;
        }
        return this.commitGroup(
          plans.map(({ p }) => p),
          races + 1,
        );
      }
      for (const { p } of plans)
        p.reject(e instanceof EventIdTaken ? new AuditError(ErrorCode.LEDGER_UNAVAILABLE, `${e.message}, ${MAX_ID_RACES + 1} times in a row`) : e);
      return;
    }

    // Callers whose events were already stored (or written by a sibling) get fresh verified reads.
    for (const { p, fresh } of plans) {
      try {
        const out: AppendResult[] = [];
        for (const [i, ev] of p.events.entries()) {
          const id = ev.record.eventId;
          const w = written.get(id);
          if (w && fresh[i]) out.push(w);
          else {
            const again = w ?? (await this.inner.getVerified(id));
            if (!again) throw new AuditError(ErrorCode.LEDGER_UNAVAILABLE, `event ${id} vanished from the ledger`);
            out.push({ ...again, created: false });
          }
        }
        p.resolve(out);
      } catch (e) {
        p.reject(e);
      }
    }
  }

  private async lookup(group: Pending[], generatedToo = false): Promise<Map<string, StoredEvent>> {
    const ids = [...new Set(group.flatMap((p) => p.events.filter((e) => generatedToo || !e.eventIdGenerated).map((e) => e.record.eventId)))];
    if (ids.length === 0) return new Map();
    const found = await this.inner.getMany(ids);
    const map = new Map<string, StoredEvent>();
    found.forEach((s, i) => {
      if (s) map.set(ids[i]!, s);
    });
    return map;
  }

  /** Stops taking writes, lets queued ones finish, then closes the backend. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.active > 0 || this.queue.length > 0) {
      if (!this.idle) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        this.idle = { promise, resolve };
      }
      await this.idle.promise;
    }
    await this.inner.close();
    await this.claims?.close();
  }
}
