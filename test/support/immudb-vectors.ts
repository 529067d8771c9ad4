/**
 * Known-answer vectors produced by immudb v1.1.0's own Go packages (generator and how to rerun it:
 * test/fixtures/immudb-v1.1.0/gen/main.go), and immudb-node 1.1.1's JS verification code as an
 * independent second implementation.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { DualProofJson, TxHeaderJson } from '../../src/proof/types.ts';

export interface Vectors {
  kv: { key: string; value: string; digest: string }[];
  alh: { header: TxHeaderJson; alh: string }[];
  htree: { width: number; digests: string[]; root: string; proofs: string[][] }[];
  ahtree: {
    size: number;
    roots: string[];
    inclusion: { i: number; j: number; terms: string[] }[];
    consistency: { i: number; j: number; terms: string[] }[];
  };
  store: {
    txs: {
      header: TxHeaderJson;
      alh: string;
      innerHash: string;
      entries: { key: string; value: string }[];
      proofs: string[][];
    }[];
    dualProofs: {
      source: number;
      target: number;
      proof: DualProofJson;
      verified: boolean;
      signature: { database: string; publicKey: string; signature: string; payload: string };
    }[];
  };
}

export const vectors: Vectors = JSON.parse(
  readFileSync(new URL('../fixtures/immudb-v1.1.0/vectors.json', import.meta.url), 'utf8'),
) as Vectors;

/** Leaf data of the ahtree vectors: sha256 of the decimal leaf number. */
export const ahtLeafData = (n: number): Buffer => createHash('sha256').update(String(n)).digest();

const require = createRequire(import.meta.url);

export const immuNode = {
  util: require('immudb-node/dist/src/util.js') as any,
  HTree: (require('immudb-node/dist/src/htree.js') as any).default as any,
  verification: require('immudb-node/dist/src/verification.js') as any,
  pb: require('immudb-node/dist/src/proto/schema_pb.js') as any,
};

const hexU8 = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

/** immudb-node's TxMetadata protobuf from our JSON header (ids as JS numbers: it has no uint64). */
export function immuTxMetadata(h: TxHeaderJson): any {
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

export function immuDualProof(p: DualProofJson): any {
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

export function immuInclusionProof(leaf: number, width: number, terms: string[]): any {
  const p = new immuNode.pb.InclusionProof();
  p.setLeaf(leaf);
  p.setWidth(width);
  p.setTermsList(terms.map(hexU8));
  return p;
}
