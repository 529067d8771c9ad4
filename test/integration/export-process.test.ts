/**
 * GET /export from the gateway as a process (src/main.ts, embedded ledger, in-process index): a
 * reader that stops reading for 10 s mid-export does not make the gateway buffer the rest (its
 * resident memory, read from /proc, stays flat while the reader waits), and the export then
 * completes and verifies.
 */
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { validateEventInput } from '../../src/events/validate.ts';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import { exportedIds, verifyBytes } from '../support/export.ts';
import { sleep } from '../support/index-helpers.ts';
import { spawnMain, stopMain, waitHealthy, type MainProcess } from '../support/main-process.ts';
import { freePort } from '../support/servers.ts';
import { tempDir } from '../support/services.ts';

const EVENTS = 50_000;
const running: MainProcess[] = [];
afterEach(() => {
  for (const m of running.splice(0)) stopMain(m);
});

/** Resident set size of a process, in bytes (Linux). */
const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const MiB = 2 ** 20;

it('a reader pausing 10 s mid-export leaves the gateway’s memory flat; the export then completes and verifies', async () => {
  const dataDir = tempDir('auditgraph-export-rss-');
  // Written straight into the ledger; the gateway builds its index from it when it starts.
  const ledger = await openEmbeddedLedger({ dataDir });
  for (let n = 0; n < EVENTS; ) {
    const batch = Array.from({ length: 1000 }, () => {
      n++;
      return validateEventInput({
        eventType: 'gateway.signal.received',
        eventCategory: 'gateway',
        outcome: n % 7 === 0 ? 'FAILURE' : 'SUCCESS',
        correlationId: `rr-${n % 50}`,
        actorType: 'service',
        actorId: 'gateway',
        timestamp: new Date(Date.UTC(2025, 6, 1) + n * 10).toISOString(),
        data: { n, note: 'x'.repeat(800) },
      });
    });
    await ledger.append(batch);
  }
  await ledger.close();

  const port = await freePort();
  const main = spawnMain({ PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  running.push(main);
  const base = `http://127.0.0.1:${port}`;
  await waitHealthy(main, base);
  const pid = main.proc.pid!;

  // The whole ledger, through the index (retried while the index is still being built).
  const url = `${base}/export?filter=${encodeURIComponent('{"eventCategory":["gateway"]}')}`;
  const samples: number[] = [];
  const file = await new Promise<Buffer>((resolve, reject) => {
    const attempt = () =>
      get(url, (res) => {
        if (res.statusCode === 503) {
          res.resume();
          return void setTimeout(attempt, 500);
        }
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
        const parts: Buffer[] = [];
        let received = 0;
        let paused = false;
        res.on('data', (chunk: Buffer) => {
          parts.push(chunk);
          received += chunk.length;
          if (!paused && received > 2 * MiB) {
            paused = true;
            res.pause();
            void (async () => {
              // The gateway fills the socket's buffers, then stops: sampled from the pause on, twice a second.
              samples.push(rss(pid));
              for (let s = 0; s < 20; s++) {
                await sleep(500);
                samples.push(rss(pid));
              }
              res.resume();
            })();
          }
        });
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      }).on('error', reject);
    attempt();
  });

  // From 2 s into the pause, when the socket's buffers are full: flat if the gateway waits for the
  // reader, growing at the producer's pace (several MiB a second) if it buffers the rest.
  const settled = samples.slice(4);
  const growth = Math.max(...settled) - settled[0]!;
  console.log(`gateway RSS while the reader paused: ${samples.map((b) => (b / MiB).toFixed(0)).join(', ')} MiB; export ${(file.length / MiB).toFixed(0)} MiB`);
  // The rest of the export (most of it) would have been produced into memory within the pause.
  expect(file.length).toBeGreaterThan(80 * MiB);
  expect(growth).toBeLessThan(16 * MiB);
  const ids = exportedIds(file);
  expect(ids).toHaveLength(EVENTS);
  expect(await verifyBytes(file)).toMatchObject({ ok: true, events: EVENTS });
}, 240_000);
