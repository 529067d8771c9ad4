import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuditError, ErrorCode } from '../../src/errors.ts';
import { buildProofBundle } from '../../src/proof/dual-proof.ts';
import { AHTree } from '../../src/proof/ahtree.ts';
import { entryDigest, HTree, sha256, toHex, txAlh, txHeaderToJson, txInnerHash, type TxHeader } from '../../src/proof/hashing.ts';
import type { ProofBundle } from '../../src/proof/types.ts';
import { assertProofBundle, CHECKS, verifyProofBundle } from '../../src/proof/verify.ts';
import { clone, newSigningKey, signState, TestChain } from '../support/proof-chain.ts';
import { vectors } from '../support/immudb-vectors.ts';

// A chain whose binary linking lags irregularly, with multi-entry txs.
const chain = new TestChain();
for (let i = 0; i < 60; i++) {
  const id = chain.size + 1;
  const n = 1 + ((id * 3) % 6);
  chain.commit(
    Array.from({ length: n }, (_, e) => ({ key: Buffer.from(`audit/${id}/${e}`), value: Buffer.from(JSON.stringify({ id, e })) })),
    [0, 3, 1, 0, 5, 2][i % 6],
  );
}
const key = newSigningKey();

type Relation = 'below' | 'same' | 'above';
interface Scenario {
  name: string;
  relation: Relation;
  signed: boolean;
  bundle: ProofBundle;
}

function scenario(name: string, txId: number, trustedTxId: number, signed: boolean, leaf = 1): Scenario {
  const relation: Relation = trustedTxId < txId ? 'below' : trustedTxId === txId ? 'same' : 'above';
  leaf %= chain.header(BigInt(txId)).nEntries;
  return { name, relation, signed, bundle: chain.bundle({ txId, trustedTxId, leaf, ...(signed ? { signer: key } : {}) }) };
}

const h = (id: number) => chain.header(BigInt(id));
// Pick ids so every proof list is non-empty somewhere and the id gaps survive a +1 tamper.
const below = scenario('trusted 17 → tx 45', 45, 17, false);
const belowSigned = scenario('trusted 9 → tx 52 (signed)', 52, 9, true, 2);
const lagged = Array.from({ length: 30 }, (_, i) => 30 + i).find((t) => h(t).blTxId <= BigInt(t - 3))!;
const nearBelow = scenario(`trusted ${lagged - 1} → tx ${lagged}, past its binary link`, lagged, lagged - 1, false, 0);
const atLink = scenario('trusted == tx.blTxId', 43, Number(h(43).blTxId), false, 0);
const same = scenario('trusted == tx', 30, 30, true, 0);
const above = scenario('tx 12 → trusted 50 (signed)', 12, 50, true, 0);
const aboveUnsigned = scenario('tx 20 → trusted 26', 20, 26, false, 0);
const first = scenario('first tx, trusted == tx (no binary link)', 1, 1, false);
const unlinked = scenario('trusted 1 → tx 2 (tx 2 unlinked)', 2, 1, true);
const all = [first, unlinked, below, belowSigned, nearBelow, atLink, same, above, aboveUnsigned];

describe('baseline: untampered bundles verify', () => {
  it('the scenarios cover every proof list', () => {
    expect(h(2).blTxId).toBe(0n);
    expect(h(45).blTxId).toBeGreaterThan(17n);
    expect(below.bundle.dualProof.inclusionProof.length).toBeGreaterThan(0);
    expect(below.bundle.dualProof.consistencyProof.length).toBeGreaterThan(0);
    expect(below.bundle.dualProof.lastInclusionProof.length).toBeGreaterThan(0);
    expect(BigInt(nearBelow.bundle.dualProof.targetTx.blTxId)).toBeLessThan(BigInt(lagged - 1));
    expect(nearBelow.bundle.dualProof.inclusionProof).toEqual([]);
    expect(above.bundle.dualProof.inclusionProof.length).toBeGreaterThan(0);
  });

  it.each(all)('$name', ({ bundle, relation, signed }) => {
    const r = verifyProofBundle(bundle);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    const tx = BigInt(bundle.tx.id);
    const trusted = BigInt(bundle.trustedState.txId);
    const stateId = relation === 'above' ? trusted : tx;
    expect(r.txId).toBe(bundle.tx.id);
    expect(r.state).toEqual({ txId: String(stateId), txHash: toHex(txAlh(h(Number(stateId)))) });
    expect(r.summary).toBe(
      `valid: entry "${Buffer.from(bundle.entry.key, 'base64').toString()}" in tx ${tx} (embedded defaultdb), ` +
        `linked to trusted tx ${trusted}, state tx ${stateId}, ${signed ? r.summary.split(', ').pop() : 'unsigned'}`,
    );
    if (signed) expect(r.summary).toMatch(/, signed by key [0-9a-f]{16}$/);
    expect(r.summary).not.toMatch(/\n/);
  });

  it('verifies against every earlier trusted state, across every blTxId boundary', () => {
    for (let trusted = 1; trusted <= 60; trusted++) {
      const r = verifyProofBundle(chain.bundle({ txId: 60, trustedTxId: trusted }));
      expect(r.ok, `${trusted}: ${JSON.stringify(r)}`).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Tamper matrix: every leaf of the bundle changed, every list shortened and lengthened.

type Path = (string | number)[];

function leaves(v: unknown, path: Path = []): { path: Path; value: unknown }[] {
  if (Array.isArray(v)) {
    return [{ path, value: v }, ...v.flatMap((x, i) => leaves(x, [...path, i]))];
  }
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]));
  return [{ path, value: v }];
}

function setAt(root: unknown, path: Path, value: unknown): void {
  let o = root as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  o[path[path.length - 1]!] = value;
}

const HASH_RE = /^[0-9a-f]{64}$/;
const flipHex = (s: string) => s.slice(0, -1) + (s.endsWith('0') ? '1' : '0');
const flipB64 = (s: string) => {
  const b = Buffer.from(s, 'base64');
  if (b.length === 0) return 'AA==';
  const i = Math.floor(b.length / 2);
  b[i] = b[i]! ^ 0x01;
  return b.toString('base64');
};

/** Mutations of one leaf (or list): [label, new value]. */
function mutations(path: Path, value: unknown): [string, unknown][] {
  const last = String(path[path.length - 1]);
  if (Array.isArray(value)) {
    const extra = value[0] ?? 'ab'.repeat(32);
    const out: [string, unknown][] = [['extra term', [...value, extra]]];
    if (value.length > 0) {
      out.push(['last term removed', value.slice(0, -1)], ['first term removed', value.slice(1)]);
      out.push(['term prepended', [extra, ...value]]);
    }
    if (value.length > 1) out.push(['terms swapped', [value[1], value[0], ...value.slice(2)]]);
    return out;
  }
  if (typeof value === 'number') return [['+1', value + 1]];
  if (typeof value !== 'string') return [];
  if (last === 'format') return [['v2', 'auditgraph.proof.v2']];
  if (last === 'ledger') return [['bogus', 'bogus']];
  if (last === 'database') return [['other db', 'otherdb']];
  if (HASH_RE.test(value)) return [['hex flipped', flipHex(value)]];
  if (/^-?\d+$/.test(value)) return [['+1', String(BigInt(value) + 1n)]];
  return [['base64 bit flipped', flipB64(value)]];
}

function expectedCheck(path: Path, s: Scenario): string | 'ok' {
  const p = path.filter((x) => typeof x === 'string').join('.');
  const trustedIsSource = s.relation !== 'above';
  if (p === 'format' || p === 'ledger') return 'format';
  if (p === 'database') return s.signed ? 'signature' : 'ok';
  if (p.startsWith('entry.') || p.startsWith('inclusion.') || p === 'tx.eH' || p === 'tx.nEntries') return 'inclusion';
  if (p.startsWith('tx.')) return trustedIsSource ? 'dualProof.targetTx' : 'dualProof.sourceTx';
  if (p === 'trustedState.txId') return s.relation === 'below' ? 'dualProof.sourceTx' : 'dualProof.targetTx';
  if (p === 'trustedState.txHash') return trustedIsSource ? 'dualProof.sourceTx' : 'dualProof.targetTx';
  if (p.startsWith('dualProof.sourceTx.')) return 'dualProof.sourceTx';
  if (p.startsWith('dualProof.targetTx.')) return 'dualProof.targetTx';
  if (p === 'dualProof.inclusionProof') return 'dualProof.inclusion';
  if (p === 'dualProof.consistencyProof') return 'dualProof.consistency';
  if (p === 'dualProof.lastInclusionProof' || p === 'dualProof.targetBlTxAlh') return 'dualProof.lastInclusion';
  if (p.startsWith('dualProof.linearProof')) return 'dualProof.linear';
  if (p.startsWith('state.signature')) return 'signature';
  if (p.startsWith('state.')) return 'state';
  throw new Error(`no expectation for ${p}`);
}

describe('tampering with any field fails with the right check', () => {
  for (const s of [...all, goScenario()]) {
    const cases = leaves(s.bundle).flatMap(({ path, value }) =>
      mutations(path, value).map(([label, v]) => ({ path, label, v, where: `${path.join('.')} (${label})` })),
    );
    it(`${s.name}: ${cases.length} tampered variants`, () => {
      expect(cases.length).toBeGreaterThan(40);
      for (const c of cases) {
        const b = clone(s.bundle);
        setAt(b, c.path, c.v);
        const want = expectedCheck(c.path, s);
        const r = verifyProofBundle(b);
        if (want === 'ok') expect(r.ok, c.where).toBe(true);
        else expect(r.ok ? 'ok' : `${r.check}`, `${c.where}: ${JSON.stringify(r)}`).toBe(want);
      }
    });
  }
});

/** A bundle made only of immudb's own answers (store.DualProof, tx.Proof, pkg/signer). */
function goScenario(): Scenario {
  const d = vectors.store.dualProofs.find((x) => x.source === 32 && x.target === 64)!;
  const tx = vectors.store.txs[63]!;
  return {
    name: 'immudb-made bundle, trusted 32 → tx 64 (signed by immudb)',
    relation: 'below',
    signed: true,
    bundle: {
      format: 'auditgraph.proof.v1',
      ledger: 'immudb',
      database: 'defaultdb',
      entry: tx.entries[2]!,
      tx: tx.header,
      inclusion: { leaf: 2, width: tx.entries.length, terms: tx.proofs[2]! },
      trustedState: { txId: '32', txHash: vectors.store.txs[31]!.alh },
      dualProof: d.proof,
      state: { txId: '64', txHash: tx.alh, signature: { publicKey: d.signature.publicKey, signature: d.signature.signature } },
    },
  };
}

describe('targeted tampering', () => {
  it('a linear proof with one term too many or too few fails even when it would fold', () => {
    const b = clone(nearBelow.bundle);
    // Re-anchoring the linear proof one tx earlier changes every id: the count check catches it first.
    b.dualProof.linearProof.terms = [toHex(txAlh(h(lagged - 2))), ...b.dualProof.linearProof.terms.slice(0, 1), toHex(sha256(Buffer.alloc(1)))];
    expect(verifyProofBundle(b)).toMatchObject({ ok: false, check: 'dualProof.linear' });
    const c = clone(nearBelow.bundle);
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
    b.entry = { key: Buffer.from('forged').toString('base64'), value: Buffer.from('x').toString('base64') };
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
    const forged: TxHeader = { id: 9n, prevAlh: txAlh(alt), ts: 1n, nEntries: 1, eH: tree.root, blTxId: 8n, blRoot: real.aht.root(8) };
    const b: ProofBundle = {
      format: 'auditgraph.proof.v1',
      ledger: 'embedded',
      database: 'defaultdb',
      entry: { key: Buffer.from('k').toString('base64'), value: Buffer.from('v').toString('base64') },
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

  it('headers that link themselves, or are unlinked with a non-zero blRoot, fail (immudb never commits them)', () => {
    // Self-consistent single-tx bundles: the Alh covers the odd fields, so only the invariants object.
    const single = (blTxId: bigint, blRoot: Buffer, withLink: boolean) => {
      const tree = HTree.build([entryDigest(Buffer.from('k'), Buffer.from('v'))]);
      const aht = AHTree.fromLeaves([Buffer.from('x'), Buffer.from('y'), Buffer.from('z')]);
      const tx: TxHeader = { id: 3n, prevAlh: sha256(Buffer.from('p')), ts: 0n, nEntries: 1, eH: tree.root, blTxId, blRoot };
      const store = { aht, header: () => tx };
      const b = buildProofBundle({ ledger: 'embedded', database: 'd', key: Buffer.from('k'), value: Buffer.from('v'), tx, leaf: 0, inclusionTerms: [], trustedTx: tx, store });
      if (withLink) {
        // Make the last-leaf proof pass too, so the invariant is the only objection left.
        b.dualProof.targetBlTxAlh = toHex(Buffer.from('z'.padEnd(32, 'z')));
      }
      return b;
    };
    expect(verifyProofBundle(single(0n, sha256(Buffer.from('r')), false))).toMatchObject({ ok: false, check: 'dualProof.sourceTx', message: expect.stringMatching(/blRoot must be zero/) });
    expect(verifyProofBundle(single(0n, Buffer.alloc(32), false)).ok).toBe(true);
    const selfLinked = single(3n, AHTree.fromLeaves([Buffer.from('x'), Buffer.from('y'), Buffer.from('z'.padEnd(32, 'z'))]).root(3), true);
    expect(verifyProofBundle(selfLinked)).toMatchObject({ ok: false, check: 'dualProof.sourceTx', message: expect.stringMatching(/blTxId 3 >= id 3/) });
  });
});

describe('signature', () => {
  it('an immudb (Go pkg/signer) signature verifies; a signature over another state does not', () => {
    const g = goScenario().bundle;
    expect(verifyProofBundle(g).ok).toBe(true);
    const other = vectors.store.dualProofs.find((x) => x.source === 32 && x.target !== 64)!;
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
      ['compressed key', { publicKey: Buffer.concat([Buffer.of(2 + (pub[64]! & 1)), pub.subarray(1, 33)]).toString('base64'), signature: sig.toString('base64') }],
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
    expect(verifyProofBundle(b, { txId: b.trustedState.txId, txHash: b.trustedState.txHash.toUpperCase() })).toMatchObject({ ok: false, check: 'trustedState' });
    expect(verifyProofBundle(b, { txId: `0${b.trustedState.txId}`, txHash: b.trustedState.txHash })).toMatchObject({ ok: false, check: 'trustedState' });
    expect(verifyProofBundle(b, null as never)).toMatchObject({ ok: false, check: 'trustedState' });
  });
  it('a bundle re-anchored on a state the reader never saw is refused', () => {
    // A self-consistent bundle from another chain passes on its own, but not against our state.
    const other = new TestChain();
    other.grow(50, 2, [0, 1]);
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
  // A two-tx chain high up the id space (blTxId 0: no binary link), where JS numbers would alias.
  const base = 1n << 53n;
  const mk = (id: bigint, prevAlh: Buffer, k: string): { header: TxHeader; tree: HTree } => {
    const tree = HTree.build([entryDigest(Buffer.from(k), Buffer.from('v'))]);
    return { tree, header: { id, prevAlh, ts: -1n, nEntries: 1, eH: tree.root, blTxId: 0n, blRoot: Buffer.alloc(32) } };
  };
  const a = mk(base, sha256(Buffer.from('genesis')), 'a');
  const b2 = mk(base + 1n, txAlh(a.header), 'b');
  const store = {
    aht: chain.aht,
    header: (id: bigint) => (id === base ? a.header : b2.header),
  };
  const bundle = buildProofBundle({
    ledger: 'embedded',
    database: 'defaultdb',
    key: Buffer.from('b'),
    value: Buffer.from('v'),
    tx: b2.header,
    leaf: 0,
    inclusionTerms: [],
    trustedTx: a.header,
    store,
  });

  it('verifies ids 2^53 and 2^53+1 exactly', () => {
    expect(bundle.trustedState.txId).toBe('9007199254740992');
    expect(bundle.tx.id).toBe('9007199254740993');
    expect(verifyProofBundle(bundle)).toMatchObject({ ok: true, state: { txId: '9007199254740993' } });
  });

  it('a tx id that a double would round to the same value still fails', () => {
    const x = clone(bundle);
    x.tx.id = '9007199254740994';
    x.dualProof.targetTx.id = '9007199254740994';
    expect(verifyProofBundle(x).ok).toBe(false);
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
