/**
 * The event index on real services: the contract suite on Redis and in process, following a real
 * immudb ledger, and in process following the embedded ledger (the set-up without services).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { IndexLayoutOptions } from '../../src/index/codes.ts';
import { Indexer } from '../../src/index/indexer.ts';
import { MemoryEventIndex } from '../../src/index/memory-index.ts';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import { fieldKey } from '../../src/index/members.ts';
import { indexNamespace, RedisEventIndex } from '../../src/index/redis-index.ts';
import { eventIndexContract } from '../contract/index-contract.ts';
import { appendAll } from '../contract/index-contract.ts';
import { expectRedisEqualsLedger, waitCaughtUp, waitUntil } from '../support/index-helpers.ts';
import { BASE_MS, bruteStats, makePools, Model, randomEvent, SPAN_MS } from '../support/index-model.ts';
import { prng } from '../unit/_random.ts';
import { describeImmudb, openTestImmudbLedger, redisUrl, tempDir } from '../support/services.ts';

const describeRedis = redisUrl ? describe : describe.skip;

/**
 * A layout that reaches every case with 5,000 events: chunks of 4 members (thousands of chunks,
 * splits at both ends and in the middle), codebooks of 2 or 3 codes (most coded values overflow
 * and are found through their sets), and values turning dense after 150 events.
 */
const TIGHT: IndexLayoutOptions & { chunkSize: number } = {
  chunkSize: 4,
  denseMinEvents: 150,
  maxCodes: { eventCategory: 3, resourceType: 2, actorType: 2, outcome: 2, clusterName: 2, eventAction: 3, resourceNamespace: 2, recordedBy: 1, severity: 2 },
};

describeImmudb('event index on immudb', () => {
  describeRedis('Redis', () => {
    // The first two rebuild in bulk (all of it; 1,700 events, then batch by batch), the third batch by batch only.
    for (const [name, layout, bulkMaxEvents] of [
      ['redis', {}, undefined],
      ['redis, tight layout', TIGHT, 1_700],
      ['redis, tight layout, batch by batch', TIGHT, 0],
    ] as const) {
      eventIndexContract(
        name,
        async () => {
          const ledger = await openTestImmudbLedger();
          const index = await RedisEventIndex.open({ url: redisUrl!, namespace: indexNamespace(`test-${randomBytes(6).toString('hex')}`), ...layout });
          const indexer = new Indexer(ledger, index, { bulkMaxEvents });
          const admin = new Redis(redisUrl!);
          return {
            ledger,
            index,
            indexer,
            check: (records) => expectRedisEqualsLedger(admin, index.namespace, records, 'chunkSize' in layout ? layout.chunkSize : 128),
            async close() {
              await indexer.stop();
              await index.close();
              await ledger.close();
              admin.disconnect();
            },
          };
        },
        { ...(name === 'redis' ? {} : { filters: bulkMaxEvents === 0 ? 50 : 100 }), bulk: bulkMaxEvents !== 0 },
      );
    }
  });

  for (const [name, layout, bulkMaxEvents] of [
    ['memory', {}, undefined],
    ['memory, tight layout', TIGHT, 1_700],
    ['memory, tight layout, batch by batch', TIGHT, 0],
  ] as const) {
    eventIndexContract(
      name,
      async () => {
        const ledger = await openTestImmudbLedger();
        const index = new MemoryEventIndex(layout);
        const indexer = new Indexer(ledger, index, { bulkMaxEvents });
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
      { ...(name === 'memory' ? {} : { filters: bulkMaxEvents === 0 ? 50 : 100 }), bulk: bulkMaxEvents !== 0 },
    );
  }
});

describe('event index on the embedded ledger', () => {
  it('stop() during a bulk load abandons it before anything is written', async () => {
    const ledger = await openEmbeddedLedger({ dataDir: tempDir() });
    const index = new MemoryEventIndex();
    let stopped: Promise<void> | null = null;
    const indexer = new Indexer(ledger, index, {
      eventsPerRead: 1_000,
      // Stop as the first read arrives: reading goes no further and the build is dropped.
      onBulkRead: () => {
        stopped ??= indexer.stop();
      },
    });
    try {
      const rand = prng(31);
      const pools = makePools(rand);
      await appendAll(
        ledger,
        Array.from({ length: 20_000 }, () => randomEvent(rand, pools)),
        rand,
      );
      indexer.start();
      await waitUntil('the first bulk read', async () => stopped !== null);
      await stopped;
      expect(indexer.stats).toMatchObject({ role: 'stopped', bulkLoads: 0, eventsApplied: 0 });
      expect(await index.state()).toMatchObject({ status: 'building', checkpoint: '0', events: 0 });
      // Started again, it loads everything.
      indexer.start();
      await waitCaughtUp(index, ledger);
      expect(indexer.stats.bulkLoads).toBe(1);
      expect((await index.state())?.events).toBe(20_000);
    } finally {
      await indexer.stop();
      await ledger.close();
    }
  }, 60_000);

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
    { filters: 60, bulk: true },
  );
});

describeRedis('rollups (Redis index on the embedded ledger)', () => {
  it('counts coded filters over whole minutes, hours and days from the rollups, and walks once an event was applied twice', async () => {
    const ledger = await openEmbeddedLedger({ dataDir: tempDir() });
    const index = await RedisEventIndex.open({ url: redisUrl!, namespace: indexNamespace(`test-${randomBytes(6).toString('hex')}`) });
    const indexer = new Indexer(ledger, index);
    const admin = new Redis(redisUrl!);
    try {
      const rand = prng(77);
      const pools = makePools(rand);
      // Two thirds in 2025 (past the minute buckets' retention: their partial hours are walked),
      // a third in the last 10 days (minute buckets read).
      const DAY = 86_400_000;
      const recent = Math.floor(Date.now() / DAY) * DAY - 10 * DAY;
      const events = Array.from({ length: 3_000 }, (_, i) =>
        i % 3 === 0 ? randomEvent(rand, pools, { ms: recent + Math.floor(rand() * 10 * DAY) }) : randomEvent(rand, pools),
      );
      await appendAll(ledger, events, rand);
      await indexer.catchUp();
      const model = new Model(events.map((e) => e.record));
      expect(
        await expectRedisEqualsLedger(
          admin,
          index.namespace,
          model.sorted.map((e) => e.record),
        ),
      ).toEqual([]);
      // Windows that start and end inside hours, old and recent: minutes, hours, days and walks.
      const odd = (ms: number) => new Date(ms + 17 * 60_000 + 4_321).toISOString();
      for (const [since, until] of [
        [BASE_MS + 3 * DAY + 5 * 3_600_000, BASE_MS + 7 * DAY + 2 * 3_600_000],
        [recent + DAY + 3_600_000, recent + 9 * DAY + 13 * 3_600_000],
        [BASE_MS, recent + 10 * DAY],
      ] as const) {
        for (const interval of until - since < 10_000 * 3_600_000 ? ['HOUR', 'DAY', null] : ['DAY', null]) {
          const f = { outcome: ['FAILURE', 'PENDING'], since: odd(since), until: odd(until) };
          expect(await index.stats({ filter: f, groupBy: ['OUTCOME', 'EVENT_CATEGORY'], interval }), JSON.stringify(f)).toEqual(
            bruteStats(model, f, ['OUTCOME', 'EVENT_CATEGORY'], interval),
          );
          const w = { since: odd(since), until: odd(until) };
          expect(await index.stats({ filter: w, groupBy: ['OUTCOME'], interval })).toEqual(bruteStats(model, w, ['OUTCOME'], interval));
        }
      }
      const minute = { since: odd(recent + 2 * DAY), until: odd(recent + 3 * DAY) };
      expect(await index.stats({ filter: minute, groupBy: ['RESOURCE_TYPE'], interval: 'MINUTE' })).toEqual(
        bruteStats(model, minute, ['RESOURCE_TYPE'], 'MINUTE'),
      );
      // A recent minute's bucket is read (one more in its total shows up); an old one's is not kept.
      const busy = model.sorted.map((e) => e.position.ms).find((ms) => ms > recent + 4 * DAY)!;
      const m0 = Math.floor(busy / 60_000) * 60_000;
      const inside = { since: new Date(m0 - 10 * 60_000).toISOString(), until: new Date(m0 + 20 * 60_000).toISOString() }; // no whole hour in it
      const before = (await index.stats({ filter: inside })).total;
      expect(before).toBe(bruteStats(model, inside, [], null).total);
      await admin.hincrby(`${index.namespace}ru:m:${m0 / 60_000}`, '#t', 1);
      expect((await index.stats({ filter: inside })).total).toBe(before + 1);
      expect(await admin.exists(`${index.namespace}ru:m:${Math.floor(BASE_MS / 60_000) + 1}`)).toBe(0);
      const filter = { outcome: ['FAILURE'], since: new Date(BASE_MS).toISOString(), until: new Date(BASE_MS + SPAN_MS).toISOString() };
      const want = bruteStats(model, filter, ['OUTCOME'], 'DAY');
      expect(want.total).toBeGreaterThan(100);
      expect(await index.stats({ filter, groupBy: ['OUTCOME'], interval: 'DAY' })).toEqual(want);
      // The answer came from the day buckets: one more event in a FAILURE cell of one shows up.
      const failure = Number(await admin.hget(`${index.namespace}cb`, 'oc:FAILURE'));
      const dayKey = `${index.namespace}ru:d:${Math.floor(BASE_MS / 86_400_000) + 3}`;
      const flat = (await admin.callBuffer('HGETALL', dayKey)) as Buffer[];
      const cell = flat.filter((_, i) => i % 2 === 0).find((c) => c.length === 3 && (c[2]! & 7) === Math.abs(failure));
      expect(cell).toBeDefined();
      await admin.hincrby(Buffer.from(dayKey), cell!, 1);
      expect((await index.stats({ filter, interval: 'DAY' })).total).toBe(want.total + 1);
      expect(await index.count(filter)).toBe(want.total + 1);
      // Without a filter the bucket's per-code fields answer: one more FAILURE there shows up as such.
      const window = { since: filter.since, until: filter.until };
      const all = bruteStats(model, window, ['OUTCOME'], 'DAY');
      await admin.hincrby(Buffer.from(dayKey), Buffer.concat([Buffer.from('#oc'), Buffer.from([Math.abs(failure)])]), 1);
      await admin.hincrby(dayKey, '#t', 1);
      const tampered = await index.stats({ filter: window, groupBy: ['OUTCOME'], interval: 'DAY' });
      expect(tampered.total).toBe(all.total + 1);
      expect(tampered.groups.find((g) => g.value === 'FAILURE')?.count).toBe(all.groups.find((g) => g.value === 'FAILURE')!.count + 1);
      // An index that ever applied an event twice (applied ≠ events) no longer trusts its rollups: it walks the sets.
      await admin.hincrby(`${index.namespace}meta`, 'applied', 1);
      expect(await index.stats({ filter, groupBy: ['OUTCOME'], interval: 'DAY' })).toEqual(want);
      expect(await index.count(filter)).toBe(want.total);
      expect(await index.stats({ filter: window, groupBy: ['OUTCOME'], interval: 'DAY' })).toEqual(all);
    } finally {
      await indexer.stop();
      await index.close();
      await ledger.close();
      admin.disconnect();
    }
  }, 60_000);

  it('counts one eventType or actorId with coded fields and no window from its value rollup (kept in bulk and batch by batch), and walks once an event was applied twice', async () => {
    const ledger = await openEmbeddedLedger({ dataDir: tempDir() });
    const index = await RedisEventIndex.open({ url: redisUrl!, namespace: indexNamespace(`test-${randomBytes(6).toString('hex')}`) });
    const indexer = new Indexer(ledger, index);
    const admin = new Redis(redisUrl!);
    try {
      const rand = prng(78);
      const pools = makePools(rand);
      const events = Array.from({ length: 3_000 }, () => randomEvent(rand, pools));
      await appendAll(ledger, events.slice(0, 2_000), rand);
      await indexer.catchUp(); // in bulk
      expect(indexer.stats.bulkLoads).toBe(1);
      await appendAll(ledger, events.slice(2_000), rand);
      await indexer.catchUp(); // batch by batch, into the same rollups
      const model = new Model(events.map((e) => e.record));
      expect(
        await expectRedisEqualsLedger(
          admin,
          index.namespace,
          model.sorted.map((e) => e.record),
        ),
      ).toEqual([]);
      const type = 'gateway.signal.received';
      const actor = 'a:oc:FAILURE'; // escaped in its key
      const byType = { eventType: [type], outcome: ['FAILURE'] };
      const byActor = { actorId: [actor] };
      const want = bruteStats(model, byType, ['OUTCOME'], null);
      const wantActor = bruteStats(model, byActor, ['OUTCOME'], null);
      expect(want.total).toBeGreaterThan(50);
      expect(wantActor.total).toBeGreaterThan(50);
      expect(await index.count(byType)).toBe(want.total);
      expect(await index.stats({ filter: byType, groupBy: ['OUTCOME'] })).toEqual(want);
      expect(await index.stats({ filter: byActor, groupBy: ['OUTCOME'] })).toEqual(wantActor);
      const byOutcome = bruteStats(model, { outcome: ['FAILURE'] }, ['EVENT_TYPE'], null);

      // The answers come from the value rollups: one more event in a FAILURE cell of the type's shows up …
      const typeKey = `${index.namespace}vr:${fieldKey('eventType', type)}`;
      const failure = Number(await admin.hget(`${index.namespace}cb`, 'oc:FAILURE'));
      const flat = (await admin.callBuffer('HGETALL', typeKey)) as Buffer[];
      const cell = flat.filter((_, i) => i % 2 === 0).find((c) => c.length === 3 && (c[2]! & 7) === Math.abs(failure));
      expect(cell).toBeDefined();
      await admin.hincrby(Buffer.from(typeKey), cell!, 1);
      expect(await index.count(byType)).toBe(want.total + 1);
      const tampered = await index.stats({ filter: byType, groupBy: ['OUTCOME'] });
      expect(tampered.total).toBe(want.total + 1);
      expect(tampered.groups).toEqual([{ dimension: 'OUTCOME', value: 'FAILURE', count: want.total + 1 }]);
      // … also in a group by eventType (each type's count is its rollup's) …
      const grouped = await index.stats({ filter: { outcome: ['FAILURE'] }, groupBy: ['EVENT_TYPE'] });
      expect(grouped.groups.find((g) => g.value === type)?.count).toBe(byOutcome.groups.find((g) => g.value === type)!.count + 1);
      // … but not in a window, which walks.
      const windowed = { ...byType, since: new Date(BASE_MS).toISOString() };
      expect(await index.count(windowed)).toBe(want.total);
      // Without checks the total and per-code fields answer: the actor's total and its FAILURE field.
      const actorKey = `${index.namespace}vr:${fieldKey('actorId', actor)}`;
      expect(actorKey).toContain('vr:ai:a%3Aoc%3AFAILURE');
      await admin.hincrby(actorKey, '#t', 1);
      await admin.hincrby(Buffer.from(actorKey), Buffer.concat([Buffer.from('#oc'), Buffer.from([Math.abs(failure)])]), 1);
      expect(await index.count(byActor)).toBe(wantActor.total + 1);
      const actorStats = await index.stats({ filter: byActor, groupBy: ['OUTCOME'] });
      expect(actorStats.total).toBe(wantActor.total + 1);
      expect(actorStats.groups.find((g) => g.value === 'FAILURE')?.count).toBe(wantActor.groups.find((g) => g.value === 'FAILURE')!.count + 1);

      // An index that ever applied an event twice (applied ≠ events) no longer trusts them: it walks.
      await admin.hincrby(`${index.namespace}meta`, 'applied', 1);
      expect(await index.count(byType)).toBe(want.total);
      expect(await index.stats({ filter: byType, groupBy: ['OUTCOME'] })).toEqual(want);
      expect(await index.stats({ filter: byActor, groupBy: ['OUTCOME'] })).toEqual(wantActor);
      expect(await index.count(byActor)).toBe(wantActor.total);
      expect(await index.stats({ filter: { outcome: ['FAILURE'] }, groupBy: ['EVENT_TYPE'] })).toEqual(byOutcome);
    } finally {
      await indexer.stop();
      await index.close();
      await ledger.close();
      admin.disconnect();
    }
  }, 60_000);
});
