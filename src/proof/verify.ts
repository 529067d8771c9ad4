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
 * Bundles are parsed by bundle-parse.ts, signatures checked by signature.ts, the dual proof by
 * dual-check.ts (shared with the consistency proofs' verifier, consistency.ts).
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
import { hashList, header, obj, parse, parseEntry, u32, type Parsed } from './bundle-parse.ts';
import { CheckFailed, fail, type CheckName } from './checks.ts';
import { parseHash, parseUint64, toHex } from './codecs.ts';
import { checkDualProof, checkStateSide } from './dual-check.ts';
import { checkKvMetadata, entryDigest } from './hashing.ts';
import { verifyHTreeInclusion, type HTreeFolds } from './htree.ts';
import { checkSignature, stateSignaturePayload } from './signature.ts';
import { txAlh, type TxHeader } from './tx-header.ts';
import { VerifiedTxTree } from './tx-tree.ts';
import { PROOF_FORMAT, type LedgerState, type ProofBundle } from './types.ts';

export { CHECKS, type CheckName } from './checks.ts';

export type VerifyResult = { ok: true; summary: string; txId: string; state: LedgerState } | { ok: false; check: string; message: string };

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
 *
 * With `tree`, the tx's own tree rebuilt from its entries and found to hash to its eH (tx-tree.ts),
 * and if it is the tree of the first bundle's (verified) tx, each shared bundle's inclusion is
 * checked against that tree instead of by folding its proof: its entry's digest input must be the
 * tree's at its leaf (so its digest is that leaf's), and its terms the tree's inclusion proof of
 * that leaf, string by string. A tree's nodes are the hashes of their children up to a root equal
 * to eH, and an inclusion proof of a leaf is the siblings of its path, so such a bundle's proof
 * folds from its entry to eH as its own fold would find (the unit tests pin HTree's proofs to the
 * fold for every leaf of every width up to hundreds). Terms other than the tree's are folded for
 * real, so what they fail is named as without a tree. The first bundle and the last (the right
 * edge, where carried-up nodes shape the path) are still folded in full.
 */
export function assertProofBundlesOfTx(bundles: readonly ProofBundle[], trusted?: LedgerState, tree?: VerifiedTxTree): void {
  const first = bundles[0];
  if (!first) return;
  assertProofBundle(first, trusted);
  let tx: TxHeader | undefined;
  let useTree: VerifiedTxTree | undefined;
  // Parsed inclusion terms by their text, for this call only. parseHash is a pure function of the
  // string, so a term text seen (and accepted) in an earlier bundle of this tx parses to the same
  // bytes here; a term text never seen before is parsed strictly. The bundles of one tx share most
  // of their upper terms (the ledgers hand out the very same strings), so most are parsed once.
  const memo: TxMemo = { terms: new Map(), folds: new Map() };
  const last = bundles.length - 1;
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
      if (tx === undefined) {
        tx = header(first.tx, 'bundle.tx', v2);
        if (tree instanceof VerifiedTxTree && tree.eH.equals(tx.eH) && tree.version === tx.version && tree.width === tx.nEntries) useTree = tree;
      }
      if (useTree && i !== last) checkEntryInTree(b, tx, v2, useTree, memo);
      else checkEntryInclusion(b, tx, v2, memo);
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
  const inclusion = {
    leaf: u32(inc.leaf, 'bundle.inclusion.leaf'),
    width: u32(inc.width, 'bundle.inclusion.width'),
    terms: hashList(inc.terms, 'bundle.inclusion.terms', memo.terms),
  };
  checkInclusion(key, value, metadata, tx, inclusion, memo.folds);
}

/** checkEntryInclusion against the tx's verified tree (see assertProofBundlesOfTx). */
function checkEntryInTree(bundle: ProofBundle, tx: TxHeader, v2: boolean, tree: VerifiedTxTree, memo: TxMemo): void {
  const { key, value, metadata } = parseEntry(bundle.entry, 'bundle.entry', v2);
  checkEntry(key, metadata, tx);
  const inc = obj(bundle.inclusion, 'bundle.inclusion', ['leaf', 'width', 'terms']);
  const leaf = u32(inc.leaf, 'bundle.inclusion.leaf');
  const width = u32(inc.width, 'bundle.inclusion.width');
  const terms = inc.terms;
  if (width !== tx.nEntries || leaf >= width || !Array.isArray(terms) || !tree.isInclusionProofHex(leaf, terms)) {
    // Not the tree's proof: parsed and folded as without a tree, which names what is wrong.
    checkInclusion(key, value, metadata, tx, { leaf, width, terms: hashList(terms, 'bundle.inclusion.terms', memo.terms) }, memo.folds);
  }
  if (!tree.hasEntry(leaf, key, value, metadata)) fail('inclusion', 'entry digest does not reach tx.eH');
}

/** The entry is one immudb can hold in `tx`: a key (of a length v1 digests can count), metadata only in v1, canonical. */
function checkEntry(key: Buffer, metadata: Buffer, tx: TxHeader): void {
  if (key.length === 0) fail('entry', 'empty key');
  if (tx.version === 0 && metadata.length !== 0) fail('entry', 'an entry of a v0 tx has no metadata');
  if (tx.version === 1 && key.length + 1 > 0xffff) fail('entry', 'key too long for a v1 entry digest');
  const why = checkKvMetadata(metadata);
  if (why) fail('entry', `metadata: ${why}`);
}

/** The entry's digest reaches tx.eH through its htree proof (`folds`: see verifyHTreeInclusion). */
function checkInclusion(key: Buffer, value: Buffer, metadata: Buffer, tx: TxHeader, { leaf, width, terms }: Parsed['inclusion'], folds?: HTreeFolds): void {
  if (width !== tx.nEntries) fail('inclusion', `width ${width} != tx.nEntries ${tx.nEntries}`);
  if (leaf >= width) fail('inclusion', `leaf ${leaf} >= width ${width}`);
  if (!verifyHTreeInclusion(terms, leaf, width, entryDigest(key, value, tx.version, metadata), tx.eH, folds)) {
    fail('inclusion', 'entry digest does not reach tx.eH');
  }
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

  checkInclusion(p.key, p.value, p.metadata, p.tx, p.inclusion);

  // Which side is which: the lower id is the source.
  const { dp, trusted, tx } = p;
  const trustedIsSource = trusted.txId <= tx.id;
  if (trustedIsSource) {
    checkStateSide(dp.source, trusted, 'trustedState', 'dualProof.sourceTx');
    checkTxSide(dp.target, tx, 'dualProof.targetTx');
  } else {
    checkTxSide(dp.source, tx, 'dualProof.sourceTx');
    checkStateSide(dp.target, trusted, 'trustedState', 'dualProof.targetTx');
  }
  const sourceAlh = trustedIsSource ? trusted.txHash : txAlh(tx);
  const targetAlh = trustedIsSource ? txAlh(tx) : trusted.txHash;
  checkDualProof(dp, sourceAlh, targetAlh);

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

function checkTxSide(h: TxHeader, tx: TxHeader, check: CheckName): void {
  for (const f of ['id', 'ts', 'version', 'nEntries', 'blTxId'] as const) {
    if (h[f] !== tx[f]) fail(check, `${f} ${h[f]} != tx.${f} ${tx[f]}`);
  }
  for (const f of ['prevAlh', 'metadata', 'eH', 'blRoot'] as const) {
    if (!h[f].equals(tx[f])) fail(check, `${f} differs from tx.${f}`);
  }
}

/** Key bytes as a quoted one-line string (the summary must stay one line whatever the key holds). */
function printableKey(b: Buffer): string {
  return `"${escapeBytes(b, 120)}"`;
}

/** Printable ASCII as is (quote and backslash escaped), everything else \xNN; long input cut with …. */
export function escapeBytes(b: Buffer, max: number): string {
  let s = '';
  for (const c of b.subarray(0, max)) {
    if (c === 0x22 || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return b.length > max ? `${s}…` : s;
}
