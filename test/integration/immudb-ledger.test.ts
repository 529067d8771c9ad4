import { expect, it } from 'vitest';
import { encodeRecord } from '../../src/events/canonical.ts';
import { LIMITS } from '../../src/events/limits.ts';
import { ImmudbSession, pb } from '../../src/ledger/immudb/grpc.ts';
import { decodeEvent } from '../../src/ledger/immudb/tx-reads.ts';
import { decodeEntries } from '../../src/ledger/immudb/wire-decode.ts';
import { encodeScanRequest } from '../../src/ledger/immudb/wire-encode.ts';
import { eventIdKey, timelineBoundKey, timelinePrefix } from '../../src/ledger/keys.ts';
import { verifyProofBundle } from '../../src/proof/verify.ts';
import { createDatabase } from '../support/immudb-admin.ts';
import { ev, ledgerContract } from '../contract/ledger-contract.ts';
import { describeEachImmudb, openTestImmudbLedger, uniqueDatabase } from '../support/services.ts';

type TestLedger = Awaited<ReturnType<typeof openTestImmudbLedger>>;

/** A ledger on a fresh database, and a session of immudb's own on the same database beside it. */
async function withRawSession(address: string, test: (ledger: TestLedger, session: ImmudbSession) => Promise<void>): Promise<void> {
  const database = uniqueDatabase();
  const ledger = await openTestImmudbLedger({ address, database });
  const session = new ImmudbSession({ address, user: 'immudb', password: 'immudb', database });
  try {
    await session.connect();
    await test(ledger, session);
  } finally {
    session.close();
    await ledger.close();
  }
}

/*
 * seenByReads: immudb 1.2+ answers a read from an index snapshot that holds at least the read's
 * sinceTx, and may reuse an older snapshot that does. The gateway reads with sinceTx at the last tx
 * it wrote or proved, so a write behind its back shows in its reads once it has written after it.
 */

describeEachImmudb('immudb ledger', ({ address }) => {
  ledgerContract('immudb', () => openTestImmudbLedger({ address }));

  // Not bigger either: immudb sizes per-transaction buffers by maxTxEntries.
  it('creates its database with exactly the entries of the largest batch per transaction', () =>
    withRawSession(address, async (ledger, session) => {
      const execAll = (entries: number) => {
        const req = new pb.ExecAllRequest();
        req.setOperationsList(
          Array.from({ length: entries }, (_, i) => {
            const kv = new pb.KeyValue();
            kv.setKey(Buffer.from(`probe/${entries}/${i}`));
            kv.setValue(Buffer.from('x'));
            const op = new pb.Op();
            op.setKv(kv);
            return op;
          }),
        );
        return session.call('execAll', req);
      };
      expect(ledger.maxEventsPerAppend).toBe(LIMITS.maxBatch);
      const results = await ledger.append(Array.from({ length: LIMITS.maxBatch }, (_, i) => ev({ correlationId: `rr-max-${i % 7}` })));
      expect(new Set(results.map((r) => r.event.txId)).size).toBe(1);
      expect(results[LIMITS.maxBatch - 1]!.proof.tx.nEntries).toBe(2 * LIMITS.maxBatch);
      // What the database itself allows, asked of immudb with a session of its own.
      await expect(execAll(2 * LIMITS.maxBatch + 1)).rejects.toThrow(/max number of entries/i);
    }));

  // Only immudb's own clients could write these: a gateway never writes a key twice.
  it('stops a window scan at its end key: nothing past the window is read, in either direction', () =>
    withRawSession(address, async (ledger, session) => {
      const corr = 'window-end';
      const base = Date.UTC(2024, 2, 1);
      await ledger.append(Array.from({ length: 40 }, (_, i) => ev({ correlationId: corr, timestamp: new Date(base + (i % 20) * 1000).toISOString() })));
      const scan = async (desc: boolean, seek: number, end: number) =>
        decodeEntries(
          await session.callBytes(
            'Scan',
            encodeScanRequest(timelinePrefix(corr), {
              seekKey: timelineBoundKey(corr, seek),
              endKey: timelineBoundKey(corr, end),
              desc,
              limit: 100,
              sinceTx: Number(await ledger.lastTxId()),
            }),
          ),
        ).map((e) => decodeEvent(e.value, Buffer.from(e.key)).timestamp);
      const up = await scan(false, base + 5000, base + 9000);
      expect(up).toHaveLength(8);
      expect(new Set(up)).toEqual(new Set([5, 6, 7, 8].map((k) => new Date(base + k * 1000).toISOString())));
      const down = await scan(true, base + 9000, base + 5000);
      expect(down).toEqual([...up].reverse());
    }));

  it('refuses a read by id when the timeline entry or the id key was written again behind the gateway', () =>
    withRawSession(address, async (ledger, session) => {
      const set = async (key: Buffer, value: Buffer) => {
        const kv = new pb.KeyValue();
        kv.setKey(key);
        kv.setValue(value);
        const req = new pb.SetRequest();
        req.setKvsList([kv]);
        await session.call('set', req);
        await ledger.append([ev()]); // reads see what the gateway wrote last (see seenByReads)
      };
      const [a, b, c] = await ledger.append([ev(), ev(), ev()]);
      const ids = [a!, b!, c!].map((r) => r.event.record.eventId);
      expect((await ledger.getMany(ids)).map((e) => e?.record.eventId)).toEqual(ids);

      // The same bytes again: nothing changes but the version, which is enough to refuse.
      await set(a!.event.key, Buffer.from(a!.proof.entry.value, 'base64'));
      await expect(ledger.getMany([ids[0]!])).rejects.toMatchObject({ code: 'VERIFICATION_FAILED', message: expect.stringMatching(/written again/) });
      await expect(ledger.getVerified(ids[0]!)).rejects.toMatchObject({ code: 'VERIFICATION_FAILED' });
      await expect(ledger.getMany(ids)).rejects.toMatchObject({ code: 'VERIFICATION_FAILED' });

      // The id key of another event pointed elsewhere by hand: a reference written later than its target.
      const ref = new pb.ReferenceRequest();
      ref.setKey(eventIdKey(ids[1]!));
      ref.setReferencedkey(c!.event.key);
      await session.call('setReference', ref);
      await ledger.append([ev()]);
      await expect(ledger.getMany([ids[1]!])).rejects.toMatchObject({ code: 'VERIFICATION_FAILED' });

      // Untouched events still read.
      expect((await ledger.getMany([ids[2]!]))[0]?.record.eventId).toBe(ids[2]);
      expect((await ledger.getVerified(ids[2]!))?.event.record.eventId).toBe(ids[2]);
    }));

  it('refuses to hand on committed events, in order or in bulk, once a timeline entry was overwritten behind the gateway', () =>
    withRawSession(address, async (ledger, session) => {
      const [a] = await ledger.append([ev(), ev()]);
      await ledger.append([ev()]);
      const bulk = async () => {
        let events = 0;
        for await (const step of ledger.readInBulk('0', { maxEvents: 1_000 })) if ('events' in step) events += step.events.length;
        return events;
      };
      expect(await bulk()).toBe(3);
      const kv = new pb.KeyValue();
      kv.setKey(a!.event.key);
      // A well-formed event, so what fails is the value no longer being the one its tx committed.
      kv.setValue(encodeRecord({ ...a!.event.record, outcome: 'FAILURE' }));
      const req = new pb.SetRequest();
      req.setKvsList([kv]);
      await session.call('set', req);
      await expect(bulk()).rejects.toMatchObject({ code: 'VERIFICATION_FAILED', message: expect.stringContaining('does not match') });
      await expect(ledger.readTransactions('0', 10)).rejects.toMatchObject({ code: 'VERIFICATION_FAILED' });
    }));

  // 4,096 such values would be a 256 MiB reply, past what the client accepts (64 MiB): reads in
  // bulk are bounded in bytes as well as in keys.
  it(
    'reads 1,100 events of ~64 KiB each (~70 MB) in bulk, and as followers read them',
    () =>
      withRawSession(address, async (ledger) => {
        const blob = 'x'.repeat(LIMITS.dataMaxBytes - 100);
        for (let b = 0; b < 11; b++)
          await ledger.append(Array.from({ length: 100 }, (_, i) => ev({ correlationId: `big-${i % 5}`, data: { blob, n: b * 100 + i } })));
        const seen = new Set<number>();
        for await (const step of ledger.readInBulk('0', { maxEvents: 10_000 })) {
          if ('events' in step) for (const e of step.events) seen.add((e.record.data as { n: number }).n);
        }
        expect(seen.size).toBe(1_100);
        // All 11 txs in one read, as the indexer's windows of up to 5,000 events ask.
        const txs = await ledger.readTransactions('0', 100);
        expect(txs.flatMap((tx) => tx.events.map((e) => (e.record.data as { n: number }).n))).toEqual(Array.from({ length: 1_100 }, (_, i) => i));
      }),
    120_000,
  );

  // immudb resolves a bound reference by loading the whole tx it points into (1.1 also re-hashed
  // it), an unbound one through its key index: reads by id of events from big txs depend on it.
  it('writes ev/<eventId> as an unbound reference that resolves to the timeline entry', () =>
    withRawSession(address, async (ledger, session) => {
      // One event among others in its tx: a bound reference would read all of them.
      const [written] = await ledger.append([ev({ correlationId: 'rr-ref' }), ...Array.from({ length: 20 }, (_, i) => ev({ correlationId: `rr-other-${i}` }))]);
      const req = new pb.KeyRequest();
      req.setKey(eventIdKey(written!.event.record.eventId));
      const entry = await session.call('get', req);
      expect(Buffer.from(entry.getKey_asU8()).equals(written!.event.key)).toBe(true);
      expect(String(entry.getTx())).toBe(written!.event.txId);
      const ref = entry.getReferencedby()!;
      expect(Buffer.from(ref.getKey_asU8()).equals(eventIdKey(written!.event.record.eventId))).toBe(true);
      expect(ref.getAttx()).toBe(0);
    }));

  it('reads commit times of txs it did not write from their headers alone, null for a tx that does not exist', async () => {
    const database = uniqueDatabase();
    const writer = await openTestImmudbLedger({ address, database });
    const [a] = await writer.append([ev()]);
    const [b] = await writer.append([ev(), ev()]);
    await writer.close();
    // A fresh ledger has no commit time cached: each comes from a header-only TxById.
    const reader = await openTestImmudbLedger({ address, database });
    try {
      expect(await reader.commitTimes([b!.event.txId, a!.event.txId, '999999', b!.event.txId])).toEqual([
        b!.event.recordedAt,
        a!.event.recordedAt,
        null,
        b!.event.recordedAt,
      ]);
    } finally {
      await reader.close();
    }
  });

  it('works on defaultdb: v1 headers, batches of up to 512 events (1,024 entries a tx), proofs that verify offline', async () => {
    const ledger = await openTestImmudbLedger({ address, database: 'defaultdb' });
    try {
      const corr = `defaultdb-${uniqueDatabase()}`;
      const batch = await ledger.append(Array.from({ length: 512 }, () => ev({ correlationId: corr })));
      expect(new Set(batch.map((r) => r.event.txId)).size).toBe(1);
      const bundle = batch[511]!.proof;
      expect(bundle.format).toBe('auditgraph.proof.v2');
      expect(bundle.tx.version).toBe(1);
      expect(verifyProofBundle(JSON.parse(JSON.stringify(bundle))).ok).toBe(true);
      await expect(ledger.append(Array.from({ length: 513 }, () => ev({ correlationId: corr })))).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
      const again = await ledger.getVerified(batch[0]!.event.record.eventId);
      expect(verifyProofBundle(again!.proof, again!.proof.trustedState).ok).toBe(true);
      expect((await ledger.scanTimeline(corr, { limit: 600, direction: 'asc' })).events).toHaveLength(512);
    } finally {
      await ledger.close();
    }
  });

  it('sizes its batches by the maxTxEntries the server reports for a database created elsewhere', async () => {
    const database = uniqueDatabase();
    // An operator's database of 100 entries a tx: 50 events, not the 1,000 of the gateway's own.
    await createDatabase(address, database, { maxTxEntries: 100 });
    const ledger = await openTestImmudbLedger({ address, database });
    try {
      const corr = `small-${database}`;
      const fits = await ledger.append(Array.from({ length: 50 }, () => ev({ correlationId: corr })));
      expect(new Set(fits.map((r) => r.event.txId)).size).toBe(1);
      await expect(ledger.append(Array.from({ length: 51 }, () => ev({ correlationId: corr })))).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
      // and the writes after it still go through (nothing stalled)
      await ledger.append([ev({ correlationId: corr })]);
      expect((await ledger.scanTimeline(corr, { limit: 100, direction: 'asc' })).events).toHaveLength(51);
    } finally {
      await ledger.close();
    }
  });
});
