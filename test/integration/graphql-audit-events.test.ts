/**
 * `auditEvents` over real HTTP: a real immudb ledger, the Redis index and its indexer, wired as
 * main.ts wires them. Content comes from the ledger; a tampered index can hide but not forge.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEventIndex, type IndexSetup } from '../../src/index/index.ts';
import { encodeMember, encodePosition, fieldKey, GLOBAL_KEY, MEMBER_LENGTH } from '../../src/index/members.ts';
import { indexNamespace, type RedisEventIndex } from '../../src/index/redis-index.ts';
import { withBodyCache, type BodyCachedLedger } from '../../src/ledger/body-cache.ts';
import type { Ledger } from '../../src/ledger/port.ts';
import { createApp, type App } from '../../src/server/app.ts';
import { createLogger } from '../../src/logger.ts';
import type { AuditEventConnectionJson, ReadyzBody } from '../support/api-types.ts';
import { EVENT_FIELDS } from '../support/graphql.ts';
import { gql, waitCaughtUp } from '../support/index-helpers.ts';
import { describeImmudb, openTestImmudbLedger, redisUrl } from '../support/services.ts';

const describeRedis = redisUrl ? describe : describe.skip;

const QUERY = `query Q($filter: AuditEventFilter, $orderBy: AuditEventOrder, $first: Int, $after: String, $last: Int, $before: String) {
  auditEvents(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { ${EVENT_FIELDS} } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;
const CREATE_MANY = `mutation($input: [AuditEventInput!]!) { createAuditEvents(input: $input) { events { eventId timestamp eventType } } }`;

describeImmudb('GraphQL auditEvents', () => {
  describeRedis('on the Redis index', () => {
    // With the body cache, as open-ledger.ts wires it: bodies the indexer read are answered from memory.
    let ledger: BodyCachedLedger<Ledger>;
    let setup: IndexSetup;
    let app: App;
    let url: string;
    let redis: Redis;
    const corr = `ae-${randomUUID()}`;
    const parent = randomUUID();
    const inputs = Array.from({ length: 30 }, (_, i) => ({
      eventId: randomUUID(),
      eventType: i % 3 === 0 ? 'auth.login' : 'workflow.step.completed',
      eventCategory: i % 2 ? 'auth' : 'workflow',
      outcome: i % 4 === 0 ? 'FAILURE' : 'SUCCESS',
      correlationId: corr,
      actorType: 'user',
      actorId: `u:${i % 5}`,
      resourceType: 'pod',
      resourceId: `p-${i % 7}`,
      resourceNamespace: i % 3 === 1 ? 'prod' : 'dev',
      severity: i % 5 === 0 ? 'ERROR' : i % 5 === 1 ? null : 'INFO',
      eventAction: i % 2 ? 'update' : 'create',
      clusterName: `c-${i % 3}`,
      parentEventId: i % 6 === 0 ? parent : null,
      // pairs share a millisecond: order inside it is by eventId
      timestamp: new Date(Date.UTC(2025, 2, 1) + Math.floor(i / 2) * 1000).toISOString(),
      data: { i },
    }));

    beforeAll(async () => {
      ledger = withBodyCache(await openTestImmudbLedger());
      setup = await openEventIndex({
        ledger,
        redisUrl: redisUrl!,
        namespace: indexNamespace(`gql-${randomBytes(6).toString('hex')}`),
        indexer: { pollMs: 50 },
      });
      setup.indexer.start();
      ledger.onAppended(() => setup.indexer.kick());
      app = createApp({
        ledger,
        index: setup.index,
        indexLag: () => setup.indexer.lag(),
        config: { port: 0, host: '127.0.0.1' },
        logger: createLogger({ level: 'error', write: () => undefined }),
      });
      url = (await app.listen()).url;
      redis = new Redis(redisUrl!);
      // Indexed by following (which fills the body cache), not by a first bulk load (which does not).
      await waitCaughtUp(setup.index, ledger);
      const r = await gql(url, CREATE_MANY, { input: inputs });
      expect(r.body.errors).toBeUndefined();
      await waitCaughtUp(setup.index, ledger);
    });
    afterAll(async () => {
      await app?.close();
      await setup?.close();
      await ledger?.close();
      redis?.disconnect();
    });

    const sorted = () => [...inputs].sort((a, b) => (a.timestamp === b.timestamp ? (a.eventId < b.eventId ? -1 : 1) : a.timestamp < b.timestamp ? -1 : 1));

    it('returns full events from the ledger, newest first by default, with Relay paging', async () => {
      const { hits, misses } = ledger.bodyCache;
      const r = await gql(url, QUERY, { filter: { correlationId: corr }, first: 7 });
      // the indexer read these bodies while following: the page came from the body cache
      expect(ledger.bodyCache.hits - hits).toBeGreaterThanOrEqual(7);
      expect(ledger.bodyCache.misses).toBe(misses);
      expect(r.body.errors).toBeUndefined();
      const conn = r.body.data!.auditEvents;
      const desc = sorted().reverse();
      expect(conn.edges.map((e) => e.node.eventId)).toEqual(desc.slice(0, 7).map((i) => i.eventId));
      expect(conn.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
      const first = conn.edges[0]!.node;
      expect(first).toMatchObject({ correlationId: corr, actor: { type: 'user' }, resource: { type: 'pod' }, ledger: { key: expect.stringContaining('tl/') } });
      expect(first.recordedAt).toMatch(/Z$/);

      // forward to the end, then backward from the end
      const ids: string[] = [];
      let after: string | null = null;
      for (;;) {
        const p: AuditEventConnectionJson = (await gql(url, QUERY, { filter: { correlationId: corr }, orderBy: 'TIMESTAMP_ASC', first: 4, after })).body.data!
          .auditEvents;
        ids.push(...p.edges.map((e) => e.node.eventId));
        if (!p.pageInfo.hasNextPage) break;
        after = p.pageInfo.endCursor;
      }
      expect(ids).toEqual(sorted().map((i) => i.eventId));
      const back = (await gql(url, QUERY, { filter: { correlationId: corr }, orderBy: 'TIMESTAMP_ASC', last: 5 })).body.data!.auditEvents;
      expect(back.edges.map((e) => e.node.eventId)).toEqual(ids.slice(-5));
      expect(back.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    });

    it('reports the index and its lag in /readyz', async () => {
      const res = await fetch(url.replace(/\/graphql$/, '/readyz'));
      expect(res.status).toBe(200);
      const body = (await res.json()) as ReadyzBody;
      expect(body.checks.index).toMatchObject({ ok: true, lag: { txs: 0, seconds: 0, checkpoint: await ledger.lastTxId() } });
    });

    it('ANDs fields, ORs list values, and keeps [since, until)', async () => {
      const filter = {
        correlationId: corr,
        eventType: ['auth.login', 'nope'],
        outcome: ['FAILURE'],
        since: inputs[0]!.timestamp,
        until: inputs[24]!.timestamp,
      };
      const r = await gql(url, QUERY, { filter, orderBy: 'TIMESTAMP_ASC', first: 50 });
      expect(r.body.errors).toBeUndefined();
      const want = sorted().filter((i) => i.eventType === 'auth.login' && i.outcome === 'FAILURE' && i.timestamp >= filter.since && i.timestamp < filter.until);
      expect(want.length).toBeGreaterThan(0);
      expect(r.body.data!.auditEvents.edges.map((e) => e.node.eventId)).toEqual(want.map((i) => i.eventId));
    });

    it('filters on severity, eventAction, resourceNamespace, clusterName, recordedBy, parentEventId and correlationIds', async () => {
      const filter = {
        correlationIds: [corr, 'ae-other'],
        severity: ['ERROR', 'INFO'],
        eventAction: ['create'],
        resourceNamespace: ['dev'],
        clusterName: ['c-0', 'c-2'],
        parentEventId: parent.toUpperCase(),
      };
      const r = await gql(url, QUERY, { filter, orderBy: 'TIMESTAMP_ASC', first: 50 });
      expect(r.body.errors).toBeUndefined();
      const want = sorted().filter(
        (i) => i.severity !== null && i.eventAction === 'create' && i.resourceNamespace === 'dev' && i.clusterName !== 'c-1' && i.parentEventId === parent,
      );
      expect(want.length).toBeGreaterThan(0);
      expect(r.body.data!.auditEvents.edges.map((e) => e.node.eventId)).toEqual(want.map((i) => i.eventId));
      // correlationId and correlationIds: the intersection
      const both = await gql(url, QUERY, { filter: { correlationId: corr, correlationIds: ['ae-other'] }, first: 50 });
      expect(both.body.errors).toBeUndefined();
      expect(both.body.data!.auditEvents.edges).toEqual([]);
      // an open server records no principal: recordedBy matches nothing
      const by = await gql(url, QUERY, { filter: { correlationId: corr, recordedBy: ['anyone'] }, first: 50 });
      expect(by.body.data!.auditEvents.edges).toEqual([]);
    });

    it('refuses bad filters and cursors with BAD_USER_INPUT and a path', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ filter: { eventType: [] } }, 'filter.eventType'],
        [{ filter: { severity: ['LOUD'] } }, 'filter.severity.0'],
        [{ filter: { clusterName: Array.from({ length: 101 }, (_, i) => `c${i}`) } }, 'filter.clusterName'],
        [{ filter: { correlationIds: Array.from({ length: 101 }, (_, i) => `c${i}`) } }, 'filter.correlationIds'],
        [{ filter: { recordedBy: [''] } }, 'filter.recordedBy.0'],
        [{ filter: { parentEventId: 'not-a-uuid' } }, 'filter.parentEventId'],
        [{ filter: { since: 'soon' } }, 'filter.since'],
        [{ filter: { since: '2025-01-02T00:00:00Z', until: '2025-01-01T00:00:00Z' } }, 'filter.since'],
        [{ after: 'garbage' }, 'after'],
        [{ first: 501 }, 'first'],
        [{ first: 1, last: 1 }, 'first'],
      ];
      for (const [vars, path] of cases) {
        const r = await gql(url, QUERY, vars);
        expect(r.body.errors?.[0]?.extensions?.code, JSON.stringify(vars)).toBe('BAD_USER_INPUT');
        expect(r.body.errors?.[0]?.extensions?.violations?.map((v) => v.path)).toContain(path);
      }
    });

    it('counts: totalCount on both connections, auditEventStats and correlations, as the events say', async () => {
      const COUNTED = `query C($filter: AuditEventFilter, $first: Int, $corr: String!, $since: DateTime, $until: DateTime) {
        auditEvents(filter: $filter, first: $first) { totalCount edges { node { eventId } } }
        timeline(correlationId: $corr, since: $since, until: $until, first: 2) { totalCount edges { node { eventId } } }
        auditEventStats(filter: $filter, groupBy: [OUTCOME, SEVERITY, CLUSTER_NAME], interval: MINUTE) {
          total groups { dimension value count } histogram { start count }
        }
      }`;
      const filter = { correlationId: corr, eventCategory: ['workflow'] };
      const since = inputs[4]!.timestamp;
      const until = inputs[20]!.timestamp;
      const r = await gql(url, COUNTED, { filter, first: 3, corr, since, until });
      expect(r.body.errors).toBeUndefined();
      const d = r.body.data as unknown as {
        auditEvents: { totalCount: number; edges: unknown[] };
        timeline: { totalCount: number };
        auditEventStats: { total: number; groups: { dimension: string; value: string; count: number }[]; histogram: { start: string; count: number }[] };
      };
      const workflow = inputs.filter((i) => i.eventCategory === 'workflow');
      expect(d.auditEvents.totalCount).toBe(workflow.length);
      expect(d.auditEvents.edges).toHaveLength(3);
      expect(d.timeline.totalCount).toBe(inputs.filter((i) => i.timestamp >= since && i.timestamp < until).length);
      const stats = d.auditEventStats;
      expect(stats.total).toBe(workflow.length);
      const count = (pred: (i: (typeof inputs)[number]) => boolean) => workflow.filter(pred).length;
      expect(stats.groups.filter((g) => g.dimension === 'OUTCOME')).toEqual(
        [
          { dimension: 'OUTCOME', value: 'SUCCESS', count: count((i) => i.outcome === 'SUCCESS') },
          { dimension: 'OUTCOME', value: 'FAILURE', count: count((i) => i.outcome === 'FAILURE') },
        ]
          .filter((g) => g.count > 0)
          .sort((a, b) => b.count - a.count),
      );
      expect(stats.groups.filter((g) => g.dimension === 'SEVERITY').reduce((n, g) => n + g.count, 0)).toBe(count((i) => i.severity !== null));
      expect(
        stats.groups
          .filter((g) => g.dimension === 'CLUSTER_NAME')
          .map((g) => g.value)
          .sort(),
      ).toEqual([...new Set(workflow.map((i) => i.clusterName))].sort());
      // one bucket per minute from the first matching event's minute to the last one's, empty ones included
      const first = Date.parse(workflow[0]!.timestamp);
      expect(stats.histogram[0]!.start).toBe(new Date(Math.floor(first / 60_000) * 60_000).toISOString());
      expect(stats.histogram.reduce((n, b) => n + b.count, 0)).toBe(workflow.length);

      const LIST = `query L($filter: CorrelationFilter, $first: Int, $after: String) {
        correlations(filter: $filter, first: $first, after: $after) {
          edges { cursor node { correlationId firstTimestamp lastTimestamp eventCount outcomes { success failure pending } lastEvent { eventId correlationId } } }
          pageInfo { hasNextPage hasPreviousPage endCursor }
        }
      }`;
      const page = await gql(url, LIST, { filter: { outcome: ['FAILURE'], clusterName: ['c-0'], since: inputs[0]!.timestamp }, first: 500 });
      expect(page.body.errors).toBeUndefined();
      const nodes = (page.body.data as unknown as { correlations: { edges: { node: Record<string, unknown> }[] } }).correlations.edges.map((e) => e.node);
      const mine = nodes.find((n) => n.correlationId === corr);
      const last = sorted()[inputs.length - 1]!;
      expect(mine).toEqual({
        correlationId: corr,
        firstTimestamp: sorted()[0]!.timestamp,
        lastTimestamp: last.timestamp,
        eventCount: inputs.length,
        outcomes: { success: inputs.filter((i) => i.outcome === 'SUCCESS').length, failure: inputs.filter((i) => i.outcome === 'FAILURE').length, pending: 0 },
        lastEvent: { eventId: last.eventId, correlationId: corr },
      });
      // no event of it is both a failure and in c-1 and in the window: not listed
      const none = await gql(url, LIST, { filter: { outcome: ['PENDING'] }, first: 500 });
      expect(
        (none.body.data as unknown as { correlations: { edges: { node: { correlationId: string } }[] } }).correlations.edges.map((e) => e.node.correlationId),
      ).not.toContain(corr);
    });

    it('refuses bad stats and correlations arguments with BAD_USER_INPUT naming the argument', async () => {
      const STATS = `query S($filter: AuditEventFilter, $groupBy: [AuditEventDimension!], $interval: StatsInterval) {
        auditEventStats(filter: $filter, groupBy: $groupBy, interval: $interval) { total }
      }`;
      const LIST = `query L($filter: CorrelationFilter, $first: Int, $after: String) { correlations(filter: $filter, first: $first, after: $after) { edges { cursor } } }`;
      const cases: [string, Record<string, unknown>, string][] = [
        [STATS, { groupBy: ['COLOUR'] }, 'groupBy'],
        [STATS, { interval: 'FORTNIGHT' }, 'interval'],
        [STATS, { interval: 'MINUTE', filter: { since: '2025-01-01T00:00:00Z', until: '2025-01-08T00:00:00Z' } }, 'interval'],
        [STATS, { filter: { since: '2025-01-02T00:00:00Z', until: '2025-01-01T00:00:00Z' } }, 'filter.since'],
        [STATS, { filter: { actorId: Array.from({ length: 101 }, (_, i) => `a${i}`) } }, 'filter.actorId'],
        [LIST, { filter: { outcome: ['MAYBE'] } }, 'filter'],
        [LIST, { filter: { since: '2025-01-02T00:00:00Z', until: '2025-01-01T00:00:00Z' } }, 'filter.since'],
        [LIST, { filter: { clusterName: Array.from({ length: 101 }, (_, i) => `c${i}`) } }, 'filter.clusterName'],
        [LIST, { first: 501 }, 'first'],
        [LIST, { after: 'garbage' }, 'after'],
      ];
      for (const [doc, vars, path] of cases) {
        const r = await gql(url, doc, vars);
        const where = JSON.stringify(vars);
        expect(r.body.errors?.[0]?.extensions?.code, where).toBe('BAD_USER_INPUT');
        const e = r.body.errors![0]!;
        const paths = e.extensions?.violations?.map((v) => v.path) ?? [];
        expect(paths.some((p) => p.startsWith(path)) || e.message.includes(path.split('.')[0]!), `${where}: ${JSON.stringify(e)}`).toBe(true);
      }
      // written in the document, an unknown enum value is refused the same way, at its argument
      const lit = await gql(url, 'query { auditEventStats(groupBy: [COLOUR], interval: FORTNIGHT) { total } }', {});
      expect(lit.body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT']);
      expect(lit.body.errors?.flatMap((e) => e.extensions?.violations?.map((v) => v.path))).toEqual(['groupBy.0', 'interval']);
    });

    it('a tampered index can hide events but never forge them', async () => {
      const ns = (setup.index as RedisEventIndex).namespace;
      const victim = inputs[1]!; // a workflow event
      // any codes: the index cannot tell a forged member from a real one, only the ledger can
      const member = (ms: number, id: string) => Buffer.from(encodeMember({ ms, eventId: id }, '\x01\x01\x09\x00\x00\x00\x00'), 'latin1');
      const ms = Date.parse(victim.timestamp);
      // claims the workflow event is an auth.logout; an eventId the ledger never saw; the victim at another time
      await redis.zadd(ns + fieldKey('eventType', 'auth.logout'), 0, member(ms, victim.eventId));
      await redis.zadd(ns + fieldKey('correlationId', corr), 0, member(ms + 1, randomUUID()), 0, member(ms + 5, victim.eventId));
      await redis.zadd(ns + GLOBAL_KEY, 0, member(ms + 1, randomUUID()));
      const forged = await gql(url, QUERY, { filter: { eventType: ['auth.logout'] } });
      expect(forged.body.errors).toBeUndefined();
      expect(forged.body.data!.auditEvents.edges).toEqual([]);
      const all = await gql(url, QUERY, { filter: { correlationId: corr }, orderBy: 'TIMESTAMP_ASC', first: 100 });
      expect(all.body.data!.auditEvents.edges.map((e) => e.node.eventId)).toEqual(sorted().map((i) => i.eventId));
      // hiding works (that is all a tampered index can do)
      const ciKey = ns + fieldKey('correlationId', corr);
      const position = Buffer.from(encodePosition({ ms, eventId: victim.eventId }), 'latin1');
      const real = (await redis.zrangeBuffer(ciKey, 0, -1)).filter((m) => m.length === MEMBER_LENGTH && m.subarray(0, 22).equals(position));
      expect(real).toHaveLength(1);
      await redis.zrem(ciKey, real[0]!);
      const hidden = await gql(url, QUERY, { filter: { correlationId: corr }, first: 100 });
      expect(hidden.body.data!.auditEvents.edges.map((e) => e.node.eventId)).not.toContain(victim.eventId);
    });
  });

  it('answers INDEX_UNAVAILABLE when the gateway has no index', async () => {
    const ledger = await openTestImmudbLedger();
    const app = createApp({ ledger, config: { port: 0, host: '127.0.0.1' }, logger: createLogger({ level: 'error', write: () => undefined }) });
    try {
      const { url } = await app.listen();
      const r = await gql(url, QUERY, {});
      expect(r.body.errors?.[0]?.extensions?.code).toBe('INDEX_UNAVAILABLE');
    } finally {
      await app.close();
      await ledger.close();
    }
  });
});
