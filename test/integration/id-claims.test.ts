/**
 * Idempotency across gateway instances: racing writers of one new eventId on one immudb database
 * write it once. immudb refuses a tx whose id key exists (KeyMustNotExist), so this holds without
 * Redis; with Redis the instances also share eventId claims, which spares the refused txs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { isAuditError } from '../../src/errors.ts';
import type { GroupCommitLedger } from '../../src/ledger/group-commit.ts';
import { RedisEventIdClaims } from '../../src/ledger/id-claims.ts';
import { startRedis } from '../support/servers.ts';
import { ev } from '../contract/ledger-contract.ts';
import { describeEachImmudb, describeImmudb, openTestImmudbLedger, redisUrl, uniqueDatabase } from '../support/services.ts';

const describeBoth = redisUrl ? describeImmudb : describe.skip;

/** The two racing tests, on two instances `twoInstances()` opens on a fresh database. */
function racingWriters(twoInstances: () => Promise<readonly [GroupCommitLedger, GroupCommitLedger]>) {
  it('racing writers of one new eventId with different content: one is created, every other one conflicts', async () => {
    const [a, b] = await twoInstances();
    for (let round = 0; round < 5; round++) {
      const eventId = `0190a5d2-4444-7000-8000-00000000000${round}`;
      const racers = Array.from({ length: 6 }, (_, i) =>
        (i % 2 === 0 ? a : b).append([ev({ correlationId: `claims-${round}`, eventId, resourceType: 'pod', resourceId: `pod-${i}` })]),
      );
      const settled = await Promise.allSettled(racers);
      expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
      for (const s of settled) if (s.status === 'rejected') expect(isAuditError(s.reason) && s.reason.code).toBe('EVENT_ID_CONFLICT');
      expect((await a.scanTimeline(`claims-${round}`, { limit: 10, direction: 'asc' })).events).toHaveLength(1);
    }
  });

  it('racing retries with identical content: written once, the others get created:false with the same tx', async () => {
    const [a, b] = await twoInstances();
    const event = ev({ correlationId: 'claims-same', eventId: '0190a5d2-5555-7000-8000-000000000001' });
    const out = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).append([event])));
    expect(out.filter((o) => o[0]!.created)).toHaveLength(1);
    expect(new Set(out.map((o) => o[0]!.event.txId)).size).toBe(1);
  });
}

describeEachImmudb('eventId races between two gateway instances without Redis', ({ address }) => {
  const open: GroupCommitLedger[] = [];
  afterAll(async () => {
    await Promise.all(open.map((l) => l.close()));
  });
  racingWriters(async () => {
    const database = uniqueDatabase();
    const pair = [await openTestImmudbLedger({ address, database }), await openTestImmudbLedger({ address, database })] as const;
    open.push(...pair);
    return pair;
  });
});

describeBoth('eventId claims between two gateway instances (immudb + Redis)', () => {
  const open: GroupCommitLedger[] = [];
  afterAll(async () => {
    await Promise.all(open.map((l) => l.close()));
  });

  async function twoInstances() {
    const database = uniqueDatabase();
    const a = await openTestImmudbLedger({ database, redisUrl: redisUrl! });
    const b = await openTestImmudbLedger({ database, redisUrl: redisUrl! });
    open.push(a, b);
    return [a, b] as const;
  }
  racingWriters(twoInstances);

  it('writes go on unclaimed while Redis is down, and claims resume when it is back', async () => {
    const redis = await startRedis();
    try {
      const claims = new RedisEventIdClaims({ url: `redis://${redis.address}`, scope: uniqueDatabase() });
      const release = await claims.claim(['x']);
      const second = claims.claim(['x']); // waits: held
      let settled = false;
      void second.then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 100));
      expect(settled).toBe(false);
      await release();
      await (await second)();

      await redis.kill();
      const t0 = Date.now();
      const unclaimed = await claims.claim(['y']);
      expect(Date.now() - t0).toBeLessThan(2_000);
      await unclaimed();
      await redis.start();
      await new Promise((r) => setTimeout(r, 1_500)); // ioredis reconnects within ~1 s
      const again = await claims.claim(['z']);
      const blocked = claims.claim(['z']);
      let got = false;
      void blocked.then(() => (got = true));
      await new Promise((r) => setTimeout(r, 100));
      expect(got).toBe(false);
      await again();
      await (await blocked)();
      await claims.close();
    } finally {
      await redis.destroy();
    }
  });
});
