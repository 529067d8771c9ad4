/**
 * An in-memory immudb-like chain for proof tests: commits txs of (key, value) entries the way
 * immudb's store does (htree over prefixed entry digests, Alh chain from GENESIS_PREV_ALH, Alhs
 * appended to an AHTree) with a chosen binary-linking lag, and makes proof bundles from it.
 */
import crypto from 'node:crypto';
import { AHTree } from '../../src/proof/ahtree.ts';
import { buildProofBundle, type DualProofStore } from '../../src/proof/dual-proof.ts';
import { entryDigest, GENESIS_PREV_ALH, HTree, txAlh, ZERO_HASH, type TxHeader } from '../../src/proof/hashing.ts';
import type { ProofBundle, StateSignatureJson } from '../../src/proof/types.ts';

export interface Entry {
  key: Buffer;
  value: Buffer;
}

export class TestChain implements DualProofStore {
  readonly aht = new AHTree();
  private readonly headers: TxHeader[] = [];
  private readonly entries: Entry[][] = [];
  private readonly trees: HTree[] = [];

  get size(): number {
    return this.headers.length;
  }

  header(id: bigint): TxHeader {
    const h = this.headers[Number(id) - 1];
    if (!h) throw new RangeError(`no tx ${id}`);
    return h;
  }

  alh(id: bigint): Buffer {
    return txAlh(this.header(id));
  }

  /**
   * `lag`: how many committed txs the binary link is behind (immudb links asynchronously);
   * clamped so blTxId never decreases, as in immudb.
   */
  commit(entries: Entry[], lag = 0, ts?: bigint): TxHeader {
    const id = BigInt(this.size + 1);
    const prev = this.headers[this.size - 1];
    let blTxId = BigInt(Math.max(0, this.size - lag));
    if (prev && blTxId < prev.blTxId) blTxId = prev.blTxId;
    const tree = HTree.build(entries.map((e) => entryDigest(e.key, e.value)));
    const h: TxHeader = {
      id,
      prevAlh: prev ? txAlh(prev) : GENESIS_PREV_ALH,
      ts: ts ?? 1_700_000_000n + id,
      nEntries: entries.length,
      eH: tree.root,
      blTxId,
      blRoot: blTxId > 0n ? this.aht.root(Number(blTxId)) : ZERO_HASH,
    };
    this.headers.push(h);
    this.entries.push(entries);
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

  bundle(opts: {
    txId: number;
    leaf?: number;
    trustedTxId?: number;
    ledger?: ProofBundle['ledger'];
    database?: string;
    signer?: crypto.KeyObject;
  }): ProofBundle {
    const tx = this.header(BigInt(opts.txId));
    const leaf = opts.leaf ?? 0;
    const entry = this.entries[opts.txId - 1]![leaf]!;
    const signer = opts.signer;
    return buildProofBundle({
      ledger: opts.ledger ?? 'embedded',
      database: opts.database ?? 'defaultdb',
      key: entry.key,
      value: entry.value,
      tx,
      leaf,
      inclusionTerms: this.trees[opts.txId - 1]!.inclusionProof(leaf),
      trustedTx: this.header(BigInt(opts.trustedTxId ?? opts.txId)),
      store: this,
      ...(signer ? { sign: (payload: Buffer) => signState(signer, payload) } : {}),
    });
  }
}

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
