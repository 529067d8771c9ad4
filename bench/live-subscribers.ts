/**
 * The subscribers of bench/live.ts, in processes of their own so their CPU is not charged to the
 * gateway: `node --import tsx bench/live-subscribers.ts <part> <parts>` with an IPC channel. Part
 * `part` of `parts` holds the subscribers i with i mod parts = part (so the mix of filters is the
 * same whatever the number of processes), one connection and one subscription each.
 *
 * Messages from the parent:
 *   { type: 'open', url, total }       grow to this part's share of `total` subscribers
 *   { type: 'commit', e: [eventId, commitMs, eventType, correlationId, outcome, eventCategory, actorId][] }
 *   { type: 'reset' }                  start a new measurement window
 *   { type: 'report', hist? }          → { type: 'report', ... } for the window; with `hist`, the
 *                                      latency histogram as [bucket, count] pairs (0.1 ms buckets)
 *   { type: 'exit' }
 * Times are `performance.timeOrigin + performance.now()` in both processes (one machine, one clock).
 * Latency is commit (the parent's append resolved) → this process parsed the delivery.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { filterFor, type BenchFilter } from './live-filters.ts';

const [part, parts] = process.argv.slice(2).map(Number) as [number, number];
const now = () => performance.timeOrigin + performance.now();
const send = (m: unknown) => process.send!(m);

const QUERY = `subscription ($filter: AuditEventFilter) {
  auditEventCreated(filter: $filter) { eventId eventType eventCategory outcome timestamp correlationId actor { type id } ledger { txId } }
}`;

/** Latency histogram: 0.1 ms buckets up to 30 s, then one overflow bucket. */
const BUCKET_MS = 0.1;
const BUCKETS = 300_000;
let hist = new Uint32Array(BUCKETS + 1);
let maxLatency = 0;
let delivered = 0;
let expected = 0;
let errors = 0;
let completions = 0;
let connectFailures = 0;
/** Window events' commit times; deliveries seen before their commit message wait in `early`. */
let commits = new Map<string, number>();
let early = new Map<string, number[]>();

function record(latency: number): void {
  const b = Math.min(BUCKETS, Math.max(0, Math.floor(latency / BUCKET_MS)));
  hist[b]!++;
  if (latency > maxLatency) maxLatency = latency;
  delivered++;
}

function sparse(): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < hist.length; i++) if (hist[i]! > 0) out.push([i, hist[i]!]);
  return out;
}

function percentile(p: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return Number.NaN;
  let seen = 0;
  const target = Math.ceil(total * p);
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= target) return (i + 1) * BUCKET_MS;
  }
  return Number.POSITIVE_INFINITY;
}

// How many subscriptions each value matters to (one filter kind per subscription; see live-filters.ts).
let all = 0;
const byType = new Map<string, number>();
const byCorrelation = new Map<string, number>();
const byFailedCategory = new Map<string, number>();
const byActor = new Map<string, number>();
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

function count(f: BenchFilter): void {
  if (f.eventType) bump(byType, f.eventType[0]!);
  else if (f.correlationId) bump(byCorrelation, f.correlationId);
  else if (f.eventCategory) bump(byFailedCategory, f.eventCategory[0]!);
  else if (f.actorId) for (const a of f.actorId) bump(byActor, a);
  else all++;
}

const clients: Client[] = [];
/** Subscribers opened so far, all parts together (this part has those i ≡ part mod parts). */
let opened = 0;

function onEvent(eventId: string): void {
  const t = now();
  const c = commits.get(eventId);
  if (c !== undefined) {
    record(t - c);
    return;
  }
  let list = early.get(eventId);
  if (!list) {
    list = [];
    early.set(eventId, list);
  }
  list.push(t);
}

async function open(url: string, total: number): Promise<void> {
  while (opened < total) {
    const waiting: Promise<void>[] = [];
    for (let i = opened; i < Math.min(total, opened + 200 * parts); i++) {
      if (i % parts !== part) continue;
      const filter = filterFor(i);
      count(filter);
      let ready!: () => void;
      waiting.push(new Promise<void>((r) => (ready = r)));
      const client = createClient({
        url,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: true,
        on: {
          connected: () => ready(),
          // A connection that fails is counted, never waited for.
          error: () => {
            connectFailures++;
            ready();
          },
        },
      });
      clients.push(client);
      client.subscribe(
        { query: QUERY, variables: { filter } },
        {
          next: (r) => {
            const e = (r.data as { auditEventCreated?: { eventId: string } } | null | undefined)?.auditEventCreated;
            if (e) onEvent(e.eventId);
            else errors++;
          },
          error: () => {
            errors++;
          },
          complete: () => {
            completions++;
          },
        },
      );
    }
    opened = Math.min(total, opened + 200 * parts);
    await Promise.all(waiting);
  }
}

process.on('message', (m: { type: string; url?: string; total?: number; hist?: boolean; e?: [string, number, string, string, string, string, string][] }) => {
  switch (m.type) {
    case 'open':
      void open(m.url!, m.total!).then(() => send({ type: 'opened', total: clients.length, connectFailures }));
      return;
    case 'commit':
      for (const [eventId, at, eventType, correlationId, outcome, eventCategory, actorId] of m.e!) {
        commits.set(eventId, at);
        expected +=
          all +
          (byType.get(eventType) ?? 0) +
          (byCorrelation.get(correlationId) ?? 0) +
          (outcome === 'SUCCESS' ? 0 : (byFailedCategory.get(eventCategory) ?? 0)) +
          (byActor.get(actorId) ?? 0);
        const waiting = early.get(eventId);
        if (waiting) {
          early.delete(eventId);
          for (const t of waiting) record(t - at);
        }
      }
      return;
    case 'reset':
      hist = new Uint32Array(BUCKETS + 1);
      maxLatency = 0;
      delivered = 0;
      expected = 0;
      errors = 0;
      commits = new Map();
      early = new Map();
      send({ type: 'reset' });
      return;
    case 'report': {
      const cpu = process.cpuUsage();
      send({
        type: 'report',
        delivered,
        expected,
        errors,
        completions,
        connectFailures,
        p50: percentile(0.5),
        p99: percentile(0.99),
        max: maxLatency,
        ...(m.hist ? { hist: sparse() } : {}),
        cpuMs: (cpu.user + cpu.system) / 1000,
      });
      return;
    }
    case 'exit':
      void Promise.all(clients.map((c) => c.dispose())).finally(() => process.exit(0));
      return;
  }
});
send({ type: 'ready' });
