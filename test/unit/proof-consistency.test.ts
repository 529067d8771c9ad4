/**
 * The consistency proof verifier (src/proof/consistency.ts): proofs between every pair of states of
 * linked chains (v0 and v1 headers) verify; any changed leaf, swapped hash or other expected state
 * fails with its check; the linear-proof hole stays closed; it never throws.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/proof/codecs.ts';
import {
  assertConsistencyProof,
  CONSISTENCY_CHECKS,
  CONSISTENCY_FORMAT,
  type ConsistencyProofJson,
  consistencyProofOf,
  verifyConsistencyProof,
} from '../../src/proof/consistency.ts';
import { buildDualProof, type DualProofStore } from '../../src/proof/dual-proof.ts';
import type { LedgerState } from '../../src/proof/types.ts';
import { clone, ForgedChain, flipHex, leaves, mutations, setAt, TestChain, type Path } from '../support/proof-chain.ts';

const chain = new TestChain();
chain.grow(40, 3);
const chainV1 = new TestChain(1);
for (let i = 0; i < 20; i++) {
  const id = chainV1.size + 1;
  chainV1.commit(
    [{ key: Buffer.from(`k/${id}`), value: Buffer.from(`v/${id}`), ...(id % 2 ? { metadata: Buffer.of(2) } : {}) }],
    0,
    id % 3 === 0
      ? {
          metadata: Buffer.from(
            `00${BigInt(id - 1)
              .toString(16)
              .padStart(16, '0')}`,
            'hex',
          ),
        }
      : {},
  );
}

function proofOf(store: DualProofStore, from: number, to: number, ledger: 'immudb' | 'embedded' = 'embedded'): ConsistencyProofJson {
  const source = store.header(BigInt(from));
  const target = store.header(BigInt(to));
  return consistencyProofOf({ ledger, database: 'defaultdb', source, target, dualProof: buildDualProof(source, target, store) });
}
const stateOf = (c: TestChain, id: number): LedgerState => ({ txId: String(id), txHash: toHex(c.alh(BigInt(id))) });

/** The check a changed leaf at `path` must fail (undefined: only that it fails). */
function expectedCheck(path: Path, p: ConsistencyProofJson): string | undefined {
  const at = path.filter((x) => typeof x === 'string').join('.');
  if (at === 'format' || at === 'ledger') return 'format';
  if (at === 'from.txHash') return 'dualProof.sourceTx';
  if (at === 'to.txHash' || at === 'to.txId') return 'dualProof.targetTx';
  if (at === 'from.txId') return p.from.txId === p.to.txId ? 'format' : 'dualProof.sourceTx';
  if (/^dualProof\.(sourceTx|targetTx)\.(version|metadata)$/.test(at)) return undefined; // format or the header's hash, by value
  if (at.startsWith('dualProof.sourceTx.')) return 'dualProof.sourceTx';
  if (at.startsWith('dualProof.targetTx.')) return 'dualProof.targetTx';
  if (at === 'dualProof.inclusionProof') return 'dualProof.inclusion';
  if (at === 'dualProof.consistencyProof') return 'dualProof.consistency';
  if (at === 'dualProof.lastInclusionProof' || at === 'dualProof.targetBlTxAlh') return 'dualProof.lastInclusion';
  if (at.startsWith('dualProof.linearProof')) return 'dualProof.linear';
  throw new Error(`no expectation for ${at}`);
}

describe('verifyConsistencyProof', () => {
  it('verifies the proof between every pair of states, in both header versions, with the expected states', () => {
    for (const c of [chain, chainV1]) {
      for (let from = 1; from <= c.size; from++) {
        for (let to = from; to <= c.size; to++) {
          const p = proofOf(c, from, to);
          const r = verifyConsistencyProof(JSON.parse(JSON.stringify(p)), { from: stateOf(c, from), to: stateOf(c, to) });
          expect(r.ok, `${from} → ${to}: ${JSON.stringify(r)}`).toBe(true);
          if (r.ok) {
            expect(r.from).toEqual(stateOf(c, from));
            expect(r.to).toEqual(stateOf(c, to));
          }
        }
      }
    }
    const r = verifyConsistencyProof(proofOf(chain, 7, 33));
    expect(r).toMatchObject({
      ok: true,
      summary: expect.stringMatching(/^valid: tx 7 \([0-9a-f]{64}\) is in the history of tx 33 \([0-9a-f]{64}\) \(embedded defaultdb\)$/),
    });
    expect(assertConsistencyProof(proofOf(chain, 1, 1)).to).toEqual(stateOf(chain, 1));
  });

  it('the proofs cover every proof list: inclusion, consistency, last inclusion and linear', () => {
    const p = proofOf(chain, 7, 33);
    expect(p.format).toBe(CONSISTENCY_FORMAT);
    expect(p.dualProof.inclusionProof.length).toBeGreaterThan(0);
    expect(p.dualProof.consistencyProof.length).toBeGreaterThan(0);
    expect(p.dualProof.lastInclusionProof.length).toBeGreaterThan(0);
    expect(p.dualProof.linearProof.terms).toHaveLength(2);
    expect(proofOf(chain, 1, 1).dualProof.lastInclusionProof).toEqual([]);
  });

  it('fails when any leaf changes, each with its check (the database name is not authenticated)', () => {
    let cases = 0;
    for (const [c, from, to] of [
      [chain, 7, 33],
      [chain, 1, 40],
      [chain, 32, 33],
      [chain, 12, 12],
      [chain, 1, 1],
      [chainV1, 3, 18],
      [chainV1, 9, 9],
    ] as const) {
      const p = proofOf(c, from, to);
      for (const { path, value } of leaves(p)) {
        for (const [label, v] of mutations(path, value)) {
          const copy = clone(p);
          setAt(copy, path, v);
          if (JSON.stringify(copy) === JSON.stringify(p)) continue;
          const r = verifyConsistencyProof(copy);
          const where = `${from} → ${to}: ${path.join('.')} (${label})`;
          if (path[0] === 'database') {
            expect(r.ok, where).toBe(true);
            continue;
          }
          expect(r.ok, where).toBe(false);
          const want = expectedCheck(path, p);
          if (want && !r.ok) expect(r.check, `${where}: ${r.message}`).toBe(want);
          cases++;
        }
      }
    }
    expect(cases).toBeGreaterThan(200);
  });

  it('fails when any hash is swapped for another hash of the proof, or the two states or headers trade places', () => {
    const p = proofOf(chain, 5, 29);
    const hashes = leaves(p).filter((l): l is { path: Path; value: string } => typeof l.value === 'string' && /^[0-9a-f]{64}$/.test(l.value));
    expect(hashes.length).toBeGreaterThan(15);
    let swaps = 0;
    for (const a of hashes) {
      for (const b of hashes) {
        if (a.value === b.value) continue;
        const copy = clone(p);
        setAt(copy, a.path, b.value);
        expect(verifyConsistencyProof(copy).ok, `${a.path.join('.')} := ${b.path.join('.')}`).toBe(false);
        swaps++;
      }
    }
    expect(swaps).toBeGreaterThan(200);
    const traded = clone(p);
    [traded.from, traded.to] = [p.to, p.from];
    expect(verifyConsistencyProof(traded)).toMatchObject({ ok: false, check: 'format' });
    const headers = clone(p);
    [headers.dualProof.sourceTx, headers.dualProof.targetTx] = [p.dualProof.targetTx, p.dualProof.sourceTx];
    expect(verifyConsistencyProof(headers)).toMatchObject({ ok: false, check: 'dualProof.sourceTx' });
  });

  it('holds the proof to the expected states: another id, another hash or a malformed state fails `from` / `to`', () => {
    const p = proofOf(chain, 10, 20);
    const from = stateOf(chain, 10);
    const to = stateOf(chain, 20);
    expect(verifyConsistencyProof(p, { from }).ok).toBe(true);
    expect(verifyConsistencyProof(p, { to }).ok).toBe(true);
    expect(verifyConsistencyProof(p, { from: stateOf(chain, 9) })).toMatchObject({
      ok: false,
      check: 'from',
      message: expect.stringMatching(/tx 10, not the expected tx 9/),
    });
    expect(verifyConsistencyProof(p, { to: stateOf(chain, 21) })).toMatchObject({ ok: false, check: 'to' });
    expect(verifyConsistencyProof(p, { from: { ...from, txHash: flipHex(from.txHash) } })).toMatchObject({ ok: false, check: 'from' });
    expect(verifyConsistencyProof(p, { to: { ...to, txHash: flipHex(to.txHash) } })).toMatchObject({ ok: false, check: 'to' });
    for (const bad of [{ txId: '0', txHash: from.txHash }, { txId: '010', txHash: from.txHash }, { txId: '10', txHash: from.txHash.toUpperCase() }, null]) {
      expect(verifyConsistencyProof(p, { from: bad as unknown as LedgerState })).toMatchObject({ ok: false, check: 'from' });
    }
    // A proof re-anchored on a state of another history (same id, other hash) is refused even when self-consistent.
    const other = new TestChain();
    for (let id = 1; id <= 40; id++) other.commit([{ key: Buffer.from(`other/${id}`), value: Buffer.from('x') }]);
    expect(verifyConsistencyProof(proofOf(other, 10, 20), { from })).toMatchObject({ ok: false, check: 'from' });
  });

  it('keeps the linear-proof hole closed: a forged target linked to an older tx fails dualProof.linking', () => {
    const genuine = new TestChain();
    genuine.grow(30);
    const forged = new ForgedChain(genuine, { linkedTo: 10, fake: 14, target: 20, fakeEntries: [{ key: Buffer.from('forged'), value: Buffer.from('x') }] });
    const p = proofOf(forged, 10, 20);
    expect(verifyConsistencyProof(p, { from: stateOf(genuine, 10) })).toMatchObject({ ok: false, check: 'dualProof.linking' });
    // and a chain whose binary linking lags
    const lagged = new TestChain();
    lagged.grow(20, 1, [0, 3]);
    const unlinked = Array.from({ length: 20 }, (_, i) => i + 1).find((id) => lagged.header(BigInt(id)).blTxId !== BigInt(id - 1))!;
    expect(verifyConsistencyProof(proofOf(lagged, 1, unlinked))).toMatchObject({ ok: false, check: 'dualProof.linking' });
  });

  it('shares the dual proof shape of proof bundles: a bundle’s dual proof makes a consistency proof of its two states', () => {
    const b = chain.bundle({ txId: 30, trustedTxId: 11 });
    const p: ConsistencyProofJson = {
      format: CONSISTENCY_FORMAT,
      ledger: b.ledger,
      database: b.database,
      from: b.trustedState,
      to: { txId: b.state.txId, txHash: b.state.txHash },
      dualProof: b.dualProof,
    };
    expect(verifyConsistencyProof(p, { from: stateOf(chain, 11), to: stateOf(chain, 30) }).ok).toBe(true);
  });

  it('never throws: not an object, unknown or missing fields, prototype tricks, throwing getters', () => {
    const p = proofOf(chain, 3, 4);
    const hostile = { ...p };
    Object.defineProperty(hostile, 'to', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    const cases: unknown[] = [
      null,
      undefined,
      42,
      'x',
      [],
      {},
      { ...p, extra: 1 },
      { ...p, format: 'auditgraph.proof.v2' },
      { ...p, ledger: 'other' },
      { ...p, database: '' },
      { ...p, from: { txId: '3' } },
      { ...p, dualProof: null },
      Object.assign(Object.create({ polluted: true }), p),
      hostile,
      new Proxy(p, {
        ownKeys() {
          throw new Error('no keys');
        },
      }),
    ];
    for (const c of cases) {
      const r = verifyConsistencyProof(c);
      expect(r).toMatchObject({ ok: false, check: 'format' });
    }
    expect(() => assertConsistencyProof(null)).toThrow(expect.objectContaining({ code: 'VERIFICATION_FAILED' }));
  });

  it('check names are the documented stable set', () => {
    expect([...CONSISTENCY_CHECKS]).toEqual([
      'format',
      'from',
      'to',
      'dualProof.sourceTx',
      'dualProof.targetTx',
      'dualProof.linking',
      'dualProof.inclusion',
      'dualProof.consistency',
      'dualProof.lastInclusion',
      'dualProof.linear',
    ]);
  });
});
