import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuditError, ErrorCode } from '../../src/errors.ts';
import { buildProofBundle } from '../../src/proof/bundle.ts';
import { AHTree, ahtLeaf } from '../../src/proof/ahtree.ts';
import { toHex } from '../../src/proof/codecs.ts';
import { EMPTY, entryDigest, sha256 } from '../../src/proof/hashing.ts';
import { HTree } from '../../src/proof/htree.ts';
import { txAlh, type TxHeader, txHeaderToJson, txInnerHash } from '../../src/proof/tx-header.ts';
import type { ProofBundle } from '../../src/proof/types.ts';
import { assertProofBundle, CHECKS, verifyProofBundle } from '../../src/proof/verify.ts';
import {
  clone,
  newSigningKey,
  setAt,
  signState,
  tamperCases,
  TestChain,
  toV1Bundle,
  verdictWithoutLinking,
  type Relation,
  type Scenario,
} from '../support/proof-chain.ts';
import { vectorBundle, vectors, vectors111 } from '../support/immudb-vectors.ts';

// A linked chain (every tx links its predecessor, as immudb 1.1 and 1.3.2+ commit) with multi-entry
// txs of v0 headers (what the embedded ledger writes), and one of v1 headers with tx and KV metadata.
const chain = new TestChain();
for (let i = 0; i < 60; i++) {
  const id = chain.size + 1;
  const n = 1 + ((id * 3) % 6);
  chain.commit(Array.from({ length: n }, (_, e) => ({ key: Buffer.from(`audit/${id}/${e}`), value: Buffer.from(JSON.stringify({ id, e })) })));
}
const chainV1 = new TestChain(1);
for (let i = 0; i < 24; i++) {
  const id = chainV1.size + 1;
  const n = 1 + ((id * 7) % 5);
  chainV1.commit(
    Array.from({ length: n }, (_, e) => ({
      key: Buffer.from(`audit/${id}/${e}`),
      value: Buffer.from(JSON.stringify({ id, e })),
      // expiry (01 ‖ u64), non-indexable (02), both, or none
      ...((id + e) % 3 === 0 ? { metadata: Buffer.from(`01${(1_900_000_000 + id).toString(16).padStart(16, '0')}${e % 2 ? '02' : ''}`, 'hex') } : {}),
      ...((id + e) % 3 === 1 ? { metadata: Buffer.of(2) } : {}),
    })),
    0,
    id % 4 === 0
      ? {
          metadata: Buffer.from(
            `00${BigInt(id - 2)
              .toString(16)
              .padStart(16, '0')}010003${Buffer.from('tag').toString('hex')}`,
            'hex',
          ),
        }
      : {},
  );
}
const key = newSigningKey();

function scenario(name: string, txId: number, trustedTxId: number, signed: boolean, leaf = 1, c = chain): Scenario {
  const relation: Relation = trustedTxId < txId ? 'below' : trustedTxId === txId ? 'same' : 'above';
  leaf %= c.header(BigInt(txId)).nEntries;
  return { name, relation, signed, bundle: c.bundle({ txId, trustedTxId, leaf, ...(signed ? { signer: key } : {}) }) };
}

const h = (id: number) => chain.header(BigInt(id));
// Pick ids so every proof list is non-empty somewhere and the id gaps survive a +1 tamper.
const below = scenario('trusted 17 → tx 45', 45, 17, false);
const belowSigned = scenario('trusted 9 → tx 52 (signed)', 52, 9, true, 2);
const nearBelow = scenario('trusted 43 → tx 44 (trusted == tx.blTxId)', 44, 43, false, 0);
const twoBelow = scenario('trusted 41 → tx 43 (trusted is the last leaf but one)', 43, 41, false, 0);
const same = scenario('trusted == tx', 30, 30, true, 0);
const above = scenario('tx 12 → trusted 50 (signed)', 12, 50, true, 0);
const aboveUnsigned = scenario('tx 20 → trusted 26', 20, 26, false, 0);
const aboveNear = scenario('tx 33 → trusted 34 (tx == trusted.blTxId)', 33, 34, false, 0);
const first = scenario('first tx, trusted == tx (no binary link)', 1, 1, false);
const second = scenario('trusted 1 → tx 2 (tx 2 links tx 1)', 2, 1, true);
const v1Below = scenario('v1 headers: trusted 3 → tx 12 (tx and entry metadata)', 12, 3, true, 3, chainV1);
const v1Above = scenario('v1 headers: tx 9 → trusted 16 (entry metadata)', 9, 16, false, 1, chainV1);
const v1Format: Scenario = { ...below, name: 'auditgraph.proof.v1 form of trusted 17 → tx 45', bundle: toV1Bundle(below.bundle) };
const all = [first, second, below, belowSigned, nearBelow, twoBelow, same, above, aboveUnsigned, aboveNear, v1Below, v1Above, v1Format];

describe('baseline: untampered bundles verify', () => {
  it('the scenarios cover every proof list, both header versions and both formats', () => {
    for (let id = 1; id <= 60; id++) expect(h(id).blTxId).toBe(BigInt(id - 1));
    expect(below.bundle.dualProof.inclusionProof.length).toBeGreaterThan(0);
    expect(below.bundle.dualProof.consistencyProof.length).toBeGreaterThan(0);
    expect(below.bundle.dualProof.lastInclusionProof.length).toBeGreaterThan(0);
    expect(nearBelow.bundle.dualProof.inclusionProof).toEqual([]);
    expect(twoBelow.bundle.dualProof.inclusionProof.length).toBeGreaterThan(0);
    expect(above.bundle.dualProof.inclusionProof.length).toBeGreaterThan(0);
    expect(first.bundle.dualProof.lastInclusionProof).toEqual([]);
    expect(second.bundle.dualProof.consistencyProof).toEqual([]);
    expect(v1Below.bundle.tx).toMatchObject({ version: 1, metadata: expect.stringMatching(/^00.{16}010003/) });
    expect(v1Below.bundle.entry.metadata).toMatch(/^01[0-9a-f]{16}02$/);
    expect(v1Above.bundle.entry.metadata).toBe('02');
    expect(v1Format.bundle.format).toBe('auditgraph.proof.v1');
  });

  it.each(all)('$name', ({ bundle, relation, signed }) => {
    const r = verifyProofBundle(bundle);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    const c = bundle.tx.version === 1 ? chainV1 : chain;
    const tx = BigInt(bundle.tx.id);
    const trusted = BigInt(bundle.trustedState.txId);
    const stateId = relation === 'above' ? trusted : tx;
    expect(r.txId).toBe(bundle.tx.id);
    expect(r.state).toEqual({ txId: String(stateId), txHash: toHex(c.alh(stateId)) });
    expect(r.summary).toBe(
      `valid: entry "${Buffer.from(bundle.entry.key, 'base64').toString()}" in tx ${tx} (embedded defaultdb), ` +
        `linked to trusted tx ${trusted}, state tx ${stateId}, ${signed ? r.summary.split(', ').pop() : 'unsigned'}`,
    );
    if (signed) expect(r.summary).toMatch(/, signed by key [0-9a-f]{16}$/);
    expect(r.summary).not.toMatch(/\n/);
  });

  it('verifies against every earlier and later trusted state', () => {
    for (let trusted = 1; trusted <= 60; trusted++) {
      const r = verifyProofBundle(chain.bundle({ txId: 37, trustedTxId: trusted }));
      expect(r.ok, `${trusted}: ${JSON.stringify(r)}`).toBe(true);
    }
    for (let trusted = 1; trusted <= 24; trusted++) {
      const r = verifyProofBundle(chainV1.bundle({ txId: 13, trustedTxId: trusted, leaf: 1 }));
      expect(r.ok, `v1 ${trusted}: ${JSON.stringify(r)}`).toBe(true);
    }
  });
});

describe('dualProof.linking: a chain whose binary linking lags (immudb before 1.3.2)', () => {
  const lagged = new TestChain();
  lagged.grow(40, 2, [0, 3, 1, 0, 5, 2]);
  const linked = (id: number) => lagged.header(BigInt(id)).blTxId === BigInt(id - 1);

  it('a bundle verifies exactly when both headers of its dual proof link their predecessor; immudb would take them all', () => {
    let ok = 0;
    let refused = 0;
    for (let t = 1; t <= 40; t += 3) {
      for (let s = 1; s <= 40; s += 2) {
        const b = lagged.bundle({ txId: t, trustedTxId: s, leaf: 1 });
        // Without the linking rule every one of them passes (immudb's own arithmetic).
        expect(verdictWithoutLinking(b), `${s}/${t}`).toBeNull();
        const r = verifyProofBundle(b);
        if (linked(s) && linked(t)) {
          expect(r.ok, `${s}/${t}: ${JSON.stringify(r)}`).toBe(true);
          ok++;
        } else {
          const side = !linked(Math.min(s, t)) ? 'source' : 'target';
          const id = side === 'source' ? Math.min(s, t) : Math.max(s, t);
          expect(r, `${s}/${t}`).toMatchObject({
            ok: false,
            check: 'dualProof.linking',
            message: expect.stringContaining(`${side} tx ${id} links tx ${lagged.header(BigInt(id)).blTxId}, not its predecessor`),
          });
          refused++;
        }
      }
    }
    expect(ok).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(100);
  });
});

describe('tampering with any field fails with the right check', () => {
  for (const s of [...all, goScenario(), go111Scenario('below'), go111Scenario('above')]) {
    const cases = tamperCases(s);
    it(`${s.name}: ${cases.length} tampered variants`, () => {
      expect(cases.length).toBeGreaterThan(40);
      for (const c of cases) {
        const b = clone(s.bundle);
        setAt(b, c.path, c.v);
        const r = verifyProofBundle(b);
        if (c.want === 'ok') expect(r.ok, c.where).toBe(true);
        else expect(r.ok ? 'ok' : `${r.check}`, `${c.where}: ${JSON.stringify(r)}`).toBe(c.want);
      }
    });
  }
});

/** A bundle made only of immudb 1.1's answers (store.DualProof, tx.Proof, pkg/signer), between two linked txs. */
function goScenario(): Scenario {
  const d = vectors.store.dualProofs.find((x) => x.source === 25 && x.target === 50)!;
  const tx = vectors.store.txs[49]!;
  return {
    name: 'immudb 1.1-made bundle, trusted 25 → tx 50 (signed by immudb)',
    relation: 'below',
    signed: true,
    bundle: {
      format: 'auditgraph.proof.v1',
      ledger: 'immudb',
      database: 'defaultdb',
      entry: tx.entries[2]!,
      tx: tx.header,
      inclusion: { leaf: 2, width: tx.entries.length, terms: tx.proofs[2]! },
      trustedState: { txId: '25', txHash: vectors.store.txs[24]!.alh },
      dualProof: d.proof,
      state: { txId: '50', txHash: tx.alh, signature: { publicKey: d.signature.publicKey, signature: d.signature.signature } },
    } as unknown as ProofBundle,
  };
}

/** A v2 bundle made only of immudb 1.11.1's answers: a v0 tx and a v1 tx with tx metadata and an entry with KV metadata. */
function go111Scenario(relation: 'below' | 'above'): Scenario {
  const st = vectors111.store;
  const d = st.dualProofs.find((x) => x.source === 11 && x.target === 22)!;
  const bundle = relation === 'below' ? vectorBundle(st, d, 'target', 0, true) : vectorBundle(st, d, 'source', 1, true);
  return {
    name: `immudb 1.11.1-made bundle, ${relation === 'below' ? 'trusted 11 → tx 22' : 'tx 11 → trusted 22'} (signed by immudb)`,
    relation,
    signed: true,
    bundle,
  };
}

describe('targeted tampering', () => {
  it('a linear proof with one term too many or too few fails even when it would fold', () => {
    // Linked, the linear proof of trusted 17 → tx 45 is Alh(44) ‖ inner(45). Anchored one tx
    // earlier (Alh(43) ‖ inner(44) ‖ inner(45)) it still folds to Alh(45), but the ids do not match.
    const anchored = [toHex(txAlh(h(43))), toHex(txInnerHash(h(44))), toHex(txInnerHash(h(45)))];
    const b = clone(below.bundle);
    b.dualProof.linearProof.terms = anchored;
    expect(verifyProofBundle(b)).toMatchObject({ ok: false, check: 'dualProof.linear', message: '3 terms, expected 2' });
    b.dualProof.linearProof.sourceTxId = '43';
    expect(verifyProofBundle(b)).toMatchObject({ ok: false, check: 'dualProof.linear', message: 'sourceTxId 43 != 44' });
    const c = clone(below.bundle);
    c.dualProof.linearProof.terms = c.dualProof.linearProof.terms.slice(0, 1);
    expect(verifyProofBundle(c)).toMatchObject({ ok: false, check: 'dualProof.linear', message: expect.stringMatching(/terms, expected/) });
  });

  it('ids moved by one in either direction fail', () => {
    for (const s of [below, same, above]) {
      for (const delta of [-1n, 1n]) {
        for (const f of ['tx.id', 'trustedState.txId', 'state.txId', 'dualProof.sourceTx.id', 'dualProof.targetTx.id'] as const) {
          const b = clone(s.bundle) as unknown as Record<string, Record<string, Record<string, string>>>;
          const [a, k, sub] = f.split('.') as [string, string, string | undefined];
          const holder = sub ? b[a]![k]! : (b[a] as unknown as Record<string, string>);
          const field = sub ?? k;
          const v = BigInt(holder[field]!) + delta;
          if (v < 1n) continue;
          holder[field] = String(v);
          expect(verifyProofBundle(b).ok, `${s.name} ${f} ${delta}`).toBe(false);
        }
      }
    }
  });

  it('an entry moved to another leaf of the same tx fails', () => {
    const b = clone(below.bundle);
    b.inclusion.leaf = 0;
    expect(verifyProofBundle(b)).toMatchObject({ ok: false, check: 'inclusion' });
  });

  it('a consistent forgery of width and nEntries is caught by the tx header binding', () => {
    const b = clone(below.bundle);
    b.tx.nEntries += 1;
    b.inclusion.width += 1;
    const r = verifyProofBundle(b);
    expect(r.ok).toBe(false);
  });

  it('a fabricated tx with a matching header everywhere fails the dual proof', () => {
    // Make a different entry set for tx 45 and rebuild tx/targetTx/state consistently: only the
    // linear proof (and the rest of the chain) can tell.
    const t = h(45);
    const fake: TxHeader = { ...t, eH: HTree.build([entryDigest(Buffer.from('forged'), Buffer.from('x'))]).root, nEntries: 1 };
    const b = clone(below.bundle);
    b.entry = { key: Buffer.from('forged').toString('base64'), value: Buffer.from('x').toString('base64'), metadata: '' };
    b.tx = { ...b.tx, eH: toHex(fake.eH), nEntries: 1 };
    b.inclusion = { leaf: 0, width: 1, terms: [] };
    b.dualProof.targetTx = { ...b.tx };
    b.state.txHash = toHex(txAlh(fake));
    expect(verifyProofBundle(b)).toMatchObject({ ok: false, check: 'dualProof.linear' });
  });

  it('a self-consistent history whose blRoot disagrees with the source about tx b fails (immudb would accept it)', () => {
    // Fork at tx 8: the reader trusts an alternative tx 8', while the forged tx 9 links the real
    // tree (whose leaf 8 is the real tx 8) and chains linearly from 8'. Every immudb check passes.
    const real = new TestChain();
    real.grow(8);
    const alt: TxHeader = { ...real.header(8n), ts: real.header(8n).ts + 1n };
    const tree = HTree.build([entryDigest(Buffer.from('k'), Buffer.from('v'))]);
    const forged: TxHeader = {
      id: 9n,
      prevAlh: txAlh(alt),
      ts: 1n,
      version: 0,
      metadata: EMPTY,
      nEntries: 1,
      eH: tree.root,
      blTxId: 8n,
      blRoot: real.aht.root(8),
    };
    const b: ProofBundle = {
      format: 'auditgraph.proof.v2',
      ledger: 'embedded',
      database: 'defaultdb',
      entry: { key: Buffer.from('k').toString('base64'), value: Buffer.from('v').toString('base64'), metadata: '' },
      tx: txHeaderToJson(forged),
      inclusion: { leaf: 0, width: 1, terms: [] },
      trustedState: { txId: '8', txHash: toHex(txAlh(alt)) },
      dualProof: {
        sourceTx: txHeaderToJson(alt),
        targetTx: txHeaderToJson(forged),
        inclusionProof: [],
        consistencyProof: real.aht.consistencyProof(7, 8).map(toHex),
        targetBlTxAlh: toHex(txAlh(real.header(8n))),
        lastInclusionProof: real.aht.lastInclusionProof(8).map(toHex),
        linearProof: { sourceTxId: '8', targetTxId: '9', terms: [toHex(txAlh(alt)), toHex(txInnerHash(forged))] },
      },
      state: { txId: '9', txHash: toHex(txAlh(forged)), signature: null },
    };
    expect(verifyProofBundle(b)).toMatchObject({ ok: false, check: 'dualProof.lastInclusion', message: expect.stringMatching(/source Alh/) });
  });

  it('headers that link themselves, skip their predecessor, or are unlinked with a non-zero blRoot, fail (dualProof.linking)', () => {
    // Self-consistent single-tx bundles: the Alh covers the odd fields, so only the linking rule objects.
    const single = (id: bigint, blTxId: bigint, blRoot: Buffer, lastLeaf?: Buffer) => {
      const tree = HTree.build([entryDigest(Buffer.from('k'), Buffer.from('v'))]);
      const aht = AHTree.fromLeaves([Buffer.from('x'), Buffer.from('y'), lastLeaf ?? Buffer.from('z')]);
      const tx: TxHeader = { id, prevAlh: sha256(Buffer.from('p')), ts: 0n, version: 0, metadata: EMPTY, nEntries: 1, eH: tree.root, blTxId, blRoot };
      const store = { aht, header: (n: bigint) => (n === id ? tx : ({ ...tx, id: n } as TxHeader)) };
      const b = buildProofBundle({
        ledger: 'embedded',
        database: 'd',
        key: Buffer.from('k'),
        value: Buffer.from('v'),
        tx,
        leaf: 0,
        inclusionTerms: [],
        trustedTx: tx,
        store,
      });
      // Make the last-leaf proof pass too, so the linking rule is the only objection left.
      if (lastLeaf) b.dualProof.targetBlTxAlh = toHex(lastLeaf);
      return b;
    };
    expect(verifyProofBundle(single(1n, 0n, sha256(Buffer.from('r'))))).toMatchObject({
      ok: false,
      check: 'dualProof.linking',
      message: 'source tx 1: blRoot must be zero',
    });
    expect(verifyProofBundle(single(1n, 0n, Buffer.alloc(32))).ok).toBe(true);
    const z = Buffer.from('z'.padEnd(32, 'z'));
    const root3 = AHTree.fromLeaves([Buffer.from('x'), Buffer.from('y'), z]).root(3);
    const selfLinked = single(3n, 3n, root3, z);
    expect(verdictWithoutLinking(selfLinked)).toBeNull();
    expect(verifyProofBundle(selfLinked)).toMatchObject({
      ok: false,
      check: 'dualProof.linking',
      message: expect.stringMatching(/^source tx 3 links tx 3, not its predecessor/),
    });
    expect(verifyProofBundle(single(3n, 0n, Buffer.alloc(32)))).toMatchObject({
      ok: false,
      check: 'dualProof.linking',
      message: expect.stringMatching(/^source tx 3 links tx 0/),
    });
    const root1 = AHTree.fromLeaves([Buffer.from('x')]).root(1);
    const skipping = single(3n, 1n, root1, Buffer.from('x'.padEnd(32, 'x')));
    expect(verifyProofBundle(skipping)).toMatchObject({ ok: false, check: 'dualProof.linking', message: expect.stringMatching(/^source tx 3 links tx 1/) });
  });
});

describe('signature', () => {
  it('an immudb (Go pkg/signer) signature verifies; a signature over another state does not', () => {
    const g = goScenario().bundle;
    expect(verifyProofBundle(g).ok).toBe(true);
    const other = vectors.store.dualProofs.find((x) => x.target !== 50)!;
    const b = clone(g);
    b.state.signature = { publicKey: other.signature.publicKey, signature: other.signature.signature };
    expect(verifyProofBundle(b)).toMatchObject({ ok: false, check: 'signature' });
  });

  it('another key, a truncated or padded DER, a compressed or off-curve key fail', () => {
    const base = above.bundle;
    const sig = Buffer.from(base.state.signature!.signature, 'base64');
    const pub = Buffer.from(base.state.signature!.publicKey, 'base64');
    const variants: [string, { publicKey: string; signature: string }][] = [
      ['other key', { ...signState(newSigningKey(), Buffer.from('x')), signature: base.state.signature!.signature }],
      ['trailing byte', { publicKey: pub.toString('base64'), signature: Buffer.concat([sig, Buffer.of(0)]).toString('base64') }],
      ['truncated', { publicKey: pub.toString('base64'), signature: sig.subarray(0, -1).toString('base64') }],
      ['empty signature', { publicKey: pub.toString('base64'), signature: '' }],
      [
        'compressed key',
        { publicKey: Buffer.concat([Buffer.of(2 + (pub[64]! & 1)), pub.subarray(1, 33)]).toString('base64'), signature: sig.toString('base64') },
      ],
      ['off-curve key', { publicKey: Buffer.concat([pub.subarray(0, 64), Buffer.of(pub[64]! ^ 1)]).toString('base64'), signature: sig.toString('base64') }],
    ];
    for (const [name, signature] of variants) {
      const b = clone(base);
      b.state.signature = signature;
      expect(verifyProofBundle(b), name).toMatchObject({ ok: false, check: 'signature' });
    }
  });

  it('accepts the high-S twin of a valid signature (as Go ecdsa.Verify does)', () => {
    const b = clone(above.bundle);
    const der = Buffer.from(b.state.signature!.signature, 'base64');
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
    const rs = crypto.verify; // keep node's verifier referenced for clarity below
    expect(typeof rs).toBe('function');
    // Re-encode (r, n - s) as DER.
    const rLen = der[3]!;
    const r = der.subarray(4, 4 + rLen);
    const s = BigInt(`0x${der.subarray(6 + rLen).toString('hex')}`);
    const enc = (v: Buffer) => Buffer.concat([Buffer.of(0x02, v.length), v]);
    let s2 = Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex');
    while (s2.length > 1 && s2[0] === 0 && !(s2[1]! & 0x80)) s2 = s2.subarray(1);
    if (s2[0]! & 0x80) s2 = Buffer.concat([Buffer.of(0), s2]);
    const body = Buffer.concat([enc(r), enc(s2)]);
    b.state.signature!.signature = Buffer.concat([Buffer.of(0x30, body.length), body]).toString('base64');
    expect(verifyProofBundle(b).ok).toBe(true);
  });

  it('an unsigned bundle says so; removing a signature is allowed (signature is optional)', () => {
    const b = clone(above.bundle);
    b.state.signature = null;
    const r = verifyProofBundle(b);
    expect(r.ok && r.summary.endsWith(', unsigned')).toBe(true);
  });
});

describe('trusted state argument', () => {
  const b = below.bundle;
  it('equal to the bundle trusted state: ok', () => {
    expect(verifyProofBundle(b, { ...b.trustedState }).ok).toBe(true);
  });
  it('different id or hash, or malformed: trustedState', () => {
    expect(verifyProofBundle(b, { txId: '18', txHash: b.trustedState.txHash })).toMatchObject({ ok: false, check: 'trustedState' });
    expect(verifyProofBundle(b, { txId: b.trustedState.txId, txHash: toHex(txAlh(h(18))) })).toMatchObject({ ok: false, check: 'trustedState' });
    expect(verifyProofBundle(b, { txId: b.trustedState.txId, txHash: b.trustedState.txHash.toUpperCase() })).toMatchObject({
      ok: false,
      check: 'trustedState',
    });
    expect(verifyProofBundle(b, { txId: `0${b.trustedState.txId}`, txHash: b.trustedState.txHash })).toMatchObject({ ok: false, check: 'trustedState' });
    expect(verifyProofBundle(b, null as never)).toMatchObject({ ok: false, check: 'trustedState' });
  });
  it('a bundle re-anchored on a state the reader never saw is refused', () => {
    // A self-consistent bundle from another chain passes on its own, but not against our state.
    const other = new TestChain();
    other.grow(50, 2);
    const foreign = other.bundle({ txId: 45, trustedTxId: 17 });
    expect(verifyProofBundle(foreign).ok).toBe(true);
    expect(verifyProofBundle(foreign, below.bundle.trustedState)).toMatchObject({ ok: false, check: 'trustedState' });
  });
});

describe('assertProofBundle', () => {
  it('returns the ok result', () => {
    expect(assertProofBundle(below.bundle).state.txId).toBe('45');
  });
  it('throws VERIFICATION_FAILED naming the check', () => {
    const b = clone(below.bundle);
    b.state.txId = '46';
    try {
      assertProofBundle(b);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(AuditError);
      expect((e as AuditError).code).toBe(ErrorCode.VERIFICATION_FAILED);
      expect((e as AuditError).details).toEqual({ check: 'state' });
    }
  });
});

describe('format strictness', () => {
  const b = below.bundle;
  const bad = (name: string, f: (x: Record<string, unknown>) => void) => {
    const x = clone(b) as unknown as Record<string, unknown>;
    f(x);
    return [name, x] as const;
  };
  const tx = (x: Record<string, unknown>) => x.tx as Record<string, unknown>;
  const dpList = (x: Record<string, unknown>) => (x.dualProof as Record<string, unknown>).inclusionProof as unknown[];
  const cases = [
    bad('uppercase hash', (x) => (tx(x).eH = (tx(x).eH as string).toUpperCase())),
    bad('63-char hash', (x) => (tx(x).eH = (tx(x).eH as string).slice(1))),
    bad('id with leading zero', (x) => (tx(x).id = `0${tx(x).id}`)),
    bad('id as number', (x) => (tx(x).id = Number(tx(x).id))),
    bad('id over uint64', (x) => (tx(x).id = '18446744073709551616')),
    bad('id zero', (x) => ((x.trustedState as Record<string, unknown>).txId = '0')),
    bad('negative blTxId', (x) => (tx(x).blTxId = '-1')),
    bad('ts as number', (x) => (tx(x).ts = Number(tx(x).ts))),
    bad('nEntries as string', (x) => (tx(x).nEntries = String(tx(x).nEntries))),
    bad('nEntries fractional', (x) => (tx(x).nEntries = 1.5)),
    bad('nEntries NaN', (x) => (tx(x).nEntries = NaN)),
    bad('nEntries Infinity', (x) => (tx(x).nEntries = Infinity)),
    bad('nEntries zero', (x) => (tx(x).nEntries = 0)),
    bad('leaf -0', (x) => ((x.inclusion as Record<string, unknown>).leaf = -0)),
    bad('leaf negative', (x) => ((x.inclusion as Record<string, unknown>).leaf = -1)),
    bad('width over uint32', (x) => ((x.inclusion as Record<string, unknown>).width = 2 ** 32)),
    bad('missing field', (x) => delete tx(x).blRoot),
    bad('extra field', (x) => (tx(x).extra = 1)),
    bad('extra top-level field', (x) => (x.verified = true)),
    bad('null header', (x) => (x.tx = null)),
    bad('array header', (x) => (x.tx = [])),
    bad('terms not an array', (x) => ((x.inclusion as Record<string, unknown>).terms = {})),
    bad('term not a string', (x) => (dpList(x)[0] = 1)),
    bad('sparse terms', (x) => (dpList(x).length += 1)),
    bad('base64 with whitespace', (x) => ((x.entry as Record<string, unknown>).key = ` ${(x.entry as Record<string, string>).key}`)),
    bad('base64url', (x) => ((x.entry as Record<string, unknown>).key = '-_-_')),
    bad('non-canonical base64', (x) => ((x.entry as Record<string, unknown>).value = 'QR==')),
    bad('empty key', (x) => ((x.entry as Record<string, unknown>).key = '')),
    bad('wrong format', (x) => (x.format = 'auditgraph.proof.v0')),
    bad('wrong ledger', (x) => (x.ledger = 'IMMUDB')),
    bad('empty database', (x) => (x.database = '')),
    bad('lone surrogate database', (x) => (x.database = 'db\ud800')),
    bad('signature missing field', (x) => ((x.state as Record<string, unknown>).signature = { publicKey: 'AA==' })),
    bad('signature undefined', (x) => ((x.state as Record<string, unknown>).signature = undefined)),
    bad('signature as string', (x) => ((x.state as Record<string, unknown>).signature = 'sig')),
  ];
  it.each(cases)('%s', (name, x) => {
    const r = verifyProofBundle(x);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.check, `${name}: ${r.message}`).toBe(name === 'empty key' ? 'entry' : 'format');
  });

  it('rejects non-objects and prototype tricks', () => {
    for (const v of [null, undefined, 42, 'bundle', [], new Map()]) expect(verifyProofBundle(v)).toMatchObject({ ok: false, check: 'format' });
    const polluted = JSON.parse(JSON.stringify(b).replace('{"format"', '{"__proto__":{"x":1},"format"'));
    expect(verifyProofBundle(polluted)).toMatchObject({ ok: false, check: 'format' });
    const inherited = Object.create(clone(b));
    expect(verifyProofBundle(inherited)).toMatchObject({ ok: false, check: 'format' });
    const getter = clone(b) as unknown as Record<string, unknown>;
    Object.defineProperty(getter, 'tx', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    expect(verifyProofBundle(getter)).toMatchObject({ ok: false, check: 'format' });
  });

  it('check names are the documented stable set', () => {
    expect([...CHECKS]).toEqual([
      'format',
      'trustedState',
      'entry',
      'inclusion',
      'dualProof.sourceTx',
      'dualProof.targetTx',
      'dualProof.linking',
      'dualProof.inclusion',
      'dualProof.consistency',
      'dualProof.lastInclusion',
      'dualProof.linear',
      'state',
      'signature',
    ]);
  });
});

describe('64-bit ids', () => {
  // Two linked txs high up the id space, where JS numbers would alias: tx 2^53+1 links a tree of
  // 2^53 leaves, tx 2^53+2 links that tree plus tx 2^53+1. With all of the first 2^53 leaves the
  // same data, that tree is perfect and its subtrees of one height all alike, so its root and the
  // proofs are a few hashes; the shapes are checked against AHTree at 2^4 below.
  const base = 1n << 53n;
  const filler = sha256(Buffer.from('filler'));
  const perfectRoot = (height: number) => {
    let node = ahtLeaf(filler);
    for (let i = 0; i < height; i++) node = sha256(Buffer.of(1), node, node);
    return node;
  };
  const mk = (id: bigint, prevAlh: Buffer, blRoot: Buffer, k: string): TxHeader => ({
    id,
    prevAlh,
    ts: -1n,
    version: 0,
    metadata: EMPTY,
    nEntries: 1,
    eH: HTree.build([entryDigest(Buffer.from(k), Buffer.from('v'))]).root,
    blTxId: id - 1n,
    blRoot,
  });
  const a = mk(base + 1n, sha256(Buffer.from('genesis')), perfectRoot(53), 'a');
  const rootAfterA = sha256(Buffer.of(1), perfectRoot(53), ahtLeaf(txAlh(a)));
  const b2 = mk(base + 2n, txAlh(a), rootAfterA, 'b');
  const bundle: ProofBundle = {
    format: 'auditgraph.proof.v2',
    ledger: 'embedded',
    database: 'defaultdb',
    entry: { key: Buffer.from('b').toString('base64'), value: Buffer.from('v').toString('base64'), metadata: '' },
    tx: txHeaderToJson(b2),
    inclusion: { leaf: 0, width: 1, terms: [] },
    trustedState: { txId: a.id.toString(), txHash: toHex(txAlh(a)) },
    dualProof: {
      sourceTx: txHeaderToJson(a),
      targetTx: txHeaderToJson(b2),
      inclusionProof: [],
      consistencyProof: [perfectRoot(53), ahtLeaf(txAlh(a))].map(toHex),
      targetBlTxAlh: toHex(txAlh(a)),
      lastInclusionProof: [toHex(perfectRoot(53))],
      linearProof: { sourceTxId: a.id.toString(), targetTxId: b2.id.toString(), terms: [txAlh(a), txInnerHash(b2)].map(toHex) },
    },
    state: { txId: b2.id.toString(), txHash: toHex(txAlh(b2)), signature: null },
  };

  it('the proof shapes used are those AHTree gives for 2^4 like leaves and one more', () => {
    const x = sha256(Buffer.from('x'));
    const t = AHTree.fromLeaves([...Array.from({ length: 16 }, () => filler), x]);
    expect(t.root(16)).toEqual(perfectRoot(4));
    expect(t.root(17)).toEqual(sha256(Buffer.of(1), perfectRoot(4), ahtLeaf(x)));
    expect(t.consistencyProof(16, 17)).toEqual([perfectRoot(4), ahtLeaf(x)]);
    expect(t.lastInclusionProof(17)).toEqual([perfectRoot(4)]);
  });

  it('verifies ids 2^53+1 and 2^53+2 exactly', () => {
    expect(bundle.trustedState.txId).toBe('9007199254740993');
    expect(bundle.tx.id).toBe('9007199254740994');
    expect(bundle.dualProof.sourceTx.blTxId).toBe('9007199254740992');
    expect(verifyProofBundle(bundle)).toMatchObject({ ok: true, state: { txId: '9007199254740994' } });
  });

  it('a tx id that a double would round to the same value still fails', () => {
    expect(Number(base + 1n)).toBe(Number(base));
    const x = clone(bundle);
    x.trustedState.txId = base.toString();
    x.dualProof.sourceTx.id = base.toString();
    expect(verifyProofBundle(x).ok).toBe(false);
    const y = clone(bundle);
    y.dualProof.sourceTx.blTxId = (base - 1n).toString();
    expect(verifyProofBundle(y).ok).toBe(false);
  });

  it('ids at the top of uint64 parse; one more is a format error', () => {
    const x = clone(bundle);
    x.state.txId = '18446744073709551615';
    expect(verifyProofBundle(x)).toMatchObject({ ok: false, check: 'state' });
    x.state.txId = '18446744073709551616';
    expect(verifyProofBundle(x)).toMatchObject({ ok: false, check: 'format' });
  });
});

describe('summary escaping', () => {
  it('prints binary and quote characters escaped on one line', () => {
    const c = new TestChain();
    c.commit([{ key: Buffer.from([0xff, 0x00, 0x22, 0x5c, 0x0a, 0x41]), value: Buffer.alloc(0) }]);
    const r = verifyProofBundle(c.bundle({ txId: 1 }));
    expect(r.ok && r.summary).toBe('valid: entry "\\xff\\x00\\"\\\\\\x0aA" in tx 1 (embedded defaultdb), linked to trusted tx 1, state tx 1, unsigned');
  });
});
