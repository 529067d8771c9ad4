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
  /** The immudb it ran on ("immudb 1.11.1"), "-" for none; printed in a `server` column. */
  server?: string;
  /** This process's CPU per operation (ms), where measured. */
  cpuMsPerOp?: number;
  /** The server's CPU per operation (ms), where measured (`measureInSlices`' serverCpuMs). */
  serverCpuMsPerOp?: number;
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

export function summarize(name: string, latencies: number[], seconds: number, errors: number, eventsPerOp = 1): Result {
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
export async function measureInTurns(rounds: number, cases: { name: string; server?: string; op: (round: number) => Promise<unknown> }[]): Promise<Result[]> {
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
  return cases.map((c, j) => ({
    ...summarize(c.name, latencies[j]!, latencies[j]!.reduce((a, b) => a + b, 0) / 1000, errors[j]!),
    ...(c.server === undefined ? {} : { server: c.server }),
  }));
}

export interface SliceCase {
  name: string;
  server?: string;
  concurrency: number;
  eventsPerOp?: number;
  /** `i` counts this case's operations across its slices, from 0. */
  op: (i: number) => Promise<unknown>;
}

/**
 * Several cases at their own concurrency, taking turns slice by slice: in each of `rounds` rounds
 * every case runs `opsPerRound` operations (each round starts with the next case), so a slow
 * stretch of the machine falls on all of them alike. A case's seconds are the sum of its slices'
 * wall times; `cpuMsPerOp` is this process's CPU over its slices, per operation.
 */
export async function measureInSlices(
  rounds: number,
  opsPerRound: number,
  cases: SliceCase[],
  options: { serverCpuMs?: () => number } = {},
): Promise<Result[]> {
  const latencies = cases.map((): number[] => []);
  const errors = cases.map(() => 0);
  const seconds = cases.map(() => 0);
  const cpu = cases.map(() => 0);
  const serverCpu = cases.map(() => 0);
  const done = cases.map(() => 0);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      const j = (round + k) % cases.length;
      const c = cases[j]!;
      const first = done[j]!;
      let next = 0;
      const cpuBefore = process.cpuUsage();
      const serverBefore = options.serverCpuMs?.() ?? 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: c.concurrency }, async () => {
          while (next < opsPerRound) {
            const i = first + next++;
            const t = performance.now();
            try {
              await c.op(i);
              latencies[j]!.push(performance.now() - t);
            } catch (e) {
              // the first failure of a case is told, so a failed-ops count can be explained
              if (errors[j]!++ === 0) process.stderr.write(`${c.name}: op ${i} failed: ${e instanceof Error ? e.message : String(e)}\n`);
            }
          }
        }),
      );
      seconds[j]! += (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpuBefore);
      cpu[j]! += (used.user + used.system) / 1000;
      serverCpu[j]! += (options.serverCpuMs?.() ?? 0) - serverBefore;
      done[j] = first + opsPerRound;
    }
  }
  return cases.map((c, j) => ({
    ...summarize(c.name, latencies[j]!, seconds[j]!, errors[j]!, c.eventsPerOp),
    ...(c.server === undefined ? {} : { server: c.server }),
    cpuMsPerOp: cpu[j]! / Math.max(1, done[j]!),
    ...(options.serverCpuMs ? { serverCpuMsPerOp: serverCpu[j]! / Math.max(1, done[j]!) } : {}),
  }));
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

/** The rows as a Markdown table; a `server` column when any row names its server. */
export function printTable(title: string, rows: Result[]): void {
  const withServer = rows.some((r) => r.server !== undefined);
  const head = ['case', ...(withServer ? ['server'] : []), 'events ok', 'failed ops', 'events/s', 'p50 ms', 'p99 ms'];
  const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
  printMarkdownTable(
    title,
    head,
    rows.map((r) => [
      r.name,
      ...(withServer ? [r.server ?? '-'] : []),
      String(r.events),
      String(r.errors),
      fixed(r.eventsPerSec, 0),
      fixed(r.p50, 2),
      fixed(r.p99, 2),
    ]),
  );
}
