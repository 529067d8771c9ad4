/**
 * Parsing of proof bundles for the verifier (verify.ts), and of the states and dual proofs that
 * consistency proofs hold (consistency.ts): everything is decoded once, strictly, before any hash
 * is computed; anything malformed fails the `format` check naming its path.
 */
import { fail } from './checks.ts';
import { HASH_MSG, isUint32, parseBase64, parseHash, parseHex, parseInt64, parseUint64 } from './codecs.ts';
import { EMPTY } from './hashing.ts';
import { checkTxHeaderVersion, type TxHeader } from './tx-header.ts';
import { PROOF_FORMAT, PROOF_FORMAT_V1 } from './types.ts';

/** A bundle as its checks take it. */
export interface Parsed {
  ledger: string;
  database: string;
  key: Buffer;
  value: Buffer;
  /** KVMetadata bytes of the entry (always empty in a v1 bundle). */
  metadata: Buffer;
  tx: TxHeader;
  inclusion: { leaf: number; width: number; terms: Buffer[] };
  trusted: ParsedState;
  dp: ParsedDualProof;
  state: ParsedState & { signature: { publicKey: Buffer; signature: Buffer } | null };
}

/** A ledger state (txId, Alh) as the checks take it. */
export interface ParsedState {
  txId: bigint;
  txHash: Buffer;
}

/** A dual proof (DualProofJson) as the checks take it (dual-check.ts). */
export interface ParsedDualProof {
  source: TxHeader;
  target: TxHeader;
  inclusion: Buffer[];
  consistency: Buffer[];
  targetBlTxAlh: Buffer;
  lastInclusion: Buffer[];
  linear: { sourceTxId: bigint; targetTxId: bigint; terms: Buffer[] };
}

const formatFail = (path: string, why: string): never => fail('format', `${path}: ${why}`);

/** A plain JSON-like object with exactly these keys (own, enumerable; no prototype tricks). */
export function obj(v: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return formatFail(path, 'expected an object');
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) formatFail(path, 'expected a plain object');
  const own = Object.keys(v);
  for (const k of own) if (!keys.includes(k)) formatFail(path, `unknown field "${k}"`);
  for (const k of keys) if (!Object.hasOwn(v, k)) formatFail(path, `missing field "${k}"`);
  if (Object.getOwnPropertySymbols(v).length > 0) formatFail(path, 'unexpected symbol keys');
  return v as Record<string, unknown>;
}

export const hash = (v: unknown, path: string): Buffer => parseHash(v) ?? formatFail(path, HASH_MSG);
const u64 = (v: unknown, path: string): bigint => parseUint64(v) ?? formatFail(path, 'expected a canonical decimal uint64 string');
export const txId = (v: unknown, path: string): bigint => {
  const id = u64(v, path);
  return id >= 1n ? id : formatFail(path, 'tx ids start at 1');
};
export const u32 = (v: unknown, path: string): number => (isUint32(v) ? v : formatFail(path, 'expected an integer in [0, 2^32-1]'));
const b64 = (v: unknown, path: string): Buffer => parseBase64(v) ?? formatFail(path, 'expected canonical padded base64');

/**
 * With `parsed`, terms already parsed (by their text) are looked up rather than parsed again: the
 * bundles of one tx share most of their terms, and parsing is a pure function of the string.
 */
export function hashList(v: unknown, path: string, parsed?: Map<string, Buffer>): Buffer[] {
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

export function wellFormedString(v: unknown, path: string): string {
  if (typeof v !== 'string') return formatFail(path, 'expected a string');
  // Lone surrogates would be signed as U+FFFD: reject so the signed bytes are the shown text.
  if (Buffer.from(v, 'utf8').toString('utf8') !== v) formatFail(path, 'not well-formed Unicode');
  return v;
}

const HEADER_KEYS_V1 = ['id', 'prevAlh', 'ts', 'nEntries', 'eH', 'blTxId', 'blRoot'] as const;
const HEADER_KEYS_V2 = ['id', 'prevAlh', 'ts', 'version', 'metadata', 'nEntries', 'eH', 'blTxId', 'blRoot'] as const;

/** A header of a v2 bundle (`v2`) or of a v1 bundle (v0, no metadata). */
export function header(v: unknown, path: string, v2: boolean): TxHeader {
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
export function parseEntry(v: unknown, path: string, v2: boolean): { key: Buffer; value: Buffer; metadata: Buffer } {
  const e = obj(v, path, v2 ? ['key', 'value', 'metadata'] : ['key', 'value']);
  return {
    key: b64(e.key, `${path}.key`),
    value: b64(e.value, `${path}.value`),
    metadata: v2 ? (parseHex(e.metadata) ?? formatFail(`${path}.metadata`, 'expected lowercase hex')) : EMPTY,
  };
}

export function parse(bundle: unknown): Parsed {
  const b = obj(bundle, 'bundle', ['format', 'ledger', 'database', 'entry', 'tx', 'inclusion', 'trustedState', 'dualProof', 'state']);
  if (b.format !== PROOF_FORMAT && b.format !== PROOF_FORMAT_V1) formatFail('format', `expected "${PROOF_FORMAT}" or "${PROOF_FORMAT_V1}"`);
  const v2 = b.format === PROOF_FORMAT;
  const { ledger, database } = ledgerAndDatabase(b);

  const entry = parseEntry(b.entry, 'entry', v2);
  const incl = obj(b.inclusion, 'inclusion', ['leaf', 'width', 'terms']);
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
    ledger,
    database,
    ...entry,
    tx: header(b.tx, 'tx', v2),
    inclusion: {
      leaf: u32(incl.leaf, 'inclusion.leaf'),
      width: u32(incl.width, 'inclusion.width'),
      terms: hashList(incl.terms, 'inclusion.terms'),
    },
    trusted: parseState(b.trustedState, 'trustedState'),
    dp: parseDualProof(b.dualProof, 'dualProof', v2),
    state: { ...parseState(st, 'state', ['txId', 'txHash', 'signature']), signature },
  };
}

/** `ledger` and `database` of a document: the ledger kind, and a non-empty well-formed name. */
export function ledgerAndDatabase(doc: Record<string, unknown>): { ledger: string; database: string } {
  if (doc.ledger !== 'immudb' && doc.ledger !== 'embedded') formatFail('ledger', 'expected "immudb" or "embedded"');
  const database = wellFormedString(doc.database, 'database');
  if (database.length === 0) formatFail('database', 'empty');
  return { ledger: doc.ledger as string, database };
}

/** A ledger state { txId (>= 1), txHash } at `path` (with exactly `keys`: a state may carry more fields). */
export function parseState(v: unknown, path: string, keys: readonly string[] = ['txId', 'txHash']): ParsedState {
  const o = obj(v, path, keys);
  return { txId: txId(o.txId, `${path}.txId`), txHash: hash(o.txHash, `${path}.txHash`) };
}

/** A DualProofJson at `path`, its headers v2 (`v2`) or v1. */
export function parseDualProof(v: unknown, path: string, v2: boolean): ParsedDualProof {
  const dp = obj(v, path, ['sourceTx', 'targetTx', 'inclusionProof', 'consistencyProof', 'targetBlTxAlh', 'lastInclusionProof', 'linearProof']);
  const lp = obj(dp.linearProof, `${path}.linearProof`, ['sourceTxId', 'targetTxId', 'terms']);
  return {
    source: header(dp.sourceTx, `${path}.sourceTx`, v2),
    target: header(dp.targetTx, `${path}.targetTx`, v2),
    inclusion: hashList(dp.inclusionProof, `${path}.inclusionProof`),
    consistency: hashList(dp.consistencyProof, `${path}.consistencyProof`),
    targetBlTxAlh: hash(dp.targetBlTxAlh, `${path}.targetBlTxAlh`),
    lastInclusion: hashList(dp.lastInclusionProof, `${path}.lastInclusionProof`),
    linear: {
      sourceTxId: txId(lp.sourceTxId, `${path}.linearProof.sourceTxId`),
      targetTxId: txId(lp.targetTxId, `${path}.linearProof.targetTxId`),
      terms: hashList(lp.terms, `${path}.linearProof.terms`),
    },
  };
}
