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
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  const events = latencies.length * (opts.eventsPerOp ?? 1);
  return { name, events, seconds, eventsPerSec: events / seconds, p50: q(0.5), p99: q(0.99), errors };
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
  printMarkdownTable(title, head, rows.map((r) => [r.name, String(r.events), String(r.errors), r.eventsPerSec.toFixed(0), r.p50.toFixed(2), r.p99.toFixed(2)]));
}
