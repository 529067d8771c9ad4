/**
 * The index of a gateway: Redis when REDIS_URL is set (shared by all instances), in process
 * otherwise; and the indexer that follows the ledger into it.
 */
import type { Ledger } from '../ledger/port.ts';
import { Indexer, type IndexerOptions } from './indexer.ts';
import { MemoryEventIndex } from './memory-index.ts';
import type { EventIndex } from './port.ts';
import { indexNamespace, RedisEventIndex } from './redis-index.ts';

export type { EventIndex } from './port.ts';
export { DEFAULT_BULK_MAX_EVENTS, Indexer, type IndexLag } from './indexer.ts';
export { INDEX_ORDERS, type IndexOrder } from './range.ts';
export { DIMENSIONS, MAX_BUCKETS, normalizeStatsQuery, STATS_INTERVALS, type Dimension, type StatsGroup, type StatsInterval } from './counting.ts';
export { normalizeCorrelationQuery, type CorrelationNode } from './correlations.ts';

// Shaped like live/index.ts's openLive (Redis or in process, then the follower): other types, and a generic opener would outgrow both.
export interface OpenIndexOptions {
  ledger: Ledger;
  /** null: the in-process index. */
  redisUrl: string | null;
  /** Key namespace; default from the ledger's kind and database (`ag:idx:v1:{immudb%3Adefaultdb}:`). */
  namespace?: string;
  logger?: IndexerOptions['logger'];
  indexer?: Omit<IndexerOptions, 'logger'>;
}

export interface IndexSetup {
  index: EventIndex;
  indexer: Indexer;
  /** Stops the indexer and closes the index connections. */
  close(): Promise<void>;
}

/** Opens the index and creates (does not start) its indexer. Never fails because Redis is down. */
export async function openEventIndex(options: OpenIndexOptions): Promise<IndexSetup> {
  const { ledger, logger } = options;
  const index: EventIndex = options.redisUrl
    ? await RedisEventIndex.open({
        url: options.redisUrl,
        namespace: options.namespace ?? indexNamespace(`${ledger.kind}:${ledger.database}`),
        ...(logger ? { onError: (message: string) => logger.warn(message) } : {}),
      })
    : new MemoryEventIndex();
  const indexer = new Indexer(ledger, index, { ...options.indexer, ...(logger ? { logger } : {}) });
  return {
    index,
    indexer,
    async close() {
      await indexer.stop();
      await index.close();
    },
  };
}
