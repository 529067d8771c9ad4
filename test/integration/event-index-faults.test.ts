/**
 * The Redis index under faults, on real services: FLUSHALL while running, Redis stopped and
 * started again (queries fail fast, writes go on, everything becomes queryable), two indexers on
 * one Redis and one immudb (with the lease, and with compare-and-set alone), and a writer process
 * SIGKILLed between ledger write and indexing again and again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAuditError } from '../../src/errors.ts';
import { openEventIndex } from '../../src/index/index.ts';
import { IndexBuild, type BuiltIndex } from '../../src/index/bulk-build.ts';
import type { IndexTx } from '../../src/index/port.ts';
import { Indexer, indexTxOf } from '../../src/index/indexer.ts';
import { indexNamespace, RedisEventIndex } from '../../src/index/redis-index.ts';
import { createApp } from '../../src/server/app.ts';
import { createLogger } from '../../src/logger.ts';
import { appendAll, correlationsCheck, randomizedCheck, statsCheck } from '../contract/index-contract.ts';
import { expectRedisEqualsLedger, gql, ledgerRecords, sleep, waitCaughtUp, waitUntil } from '../support/index-helpers.ts';
import { makePools, randomEvent } from '../support/index-model.ts';
import { startRedis, type ManagedServer } from '../support/servers.ts';
import { describeImmudb, immudbAddress, openTestImmudbLedger, redisUrl, tempDir, uniqueDatabase } from '../support/services.ts';
import { prng } from '../unit/_random.ts';

const describeRedis = redisUrl ? describe : describe.skip;
const WRITER = new URL('../support/index-kill-writer.ts', import.meta.url).pathname;
const BULK_CHILD = new URL('../support/index-bulk-child.ts', import.meta.url).pathname;
const ns = () => indexNamespace(`test-${randomBytes(6).toString('hex')}`);

/** An index built in memory from these txs, for `index`'s layout. */
function buildOf(txs: readonly IndexTx[], index: RedisEventIndex): BuiltIndex {
  const build = new IndexBuild(index.layout);
  for (const tx of txs) build.add(tx);
  return build.result();
}

function captureLogger() {
  const lines: string[] = [];
  const push = (...a: unknown[]) => void lines.push(a.map(String).join(' '));
  return { lines, info: push, warn: push, error: push };
}

describeImmudb('event index faults (immudb, Redis)', () => {
  describeRedis('with a private Redis', () => {
    let redis: ManagedServer;
    let url: string;
    let admin: Redis;
    beforeAll(async () => {
      redis = await startRedis();
      url = `redis://${redis.address}`;
      admin = new Redis(url, { maxRetriesPerRequest: 1 });
      admin.on('error', () => undefined);
    });
    afterAll(async () => {
      admin?.disconnect();
      await redis?.destroy();
    });

    it('a bulk load whose Redis dies while it writes fails cleanly, and the indexer rebuilds once Redis is back', async () => {
      const rand = prng(24);
      const pools = makePools(rand);
      const ledger = await openTestImmudbLedger();
      const namespace = ns();
      const log = captureLogger();
      const index = await RedisEventIndex.open({ url, namespace, chunkSize: 4 }); // chunks of 4: a longer write
      const indexer = new Indexer(ledger, index, { leaseMs: 2_000, pollMs: 50, logger: log });
      try {
        await appendAll(
          ledger,
          Array.from({ length: 8_000 }, () => randomEvent(rand, pools)),
          rand,
        );
        indexer.start();
        await waitUntil('the bulk load to start writing', async () => (await admin.hget(`${namespace}meta`, 'status')) === 'loading', 60_000, 1);
        await redis.kill();
        await sleep(300);
        await redis.start(); // no persistence: it comes back empty
        await waitCaughtUp(index, ledger, 120_000);
        // The load that lost Redis counted nothing; the rebuild after it was written in bulk.
        expect(indexer.stats.bulkLoads).toBe(1);
        expect(log.lines.some((l) => l.includes('retrying with backoff'))).toBe(true);
        const records = await ledgerRecords(ledger);
        expect(await expectRedisEqualsLedger(admin, namespace, records, 4)).toEqual([]);
        // The counts and the correlation list came back exactly.
        expect((await statsCheck(index, records, pools, 25, 40)).valueRolled).toBeGreaterThan(0); // value rollups read too
        expect(await correlationsCheck(index, records, 26, 12)).toBeGreaterThan(20);
      } finally {
        await indexer.stop();
        await index.close();
        await ledger.close();
      }
    }, 180_000);

    it('rebuilds by itself after FLUSHALL while writes go on, and then answers the randomized check exactly', async () => {
      const rand = prng(7);
      const pools = makePools(rand);
      const ledger = await openTestImmudbLedger();
      const log = captureLogger();
      const { index, indexer, close } = await openEventIndex({ ledger, redisUrl: url, namespace: ns(), logger: log, indexer: { pollMs: 50 } });
      try {
        await appendAll(
          ledger,
          Array.from({ length: 2_000 }, () => randomEvent(rand, pools)),
          rand,
        );
        indexer.start();
        await waitCaughtUp(index, ledger);

        let writing = true;
        const writer = (async () => {
          while (writing) {
            await ledger.append(Array.from({ length: 1 + Math.floor(rand() * 20) }, () => randomEvent(rand, pools)));
            indexer.kick();
            await sleep(10);
          }
        })();
        await sleep(300);
        await admin.flushall();
        // Right after the flush the index cannot answer: it says so instead of returning partial results.
        const early = await index.query({ first: 10 }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(isAuditError(early) && early.code).toBe('INDEX_UNAVAILABLE');
        await sleep(500);
        writing = false;
        await writer;
        await waitCaughtUp(index, ledger);

        expect(log.lines.some((l) => /vanished/.test(l))).toBe(true);
        expect(indexer.stats.rebuilds).toBeGreaterThanOrEqual(2);
        const records = await ledgerRecords(ledger);
        expect(records.length).toBeGreaterThan(2_000);
        expect(await expectRedisEqualsLedger(admin, (index as RedisEventIndex).namespace, records)).toEqual([]);
        await randomizedCheck(index, records, pools, 8, 60);
        expect((await statsCheck(index, records, pools, 9, 30)).valueRolled).toBeGreaterThan(0);
        await correlationsCheck(index, records, 10, 12);
      } finally {
        await close();
        await ledger.close();
      }
    }, 180_000);

    it('Redis stopped: queries fail with INDEX_UNAVAILABLE within 1 s, writes succeed; Redis back (empty): all of it becomes queryable', async () => {
      const rand = prng(9);
      makePools(rand); // not used here, but it draws from `rand`: the events below stay those of seed 9
      const ledger = await openTestImmudbLedger();
      const setup = await openEventIndex({ ledger, redisUrl: url, namespace: ns(), indexer: { pollMs: 50 } });
      const { index, indexer } = setup;
      ledger.onAppended(() => indexer.kick());
      const app = createApp({
        ledger,
        index,
        config: { port: 0, host: '127.0.0.1' },
        logger: createLogger({ level: 'error', write: () => undefined }),
      });
      const { url: api } = await app.listen();
      const base = api.replace(/\/graphql$/, '');
      const QUERY = `query($f: AuditEventFilter) { auditEvents(filter: $f, first: 500, orderBy: TIMESTAMP_ASC) { edges { node { eventId } } pageInfo { hasNextPage } } }`;
      const CREATE = `mutation($input: [AuditEventInput!]!) { createAuditEvents(input: $input) { events { eventId } } }`;
      const input = (corr: string) => ({
        eventType: 'index.fault.test',
        eventCategory: 'test',
        outcome: 'SUCCESS',
        correlationId: corr,
        actorType: 'service',
        actorId: 'redis-down',
        timestamp: new Date(Date.UTC(2025, 5, 1) + Math.floor(rand() * 1e6)).toISOString(),
      });
      try {
        indexer.start();
        const before = await gql(api, CREATE, { input: Array.from({ length: 50 }, () => input('before')) });
        expect(before.body.errors).toBeUndefined();
        await waitCaughtUp(index, ledger);
        expect((await gql(`${base}/readyz`, '')).status).toBe(200);

        await redis.kill();
        for (let i = 0; i < 5; i++) {
          const t0 = performance.now();
          const r = await gql(api, QUERY, { f: { correlationId: 'before' } });
          expect(performance.now() - t0).toBeLessThan(1_000);
          expect(r.body.errors?.[0]?.extensions?.code).toBe('INDEX_UNAVAILABLE');
          const t1 = performance.now();
          const direct = await index.query({ first: 1 }).then(
            () => null,
            (e: unknown) => e,
          );
          expect(performance.now() - t1).toBeLessThan(1_000);
          expect(isAuditError(direct) && direct.code).toBe('INDEX_UNAVAILABLE');
        }
        const ready = await fetch(`${base}/readyz`);
        expect(ready.status).toBe(503);
        expect(await ready.json()).toMatchObject({ failing: ['index'] });

        // Writes do not depend on Redis: through the API and straight to the ledger.
        const written: string[] = [];
        for (let i = 0; i < 10; i++) {
          const r = await gql(api, CREATE, { input: Array.from({ length: 20 }, () => input('meanwhile')) });
          expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
          written.push(...r.body.data!.createAuditEvents.events.map((e: { eventId: string }) => e.eventId));
          await sleep(100);
        }
        expect(indexer.stats.lastError).not.toBeNull();

        await redis.start(); // no persistence: it comes back empty
        const all = await waitUntil(
          'the meanwhile events to be queryable',
          async () => {
            const r = await gql(api, QUERY, { f: { correlationId: 'meanwhile' } });
            return r.body.data?.auditEvents.edges.length === written.length ? r.body.data!.auditEvents : null;
          },
          30_000,
        );
        expect(new Set(all.edges.map((e: { node: { eventId: string } }) => e.node.eventId))).toEqual(new Set(written));
        const old = await gql(api, QUERY, { f: { correlationId: 'before' } });
        expect(old.body.data!.auditEvents.edges).toHaveLength(50);
        expect((await fetch(`${base}/readyz`)).status).toBe(200);
        expect(await expectRedisEqualsLedger(admin, (index as RedisEventIndex).namespace, await ledgerRecords(ledger))).toEqual([]);
      } finally {
        await app.close();
        await setup.close();
        await ledger.close();
      }
    }, 120_000);
  });

  describeRedis('two gateways on one Redis and one immudb', () => {
    for (const lease of [true, false]) {
      it(`index each event exactly once (${lease ? 'lease' : 'no lease: compare-and-set alone'})`, async () => {
        const rand = prng(lease ? 11 : 12);
        const pools = makePools(rand);
        const database = uniqueDatabase();
        const namespace = ns();
        const ledgers = [await openTestImmudbLedger({ database }), await openTestImmudbLedger({ database })];
        const indexes = await Promise.all(ledgers.map(() => RedisEventIndex.open({ url: redisUrl!, namespace })));
        const indexers = ledgers.map((l, i) => new Indexer(l, indexes[i]!, { pollMs: 10, leaseMs: 400, lease, maxEventsPerApply: 50, eventsPerRead: 100 }));
        const admin = new Redis(redisUrl!);
        try {
          if (!lease) await indexes[0]!.reset('initial', '0'); // without a lease, start from one agreed epoch
          for (const x of indexers) x.start();
          // Both gateways write; each kicks its own indexer.
          await Promise.all(
            ledgers.map(async (l, g) => {
              for (let i = 0; i < 60; i++) {
                await l.append(Array.from({ length: 1 + Math.floor(rand() * 30) }, () => randomEvent(rand, pools)));
                indexers[g]!.kick();
                if (lease && g === 0 && i === 30) {
                  // The leader goes away mid-stream; the other takes over once the lease expires.
                  await indexers.find((x) => x.stats.role === 'leader')?.stop();
                }
              }
            }),
          );
          for (const x of indexers) x.start();
          await waitCaughtUp(indexes[0]!, ledgers[0]!);
          const records = await ledgerRecords(ledgers[0]!);
          expect(await expectRedisEqualsLedger(admin, namespace, records)).toEqual([]);
          // Work done once: the batches the two applied add up to the ledger, not more.
          const applied = indexers.reduce((n, x) => n + x.stats.eventsApplied, 0);
          expect(applied).toBe(records.length);
          if (lease) expect(indexers.every((x) => x.stats.eventsApplied > 0)).toBe(true); // both led at some point
        } finally {
          await Promise.all(indexers.map((x) => x.stop()));
          await Promise.all(indexes.map((x) => x.close()));
          await Promise.all(ledgers.map((l) => l.close()));
          admin.disconnect();
        }
      }, 120_000);
    }
  });

  describeRedis('npm run reindex', () => {
    it('rebuilds a damaged index from the ledger while a gateway runs, which then follows on', async () => {
      const rand = prng(17);
      const pools = makePools(rand);
      const database = uniqueDatabase();
      const namespace = indexNamespace(`immudb:${database}`); // what the gateway and the command derive
      const ledger = await openTestImmudbLedger({ database });
      const index = await RedisEventIndex.open({ url: redisUrl!, namespace });
      const indexer = new Indexer(ledger, index, { pollMs: 20, leaseMs: 1_000 });
      const admin = new Redis(redisUrl!);
      try {
        await appendAll(
          ledger,
          Array.from({ length: 1_500 }, () => randomEvent(rand, pools)),
          rand,
        );
        indexer.start();
        await waitCaughtUp(index, ledger);
        const epoch = (await index.state())!.epoch;
        // damage: a set deleted, a stray key
        await admin.del(`${namespace}oc:FAILURE`);
        await admin.zadd(`${namespace}et:stray`, 0, 'x');

        const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/reindex.ts'], {
          env: { ...process.env, IMMUDB_ADDRESS: immudbAddress!, IMMUDB_DATABASE: database, DATA_DIR: tempDir(), REDIS_URL: redisUrl! },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        child.stdout!.resume();
        const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
        expect(code, stderr).toBe(0);
        expect(stderr).toMatch(/events\/s/);
        expect(stderr).toMatch(/100\.0%/);
        expect(stderr).toMatch(/done — 1,500 events/);
        expect(stderr).toMatch(/loaded 1500 events of txs 1–\d+ in bulk/); // INDEX_BULK_MAX_EVENTS by default
        const state = await index.state();
        expect(state).toMatchObject({ status: 'ready', events: 1_500, applied: 1_500 });
        expect(state!.epoch).not.toBe(epoch);
        expect(await expectRedisEqualsLedger(admin, namespace, await ledgerRecords(ledger))).toEqual([]);

        // the gateway's indexer adopts the new epoch and goes on
        await ledger.append(Array.from({ length: 30 }, () => randomEvent(rand, pools)));
        indexer.kick();
        await waitCaughtUp(index, ledger);
        expect(await expectRedisEqualsLedger(admin, namespace, await ledgerRecords(ledger))).toEqual([]);
      } finally {
        await indexer.stop();
        await index.close();
        await ledger.close();
        admin.disconnect();
      }
    }, 120_000);
  });

  describeRedis('bulk loads', () => {
    /** Keys of a namespace other than its meta and lease. */
    async function setKeys(admin: Redis, namespace: string): Promise<number> {
      let n = 0;
      let cursor = '0';
      do {
        const [next, keys] = await admin.scanBuffer(cursor, 'MATCH', `${namespace}*`, 'COUNT', 1000);
        cursor = next.toString();
        n += keys.filter((k) => !/(meta|lease)$/.test(k.toString('latin1'))).length;
      } while (cursor !== '0');
      return n;
    }

    it('writes nothing once its lease went to another instance or a new epoch began', async () => {
      const rand = prng(21);
      const pools = makePools(rand);
      const ledger = await openTestImmudbLedger();
      const namespace = ns();
      const index = await RedisEventIndex.open({ url: redisUrl!, namespace });
      const other = await RedisEventIndex.open({ url: redisUrl!, namespace });
      const admin = new Redis(redisUrl!);
      try {
        await appendAll(
          ledger,
          Array.from({ length: 600 }, () => randomEvent(rand, pools)),
          rand,
        );
        const built = buildOf((await ledger.readTransactions('0', 1000)).map(indexTxOf), index);

        await index.tick('A', 60_000);
        await index.reset('e1', await ledger.lastTxId());
        await other.tick('B', 60_000, true);
        expect(await index.load('e1', built, 'A', 60_000)).toEqual({ ok: false, reason: 'lease' });
        expect(await setKeys(admin, namespace)).toBe(0);

        await index.tick('A', 60_000, true);
        await other.reset('e2', await ledger.lastTxId());
        expect(await index.load('e1', built, 'A', 60_000)).toEqual({ ok: false, reason: 'epoch' });
        expect(await setKeys(admin, namespace)).toBe(0);
        expect(await index.state()).toMatchObject({ epoch: 'e2', status: 'building', checkpoint: '0' });

        // The same build for the current epoch, with the lease: written, and exactly the ledger.
        expect(await index.load('e2', built, 'A', 60_000)).toMatchObject({ ok: true, added: 600, status: 'ready' });
        expect(await expectRedisEqualsLedger(admin, namespace, await ledgerRecords(ledger))).toEqual([]);
        // Loaded once is loaded: a second load of the same build is refused.
        expect(await index.load('e2', built, 'A', 60_000)).toEqual({ ok: false, reason: 'moved' });
      } finally {
        await index.close();
        await other.close();
        await ledger.close();
        admin.disconnect();
      }
    }, 60_000);

    it('writes the very sets and codebook that applying the same txs as one batch writes (Redis scripts both)', async () => {
      const rand = prng(23);
      const pools = makePools(rand);
      const ledger = await openTestImmudbLedger();
      // Chunks of 4 and two or three codes per field: many chunks, overflowed and dense values.
      const layout = {
        chunkSize: 4,
        denseMinEvents: 100,
        maxCodes: { eventCategory: 3, resourceType: 2, actorType: 2, outcome: 2, clusterName: 2, severity: 1, recordedBy: 1 },
      };
      const loaded = await RedisEventIndex.open({ url: redisUrl!, namespace: ns(), ...layout });
      const applied = await RedisEventIndex.open({ url: redisUrl!, namespace: ns(), ...layout });
      try {
        await appendAll(
          ledger,
          Array.from({ length: 3_000 }, () => randomEvent(rand, pools)),
          rand,
        );
        const txs = (await ledger.readTransactions('0', 1000)).map(indexTxOf);
        const head = txs[txs.length - 1]!.txId;
        const built = buildOf(txs, loaded);
        for (const index of [loaded, applied]) {
          await index.tick('A', 60_000);
          await index.reset('e1', head);
        }
        expect(await loaded.load('e1', built, 'A', 60_000)).toMatchObject({ ok: true, added: 3_000, status: 'ready' });
        expect(await applied.apply({ epoch: 'e1', fromTxId: '0', txs })).toMatchObject({
          ok: true,
          added: 3_000,
          status: 'ready',
        });
        const { codes, counts } = await applied.codebook();
        expect(await loaded.codebook()).toEqual({ codes, counts });
        expect(Object.values(codes).some((c) => c < 0)).toBe(true); // something turned dense
        const sets = [...built.sets.keys()];
        expect(sets.length).toBeGreaterThan(50);
        for (const key of sets) expect((await loaded.setMembers(key)).members, key).toEqual((await applied.setMembers(key)).members);
        const [a, b] = await Promise.all([loaded.state(), applied.state()]);
        expect({ ...a, epoch: '' }).toEqual({ ...b, epoch: '' });
      } finally {
        await loaded.close();
        await applied.close();
        await ledger.close();
      }
    }, 60_000);

    it('a load cut short by SIGKILL is found by the next follower, which starts the rebuild again and ends exact', async () => {
      const rand = prng(22);
      const pools = makePools(rand);
      const database = uniqueDatabase();
      const namespace = ns();
      const ledger = await openTestImmudbLedger({ database });
      const admin = new Redis(redisUrl!);
      const log = captureLogger();
      const index = await RedisEventIndex.open({ url: redisUrl!, namespace, chunkSize: 4 });
      const indexer = new Indexer(ledger, index, { leaseMs: 1_000, logger: log });
      try {
        await appendAll(
          ledger,
          Array.from({ length: 8_000 }, () => randomEvent(rand, pools)),
          rand,
        );
        const env = { ...process.env, AG_IMMUDB: immudbAddress!, AG_DB: database, AG_REDIS: redisUrl!, AG_NS: namespace };
        const child = spawn(process.execPath, ['--import', 'tsx', BULK_CHILD, tempDir()], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
        const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
        // Kill it the moment its load starts writing.
        await waitUntil(
          'the child to start writing its bulk load',
          async () => (await admin.hget(`${namespace}meta`, 'status')) === 'loading' || output.includes('done'),
          60_000,
          1,
        );
        child.kill('SIGKILL');
        expect(await exited, `the child finished before it was killed: ${output}`).toBe('SIGKILL');
        expect(await index.state()).toMatchObject({ status: 'loading', checkpoint: '0' });
        expect(await setKeys(admin, namespace)).toBeGreaterThan(0);

        await sleep(1_100); // the dead child's lease runs out
        await indexer.catchUp();
        expect(log.lines.some((l) => l.includes('did not finish'))).toBe(true);
        expect(indexer.stats.bulkLoads).toBe(1);
        expect(await index.state()).toMatchObject({ status: 'ready', checkpoint: await ledger.lastTxId(), events: 8_000, applied: 8_000 });
        const records = await ledgerRecords(ledger);
        expect(await expectRedisEqualsLedger(admin, namespace, records, 4)).toEqual([]);
        // The counts and the correlation list came back exactly.
        expect((await statsCheck(index, records, pools, 25, 40)).valueRolled).toBeGreaterThan(0); // value rollups read too
        expect(await correlationsCheck(index, records, 26, 12)).toBeGreaterThan(20);
      } finally {
        await indexer.stop();
        await index.close();
        await ledger.close();
        admin.disconnect();
      }
    }, 120_000);
  });

  describeRedis('writer process SIGKILLed between ledger write and indexing', () => {
    it('after every kill and a final restart, the index is exactly the ledger', async () => {
      const database = uniqueDatabase();
      const namespace = ns();
      const rand = prng(13);
      const env = { ...process.env, AG_IMMUDB: immudbAddress!, AG_DB: database, AG_REDIS: redisUrl!, AG_NS: namespace };
      const start = (round: number, dataDir: string, pollMs: number) => {
        const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', WRITER, dataDir, String(round), String(pollMs)], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const lines = createInterface({ input: child.stdout! });
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        return { child, lines, stderr: () => stderr };
      };
      let kills = 0;
      let appendsSeen = 0;
      let killedBehind = 0;
      const probeLedger = await openTestImmudbLedger({ database });
      const probe = await RedisEventIndex.open({ url: redisUrl!, namespace });
      for (let round = 0; round < 8; round++) {
        // Half the rounds: indexing only on kicks, and the kill lands right as an append is
        // acknowledged, before its kick; the others: polling, killed at a random moment.
        const onAppend = round % 2 === 0;
        const { child, lines, stderr } = start(round, tempDir(), onAppend ? 60_000 : 10);
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        const target = 3 + Math.floor(rand() * 25);
        await new Promise<void>((resolve, reject) => {
          let n = 0;
          let timer: NodeJS.Timeout | undefined;
          lines.on('line', (line) => {
            if (line === 'ready' && !onAppend) {
              timer = setTimeout(
                () => {
                  child.kill('SIGKILL');
                  resolve();
                },
                200 + Math.floor(rand() * 1500),
              );
            }
            if (line.startsWith('appended')) {
              appendsSeen++;
              if (onAppend && ++n === target) {
                child.kill('SIGKILL');
                resolve();
              }
            }
          });
          child.once('exit', (code, signal) => {
            clearTimeout(timer);
            if (signal === 'SIGKILL') resolve();
            else reject(new Error(`writer exited on its own (${code}): ${stderr()}`));
          });
        });
        await exited;
        kills++;
        if (BigInt((await probe.checkpoint()) ?? '0') < BigInt(await probeLedger.lastTxId())) killedBehind++;
      }
      await probe.close();
      await probeLedger.close();
      expect(kills).toBe(8);
      expect(appendsSeen).toBeGreaterThan(20);
      expect(killedBehind).toBeGreaterThanOrEqual(3); // the kills really left committed txs unindexed

      // Restart: a fresh gateway's indexer (it waits out the dead writer's lease) converges.
      const ledger = await openTestImmudbLedger({ database });
      const index = await RedisEventIndex.open({ url: redisUrl!, namespace });
      const indexer = new Indexer(ledger, index, { pollMs: 20, leaseMs: 500 });
      const admin = new Redis(redisUrl!);
      try {
        indexer.start();
        await waitCaughtUp(index, ledger);
        const records = await ledgerRecords(ledger);
        expect(records.length).toBeGreaterThan(20);
        expect(await expectRedisEqualsLedger(admin, namespace, records)).toEqual([]);
      } finally {
        await indexer.stop();
        await index.close();
        await ledger.close();
        admin.disconnect();
      }
    }, 180_000);
  });
});
