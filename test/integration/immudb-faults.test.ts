/**
 * Faults on a private immudb: crashes, an unreachable server, a tampered trusted state, and a
 * server whose history is not the one the gateway trusted.
 */
import { writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAuditError } from '../../src/errors.ts';
import type { Ledger } from '../../src/ledger/port.ts';
import { verifyProofBundle } from '../../src/proof/verify.ts';
import { ev } from '../contract/ledger-contract.ts';
import { freePort, startImmudb, type ManagedServer } from '../support/servers.ts';
import { immudbBinaries, immudbServers, openTestImmudbLedger, tempDir, uniqueDatabase } from '../support/services.ts';

const codeOf = (e: unknown) => (isAuditError(e) ? e.code : String(e));

// A private server of each tested version (their binaries): these tests kill and restart it.
const tested = immudbServers.map((s) => s.version).filter((v) => immudbBinaries[v]);

describe.skipIf(tested.length === 0).each(tested.length ? tested : ['none'])('immudb faults (immudb %s)', (version) => {
  const binary = immudbBinaries[version]!;
  let server: ManagedServer;
  beforeAll(async () => {
    server = await startImmudb(binary);
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('resumes a burst of writers by itself after immudb is killed (SIGKILL) and restarted; nothing acknowledged is lost or doubled', async () => {
    const dataDir = tempDir();
    const database = uniqueDatabase();
    const ledger = await openTestImmudbLedger({ address: server.address, database, dataDir, callTimeoutMs: 1_000 });
    const acked = new Map<string, string>(); // eventId → txId
    const failures: string[] = [];
    const writers = 4;
    const batches = 30; // per writer, of 5 events: 600 events
    // Client-chosen eventIds: a batch retried after an error whose write did land comes back created:false.
    const writer = async (w: number) => {
      for (let b = 0; b < batches; b++) {
        const batch = Array.from({ length: 5 }, () => ev({ correlationId: 'crash-burst', actorId: `writer-${w}` }));
        for (;;) {
          try {
            const results = await ledger.append(batch);
            for (const r of results) acked.set(r.event.record.eventId, r.event.txId);
            break;
          } catch (err) {
            failures.push(codeOf(err));
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
    };
    const burst = Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
    while (acked.size < 150) await new Promise((r) => setTimeout(r, 5));
    await server.kill();
    await new Promise((r) => setTimeout(r, 1_500));
    await server.start();
    await burst;

    const total = writers * batches * 5;
    expect(failures.length).toBeGreaterThan(0);
    expect(new Set(failures)).toEqual(new Set(['LEDGER_UNAVAILABLE']));
    expect(acked.size).toBe(total);
    for (const [id, txId] of acked) {
      const got = await ledger.getVerified(id);
      expect(got, id).not.toBeNull();
      expect(got!.event.txId).toBe(txId);
      expect(verifyProofBundle(got!.proof).ok).toBe(true);
    }
    const seen: string[] = [];
    let after;
    for (;;) {
      const page = await ledger.scanTimeline('crash-burst', { after, limit: 500, direction: 'asc' });
      seen.push(...page.events.map((e) => e.record.eventId));
      if (!page.hasMore) break;
      const last = page.events[page.events.length - 1]!;
      after = { timestamp: last.record.timestamp, eventId: last.record.eventId };
    }
    expect(seen.length).toBe(total); // no duplicate from retries
    expect(new Set(seen)).toEqual(new Set(acked.keys()));
    await ledger.close();
  }, 120_000);

  it('fails fast with LEDGER_UNAVAILABLE when immudb is unreachable, never hangs', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await openTestImmudbLedger({ address: `127.0.0.1:${port}`, callTimeoutMs: 1_000 }).catch((e) => e);
    expect(codeOf(err)).toBe('LEDGER_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(5_000);

    const ledger = await openTestImmudbLedger({ address: server.address, callTimeoutMs: 1_000 });
    await ledger.append([ev()]);
    await server.kill();
    try {
      const t0 = Date.now();
      const write = await ledger.append([ev()]).catch((e) => e);
      expect(codeOf(write)).toBe('LEDGER_UNAVAILABLE');
      const read = await ledger.scanTimeline('rr-2025-001', { limit: 5, direction: 'asc' }).catch((e) => e);
      expect(codeOf(read)).toBe('LEDGER_UNAVAILABLE');
      expect(codeOf(await ledger.ping().catch((e) => e))).toBe('LEDGER_UNAVAILABLE');
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await server.start();
      await ledger.close();
    }
  });

  it('refuses a corrupted trusted-state file: unreadable at open, wrong hash at the first proof', async () => {
    const dataDir = tempDir();
    const database = uniqueDatabase();
    const first = await openTestImmudbLedger({ address: server.address, database, dataDir });
    for (let i = 0; i < 5; i++) await first.append([ev()]);
    await first.close();
    const dir = join(dataDir, 'trusted-state');
    const file = join(dir, readdirSync(dir).find((f) => f.endsWith('.json'))!);
    const good = readFileSync(file, 'utf8');

    writeFileSync(file, good.slice(0, 20));
    expect(codeOf(await openTestImmudbLedger({ address: server.address, database, dataDir }).catch((e) => e))).toBe('VERIFICATION_FAILED');

    const doc = JSON.parse(good);
    doc.txHash = (doc.txHash[0] === '0' ? '1' : '0') + doc.txHash.slice(1);
    writeFileSync(file, JSON.stringify(doc));
    const tampered = await openTestImmudbLedger({ address: server.address, database, dataDir });
    expect(codeOf(await tampered.append([ev()]).catch((e) => e))).toBe('VERIFICATION_FAILED');
    const [someId] = [(await tampered.scanTimeline('rr-2025-001', { limit: 1, direction: 'asc' })).events[0]!.record.eventId];
    expect(codeOf(await tampered.getVerified(someId).catch((e) => e))).toBe('VERIFICATION_FAILED');
    await tampered.close();
  });

  it('refuses a server whose history differs from the one it trusted (proofs that do not match)', async () => {
    const other = await startImmudb(binary);
    try {
      const dataDir = tempDir();
      const database = uniqueDatabase();
      const a: Ledger = await openTestImmudbLedger({ address: server.address, database, dataDir });
      for (let i = 0; i < 3; i++) await a.append([ev({ correlationId: 'history' })]);
      await a.close();
      // The same database name on another server, with as many txs but other content.
      const forger = await openTestImmudbLedger({ address: other.address, database });
      for (let i = 0; i < 5; i++) await forger.append([ev({ correlationId: 'history', actorId: 'mallory' })]);
      await forger.close();
      const b = await openTestImmudbLedger({ address: other.address, database, dataDir });
      expect(codeOf(await b.append([ev()]).catch((e) => e))).toBe('VERIFICATION_FAILED');
      const page = await b.scanTimeline('history', { limit: 1, direction: 'asc' });
      expect(codeOf(await b.getVerified(page.events[0]!.record.eventId).catch((e) => e))).toBe('VERIFICATION_FAILED');
      await b.close();
    } finally {
      await other.destroy();
    }
  });
});
