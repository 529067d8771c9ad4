/**
 * The index of a gateway: Redis when REDIS_URL is set (shared by all instances), in process
 * otherwise; and the indexer that follows the ledger into it.
 */
import type { AppendResult, Ledger } from '../ledger/port.ts';
import { Indexer, type IndexerLogger, type IndexerOptions } from './indexer.ts';
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
  logger?: IndexerLogger;
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
 * The ledger as the write path sees it: after every append, `onAppend` with its results (the
 * indexer's kick, the live feed's `appended`).
 * Everything else, including extra members such as `maxEventsPerAppend`, passes through.
 */
export function withAppendHook<L extends Ledger>(ledger: L, onAppend: (results: AppendResult[]) => void): L {
  return new Proxy(ledger, {
    get(target, prop) {
      if (prop === 'append') {
        return async (...args: Parameters<Ledger['append']>) => {
          const results = await target.append(...args);
          onAppend(results);
          return results;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
