/**
 * The live contract on real services: the Redis signal with feeds following a real immudb
 * (a private Redis per suite, restarted to lose signals), and the in-process signal with feeds
 * following the embedded ledger (the set-up without services).
 */
import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import type { Ledger } from '../../src/ledger/port.ts';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import { LiveFeed } from '../../src/live/index.ts';
import { MemoryLiveSignal, MemorySignalHub } from '../../src/live/memory-signal.ts';
import type { LiveSignal, SignalListener } from '../../src/live/port.ts';
import { liveChannel, RedisLiveSignal } from '../../src/live/redis-signal.ts';
import { liveContract, type LiveInstance } from '../contract/live-contract.ts';
import { startRedis } from '../support/servers.ts';
import { describeImmudb, openTestImmudbLedger, redisUrl, tempDir, uniqueDatabase } from '../support/services.ts';

const describeRedis = redisUrl ? describe : describe.skip;

function instanceOf(ledger: Ledger, feed: LiveFeed, closeMore: () => Promise<void>): LiveInstance {
  feed.start();
  ledger.onAppended((r) => feed.appended(r));
  return {
    feed,
    append: (events) => ledger.append(events),
    async close() {
      await feed.stop();
      await closeMore();
    },
  };
}

describeImmudb('live feed on immudb', () => {
  describeRedis('Redis signal', () => {
    liveContract('redis', async () => {
      const redis = await startRedis();
      const url = `redis://${redis.address}`;
      const database = uniqueDatabase();
      const channel = liveChannel(`test-${randomBytes(6).toString('hex')}`);
      const ledger = await openTestImmudbLedger({ database });
      return {
        ledger,
        // Each instance has its own immudb session and Redis connections, as a gateway would.
        async instance(options) {
          const own = await openTestImmudbLedger({ database });
          const signal = await RedisLiveSignal.open({ url, channel });
          return instanceOf(own, new LiveFeed(own, signal, options), async () => {
            await signal.close();
            await own.close();
          });
        },
        async loseSignals(during) {
          await redis.kill();
          await during();
          await redis.start();
        },
        async close() {
          await ledger.close();
          await redis.destroy();
        },
      };
    });
  });
});

/** In process: a signal that drops what is published while `losing`. */
class LossySignal implements LiveSignal {
  readonly kind = 'memory' as const;
  constructor(
    private readonly inner: MemoryLiveSignal,
    private readonly losing: () => boolean,
  ) {}
  publish(txId: string): void {
    if (!this.losing()) this.inner.publish(txId);
  }
  subscribe(listener: SignalListener): () => void {
    return this.inner.subscribe(listener);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('live feed on the embedded ledger', () => {
  liveContract('in process, embedded ledger', async () => {
    const ledger = await openEmbeddedLedger({ dataDir: tempDir() });
    const hub = new MemorySignalHub();
    let losing = false;
    return {
      ledger,
      async instance(options) {
        const signal = new LossySignal(new MemoryLiveSignal(hub), () => losing);
        return instanceOf(ledger, new LiveFeed(ledger, signal, options), () => signal.close());
      },
      async loseSignals(during) {
        losing = true;
        await during();
        losing = false;
      },
      async close() {
        await ledger.close();
      },
    };
  });
});
