/**
 * Issue 19: what prom-client and rate-limiter-flexible cost against the hand-written metrics and
 * rate limits they would replace, as CPU per request, in one run.
 *
 *   npx tsx bench/metrics-ratelimit.ts        (BENCH_ROUNDS, default 6; BENCH_SLICE requests, default 1000)
 *
 * Two parts, each taking turns round by round (every round starts with the next variant):
 *
 * 1. Through the real app on the embedded ledger: createAuditEvent (concurrency 16) and the
 *    timeline's first page of 50 (concurrency 8), load from a second process (bench/http-load.ts),
 *    so this process's CPU per request is the server's. One app per variant, all on one ledger:
 *    hand-written metrics and limiter, or prom-client and rate-limiter-flexible; the limiter in
 *    memory or in Redis (a private redis-server). Limits so high that nothing is refused: what is
 *    measured is the accounting every request pays.
 * 2. The per-request calls alone, in a loop, metrics and limiter apart: a write's (append timed,
 *    one event counted; cost and events taken) and a query's (timed; cost taken), the library's
 *    extra as a share of the request's CPU from part 1.
 *
 * The hand-written metrics and token buckets are read from git (HANDWRITTEN_AT and
 * LIMITER_HANDWRITTEN_AT, the last commits that had them); the library rows are src/ as it is.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter, type RateLimits } from '../src/auth/rate-limit.ts';
import { validateEventInput } from '../src/events/validate.ts';
import { openEmbeddedLedger } from '../src/ledger/embedded/index.ts';
import { createLogger } from '../src/logger.ts';
import { createApp, type App } from '../src/server/app.ts';
import { AppMetrics } from '../src/server/metrics.ts';
import { startRedis } from '../test/support/servers.ts';
import { CREATE, sampleEventInput, TIMELINE } from './fixtures.ts';
import { printMarkdownTable, type Result } from './harness.ts';

const HANDWRITTEN_AT = '152b76dd6aa351e0f09a12eafd9d27c400e86f08';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const SLICE = Number(process.env.BENCH_SLICE ?? 1000);
const MICRO_OPS = Number(process.env.BENCH_MICRO_OPS ?? 100_000);

/** Never refused at this benchmark's rates: the accounting is measured, not refusals. */
const LIMITS: RateLimits = { writes: { perSecond: 1e6, burst: 1e6 }, cost: { perSecond: 1e9, burst: 1e9 } };

type Metrics = Pick<AppMetrics, 'writeSeconds' | 'querySeconds' | 'eventsWritten' | 'render'>;

/** The hand-written AppMetrics, from git: its own imports are types only, so it runs from a temp file. */
async function handwrittenMetrics(): Promise<new () => AppMetrics> {
  const dir = mkdtempSync(join(tmpdir(), 'ag-bench-metrics-'));
  writeFileSync(join(dir, 'metrics.mts'), execFileSync('git', ['show', `${HANDWRITTEN_AT}:src/server/metrics.ts`], { encoding: 'utf8' }));
  const mod = (await import(join(dir, 'metrics.mts'))) as { AppMetrics: new () => unknown };
  rmSync(dir, { recursive: true, force: true });
  // Same fields and methods as the app uses them (inc, observe, time, attach, render).
  return mod.AppMetrics as new () => AppMetrics;
}

/**
 * The hand-written token buckets, from git (the last commit that had them), with their two
 * imports pointed at this tree's files; src/auth/rate-limit.ts is now rate-limiter-flexible.
 */
const LIMITER_HANDWRITTEN_AT = 'dca57ad';
async function handwrittenLimiters(): Promise<{
  Memory: new (limits: RateLimits) => RateLimiter;
  Redis: new (url: string, limits: RateLimits, o: { prefix: string }) => RateLimiter;
}> {
  const src = new URL('../src/', import.meta.url).href;
  const code = execFileSync('git', ['show', `${LIMITER_HANDWRITTEN_AT}:src/auth/rate-limit.ts`], { encoding: 'utf8' })
    .replace("'../errors.ts'", `'${src}errors.ts'`)
    .replace("'../redis/fail-fast.ts'", `'${src}redis/fail-fast.ts'`);
  // Inside the tree (.cache/, git-ignored), so that its `ioredis` resolves to node_modules.
  const cache = new URL('../.cache/', import.meta.url).pathname;
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'bench-limiter-'));
  writeFileSync(join(dir, 'rate-limit.mts'), code);
  const mod = (await import(join(dir, 'rate-limit.mts'))) as { MemoryRateLimiter: unknown; RedisRateLimiter: unknown };
  rmSync(dir, { recursive: true, force: true });
  return { Memory: mod.MemoryRateLimiter as never, Redis: mod.RedisRateLimiter as never };
}

interface Variant {
  name: string;
  metrics: () => Metrics;
  limiter: () => RateLimiter;
}

const cpuMs = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
type Kind = 'create' | 'timeline';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function httpSlice(url: string, kind: Kind, first: number): Promise<{ cpuMs: number; result: Result }> {
  const concurrency = kind === 'create' ? 16 : 8;
  const args = JSON.stringify({ url, query: kind === 'create' ? CREATE : TIMELINE, total: SLICE, concurrency, kind, name: kind, first });
  const before = process.cpuUsage();
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/http-load.ts', args], { maxBuffer: 1 << 24 });
  const used = cpuMs(before);
  return { cpuMs: used, result: JSON.parse(stdout.trim().split('\n').pop()!) as Result };
}

/** The metrics calls one request makes, as the app makes them (metrics.ts, app.ts). */
async function metricsCalls(m: Metrics, kind: Kind, i: number): Promise<void> {
  if (kind === 'create') {
    const results = await m.writeSeconds.time(async () => [
      { created: true, record: { eventCategory: 'workflow', outcome: i % 7 === 0 ? 'FAILURE' : 'SUCCESS' } },
    ]);
    for (const r of results) if (r.created) m.eventsWritten.inc({ category: r.record.eventCategory, outcome: r.record.outcome });
  } else {
    const start = performance.now();
    m.querySeconds.observe((performance.now() - start) / 1000);
  }
}

/** The limiter calls (server/rate-limit.ts): a write's cost and its events, a query's cost. */
async function limiterCalls(l: RateLimiter, kind: Kind): Promise<void> {
  await l.take('anonymous', 'cost', kind === 'create' ? 12 : 301);
  if (kind === 'create') await l.take('anonymous', 'writes', 1);
}

const HandMetrics = await handwrittenMetrics();
const HandLimiter = await handwrittenLimiters();
const redisServer = await startRedis();
const redisUrl = `redis://127.0.0.1:${redisServer.port}`;
const dataDir = mkdtempSync(join(tmpdir(), 'ag-bench-mrl-'));
const variants: Variant[] = [
  { name: 'hand-written, limiter in memory', metrics: () => new HandMetrics(), limiter: () => new HandLimiter.Memory(LIMITS) },
  { name: 'libraries, limiter in memory', metrics: () => new AppMetrics(), limiter: () => new MemoryRateLimiter(LIMITS) },
  {
    name: 'hand-written, limiter in Redis',
    metrics: () => new HandMetrics(),
    limiter: () => new HandLimiter.Redis(redisUrl, LIMITS, { prefix: 'bench:hand' }),
  },
  { name: 'libraries, limiter in Redis', metrics: () => new AppMetrics(), limiter: () => new RedisRateLimiter(redisUrl, LIMITS, { prefix: 'bench:flex' }) },
];

const ledger = await openEmbeddedLedger({ dataDir, logger: { warn: () => {} } });
const apps: { app: App; url: string; limiter: RateLimiter }[] = [];
try {
  console.log(`# metrics and rate limits: hand-written vs prom-client + rate-limiter-flexible — ${new Date().toISOString()}`);
  console.log(`node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'}), load average ${load()}`);
  const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', 'src'], { encoding: 'utf8' }).trim() !== '';
  console.log(
    `work tree at ${head}${dirty ? ' (src modified)' : ''}; hand-written metrics from ${HANDWRITTEN_AT.slice(0, 7)}; prom-client and rate-limiter-flexible as in package.json`,
  );
  console.log(`rounds ${ROUNDS}, ${SLICE} requests per slice, embedded ledger in ${dataDir}, redis-server on ${redisUrl}`);

  // The timeline's page: 500 events in one correlation, written directly.
  for (let i = 0; i < 500; i += 100) {
    await ledger.append(Array.from({ length: 100 }, (_, j) => validateEventInput(sampleEventInput(i + j, { correlationId: 'rr-target' }))));
  }
  for (const v of variants) {
    const limiter = v.limiter();
    const app = createApp({
      ledger,
      metrics: v.metrics() as AppMetrics,
      rateLimiter: limiter,
      config: { port: 0, host: '127.0.0.1' },
      logger: createLogger({ level: 'error' }),
    });
    apps.push({ app, url: (await app.listen()).url, limiter });
  }

  // Part 1: through the app.
  const requestCpuMs: Partial<Record<Kind, number>> = {};
  for (const kind of ['create', 'timeline'] as const) {
    await httpSlice(apps[0]!.url, kind, 1_000_000); // warm-up, not counted
    const perRound = variants.map((): number[] => []);
    const results = variants.map((): Result[] => []);
    let first = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < variants.length; k++) {
        const j = (round + k) % variants.length;
        const { cpuMs: used, result } = await httpSlice(apps[j]!.url, kind, first);
        first += SLICE;
        perRound[j]!.push(used / SLICE);
        results[j]!.push(result);
        if (result.errors > 0) console.error(`${variants[j]!.name}, ${kind}: ${result.errors} failed requests`);
      }
    }
    const rows = variants.map((v, j) => {
      const xs = perRound[j]!;
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const rs = results[j]!;
      return { v, mean, med: median(xs), xs, rate: rs.reduce((a, r) => a + r.eventsPerSec, 0) / rs.length, p50: median(rs.map((r) => r.p50)) };
    });
    requestCpuMs[kind] = rows[0]!.mean;
    printMarkdownTable(
      `\n## ${kind === 'create' ? 'createAuditEvent (concurrency 16)' : 'timeline first 50 (concurrency 8)'}: server CPU per request`,
      ['variant', 'mean ms', 'median ms', 'vs hand-written, same store', 'per round ms', 'req/s', 'p50 ms'],
      rows.map((r, j) => {
        const base = rows[j - (j % 2)]!; // the hand-written row of the same store
        return [
          r.v.name,
          r.mean.toFixed(3),
          r.med.toFixed(3),
          j % 2 === 0 ? '-' : `${(((r.mean - base.mean) / base.mean) * 100).toFixed(1)} %`,
          r.xs.map((x) => x.toFixed(3)).join(' '),
          r.rate.toFixed(0),
          r.p50.toFixed(2),
        ];
      }),
    );
  }

  // Part 2: the per-request calls alone, metrics and limiter apart (fresh objects, so the apps' counts stay apart).
  const [handMem, flexMem, handRedis, flexRedisLimiter] = variants.map((v) => v.limiter());
  const micro: { name: string; ops: number; call: (kind: Kind, i: number) => Promise<void> }[] = [
    {
      name: 'metrics, hand-written',
      ops: MICRO_OPS,
      call: (
        (m) => (kind, i) =>
          metricsCalls(m, kind, i)
      )(new HandMetrics()),
    },
    {
      name: 'metrics, prom-client',
      ops: MICRO_OPS,
      call: (
        (m) => (kind, i) =>
          metricsCalls(m, kind, i)
      )(new AppMetrics()),
    },
    { name: 'limiter in memory, hand-written', ops: MICRO_OPS, call: (kind) => limiterCalls(handMem!, kind) },
    { name: 'limiter in memory, rate-limiter-flexible', ops: MICRO_OPS, call: (kind) => limiterCalls(flexMem!, kind) },
    // A Redis call is a round trip: fewer of them.
    { name: 'limiter in Redis, hand-written', ops: MICRO_OPS / 20, call: (kind) => limiterCalls(handRedis!, kind) },
    { name: 'limiter in Redis, rate-limiter-flexible', ops: MICRO_OPS / 20, call: (kind) => limiterCalls(flexRedisLimiter!, kind) },
  ];
  for (const kind of ['create', 'timeline'] as const) {
    for (const c of micro) for (let i = 0; i < c.ops / 10; i++) await c.call(kind, i); // warm-up (and connect), not counted
    const perRound = micro.map((): number[] => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < micro.length; k++) {
        const j = (round + k) % micro.length;
        const c = micro[j]!;
        const before = process.cpuUsage();
        for (let i = 0; i < c.ops; i++) await c.call(kind, i);
        perRound[j]!.push((cpuMs(before) * 1000) / c.ops);
      }
    }
    const means = perRound.map((xs) => xs.reduce((a, b) => a + b, 0) / xs.length);
    const request = requestCpuMs[kind]!;
    printMarkdownTable(
      `\n## the per-request calls alone, ${kind === 'create' ? 'a write' : 'a query'}: CPU per request (library minus hand-written, as a share of the ${request.toFixed(3)} ms a request took in part 1, hand-written, memory)`,
      ['calls', 'mean µs', 'library minus hand-written', 'per round µs'],
      micro.map((c, j) => [
        c.name,
        means[j]!.toFixed(2),
        j % 2 === 0 ? '-' : `${(means[j]! - means[j - 1]!).toFixed(2)} µs = ${(((means[j]! - means[j - 1]!) / 1000 / request) * 100).toFixed(2)} %`,
        perRound[j]!.map((n) => n.toFixed(2)).join(' '),
      ]),
    );
  }
  for (const l of [handMem, flexMem, handRedis, flexRedisLimiter]) await l!.close();
  console.log(`\nload average after: ${load()} (${new Date().toISOString()})`);
} finally {
  for (const a of apps) {
    await a.app.close();
    await a.limiter.close();
  }
  await ledger.close();
  await redisServer.destroy();
  rmSync(dataDir, { recursive: true, force: true });
}
