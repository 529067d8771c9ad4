/**
 * Prometheus metrics on GET /metrics, in the text exposition format (version 0.0.4), written by
 * hand: a few counters, histograms and gauges are all we need, not a client library.
 *
 * Label values come from validated event fields (category, outcome) or from our own code; they are
 * escaped as the format requires. Gauges that need I/O (index lag) are read at scrape time.
 */
import type { AppLedger } from '../graphql/context.ts';
import type { EventIndex } from '../index/port.ts';
import type { BodyCacheStats } from '../ledger/body-cache.ts';

type Labels = Record<string, string>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
};
const num = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN');

export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const cur = this.values.get(key);
    if (cur) cur.value += by;
    else this.values.set(key, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${num(value)}`);
    return lines.join('\n');
  }
}

/** Seconds: from 1 ms (a cached read) to 10 s (a ledger at its timeout). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[] = LATENCY_BUCKETS) {}
  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  /** Runs `fn` and observes how long it took in seconds, whether it resolved or threw. */
  async time<T>(fn: () => Promise<T>, labels: Labels = {}): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      this.observe((performance.now() - start) / 1000, labels);
    }
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((le, i) => lines.push(`${this.name}_bucket${labelText({ ...labels, le: num(le) })} ${counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`);
      lines.push(`${this.name}_sum${labelText(labels)} ${num(sum)}`);
      lines.push(`${this.name}_count${labelText(labels)} ${count}`);
    }
    return lines.join('\n');
  }
}

/**
 * A value read at scrape time; null: unknown right now (the sample is left out). A gauge, or a
 * counter for totals kept elsewhere that only ever grow (the body cache's hits).
 */
export class ScrapedValue {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number | null | Promise<number | null>,
    private readonly type: 'gauge' | 'counter' = 'gauge',
  ) {}
  async render(): Promise<string> {
    let value: number | null = null;
    try {
      value = await this.read();
    } catch {
      value = null;
    }
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    if (value !== null) lines.push(`${this.name} ${num(value)}`);
    return lines.join('\n');
  }
}

export interface MetricsSources {
  indexLag?: () => Promise<{ txs: number; seconds: number }>;
  openSubscriptions?: () => number;
  openWebSockets?: () => number;
  /** The ledger's body cache (body-cache.ts), when it has one. */
  bodyCache?: BodyCacheStats | undefined;
}

export class AppMetrics {
  readonly eventsWritten = new Counter('auditgraph_events_written_total', 'Events newly written to the ledger (idempotent retries not counted), by category and outcome.');
  readonly writeSeconds = new Histogram('auditgraph_write_duration_seconds', 'Ledger append latency (one group commit or batch), seconds.');
  readonly querySeconds = new Histogram('auditgraph_query_duration_seconds', 'GraphQL query execution latency, seconds.');
  readonly verifySeconds = new Histogram('auditgraph_verify_duration_seconds', 'Verified read latency (read with a fresh proof), seconds.');
  readonly ledgerErrors = new Counter('auditgraph_ledger_errors_total', 'Failed ledger calls, by operation.');
  readonly indexErrors = new Counter('auditgraph_index_errors_total', 'Failed index calls, by operation.');
  private sources: MetricsSources = {};
  private lag: Promise<{ txs: number; seconds: number } | null> | null = null;

  /** Where scrape-time gauges come from (set by createApp). */
  attach(sources: MetricsSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  /** One lag read per scrape, shared by both lag gauges; bounded so a slow ledger never hangs a scrape. */
  private readLag(): Promise<{ txs: number; seconds: number } | null> {
    const get = this.sources.indexLag;
    if (!get) return Promise.resolve(null);
    this.lag ??= Promise.race([get(), new Promise<null>((r) => setTimeout(() => r(null), 2_000).unref())])
      .catch(() => null)
      .finally(() => setTimeout(() => (this.lag = null), 0));
    return this.lag;
  }

  async render(): Promise<string> {
    const gauges = [
      new ScrapedValue('auditgraph_index_lag_txs', 'Committed ledger transactions not yet in the secondary index.', async () => (await this.readLag())?.txs ?? null),
      new ScrapedValue('auditgraph_index_lag_seconds', 'Age of the oldest committed transaction not yet indexed (0 when caught up), seconds.', async () => (await this.readLag())?.seconds ?? null),
      new ScrapedValue('auditgraph_subscriptions_open', 'Live subscriptions on this instance.', () => this.sources.openSubscriptions?.() ?? null),
      new ScrapedValue('auditgraph_websockets_open', 'Open GraphQL WebSocket connections.', () => this.sources.openWebSockets?.() ?? null),
    ];
    const cache = this.sources.bodyCache;
    if (cache) {
      gauges.push(
        new ScrapedValue('auditgraph_body_cache_hits_total', 'Event bodies answered from the ledger body cache.', () => cache.hits, 'counter'),
        new ScrapedValue('auditgraph_body_cache_misses_total', 'Event bodies the body cache had to read from the ledger.', () => cache.misses, 'counter'),
        new ScrapedValue('auditgraph_body_cache_evictions_total', 'Bodies evicted from the body cache to stay within its bytes.', () => cache.evictions, 'counter'),
        new ScrapedValue('auditgraph_body_cache_bytes', 'Estimated heap bytes of the cached event bodies (LEDGER_BODY_CACHE_MB bounds it).', () => cache.bytes),
        new ScrapedValue('auditgraph_body_cache_entries', 'Event bodies in the body cache.', () => cache.entries),
      );
    }
    const parts = [this.eventsWritten, this.writeSeconds, this.querySeconds, this.verifySeconds, this.ledgerErrors, this.indexErrors].map((m) => m.render());
    parts.push(...(await Promise.all(gauges.map((g) => g.render()))));
    return `${parts.join('\n')}\n`;
  }
}

/**
 * The ledger as the app uses it, counted: append and getVerified timed, newly created events
 * counted, failures of any call counted by operation (then rethrown unchanged).
 */
const LEDGER_CALLS = new Set(['append', 'getVerified', 'getMany', 'scanTimeline', 'readTransactions', 'commitTimes', 'lastTxId', 'trustedState', 'ping']);
const INDEX_CALLS = new Set(['query', 'health', 'state', 'checkpoint']);

/** Other methods pass through, bound to the real object (its private fields need the right `this`). */
const passThrough = (value: unknown, target: object) => (typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value);

/**
 * A proxy over an empty stand-in, not over `real` itself: a proxy of `real` must return the very
 * value of any read-only own property (a spy's getMany in tests), which would forbid wrapping it.
 */
function forward<T extends object>(real: T, get: (target: T, prop: string | symbol) => unknown): T {
  return new Proxy({} as T, { get: (_stand, prop) => get(real, prop), has: (_stand, prop) => prop in real });
}

export function instrumentLedger(ledger: AppLedger, metrics: AppMetrics): AppLedger {
  return forward(ledger, (target, prop) => {
    const value: unknown = Reflect.get(target, prop, target);
    if (typeof prop !== 'string' || !LEDGER_CALLS.has(prop) || typeof value !== 'function') return passThrough(value, target);
    const fn = value as (...args: unknown[]) => unknown;
    return (...args: unknown[]) => {
      const run = async () => {
        try {
          return await fn.apply(target, args);
        } catch (e) {
          metrics.ledgerErrors.inc({ operation: prop });
          throw e;
        }
      };
      if (prop === 'append') {
        return metrics.writeSeconds.time(run).then((results) => {
          for (const r of results as { created: boolean; event: { record: { eventCategory: string; outcome: string } } }[]) {
            if (r.created) metrics.eventsWritten.inc({ category: r.event.record.eventCategory, outcome: r.event.record.outcome });
          }
          return results;
        });
      }
      if (prop === 'getVerified') return metrics.verifySeconds.time(run);
      return run();
    };
  });
}

/** The index as the app uses it, with failures counted by operation. */
export function instrumentIndex(index: EventIndex, metrics: AppMetrics): EventIndex {
  return forward(index, (target, prop) => {
    const value: unknown = Reflect.get(target, prop, target);
    if (typeof prop !== 'string' || !INDEX_CALLS.has(prop) || typeof value !== 'function') return passThrough(value, target);
    const fn = value as (...args: unknown[]) => unknown;
    return async (...args: unknown[]) => {
      try {
        return await fn.apply(target, args);
      } catch (e) {
        metrics.indexErrors.inc({ operation: prop });
        throw e;
      }
    };
  });
}
