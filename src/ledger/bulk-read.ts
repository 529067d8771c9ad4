/**
 * Helpers of `Ledger.readInBulk`: the bound on whole txs, retries, and an implementation for a
 * ledger whose `readTransactions` is already cheap per event (the embedded ledger).
 */
import { ErrorCode, isAuditError } from '../errors.ts';
import type { BulkReadStep, CommittedTx } from './port.ts';

/** Whether a bulk read holding `events` events so far takes a tx of `n` more (always the first). */
export const takesTx = (events: number, txsTaken: number, n: number, maxEvents: number): boolean => txsTaken === 0 || events + n <= maxEvents;

/**
 * `read()`, tried up to `attempts` times while it fails with LEDGER_UNAVAILABLE (a refused or
 * unverifiable read fails the same way again) and `keepTrying()`; waits 400 ms, 800 ms, … up to
 * 5 s in between.
 */
export async function retrying<T>(read: () => Promise<T>, attempts: number, keepTrying: () => boolean = () => true): Promise<T> {
  for (let a = 1; ; a++) {
    try {
      return await read();
    } catch (e) {
      if (a >= attempts || !isAuditError(e) || e.code !== ErrorCode.LEDGER_UNAVAILABLE || !keepTrying()) throw e;
      await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** a)));
    }
  }
}

/** readInBulk through `readTransactions`: a window of txs at a time, each listed, then its events in commit order. */
export async function* readInBulkInOrder(
  readTransactions: (afterTxId: string, maxTxs: number) => Promise<CommittedTx[]>,
  afterTxId: string,
  { maxEvents, attempts = 1 }: { maxEvents: number; attempts?: number },
): AsyncGenerator<BulkReadStep, void, undefined> {
  let after = afterTxId;
  let events = 0;
  let txsTaken = 0;
  for (;;) {
    const txs = await retrying(() => readTransactions(after, 100), attempts);
    const taken: CommittedTx[] = [];
    const first = events; // the ordinal of this window's first event
    for (const tx of txs) {
      if (!takesTx(events, txsTaken, tx.events.length, maxEvents)) break;
      taken.push(tx);
      txsTaken++;
      events += tx.events.length;
    }
    if (taken.length === 0) return;
    yield { txs: taken.map((tx) => ({ txId: tx.txId, events: tx.events.length })) };
    yield { events: taken.flatMap((tx) => tx.events).map((e, i) => ({ ordinal: first + i, record: e.record })) };
    if (taken.length < txs.length) return;
    after = taken[taken.length - 1]!.txId;
  }
}
