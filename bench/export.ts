/**
 * Issue 22's benchmark: evidence exports of N stored events (BENCH_EXPORT_EVENTS, default 100,000
 * × BENCH_SCALE; 1,000,000 at BENCH_SCALE ≥ 10) from the gateway as a process (src/main.ts over
 * the primary immudb and a Redis index), beside raw immudb calls over the same entries in the same
 * run.
 *
 * The events: one correlation, written through the ledger in txs of BENCH_EXPORT_BATCH events
 * (default 100; two appends at a time), timestamps in write order, a few event types and outcomes.
 *
 * - raw floors: the Scan of the correlation's timeline keys (what the correlation export reads),
 *   GetAll of the `ev/` references in timeline order, 500 a call (what the filter export reads),
 *   and VerifiableTxById of every tx to the newest, 8 in flight (the proofs either needs).
 * - `GET /export?correlationId=` and `GET /export?filter=` (all N events through the index) read
 *   to /dev/null: events/s, and the gateway's RSS before and at its peak (sampled every 100 ms).
 * - `auditgraph verify-export` (the command, as a process) on each file: events/s and its peak RSS.
 *
 * BENCH_EXPORT_DATABASE names the database (with IMMUDB_ADDRESS): filled when empty, reused as it is
 * otherwise.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateEventInput } from '../src/events/validate.ts';
import { ImmudbSession } from '../src/ledger/immudb/grpc.ts';
import { decodeEntries } from '../src/ledger/immudb/wire-decode.ts';
import { encodeKeyListRequest, encodeScanRequest, encodeVerifiableTxRequest } from '../src/ledger/immudb/wire-encode.ts';
import { eventIdKey, timelinePrefix } from '../src/ledger/keys.ts';
import { spawnMain, stopMain, waitHealthy } from '../test/support/main-process.ts';
import { freePort, startRedis } from '../test/support/servers.ts';
import { printMarkdownTable } from './harness.ts';
import { openGatewayLedger, serverLabel, type BenchTarget } from './immudb.ts';

const MiB = 2 ** 20;
const CORRELATION = 'bench-export';

/** Resident set size (bytes) of a process, 0 once it is gone. */
function rss(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every 100 ms until stopped: its value at the start and its peak. */
function watchRss(pid: number) {
  const start = rss(pid);
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, rss(pid));
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, rss(pid));
      return { start, peak };
    },
  };
}

interface Row {
  name: string;
  server: string;
  events: number;
  seconds: number;
  rss?: { start: number; peak: number };
  note?: string;
}

export async function benchExport(target: BenchTarget, scale: number): Promise<void> {
  const total = Number(process.env.BENCH_EXPORT_EVENTS ?? (scale >= 10 ? 1_000_000 : 100_000 * scale));
  const batch = Number(process.env.BENCH_EXPORT_BATCH ?? 100);
  const database = process.env.BENCH_EXPORT_DATABASE ?? `benchexport${Date.now().toString(36)}`;
  const server = serverLabel(target);
  const rows: Row[] = [];
  const work = mkdtempSync(join(tmpdir(), 'ag-bench-export-'));

  const printRows = () => {
    const mib = (b: number) => (b / MiB).toFixed(0);
    printMarkdownTable(
      `Evidence export of ${total} events of one correlation (txs of ${batch} events), immudb ${target.version}`,
      ['case', 'server', 'events', 'seconds', 'events/s', 'RSS start → peak (growth) MiB', 'note'],
      rows.map((r) => [
        r.name,
        r.server,
        String(r.events),
        r.seconds.toFixed(1),
        (r.events / r.seconds).toFixed(0),
        r.rss ? `${mib(r.rss.start)} → ${mib(r.rss.peak)} (+${mib(r.rss.peak - r.rss.start)})` : '-',
        r.note ?? '',
      ]),
    );
  };

  // --- fill -------------------------------------------------------------------------------------
  const ledger = await openGatewayLedger(target, database);
  // A database an earlier run filled (BENCH_EXPORT_DATABASE) is used as it is.
  if ((await ledger.scanTimeline(CORRELATION, { limit: 1, direction: 'asc' })).events.length > 0) await ledger.close();
  else {
    const started = performance.now();
    const base = Date.UTC(2025, 0, 1);
    let n = 0;
    const next = () => {
      const size = Math.min(batch, total - n);
      const events = Array.from({ length: size }, () => {
        n++;
        return validateEventInput({
          eventType: `svc.step${n % 7}.done`,
          eventCategory: 'svc',
          eventAction: 'done',
          outcome: n % 10 === 0 ? 'FAILURE' : 'SUCCESS',
          correlationId: CORRELATION,
          actorType: 'service',
          actorId: `worker-${n % 16}`,
          resourceType: 'pod',
          resourceId: `pod-${n % 500}`,
          resourceNamespace: 'prod',
          timestamp: new Date(base + n * 50).toISOString(),
          data: { step: n, detail: 'remediation step completed' },
        });
      });
      return ledger.append(events);
    };
    await Promise.all(
      Array.from({ length: 2 }, async () => {
        while (n < total) await next();
      }),
    );
    await ledger.close();
    console.log(`\nexport bench: wrote ${total} events in txs of ${batch} to ${database} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }

  // --- raw floors -------------------------------------------------------------------------------
  const session = new ImmudbSession({ address: target.address, user: 'immudb', password: 'immudb', database, callTimeoutMs: 120_000 });
  await session.connect();
  const ids: string[] = [];
  const txs = new Set<number>();
  {
    const started = performance.now();
    let seek: Buffer | undefined;
    for (;;) {
      const entries = decodeEntries(
        await session.callBytes('Scan', encodeScanRequest(timelinePrefix(CORRELATION), { ...(seek ? { seekKey: seek } : {}), limit: 999, sinceTx: 0 })),
      );
      for (const e of entries) {
        ids.push(Buffer.from(e.key).toString('latin1').slice(-36));
        txs.add(e.tx);
      }
      if (entries.length < 999) break;
      seek = Buffer.from(entries[entries.length - 1]!.key);
    }
    rows.push({ name: 'raw Scan of the timeline (999 a call)', server, events: ids.length, seconds: (performance.now() - started) / 1000 });
  }
  {
    const started = performance.now();
    for (let i = 0; i < ids.length; i += 500) {
      const keys = ids.slice(i, i + 500).map((id) => eventIdKey(id));
      decodeEntries(await session.callBytes('GetAll', encodeKeyListRequest(keys, 0)));
    }
    rows.push({ name: 'raw GetAll of ev/ references (500 a call)', server, events: ids.length, seconds: (performance.now() - started) / 1000 });
  }
  {
    const list = [...txs].sort((a, b) => a - b);
    const newest = list[list.length - 1]!;
    const started = performance.now();
    let i = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (i < list.length) await session.callBytes('VerifiableTxById', encodeVerifiableTxRequest(list[i++]!, newest));
      }),
    );
    rows.push({
      name: `raw VerifiableTxById of each tx to the newest (${list.length} txs, 8 in flight)`,
      server,
      events: ids.length,
      seconds: (performance.now() - started) / 1000,
    });
  }
  session.close();

  // --- the gateway ------------------------------------------------------------------------------
  const redis = process.env.REDIS_URL ? null : await startRedis();
  const redisUrl = process.env.REDIS_URL ?? `redis://${redis!.address}`;
  const port = await freePort();
  const main = spawnMain({
    PORT: String(port),
    DATA_DIR: join(work, 'gateway'),
    IMMUDB_ADDRESS: target.address,
    IMMUDB_DATABASE: database,
    REDIS_URL: redisUrl,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_COST_PER_SEC: '0',
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(main, url, 120_000);
    // The index is built from the ledger at start: exports through it wait for that.
    for (;;) {
      if (main.proc.exitCode !== null || main.proc.signalCode !== null) throw new Error(`the gateway exited (${main.proc.exitCode ?? main.proc.signalCode})`);
      const body = (await fetch(`${url}/readyz`).then(
        (r) => r.json(),
        () => null,
      )) as { checks: { index?: { ok: boolean; lag?: { txs: number } | null } } } | null;
      if (body?.checks.index?.ok && body.checks.index.lag?.txs === 0) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const pid = main.proc.pid!;
    const cases = [
      { name: 'correlation', query: `correlationId=${CORRELATION}` },
      { name: 'filter (index)', query: `filter=${encodeURIComponent(JSON.stringify({ eventCategory: ['svc'], outcome: ['SUCCESS', 'FAILURE'] }))}` },
    ];
    for (const c of cases) {
      // To /dev/null: the response read and dropped, the closing line kept for its count.
      const watch = watchRss(pid);
      const started = performance.now();
      const res = await fetch(`${url}/export?${c.query}`);
      if (res.status !== 200) throw new Error(`export ${c.name}: status ${res.status}: ${await res.text()}`);
      let tail = '';
      let bytes = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        tail = (tail + Buffer.from(chunk).toString('latin1')).slice(-4096);
      }
      const seconds = (performance.now() - started) / 1000;
      const closing = JSON.parse(tail.slice(tail.lastIndexOf('\n', tail.length - 2) + 1)) as { events: number; txs: number };
      rows.push({
        name: `GET /export ${c.name} → /dev/null`,
        server,
        events: closing.events,
        seconds,
        rss: watch.stop(),
        note: `${(bytes / closing.events).toFixed(0)} bytes/event, ${closing.txs} tx lines`,
      });

      // Into a file, then through the command.
      const file = join(work, `${c.name.split(' ')[0]}.ndjson`);
      const fileRes = await fetch(`${url}/export?${c.query}`);
      const out = createWriteStream(file);
      for await (const chunk of fileRes.body as unknown as AsyncIterable<Uint8Array>) if (!out.write(chunk)) await once(out, 'drain');
      out.end();
      await once(out, 'close');
      const verifyStarted = performance.now();
      const cli = spawn(process.execPath, ['bin/auditgraph.mjs', 'verify-export', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      const cliWatch = watchRss(cli.pid!);
      let stdout = '';
      cli.stdout.on('data', (d) => (stdout += d));
      const [code] = (await once(cli, 'close')) as [number];
      const verifySeconds = (performance.now() - verifyStarted) / 1000;
      const m = /^valid: (\d+) events/.exec(stdout);
      if (code !== 0 || !m) throw new Error(`verify-export ${c.name}: exit ${code}: ${stdout}`);
      rows.push({
        name: `auditgraph verify-export (${c.name})`,
        server: '-',
        events: Number(m[1]),
        seconds: verifySeconds,
        rss: cliWatch.stop(),
        note: 'the command as a process, start-up included',
      });
      rmSync(file, { force: true });
    }
  } catch (e) {
    printRows();
    console.error(`export bench failed; the gateway's last output:\n${main.output.join('').slice(-4000)}`);
    throw e;
  } finally {
    stopMain(main);
    await main.closed;
    await redis?.destroy();
    rmSync(work, { recursive: true, force: true });
  }

  printRows();
}
