/**
 * Offline verifier for `auditgraph.proof.v2` and `auditgraph.proof.v1` bundles (api-contract.md,
 * "Proof bundle"): the arithmetic of immudb's VerifiableGet / VerifiableTxById client checks for
 * v0 headers (immudb 1.1, and 1.2+ in compatibility mode) and v1 headers (immudb 1.2+), made
 * strict, with the linear-proof hole of immudb's clients before 1.4.1 (GHSA-672p-m5jq-mrh8)
 * closed by requiring every tx of a dual proof to link its predecessor. A v1 bundle is read as
 * v0 headers without metadata. Pure: depends on node:crypto only.
 *
 * Public surface:
 * - `verifyProofBundle(bundle: unknown, trusted?: LedgerState): VerifyResult` never throws.
 * - `assertProofBundle(bundle, trusted?)` returns the ok result or throws `verificationFailed(check)`.
 * - `VerifyResult`, `CHECKS` / `CheckName` (the stable check names).
 *
 * Checks, in the order they run (the first failure is reported):
 * - `format`          shape and encodings: every field present with its type, no unknown field,
 *                     hashes 64 lowercase hex, ids canonical decimal uint64 (ts int64), base64
 *                     canonical, tx ids >= 1, nEntries/leaf/width integers in uint32 range; in v2
 *                     header version 0 or 1, metadata canonical TxMetadata bytes (none in v0, and
 *                     a v0 header holds < 65,536 entries).
 * - `trustedState`    the `trusted` argument (when given) is well-formed and equals bundle.trustedState.
 * - `entry`           the entry is one immudb can hold (non-empty key); its metadata (v2) canonical
 *                     KVMetadata bytes, none in a v0 tx.
 * - `inclusion`       entry digest (with immudb's 0x00 key/value prefixes, for tx.version) reaches tx.eH through
 *                     the htree proof; width == tx.nEntries, leaf < width, exact term count.
 * - `dualProof.sourceTx` / `dualProof.targetTx`
 *                     the lower of (trustedState, tx) is the source. The trusted side's header
 *                     must hash (Alh) to trustedState.txHash with id trustedState.txId; the tx side's
 *                     header must equal bundle.tx field by field.
 * - `dualProof.linking` both headers link their predecessor: blTxId == id − 1 (blRoot all-zero for
 *                     tx 1). immudb 1.1 servers (MaxLinearProofLen 0) and 1.3.2+ always do. Without
 *                     it the linear proof from target.blTxId could run through txs no tree commits
 *                     to, and a server could fake them (GHSA-672p-m5jq-mrh8); with it the linear
 *                     proof is at most two terms, both bound by the trees and the target header.
 * - `dualProof.inclusion`     source Alh is leaf source.id of target.blRoot (when source.id < target.blTxId; else empty).
 * - `dualProof.consistency`   source.blRoot is a prefix of target.blRoot (when source.blTxId > 0; else empty).
 * - `dualProof.lastInclusion` targetBlTxAlh is the last leaf of target.blRoot (when target.blTxId > 0;
 *                             else empty and targetBlTxAlh all-zero); equals the source Alh when
 *                             source.id == target.blTxId.
 * - `dualProof.linear`        from max(source.id, target.blTxId) to target.id: ids match, exactly
 *                             target − start + 1 terms, first term the start Alh, folds to target Alh.
 * - `state`           state.txId == max(tx.id, trustedState.txId), state.txHash == target Alh.
 * - `signature`       null allowed; otherwise ECDSA P-256 / SHA-256 over immudb's
 *                     ImmutableState.ToBytes (u32 len(db) ‖ db ‖ u64 txId ‖ txHash), key an
 *                     uncompressed point, signature DER (as pkg/signer).
 *
 * Stricter than immudb: exact proof lengths everywhere, zeroed targetBlTxAlh/blRoot when unused,
 * DER signatures without trailing bytes. `database` and `ledger` are covered only by a signature.
 */
import crypto from 'node:crypto';
import { verificationFailed } from '../errors.ts';
import {
  ahtLeaf,
  verifyAhtConsistency,
  verifyAhtInclusion,
  verifyAhtLastInclusion,
} from './ahtree.ts';
import {
  alhOf,
  checkKvMetadata,
  checkTxHeaderVersion,
  EMPTY,
  entryDigest,
  HASH_MSG,
  isUint32,
  parseHex,
  parseBase64,
  parseHash,
  parseInt64,
  parseUint64,
  stateSignaturePayload,
  toHex,
  txAlh,
  verifyHTreeInclusion,
  ZERO_HASH,
  type HTreeFolds,
  type TxHeader,
} from './hashing.ts';
import { PROOF_FORMAT, PROOF_FORMAT_V1, type LedgerState, type ProofBundle } from './types.ts';

export type VerifyResult =
  | { ok: true; summary: string; txId: string; state: LedgerState }
  | { ok: false; check: string; message: string };

export const CHECKS = [
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
] as const;
export type CheckName = (typeof CHECKS)[number];

class CheckFailed extends Error {
  constructor(
    readonly check: CheckName,
    message: string,
  ) {
    super(message);
  }
}

const fail = (check: CheckName, message: string): never => {
  throw new CheckFailed(check, message);
};

export function verifyProofBundle(bundle: unknown, trusted?: LedgerState): VerifyResult {
  try {
    return verify(bundle, trusted);
  } catch (e) {
    if (e instanceof CheckFailed) return { ok: false, check: e.check, message: e.message };
    // Anything else (a bug, or a hostile object with throwing getters) is still a rejection.
    return { ok: false, check: 'format', message: `unverifiable bundle: ${(e as Error)?.message ?? String(e)}` };
  }
}

export function assertProofBundle(bundle: unknown, trusted?: LedgerState): Extract<VerifyResult, { ok: true }> {
  const r = verifyProofBundle(bundle, trusted);
  if (!r.ok) throw verificationFailed(r.check, new Error(`${r.check}: ${r.message}`));
  return r;
}

/**
 * Verifies the bundles of one transaction, as a ledger hands them out after a commit. Bundles that
 * share the very same `tx`, `trustedState`, `dualProof` and `state` objects as the first (the
 * ledgers build them so) have that link verified once, with the first bundle, in full; each of
 * them is then checked only for its own entry and its inclusion in `tx.eH`. Any bundle that does
 * not share them is verified in full. Throws VERIFICATION_FAILED like assertProofBundle.
 */
export function assertProofBundlesOfTx(bundles: readonly ProofBundle[], trusted?: LedgerState): void {
  const first = bundles[0];
  if (!first) return;
  assertProofBundle(first, trusted);
  let tx: TxHeader | undefined;
  // Parsed inclusion terms by their text, for this call only. parseHash is a pure function of the
  // string, so a term text seen (and accepted) in an earlier bundle of this tx parses to the same
  // bytes here; a term text never seen before is parsed strictly. The bundles of one tx share most
  // of their upper terms (the ledgers hand out the very same strings), so most are parsed once.
  const memo: TxMemo = { terms: new Map(), folds: new Map() };
  for (let i = 1; i < bundles.length; i++) {
    const b = bundles[i]!;
    const shared =
      b.tx === first.tx &&
      b.trustedState === first.trustedState &&
      b.dualProof === first.dualProof &&
      b.state === first.state &&
      b.format === first.format &&
      b.ledger === first.ledger &&
      b.database === first.database;
    if (!shared) {
      assertProofBundle(b, trusted);
      continue;
    }
    try {
      const v2 = first.format === PROOF_FORMAT;
      tx ??= header(first.tx, 'bundle.tx', v2);
      checkEntryInclusion(b, tx, v2, memo);
    } catch (e) {
      if (e instanceof CheckFailed) throw verificationFailed(e.check, new Error(`${e.check}: ${e.message}`));
      throw verificationFailed('format', e);
    }
  }
}

/**
 * What the checks of one assertProofBundlesOfTx call remember, for the bundles of that call only
 * (all of them share one tx, so one width and one tx.eH).
 * - `terms`: parsed inclusion terms by their text (parseHash is a pure function of the string).
 * - `folds`: states of the htree fold that went on to reach tx.eH, by (i, r, calc); each with the
 *   terms that were left to fold from there.
 */
interface TxMemo {
  terms: Map<string, Buffer>;
  folds: HTreeFolds;
}

function checkEntryInclusion(bundle: ProofBundle, tx: TxHeader, v2: boolean, memo: TxMemo): void {
  const { key, value, metadata } = parseEntry(bundle.entry, 'bundle.entry', v2);
  checkEntry(key, metadata, tx);
  const inc = obj(bundle.inclusion, 'bundle.inclusion', ['leaf', 'width', 'terms']);
  const leaf = u32(inc.leaf, 'bundle.inclusion.leaf');
  const width = u32(inc.width, 'bundle.inclusion.width');
  if (width !== tx.nEntries) fail('inclusion', `width ${width} != tx.nEntries ${tx.nEntries}`);
  if (leaf >= width) fail('inclusion', `leaf ${leaf} >= width ${width}`);
  if (!verifyHTreeInclusion(hashList(inc.terms, 'bundle.inclusion.terms', memo.terms), leaf, width, entryDigest(key, value, tx.version, metadata), tx.eH, memo.folds)) {
    fail('inclusion', 'entry digest does not reach tx.eH');
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing: everything is decoded once, strictly, before any hash is computed.

interface Parsed {
  ledger: string;
  database: string;
  key: Buffer;
  value: Buffer;
  /** KVMetadata bytes of the entry (always empty in a v1 bundle). */
  metadata: Buffer;
  tx: TxHeader;
  inclusion: { leaf: number; width: number; terms: Buffer[] };
  trusted: { txId: bigint; txHash: Buffer };
  dp: {
    source: TxHeader;
    target: TxHeader;
    inclusion: Buffer[];
    consistency: Buffer[];
    targetBlTxAlh: Buffer;
    lastInclusion: Buffer[];
    linear: { sourceTxId: bigint; targetTxId: bigint; terms: Buffer[] };
  };
  state: { txId: bigint; txHash: Buffer; signature: { publicKey: Buffer; signature: Buffer } | null };
}

const formatFail = (path: string, why: string): never => fail('format', `${path}: ${why}`);

/** A plain JSON-like object with exactly these keys (own, enumerable; no prototype tricks). */
function obj(v: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return formatFail(path, 'expected an object');
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) formatFail(path, 'expected a plain object');
  const own = Object.keys(v);
  for (const k of own) if (!keys.includes(k)) formatFail(path, `unknown field "${k}"`);
  for (const k of keys) if (!Object.prototype.hasOwnProperty.call(v, k)) formatFail(path, `missing field "${k}"`);
  if (Object.getOwnPropertySymbols(v).length > 0) formatFail(path, 'unexpected symbol keys');
  return v as Record<string, unknown>;
}

const hash = (v: unknown, path: string): Buffer => parseHash(v) ?? formatFail(path, HASH_MSG);
const u64 = (v: unknown, path: string): bigint => parseUint64(v) ?? formatFail(path, 'expected a canonical decimal uint64 string');
const txId = (v: unknown, path: string): bigint => {
  const id = u64(v, path);
  return id >= 1n ? id : formatFail(path, 'tx ids start at 1');
};
const u32 = (v: unknown, path: string): number => (isUint32(v) ? v : formatFail(path, 'expected an integer in [0, 2^32-1]'));
const b64 = (v: unknown, path: string): Buffer => parseBase64(v) ?? formatFail(path, 'expected canonical padded base64');

/**
 * With `parsed`, terms already parsed (by their text) are looked up rather than parsed again: the
 * bundles of one tx share most of their terms, and parsing is a pure function of the string.
 */
function hashList(v: unknown, path: string, parsed?: Map<string, Buffer>): Buffer[] {
  if (!Array.isArray(v)) return formatFail(path, 'expected an array of hashes');
  // Index-based so holes in a sparse array count as bad entries, not as skipped ones.
  const out: Buffer[] = [];
  for (let i = 0; i < v.length; i++) {
    const t: unknown = v[i];
    // Only strings are looked up (anything else, holes included, goes through `hash` and fails there).
    let h = parsed && typeof t === 'string' ? parsed.get(t) : undefined;
    if (h === undefined) {
      h = hash(t, `${path}[${i}]`);
      parsed?.set(t as string, h);
    }
    out.push(h);
  }
  return out;
}

function wellFormedString(v: unknown, path: string): string {
  if (typeof v !== 'string') return formatFail(path, 'expected a string');
  // Lone surrogates would be signed as U+FFFD: reject so the signed bytes are the shown text.
  if (Buffer.from(v, 'utf8').toString('utf8') !== v) formatFail(path, 'not well-formed Unicode');
  return v;
}

const HEADER_KEYS_V1 = ['id', 'prevAlh', 'ts', 'nEntries', 'eH', 'blTxId', 'blRoot'] as const;
const HEADER_KEYS_V2 = ['id', 'prevAlh', 'ts', 'version', 'metadata', 'nEntries', 'eH', 'blTxId', 'blRoot'] as const;

/** A header of a v2 bundle (`v2`) or of a v1 bundle (v0, no metadata). */
function header(v: unknown, path: string, v2: boolean): TxHeader {
  const o = obj(v, path, v2 ? HEADER_KEYS_V2 : HEADER_KEYS_V1);
  const nEntries = u32(o.nEntries, `${path}.nEntries`);
  if (nEntries < 1) formatFail(`${path}.nEntries`, 'a tx holds at least one entry');
  let version = 0;
  let metadata = EMPTY;
  if (v2) {
    metadata = parseHex(o.metadata) ?? formatFail(`${path}.metadata`, 'expected lowercase hex');
    const why = checkTxHeaderVersion(o.version, metadata, nEntries);
    if (why) formatFail(`${path}.${why.field}`, why.message);
    version = o.version as number;
  }
  return {
    id: txId(o.id, `${path}.id`),
    prevAlh: hash(o.prevAlh, `${path}.prevAlh`),
    ts: parseInt64(o.ts) ?? formatFail(`${path}.ts`, 'expected a canonical decimal int64 string'),
    version,
    metadata,
    nEntries,
    eH: hash(o.eH, `${path}.eH`),
    blTxId: u64(o.blTxId, `${path}.blTxId`),
    blRoot: hash(o.blRoot, `${path}.blRoot`),
  };
}

/** An entry: key and value (base64), and in v2 its KV metadata (hex; empty in a v1 bundle). */
function parseEntry(v: unknown, path: string, v2: boolean): { key: Buffer; value: Buffer; metadata: Buffer } {
  const e = obj(v, path, v2 ? ['key', 'value', 'metadata'] : ['key', 'value']);
  return {
    key: b64(e.key, `${path}.key`),
    value: b64(e.value, `${path}.value`),
    metadata: v2 ? (parseHex(e.metadata) ?? formatFail(`${path}.metadata`, 'expected lowercase hex')) : EMPTY,
  };
}

/** The entry is one immudb can hold in `tx`: a key (of a length v1 digests can count), metadata only in v1, canonical. */
function checkEntry(key: Buffer, metadata: Buffer, tx: TxHeader): void {
  if (key.length === 0) fail('entry', 'empty key');
  if (tx.version === 0 && metadata.length !== 0) fail('entry', 'an entry of a v0 tx has no metadata');
  if (tx.version === 1 && key.length + 1 > 0xffff) fail('entry', 'key too long for a v1 entry digest');
  const why = checkKvMetadata(metadata);
  if (why) fail('entry', `metadata: ${why}`);
}

function parse(bundle: unknown): Parsed {
  const b = obj(bundle, 'bundle', [
    'format',
    'ledger',
    'database',
    'entry',
    'tx',
    'inclusion',
    'trustedState',
    'dualProof',
    'state',
  ]);
  if (b.format !== PROOF_FORMAT && b.format !== PROOF_FORMAT_V1) formatFail('format', `expected "${PROOF_FORMAT}" or "${PROOF_FORMAT_V1}"`);
  const v2 = b.format === PROOF_FORMAT;
  if (b.ledger !== 'immudb' && b.ledger !== 'embedded') formatFail('ledger', 'expected "immudb" or "embedded"');
  const database = wellFormedString(b.database, 'database');
  if (database.length === 0) formatFail('database', 'empty');

  const entry = parseEntry(b.entry, 'entry', v2);
  const incl = obj(b.inclusion, 'inclusion', ['leaf', 'width', 'terms']);
  const ts = obj(b.trustedState, 'trustedState', ['txId', 'txHash']);
  const dp = obj(b.dualProof, 'dualProof', [
    'sourceTx',
    'targetTx',
    'inclusionProof',
    'consistencyProof',
    'targetBlTxAlh',
    'lastInclusionProof',
    'linearProof',
  ]);
  const lp = obj(dp.linearProof, 'dualProof.linearProof', ['sourceTxId', 'targetTxId', 'terms']);
  const st = obj(b.state, 'state', ['txId', 'txHash', 'signature']);
  let signature: Parsed['state']['signature'] = null;
  if (st.signature !== null) {
    const sig = obj(st.signature, 'state.signature', ['publicKey', 'signature']);
    signature = {
      publicKey: b64(sig.publicKey, 'state.signature.publicKey'),
      signature: b64(sig.signature, 'state.signature.signature'),
    };
  }

  return {
    ledger: b.ledger as string,
    database,
    ...entry,
    tx: header(b.tx, 'tx', v2),
    inclusion: {
      leaf: u32(incl.leaf, 'inclusion.leaf'),
      width: u32(incl.width, 'inclusion.width'),
      terms: hashList(incl.terms, 'inclusion.terms'),
    },
    trusted: { txId: txId(ts.txId, 'trustedState.txId'), txHash: hash(ts.txHash, 'trustedState.txHash') },
    dp: {
      source: header(dp.sourceTx, 'dualProof.sourceTx', v2),
      target: header(dp.targetTx, 'dualProof.targetTx', v2),
      inclusion: hashList(dp.inclusionProof, 'dualProof.inclusionProof'),
      consistency: hashList(dp.consistencyProof, 'dualProof.consistencyProof'),
      targetBlTxAlh: hash(dp.targetBlTxAlh, 'dualProof.targetBlTxAlh'),
      lastInclusion: hashList(dp.lastInclusionProof, 'dualProof.lastInclusionProof'),
      linear: {
        sourceTxId: txId(lp.sourceTxId, 'dualProof.linearProof.sourceTxId'),
        targetTxId: txId(lp.targetTxId, 'dualProof.linearProof.targetTxId'),
        terms: hashList(lp.terms, 'dualProof.linearProof.terms'),
      },
    },
    state: { txId: txId(st.txId, 'state.txId'), txHash: hash(st.txHash, 'state.txHash'), signature },
  };
}

// ---------------------------------------------------------------------------------------------

function verify(bundle: unknown, trustedArg: LedgerState | undefined): VerifyResult {
  const p = parse(bundle);

  if (trustedArg !== undefined) {
    const id = parseUint64(trustedArg?.txId);
    const h = parseHash(trustedArg?.txHash);
    if (id === undefined || id < 1n || h === undefined) fail('trustedState', 'the given trusted state is malformed');
    if (id !== p.trusted.txId || !h!.equals(p.trusted.txHash)) {
      fail('trustedState', `bundle starts from tx ${p.trusted.txId}, not from the trusted state tx ${id}`);
    }
  }

  checkEntry(p.key, p.metadata, p.tx);

  // Entry → tx.eH.
  const { leaf, width, terms } = p.inclusion;
  if (width !== p.tx.nEntries) fail('inclusion', `width ${width} != tx.nEntries ${p.tx.nEntries}`);
  if (leaf >= width) fail('inclusion', `leaf ${leaf} >= width ${width}`);
  if (!verifyHTreeInclusion(terms, leaf, width, entryDigest(p.key, p.value, p.tx.version, p.metadata), p.tx.eH)) {
    fail('inclusion', 'entry digest does not reach tx.eH');
  }

  // Which side is which: the lower id is the source.
  const { dp, trusted, tx } = p;
  const trustedIsSource = trusted.txId <= tx.id;
  if (trustedIsSource) {
    checkTrustedSide(dp.source, trusted, 'dualProof.sourceTx');
    checkTxSide(dp.target, tx, 'dualProof.targetTx');
  } else {
    checkTxSide(dp.source, tx, 'dualProof.sourceTx');
    checkTrustedSide(dp.target, trusted, 'dualProof.targetTx');
  }
  checkLinking(dp.source, 'source');
  checkLinking(dp.target, 'target');
  const sourceAlh = trustedIsSource ? trusted.txHash : txAlh(tx);
  const targetAlh = trustedIsSource ? txAlh(tx) : trusted.txHash;
  verifyDual(p, sourceAlh, targetAlh);

  // The state the bundle hands out is the dual proof's target.
  const stateTxId = trustedIsSource ? tx.id : trusted.txId;
  if (p.state.txId !== stateTxId) fail('state', `state.txId ${p.state.txId} != ${stateTxId}`);
  if (!p.state.txHash.equals(targetAlh)) fail('state', `state.txHash is not the Alh of tx ${stateTxId}`);

  let signedBy = 'unsigned';
  if (p.state.signature) {
    const payload = stateSignaturePayload(p.database, p.state.txId, p.state.txHash);
    checkSignature(payload, p.state.signature.publicKey, p.state.signature.signature);
    signedBy = `signed by key ${crypto.createHash('sha256').update(p.state.signature.publicKey).digest('hex').slice(0, 16)}`;
  }

  const state = { txId: p.state.txId.toString(), txHash: toHex(p.state.txHash) };
  const summary =
    `valid: entry ${printableKey(p.key)} in tx ${tx.id} (${p.ledger} ${escapeBytes(Buffer.from(p.database, 'utf8'), 120)}), ` +
    `linked to trusted tx ${trusted.txId}, state tx ${state.txId}, ${signedBy}`;
  return { ok: true, summary, txId: tx.id.toString(), state };
}

function checkTrustedSide(h: TxHeader, trusted: Parsed['trusted'], check: CheckName): void {
  if (h.id !== trusted.txId) fail(check, `id ${h.id} != trustedState.txId ${trusted.txId}`);
  if (!txAlh(h).equals(trusted.txHash)) fail(check, `header does not hash to trustedState.txHash`);
}

function checkTxSide(h: TxHeader, tx: TxHeader, check: CheckName): void {
  for (const f of ['id', 'ts', 'version', 'nEntries', 'blTxId'] as const) {
    if (h[f] !== tx[f]) fail(check, `${f} ${h[f]} != tx.${f} ${tx[f]}`);
  }
  for (const f of ['prevAlh', 'metadata', 'eH', 'blRoot'] as const) {
    if (!h[f].equals(tx[f])) fail(check, `${f} differs from tx.${f}`);
  }
}

/** Every tx links its predecessor (see `dualProof.linking` above); tx 1 links nothing, so its blRoot is zero. */
function checkLinking(h: TxHeader, side: 'source' | 'target'): void {
  if (h.blTxId !== h.id - 1n) {
    fail('dualProof.linking', `${side} tx ${h.id} links tx ${h.blTxId}, not its predecessor: a linear proof over unlinked txs can be faked (GHSA-672p-m5jq-mrh8)`);
  }
  if (h.blTxId === 0n && !h.blRoot.equals(ZERO_HASH)) fail('dualProof.linking', `${side} tx 1: blRoot must be zero`);
}

/** store.VerifyDualProof with sourceTxID/targetTxID taken from the headers already bound above. */
function verifyDual(p: Parsed, sourceAlh: Buffer, targetAlh: Buffer): void {
  const { source, target } = p.dp;
  const dp = p.dp;

  if (source.id < target.blTxId) {
    if (!verifyAhtInclusion(dp.inclusion, source.id, target.blTxId, ahtLeaf(sourceAlh), target.blRoot)) {
      fail('dualProof.inclusion', `source tx ${source.id} is not leaf ${source.id} of target.blRoot (size ${target.blTxId})`);
    }
  } else if (dp.inclusion.length !== 0) {
    fail('dualProof.inclusion', 'must be empty when source.id >= target.blTxId');
  }

  if (source.blTxId > target.blTxId) fail('dualProof.consistency', `source.blTxId ${source.blTxId} > target.blTxId ${target.blTxId}`);
  if (source.blTxId > 0n) {
    if (!verifyAhtConsistency(dp.consistency, source.blTxId, target.blTxId, source.blRoot, target.blRoot)) {
      fail('dualProof.consistency', `source.blRoot (size ${source.blTxId}) is not a prefix of target.blRoot (size ${target.blTxId})`);
    }
  } else if (dp.consistency.length !== 0) {
    fail('dualProof.consistency', 'must be empty when source.blTxId is 0');
  }

  if (target.blTxId > 0n) {
    if (!verifyAhtLastInclusion(dp.lastInclusion, target.blTxId, ahtLeaf(dp.targetBlTxAlh), target.blRoot)) {
      fail('dualProof.lastInclusion', `targetBlTxAlh is not the last leaf of target.blRoot (size ${target.blTxId})`);
    }
    if (source.id === target.blTxId && !dp.targetBlTxAlh.equals(sourceAlh)) {
      fail('dualProof.lastInclusion', 'targetBlTxAlh differs from the source Alh of the same tx');
    }
  } else {
    if (dp.lastInclusion.length !== 0) fail('dualProof.lastInclusion', 'must be empty when target.blTxId is 0');
    if (!dp.targetBlTxAlh.equals(ZERO_HASH)) fail('dualProof.lastInclusion', 'targetBlTxAlh must be zero when target.blTxId is 0');
  }

  // Linear part: from whichever of source / target.blTxId is later, up to the target.
  const fromLinked = source.id < target.blTxId;
  const start = fromLinked ? target.blTxId : source.id;
  const startAlh = fromLinked ? dp.targetBlTxAlh : sourceAlh;
  const lp = dp.linear;
  if (lp.sourceTxId !== start) fail('dualProof.linear', `sourceTxId ${lp.sourceTxId} != ${start}`);
  if (lp.targetTxId !== target.id) fail('dualProof.linear', `targetTxId ${lp.targetTxId} != ${target.id}`);
  const expected = target.id - start + 1n;
  if (BigInt(lp.terms.length) !== expected) fail('dualProof.linear', `${lp.terms.length} terms, expected ${expected}`);
  if (!lp.terms[0]!.equals(startAlh)) fail('dualProof.linear', `first term is not the Alh of tx ${start}`);
  let alh: Buffer = lp.terms[0]!;
  for (let i = 1; i < lp.terms.length; i++) alh = alhOf(start + BigInt(i), alh, lp.terms[i]!);
  if (!alh.equals(targetAlh)) fail('dualProof.linear', `does not reach the Alh of tx ${target.id}`);
}

// ---------------------------------------------------------------------------------------------
// Signature (pkg/signer): DER SEQUENCE { r INTEGER, s INTEGER } over sha256(payload), P-256.

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
// SubjectPublicKeyInfo header for an uncompressed P-256 point (id-ecPublicKey, prime256v1).
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

function checkSignature(payload: Buffer, publicKey: Buffer, signature: Buffer): void {
  // elliptic.Unmarshal accepts only the uncompressed form.
  if (publicKey.length !== 65 || publicKey[0] !== 0x04) fail('signature', 'public key is not an uncompressed P-256 point');
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: Buffer.concat([P256_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  } catch {
    return fail('signature', 'public key is not a point on P-256');
  }
  const rs = parseDerSignature(signature) ?? fail('signature', 'signature is not a DER ECDSA signature');
  if (!crypto.verify('sha256', payload, { key, dsaEncoding: 'ieee-p1363' }, rs)) {
    fail('signature', 'signature does not match the state');
  }
}

/** Strict DER: minimal lengths and integers, 0 < r, s < n, nothing after. Returns r ‖ s (64 bytes). */
function parseDerSignature(der: Buffer): Buffer | undefined {
  let pos = 0;
  const byte = () => (pos < der.length ? der[pos++]! : -1);
  const len = (): number => {
    const l = byte();
    // Every valid P-256 signature fits short-form lengths (< 128).
    return l >= 0 && l < 0x80 ? l : -1;
  };
  const int = (): bigint | undefined => {
    if (byte() !== 0x02) return undefined;
    const l = len();
    if (l < 1 || pos + l > der.length) return undefined;
    const bytes = der.subarray(pos, pos + l);
    pos += l;
    if (bytes[0]! & 0x80) return undefined; // negative
    if (l > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) return undefined; // non-minimal
    const v = BigInt(`0x${bytes.toString('hex')}`);
    return v > 0n && v < P256_N ? v : undefined;
  };
  if (byte() !== 0x30) return undefined;
  const seqLen = len();
  if (seqLen < 0 || pos + seqLen !== der.length) return undefined;
  const r = int();
  const s = int();
  if (r === undefined || s === undefined || pos !== der.length) return undefined;
  const out = Buffer.alloc(64);
  out.write(r.toString(16).padStart(64, '0'), 0, 'hex');
  out.write(s.toString(16).padStart(64, '0'), 32, 'hex');
  return out;
}

/** Key bytes as a quoted one-line string (the summary must stay one line whatever the key holds). */
function printableKey(b: Buffer): string {
  return `"${escapeBytes(b, 120)}"`;
}

/** Printable ASCII as is (quote and backslash escaped), everything else \xNN; long input cut with …. */
function escapeBytes(b: Buffer, max: number): string {
  let s = '';
  for (const c of b.subarray(0, max)) {
    if (c === 0x22 || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return b.length > max ? `${s}…` : s;
}
