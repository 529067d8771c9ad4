/**
 * Known-answer vectors produced by immudb's own Go packages: `vectors` from v1.1.0 (v0 headers in
 * their 1.1 JSON form, no version or metadata; test/fixtures/immudb-v1.1.0/gen/main.go) and
 * `vectors111` from v1.11.1 (v0 and v1 headers, KV and tx metadata; test/fixtures/immudb-v1.11.1/gen/main.go).
 * Also immudb-node 1.1.1's JS verification code as an independent second implementation (v0 headers
 * only, and without the GHSA-672p-m5jq-mrh8 fix), and `vectorBundle` (a v2 bundle made of immudb's answers).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PROOF_FORMAT, type DualProofJson, type ProofBundle, type TxHeaderJson, type TxHeaderJsonV1 } from '../../src/proof/types.ts';
import type { DualProof, InclusionProof, SchemaPb, TxMetadata } from '../../src/ledger/immudb/schema-pb.ts';

export interface Vectors {
  kv: { key: string; value: string; digest: string }[];
  alh: { header: TxHeaderJsonV1; alh: string }[];
  htree: { width: number; digests: string[]; root: string; proofs: string[][] }[];
  ahtree: {
    size: number;
    roots: string[];
    inclusion: { i: number; j: number; terms: string[] }[];
    consistency: { i: number; j: number; terms: string[] }[];
  };
  store: {
    txs: {
      header: TxHeaderJsonV1;
      alh: string;
      innerHash: string;
      entries: { key: string; value: string }[];
      proofs: string[][];
    }[];
    dualProofs: {
      source: number;
      target: number;
      proof: DualProofJsonV1;
      verified: boolean;
      signature: { database: string; publicKey: string; signature: string; payload: string };
    }[];
  };
}

/** A dual proof as immudb 1.1 hands it out: headers without version or metadata. */
export type DualProofJsonV1 = Omit<DualProofJson, 'sourceTx' | 'targetTx'> & { sourceTx: TxHeaderJsonV1; targetTx: TxHeaderJsonV1 };

export const vectors: Vectors = JSON.parse(readFileSync(new URL('../fixtures/immudb-v1.1.0/vectors.json', import.meta.url), 'utf8')) as Vectors;

/** The v2 form of a 1.1 header (what txHeaderToJson gives for it). */
export const asV2Header = (h: TxHeaderJsonV1): TxHeaderJson => ({ ...h, version: 0, metadata: '' });

/** One entry of a 1.11.1 vector tx; key and value base64 without immudb's 0x00 prefixes, value null for a delete. */
export interface Entry111 {
  key: string;
  value: string | null;
  metadata: string;
  hValue: string;
  digest: string;
}

export interface Tx111 {
  header: TxHeaderJson;
  alh: string;
  innerHash: string;
  blTxIdIsIdMinus1: boolean;
  entries: Entry111[];
  proofs: string[][];
}

export interface DualProof111 {
  source: number;
  target: number;
  /** immudb's own store.VerifyDualProof accepted it. */
  verified: boolean;
  signature: { database: string; publicKey: string; signature: string; payload: string };
  proof: DualProofJson & {
    linearAdvanceProof: { linearProofTerms: string[]; inclusionProofs: string[][] } | null;
  };
}

export interface Store111 {
  txs: Tx111[];
  dualProofs: DualProof111[];
}

export interface Vectors111 {
  immudb: string;
  notes: string[];
  /** txs 1–14 v0, 15–36 v1, every blTxId == id − 1. */
  store: Store111;
  /** fed through ReplicateTx with blTxId lagging behind id; v0 then v1 headers. */
  laggedStore: Store111;
  kvMetadata: { deleted: boolean; expiresAt: string | null; nonIndexable: boolean; bytes: string }[];
  txMetadata: { truncatedTxId: string; extra: string; bytes: string }[];
  headerBytes: { txId: string; version: number; bytes: string }[];
}

export const vectors111: Vectors111 = JSON.parse(readFileSync(new URL('../fixtures/immudb-v1.11.1/vectors.json', import.meta.url), 'utf8')) as Vectors111;

/**
 * An `auditgraph.proof.v2` bundle made only of immudb's answers: entry `leaf` of one tx of the
 * dual proof `d` with its htree proof, trusted state the other tx's Alh, and immudb's dual proof
 * (without LinearAdvanceProof, which bundles do not carry). `txSide`: which end of `d` holds the
 * entry. `signed`: with the vector's signature of the target state.
 */
export function vectorBundle(store: Store111, d: DualProof111, txSide: 'source' | 'target', leaf: number, signed = false): ProofBundle {
  const txId = txSide === 'target' ? d.target : d.source;
  const trustedId = txSide === 'target' ? d.source : d.target;
  const tx = store.txs[txId - 1]!;
  const e = tx.entries[leaf]!;
  if (e.value === null) throw new RangeError(`tx ${txId} entry ${leaf} is a delete: a bundle cannot hold it`);
  const { linearAdvanceProof: _lap, ...proof } = d.proof;
  return structuredClone({
    format: PROOF_FORMAT,
    ledger: 'immudb',
    database: d.signature.database,
    entry: { key: e.key, value: e.value, metadata: e.metadata },
    tx: tx.header,
    inclusion: { leaf, width: tx.entries.length, terms: tx.proofs[leaf]! },
    trustedState: { txId: String(trustedId), txHash: store.txs[trustedId - 1]!.alh },
    dualProof: proof,
    state: {
      txId: String(d.target),
      txHash: store.txs[d.target - 1]!.alh,
      signature: signed ? { publicKey: d.signature.publicKey, signature: d.signature.signature } : null,
    },
  });
}

/** Leaf data of the ahtree vectors: sha256 of the decimal leaf number. */
export const ahtLeafData = (n: number): Buffer => createHash('sha256').update(String(n)).digest();

const require = createRequire(import.meta.url);

export const immuNode = {
  util: require('immudb-node/dist/src/util.js') as typeof import('immudb-node/dist/src/util.js'),
  HTree: (require('immudb-node/dist/src/htree.js') as typeof import('immudb-node/dist/src/htree.js')).default,
  verification: require('immudb-node/dist/src/verification.js') as typeof import('immudb-node/dist/src/verification.js'),
  pb: require('immudb-node/dist/src/proto/schema_pb.js') as SchemaPb,
};

const hexU8 = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

/** immudb-node's TxMetadata protobuf from our JSON header (ids as JS numbers: it has no uint64; v0 only: it hashes no version or metadata). */
export function immuTxMetadata(h: TxHeaderJson | TxHeaderJsonV1): TxMetadata {
  const md = new immuNode.pb.TxMetadata();
  md.setId(Number(h.id));
  md.setPrevalh(hexU8(h.prevAlh));
  md.setTs(Number(h.ts));
  md.setNentries(h.nEntries);
  md.setEh(hexU8(h.eH));
  md.setBltxid(Number(h.blTxId));
  md.setBlroot(hexU8(h.blRoot));
  return md;
}

export function immuDualProof(p: DualProofJson | DualProofJsonV1): DualProof {
  const dp = new immuNode.pb.DualProof();
  dp.setSourcetxmetadata(immuTxMetadata(p.sourceTx));
  dp.setTargettxmetadata(immuTxMetadata(p.targetTx));
  dp.setInclusionproofList(p.inclusionProof.map(hexU8));
  dp.setConsistencyproofList(p.consistencyProof.map(hexU8));
  dp.setTargetbltxalh(hexU8(p.targetBlTxAlh));
  dp.setLastinclusionproofList(p.lastInclusionProof.map(hexU8));
  const lp = new immuNode.pb.LinearProof();
  lp.setSourcetxid(Number(p.linearProof.sourceTxId));
  lp.setTargettxid(Number(p.linearProof.targetTxId));
  lp.setTermsList(p.linearProof.terms.map(hexU8));
  dp.setLinearproof(lp);
  return dp;
}

export function immuInclusionProof(leaf: number, width: number, terms: string[]): InclusionProof {
  const p = new immuNode.pb.InclusionProof();
  p.setLeaf(leaf);
  p.setWidth(width);
  p.setTermsList(terms.map(hexU8));
  return p;
}
