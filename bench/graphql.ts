/**
 * Issue 3's benchmark, on one immudb: createAuditEvent over HTTP at concurrency 1, 16 and 64
 * against the ledger's append directly; and the first timeline page of 50 for one correlation
 * among 100,000 stored events (1,000,000 with BENCH_SCALE=10).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateEventInput } from '../src/events/validate.ts';
import { openImmudbLedger } from '../src/ledger/immudb/index.ts';
import { createApp } from '../src/server/app.ts';
import { createLogger } from '../src/server/logger.ts';
import { sampleEventInput } from './fixtures.ts';
import { measure, printTable, type Result } from './harness.ts';

const input = (i: number, correlationId = `rr-bench-${i % 1000}`) =>
  sampleEventInput(i, { correlationId, timestamp: new Date(Date.UTC(2025, 0, 1) + i * 10).toISOString() });

const CREATE = `mutation ($input: AuditEventInput!) {
  createAuditEvent(input: $input) { created event { eventId ledger { txId } } proof { verified txId json } }
}`;
const TIMELINE = `query ($c: String!) {
  timeline(correlationId: $c, first: 50) { edges { cursor node { eventId eventType outcome timestamp actor { id } } } pageInfo { hasNextPage endCursor } }
}`;

/** Runs the HTTP load from a second process (bench/http-load.ts). */
async function load(options: { url: string; query: string; total: number; concurrency: number; kind: 'create' | 'timeline'; name: string }): Promise<Result> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/http-load.ts', JSON.stringify(options)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Result;
}

export async function benchGraphql(address: string, scale = 1): Promise<Result[]> {
  const tag = Date.now().toString(36);
  const ledger = await openImmudbLedger({ address, user: 'immudb', password: 'immudb', database: `gqlbench${tag}`, dataDir: mkdtempSync(join(tmpdir(), 'ag-bench-')) });
  const app = createApp({ ledger, config: { port: 0, host: '127.0.0.1' }, logger: createLogger({ level: 'error' }) });
  const { url } = await app.listen();
  const post = async (query: string, variables: Record<string, unknown>) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body;
  };
  const rows: Result[] = [];
  let n = 0;
  try {
    for (const c of [1, 16, 64]) {
      const total = (c === 1 ? 300 : 3000) * scale;
      rows.push(await load({ url, query: CREATE, total, concurrency: c, kind: 'create', name: `createAuditEvent over HTTP, concurrency ${c}` }));
    }
    rows.push(
      await measure(`ledger append directly, concurrency 64`, { total: 3000 * scale, concurrency: 64 }, () =>
        ledger.append([validateEventInput(input(n++))]),
      ),
    );
    printTable(`createAuditEvent on immudb 1.1.0 (each response carries its verified proof)`, rows);

    // Timeline: one correlation of 200 events among N stored events.
    const timelineRows: Result[] = [];
    // BENCH_TIMELINE_SIZES (e.g. `100000,1000000`) runs the 1M case without scaling everything else.
    const sizes = process.env.BENCH_TIMELINE_SIZES?.split(',').map(Number) ?? (scale >= 10 ? [100_000, 1_000_000] : [100_000]);
    let stored = n;
    for (const size of sizes) {
      const t0 = performance.now();
      const batch = 50; // typical ingestion: big batches are slower to read from immudb 1.1 (see README)
      const workers = Array.from({ length: 16 }, async () => {
        while (stored < size) {
          const from = stored;
          stored += batch;
          await ledger.append(
            Array.from({ length: batch }, (_, j) => validateEventInput(input(from + j, (from + j) % 500 === 0 ? 'rr-target' : `rr-${(from + j) % 9973}`))),
          );
        }
      });
      await Promise.all(workers);
      process.stderr.write(`filled ${stored} events in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      await post(TIMELINE, { c: 'rr-target' }); // warm
      timelineRows.push(await load({ url, query: TIMELINE, total: 300, concurrency: 1, kind: 'timeline', name: `timeline first 50, 1 correlation among ${stored} events` }));
    }
    printTable('timeline over HTTP (immudb prefix scan)', timelineRows);
    return [...rows, ...timelineRows];
  } finally {
    await app.close();
    await ledger.close();
  }
}
