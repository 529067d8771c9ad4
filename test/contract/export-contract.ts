/**
 * The evidence export contract: every Ledger backend (immudb 1.11.1 and 1.10.0, embedded) must
 * produce `auditgraph.export.v1` files the one verifier accepts, through `Ledger.proveTxAt`, with
 * the in-process index for filters.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCheckpointSigner, type CheckpointSigner } from '../../src/checkpoint/checkpoint.ts';
import { parseVerifierKey } from '../../src/checkpoint/note.ts';
import type { AuditEventInput } from '../../src/events/types.ts';
import { validateEventInput } from '../../src/events/validate.ts';
import { prepareExport, type ExportTuning } from '../../src/export/producer.ts';
import { parseExportQuery } from '../../src/export/request.ts';
import { openEventIndex, type IndexSetup } from '../../src/index/index.ts';
import type { AppendResult, Ledger } from '../../src/ledger/port.ts';
import { parseHash, toHex } from '../../src/proof/codecs.ts';
import { verifyConsistencyProof } from '../../src/proof/consistency.ts';
import { entryDigest } from '../../src/proof/hashing.ts';
import { verifyHTreeInclusion } from '../../src/proof/htree.ts';
import { txAlh, txHeaderFromJson } from '../../src/proof/tx-header.ts';
import { CONSISTENCY_FORMAT } from '../../src/proof/types.ts';
import { collect, exportedIds, join, leafMutations, linesOf, verifyBytes } from '../support/export.ts';
import { waitCaughtUp } from '../support/index-helpers.ts';

const query = (params: Record<string, string>) => parseExportQuery(new URLSearchParams(params));

export function exportContract(name: string, open: () => Promise<Ledger>) {
  describe(`export contract: ${name}`, () => {
    let ledger: Ledger;
    let setup: IndexSetup;
    let signer: CheckpointSigner;
    const tag = randomUUID().slice(0, 8);
    let n = 0;
    /** Events over `correlations`, in batches of the given sizes (one tx each), timestamps shuffled within a few seconds. */
    const write = async (batches: number[], correlations: string[], extra: Partial<AuditEventInput> = {}): Promise<AppendResult[]> => {
      const out: AppendResult[] = [];
      for (const size of batches) {
        const events = Array.from({ length: size }, () => {
          n++;
          return validateEventInput({
            eventType: n % 3 === 0 ? 'auth.login' : 'workflow.step',
            eventCategory: 'svc',
            outcome: n % 4 === 0 ? 'FAILURE' : 'SUCCESS',
            correlationId: correlations[n % correlations.length]!,
            actorType: 'user',
            actorId: `u-${n % 5}`,
            // Shared milliseconds (ordered by eventId) and arrival order unlike time order.
            timestamp: new Date(Date.UTC(2025, 4, 1) + ((n * 7919) % 4000)).toISOString(),
            data: { n, text: n % 10 === 0 ? 'quote " comma , newline \n unicode ✓' : 'plain' },
            ...extra,
          });
        });
        out.push(...(await ledger.append(events)));
      }
      return out;
    };
    const deps = () => ({ ledger, index: setup.index, signer });
    const exportOf = async (params: Record<string, string>, tuning: ExportTuning = {}) => collect(await prepareExport(deps(), query(params), tuning));
    const timelineIds = async (correlationId: string) => {
      const ids: string[] = [];
      let after: { timestamp: string; eventId: string } | undefined;
      for (;;) {
        const page = await ledger.scanTimeline(correlationId, { ...(after ? { after } : {}), limit: 200, direction: 'asc' });
        ids.push(...page.events.map((e) => e.record.eventId));
        const last = page.events.at(-1);
        if (!page.hasMore || !last) return ids;
        after = { timestamp: last.record.timestamp, eventId: last.record.eventId };
      }
    };
    const indexIds = async (filter: Record<string, unknown>) => {
      const ids: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await setup.index.query({ filter, orderBy: 'TIMESTAMP_ASC', first: 200, after });
        ids.push(...page.edges.map((e) => e.eventId));
        if (!page.pageInfo.hasNextPage) return ids;
        after = page.pageInfo.endCursor;
      }
    };

    beforeAll(async () => {
      ledger = await open();
      setup = await openEventIndex({ ledger, redisUrl: null, indexer: { pollMs: 20 } });
      setup.indexer.start();
      ledger.onAppended(() => setup.indexer.kick());
      signer = createCheckpointSigner(generateKeyPairSync('ed25519').privateKey, 'auditgraph/export-test');
    });
    afterAll(async () => {
      await setup?.close();
      await ledger?.close();
    });

    it('exports a selection without events as a header and a closing line that verify', async () => {
      const file = await exportOf({ correlationId: `${tag}-none` });
      const lines = linesOf(file);
      expect(lines).toHaveLength(2);
      expect(JSON.parse(lines[1]!)).toMatchObject({ end: true, events: 0, txs: 0 });
      const r = await verifyBytes(file, { key: parseVerifierKey(signer.verifierKey) });
      // A fresh ledger (anchor tx 0) signs nothing, so a key has nothing to check there.
      if (JSON.parse(lines[0]!).anchor.txId === '0') expect(r).toMatchObject({ ok: false, line: 1, check: 'checkpoint' });
      else expect(r).toMatchObject({ ok: true, events: 0 });
      expect(await verifyBytes(file)).toMatchObject({ ok: true, events: 0, txs: 0 });
    });

    it('proves a tx against a later anchor (dual proof and every entry), and the anchor itself by its Alh', async () => {
      const written = await write([3, 1, 4, 2], [`${tag}-p`]);
      const anchor = await ledger.trustedState();
      const mid = { txId: written[4]!.event.txId, txHash: '' };
      for (const r of written) {
        const at = await ledger.proveTxAt(r.event.txId, anchor);
        const tx = txHeaderFromJson(at.tx);
        expect(at.tx.id).toBe(r.event.txId);
        if (r.event.txId === anchor.txId) {
          expect(at.dualProof).toBeNull();
          expect(toHex(txAlh(tx))).toBe(anchor.txHash);
        } else {
          const doc = {
            format: CONSISTENCY_FORMAT,
            ledger: ledger.kind,
            database: ledger.database,
            from: { txId: at.tx.id, txHash: toHex(txAlh(tx)) },
            to: anchor,
            dualProof: at.dualProof,
          };
          expect(verifyConsistencyProof(doc, { to: anchor })).toMatchObject({ ok: true });
        }
        if (r.event.txId === mid.txId) mid.txHash = toHex(txAlh(tx));
        const value = Buffer.from(r.proof.entry.value, 'base64');
        const entry = at.entry(r.event.key, value)!;
        expect(entry).not.toBeNull();
        const terms = entry.terms.map((t) => parseHash(t)!);
        expect(verifyHTreeInclusion(terms, entry.leaf, tx.nEntries, entryDigest(r.event.key, value, tx.version, entry.metadata), tx.eH)).toBe(true);
        // Not the entry the tx holds: another value, or a key it does not have.
        expect(at.entry(r.event.key, Buffer.concat([value, Buffer.from(' ')]))).toBeNull();
        expect(at.entry(Buffer.from(`${r.event.key.toString('latin1')}x`, 'latin1'), value)).toBeNull();
      }
      // An older anchor proves the txs before it.
      const early = await ledger.proveTxAt(written[0]!.event.txId, mid);
      expect(early.dualProof?.targetTx.id ?? early.tx.id).toBe(mid.txId);
      // A state that is not this ledger's.
      await expect(ledger.proveTxAt(written[0]!.event.txId, { txId: anchor.txId, txHash: 'ab'.repeat(32) })).rejects.toMatchObject({
        code: 'VERIFICATION_FAILED',
      });
    });

    it('exports a correlation and a filter: every event of the timeline and index walks once, in order; the file verifies', async () => {
      const corr = [`${tag}-a`, `${tag}-b`, `${tag}-c`];
      await write([1, 40, 7, 120, 3, 60, 1, 1, 90, 25], corr);
      await waitCaughtUp(setup.index, ledger);
      const key = parseVerifierKey(signer.verifierKey);
      const anchor = await ledger.trustedState();

      const byCorrelation = await exportOf({ correlationId: corr[1]! }, { window: 3, pageSize: 37 });
      const ids = exportedIds(byCorrelation);
      expect(ids).toEqual(await timelineIds(corr[1]!));
      expect(ids.length).toBeGreaterThan(100);
      const r = await verifyBytes(byCorrelation, { key, trusted: anchor });
      expect(r).toMatchObject({ ok: true, events: ids.length, anchor });
      const lines = linesOf(byCorrelation);
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ end: true, events: ids.length });
      // Window 3 over interleaved txs: some txs are proven more than once, never once per event.
      const txLines = lines.filter((l) => l.startsWith('{"tx":')).length;
      expect(txLines).toBeLessThan(ids.length);

      const filter = { correlationIds: corr, eventType: ['auth.login'], outcome: ['SUCCESS', 'FAILURE'] };
      const byFilter = await exportOf({ filter: JSON.stringify(filter), since: '2025-05-01T00:00:00.500Z' });
      const fids = exportedIds(byFilter);
      expect(fids).toEqual(await indexIds({ ...filter, since: '2025-05-01T00:00:00.500Z' }));
      expect(fids.length).toBeGreaterThan(50);
      expect(await verifyBytes(byFilter, { key })).toMatchObject({ ok: true, events: fids.length });
      // The events are the ledger's, byte for byte.
      const stored = await ledger.getMany(fids.slice(0, 20));
      const values = linesOf(byFilter)
        .map((l) => JSON.parse(l) as { value?: string })
        .filter((o) => o.value)
        .slice(0, 20)
        .map((o) => JSON.parse(o.value!));
      expect(values).toEqual(stored.map((s) => s!.record));

      // Anchored elsewhere, or checked with another key: refused at the header.
      expect(await verifyBytes(byFilter, { trusted: { txId: anchor.txId, txHash: 'cd'.repeat(32) } })).toMatchObject({ ok: false, line: 1, check: 'trusted' });
      const other = parseVerifierKey(createCheckpointSigner(generateKeyPairSync('ed25519').privateKey, 'auditgraph/export-test').verifierKey);
      expect(await verifyBytes(byFilter, { key: other })).toMatchObject({ ok: false, line: 1, check: 'checkpoint' });
    });

    it('holds exactly the events up to its anchor while writes go on', async () => {
      const corr = `${tag}-live`;
      await write([20, 5, 30], [corr]);
      const prepared = await prepareExport(deps(), query({ correlationId: corr }), { pageSize: 10 });
      const anchorId = BigInt(prepared.anchor.txId);
      // Written after the anchor was taken, before and while the export reads: none may appear.
      const later = await write([15, 1, 8], [corr]);
      const chunks = prepared.chunks();
      const first = await chunks.next();
      await write([4], [corr]);
      const rest: Buffer[] = [first.value as Buffer];
      for await (const c of chunks) rest.push(c);
      const file = Buffer.concat(rest);
      const all = await ledger.scanTimeline(corr, { limit: 500, direction: 'asc' });
      const expected = all.events.filter((e) => BigInt(e.txId) <= anchorId).map((e) => e.record.eventId);
      expect(exportedIds(file)).toEqual(expected);
      expect(expected.length).toBe(55);
      expect(later.every((r) => !expected.includes(r.event.record.eventId))).toBe(true);
      expect(await verifyBytes(file, { trusted: prepared.anchor })).toMatchObject({ ok: true, events: 55 });
    });

    it('fails any changed, deleted, repeated, reordered or truncated line and any altered hash, naming the line', async () => {
      const corr = `${tag}-t`;
      await write([2, 3, 1, 2], [corr, `${tag}-t2`]);
      const file = await exportOf({ correlationId: corr }, { window: 1 });
      const key = parseVerifierKey(signer.verifierKey);
      expect(await verifyBytes(file, { key })).toMatchObject({ ok: true });
      const lines = linesOf(file);
      const last = lines.length;
      const kinds = lines.map((l) => (l.startsWith('{"tx":') ? 'tx' : l.startsWith('{"txId":') ? 'event' : l.startsWith('{"end":') ? 'end' : 'header'));
      expect(kinds.filter((k) => k === 'event').length).toBe(4);
      const rejected = async (text: string, what: string, lineIs: (line: number) => boolean) => {
        const r = await verifyBytes(text, { key });
        expect(r.ok, what).toBe(false);
        if (!r.ok) expect(lineIs(r.line), `${what}: reported line ${r.line} (${r.check}: ${r.message})`).toBe(true);
        return r;
      };
      let cases = 0;
      for (let i = 0; i < lines.length; i++) {
        const at = i + 1;
        // Changed: every value of every line. Hashes fail on their own line; anything else there or
        // where it first matters (the header's selection at the first event outside it, the
        // closing line's digest for what nothing else covers).
        for (const m of leafMutations(lines[i]!)) {
          const copy = [...lines];
          copy[i] = m.line;
          await rejected(join(copy), `line ${at} ${m.path} changed`, (l) => l === at || (!m.hash && l > at));
          cases++;
        }
        // Deleted: seen where the next line stands, or by the closing line's counts and digest.
        await rejected(join(lines.filter((_, j) => j !== i)), `line ${at} deleted`, (l) => l === at || l === last - 1 || (i === last - 1 && l === last));
        // Repeated: the copy is refused.
        await rejected(join([...lines.slice(0, i + 1), lines[i]!, ...lines.slice(i + 1)]), `line ${at} repeated`, (l) => l === at + 1);
        // Swapped with the next one.
        if (i + 1 < lines.length) {
          const copy = [...lines];
          [copy[i], copy[i + 1]] = [copy[i + 1]!, copy[i]!];
          await rejected(join(copy), `lines ${at} and ${at + 1} swapped`, (l) => l === at || l === at + 1 || l === last);
        }
        // Truncated inside the line, just before its newline, and just after it.
        const upTo = join(lines.slice(0, i)).length;
        await rejected(file.subarray(0, upTo + Math.floor(lines[i]!.length / 2)).toString(), `cut inside line ${at}`, (l) => l === at);
        await rejected(file.subarray(0, upTo + lines[i]!.length).toString(), `cut before the newline of line ${at}`, (l) => l === at);
        if (i + 1 < lines.length) await rejected(join(lines.slice(0, i + 1)), `cut after line ${at}`, (l) => l === at + 1);
        cases += 5;
      }
      expect(cases).toBeGreaterThan(150);
      // Without the key, the closing line's counts and digest still tie the lines together.
      const noEvent = lines.filter((_, j) => j !== kinds.lastIndexOf('event'));
      expect(await verifyBytes(join(noEvent))).toMatchObject({ ok: false, check: 'count' });
    });
  });
}
