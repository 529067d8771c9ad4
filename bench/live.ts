/**
 * Issue 5's benchmark: live subscriptions on one gateway (immudb 1.11.1 by default + a private Redis for the
 * pub/sub signal). Separate processes, so that the gateway's CPU and memory are its own:
 *   - this one: the gateway under test (createApp + its live feed), serving subscriptions only;
 *   - bench/live-writer.ts: another instance's write path, 200 events/s, one append per event;
 *     this gateway learns of each commit through Redis pub/sub, as in a multi-instance deployment;
 *   - bench/live-subscribers.ts × BENCH_LIVE_CLIENT_PROCS (default 4): the subscribers over
 *     graphql-ws, one connection each, with a mix of filters (bench/live-filters.ts). One process
 *     would saturate its own event loop (and so the latency it measures) long before the gateway.
 *
 * - 1,000 subscribers for 30 s (× BENCH_SCALE), after a writer-only baseline
 * - then more subscribers in steps (1,500, 2,000, 3,000, 4,000, 6,000, 8,000, 12,000, 16,000; 10 s
 *   windows × BENCH_SCALE) until p99 > 1 s or deliveries go missing, and one step halfway back;
 *   the largest count with p99 ≤ 1 s is reported (BENCH_LIVE_MAX_SUBSCRIBERS caps the steps)
 * - each row also says where the machine's CPU went: the gateway, the subscriber processes, the
 *   writer, immudb, Redis, and everything else on the machine (other work sharing it)
 *
 * Latency: commit (the writer's append resolved) → the subscriber process parsed the message. A
 * delivery can come before the writer's append resolves (the append still fetches and checks its
 * proof after immudb committed): those count as 0 ms.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeFilter } from '../src/events/filter.ts';
import { openImmudbLedger } from '../src/ledger/immudb/index.ts';
import { openLive } from '../src/live/index.ts';
import { createApp } from '../src/server/app.ts';
import { createLogger } from '../src/logger.ts';
import { startRedis } from '../test/support/servers.ts';

export interface LiveRow {
  subscribers: number;
  seconds: number;
  writesPerSec: number;
  deliveriesPerSec: number;
  delivered: number;
  expected: number;
  p50: number;
  p99: number;
  max: number;
  /** This process: the gateway serving the subscriptions (the writer is another process). */
  gatewayCpuPct: number;
  /** Of which in the kernel (system time: mostly the sockets' writes). */
  gatewaySysPct: number;
  /** The gateway's CPU time per delivery (all of it, the feed's reads and fixed costs included). */
  gatewayUsPerDelivery: number;
  gatewayRssMb: number;
  /** The subscriber processes together. */
  clientCpuPct: number;
  writerCpuPct: number;
  immudbCpuPct: number;
  redisCpuPct: number;
  /** The machine minus all of the above: other work on the machine. */
  otherCpuPct: number;
  /** Commit → the gateway's feed has the event (before GraphQL and the socket), p99. */
  feedP99: number;
  /** The feed's ledger reads (immudb txScan + getAll), p99. */
  readP99: number;
  /** The feed's ledger reads per second (each covers every tx committed since the previous one). */
  readsPerSec: number;
  /** The whole machine (immudb, Redis, writer, subscribers, gateway), out of cores × 100. */
  machineCpuPct: number;
}

/** Busy and total jiffies of the machine (Linux /proc/stat). */
function machineTicks(): { busy: number; total: number } {
  try {
    const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy: total - v[3]! - (v[4] ?? 0), total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** CPU time (ms) of a process, from /proc/<pid>/stat; NaN when unknown. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
export function processCpuMs(pid: number | null): number {
  if (pid === null) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // utime, stime
  } catch {
    return Number.NaN;
  }
}

/** The process listening on 127.0.0.1:`port` (Linux /proc), or null. */
export function pidListening(port: number): number | null {
  try {
    const hex = port.toString(16).toUpperCase().padStart(4, '0');
    const inodes = new Set<string>();
    for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
      for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f[1]?.endsWith(`:${hex}`) && f[3] === '0A') inodes.add(f[9]!);
      }
    }
    for (const pid of readdirSync('/proc')) {
      if (!/^[0-9]+$/.test(pid)) continue;
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        try {
          const m = /^socket:\[([0-9]+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
          if (m && inodes.has(m[1]!)) return Number(pid);
        } catch {
          // gone meanwhile
        }
      }
    }
  } catch {
    // not Linux
  }
  return null;
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Child {
  proc: ChildProcess;
  /** `fn` gets the child's messages of `type`, as the child sends them (M is the caller's word for their shape). */
  on<M>(type: string, fn: (m: M) => void): void;
  request<T>(message: Record<string, unknown>, reply: string): Promise<T>;
}

function startChild(script: string, args: string[] = []): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<string, (m: unknown) => void>();
  const failing = new Set<(e: Error) => void>();
  const listeners = new Map<string, (m: unknown) => void>();
  // A child that dies fails whatever waits for it, instead of hanging the bench.
  proc.once('exit', (code) => {
    for (const fail of failing) fail(new Error(`${script} exited with ${code}`));
  });
  proc.on('message', (m: { type: string }) => {
    listeners.get(m.type)?.(m);
    const w = waiting.get(m.type);
    waiting.delete(m.type);
    w?.(m);
  });
  const child: Child = {
    proc,
    on: (type, fn) => void listeners.set(type, fn as (m: unknown) => void),
    request: <T>(message: Record<string, unknown>, reply: string) =>
      new Promise<T>((resolve, reject) => {
        failing.add(reject);
        waiting.set(reply, (m) => {
          failing.delete(reject);
          resolve(m as T);
        });
        proc.send(message);
      }),
  };
  return new Promise((resolve, reject) => {
    waiting.set('ready', () => resolve(child));
    proc.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

async function stopChild(child: Child): Promise<void> {
  child.proc.send({ type: 'exit' });
  await Promise.race([new Promise((r) => child.proc.once('exit', r)), sleep(5_000)]);
  child.proc.kill();
}

interface ClientReport {
  delivered: number;
  expected: number;
  errors: number;
  completions: number;
  p50: number | null;
  p99: number | null;
  max: number;
  cpuMs: number;
  hist?: [number, number][];
}

/** The subscriber processes, driven as one. */
interface Clients {
  procs: Child[];
  send(m: Record<string, unknown>): void;
  open(url: string, total: number): Promise<number>;
  reset(): Promise<void>;
  /** Sums (max of max); with `hist`, p50/p99 over the merged histograms. */
  report(hist?: boolean): Promise<ClientReport>;
  stop(): Promise<void>;
}

async function startClients(parts: number): Promise<Clients> {
  const procs = await Promise.all(Array.from({ length: parts }, (_, i) => startChild('bench/live-subscribers.ts', [String(i), String(parts)])));
  return {
    procs,
    send: (m) => {
      for (const c of procs) c.proc.send(m);
    },
    async open(url, total) {
      const rs = await Promise.all(procs.map((c) => c.request<{ connectFailures: number }>({ type: 'open', url, total }, 'opened')));
      return rs.reduce((a, r) => a + r.connectFailures, 0);
    },
    async reset() {
      await Promise.all(procs.map((c) => c.request({ type: 'reset' }, 'reset')));
    },
    async report(hist = false) {
      const rs = await Promise.all(procs.map((c) => c.request<ClientReport>({ type: 'report', hist }, 'report')));
      const sum = (k: 'delivered' | 'expected' | 'errors' | 'completions' | 'cpuMs') => rs.reduce((a, r) => a + r[k], 0);
      const out: ClientReport = {
        delivered: sum('delivered'),
        expected: sum('expected'),
        errors: sum('errors'),
        completions: sum('completions'),
        cpuMs: sum('cpuMs'),
        max: Math.max(0, ...rs.map((r) => r.max)),
        p50: rs.length === 1 ? rs[0]!.p50 : null,
        p99: rs.length === 1 ? rs[0]!.p99 : null,
      };
      if (hist) {
        const merged = new Map<number, number>();
        for (const r of rs) for (const [b, n] of r.hist ?? []) merged.set(b, (merged.get(b) ?? 0) + n);
        const buckets = [...merged].sort((a, b) => a[0] - b[0]);
        const total = buckets.reduce((a, [, n]) => a + n, 0);
        const at = (p: number) => {
          if (total === 0) return null;
          let seen = 0;
          for (const [b, n] of buckets) {
            seen += n;
            if (seen >= Math.ceil(total * p)) return (b + 1) * 0.1; // 0.1 ms buckets
          }
          return null;
        };
        out.p50 = at(0.5);
        out.p99 = at(0.99);
      }
      return out;
    },
    async stop() {
      await Promise.all(procs.map(stopChild));
    },
  };
}

function printLiveTable(title: string, rows: LiveRow[]): void {
  const head = [
    'subscribers',
    's',
    'writes/s',
    'deliveries/s',
    'delivered/expected',
    'p50 ms',
    'p99 ms',
    'max ms',
    'feed p99 ms',
    'ledger read p99 ms',
    'reads/s',
    'gateway CPU %',
    'of which sys %',
    'gateway µs/delivery',
    'gateway RSS MB',
    'subscribers CPU %',
    'writer CPU %',
    'immudb CPU %',
    'Redis CPU %',
    'other CPU %',
    `machine CPU % (of ${cpus().length * 100})`,
  ];
  const pct = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(0));
  const body = rows.map((r) => [
    String(r.subscribers),
    r.seconds.toFixed(0),
    r.writesPerSec.toFixed(0),
    r.deliveriesPerSec.toFixed(0),
    `${r.delivered}/${r.expected}`,
    Number.isNaN(r.p50) ? '-' : r.p50.toFixed(1),
    Number.isNaN(r.p99) ? '-' : r.p99.toFixed(1),
    r.max === 0 ? '-' : r.max.toFixed(1),
    Number.isNaN(r.feedP99) ? '-' : r.feedP99.toFixed(1),
    Number.isNaN(r.readP99) ? '-' : r.readP99.toFixed(1),
    r.readsPerSec.toFixed(0),
    pct(r.gatewayCpuPct),
    pct(r.gatewaySysPct),
    r.delivered > 0 ? r.gatewayUsPerDelivery.toFixed(1) : '-',
    r.gatewayRssMb.toFixed(0),
    pct(r.clientCpuPct),
    pct(r.writerCpuPct),
    pct(r.immudbCpuPct),
    pct(r.redisCpuPct),
    pct(r.otherCpuPct),
    pct(r.machineCpuPct),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(`|${widths.map((w) => `${'-'.repeat(w + 1)}:`).join('|')}|`);
  for (const b of body) console.log(line(b));
}

export async function benchLive(address: string, scale = 1, version = '1.11.1'): Promise<LiveRow[]> {
  const rate = Number(process.env.BENCH_LIVE_RATE ?? 200);
  const mainSeconds = Math.max(5, 30 * scale);
  const stepSeconds = Math.max(5, 10 * scale);
  const maxSubscribers = Number(process.env.BENCH_LIVE_MAX_SUBSCRIBERS ?? 16_000);
  const clientProcs = Math.max(1, Number(process.env.BENCH_LIVE_CLIENT_PROCS ?? 4));

  const redis = await startRedis();
  const redisUrl = `redis://${redis.address}`;
  const database = `livebench${Date.now().toString(36)}`;
  const ledger = await openImmudbLedger({ address, user: 'immudb', password: 'immudb', database, dataDir: mkdtempSync(join(tmpdir(), 'ag-bench-')) });
  // The feed's ledger reads, timed: tells immudb's share of the latency from the gateway's.
  let readMs: number[] = [];
  const timed = new Proxy(ledger, {
    get(target, prop) {
      if (prop === 'readTransactions') {
        return async (after: string, max: number) => {
          const t = performance.now();
          try {
            return await target.readTransactions(after, max);
          } finally {
            readMs.push(performance.now() - t);
          }
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  // BENCH_LIVE_READ_INTERVAL_MS: the feed's read spacing (src/live/feed.ts `readIntervalMs`), for comparisons.
  const readIntervalMs = process.env.BENCH_LIVE_READ_INTERVAL_MS;
  const live = await openLive({ ledger: timed, redisUrl, ...(readIntervalMs ? { feed: { readIntervalMs: Number(readIntervalMs) } } : {}) });
  live.feed.start();
  const app = createApp({ ledger, live: live.feed, config: { port: 0, host: '127.0.0.1' }, logger: createLogger({ level: 'error' }) });
  const { url } = await app.listen();
  let clients = await startClients(clientProcs);
  let clientTotal = 0;
  const writer = await startChild('bench/live-writer.ts', [address, database, redisUrl]);
  const immudbPid = pidListening(Number(address.split(':').at(-1)));
  const redisPid = pidListening(redis.port);
  // Commit times go from the writer to the subscribers (latency is measured there), and to a probe
  // here: an unfiltered subscription pulled in process, to tell the feed's part of the latency.
  const commits = new Map<string, number>();
  const seenByFeed = new Map<string, number>();
  let feedLatencies: number[] = [];
  const note = (id: string) => {
    const c = commits.get(id);
    const f = seenByFeed.get(id);
    if (c === undefined || f === undefined) return;
    feedLatencies.push(Math.max(0, f - c));
    commits.delete(id);
    seenByFeed.delete(id);
  };
  writer.on('commit', (m: { e: [string, number][] }) => {
    clients.send(m);
    for (const [id, at] of m.e) {
      commits.set(id, at);
      note(id);
    }
  });
  const probe = live.feed.subscribe(normalizeFilter({}));
  void (async () => {
    for (;;) {
      const r = await probe.next();
      if (r.done) return;
      if (r.value.kind !== 'event') continue;
      seenByFeed.set(r.value.event.record.eventId, now());
      note(r.value.event.record.eventId);
    }
  })();
  const writeFor = (seconds: number) => writer.request<{ perSec: number; cpuMs: number }>({ type: 'write', seconds, rate }, 'written');

  /** Waits (at most a minute) for the feed to count `n` subscriptions besides the probe. */
  const settle = async (n: number, cmp: 'atLeast' | 'atMost') => {
    const deadline = Date.now() + 60_000;
    const ok = () => (cmp === 'atLeast' ? live.feed.stats.subscribers - 1 >= n : live.feed.stats.subscribers - 1 <= n);
    while (!ok() && Date.now() < deadline) await sleep(20);
    if (!ok()) process.stderr.write(`live: expected ${cmp === 'atLeast' ? '≥' : '≤'} ${n} subscriptions, the feed has ${live.feed.stats.subscribers - 1}\n`);
  };

  const window = async (wanted: number, seconds: number): Promise<LiveRow> => {
    if (wanted > 0) {
      const failures = await clients.open(url.replace(/^http/, 'ws'), wanted);
      if (failures > 0) process.stderr.write(`live: ${failures} subscriber connections failed\n`);
      clientTotal = wanted;
      await settle(wanted, 'atLeast');
    }
    const subscribers = live.feed.stats.subscribers - 1; // what is measured, the probe aside
    await clients.reset();
    const cpu0 = process.cpuUsage();
    const machine0 = machineTicks();
    const immudb0 = processCpuMs(immudbPid);
    const redis0 = processCpuMs(redisPid);
    feedLatencies = [];
    readMs = [];
    const client0 = await clients.report();
    const t0 = performance.now();
    let rss = process.memoryUsage().rss;
    const sampler = setInterval(() => (rss = Math.max(rss, process.memoryUsage().rss)), 500);
    const written = await writeFor(seconds);
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const machine1 = machineTicks();
    const immudbMs = processCpuMs(immudbPid) - immudb0;
    const redisMs = processCpuMs(redisPid) - redis0;
    const client1 = await clients.report();
    // Deliveries still in flight: wait until all are in, or none has come for 3 s (max 60 s).
    let r = await clients.report();
    for (let quiet = 0, waited = 0; r.delivered < r.expected && quiet < 3_000 && waited < 60_000; waited += 250) {
      await sleep(250);
      const next = await clients.report();
      quiet = next.delivered === r.delivered ? quiet + 250 : 0;
      r = next;
    }
    r = await clients.report(true);
    clearInterval(sampler);
    const ms = wall * 1000;
    const gatewayMs = (cpu.user + cpu.system) / 1000;
    const clientMs = client1.cpuMs - client0.cpuMs;
    const machinePct = ((machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total)) * cpus().length * 100;
    const ours = [gatewayMs, clientMs, written.cpuMs, immudbMs, redisMs].reduce((a, b) => a + (Number.isNaN(b) ? 0 : b), 0);
    return {
      subscribers,
      seconds: wall,
      writesPerSec: written.perSec,
      deliveriesPerSec: r.delivered / wall,
      delivered: r.delivered,
      expected: r.expected,
      // NaN (no delivery) crosses IPC as null.
      p50: r.p50 ?? Number.NaN,
      p99: r.p99 ?? Number.NaN,
      max: r.max,
      gatewayCpuPct: (gatewayMs / ms) * 100,
      gatewaySysPct: (cpu.system / 1000 / ms) * 100,
      gatewayUsPerDelivery: (gatewayMs * 1000) / Math.max(1, r.delivered),
      gatewayRssMb: rss / 2 ** 20,
      clientCpuPct: (clientMs / ms) * 100,
      writerCpuPct: (written.cpuMs / ms) * 100,
      immudbCpuPct: (immudbMs / ms) * 100,
      redisCpuPct: (redisMs / ms) * 100,
      otherCpuPct: Math.max(0, machinePct - (ours / ms) * 100),
      feedP99: feedLatencies.sort((x, y) => x - y)[Math.floor(feedLatencies.length * 0.99)] ?? Number.NaN,
      readP99: readMs.sort((x, y) => x - y)[Math.floor(readMs.length * 0.99)] ?? Number.NaN,
      readsPerSec: readMs.length / wall,
      machineCpuPct: machinePct,
    };
  };

  const rows: LiveRow[] = [];
  try {
    await writeFor(2); // warm-up: sessions, proofs, JIT
    rows.push(await window(0, Math.min(10, mainSeconds)));
    rows.push(await window(1_000, mainSeconds));
    printLiveTable(
      `live subscriptions: ${rate} events/s written for ${mainSeconds} s by another instance (immudb ${version}, Redis pub/sub; subscribers in ${clientProcs} processes of their own)`,
      rows,
    );

    // Up from 1,000 while p99 ≤ 1 s and nothing goes missing; down from it when 1,000 already fails.
    const steps: LiveRow[] = [];
    const holds = (r: LiveRow) => r.p99 <= 1_000 && r.delivered === r.expected;
    let held = holds(rows[1]!) ? 1_000 : 0;
    const ladder = held > 0 ? [1_500, 2_000, 3_000, 4_000, 6_000, 8_000, 12_000, 16_000].filter((n) => n <= maxSubscribers) : [750, 500, 250, 100];
    const step = async (n: number) => {
      // The subscriber processes only grow: going down starts fresh ones.
      if (n < clientTotal) {
        await clients.stop();
        clients = await startClients(clientProcs);
        clientTotal = 0;
        await settle(0, 'atMost');
      }
      const row = await window(n, stepSeconds);
      steps.push(row);
      process.stderr.write(`live: ${n} subscribers: p99 ${row.p99.toFixed(1)} ms, ${row.delivered}/${row.expected} delivered\n`);
      return holds(row);
    };
    let failed = 0;
    for (const n of ladder) {
      const ok = await step(n);
      if (held === 0 && ok) {
        held = n;
        break;
      }
      if (held > 0 && !ok) {
        failed = n;
        break;
      }
      if (held > 0) held = n;
    }
    // One step halfway between the last count held and the first that was not.
    const mid = Math.round((held + failed) / 2 / 250) * 250;
    if (held > 0 && failed > 0 && mid > held && mid < failed && (await step(mid))) held = mid;
    if (steps.length > 0) printLiveTable(`live subscriptions, stepping up (${stepSeconds} s windows)`, steps);
    console.log(
      `largest subscriber count held with p99 ≤ 1 s at ${rate} events/s: ${held > 0 ? held : 'below 100'}${held >= Math.min(16_000, maxSubscribers) ? ' (the last step)' : ''}`,
    );
    return [...rows, ...steps];
  } finally {
    await probe.return();
    await clients.stop();
    await stopChild(writer);
    await app.close();
    await live.close();
    await ledger.close();
    await redis.destroy();
  }
}
