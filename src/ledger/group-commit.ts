/**
 * Group commit and idempotency, shared by every ledger backend.
 *
 * Concurrent append() calls queue here; one writer drains the queue into as few ledger
 * transactions as the backend allows, so throughput grows with concurrency while every caller
 * still gets its own proof. Each caller's batch stays all-or-nothing: a caller whose events
 * conflict is rejected alone and the others go on. Because a single writer does
 * check-then-write, two concurrent retries of one eventId in this process cannot both write it.
 */
import { AuditError, ErrorCode } from '../errors.ts';
import type { AuditEventRecord, NewEvent } from '../events/types.ts';
import { sameContent } from '../events/validate.ts';
import type { LedgerState } from '../proof/types.ts';
import type { AppendResult, CommittedTx, Ledger, ScanDirection, StoredEvent, TimelinePage, TimelinePosition } from './port.ts';

/** What a storage engine provides; group commit turns it into a Ledger. */
export interface LedgerBackend {
  readonly kind: Ledger['kind'];
  readonly database: string;
  /** Most events one transaction can hold. */
  readonly maxEventsPerTx: number;
  /** Commits the records in one transaction and returns verified proofs, in order. */
  commit(records: AuditEventRecord[]): Promise<AppendResult[]>;
  getVerified(eventId: string, trusted?: LedgerState): Promise<AppendResult | null>;
  getMany(eventIds: readonly string[]): Promise<(StoredEvent | null)[]>;
  scanTimeline(correlationId: string, options: { after?: TimelinePosition; limit: number; direction: ScanDirection }): Promise<TimelinePage>;
  readTransactions(afterTxId: string, maxTxs: number): Promise<CommittedTx[]>;
  lastTxId(): Promise<string>;
  commitTimes(txIds: readonly string[]): Promise<(string | null)[]>;
  trustedState(): Promise<LedgerState>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

interface Pending {
  events: NewEvent[];
  resolve: (r: AppendResult[]) => void;
  reject: (e: unknown) => void;
}

export class GroupCommitLedger implements Ledger {
  readonly kind: Ledger['kind'];
  readonly database: string;
  private queue: Pending[] = [];
  private draining: Promise<void> | null = null;
  private closed = false;

  /**
   * @param groupLimit how many events concurrent callers may share one transaction with. Kept
   * moderate on purpose: immudb 1.1 reads a value by reading its whole transaction, so events
   * committed in huge transactions are slower to read forever after (a 50-event timeline page
   * costs ~3 ms from 10-event transactions and ~60 ms from 1,000-event ones). A single caller's
   * batch is never split, whatever its size: it is all or nothing.
   */
  constructor(
    private readonly backend: LedgerBackend,
    private readonly groupLimit = 64,
  ) {
    this.kind = backend.kind;
    this.database = backend.database;
  }

  get maxEventsPerAppend(): number {
    return this.backend.maxEventsPerTx;
  }

  append(events: NewEvent[]): Promise<AppendResult[]> {
    if (this.closed) return Promise.reject(new AuditError(ErrorCode.LEDGER_UNAVAILABLE, 'the ledger is shutting down'));
    if (events.length === 0) return Promise.resolve([]);
    if (events.length > this.backend.maxEventsPerTx) {
      return Promise.reject(
        new AuditError(
          ErrorCode.BAD_USER_INPUT,
          `This ledger commits at most ${this.backend.maxEventsPerTx} events in one transaction; got ${events.length}`,
          { violations: [{ path: 'input', message: `at most ${this.backend.maxEventsPerTx} events` }] },
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = this.drain().finally(() => {
      this.draining = null;
      // A caller may have queued after the loop saw an empty queue but before this ran.
      if (this.queue.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      // Take whole callers while they fit the group (the first one always goes, whatever its size).
      const group: Pending[] = [];
      let size = 0;
      const limit = Math.min(this.groupLimit, this.backend.maxEventsPerTx);
      while (this.queue.length > 0 && (group.length === 0 || size + this.queue[0]!.events.length <= limit)) {
        const p = this.queue.shift()!;
        group.push(p);
        size += p.events.length;
      }
      await this.commitGroup(group);
    }
  }

  private async commitGroup(group: Pending[]): Promise<void> {
    let existing: Map<string, StoredEvent>;
    try {
      existing = await this.lookup(group);
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
        const results = await this.backend.commit(toWrite);
        written = new Map(results.map((r) => [r.event.record.eventId, r]));
      }
    } catch (e) {
      for (const { p } of plans) p.reject(e);
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
            const again = w ?? (await this.backend.getVerified(id));
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

  private async lookup(group: Pending[]): Promise<Map<string, StoredEvent>> {
    const ids = [...new Set(group.flatMap((p) => p.events.filter((e) => !e.eventIdGenerated).map((e) => e.record.eventId)))];
    if (ids.length === 0) return new Map();
    const found = await this.backend.getMany(ids);
    const map = new Map<string, StoredEvent>();
    found.forEach((s, i) => s && map.set(ids[i]!, s));
    return map;
  }

  getVerified(eventId: string, trusted?: LedgerState) {
    return this.backend.getVerified(eventId, trusted);
  }
  getMany(eventIds: readonly string[]) {
    return this.backend.getMany(eventIds);
  }
  scanTimeline(correlationId: string, options: { after?: TimelinePosition; limit: number; direction: ScanDirection }) {
    return this.backend.scanTimeline(correlationId, options);
  }
  readTransactions(afterTxId: string, maxTxs: number) {
    return this.backend.readTransactions(afterTxId, maxTxs);
  }
  lastTxId() {
    return this.backend.lastTxId();
  }
  commitTimes(txIds: readonly string[]) {
    return this.backend.commitTimes(txIds);
  }
  trustedState() {
    return this.backend.trustedState();
  }
  ping() {
    return this.backend.ping();
  }

  /** Stops taking writes, lets queued ones finish, then closes the backend. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.draining) await this.draining;
    await this.backend.close();
  }
}
