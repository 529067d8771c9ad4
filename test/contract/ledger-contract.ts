/**
 * The ledger contract: every Ledger implementation (immudb, embedded) must pass it unchanged.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { isAuditError } from '../../src/errors.ts';
import type { AuditEventInput, NewEvent } from '../../src/events/types.ts';
import { validateEventInput } from '../../src/events/validate.ts';
import type { Ledger, StoredEvent, TimelinePosition } from '../../src/ledger/port.ts';
import { verifyProofBundle } from '../../src/proof/verify.ts';
import { verifyConsistencyProof } from '../../src/proof/consistency.ts';
import type { ConsistencyProofJson, LedgerState, ProofBundle } from '../../src/proof/types.ts';
import { runVerify } from '../../src/cli/verify.ts';

let seq = 0;
export function input(overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  seq++;
  return {
    eventType: 'gateway.signal.received',
    eventCategory: 'gateway',
    outcome: 'SUCCESS',
    correlationId: 'rr-2025-001',
    actorType: 'service',
    actorId: 'gateway',
    timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, 0, seq)).toISOString(),
    ...overrides,
  };
}
export const ev = (overrides: Partial<AuditEventInput> = {}): NewEvent => validateEventInput(input(overrides));

const position = (e: StoredEvent): TimelinePosition => ({ timestamp: e.record.timestamp, eventId: e.record.eventId });

/** Every leaf of the bundle, as a path and a mutation that changes it. */
function* mutations(bundle: unknown, path: (string | number)[] = []): Generator<{ path: string; apply: (b: unknown) => void }> {
  if (Array.isArray(bundle)) {
    for (let i = 0; i < bundle.length; i++) yield* mutations(bundle[i], [...path, i]);
    if (path.length) {
      yield { path: `${path.join('.')}[+]`, apply: (b) => getArray(b, path).push(getArray(b, path)[0] ?? 'aa'.repeat(32)) };
      if (bundle.length) yield { path: `${path.join('.')}[-]`, apply: (b) => getArray(b, path).pop() };
    }
    return;
  }
  if (bundle && typeof bundle === 'object') {
    for (const [k, v] of Object.entries(bundle)) yield* mutations(v, [...path, k]);
    return;
  }
  yield {
    path: path.join('.'),
    apply: (b) => {
      const parent = get(b, path.slice(0, -1)) as JsonContainer;
      const k = path[path.length - 1]!;
      const v = parent[k];
      if (typeof v === 'number') parent[k] = v + 1;
      else if (typeof v === 'string' && /^[0-9]+$/.test(v) && !/^[0-9a-f]{64}$/.test(v)) parent[k] = String(BigInt(v) + 1n);
      else if (typeof v === 'string' && /^[0-9a-f]+$/.test(v)) parent[k] = (v[0] === '0' ? '1' : '0') + v.slice(1);
      else if (typeof v === 'string') {
        const raw = Buffer.from(v, 'base64');
        if (raw.length) raw[raw.length - 1]! ^= 1;
        parent[k] = raw.length ? raw.toString('base64') : 'AA==';
      } else if (v === null) parent[k] = { publicKey: 'AA==', signature: 'AA==' };
      else parent[k] = !v;
    },
  };
}
/** An object or an array of the parsed bundle: what a path steps into. */
type JsonContainer = Record<string | number, unknown>;
/** The value at `path` (through containers only: the paths come from walking the same bundle). */
const get = (o: unknown, path: (string | number)[]) => path.reduce((x, k) => (x as JsonContainer)[k], o);
const getArray = (o: unknown, path: (string | number)[]) => get(o, path) as unknown[];

/** The BAD_USER_INPUT violation paths of a rejected call (or the error itself, for the failure message). */
async function badInputPaths(call: Promise<unknown>): Promise<unknown> {
  const e = await call.then(
    () => 'no error',
    (x: unknown) => x,
  );
  if (!isAuditError(e) || e.code !== 'BAD_USER_INPUT') return e;
  return (e.details.violations as { path: string }[]).map((v) => v.path);
}

/** A seeded PRNG in [0, 1). */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    return a / 2 ** 32;
  };
}

/** Runs `fn` over `items`, `width` at a time. */
async function inChunks<T>(items: readonly T[], width: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map((item, j) => fn(item, i + j)));
}

export function ledgerContract(name: string, open: () => Promise<Ledger>) {
  describe(`ledger contract: ${name}`, () => {
    let ledger: Ledger;
    beforeAll(async () => {
      ledger = await open();
    });
    afterAll(async () => {
      await ledger?.close();
    });

    it('round-trips events exactly: append, read by id, timeline in (timestamp, eventId) order', async () => {
      const corr = `rt-${Date.now()}`;
      const strange = ['héllo wörld ✓ 🚀', '\u0000\u0001\u00ff\ufffd binary-ish \r\n\t', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 %2F / : %'];
      const events = [
        ev({
          correlationId: corr,
          timestamp: '2025-03-01T00:00:02.000Z',
          errorMessage: strange[0],
          data: { s: strange[1], n: [1, 2.5, -3], deep: { x: null } },
        }),
        ev({
          correlationId: corr,
          timestamp: '2025-03-01T00:00:01.000Z',
          actorId: strange[2],
          resourceType: 'pod',
          resourceId: 'p-1',
          resourceNamespace: 'default',
        }),
        ev({ correlationId: corr, timestamp: '2025-03-01T00:00:01.000Z', severity: 'CRITICAL', durationMs: 12, errorCode: 'E1' }),
      ];
      const results = await ledger.append(events);
      expect(results).toHaveLength(3);
      expect(new Set(results.map((r) => r.event.txId)).size).toBe(1); // one transaction
      for (const [i, r] of results.entries()) {
        expect(r.created).toBe(true);
        expect(r.event.record).toEqual(events[i]!.record);
        expect(verifyProofBundle(r.proof).ok).toBe(true);
        const read = await ledger.getVerified(events[i]!.record.eventId);
        expect(read?.event.record).toEqual(events[i]!.record);
        expect(read?.event.txId).toBe(r.event.txId);
        expect(verifyProofBundle(read!.proof).ok).toBe(true);
      }
      const many = await ledger.getMany([events[2]!.record.eventId, '00000000-0000-4000-8000-000000000000', events[0]!.record.eventId]);
      expect(many.map((m) => (m ? m.record : null))).toEqual([events[2]!.record, null, events[0]!.record]);
      // recordedAt: carried by the read, or loaded on demand; either way the commit time of its tx
      const at = many[0]!.recordedAt ?? (await ledger.commitTimes([many[0]!.txId]))[0];
      expect(at).toBe(results[2]!.event.recordedAt);
      expect(at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(await ledger.commitTimes([results[0]!.event.txId, '999999999'])).toEqual([results[0]!.event.recordedAt, null]);

      const page = await ledger.scanTimeline(corr, { limit: 10, direction: 'asc' });
      const expected = events.map((e) => e.record).sort((a, b) => (a.timestamp + a.eventId < b.timestamp + b.eventId ? -1 : 1));
      expect(page.events.map((e) => e.record)).toEqual(expected);
      expect(page.hasMore).toBe(false);
      const desc = await ledger.scanTimeline(corr, { limit: 10, direction: 'desc' });
      expect(desc.events.map((e) => e.record)).toEqual([...expected].reverse());
    });

    it('returns bundles that verify offline, and fail when any field is flipped', async () => {
      const [r] = await ledger.append([ev({ correlationId: 'tamper', data: { k: 'v' } })]);
      const bundle = r!.proof;
      expect(verifyProofBundle(JSON.parse(JSON.stringify(bundle))).ok).toBe(true);
      let count = 0;
      for (const m of mutations(bundle)) {
        const copy = JSON.parse(JSON.stringify(bundle)) as ProofBundle;
        m.apply(copy);
        if (JSON.stringify(copy) === JSON.stringify(bundle)) continue;
        // The database name is authenticated only by immudb's state signature (it signs
        // db ‖ txId ‖ txHash); an unsigned bundle names it for the reader, and the verifier prints it.
        if (m.path === 'database' && bundle.state.signature === null) continue;
        const res = verifyProofBundle(copy);
        expect(res.ok, `flipping ${m.path} must fail verification`).toBe(false);
        count++;
      }
      expect(count).toBeGreaterThan(20);
      // and against a trusted state other than the bundle's own
      expect(verifyProofBundle(bundle, { txId: bundle.trustedState.txId, txHash: 'ab'.repeat(32) }).ok).toBe(false);
    });

    it('hands out bundles the `auditgraph verify` command accepts, and rejects once tampered', async () => {
      const [r] = await ledger.append([ev({ correlationId: 'cli' })]);
      const dir = mkdtempSync(join(tmpdir(), 'ag-cli-'));
      const good = join(dir, 'proof.json');
      writeFileSync(good, JSON.stringify(r!.proof));
      const run = (...args: string[]) => spawnSync(process.execPath, ['bin/auditgraph.mjs', 'verify', ...args], { encoding: 'utf8' });
      const ok = run(good, '--trusted', `${r!.proof.trustedState.txId}:${r!.proof.trustedState.txHash}`);
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^valid/);
      const bad = join(dir, 'tampered.json');
      const t = JSON.parse(JSON.stringify(r!.proof));
      t.entry.value = Buffer.from(Buffer.from(t.entry.value, 'base64').toString().replace('cli', 'clj')).toString('base64');
      writeFileSync(bad, JSON.stringify(t));
      const no = run(bad);
      expect(no.status).toBe(1);
      expect(no.stdout + no.stderr).toMatch(/entry|inclusion/);
    });

    it('proves events against an older trusted state saved before many later writes', async () => {
      const early = await ledger.append([ev({ correlationId: 'old-state' })]);
      const saved = await ledger.trustedState();
      for (let i = 0; i < 30; i++) await ledger.append([ev({ correlationId: 'old-state' }), ev({ correlationId: 'other' })]);
      const late = await ledger.append([ev({ correlationId: 'old-state' })]);
      // the newest event, proven from the saved state (source = saved, target = event tx)
      const a = await ledger.getVerified(late[0]!.event.record.eventId, saved);
      expect(a!.proof.trustedState).toEqual(saved);
      expect(verifyProofBundle(a!.proof, saved).ok).toBe(true);
      // an event older than the gateway's state: source = event tx, target = trusted state
      const b = await ledger.getVerified(early[0]!.event.record.eventId);
      const now = await ledger.trustedState();
      expect(BigInt(now.txId)).toBeGreaterThan(BigInt(early[0]!.event.txId));
      expect(verifyProofBundle(b!.proof, now).ok).toBe(true);
      // a bogus saved state is refused
      await expect(ledger.getVerified(late[0]!.event.record.eventId, { txId: saved.txId, txHash: '00'.repeat(32) })).rejects.toMatchObject({
        code: 'VERIFICATION_FAILED',
      });
    });

    it('isolates correlations whose ids prefix each other or contain separators', async () => {
      const ids = ['rr-1', 'rr-10', 'rr-1:x', 'rr-1%', 'rr', 'rr-1/', 'rr-1\u0000', 'rr-1%2F', 'rr-1 '];
      const tag = `iso${Date.now()}-`;
      await ledger.append(ids.flatMap((c) => [ev({ correlationId: tag + c }), ev({ correlationId: tag + c })]));
      for (const c of ids) {
        const page = await ledger.scanTimeline(tag + c, { limit: 100, direction: 'asc' });
        expect(page.events.map((e) => e.record.correlationId)).toEqual([tag + c, tag + c]);
      }
    });

    it('is idempotent on eventId: same content → created:false, other content → EVENT_ID_CONFLICT and nothing written', async () => {
      const e = ev({ correlationId: 'idem', eventId: '0190a5d2-1111-7000-8000-000000000001' });
      const first = await ledger.append([e]);
      const again = await ledger.append([
        validateEventInput({ ...input({ correlationId: 'idem' }), eventId: e.record.eventId, timestamp: e.record.timestamp, eventType: e.record.eventType }),
      ]);
      expect(again[0]!.created).toBe(false);
      expect(again[0]!.event.txId).toBe(first[0]!.event.txId);
      expect(verifyProofBundle(again[0]!.proof).ok).toBe(true);
      const before = await ledger.trustedState();
      const other = ev({ correlationId: 'idem' });
      const err = await ledger
        .append([other, ev({ correlationId: 'idem', eventId: e.record.eventId, outcome: 'FAILURE', timestamp: e.record.timestamp })])
        .catch((x) => x);
      expect(isAuditError(err) && err.code).toBe('EVENT_ID_CONFLICT');
      expect(await ledger.getMany([other.record.eventId])).toEqual([null]);
      expect((await ledger.trustedState()).txId).toBe(before.txId);
      // concurrent identical retries write once
      const racer = ev({ correlationId: 'idem-race', eventId: '0190a5d2-2222-7000-8000-000000000002' });
      const out = await Promise.all(Array.from({ length: 8 }, () => ledger.append([racer])));
      expect(out.filter((o) => o[0]!.created)).toHaveLength(1);
      const page = await ledger.scanTimeline('idem-race', { limit: 10, direction: 'asc' });
      expect(page.events).toHaveLength(1);
      // concurrent racers with different content: one wins, every other one conflicts
      const id = '0190a5d2-3333-7000-8000-000000000003';
      const racers = Array.from({ length: 8 }, (_, i) => ev({ correlationId: 'idem-conflict', eventId: id, resourceType: 'pod', resourceId: `pod-${i}` }));
      const settled = await Promise.allSettled(racers.map((r) => ledger.append([r])));
      expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
      for (const s of settled) if (s.status === 'rejected') expect(isAuditError(s.reason) && s.reason.code).toBe('EVENT_ID_CONFLICT');
      expect((await ledger.scanTimeline('idem-conflict', { limit: 10, direction: 'asc' })).events).toHaveLength(1);
    });

    it('scans exactly from positions that are not themselves keys, in both directions', async () => {
      const corr = `between-${Date.now()}`;
      for (let b = 0; b < 10; b++) {
        await ledger.append(
          Array.from({ length: 100 }, (_, i) =>
            ev({
              correlationId: i % 2 ? corr : `${corr}-other-${i % 5}`,
              timestamp: new Date(Date.UTC(2024, 0, 1) + (((b * 100 + i) * 7919) % 3000) * 1000).toISOString(),
            }),
          ),
        );
      }
      const all = (await ledger.scanTimeline(corr, { limit: 600, direction: 'asc' })).events;
      expect(all).toHaveLength(500);
      let probes = 0;
      for (let k = 1; k < all.length - 1; k += 3) {
        const e = all[k]!.record;
        const next = all[k + 1]!.record;
        // the same timestamp and the eventId with its last hex digit raised: a position right after e
        const last = e.eventId[35]!;
        if (last === 'f') continue;
        const probe = { timestamp: e.timestamp, eventId: e.eventId.slice(0, 35) + (parseInt(last, 16) + 1).toString(16) };
        if (next.timestamp === probe.timestamp && next.eventId <= probe.eventId) continue; // not strictly between
        probes++;
        const down = await ledger.scanTimeline(corr, { after: probe, limit: 2, direction: 'desc' });
        expect(
          down.events.map((x) => x.record.eventId),
          `desc from just after #${k}`,
        ).toEqual([e.eventId, all[k - 1]!.record.eventId]);
        const up = await ledger.scanTimeline(corr, { after: probe, limit: 1, direction: 'asc' });
        expect(
          up.events.map((x) => x.record.eventId),
          `asc from just after #${k}`,
        ).toEqual([next.eventId]);
      }
      expect(probes).toBeGreaterThan(100);
    });

    it('scans a time window [since, until) in both directions, from the window bound or a cursor further in', async () => {
      const corr = `window-${Date.now()}`;
      const base = Date.UTC(2024, 2, 1);
      // 40 distinct timestamps, 3 events each (ties broken by eventId); a neighbour correlation beside them
      const mine = Array.from({ length: 120 }, (_, i) => ev({ correlationId: corr, timestamp: new Date(base + ((i * 37) % 40) * 1000).toISOString() }));
      const others = Array.from({ length: 60 }, (_, i) => ev({ correlationId: `${corr}0`, timestamp: new Date(base + (i % 45) * 1000 - 2000).toISOString() }));
      await ledger.append([...mine.slice(0, 60), ...others]);
      await ledger.append(mine.slice(60));
      const sorted = mine
        .map((e) => e.record)
        .sort((a, b) => (a.timestamp === b.timestamp ? (a.eventId < b.eventId ? -1 : 1) : a.timestamp < b.timestamp ? -1 : 1));
      const ms = (r: { timestamp: string }) => Date.parse(r.timestamp);
      const at = (k: number) => base + k * 1000;
      const windows: [number | undefined, number | undefined][] = [
        [undefined, undefined],
        [at(10), undefined],
        [undefined, at(10)],
        [at(10), at(20)], // bounds on event timestamps: since in, until out
        [at(10) + 1, at(20) + 1], // bounds between events
        [at(10) - 1, at(10) + 1], // one timestamp's events
        [at(10), at(10)], // empty
        [at(-5), at(2)], // reaches before the first
        [at(38), at(50)], // reaches past the last
        [at(50), at(60)], // past everything
        [-1e12, 1e16], // beyond what keys hold, both ends
        [1e16, undefined],
        [undefined, -5],
      ];
      const rand = (() => {
        let a = 7;
        return () => {
          a = (Math.imul(a, 1103515245) + 12345) >>> 0;
          return a / 2 ** 32;
        };
      })();
      for (const [since, until] of windows) {
        const inWindow = sorted.filter((r) => (since === undefined || ms(r) >= since) && (until === undefined || ms(r) < until));
        const window = { ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) };
        for (const direction of ['asc', 'desc'] as const) {
          const want = direction === 'asc' ? inWindow : [...inWindow].reverse();
          const label = `[${since}, ${until}) ${direction}`;
          // whole walks by page
          for (const limit of [4, 50]) {
            const seen: string[] = [];
            let after: TimelinePosition | undefined;
            for (let n = 0; ; n++) {
              const page = await ledger.scanTimeline(corr, { ...(after ? { after } : {}), limit, direction, ...window });
              seen.push(...page.events.map((e) => e.record.eventId));
              expect(page.hasMore, `${label} by ${limit}`).toBe(seen.length < want.length);
              if (!page.hasMore) break;
              expect(page.events).toHaveLength(limit);
              after = position(page.events[page.events.length - 1]!);
              expect(n).toBeLessThan(200);
            }
            expect(seen, `${label} by ${limit}`).toEqual(want.map((r) => r.eventId));
          }
          // from cursors anywhere (inside, before or past the window), also between positions
          for (let k = 0; k < 12; k++) {
            const pick = sorted[Math.floor(rand() * sorted.length)]!;
            const after =
              rand() < 0.3
                ? { timestamp: new Date(ms(pick) + 500).toISOString(), eventId: pick.eventId }
                : { timestamp: pick.timestamp, eventId: pick.eventId };
            const beyond = (r: { timestamp: string; eventId: string }) => {
              const c = ms(r) - ms(after) || (r.eventId < after.eventId ? -1 : r.eventId > after.eventId ? 1 : 0);
              return direction === 'asc' ? c > 0 : c < 0;
            };
            const rest = want.filter(beyond);
            const page = await ledger.scanTimeline(corr, { after, limit: 5, direction, ...window });
            expect(
              page.events.map((e) => e.record.eventId),
              `${label} after ${after.timestamp}`,
            ).toEqual(rest.slice(0, 5).map((r) => r.eventId));
            expect(page.hasMore).toBe(rest.length > 5);
          }
        }
      }
    });

    it('lists committed transactions in txId order with their events, from any checkpoint', async () => {
      const from = await ledger.lastTxId();
      const a = await ledger.append([ev({ correlationId: 'follow' }), ev({ correlationId: 'follow-2' })]);
      const b = await ledger.append([ev({ correlationId: 'follow' })]);
      const all = await ledger.readTransactions(from, 100);
      expect(all.map((t) => t.txId)).toEqual([a[0]!.event.txId, b[0]!.event.txId]);
      expect(all[0]!.events.map((e) => e.record)).toEqual(a.map((r) => r.event.record));
      expect(all[1]!.events.map((e) => e.record)).toEqual(b.map((r) => r.event.record));
      expect(all[0]!.recordedAt).toBe(a[0]!.event.recordedAt);
      // one at a time, as a follower with a checkpoint reads them
      const first = await ledger.readTransactions(from, 1);
      expect(first.map((t) => t.txId)).toEqual([a[0]!.event.txId]);
      expect((await ledger.readTransactions(first[0]!.txId, 1)).map((t) => t.txId)).toEqual([b[0]!.event.txId]);
      expect(await ledger.readTransactions(b[0]!.event.txId, 10)).toEqual([]);
      expect(await ledger.lastTxId()).toBe(b[0]!.event.txId);
    });

    it('reads whole txs in bulk: each tx listed before its events, each event once, with its place in commit order', async () => {
      const from = await ledger.lastTxId();
      for (const n of [3, 1, 4, 1, 5]) await ledger.append(Array.from({ length: n }, (_, i) => ev({ correlationId: `bulk-${i % 2}` })));
      const inOrder = await ledger.readTransactions(from, 100);
      expect(inOrder.map((tx) => tx.events.length)).toEqual([3, 1, 4, 1, 5]);
      const bulk = async (after: string, maxEvents: number) => {
        const txs: { txId: string; events: number }[] = [];
        const records = new Map<number, unknown>();
        for await (const step of ledger.readInBulk(after, { maxEvents })) {
          if ('txs' in step) txs.push(...step.txs);
          else {
            const listed = txs.reduce((n, tx) => n + tx.events, 0);
            for (const { ordinal, record } of step.events) {
              expect(ordinal, 'an event of a tx not yet listed').toBeLessThan(listed);
              expect(records.has(ordinal), `ordinal ${ordinal} twice`).toBe(false);
              records.set(ordinal, record);
            }
          }
        }
        return { txs, records: [...records.keys()].sort((a, b) => a - b).map((o) => records.get(o)) };
      };
      const all = await bulk(from, 1_000);
      expect(all.txs).toEqual(inOrder.map((tx) => ({ txId: tx.txId, events: tx.events.length })));
      expect(all.records).toEqual(inOrder.flatMap((tx) => tx.events.map((e) => e.record)));
      // Whole txs up to the bound (3 + 1; the next 4 would pass 5), and at least one tx.
      const bounded = await bulk(from, 5);
      expect(bounded.txs).toEqual(all.txs.slice(0, 2));
      expect(bounded.records).toEqual(all.records.slice(0, 4));
      expect((await bulk(from, 2)).txs).toEqual(all.txs.slice(0, 1));
      // From a later tx, and past the last one.
      const rest = await bulk(all.txs[2]!.txId, 1_000);
      expect(rest.records).toEqual(all.records.slice(8));
      expect(await bulk(all.txs[4]!.txId, 1_000)).toEqual({ txs: [], records: [] });
    });

    it('reads 9,000 events of 165 txs in bulk (several reads of each kind) exactly as readTransactions lists them', async () => {
      const from = await ledger.lastTxId();
      // Small txs first, so that the listing goes on past its first reads with fewer, bigger txs.
      const sizes = [...Array<number>(150).fill(10), ...Array<number>(15).fill(500)];
      let n = 0;
      for (const size of sizes) await ledger.append(Array.from({ length: size }, () => ev({ correlationId: `bulk-many-${n++ % 97}` })));
      const inOrder: StoredEvent[] = [];
      for (let after = from; ; ) {
        const txs = await ledger.readTransactions(after, 5);
        if (txs.length === 0) break;
        for (const tx of txs) inOrder.push(...tx.events);
        after = txs[txs.length - 1]!.txId;
      }
      expect(inOrder).toHaveLength(9_000);
      const byOrdinal: unknown[] = [];
      let listed = 0;
      for await (const step of ledger.readInBulk(from, { maxEvents: 1_000_000 })) {
        if ('txs' in step) listed += step.txs.reduce((n, tx) => n + tx.events, 0);
        else for (const { ordinal, record } of step.events) byOrdinal[ordinal] = record;
      }
      expect(listed).toBe(9_000);
      expect(byOrdinal).toEqual(inOrder.map((e) => e.record));
      // Bounded in a later read: the 150 small txs and 7 big ones make exactly 5,000.
      const txs: { txId: string; events: number }[] = [];
      const records: unknown[] = [];
      for await (const step of ledger.readInBulk(from, { maxEvents: 5_000 })) {
        if ('txs' in step) txs.push(...step.txs);
        else for (const { ordinal, record } of step.events) records[ordinal] = record;
      }
      expect(txs.map((tx) => tx.events)).toEqual(sizes.slice(0, 157));
      expect(records).toEqual(inOrder.slice(0, 5_000).map((e) => e.record));
    });

    it('stops reading in bulk when the caller leaves early, and reads again afterwards', async () => {
      const from = await ledger.lastTxId();
      for (let b = 0; b < 3; b++) await ledger.append(Array.from({ length: 300 }, () => ev({ correlationId: 'bulk-early' })));
      for await (const step of ledger.readInBulk(from, { maxEvents: 1_000 })) if ('events' in step) break;
      let events = 0;
      for await (const step of ledger.readInBulk(from, { maxEvents: 1_000 })) if ('events' in step) events += step.events.length;
      expect(events).toBe(900);
    });

    it('groups concurrent appends into shared transactions, each with its own proof', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => ledger.append([ev({ correlationId: `group-${i % 3}` })])));
      const txs = new Set(results.map((r) => r[0]!.event.txId));
      expect(txs.size).toBeLessThan(50);
      for (const r of results) expect(verifyProofBundle(r[0]!.proof).ok).toBe(true);
    });

    it('pages 1,000 events by 37 forwards and backwards while others append: no duplicate, no skip', async () => {
      const corr = `page-${Date.now()}`;
      const all: NewEvent[] = [];
      // timestamps out of order, with ties broken by eventId
      for (let b = 0; b < 10; b++) {
        const batch = Array.from({ length: 100 }, (_, i) =>
          ev({ correlationId: corr, timestamp: new Date(Date.UTC(2024, 5, 1) + ((b * 7919 + i * 104729) % 500) * 1000).toISOString() }),
        );
        all.push(...batch);
        await ledger.append(batch);
      }
      const expected = all
        .map((e) => e.record.eventId)
        .sort((x, y) => {
          const a = all.find((e) => e.record.eventId === x)!.record;
          const b = all.find((e) => e.record.eventId === y)!.record;
          return a.timestamp === b.timestamp ? (a.eventId < b.eventId ? -1 : 1) : a.timestamp < b.timestamp ? -1 : 1;
        });
      const existing = new Set(expected);
      let writing = true;
      const writer = (async () => {
        let n = 0;
        while (writing && n < 200) {
          await ledger.append([ev({ correlationId: corr, timestamp: new Date(Date.UTC(2024, 5, 1) + (n % 600) * 1000).toISOString() })]);
          n++;
        }
      })();
      for (const direction of ['asc', 'desc'] as const) {
        const seen: string[] = [];
        let after: TimelinePosition | undefined;
        for (;;) {
          const page = await ledger.scanTimeline(corr, { after, limit: 37, direction });
          seen.push(...page.events.map((e) => e.record.eventId));
          if (!page.hasMore) break;
          after = position(page.events[page.events.length - 1]!);
        }
        expect(new Set(seen).size).toBe(seen.length);
        const original = seen.filter((id) => existing.has(id));
        expect(original).toEqual(direction === 'asc' ? expected : [...expected].reverse());
      }
      writing = false;
      await writer;
    });

    it('proves 300 events from every 10th saved state, before and after their txs: each verifies offline and with `auditgraph verify --trusted` against exactly that state, and fails once tampered', async () => {
      const events: StoredEvent[] = [];
      const saved: LedgerState[] = [];
      for (let i = 0; i < 300; i++) {
        const [r] = await ledger.append([ev({ correlationId: 'anchored' })]);
        events.push(r!.event);
        if (i % 10 === 9) saved.push(await ledger.trustedState());
      }
      // Also the oldest state there is (tx 1), read through a proof the gateway checked.
      const first = (await ledger.consistencyProof('1', '1')).from;
      saved.unshift(first);
      for (const s of saved) expect(s.txHash).toMatch(/^[0-9a-f]{64}$/);
      const pairs = events.flatMap((e) => saved.map((s) => ({ e, s })));
      const leafMutations = [...mutations((await ledger.getVerifiedFrom(events[0]!.record.eventId, saved[5]!.txId))!.proof)].filter(
        (m) => m.path !== 'database',
      );
      let before = 0;
      let after = 0;
      await inChunks(pairs, 16, async ({ e, s }, i) => {
        const r = await ledger.getVerifiedFrom(e.record.eventId, s.txId);
        expect(r?.event.record).toEqual(e.record);
        const text = JSON.stringify(r!.proof);
        const bundle = JSON.parse(text) as ProofBundle;
        expect(bundle.trustedState).toEqual(s);
        const label = `event tx ${e.txId} from state tx ${s.txId}`;
        expect(verifyProofBundle(bundle, s), label).toMatchObject({ ok: true, txId: e.txId });
        const cli = await runVerify(['-', '--trusted', `${s.txId}:${s.txHash}`], { readFile: async () => text, readStdin: async () => text });
        expect(cli.exitCode, `${label}: ${cli.stdout.join(' ')}`).toBe(0);
        if (BigInt(s.txId) < BigInt(e.txId)) before++;
        else if (BigInt(s.txId) > BigInt(e.txId)) after++;
        // A field of every third one, each in turn.
        if (i % 3 !== 0) return;
        const m = leafMutations[(i / 3) % leafMutations.length]!;
        const tampered = JSON.parse(text);
        try {
          m.apply(tampered);
        } catch {
          return; // a path this bundle's lists do not have
        }
        if (JSON.stringify(tampered) !== text) expect(verifyProofBundle(tampered, s).ok, `${label}: ${m.path} changed`).toBe(false);
      });
      expect(before).toBeGreaterThan(1000);
      expect(after).toBeGreaterThan(1000);
      // A state the gateway never saw (right id, other hash) is not one the proof starts from.
      const r = await ledger.getVerifiedFrom(events[100]!.record.eventId, saved[3]!.txId);
      expect(verifyProofBundle(r!.proof, { txId: saved[3]!.txId, txHash: 'ab'.repeat(32) })).toMatchObject({ ok: false, check: 'trustedState' });
      expect(await ledger.getVerifiedFrom('00000000-0000-4000-8000-000000000000', '1')).toBeNull();
    }, 240_000); // 9,300 proofs, each checked by the ledger and twice more here

    it('refuses trustedTxIds that are not a committed tx, with BAD_USER_INPUT naming trustedTxId', async () => {
      const [r] = await ledger.append([ev({ correlationId: 'anchored-bad' })]);
      const id = r!.event.record.eventId;
      const newest = BigInt(await ledger.lastTxId());
      for (const bad of [
        '0',
        '-1',
        'abc',
        '',
        ' 1',
        '1 ',
        '01',
        '1.0',
        '1e3',
        '+1',
        '0x10',
        String(newest + 1n),
        String(newest + 1000n),
        '18446744073709551616',
      ]) {
        expect(await badInputPaths(ledger.getVerifiedFrom(id, bad)), JSON.stringify(bad)).toEqual(['trustedTxId']);
      }
      expect((await ledger.getVerifiedFrom(id, String(newest)))?.proof.trustedState.txId).toBe(String(newest));
    });

    it('gives consistency proofs between 500 random pairs of saved states that verify offline against exactly those states; any swapped hash fails', async () => {
      const saved: LedgerState[] = [];
      for (let i = 0; i < 60; i++) {
        await ledger.append([ev({ correlationId: 'consistency' })]);
        saved.push(await ledger.trustedState());
      }
      saved.unshift((await ledger.consistencyProof('1', '1')).from);
      const rand = prng(name.length * 7919 + 11);
      const pairs = Array.from({ length: 500 }, (_, i) => {
        if (i % 50 === 0) return [saved[i % saved.length]!, saved[i % saved.length]!] as const; // from == to
        const a = saved[Math.floor(rand() * saved.length)]!;
        const b = saved[Math.floor(rand() * saved.length)]!;
        return BigInt(a.txId) <= BigInt(b.txId) ? ([a, b] as const) : ([b, a] as const);
      });
      const hashPaths = (p: ConsistencyProofJson) =>
        [...mutations(p)].map((m) => m.path).filter((path) => /(Hash|prevAlh|eH|blRoot|targetBlTxAlh|Proof\.\d+|terms\.\d+)$/.test(path));
      await inChunks(pairs, 16, async ([from, to], i) => {
        const p = await ledger.consistencyProof(from.txId, to.txId);
        const label = `${from.txId} → ${to.txId}`;
        const copy = JSON.parse(JSON.stringify(p)) as ConsistencyProofJson;
        expect(verifyConsistencyProof(copy, { from, to }), label).toMatchObject({ ok: true, from, to });
        // One hash of each, in turn, swapped for another hash of the same proof.
        const hashes = hashPaths(copy);
        const path = hashes[i % hashes.length]!;
        const all = hashes.map((h) => getAt(copy, h));
        const other = all.find((h) => h !== getAt(copy, path)) ?? 'ab'.repeat(32);
        const swapped = JSON.parse(JSON.stringify(p));
        setAt(swapped, path, other);
        expect(verifyConsistencyProof(swapped).ok, `${label}: ${path} swapped`).toBe(false);
      });
      // Every hash of one proof, each swapped in turn.
      const p = await ledger.consistencyProof(saved[3]!.txId, saved[50]!.txId);
      const hashes = hashPaths(p);
      expect(hashes.length).toBeGreaterThan(10);
      for (const path of hashes) {
        const swapped = JSON.parse(JSON.stringify(p));
        setAt(
          swapped,
          path,
          hashes.map((h) => getAt(p, h)).find((h) => h !== getAt(p, path)),
        );
        expect(verifyConsistencyProof(swapped).ok, `${path} swapped`).toBe(false);
      }
      // Against another state with the same id: refused.
      expect(verifyConsistencyProof(p, { from: { txId: saved[3]!.txId, txHash: 'ab'.repeat(32) } })).toMatchObject({ ok: false, check: 'from' });
      // toTxId omitted: the newest committed tx.
      const newest = await ledger.consistencyProof(saved[10]!.txId);
      expect(newest.to.txId).toBe(await ledger.lastTxId());
      expect(verifyConsistencyProof(newest, { from: saved[10]! }).ok).toBe(true);
    });

    it('refuses consistency proofs between txs that are not committed, or backwards, with BAD_USER_INPUT naming the argument', async () => {
      await ledger.append([ev({ correlationId: 'consistency-bad' })]);
      const newest = BigInt(await ledger.lastTxId());
      const beyond = String(newest + 1n);
      const cases: [string, string | undefined, string][] = [
        ['0', undefined, 'fromTxId'],
        ['-1', '2', 'fromTxId'],
        ['01', '2', 'fromTxId'],
        ['x', undefined, 'fromTxId'],
        [beyond, undefined, 'fromTxId'],
        ['1', beyond, 'toTxId'],
        ['1', '0', 'toTxId'],
        ['1', '2.0', 'toTxId'],
        ['3', '2', 'fromTxId'],
        [beyond, String(newest + 5n), 'toTxId'],
      ];
      for (const [from, to, path] of cases) expect(await badInputPaths(ledger.consistencyProof(from, to)), `${from} → ${to}`).toEqual([path]);
      expect((await ledger.consistencyProof(String(newest), String(newest))).to.txId).toBe(String(newest));
    });
  });
}

/** The value at a dotted path of `mutations` (`a.b.0.c`). */
function getAt(o: unknown, path: string): unknown {
  return path.split('.').reduce((x, k) => (x as Record<string, unknown>)[k], o);
}

/** Sets the value at a dotted path of `mutations`. */
function setAt(o: unknown, path: string, value: unknown): void {
  const keys = path.split('.');
  const parent = getAt(o, keys.slice(0, -1).join('.')) as Record<string, unknown>;
  parent[keys[keys.length - 1]!] = value;
}
