/**
 * The live port: how gateway instances tell each other that the ledger has moved on.
 *
 * A signal is a wake-up only, never data: every instance's LiveFeed reads the events themselves
 * from the ledger, in txId order, from the last tx it has seen. So a signal that is lost (Redis
 * restarted, a subscriber connection dropped) can delay delivery until the next poll, but never
 * lose or reorder an event.
 *
 * Implemented in process (memory-signal.ts; REDIS_URL unset: one instance, or several sharing a
 * hub in one process) and over Redis pub/sub (redis-signal.ts). Both pass the same contract suite
 * (test/contract/live-contract.ts), run through the LiveFeed.
 */

export interface SignalListener {
  /** Some instance committed `txId` (a decimal string; possibly one this instance wrote). */
  onTx(txId: string): void;
  /** The channel may have lost signals (it reconnected): followers should look at the ledger now. */
  onGap(): void;
}

export interface LiveSignal {
  readonly kind: 'memory' | 'redis';
  /** Tells every instance (this one included) that `txId` is committed. Never throws, never waits. */
  publish(txId: string): void;
  /** Starts delivering to `listener`; returns the function that stops it. */
  subscribe(listener: SignalListener): () => void;
  close(): Promise<void>;
}
