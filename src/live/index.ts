/**
 * Live subscriptions of a gateway: the feed that follows the ledger, woken across instances by
 * Redis pub/sub when REDIS_URL is set, in process otherwise.
 */
import type { Ledger } from '../ledger/port.ts';
import { LiveFeed, type LiveFeedOptions } from './feed.ts';
import { MemoryLiveSignal, type MemorySignalHub } from './memory-signal.ts';
import type { LiveSignal } from './port.ts';
import { liveChannel, RedisLiveSignal } from './redis-signal.ts';

export { LiveFeed, type LiveFeedOptions, type LiveStats } from './feed.ts';
export { LiveSubscription, parseTxId, type LiveItem } from './subscription.ts';
export type { LiveSignal } from './port.ts';

// Shaped like index/index.ts's openEventIndex (Redis or in process, then the follower): other types, and a generic opener would outgrow both.
export interface OpenLiveOptions {
  ledger: Ledger;
  /** null: the in-process signal. */
  redisUrl: string | null;
  /** Pub/sub channel; default from the ledger's kind and database. */
  channel?: string;
  /** In-process instances that should hear each other share a hub (tests). */
  hub?: MemorySignalHub;
  logger?: LiveFeedOptions['logger'];
  feed?: Omit<LiveFeedOptions, 'logger'>;
}

export interface LiveSetup {
  feed: LiveFeed;
  signal: LiveSignal;
  /** Completes every subscription, stops the feed, closes the signal's connections. */
  close(): Promise<void>;
}

/** Opens the signal and creates (does not start) the feed. Never fails because Redis is down. */
export async function openLive(options: OpenLiveOptions): Promise<LiveSetup> {
  const { ledger, logger } = options;
  const signal: LiveSignal = options.redisUrl
    ? await RedisLiveSignal.open({
        url: options.redisUrl,
        channel: options.channel ?? liveChannel(`${ledger.kind}:${ledger.database}`),
        ...(logger ? { onError: (message: string) => logger.warn(message) } : {}),
      })
    : new MemoryLiveSignal(options.hub);
  const feed = new LiveFeed(ledger, signal, { ...options.feed, ...(logger ? { logger } : {}) });
  return {
    feed,
    signal,
    async close() {
      await feed.stop();
      await signal.close();
    },
  };
}
