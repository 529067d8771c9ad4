/**
 * A tx's hash tree rebuilt from its entries as immudb lists them (key as stored, with its one-byte
 * prefix; hash of the stored value; KV metadata) and checked against the tx's eH, every hash with
 * node:crypto. The bundles of that tx can then be checked against it in one go
 * (`assertProofBundlesOfTx` in verify.ts): an entry is in the tx when its digest input is the
 * tree's at its leaf, and its inclusion proof is right when its terms are the tree's. The immudb
 * ledger takes the bundles' inclusion proofs from the same tree.
 *
 * Public surface: `VerifiedTxTree.verify(header, entries)` (the tree, or why not), `TxTreeEntry`.
 */
import { HASH_SIZE, SET_KEY_PREFIX, sha256Into, storedValueHashHex, txEntryDigestInputSize, writeTxEntryDigestInput } from './hashing.ts';
import { HTree } from './htree.ts';

/** An entry as immudb lists it in a tx: the stored key (prefixed), the hash of the stored value, its KV metadata bytes. */
export interface TxTreeEntry {
  key: Uint8Array;
  hValue: Uint8Array;
  metadata?: Uint8Array;
}

export class VerifiedTxTree {
  private constructor(
    private readonly tree: HTree,
    /** The eH the root was found equal to, and the header version the digests were computed for. */
    readonly eH: Buffer,
    readonly version: number,
    /** Every entry's digest input, one after another (its own copy: the caller's entries may change later). */
    private readonly inputs: Buffer,
    private readonly offsets: Uint32Array,
  ) {}

  /**
   * The tree of `entries` in a tx of `header`: one leaf per entry (as many as header.nEntries),
   * digests as store.TxEntry's for header.version, and the root equal to header.eH. Returns why
   * not otherwise.
   */
  static verify(header: { eH: Uint8Array; version: number; nEntries: number }, entries: readonly TxTreeEntry[]): VerifiedTxTree | string {
    const n = entries.length;
    if (n === 0 || n !== header.nEntries) return `${n} entries listed for a tx of ${header.nEntries}`;
    const { version } = header;
    const offsets = new Uint32Array(n + 1);
    let size = 0;
    for (let i = 0; i < n; i++) {
      const e = entries[i]!;
      size += txEntryDigestInputSize(version, e.key.length, e.metadata?.length ?? 0, e.hValue.length);
      offsets[i + 1] = size;
    }
    const inputs = Buffer.allocUnsafe(size);
    const digests = Buffer.allocUnsafe(n * HASH_SIZE);
    try {
      for (let i = 0; i < n; i++) {
        const e = entries[i]!;
        const at = offsets[i]!;
        writeTxEntryDigestInput(inputs.subarray(at), version, e.key, e.hValue, e.metadata ?? EMPTY_BYTES);
        sha256Into(inputs, at, offsets[i + 1]!, digests, i * HASH_SIZE);
      }
    } catch (e) {
      // An entry no tx of this version can hold (metadata in v0, a length past u16).
      return `an entry cannot be digested: ${(e as Error).message}`;
    }
    const tree = HTree.build(digests);
    if (!tree.root.equals(header.eH)) return 'the entries do not hash to eH';
    return new VerifiedTxTree(tree, Buffer.from(header.eH), version, inputs, offsets);
  }

  get width(): number {
    return this.offsets.length - 1;
  }

  /** What leaf `leaf`'s digest hashes (a view of the tree's own copy). */
  digestInput(leaf: number): Buffer {
    if (!Number.isInteger(leaf) || leaf < 0 || leaf >= this.width) throw new RangeError('tx tree: leaf out of range');
    return this.inputs.subarray(this.offsets[leaf], this.offsets[leaf + 1]);
  }

  /** The inclusion proof of `leaf`, terms bottom-up in hex (see HTree.inclusionProofHex: strings shared between leaves). */
  inclusionProofHex(leaf: number): string[] {
    return this.tree.inclusionProofHex(leaf);
  }

  /**
   * Whether the gateway entry (key, value, KV metadata), as immudb's database layer stores it
   * (0x00 ‖ key, 0x00 ‖ value), is leaf `leaf`'s entry: its digest input (as entryDigestInput
   * writes it) is the tree's, so its digest is that leaf's digest. Compared in place.
   */
  hasEntry(leaf: number, key: Uint8Array, value: Uint8Array, metadata: Uint8Array): boolean {
    const input = this.digestInput(leaf);
    const { version } = this;
    if (version !== 1 && metadata.length !== 0) return false;
    if (input.length !== txEntryDigestInputSize(version, 1 + key.length, metadata.length)) return false;
    let at = 0;
    if (version === 1) {
      if (input.readUInt16BE(0) !== metadata.length || input.compare(metadata, 0, metadata.length, 2, 2 + metadata.length) !== 0) return false;
      at = 2 + metadata.length;
      if (input.readUInt16BE(at) !== 1 + key.length) return false;
      at += 2;
    }
    if (input[at] !== SET_KEY_PREFIX || input.compare(key, 0, key.length, at + 1, at + 1 + key.length) !== 0) return false;
    at += 1 + key.length;
    return storedValueHashHex(value) === input.toString('hex', at, at + HASH_SIZE);
  }

  /** Whether `terms` is the inclusion proof of `leaf`, term by term (`leaf` in range). */
  isInclusionProofHex(leaf: number, terms: readonly unknown[]): boolean {
    return this.tree.hasInclusionProofHex(leaf, terms);
  }
}

const EMPTY_BYTES = new Uint8Array(0);
