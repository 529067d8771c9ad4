/**
 * A tx as immudb proves it (VerifiableTxById from the trusted state), and the proof bundles of its
 * entries, built with proof/bundle.ts. The immudb ledger verifies every bundle before anyone sees
 * it (immudb-ledger.ts).
 */
import { AuditError, verificationFailed } from '../../errors.ts';
import { entryBundle, proofLink, type ProofLink } from '../../proof/bundle.ts';
import { toHex } from '../../proof/codecs.ts';
import { HASH_SIZE, SET_KEY_PREFIX } from '../../proof/hashing.ts';
import { checkTxHeaderVersion, txHeaderToJson, type TxHeader } from '../../proof/tx-header.ts';
import { VerifiedTxTree } from '../../proof/tx-tree.ts';
import { deepFreeze, type DualProofJson, type LedgerState, type ProofBundle } from '../../proof/types.ts';
import type { ImmudbSession } from './grpc.ts';
import { decodeVerifiableTx, type WireDualProof, type WireTxHeader, type WireVerifiableTx } from './wire-decode.ts';
import { encodeVerifiableTxHeaderRequest, encodeVerifiableTxRequest } from './wire-encode.ts';

export interface ProvenTx {
  vtx: WireVerifiableTx;
  /** The tx's tree from its entries, its root checked against the header's eH. */
  tree: VerifiedTxTree;
  /**
   * Index of the first entry of the tx by its key as immudb stores it (with its one-byte prefix),
   * as a latin1 string; built the first time an entry is looked for without a right guess.
   */
  keyIndex?: Map<string, number>;
  /** The tx's id and commit time as StoredEvent gives them, once the first event asked. */
  committed?: { txId: string; recordedAt: string };
}

/** VerifiableTxById of `txId` from tx `sinceTxId` (the tx itself on first use), its header checked. */
export async function fetchVerifiableTx(session: ImmudbSession, txId: number, sinceTxId: number): Promise<WireVerifiableTx> {
  const vtx = await verifiableTx(session, txId, sinceTxId, encodeVerifiableTxRequest(txId, sinceTxId));
  checkProvenHeader(vtx.header);
  return vtx;
}

/** A dual proof between two txs as immudb gives it, its headers checked: source the lower, target the higher. */
export interface ProvenLink {
  source: TxHeader;
  target: TxHeader;
  dualProof: DualProofJson;
}

/**
 * The dual proof between tx `txId` and tx `sinceTxId` (either order), from VerifiableTxById
 * without the tx's entries: what proofs between two states need. Checked by the caller.
 */
export async function fetchProvenLink(session: ImmudbSession, txId: number, sinceTxId: number): Promise<ProvenLink> {
  const { dualProof } = await verifiableTx(session, txId, sinceTxId, encodeVerifiableTxHeaderRequest(txId, sinceTxId));
  checkProvenHeader(dualProof.sourceTx);
  checkProvenHeader(dualProof.targetTx);
  return { source: txHeader(dualProof.sourceTx), target: txHeader(dualProof.targetTx), dualProof: dualProofJson(dualProof) };
}

async function verifiableTx(session: ImmudbSession, txId: number, sinceTxId: number, request: Buffer): Promise<WireVerifiableTx> {
  try {
    return decodeVerifiableTx(await session.callBytes('VerifiableTxById', request));
  } catch (e) {
    // immudb refuses a proof from a tx it does not have: our trusted state is from another history.
    // A reply that is not a whole proof proves nothing either.
    if (e instanceof Error && !(e instanceof AuditError)) throw verificationFailed(`immudb cannot prove tx ${txId} from tx ${sinceTxId}: ${e.message}`);
    throw e;
  }
}

/**
 * The tx's own hash tree, from its entries' (key, hash of value), checked against the header's eH
 * (proof/tx-tree.ts): gives each entry's inclusion proof, and the bundles of a commit are checked
 * against it (assertProofBundlesOfTx). (immudb-node's HTree builds wrong inclusion proofs for
 * widths that are not powers of 2.) Entries that do not hash to eH prove nothing.
 */
export function provenTx(vtx: WireVerifiableTx): ProvenTx {
  const { entries, header } = vtx;
  if (entries.length === 0) throw verificationFailed('immudb answered a transaction without entries');
  const tree = VerifiedTxTree.verify(header, entries);
  if (typeof tree === 'string') throw verificationFailed(`immudb answered tx ${header.id} with entries that are not its own: ${tree}`);
  return { vtx, tree };
}

/** Index of the entry of `proven` whose stored key is 0x00 ‖ `key`: `guess` when it is one, else the first; -1 when none. */
function entryIndex(proven: ProvenTx, key: Buffer, guess: number | undefined): number {
  const { entries } = proven.vtx;
  if (guess !== undefined) {
    const k = entries[guess]?.key;
    if (k && k.length === key.length + 1 && k[0] === SET_KEY_PREFIX && k.compare(key, 0, key.length, 1) === 0) return guess;
  }
  if (proven.keyIndex === undefined) {
    const keyIndex = new Map<string, number>();
    entries.forEach(({ key }, i) => {
      // latin1 maps bytes to code units one to one, so equal strings are equal keys; the first
      // entry with a key wins, as a search from the start would find it.
      const k = key.toString('latin1');
      if (!keyIndex.has(k)) keyIndex.set(k, i);
    });
    proven.keyIndex = keyIndex;
  }
  return proven.keyIndex.get(String.fromCharCode(SET_KEY_PREFIX) + key.toString('latin1')) ?? -1;
}

/**
 * What every bundle of one proven tx shares: its header, the dual proof from `base`, and the
 * states. Frozen, so no holder of one bundle can change it for the others.
 */
export function txLink(proven: ProvenTx, base: LedgerState | null, database: string): ProofLink {
  const { header, dualProof, signature } = proven.vtx;
  return deepFreeze(
    proofLink({
      ledger: 'immudb',
      database,
      tx: txHeader(header),
      trusted: base,
      dualProof: dualProofJson(dualProof),
      sign: () => (signature ? { publicKey: signature.publicKey.toString('base64'), signature: signature.signature.toString('base64') } : null),
    }),
  );
}

/**
 * One entry's bundle over a shared link; callers verify before handing it out. `guess`: where the
 * entry likely sits in the tx (a commit knows the order it wrote in); any entry with the key
 * proves it, and the tree checks whichever is taken.
 */
export function entryProof(proven: ProvenTx, link: ProofLink, key: Buffer, value: Buffer, guess?: number): ProofBundle {
  const index = entryIndex(proven, key, guess);
  if (index < 0) throw verificationFailed('the entry is not in the transaction immudb proved');
  return entryBundle(link, {
    key,
    value,
    metadata: proven.vtx.entries[index]!.metadata,
    inclusion: { leaf: index, width: proven.tree.width, terms: proven.tree.inclusionProofHex(index) },
  });
}

export function dualProofJson(dp: WireDualProof): DualProofJson {
  const hexList = (l: Uint8Array[]) => l.map(toHex);
  const lp = dp.linearProof;
  return {
    sourceTx: txHeaderToJson(txHeader(dp.sourceTx)),
    targetTx: txHeaderToJson(txHeader(dp.targetTx)),
    inclusionProof: hexList(dp.inclusionProof),
    consistencyProof: hexList(dp.consistencyProof),
    targetBlTxAlh: toHex(dp.targetBlTxAlh),
    lastInclusionProof: hexList(dp.lastInclusionProof),
    linearProof: { sourceTxId: String(lp.sourceTxId), targetTxId: String(lp.targetTxId), terms: hexList(lp.terms) },
  };
}

/**
 * The proven tx's header as immudb commits one: 32-byte hashes, an int32 entry count, a time a
 * Date can hold, a header version the verifier knows with metadata it can hash. Anything else is a
 * reply that proves nothing (and would break the arithmetic).
 */
export function checkProvenHeader(md: WireTxHeader): void {
  if (md.prevAlh.length !== HASH_SIZE || md.eH.length !== HASH_SIZE || md.blRoot.length !== HASH_SIZE) {
    throw verificationFailed(`immudb answered tx ${md.id} with a header whose hashes are not 32 bytes`);
  }
  if (md.nEntries > 0x7fffffff) throw verificationFailed(`immudb answered tx ${md.id} with ${md.nEntries} entries`);
  if (md.ts > MAX_DATE_SECONDS) throw verificationFailed(`immudb answered tx ${md.id} with time ${md.ts}`);
  const why = checkTxHeaderVersion(md.version, md.metadata, md.nEntries);
  if (why) throw verificationFailed(`immudb answered tx ${md.id} with a header this gateway cannot verify (${why.field}: ${why.message})`);
}

/** ECMAScript Dates end 8.64e15 ms after the epoch. */
const MAX_DATE_SECONDS = 8.64e12;

/** The header as the hash arithmetic takes it (checked by checkProvenHeader when it was proven). */
export function txHeader(md: WireTxHeader): TxHeader {
  return {
    id: BigInt(md.id),
    prevAlh: md.prevAlh,
    ts: BigInt(md.ts),
    version: md.version,
    metadata: md.metadata,
    nEntries: md.nEntries,
    eH: md.eH,
    blTxId: BigInt(md.blTxId),
    blRoot: md.blRoot,
  };
}
