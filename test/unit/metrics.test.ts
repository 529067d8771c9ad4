/** The /metrics exposition, byte for byte: prom-client renders it, in the format it always had. */
import { describe, expect, it } from 'vitest';
import { AppMetrics, LATENCY_BUCKETS } from '../../src/server/metrics.ts';

const samples = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(name));

describe('AppMetrics exposition', () => {
  it('counters by label, values escaped; one line per sample, no blank lines, a final newline', async () => {
    const m = new AppMetrics();
    m.eventsWritten.inc({ category: 'a"b\\c\nd', outcome: 'SUCCESS' });
    m.eventsWritten.inc({ category: 'x', outcome: 'FAILURE' }, 2);
    m.eventsWritten.inc({ category: 'x', outcome: 'FAILURE' });
    const text = await m.render();
    expect(text.endsWith('\n')).toBe(true);
    expect(text).not.toMatch(/\n\n/);
    expect(text).toContain(
      [
        '# HELP auditgraph_events_written_total Events newly written to the ledger (idempotent retries not counted), by category and outcome.',
        '# TYPE auditgraph_events_written_total counter',
        'auditgraph_events_written_total{category="a\\"b\\\\c\\nd",outcome="SUCCESS"} 1',
        'auditgraph_events_written_total{category="x",outcome="FAILURE"} 3',
        '# HELP auditgraph_write_duration_seconds ',
      ].join('\n'),
    );
  });

  it('histograms: no series before the first observation, then cumulative buckets, +Inf, sum and count', async () => {
    const m = new AppMetrics();
    expect(samples(await m.render(), 'auditgraph_write_duration_seconds')).toEqual([]);
    m.writeSeconds.observe(0.003);
    m.writeSeconds.observe(0.2);
    m.writeSeconds.observe(42);
    const lines = samples(await m.render(), 'auditgraph_write_duration_seconds');
    const cumulative = [0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2];
    expect(lines).toEqual([
      ...LATENCY_BUCKETS.map((le, i) => `auditgraph_write_duration_seconds_bucket{le="${le}"} ${cumulative[i]}`),
      'auditgraph_write_duration_seconds_bucket{le="+Inf"} 3',
      `auditgraph_write_duration_seconds_sum ${0.003 + 0.2 + 42}`,
      'auditgraph_write_duration_seconds_count 3',
    ]);
  });

  it('time() observes whether the call resolved or threw, and passes either through', async () => {
    const m = new AppMetrics();
    await expect(m.verifySeconds.time(async () => 7)).resolves.toBe(7);
    await expect(m.verifySeconds.time(async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(await m.render()).toContain('auditgraph_verify_duration_seconds_count 2\n');
  });

  it('scrape-time values: shown when known, left out when unknown or when the read fails; body cache only with one', async () => {
    const m = new AppMetrics();
    m.attach({
      indexLag: async () => ({ txs: 4, seconds: 0.25 }),
      openSubscriptions: () => 3,
      openWebSockets: () => {
        throw new Error('down');
      },
    });
    let text = await m.render();
    expect(text).toContain('# TYPE auditgraph_index_lag_txs gauge\nauditgraph_index_lag_txs 4\n');
    expect(text).toContain('auditgraph_index_lag_seconds 0.25\n');
    expect(text).toContain('auditgraph_subscriptions_open 3\n');
    expect(text).toContain('# TYPE auditgraph_websockets_open gauge\n');
    expect(text).not.toMatch(/^auditgraph_websockets_open /m);
    expect(text).not.toContain('body_cache');

    const cache = { hits: 5, misses: 2, evictions: 0, bytes: 1024, maxBytes: 4096, entries: 2 };
    m.attach({ indexLag: async () => Promise.reject(new Error('ledger down')), bodyCache: cache });
    await new Promise((r) => setTimeout(r, 1)); // one lag read serves a whole scrape, and is dropped just after it
    text = await m.render();
    expect(text).not.toMatch(/^auditgraph_index_lag_txs /m);
    expect(text).toContain('# TYPE auditgraph_body_cache_hits_total counter\nauditgraph_body_cache_hits_total 5\n');
    cache.hits = 9; // a total kept by the cache: the counter shows it, not a sum of scrapes
    text = await m.render();
    expect(text).toContain('auditgraph_body_cache_hits_total 9\n');
    expect(text).toContain('auditgraph_body_cache_bytes 1024\n');
    expect(text.match(/# TYPE auditgraph_body_cache_hits_total/g)).toHaveLength(1);
  });

  it('each app has its own registry', async () => {
    const a = new AppMetrics();
    const b = new AppMetrics();
    a.ledgerErrors.inc({ operation: 'append' });
    expect(await a.render()).toContain('auditgraph_ledger_errors_total{operation="append"} 1\n');
    expect(await b.render()).not.toContain('auditgraph_ledger_errors_total{');
  });
});
