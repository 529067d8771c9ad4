/** GET /metrics on a real immudb: the exposition parses, and counters move by exactly what happened. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Ledger } from '../../src/ledger/port.ts';
import { openEventIndex, type IndexSetup } from '../../src/index/index.ts';
import { openLive, type LiveSetup } from '../../src/live/index.ts';
import { withBodyCache } from '../../src/ledger/body-cache.ts';
import { createApp, type App } from '../../src/server/app.ts';
import { createLogger } from '../../src/logger.ts';
import { CREATE, CREATE_MANY, eventInput } from '../support/graphql.ts';
import { subscribe, wsClient } from '../support/live.ts';
import { describeImmudb, openTestImmudbLedger } from '../support/services.ts';
import type { GraphQLBody } from '../support/api-types.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A small parser of the Prometheus text format (0.0.4): fails on any line it does not understand. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.split('\n').slice(0, -1)) {
    if (line.startsWith('# HELP ')) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      expect(types.has(type[1]!), `TYPE ${type[1]} twice`).toBe(false);
      types.set(type[1]!, type[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let pos = 0;
    while (pos < body.length) {
      label.lastIndex = pos;
      const l = label.exec(body);
      if (!l) throw new Error(`bad labels: ${JSON.stringify(body)}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      pos = label.lastIndex;
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') throw new Error(`bad value: ${line}`);
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '');
    expect(types.has(m[1]!) || types.get(family) === 'histogram', `sample ${m[1]} without TYPE`).toBe(true);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);

describeImmudb('/metrics', () => {
  let ledger: Ledger;
  let live: LiveSetup;
  let indexing: IndexSetup;
  let app: App;
  let url: string;
  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    return (await res.json()) as GraphQLBody;
  };
  const scrape = async () => {
    const res = await fetch(url.replace(/\/graphql$/, '/metrics'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseExposition(await res.text());
  };

  beforeAll(async () => {
    // As open-ledger.ts opens it for immudb: bodies read through a bounded cache.
    const raw = withBodyCache(await openTestImmudbLedger());
    indexing = await openEventIndex({ ledger: raw, redisUrl: null });
    indexing.indexer.start();
    live = await openLive({ ledger: raw, redisUrl: null });
    live.feed.start();
    raw.onAppended((r) => {
      indexing.indexer.kick();
      live.feed.appended(r);
    });
    ledger = raw;
    app = createApp({
      ledger,
      index: indexing.index,
      indexLag: () => indexing.indexer.lag(),
      live: live.feed,
      config: { port: 0, host: '127.0.0.1' },
      logger: createLogger({ level: 'error', write: () => {} }),
    });
    url = (await app.listen()).url;
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await live?.close();
    await indexing?.close();
    await ledger?.close();
  });

  it('parses, and the write counter moves by exactly the events written (retries and refusals not counted)', async () => {
    const before = await scrape();
    expect(before.types.get('auditgraph_events_written_total')).toBe('counter');
    expect(before.types.get('auditgraph_write_duration_seconds')).toBe('histogram');
    const retried = eventInput({ eventId: randomUUID(), eventCategory: 'metrics-a', outcome: 'FAILURE' });
    expect((await gql(CREATE, { input: retried })).errors).toBeUndefined();
    expect((await gql(CREATE, { input: retried })).data!.createAuditEvent.created).toBe(false); // idempotent retry: not counted
    const batch = [eventInput({ eventCategory: 'metrics-a' }), eventInput({ eventCategory: 'metrics-b' }), eventInput({ eventCategory: 'metrics-a' })];
    expect((await gql(CREATE_MANY, { input: batch })).errors).toBeUndefined();
    expect((await gql(CREATE, { input: { ...eventInput(), actorId: '' } })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const { eventId } = (await gql(CREATE, { input: eventInput({ eventCategory: 'metrics-b' }) })).data!.createAuditEvent.event;
    expect((await gql('query ($id: ID!) { verifyAuditEvent(eventId: $id) { verified } }', { id: eventId })).data!.verifyAuditEvent.verified).toBe(true);

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => value(after.samples, name, labels) - value(before.samples, name, labels);
    expect(delta('auditgraph_events_written_total')).toBe(5);
    expect(delta('auditgraph_events_written_total', { category: 'metrics-a', outcome: 'FAILURE' })).toBe(1);
    expect(delta('auditgraph_events_written_total', { category: 'metrics-a', outcome: 'SUCCESS' })).toBe(2);
    expect(delta('auditgraph_events_written_total', { category: 'metrics-b' })).toBe(2);
    // Every append is timed (the invalid input never reached the ledger), each verified read too.
    expect(delta('auditgraph_write_duration_seconds_count')).toBe(4);
    expect(delta('auditgraph_verify_duration_seconds_count')).toBe(1);
    expect(delta('auditgraph_query_duration_seconds_count')).toBe(1);
    const buckets = after.samples.filter((s) => s.name === 'auditgraph_write_duration_seconds_bucket');
    expect(buckets.at(-1)).toMatchObject({ labels: { le: '+Inf' }, value: value(after.samples, 'auditgraph_write_duration_seconds_count') });
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(value(after.samples, 'auditgraph_ledger_errors_total')).toBe(0);
  });

  it('body cache: a read already cached counts one hit and no miss', async () => {
    const { eventId } = (await gql(CREATE, { input: eventInput({ eventCategory: 'metrics-cache' }) })).data!.createAuditEvent.event;
    const read = async () =>
      expect((await gql('query ($id: ID!) { auditEvent(eventId: $id) { eventId } }', { id: eventId })).data!.auditEvent!.eventId).toBe(eventId);
    await read(); // a hit if the index's follower read it first, a miss otherwise
    const before = await scrape();
    await read();
    const after = await scrape();
    const delta = (name: string) => value(after.samples, name) - value(before.samples, name);
    expect(after.types.get('auditgraph_body_cache_hits_total')).toBe('counter');
    expect(delta('auditgraph_body_cache_hits_total')).toBe(1);
    expect(delta('auditgraph_body_cache_misses_total')).toBe(0);
    expect(value(after.samples, 'auditgraph_body_cache_entries')).toBeGreaterThanOrEqual(1);
    expect(value(after.samples, 'auditgraph_body_cache_bytes')).toBeGreaterThan(0);
  });

  it('gauges: index lag (txs, seconds) and open subscriptions', async () => {
    const client = wsClient(url.replace(/^http/, 'ws'));
    try {
      const sub = subscribe(client, {}, 'subscription { auditEventCreated { eventId } }');
      const deadline = Date.now() + 10_000;
      let m = await scrape();
      while (value(m.samples, 'auditgraph_subscriptions_open') !== 1 && Date.now() < deadline) m = await scrape();
      expect(value(m.samples, 'auditgraph_subscriptions_open')).toBe(1);
      expect(value(m.samples, 'auditgraph_websockets_open')).toBe(1);
      expect(m.samples.some((s) => s.name === 'auditgraph_index_lag_txs')).toBe(true);
      expect(value(m.samples, 'auditgraph_index_lag_seconds')).toBeGreaterThanOrEqual(0);
      sub.unsubscribe();
    } finally {
      await client.dispose();
    }
  });
});
