/**
 * The event index on real services: the contract suite on Redis and in process, following a real
 * immudb 1.1.0 ledger, and in process following the embedded ledger (the set-up without services).
 */
import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import { Indexer } from '../../src/index/indexer.ts';
import { MemoryEventIndex } from '../../src/index/memory-index.ts';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import { indexNamespace, RedisEventIndex } from '../../src/index/redis-index.ts';
import { eventIndexContract } from '../contract/index-contract.ts';
import { describeImmudb, openTestImmudbLedger, redisUrl, tempDir } from '../support/services.ts';

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

describe('event index on the embedded ledger', () => {
  eventIndexContract(
    'memory, embedded ledger',
    async () => {
      const ledger = await openEmbeddedLedger({ dataDir: tempDir() });
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
    },
    { filters: 60 },
  );
});
