/**
 * The in-process signal (REDIS_URL unset). Instances in one process that share a hub hear each
 * other (tests run two gateways that way); by default each signal has a hub of its own.
 */
import type { LiveSignal, SignalListener } from './port.ts';

export class MemorySignalHub {
  readonly listeners = new Set<SignalListener>();
}

export class MemoryLiveSignal implements LiveSignal {
  readonly kind = 'memory' as const;
  private readonly mine = new Set<SignalListener>();

  constructor(private readonly hub: MemorySignalHub = new MemorySignalHub()) {}

  publish(txId: string): void {
    // Asynchronously, as over Redis: a publisher never runs the followers' code on its own stack.
    queueMicrotask(() => {
      for (const l of this.hub.listeners) l.onTx(txId);
    });
  }

  subscribe(listener: SignalListener): () => void {
    this.hub.listeners.add(listener);
    this.mine.add(listener);
    return () => {
      this.hub.listeners.delete(listener);
      this.mine.delete(listener);
    };
  }

  async close(): Promise<void> {
    for (const l of this.mine) this.hub.listeners.delete(l);
    this.mine.clear();
  }
}
