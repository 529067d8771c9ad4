/**
 * Issue 4's benchmark: the Redis event index with N events (BENCH_INDEX_EVENTS, default 100,000;
 * 1,000,000 when BENCH_SCALE=10).
 *
 * - fill: events written to immudb through the ledger in batches of 250, two appends at a time
 * - indexer: following the ledger from tx 0 into an empty index (events/s), and `rebuild()`
 *   (clear the namespace + follow again) wall time, in bulk (the default) and batch by batch
 * - Redis memory per event: INFO used_memory with the index minus without, over N
 * - queries, index only and as `auditEvents` over HTTP, concurrency 1:
 *   (a) one eventType, last 24 h, first 50; (b) eventType AND outcome FAILURE, first 50;
 *   (c) actorId AND a 7-day window, first 50.
 *   Over HTTP three ways: every body from immudb (no body cache); through the body cache
 *   (LEDGER_BODY_CACHE_MB, default 64) as the follower left it, with queries not asked before
 *   ("first pass" — not cold throughout: (a) and (b) draw from 10 event types, so only their
 *   first ~10 queries find new pages; (c) mostly does); and the same queries again ("second
 *   pass"). Each cached row shows its hit rate (eventIds answered from memory).
 *
 * BENCH_INDEX_DATABASE=name (with IMMUDB_ADDRESS) fills that database on the first run and reuses
 * it on later ones (timestamps relative to its first commit), to compare indexer changes without
 * writing 1,000,000 events again. BENCH_INDEX_READ_AHEAD / BENCH_INDEX_EVENTS_PER_READ /
 * BENCH_INDEX_EVENTS_PER_APPLY override the indexer's defaults.
 *
 * - the dashboard's queries (issue 20, bench/index-dashboard.ts), beside raw calls of the same shape
 *
 * Events: 50 event types and 10,000 actors with skewed (Zipf-like) popularity, 90/8/2 %
 * SUCCESS/FAILURE/PENDING, timestamps uniform over the last 30 days.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Indexer } from '../src/index/indexer.ts';
import { indexNamespace, RedisEventIndex } from '../src/index/redis-index.ts';
import { withBodyCache } from '../src/ledger/body-cache.ts';
import { loadConfig } from '../src/server/config.ts';
import { ImmudbSession, pb } from '../src/ledger/immudb/grpc.ts';
import { openImmudbLedger } from '../src/ledger/immudb/index.ts';
import { eventIdKey } from '../src/ledger/keys.ts';
import { createApp } from '../src/server/app.ts';
import { createLogger } from '../src/logger.ts';
import { startRedis } from '../test/support/servers.ts';
import { measure, measureInTurns, printMarkdownTable, printTable, type Result } from './harness.ts';
import { scriptSecondsOf, usedMemory } from './redis-stats.ts';
import { ACTORS, DAY, EVENT_TYPES, indexBenchEvent, prng } from './index-events.ts';
import { benchDashboard } from './index-dashboard.ts';

interface Row {
  metric: string;
  value: string;
}

const printSummary = (title: string, rows: Row[]) =>
  printMarkdownTable(
    title,
    ['metric', 'value'],
    rows.map((r) => [r.metric, r.value]),
  );
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export async function benchIndex(immudbAddress: string, scale = 1, version = '1.11.1'): Promise<void> {
  // Before the long fill: a wrong variable stops the run at once.
  const { bodyCacheBytes } = loadConfig();
  const total = Number(process.env.BENCH_INDEX_EVENTS ?? (scale >= 10 ? 1_000_000 : 100_000));
  let redisUrl = process.env.REDIS_URL;
  let stopRedis = async () => {};
  if (!redisUrl) {
    const server = await startRedis();
    redisUrl = `redis://${server.address}`;
    stopRedis = () => server.destroy();
  }
  const tag = Date.now().toString(36);
  const database = process.env.BENCH_INDEX_DATABASE ?? `indexbench${tag}`;
  const ledger = await openImmudbLedger({
    address: immudbAddress,
    user: 'immudb',
    password: 'immudb',
    database,
    dataDir: mkdtempSync(join(tmpdir(), 'ag-bench-')),
  });
  const index = await RedisEventIndex.open({ url: redisUrl, namespace: indexNamespace(`bench:${tag}`), writeTimeoutMs: 60_000 });
  const admin = new Redis(redisUrl);
  const summary: Row[] = [{ metric: 'events', value: fmt(total) }];
  try {
    // --- fill the ledger ---------------------------------------------------------------------
    // A fresh database may already hold a tx without events (immudb's own): look for events.
    const firstTx = (await ledger.readTransactions('0', 10)).find((tx) => tx.events.length > 0);
    const reuse = firstTx !== undefined;
    // Reused: the events were generated relative to the fill's start, just before its first commit
    // (immudb keeps commit times in whole seconds, so this is up to a second early: immaterial).
    const now = firstTx ? Date.parse(firstTx.recordedAt) : Date.now();
    const rand = prng(4);
    // Mid-sized transactions: immudb 1.1 resolves an eventId by reading the whole tx it is bound to,
    // so the 2,048-event txs that fill fastest would make every later read of 50 events slow.
    const perTx = 250;
    if (firstTx) {
      // A reused database must hold exactly this fill (not another BENCH_INDEX_EVENTS, not an
      // interrupted one): check the tx count now rather than after following it all.
      const txs = BigInt(await ledger.lastTxId()) - BigInt(firstTx.txId) + 1n;
      if (txs !== BigInt(Math.ceil(total / perTx))) {
        throw new Error(
          `BENCH_INDEX_DATABASE=${database} holds ${txs} txs of events, a fill of ${total} events has ${Math.ceil(total / perTx)}: use another database name`,
        );
      }
    }
    let written = reuse ? total : 0;
    const fillStart = performance.now();
    await Promise.all(
      Array.from({ length: 2 }, async () => {
        while (written < total) {
          const n = Math.min(perTx, total - written);
          written += n;
          await ledger.append(Array.from({ length: n }, () => indexBenchEvent(rand, now)));
          if (process.stderr.isTTY) process.stderr.write(`\rfilling the ledger: ${fmt(Math.min(written, total))}/${fmt(total)}`);
        }
      }),
    );
    const fillSecs = (performance.now() - fillStart) / 1000;
    if (process.stderr.isTTY) process.stderr.write('\n');
    if (!reuse) summary.push({ metric: `ledger fill (append ${perTx} events, 2 concurrent)`, value: `${fmt(total / fillSecs)} events/s` });

    // immudb indexes keys in the background; reads wait for it. Let it finish the bulk load first,
    // so what follows measures the gateway's indexer rather than immudb's.
    const settle = performance.now();
    for (;;) {
      try {
        await ledger.readTransactions(String(BigInt(await ledger.lastTxId()) - 1n), 1);
        break;
      } catch {
        // still indexing: GetAll waits for immudb's index and times out
      }
    }
    summary.push({ metric: 'immudb background indexing after the fill', value: `${((performance.now() - settle) / 1000).toFixed(1)} s` });

    // --- index it ------------------------------------------------------------------------------
    const memBefore = await usedMemory(admin);
    // The follower reads through the body cache, as open-ledger.ts wires it, so it fills it.
    const cached = withBodyCache(ledger, { maxBytes: bodyCacheBytes });
    const option = (env: string, name: string) => {
      const raw = process.env[env]?.trim();
      if (!raw) return {};
      if (!/^[1-9]\d*$/.test(raw)) throw new Error(`${env} must be a positive integer, got ${JSON.stringify(raw)}`);
      return { [name]: Number(raw) };
    };
    const tuning = {
      ...option('BENCH_INDEX_READ_AHEAD', 'readAhead'),
      ...option('BENCH_INDEX_EVENTS_PER_READ', 'eventsPerRead'),
      ...option('BENCH_INDEX_EVENTS_PER_APPLY', 'maxEventsPerApply'),
    };
    if (Object.keys(tuning).length > 0) summary.push({ metric: 'indexer options', value: JSON.stringify(tuning) });
    const indexer = new Indexer(cached, index, { leaseMs: 60_000, ...tuning });
    const t0 = performance.now();
    const scriptSecs = await scriptSecondsOf(admin, () => indexer.catchUp());
    const followSecs = (performance.now() - t0) / 1000;
    const state = await index.state();
    if (state?.events !== total) throw new Error(`index holds ${state?.events} events, expected ${total}`);
    const memAfter = await usedMemory(admin);
    summary.push({ metric: 'indexer: follow from tx 0 (empty index)', value: `${followSecs.toFixed(1)} s (${fmt(total / followSecs)} events/s)` });
    if (scriptSecs !== null)
      summary.push({
        metric: '  of which Redis ran index scripts (INFO commandstats)',
        value: `${scriptSecs.toFixed(1)} s (${((1e6 * scriptSecs) / total).toFixed(1)} µs/event)`,
      });
    summary.push({ metric: 'Redis memory per event (used_memory delta / events)', value: `${fmt((memAfter - memBefore) / total)} bytes` });

    const r0 = performance.now();
    const rebuildScriptSecs = await scriptSecondsOf(admin, () => indexer.rebuild());
    const rebuildSecs = (performance.now() - r0) / 1000;
    summary.push({
      metric: 'full rebuild in bulk (clear namespace + bulk load from tx 0)',
      value: `${rebuildSecs.toFixed(1)} s (${fmt(total / rebuildSecs)} events/s)`,
    });
    if (rebuildScriptSecs !== null) summary.push({ metric: '  of which Redis ran index scripts', value: `${rebuildScriptSecs.toFixed(1)} s` });
    await index.releaseLease(indexer.owner);

    // The same rebuild batch by batch (INDEX_BULK_MAX_EVENTS=0), side by side with the bulk one above.
    const batchwise = new Indexer(cached, index, { leaseMs: 60_000, ...tuning, bulkMaxEvents: 0 });
    const b0 = performance.now();
    const batchScriptSecs = await scriptSecondsOf(admin, () => batchwise.rebuild());
    const batchSecs = (performance.now() - b0) / 1000;
    summary.push({ metric: 'full rebuild, batch by batch (INDEX_BULK_MAX_EVENTS=0)', value: `${batchSecs.toFixed(1)} s (${fmt(total / batchSecs)} events/s)` });
    if (batchScriptSecs !== null) summary.push({ metric: '  of which Redis ran index scripts', value: `${batchScriptSecs.toFixed(1)} s` });
    summary.push({ metric: '  Redis memory per event after it', value: `${fmt(((await usedMemory(admin)) - memBefore) / total)} bytes` });
    await index.releaseLease(batchwise.owner);

    // --- queries -------------------------------------------------------------------------------
    const logger = createLogger({ level: 'error', write: () => undefined });
    const app = createApp({ ledger, index, config: { port: 0, host: '127.0.0.1' }, logger });
    const { url } = await app.listen();
    const cachedApp = createApp({ ledger: cached, index, config: { port: 0, host: '127.0.0.1' }, logger });
    const cachedUrl = (await cachedApp.listen()).url;
    let q = prng(5);
    const day = new Date(now - DAY).toISOString();
    const week = () => {
      const end = now - Math.floor(q() * 23 * DAY);
      return { since: new Date(end - 7 * DAY).toISOString(), until: new Date(end).toISOString() };
    };
    // Popular-to-mid types and actors: each query has to skip over real work.
    const type = () => EVENT_TYPES[Math.floor(q() * 10)]!;
    const actor = () => ACTORS[Math.floor(q() * 200)]!;
    const cases: [string, () => Record<string, unknown>][] = [
      ['(a) eventType, last 24 h, first 50', () => ({ eventType: [type()], since: day })],
      ['(b) eventType AND outcome FAILURE, first 50', () => ({ eventType: [type()], outcome: ['FAILURE'] })],
      ['(c) actorId AND 7-day window, first 50', () => ({ actorId: [actor()], ...week() })],
    ];
    const GQL = `query($f: AuditEventFilter) { auditEvents(filter: $f, first: 50) { edges { node { eventId eventType outcome timestamp actor { id } } } pageInfo { hasNextPage endCursor } } }`;
    const rows: Result[] = [];
    const ops = Math.max(200, Math.min(1_000, 200 * scale));
    let returned = 0;
    for (const [name, filter] of cases) {
      rows.push(
        await measure(`index.query ${name}`, { total: ops, concurrency: 1 }, async () => {
          const page = await index.query({ filter: filter(), first: 50 });
          returned += page.edges.length;
        }),
      );
    }
    // What auditEvents adds on top of the index: the 50 bodies from immudb (one GetAll).
    const pages = await Promise.all(cases.map(([, filter]) => index.query({ filter: filter(), first: 50 })));
    rows.push(
      await measure('ledger.getMany of one page (50 ids)', { total: Math.ceil(ops / 2), concurrency: 1 }, (i) =>
        ledger.getMany(pages[i % pages.length]!.edges.map((e) => e.eventId)),
      ),
    );
    const overHttp = async (label: string, target: string) => {
      for (const [name, filter] of cases) {
        const { hits, misses } = cached.bodyCache;
        const r = await measure(`auditEvents over HTTP, ${label} ${name}`, { total: Math.ceil(ops / 2), concurrency: 1 }, async () => {
          const res = await fetch(target, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: GQL, variables: { f: filter() } }),
          });
          const body = (await res.json()) as { errors?: unknown };
          if (body.errors) throw new Error(JSON.stringify(body.errors));
        });
        const h = cached.bodyCache.hits - hits;
        const m = cached.bodyCache.misses - misses;
        if (h + m > 0) r.name += ` [${((100 * h) / (h + m)).toFixed(0)} % hits]`;
        rows.push(r);
      }
    };
    await overHttp('no body cache', url);
    // Queries not asked before (another seed), against the cache as the follower left it.
    q = prng(6);
    summary.push({ metric: 'body cache after the rebuild', value: `${fmt(cached.bodyCache.entries)} bodies, ${fmt(cached.bodyCache.bytes / 2 ** 20)} MiB` });
    await overHttp('body cache, first pass', cachedUrl);
    q = prng(6);
    await overHttp('body cache, same queries again', cachedUrl);
    // Pages of (c) under another seed, each event on one page only (the rows above read (a)'s and
    // (b)'s few pages again and again), taken in turns by the gateway's getMany and by a raw GetAll
    // of a page like it (immudb-node's gRPC stub; nothing decoded or checked): how much of a page
    // outside the body cache is immudb's own.
    q = prng(7);
    const seen = new Set<string>();
    const fresh: string[][] = [];
    for (let i = 0; fresh.length < ops && i < 4 * ops; i++) {
      const ids = (await index.query({ filter: cases[2]![1](), first: 50 })).edges.map((e) => e.eventId);
      if (ids.length === 50 && ids.every((id) => !seen.has(id))) {
        for (const id of ids) seen.add(id);
        fresh.push(ids);
      }
    }
    const session = new ImmudbSession({ address: immudbAddress, user: 'immudb', password: 'immudb', database });
    try {
      await session.connect();
      const getAll = async (ids: string[]) => {
        const req = new pb.KeyListRequest();
        req.setKeysList(ids.map(eventIdKey));
        if ((await session.call('getAll', req)).getEntriesList().length !== ids.length) throw new Error('short GetAll');
      };
      rows.push(
        ...(await measureInTurns(Math.floor(fresh.length / 2), [
          { name: 'ledger.getMany, pages of (c) read once (50 ids)', op: (i) => ledger.getMany(fresh[2 * i]!) },
          { name: 'immudb GetAll of such pages (raw stub, 50 ids)', op: (i) => getAll(fresh[2 * i + 1]!) },
        ])),
      );
    } finally {
      session.close();
    }
    await benchDashboard({
      index,
      admin,
      url,
      immudbAddress,
      database,
      now,
      rounds: Math.max(100, Math.min(400, 100 * scale)),
      server: `immudb ${version}, Redis`,
    });
    await app.close();
    await cachedApp.close();
    summary.push({ metric: 'events returned per index query (mean)', value: (returned / (ops * cases.length)).toFixed(1) });
    printSummary(`Event index on Redis (${redisUrl.replace(/\/\/.*@/, '//')}) following immudb ${version} at ${immudbAddress}`, summary);
    printTable(
      `auditEvents latency with ${fmt(total)} events indexed (concurrency 1; "events" = queries)`,
      rows.map((r) => ({ ...r, server: `immudb ${version}` })),
    );
  } finally {
    await index.close();
    await ledger.close();
    admin.disconnect();
    await stopRedis();
  }
}
