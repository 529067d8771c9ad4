/**
 * Issue 20's benchmark, run by bench/index.ts on its filled index: the dashboard's queries, each
 * taking turns with a raw call of the same shape in the same run.
 *
 * - auditEventStats grouped by OUTCOME with an HOUR histogram over the last 24 h and 30 days
 *   (raw: HGETALL of the same hour buckets, pipelined, nothing added up)
 * - totalCount of two-field filters: actorId AND outcome FAILURE, eventType AND outcome FAILURE
 *   (raw: every chunk of the driving set read, pipelined, nothing checked)
 * - correlations, first page of 20 (raw: ZRANGE of the same 21 correlations)
 * - timeline newest first, 50, in a 1-hour window, over HTTP (raw: immudb Scan of 51 entries of
 *   the correlation's prefix, newest first, nothing decoded)
 * Index calls are in process (no HTTP); the HTTP rows add graphql-yoga and, for correlations, the
 * newest events from the ledger.
 */
import type { Redis } from 'ioredis';
import type { RedisEventIndex } from '../src/index/redis-index.ts';
import { fieldKey } from '../src/index/members.ts';
import { ImmudbSession } from '../src/ledger/immudb/grpc.ts';
import { encodeScanRequest } from '../src/ledger/immudb/wire-encode.ts';
import { timelinePrefix } from '../src/ledger/keys.ts';
import { measureInTurns, printTable, type Result } from './harness.ts';
import { ACTORS, DAY, EVENT_TYPES, prng } from './index-events.ts';

const HOUR = 3_600_000;

export interface DashboardBench {
  index: RedisEventIndex;
  admin: Redis;
  /** The gateway's GraphQL endpoint over the same index. */
  url: string;
  immudbAddress: string;
  database: string;
  /** The fill's newest timestamp. */
  now: number;
  rounds: number;
  server: string;
}

async function post(url: string, query: string, variables: Record<string, unknown>): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { errors?: unknown; data?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

export async function benchDashboard(b: DashboardBench): Promise<Result[]> {
  const { index, admin, rounds } = b;
  const ns = index.namespace;
  const rows: Result[] = [];
  const q = prng(11);
  // Windows end on the fill's newest minute: the last hour's buckets are partial, as on a live dashboard.
  const until = b.now + 1;
  const hoursKeys = (hours: number) => {
    const last = Math.floor(until / HOUR);
    return Array.from({ length: hours }, (_, i) => `${ns}ru:h:${last - hours + 1 + i}`);
  };
  const rawBuckets = async (keys: string[]) => {
    const p = admin.pipeline();
    for (const k of keys) p.hgetallBuffer(k);
    await p.exec();
  };
  for (const [label, span] of [
    ['24 h', DAY],
    ['30 days', 30 * DAY],
  ] as const) {
    const filter = { since: new Date(until - span).toISOString(), until: new Date(until).toISOString() };
    const keys = hoursKeys(Math.round(span / HOUR));
    rows.push(
      ...(await measureInTurns(rounds, [
        {
          name: `auditEventStats by OUTCOME, HOUR histogram, ${label} (index)`,
          server: b.server,
          op: async () => {
            const s = await index.stats({ filter, groupBy: ['OUTCOME'], interval: 'HOUR' });
            if (s.total === 0) throw new Error('empty stats');
          },
        },
        {
          name: `auditEventStats over HTTP, ${label}`,
          server: b.server,
          op: () =>
            post(
              b.url,
              'query($f: AuditEventFilter) { auditEventStats(filter: $f, groupBy: [OUTCOME], interval: HOUR) { total groups { value count } histogram { start count } } }',
              {
                f: filter,
              },
            ),
        },
        { name: `raw: HGETALL of the ${keys.length} hour buckets, pipelined`, server: 'Redis', op: () => rawBuckets(keys) },
      ])),
    );
  }

  // Two-field counts: a mid-popular actor (hundreds of events) and a popular event type (tens of thousands).
  const chunksOf = async (key: string) => {
    const dir = `${ns}${key}#`;
    const starts = await admin.zrangeBuffer(dir, 0, -1);
    return [Buffer.from(ns + key, 'latin1'), ...starts.map((s) => Buffer.concat([Buffer.from(dir, 'latin1'), s]))];
  };
  const rawSet = async (chunks: Buffer[]) => {
    const p = admin.pipeline();
    for (const c of chunks) p.zrangeBuffer(c, 0, -1);
    await p.exec();
  };
  for (const [label, field, pick] of [
    ['actorId', 'actorId', () => ACTORS[20 + Math.floor(q() * 80)]!],
    ['eventType', 'eventType', () => EVENT_TYPES[Math.floor(q() * 5)]!],
  ] as const) {
    const values = Array.from({ length: rounds }, pick);
    const chunks = await Promise.all([...new Set(values)].map(async (v) => [v, await chunksOf(fieldKey(field, v))] as const));
    const chunkMap = new Map(chunks);
    rows.push(
      ...(await measureInTurns(rounds, [
        {
          name: `totalCount of ${label} AND outcome FAILURE (index)`,
          server: b.server,
          op: (i) => index.count({ [field]: [values[i]!], outcome: ['FAILURE'] }),
        },
        { name: `raw: every chunk of that ${label}'s set read, pipelined`, server: 'Redis', op: (i) => rawSet(chunkMap.get(values[i]!)!) },
      ])),
    );
  }

  rows.push(
    ...(await measureInTurns(rounds, [
      {
        name: 'correlations, first 20 (index)',
        server: b.server,
        op: async () => {
          const p = await index.correlations({ first: 20 });
          if (p.edges.length !== 20) throw new Error('short page');
        },
      },
      {
        name: 'correlations over HTTP, first 20 with lastEvent from the ledger',
        server: b.server,
        op: () =>
          post(
            b.url,
            '{ correlations(first: 20) { edges { node { correlationId eventCount outcomes { success failure pending } lastEvent { eventType } } } } }',
            {},
          ),
      },
      {
        name: 'raw: ZRANGE cr BYSCORE REV LIMIT 21 WITHSCORES',
        server: 'Redis',
        op: () => admin.zrange(`${ns}cr`, '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, 21, 'WITHSCORES'),
      },
    ])),
  );

  // Timeline: the most recently active correlations, newest first within the hour before their newest event.
  const recent = await index.correlations({ first: Math.min(rounds, 500) });
  const picks = recent.edges.map((e) => e.node);
  const session = new ImmudbSession({ address: b.immudbAddress, user: 'immudb', password: 'immudb', database: b.database });
  await session.connect();
  try {
    const TIMELINE = `query($c: String!, $s: DateTime, $u: DateTime) { timeline(correlationId: $c, since: $s, until: $u, orderBy: TIMESTAMP_DESC, first: 50) {
      edges { node { eventId eventType outcome timestamp } } pageInfo { hasNextPage } } }`;
    rows.push(
      ...(await measureInTurns(rounds, [
        {
          name: 'timeline newest first, 50, 1-hour window, over HTTP',
          server: b.server,
          op: (i) => {
            const c = picks[i % picks.length]!;
            return post(b.url, TIMELINE, { c: c.correlationId, s: new Date(c.lastMs + 1 - HOUR).toISOString(), u: new Date(c.lastMs + 1).toISOString() });
          },
        },
        {
          name: 'raw: immudb Scan of 51 entries of the prefix, newest first',
          server: 'immudb',
          op: (i) =>
            session.callBytes('Scan', encodeScanRequest(timelinePrefix(picks[i % picks.length]!.correlationId), { desc: true, limit: 51, sinceTx: 0 })),
        },
      ])),
    );
  } finally {
    session.close();
  }
  printTable(`Dashboard queries (issue 20), ${rounds} rounds each, in turns with their raw floors`, rows);
  return rows;
}
