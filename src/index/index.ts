/**
 * The index of a gateway: Redis when REDIS_URL is set (shared by all instances), in process
 * otherwise; and the indexer that follows the ledger into it.
 */
import type { AppendListener, Ledger } from '../ledger/port.ts';
import { Indexer, type IndexerOptions } from './indexer.ts';
import { MemoryEventIndex } from './memory-index.ts';
import type { EventIndex } from './port.ts';
import { indexNamespace, RedisEventIndex } from './redis-index.ts';

export type { EventIndex } from './port.ts';
export { Indexer } from './indexer.ts';

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

/**
 * `ledger`, with `onAppend` told the results of every append on it (the indexer's kick, the live
 * feed's `appended`): a listener on the ledger's group commit (Ledger.onAppended).
 */
export function withAppendHook<L extends Ledger>(ledger: L, onAppend: AppendListener): L {
  ledger.onAppended(onAppend);
  return ledger;
}
