/** Tiny benchmark harness: run `total` operations with `concurrency` workers, report rate and latency. */
export interface Result {
  name: string;
  events: number;
  seconds: number;
  eventsPerSec: number;
  p50: number;
  p99: number;
  /** Operations that failed (counted, not retried); rate and latency cover the successful ones. */
  errors: number;
}

export async function measure(
  name: string,
  opts: { total: number; concurrency: number; eventsPerOp?: number },
  op: (i: number) => Promise<unknown>,
): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (next < opts.total) {
        const i = next++;
        const t = performance.now();
        try {
          await op(i);
          latencies.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  return summarize(name, latencies, (performance.now() - started) / 1000, errors, opts.eventsPerOp);
}

function summarize(name: string, latencies: number[], seconds: number, errors: number, eventsPerOp = 1): Result {
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies.length === 0 ? Number.NaN : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!);
  const events = latencies.length * eventsPerOp;
  return { name, events, seconds, eventsPerSec: events / seconds, p50: q(0.5), p99: q(0.99), errors };
}

/**
 * Several cases one operation at a time, taking turns (each round starts with the next case), so
 * that a slow stretch of the machine or a cache warmed by one case falls on all of them alike.
 * A case's seconds are the sum of its own operations' latencies.
 */
export async function measureInTurns(rounds: number, cases: { name: string; op: (round: number) => Promise<unknown> }[]): Promise<Result[]> {
  const latencies = cases.map((): number[] => []);
  const errors = cases.map(() => 0);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      const j = (round + k) % cases.length;
      const t = performance.now();
      try {
        await cases[j]!.op(round);
        latencies[j]!.push(performance.now() - t);
      } catch {
        errors[j]!++;
      }
    }
  }
  return cases.map((c, j) => summarize(c.name, latencies[j]!, latencies[j]!.reduce((a, b) => a + b, 0) / 1000, errors[j]!));
}

/** A Markdown table under `title`: the first column left-aligned, the others right-aligned. */
export function printMarkdownTable(title: string, head: string[], body: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(`|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const b of body) console.log(line(b));
}

export function printTable(title: string, rows: Result[]): void {
  const head = ['case', 'events ok', 'failed ops', 'events/s', 'p50 ms', 'p99 ms'];
  const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
  printMarkdownTable(title, head, rows.map((r) => [r.name, String(r.events), String(r.errors), fixed(r.eventsPerSec, 0), fixed(r.p50, 2), fixed(r.p99, 2)]));
}
