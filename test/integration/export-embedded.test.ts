import { readdirSync } from 'node:fs';
import { expect, it } from 'vitest';
import { runExport } from '../../src/cli/export.ts';
import { ledgerUnavailable } from '../../src/errors.ts';
import { validateEventInput } from '../../src/events/validate.ts';
import { MAX_LINE_BYTES } from '../../src/export/format.ts';
import { splitLines } from '../../src/export/lines.ts';
import { prepareExport } from '../../src/export/producer.ts';
import { parseExportQuery } from '../../src/export/request.ts';
import { verifyExportLinesParallel } from '../../src/export/verify-parallel.ts';
import { LedgerDecorator } from '../../src/ledger/decorator.ts';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import type { Ledger } from '../../src/ledger/port.ts';
import { createLogger } from '../../src/logger.ts';
import { createApp } from '../../src/server/app.ts';
import { exportContract } from '../contract/export-contract.ts';
import { collect, join, linesOf, verifyBytes } from '../support/export.ts';
import { tempDir } from '../support/services.ts';

exportContract('embedded', () => openEmbeddedLedger({ dataDir: tempDir('auditgraph-export-') }));

it('verifies on worker threads with the one-thread verdict: the same failure, at the same line', async () => {
  const ledger = await openEmbeddedLedger({ dataDir: tempDir('auditgraph-export-') });
  try {
    let n = 0;
    for (let b = 0; b < 12; b++) {
      await ledger.append(
        Array.from({ length: 150 }, () => {
          n++;
          return validateEventInput({
            eventType: 'a.b',
            eventCategory: 'c',
            outcome: 'SUCCESS',
            correlationId: `rr-${n % 3}`,
            actorType: 'u',
            actorId: 'x',
            timestamp: new Date(Date.UTC(2025, 0, 1) + ((n * 7919) % 5000)).toISOString(),
            data: { n },
          });
        }),
      );
    }
    const file = await collect(await prepareExport({ ledger }, parseExportQuery(new URLSearchParams({ correlationId: 'rr-1' })), { window: 3 }));
    const lines = linesOf(file);
    const events = lines.flatMap((l, i) => (l.startsWith('{"txId":') ? [i] : []));
    const txs = lines.flatMap((l, i) => (l.startsWith('{"tx":') ? [i] : []));
    const late = events[450]!;
    const variants: [string, string][] = [
      ['as written', join(lines)],
      ['an event changed late', join(lines.map((l, i) => (i === late ? l.replace('"leaf":', '"leaf":1') : l)))],
      ['an event repeated', join([...lines.slice(0, late + 1), lines[late]!, ...lines.slice(late + 1)])],
      ['a tx line removed', join(lines.filter((_, i) => i !== txs[5]))],
      ['two events swapped', join(lines.map((l, i) => (i === events[300] ? lines[events[301]!]! : i === events[301] ? lines[events[300]!]! : l)))],
      ['an event dropped', join(lines.filter((_, i) => i !== events[200]))],
      ['cut short', join(lines.slice(0, -1))],
      [
        'an event in another key order',
        join(lines.map((l, i) => (i === late ? JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(l)).reverse())) : l))),
      ],
    ];
    for (const [what, text] of variants) {
      const one = await verifyBytes(text);
      const many = await verifyExportLinesParallel(splitLines([Buffer.from(text)], MAX_LINE_BYTES), {}, 2);
      expect(many, what).toEqual(one);
      expect(one.ok, what).toBe(what === 'as written');
      // Read on the main thread (not the way the producer writes it), and valid but for the digest.
      if (what === 'an event in another key order') expect(one).toMatchObject({ check: 'digest', line: lines.length });
    }
  } finally {
    await ledger.close();
  }
}, 120_000);

it('a failure mid-export ends the response without its closing line, logged; the command keeps no file', async () => {
  const inner = await openEmbeddedLedger({ dataDir: tempDir('auditgraph-export-') });
  // Proofs fail once the export is under way (the header's own proof is the first call).
  let calls = 0;
  const ledger = new (class extends LedgerDecorator {
    override proveTxAt(...a: Parameters<Ledger['proveTxAt']>) {
      if (++calls > 4) return Promise.reject(ledgerUnavailable('the disk went away'));
      return super.proveTxAt(...a);
    }
  })(inner);
  const logs: string[] = [];
  const app = createApp({ ledger, config: { port: 0, host: '127.0.0.1' }, logger: createLogger({ level: 'info', write: (l) => void logs.push(l) }) });
  const base = (await app.listen()).url.replace(/\/graphql$/, '');
  try {
    for (let b = 0; b < 30; b++) {
      await inner.append(
        Array.from({ length: 40 }, (_, i) =>
          validateEventInput({
            eventType: 'a.b',
            eventCategory: 'c',
            outcome: 'SUCCESS',
            correlationId: 'rr',
            actorType: 'u',
            actorId: 'x',
            data: { b, i, pad: 'p'.repeat(3000) },
          }),
        ),
      );
    }
    const res = await fetch(`${base}/export?correlationId=rr`);
    expect(res.status).toBe(200);
    const parts: Buffer[] = [];
    const reader = res.body!.getReader();
    await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        parts.push(Buffer.from(value));
      }
    })().catch(() => undefined); // the cut may surface as an error of the body
    const got = Buffer.concat(parts);
    expect(got.length).toBeGreaterThan(0);
    expect(await verifyBytes(got)).toMatchObject({ ok: false, check: 'end' });
    await new Promise((r) => setTimeout(r, 100));
    expect(logs.join('\n')).toMatch(/export: failed after \d+ events; the response ends without its closing line/);

    calls = 0;
    const dir = tempDir('auditgraph-export-cli-');
    const out = `${dir}/rr.ndjson`;
    const r = await runExport([base, '--correlation', 'rr', '-o', out], {
      fetch,
      env: {},
      progress: { write: () => undefined, tty: false },
      stdout: process.stdout,
      now: () => performance.now(),
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.join('')).toMatch(/cut short|terminated|closing line/);
    expect(readdirSync(dir)).toEqual([]);
  } finally {
    await app.close();
    await inner.close();
  }
});
