/**
 * IndexBuild against the in-process index: a build of some txs, loaded, must hold exactly what
 * applying the same txs as one batch holds (sets, codes, counts, density, counters), with the
 * default layout and with one where codes run out and values turn dense.
 */
import { describe, expect, it } from 'vitest';
import { IndexBuild } from '../../src/index/bulk-build.ts';
import { fieldValue } from '../../src/events/filter.ts';
import { CODED_FIELDS, DENSE_SHARE_INVERSE, type IndexLayoutOptions } from '../../src/index/codes.ts';
import { MemoryEventIndex } from '../../src/index/memory-index.ts';
import type { IndexTx } from '../../src/index/port.ts';
import { fieldKey, GLOBAL_KEY, setFieldKeys } from '../../src/index/members.ts';
import { makePools, randomEvent } from '../support/index-model.ts';
import { prng } from './_random.ts';

function randomTxs(seed: number, events: number): IndexTx[] {
  const rand = prng(seed);
  const pools = makePools(rand);
  const txs: IndexTx[] = [];
  for (let n = 0, txId = 1; n < events; txId++) {
    const size = Math.min(events - n, 1 + Math.floor(rand() * 40));
    const records = Array.from({ length: size }, () => randomEvent(rand, pools).record);
    // An event repeated in a later tx (the ledger hands a rewrite on as a new event): one member.
    if (txs.length > 3 && rand() < 0.05) records.push(txs[1]!.records[0]!);
    txs.push({ txId: String(txId), records });
    n += size;
  }
  return txs;
}

async function indexOf(layout: IndexLayoutOptions, fill: (index: MemoryEventIndex, owner: string) => Promise<unknown>) {
  const index = new MemoryEventIndex(layout);
  await index.tick('me', 60_000);
  await index.reset('e1', '1000000');
  await fill(index, 'me');
  return index;
}

/** Every set key the records can have, and every coded value. */
function keysOf(txs: IndexTx[]): { sets: Set<string>; coded: [(typeof CODED_FIELDS)[number], string][] } {
  const sets = new Set<string>([GLOBAL_KEY]);
  const coded = new Map<string, [(typeof CODED_FIELDS)[number], string]>();
  for (const tx of txs) {
    for (const r of tx.records) {
      for (const k of setFieldKeys(r)) sets.add(k);
      for (const f of CODED_FIELDS) {
        const v = fieldValue(r, f);
        if (v !== undefined) {
          sets.add(fieldKey(f, v));
          coded.set(fieldKey(f, v), [f, v]);
        }
      }
    }
  }
  return { sets, coded: [...coded.values()] };
}

describe('IndexBuild', () => {
  for (const [name, layout] of [
    ['default layout', {}],
    [
      'codes run out, values turn dense',
      { denseMinEvents: 40, maxCodes: { eventCategory: 3, resourceType: 2, actorType: 2, outcome: 1, clusterName: 2, eventAction: 2, severity: 1 } },
    ],
  ] as const) {
    it(`holds what one batch of the same txs holds (${name})`, async () => {
      const txs = randomTxs(name.length, 3_000);
      const applied = await indexOf(layout, (index) => index.apply({ epoch: 'e1', fromTxId: '0', txs }));
      const loaded = await indexOf(layout, (index, owner) => {
        const build = new IndexBuild(index.layout);
        for (const tx of txs) build.add(tx);
        expect(build.lastTxId).toBe(txs[txs.length - 1]!.txId);
        return index.load('e1', build.result(), owner, 60_000).then((r) => expect(r).toMatchObject({ ok: true, status: 'building' }));
      });
      expect(await loaded.state()).toEqual(await applied.state());
      const { sets, coded } = keysOf(txs);
      for (const key of sets) expect(loaded.membersOf(key), key).toEqual(applied.membersOf(key));
      for (const [f, v] of coded) expect(loaded.codeEntry(f, v), `${f} ${v}`).toEqual(applied.codeEntry(f, v));
      // The case the second layout is for: something overflowed, something turned dense.
      if (name !== 'default layout') {
        expect(coded.some(([f, v]) => applied.codeEntry(f, v) === null)).toBe(true);
        expect(coded.some(([f, v]) => applied.codeEntry(f, v)?.dense)).toBe(true);
      }
    });

    it(`holds the same when the records come in any order, each with its place in commit order (${name})`, async () => {
      const txs = randomTxs(name.length + 7, 3_000);
      const applied = await indexOf(layout, (index) => index.apply({ epoch: 'e1', fromTxId: '0', txs }));
      const loaded = await indexOf(layout, (index, owner) => {
        const build = new IndexBuild(index.layout);
        for (const tx of txs) build.coverTx(tx.txId);
        const records = txs.flatMap((tx) => tx.records).map((r, ordinal) => ({ r, ordinal }));
        const rand = prng(99);
        for (let i = records.length - 1; i > 0; i--) {
          const j = Math.floor(rand() * (i + 1));
          [records[i], records[j]] = [records[j]!, records[i]!];
        }
        for (const { r, ordinal } of records) build.addRecord(ordinal, r);
        expect([build.lastTxId, build.txCount, build.events]).toEqual([txs[txs.length - 1]!.txId, txs.length, records.length]);
        return index.load('e1', build.result(), owner, 60_000).then((r) => expect(r).toMatchObject({ ok: true }));
      });
      expect(await loaded.state()).toEqual(await applied.state());
      const { sets, coded } = keysOf(txs);
      for (const key of sets) expect(loaded.membersOf(key), key).toEqual(applied.membersOf(key));
      for (const [f, v] of coded) expect(loaded.codeEntry(f, v), `${f} ${v}`).toEqual(applied.codeEntry(f, v));
    });
  }

  // 320 events: exactly 1/DENSE_SHARE_INVERSE of them is the last sparse count
  const edge = 320 / DENSE_SHARE_INVERSE;
  for (const failures of [edge, edge + 1]) {
    it(`applies the density rule to the final counts: ${failures} FAILUREs of 320 events is ${failures > edge ? 'dense' : 'sparse'}`, async () => {
      const rand = prng(failures);
      const pools = makePools(rand);
      const records = Array.from({ length: 320 }, (_, i) => ({
        ...randomEvent(rand, pools).record,
        outcome: i < failures ? ('FAILURE' as const) : ('SUCCESS' as const),
      }));
      const txs = [
        { txId: '1', records: records.slice(0, 100) },
        { txId: '2', records: records.slice(100) },
      ];
      const layout = { denseMinEvents: 0 };
      const applied = await indexOf(layout, (index) => index.apply({ epoch: 'e1', fromTxId: '0', txs }));
      const loaded = await indexOf(layout, (index, owner) => {
        const build = new IndexBuild(index.layout);
        for (const tx of txs) build.add(tx);
        return index.load('e1', build.result(), owner, 60_000);
      });
      expect(loaded.codeEntry('outcome', 'FAILURE')).toEqual({ code: 1, dense: failures > edge, count: failures });
      expect(loaded.codeEntry('outcome', 'FAILURE')).toEqual(applied.codeEntry('outcome', 'FAILURE'));
      expect(loaded.membersOf(fieldKey('outcome', 'FAILURE'))).toEqual(applied.membersOf(fieldKey('outcome', 'FAILURE')));
    });
  }

  it('sorts every set by member and keeps one member per position and codes', () => {
    const txs = randomTxs(3, 500);
    const build = new IndexBuild();
    for (const tx of txs) build.add(tx);
    const built = build.result();
    const distinct = new Set(txs.flatMap((tx) => tx.records.map((r) => r.eventId)));
    expect(built.events).toBe(distinct.size);
    expect(built.applied).toBe(txs.reduce((n, tx) => n + tx.records.length, 0));
    // The counts stay readable after result() (the indexer logs them then).
    expect([build.events, build.txCount]).toEqual([built.applied, txs.length]);
    for (const [key, members] of built.sets) {
      expect(
        members.every((m, i) => i === 0 || members[i - 1]! < m),
        key,
      ).toBe(true);
    }
  });

  it('refuses txs out of order', () => {
    const build = new IndexBuild();
    build.add({ txId: '5', records: [] });
    expect(() => build.add({ txId: '5', records: [] })).toThrow(RangeError);
    expect(() => build.add({ txId: '4', records: [] })).toThrow(RangeError);
  });

  it('is refused by an index that moved on or whose lease went to someone else', async () => {
    const index = new MemoryEventIndex();
    await index.tick('me', 60_000);
    await index.reset('e1', '10');
    const build = new IndexBuild();
    build.add(randomTxs(1, 5)[0]!);
    const built = build.result();
    expect(() => build.result()).toThrow(/twice/);
    expect(() => build.add({ txId: '99', records: [] })).toThrow(/after result/);
    expect(await index.load('e0', built, 'me', 60_000)).toEqual({ ok: false, reason: 'epoch' });
    await index.tick('other', 60_000, true);
    expect(await index.load('e1', built, 'me', 60_000)).toEqual({ ok: false, reason: 'lease' });
    await index.tick('me', 60_000, true);
    await index.apply({ epoch: 'e1', fromTxId: '0', txs: randomTxs(2, 5).slice(0, 1) });
    expect(await index.load('e1', built, 'me', 60_000)).toEqual({ ok: false, reason: 'moved' });
  });
});
