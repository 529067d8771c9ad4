/**
 * The event index on real services: the contract suite on Redis and in process (both following a
 * real immudb 1.1.0 ledger).
 */
import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import { Indexer } from '../../src/index/indexer.ts';
import { MemoryEventIndex } from '../../src/index/memory-index.ts';
import { indexNamespace, RedisEventIndex } from '../../src/index/redis-index.ts';
import { eventIndexContract } from '../contract/index-contract.ts';
import { describeImmudb, openTestImmudbLedger, redisUrl } from '../support/services.ts';

const describeRedis = redisUrl ? describe : describe.skip;

describeImmudb('event index on immudb 1.1.0', () => {
  describeRedis('Redis', () => {
    eventIndexContract('redis', async () => {
      const ledger = await openTestImmudbLedger();
      const index = await RedisEventIndex.open({ url: redisUrl!, namespace: indexNamespace(`test-${randomBytes(6).toString('hex')}`) });
      const indexer = new Indexer(ledger, index);
      return {
        ledger,
        index,
        indexer,
        async close() {
          await indexer.stop();
          await index.close();
          await ledger.close();
        },
      };
    });
  });

  eventIndexContract('memory', async () => {
    const ledger = await openTestImmudbLedger();
    const index = new MemoryEventIndex();
    const indexer = new Indexer(ledger, index);
    return {
      ledger,
      index,
      indexer,
      async close() {
        await indexer.stop();
        await ledger.close();
      },
    };
  });
});
