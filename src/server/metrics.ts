/**
 * Prometheus metrics on GET /metrics, in the text exposition format (version 0.0.4), kept by
 * prom-client in one registry per app.
 *
 * Label values come from validated event fields (category, outcome) or from our own code. Gauges
 * that need I/O (index lag) are read at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';
import { LedgerDecorator } from '../ledger/decorator.ts';
import type { Ledger } from '../ledger/port.ts';
import type { EventIndex } from '../index/port.ts';
import type { BodyCacheStats } from '../ledger/body-cache.ts';

/** Seconds: from 1 ms (a cached read) to 10 s (a ledger at its timeout). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class TimedHistogram<L extends string = string> extends Histogram<L> {
  /** Runs `fn` and observes how long it took in seconds, whether it resolved or threw. */
  async time<T>(fn: () => Promise<T>, labels?: LabelValues<L>): Promise<T> {
    const end = this.startTimer(labels);
    try {
      return await fn();
    } finally {
      end();
    }
  }
}

export interface MetricsSources {
  indexLag?: () => Promise<{ txs: number; seconds: number }>;
  openSubscriptions?: () => number;
  openWebSockets?: () => number;
  /** The ledger's body cache (body-cache.ts), when it has one. */
  bodyCache?: BodyCacheStats | undefined;
}

type Read = () => number | null | Promise<number | null>;

export class AppMetrics {
  readonly registry = new Registry();
  readonly eventsWritten = new Counter({
    name: 'auditgraph_events_written_total',
    help: 'Events newly written to the ledger (idempotent retries not counted), by category and outcome.',
    labelNames: ['category', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly writeSeconds = this.latency('auditgraph_write_duration_seconds', 'Ledger append latency (one group commit or batch), seconds.');
  readonly querySeconds = this.latency('auditgraph_query_duration_seconds', 'GraphQL query execution latency, seconds.');
  readonly verifySeconds = this.latency('auditgraph_verify_duration_seconds', 'Verified read latency (read with a fresh proof), seconds.');
  readonly ledgerErrors = new Counter({
    name: 'auditgraph_ledger_errors_total',
    help: 'Failed ledger calls, by operation.',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly indexErrors = new Counter({
    name: 'auditgraph_index_errors_total',
    help: 'Failed index calls, by operation.',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  private sources: MetricsSources = {};
  private lag: Promise<{ txs: number; seconds: number } | null> | null = null;

  constructor() {
    this.scraped('auditgraph_index_lag_txs', 'Committed ledger transactions not yet in the secondary index.', async () => (await this.readLag())?.txs ?? null);
    this.scraped(
      'auditgraph_index_lag_seconds',
      'Age of the oldest committed transaction not yet indexed (0 when caught up), seconds.',
      async () => (await this.readLag())?.seconds ?? null,
    );
    this.scraped('auditgraph_subscriptions_open', 'Live subscriptions on this instance.', () => this.sources.openSubscriptions?.() ?? null);
    this.scraped('auditgraph_websockets_open', 'Open GraphQL WebSocket connections.', () => this.sources.openWebSockets?.() ?? null);
  }

  /** Where scrape-time gauges come from (set by createApp). */
  attach(sources: MetricsSources): void {
    this.sources = { ...this.sources, ...sources };
    // Only a ledger with a body cache shows its metrics.
    if (this.sources.bodyCache && !this.registry.getSingleMetric('auditgraph_body_cache_hits_total')) {
      const cache = () => this.sources.bodyCache;
      this.scraped('auditgraph_body_cache_hits_total', 'Event bodies answered from the ledger body cache.', () => cache()?.hits ?? null, 'counter');
      this.scraped('auditgraph_body_cache_misses_total', 'Event bodies the body cache had to read from the ledger.', () => cache()?.misses ?? null, 'counter');
      this.scraped(
        'auditgraph_body_cache_evictions_total',
        'Bodies evicted from the body cache to stay within its bytes.',
        () => cache()?.evictions ?? null,
        'counter',
      );
      this.scraped(
        'auditgraph_body_cache_bytes',
        'Estimated heap bytes of the cached event bodies (LEDGER_BODY_CACHE_MB bounds it).',
        () => cache()?.bytes ?? null,
      );
      this.scraped('auditgraph_body_cache_entries', 'Event bodies in the body cache.', () => cache()?.entries ?? null);
    }
  }

  /** Families one after another: registry.metrics() would put a blank line between them, which this exposition never had. */
  async render(): Promise<string> {
    const parts = await Promise.all(this.registry.getMetricsAsArray().map((m) => this.registry.getSingleMetricAsString(m.name)));
    return `${parts.join('\n')}\n`;
  }

  private latency(name: string, help: string): TimedHistogram {
    const h = new TimedHistogram({ name, help, buckets: LATENCY_BUCKETS, registers: [this.registry] });
    h.remove(); // no series until the first observation, as this exposition has always shown it
    return h;
  }

  /**
   * A value read at scrape time; null or a failed read: unknown right now, the sample is left out.
   * A gauge, or a counter for totals kept elsewhere that only ever grow (the body cache's hits).
   */
  private scraped(name: string, help: string, read: Read, type: 'gauge' | 'counter' = 'gauge'): void {
    const registers = [this.registry];
    const value = async () => {
      try {
        return await read();
      } catch {
        return null;
      }
    };
    if (type === 'gauge') {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const v = await value();
          if (v === null) this.remove();
          else this.set(v);
        },
      });
    } else {
      new Counter({
        name,
        help,
        registers,
        async collect() {
          const v = await value();
          this.reset();
          if (v === null) this.remove();
          else this.inc(v);
        },
      });
    }
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
}

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

/**
 * The ledger as the app uses it, counted: append and getVerified timed, newly created events
 * counted, failures of any call counted by operation (then rethrown unchanged).
 */
export function instrumentLedger(ledger: Ledger, metrics: AppMetrics): Ledger {
  const counted = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (e) {
      metrics.ledgerErrors.inc({ operation });
      throw e;
    }
  };
  // A typed decorator (ledger/decorator.ts): the calls not overridden here pass through uncounted.
  return new (class InstrumentedLedger extends LedgerDecorator {
    override async append(...a: Parameters<Ledger['append']>) {
      const results = await metrics.writeSeconds.time(() => counted('append', () => super.append(...a)));
      for (const r of results) if (r.created) metrics.eventsWritten.inc({ category: r.event.record.eventCategory, outcome: r.event.record.outcome });
      return results;
    }
    override getVerified(...a: Parameters<Ledger['getVerified']>) {
      return metrics.verifySeconds.time(() => counted('getVerified', () => super.getVerified(...a)));
    }
    override getVerifiedFrom(...a: Parameters<Ledger['getVerifiedFrom']>) {
      return metrics.verifySeconds.time(() => counted('getVerifiedFrom', () => super.getVerifiedFrom(...a)));
    }
    override consistencyProof(...a: Parameters<Ledger['consistencyProof']>) {
      return counted('consistencyProof', () => super.consistencyProof(...a));
    }
    override getMany(...a: Parameters<Ledger['getMany']>) {
      return counted('getMany', () => super.getMany(...a));
    }
    override scanTimeline(...a: Parameters<Ledger['scanTimeline']>) {
      return counted('scanTimeline', () => super.scanTimeline(...a));
    }
    override readTransactions(...a: Parameters<Ledger['readTransactions']>) {
      return counted('readTransactions', () => super.readTransactions(...a));
    }
    override commitTimes(...a: Parameters<Ledger['commitTimes']>) {
      return counted('commitTimes', () => super.commitTimes(...a));
    }
    override lastTxId() {
      return counted('lastTxId', () => super.lastTxId());
    }
    override trustedState() {
      return counted('trustedState', () => super.trustedState());
    }
    override ping() {
      return counted('ping', () => super.ping());
    }
  })(ledger);
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
