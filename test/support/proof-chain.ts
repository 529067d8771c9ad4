/**
 * An in-memory immudb-like chain for proof tests: commits txs of (key, value, KV metadata) entries
 * the way immudb's store does (htree over prefixed entry digests of the header version, Alh chain
 * from GENESIS_PREV_ALH, Alhs appended to an AHTree) with a chosen binary-linking lag, and makes
 * proof bundles from it. Also: `toV1Bundle` (the auditgraph.proof.v1 form of a bundle),
 * `ForgedChain` (the GHSA-672p-m5jq-mrh8 linear fake), `verdictWithoutLinking` (what a client
 * without that fix concludes), and the tamper matrix shared by the verifier tests.
 */
import crypto from 'node:crypto';
import { AHTree, ahtLeaf, verifyAhtConsistency, verifyAhtInclusion, verifyAhtLastInclusion } from '../../src/proof/ahtree.ts';
import { buildProofBundle } from '../../src/proof/bundle.ts';
import type { DualProofStore } from '../../src/proof/dual-proof.ts';
import { EMPTY, entryDigest, ZERO_HASH } from '../../src/proof/hashing.ts';
import { HTree, verifyHTreeInclusion } from '../../src/proof/htree.ts';
import { alhOf, GENESIS_PREV_ALH, txAlh, type TxHeader, txHeaderFromJson } from '../../src/proof/tx-header.ts';
import { PROOF_FORMAT_V1, type ProofBundle, type StateSignatureJson, type TxHeaderJson, type TxHeaderJsonV1 } from '../../src/proof/types.ts';

export interface Entry {
  key: Buffer;
  value: Buffer;
  /** KV metadata bytes (only in a v1 tx). */
  metadata?: Buffer;
}

export interface CommitOptions {
  ts?: bigint;
  /** Header version; the chain's default when omitted. */
  version?: 0 | 1;
  /** Tx metadata bytes (only in a v1 header). */
  metadata?: Buffer;
}

export interface BundleOptions {
  txId: number;
  leaf?: number;
  trustedTxId?: number;
  ledger?: ProofBundle['ledger'];
  database?: string;
  signer?: crypto.KeyObject;
}

/** The tree of a tx's entries as the chain commits them. */
export function entryTree(entries: readonly Entry[], version: number): HTree {
  return HTree.build(entries.map((e) => entryDigest(e.key, e.value, version, e.metadata ?? EMPTY)));
}

export class TestChain implements DualProofStore {
  readonly aht = new AHTree();
  private readonly headers: TxHeader[] = [];
  private readonly entryLists: Entry[][] = [];
  private readonly trees: HTree[] = [];

  /** `version`: header version of the txs committed without one (immudb 1.1: 0; 1.2+: 1). */
  constructor(private readonly version: 0 | 1 = 0) {}

  get size(): number {
    return this.headers.length;
  }

  header(id: bigint): TxHeader {
    const h = this.headers[Number(id) - 1];
    if (!h) throw new RangeError(`no tx ${id}`);
    return h;
  }

  entries(id: bigint): readonly Entry[] {
    this.header(id);
    return this.entryLists[Number(id) - 1]!;
  }

  tree(id: bigint): HTree {
    this.header(id);
    return this.trees[Number(id) - 1]!;
  }

  alh(id: bigint): Buffer {
    return txAlh(this.header(id));
  }

  /**
   * `lag`: how many committed txs the binary link is behind (immudb before 1.3.2 linked
   * asynchronously); clamped so blTxId never decreases, as in immudb. 0: every tx links its predecessor.
   */
  commit(entries: Entry[], lag = 0, opts: CommitOptions = {}): TxHeader {
    const id = BigInt(this.size + 1);
    const prev = this.headers[this.size - 1];
    let blTxId = BigInt(Math.max(0, this.size - lag));
    if (prev && blTxId < prev.blTxId) blTxId = prev.blTxId;
    const version = opts.version ?? this.version;
    const tree = entryTree(entries, version);
    const h: TxHeader = {
      id,
      prevAlh: prev ? txAlh(prev) : GENESIS_PREV_ALH,
      ts: opts.ts ?? 1_700_000_000n + id,
      version,
      metadata: opts.metadata ?? EMPTY,
      nEntries: entries.length,
      eH: tree.root,
      blTxId,
      blRoot: blTxId > 0n ? this.aht.root(Number(blTxId)) : ZERO_HASH,
    };
    this.headers.push(h);
    this.entryLists.push(entries);
    this.trees.push(tree);
    this.aht.append(txAlh(h));
    return h;
  }

  /** Commits `n` txs of `perTx` generated entries each, lag cycling through `lags`. */
  grow(n: number, perTx = 1, lags: number[] = [0]): void {
    for (let i = 0; i < n; i++) {
      const id = this.size + 1;
      const es = Array.from({ length: perTx }, (_, e) => ({
        key: Buffer.from(`evt/${id}/${e}`),
        value: Buffer.from(JSON.stringify({ tx: id, e })),
      }));
      this.commit(es, lags[i % lags.length]);
    }
  }

  bundle(opts: BundleOptions): ProofBundle {
    return bundleFromStore(this, opts);
  }
}

interface BundleSource extends DualProofStore {
  entries(id: bigint): readonly Entry[];
  tree(id: bigint): HTree;
}

function bundleFromStore(store: BundleSource, opts: BundleOptions): ProofBundle {
  const id = BigInt(opts.txId);
  const tx = store.header(id);
  const leaf = opts.leaf ?? 0;
  const entry = store.entries(id)[leaf]!;
  const signer = opts.signer;
  return buildProofBundle({
    ledger: opts.ledger ?? 'embedded',
    database: opts.database ?? 'defaultdb',
    key: entry.key,
    value: entry.value,
    ...(entry.metadata ? { metadata: entry.metadata } : {}),
    tx,
    leaf,
    inclusionTerms: store.tree(id).inclusionProof(leaf),
    trustedTx: store.header(BigInt(opts.trustedTxId ?? opts.txId)),
    store,
    ...(signer ? { sign: (payload: Buffer) => signState(signer, payload) } : {}),
  });
}

/** The `auditgraph.proof.v1` form of a v2 bundle: headers without version/metadata, entry without metadata. */
export function toV1Bundle(b: ProofBundle): ProofBundle {
  const header = (h: TxHeaderJson): TxHeaderJsonV1 => {
    if (h.version !== 0 || h.metadata !== '') throw new RangeError(`tx ${h.id}: only v0 headers without metadata have a v1 form`);
    const { version: _v, metadata: _m, ...rest } = h;
    return rest;
  };
  if (b.entry.metadata !== '') throw new RangeError('an entry with metadata has no v1 form');
  // The v1 shape is not ProofBundle's type (which describes what ledgers issue now).
  return {
    ...structuredClone(b),
    format: PROOF_FORMAT_V1,
    entry: { key: b.entry.key, value: b.entry.value },
    tx: header(b.tx),
    dualProof: { ...structuredClone(b.dualProof), sourceTx: header(b.dualProof.sourceTx), targetTx: header(b.dualProof.targetTx) },
  } as unknown as ProofBundle;
}

// ---------------------------------------------------------------------------------------------
// GHSA-672p-m5jq-mrh8 ("linear proof can be faked", fixed in immudb's clients 1.4.1).

/**
 * A server's forgery of a genuine, fully linked chain: tx `fake` gets other entries (its header
 * still links its predecessor, so it looks like any other), the txs after it are re-chained onto
 * its Alh (their inner hashes do not change: prevAlh is outside them), and tx `target` is
 * re-issued with blTxId `linkedTo` < fake, blRoot the genuine tree of that size. Every Alh, tree,
 * last-leaf and linear step of a dual proof from a trusted tx <= linkedTo to the target is then
 * consistent: txs linkedTo+1 .. target are bound by the linear proof alone, which the server
 * computes through its fake. The txs after the target (up to `extendTo`) link their predecessor
 * again, in the server's tree: the genuine Alhs up to the fake, the forged ones from there.
 */
export class ForgedChain implements BundleSource {
  private readonly forged = new Map<bigint, TxHeader>();
  readonly aht = new AHTree();
  readonly fakeEntries: Entry[];
  private readonly fakeTree: HTree;
  private readonly last: number;

  constructor(
    readonly genuine: TestChain,
    readonly spec: { linkedTo: number; fake: number; target: number; extendTo?: number; fakeEntries: Entry[]; fakeMetadata?: Buffer },
  ) {
    const { linkedTo, fake, target } = spec;
    this.last = spec.extendTo ?? target;
    if (!(linkedTo >= 1 && linkedTo < fake && fake < target && target <= this.last && this.last <= genuine.size)) {
      throw new RangeError('need 1 <= linkedTo < fake < target <= extendTo <= size');
    }
    for (let id = 1n; id < BigInt(fake); id++) this.aht.append(genuine.alh(id));
    this.fakeEntries = spec.fakeEntries;
    const real = genuine.header(BigInt(fake));
    this.fakeTree = entryTree(this.fakeEntries, real.version);
    let prev: TxHeader = { ...real, metadata: spec.fakeMetadata ?? real.metadata, nEntries: this.fakeEntries.length, eH: this.fakeTree.root };
    this.forged.set(BigInt(fake), prev);
    this.aht.append(txAlh(prev));
    for (let id = BigInt(fake) + 1n; id <= BigInt(this.last); id++) {
      const h: TxHeader = { ...genuine.header(id), prevAlh: txAlh(prev) };
      if (id === BigInt(target)) {
        h.blTxId = BigInt(linkedTo);
        h.blRoot = this.aht.root(linkedTo);
      } else if (id > BigInt(target)) {
        h.blRoot = this.aht.root(Number(id) - 1);
      }
      this.forged.set(id, h);
      this.aht.append(txAlh(h));
      prev = h;
    }
  }

  header(id: bigint): TxHeader {
    if (id > BigInt(this.last)) throw new RangeError(`no tx ${id} in the forged view`);
    return this.forged.get(id) ?? this.genuine.header(id);
  }

  entries(id: bigint): readonly Entry[] {
    return id === BigInt(this.spec.fake) ? this.fakeEntries : this.genuine.entries(id);
  }

  tree(id: bigint): HTree {
    return id === BigInt(this.spec.fake) ? this.fakeTree : this.genuine.tree(id);
  }

  alh(id: bigint): Buffer {
    return txAlh(this.header(id));
  }

  bundle(opts: BundleOptions): ProofBundle {
    return bundleFromStore(this, opts);
  }
}

/**
 * What a client without the linking rule concludes: immudb's verification of an entry
 * (htree VerifyInclusion of its digest in tx.eH) and store.VerifyDualProof between the trusted
 * Alh and the tx's Alh, restated from immudb's algorithm with the exported primitives, plus the
 * state the bundle hands out. The signature is not looked at. Returns the first failing step, or
 * null when every step holds. Independent of verify.ts's control flow, so it can say whether
 * `dualProof.linking` was the only objection.
 */
export function verdictWithoutLinking(b: ProofBundle): string | null {
  const tx = txHeaderFromJson(b.tx);
  const source = txHeaderFromJson(b.dualProof.sourceTx);
  const target = txHeaderFromJson(b.dualProof.targetTx);
  const hex = (s: string) => Buffer.from(s, 'hex');
  const key = Buffer.from(b.entry.key, 'base64');
  const value = Buffer.from(b.entry.value, 'base64');
  const md = hex((b.entry as { metadata?: string }).metadata ?? '');
  if (b.inclusion.width !== tx.nEntries) return 'entry width';
  if (!verifyHTreeInclusion(b.inclusion.terms.map(hex), b.inclusion.leaf, b.inclusion.width, entryDigest(key, value, tx.version, md), tx.eH)) {
    return 'entry inclusion';
  }
  const trustedId = BigInt(b.trustedState.txId);
  const trustedAlh = hex(b.trustedState.txHash);
  const [sourceAlh, targetAlh] = trustedId <= tx.id ? [trustedAlh, txAlh(tx)] : [txAlh(tx), trustedAlh];
  if (source.id !== (trustedId <= tx.id ? trustedId : tx.id) || target.id !== (trustedId <= tx.id ? tx.id : trustedId)) return 'ids';
  if (!txAlh(source).equals(sourceAlh) || !txAlh(target).equals(targetAlh)) return 'header Alh';
  const dp = b.dualProof;
  const targetBlTxAlh = hex(dp.targetBlTxAlh);
  if (source.id < target.blTxId && !verifyAhtInclusion(dp.inclusionProof.map(hex), source.id, target.blTxId, ahtLeaf(sourceAlh), target.blRoot)) {
    return 'inclusion';
  }
  if (source.blTxId > 0n && !verifyAhtConsistency(dp.consistencyProof.map(hex), source.blTxId, target.blTxId, source.blRoot, target.blRoot)) {
    return 'consistency';
  }
  if (target.blTxId > 0n && !verifyAhtLastInclusion(dp.lastInclusionProof.map(hex), target.blTxId, ahtLeaf(targetBlTxAlh), target.blRoot)) {
    return 'last inclusion';
  }
  // VerifyLinearProof from the later of source and target.blTxId.
  const [from, fromAlh] = source.id < target.blTxId ? [target.blTxId, targetBlTxAlh] : [source.id, sourceAlh];
  const lp = dp.linearProof;
  if (BigInt(lp.sourceTxId) !== from || BigInt(lp.targetTxId) !== target.id || BigInt(lp.terms.length) !== target.id - from + 1n) return 'linear ids';
  let alh: Buffer = hex(lp.terms[0]!);
  if (!alh.equals(fromAlh)) return 'linear start';
  for (const [i, t] of lp.terms.slice(1).entries()) alh = alhOf(from + BigInt(i + 1), alh, hex(t));
  if (!alh.equals(targetAlh)) return 'linear end';
  if (BigInt(b.state.txId) !== target.id || b.state.txHash !== targetAlh.toString('hex')) return 'state';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Tamper matrix: every leaf of a bundle changed, every list shortened and lengthened, and the
// check that must report it.

export type Relation = 'below' | 'same' | 'above';
export interface Scenario {
  name: string;
  relation: Relation;
  signed: boolean;
  bundle: ProofBundle;
}

export type Path = (string | number)[];

export function leaves(v: unknown, path: Path = []): { path: Path; value: unknown }[] {
  if (Array.isArray(v)) return [{ path, value: v }, ...v.flatMap((x, i) => leaves(x, [...path, i]))];
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]));
  return [{ path, value: v }];
}

export function setAt(root: unknown, path: Path, value: unknown): void {
  let o = root as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  o[path[path.length - 1]!] = value;
}

const HASH_RE = /^[0-9a-f]{64}$/;
export const flipHex = (s: string) => s.slice(0, -1) + (s.endsWith('0') ? '1' : '0');
const flipB64 = (s: string) => {
  const b = Buffer.from(s, 'base64');
  if (b.length === 0) return 'AA==';
  const i = Math.floor(b.length / 2);
  b[i] = b[i]! ^ 0x01;
  return b.toString('base64');
};

// Canonical metadata other than what a bundle holds, and a non-canonical one (attribute code 3).
const KV_MD_NONINDEXABLE = '02';
const TX_MD_EXTRA = '01000101';

/** Mutations of one leaf (or list): [label, new value]. */
export function mutations(path: Path, value: unknown): [string, unknown][] {
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
  if (last === 'format') return [['other format', value === PROOF_FORMAT_V1 ? 'auditgraph.proof.v2' : PROOF_FORMAT_V1]];
  if (last === 'ledger') return [['bogus', 'bogus']];
  if (last === 'database') return [['other db', 'otherdb']];
  if (last === 'metadata') {
    const other = path[0] === 'entry' ? KV_MD_NONINDEXABLE : TX_MD_EXTRA;
    const out: [string, unknown][] = [['unknown attribute', '03']];
    if (value !== other) out.push(['other canonical metadata', other]);
    if (value !== '') out.push(['metadata dropped', '']);
    return out;
  }
  if (HASH_RE.test(value)) return [['hex flipped', flipHex(value)]];
  if (/^-?\d+$/.test(value)) return [['+1', String(BigInt(value) + 1n)]];
  return [['base64 bit flipped', flipB64(value)]];
}

/** The check a mutation of `path` to `v` must fail (or 'ok'), for a bundle of scenario `s`. */
export function expectedCheck(path: Path, v: unknown, s: Scenario): string {
  const p = path.filter((x) => typeof x === 'string').join('.');
  const trustedIsSource = s.relation !== 'above';
  const txSide = trustedIsSource ? 'dualProof.targetTx' : 'dualProof.sourceTx';
  const trustedSide = trustedIsSource ? 'dualProof.sourceTx' : 'dualProof.targetTx';
  const v2 = (s.bundle.format as string) !== PROOF_FORMAT_V1;
  if (p === 'format' || p === 'ledger') return 'format';
  if (p === 'database') return s.signed ? 'signature' : 'ok';
  // Header metadata and version: non-canonical is a format error; otherwise the header's binding decides.
  const headerOf = (q: string): TxHeaderJson | undefined =>
    q === 'tx' ? s.bundle.tx : q === 'dualProof.sourceTx' ? s.bundle.dualProof.sourceTx : q === 'dualProof.targetTx' ? s.bundle.dualProof.targetTx : undefined;
  const field = p.split('.').pop()!;
  const h = headerOf(p.slice(0, p.lastIndexOf('.')));
  if (h && v2 && (field === 'metadata' || field === 'version')) {
    const version = field === 'version' ? (v as number) : h.version;
    const metadata = field === 'metadata' ? (v as string) : h.metadata;
    if (version > 1 || metadata === '03' || (version === 0 && metadata !== '')) return 'format';
    // tx.version 0 → 1 changes how the entry digest is computed.
    if (p === 'tx.version') return 'inclusion';
  }
  if (p === 'entry.metadata') {
    if (v === '03' || (s.bundle.tx.version === 0 && v !== '')) return 'entry';
    return 'inclusion';
  }
  if (p.startsWith('entry.') || p.startsWith('inclusion.') || p === 'tx.eH' || p === 'tx.nEntries') return 'inclusion';
  if (p.startsWith('tx.')) return txSide;
  if (p === 'trustedState.txId') return s.relation === 'below' ? 'dualProof.sourceTx' : 'dualProof.targetTx';
  if (p === 'trustedState.txHash') return trustedSide;
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

/** Every mutation of every leaf of `s.bundle`, with the check it must fail. */
export function tamperCases(s: Scenario): { path: Path; v: unknown; where: string; want: string }[] {
  return leaves(s.bundle).flatMap(({ path, value }) =>
    mutations(path, value).map(([label, v]) => ({ path, v, where: `${path.join('.')} (${label})`, want: expectedCheck(path, v, s) })),
  );
}

// ---------------------------------------------------------------------------------------------

/** As immudb's pkg/signer: ECDSA P-256 over sha256(payload), DER signature, uncompressed public key. */
export function signState(privateKey: crypto.KeyObject, payload: Buffer): StateSignatureJson {
  const signature = crypto.sign('sha256', payload, { key: privateKey, dsaEncoding: 'der' });
  const spki = crypto.createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  // The last 65 bytes of a P-256 SPKI are the uncompressed point 0x04 ‖ X ‖ Y.
  return { publicKey: spki.subarray(spki.length - 65).toString('base64'), signature: signature.toString('base64') };
}

export function newSigningKey(): crypto.KeyObject {
  return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

export const clone = <T>(v: T): T => structuredClone(v);
