/**
 * Load generator in its own process, so the client's CPU is not charged to the gateway:
 *   tsx bench/http-load.ts '<json: { url, query, total, concurrency, kind, name, first?, latencies? }>'
 * Prints one JSON line with the measured Result.
 */
import { sampleEventInput } from './fixtures.ts';
import { measure } from './harness.ts';

/** What bench/graphql.ts passes, as JSON in argv[2]. */
export interface HttpLoadOptions {
  url: string;
  query: string;
  total: number;
  concurrency: number;
  kind: 'create' | 'timeline';
  name: string;
  /** The first event's number (runs in slices number their events on). */
  first?: number;
  /** Print every latency too, so that slices of one case merge into one row. */
  latencies?: boolean;
}

const { url, query, total, concurrency, kind, name, first = 0, latencies = false } = JSON.parse(process.argv[2]!) as HttpLoadOptions;

let n = first;
const variables = () => (kind === 'timeline' ? { c: 'rr-target' } : { input: sampleEventInput(n++, { correlationId: `rr-load-${n % 1000}` }) });

const each: number[] = [];
const result = await measure(name, { total, concurrency }, async () => {
  const t = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables: variables() }) });
  const body = (await res.json()) as { errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  each.push(performance.now() - t);
});
process.stdout.write(`${JSON.stringify(latencies ? { ...result, latencies: each } : result)}\n`);
