/**
 * The signal over Redis pub/sub: one channel per ledger, `ag:live:v1:{<scope>}:tx` (scope: ledger
 * kind and database, escaped as the index's), carrying the newest committed txId as text. TxIds of
 * another database would mean nothing to a follower, hence the scope.
 *
 * Two connections: a subscriber (subscriber mode admits no other commands) and a publisher that
 * fails fast (no offline queue), so a write never waits for Redis. Each time the subscriber
 * (re)connects it subscribes again and reports a gap: whatever was published while it was away is
 * lost, and the feed repairs that by reading the ledger from its last txId.
 */
import { Redis } from 'ioredis';
import { escapeValue } from '../events/filter.ts';
import type { LiveSignal, SignalListener } from './port.ts';
import { connectOrKeepTrying, failFastRedisOptions, reportConnectionErrors } from '../redis/fail-fast.ts';

export function liveChannel(scope: string): string {
  return `ag:live:v1:{${escapeValue(scope)}}:tx`;
}

export interface RedisSignalOptions {
  url: string;
  channel: string;
  /** Connection problems, at most one line per 10 s and connection. */
  onError?: (message: string, error: unknown) => void;
}

export class RedisLiveSignal implements LiveSignal {
  readonly kind = 'redis' as const;
  readonly channel: string;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly listeners = new Set<SignalListener>();
  private closed = false;

  private constructor(options: RedisSignalOptions) {
    this.channel = options.channel;
    // Until Redis is back the feed's poll carries on alone.
    this.pub = new Redis(options.url, failFastRedisOptions('auditgraph-live-pub', 1_000));
    // Re-subscribed by hand on every 'ready' (below), so also after a start with Redis down.
    this.sub = new Redis(options.url, { ...failFastRedisOptions('auditgraph-live-sub', 1_000), autoResubscribe: false });
    reportConnectionErrors(this.pub, 'live publisher', options.onError);
    reportConnectionErrors(this.sub, 'live subscriber', options.onError);
    this.sub.on('ready', () => {
      this.sub.subscribe(this.channel).then(
        () => this.gap(),
        () => this.sub.disconnect(true), // reconnects, and tries again on the next 'ready'
      );
    });
    this.sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      for (const l of this.listeners) l.onTx(message);
    });
  }

  /** Connects both clients; when Redis is down it returns anyway and they keep reconnecting. */
  static async open(options: RedisSignalOptions): Promise<RedisLiveSignal> {
    const signal = new RedisLiveSignal(options);
    await connectOrKeepTrying([signal.pub, signal.sub]);
    return signal;
  }

  publish(txId: string): void {
    if (this.closed) return;
    // Lost when Redis is away: the others' poll (or their reconnect) picks the tx up.
    this.pub.publish(this.channel, txId).catch(() => undefined);
  }

  subscribe(listener: SignalListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private gap(): void {
    for (const l of this.listeners) l.onGap();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await Promise.all([this.pub, this.sub].map((c) => c.quit().catch(() => c.disconnect())));
  }
}
