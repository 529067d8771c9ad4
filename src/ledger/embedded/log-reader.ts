/**
 * Reads of committed transactions back from the embedded ledger's log, by the offsets start-up and
 * commits recorded: tx headers (what the ledger's DualProofStore answers), a tx's hash tree rebuilt
 * from its record (checksum, header and eH checked), timeline entries with nearby reads merged.
 * Small caches keep the headers and trees of recently proven txs.
 */
import { verificationFailed } from '../../errors.ts';
import { kvDigest, sha256 } from '../../proof/hashing.ts';
import { HTree } from '../../proof/htree.ts';
import { decodeTxHeader, encodeTxHeader, TX_HEADER_SIZE, type TxHeader } from '../../proof/tx-header.ts';
import type { TxTreeEntry } from '../../proof/tx-tree.ts';
import { createSha256 } from '../sha256.mjs';
import type { Column } from './column.ts';
import type { EventIndex } from './event-index.ts';
import { ENTRIES_OFFSET, forEachEntry, HEADER_OFFSET, readAt, readFully, recordChecksumOk } from './log.ts';
import { parseTimelineEntry } from './transaction.ts';

/** SHA-256 without allocation for rebuilding a tx's tree; see sha256.mjs. */
const { hashInto } = createSha256();
const HEADER_CACHE = 8192;
const TREE_CACHE = 16;
/** Reads of neighbouring entries are merged when the gap is below this. */
const READ_GAP = 64 * 1024;
const READ_MAX = 4 * 1024 * 1024;

export interface TxTree {
  header: TxHeader;
  tree: HTree;
}

export class LogReader {
  private readonly headers = new Map<number, TxHeader>();
  private readonly trees = new Map<number, TxTree>();

  constructor(
    private readonly fd: number,
    /** Per tx id: its record's offset and length in the log. */
    private readonly txOffset: Column,
    private readonly txLength: Column,
    /** Where each event's timeline entry is. */
    private readonly index: EventIndex,
    /** The last committed tx id. */
    private readonly lastId: () => number,
  ) {}

  /** A committed tx's header. */
  header(id: bigint): TxHeader {
    const n = Number(id);
    if (!Number.isSafeInteger(n) || n < 1 || n > this.lastId()) throw new RangeError(`no tx ${id}`);
    const cached = this.headers.get(n);
    if (cached) return cached;
    const b = Buffer.allocUnsafe(TX_HEADER_SIZE);
    readFully(this.fd, b, TX_HEADER_SIZE, this.txOffset.get(n) + HEADER_OFFSET);
    const h = decodeTxHeader(b);
    if (h.id !== id) throw verificationFailed(`the log holds tx ${h.id} where tx ${id} was`);
    this.cache(this.headers, n, h, HEADER_CACHE);
    return h;
  }

  /** The tx's header and htree, rebuilt from the record on disk (checksum and eH checked). */
  async txTree(txId: number): Promise<TxTree> {
    const cached = this.trees.get(txId);
    if (cached) return cached;
    const { record, header } = await this.readRecord(txId);
    const digests: Buffer[] = [];
    forEachEntry(record, header.nEntries, (_, s) => {
      digests.push(kvDigest(record.subarray(s.keyStart, s.keyEnd), record.subarray(s.valueStart, s.valueEnd)));
    });
    const tree = HTree.build(digests, hashInto);
    if (!tree.root.equals(header.eH)) throw verificationFailed(`tx ${txId}'s entries do not hash to its eH`);
    const t = { header, tree };
    this.cache(this.trees, txId, t, TREE_CACHE);
    return t;
  }

  /**
   * The tx's header and every entry as immudb lists them (stored key, hash of the stored value; no
   * metadata in v0), from the record on disk (checksum and header checked): what a VerifiedTxTree
   * is built from. Not cached: evidence exports read each tx about once.
   */
  async txEntries(txId: number): Promise<{ header: TxHeader; entries: TxTreeEntry[] }> {
    const { record, header } = await this.readRecord(txId);
    const entries: TxTreeEntry[] = [];
    forEachEntry(record, header.nEntries, (_, s) => {
      entries.push({ key: record.subarray(s.keyStart, s.keyEnd), hValue: sha256(record.subarray(s.valueStart, s.valueEnd)) });
    });
    return { header, entries };
  }

  /** A tx's record, its checksum and its header checked against the one start-up read. */
  private async readRecord(txId: number): Promise<{ record: Buffer; header: TxHeader }> {
    const record = Buffer.allocUnsafe(this.txLength.get(txId));
    await readAt(this.fd, record, this.txOffset.get(txId));
    if (!recordChecksumOk(record)) throw verificationFailed(`tx ${txId} is damaged on disk (checksum mismatch at offset ${this.txOffset.get(txId)})`);
    const header = this.header(BigInt(txId));
    if (!record.subarray(HEADER_OFFSET, ENTRIES_OFFSET).equals(encodeTxHeader(header))) {
      throw verificationFailed(`tx ${txId}'s header on disk changed since start-up`);
    }
    return { record, header };
  }

  /** Timeline entries (gateway key and value, prefixes stripped) of events, with nearby reads merged. */
  async readEntries(ns: number[]): Promise<{ key: Buffer; value: Buffer }[]> {
    const { entryOff, entryLen } = this.index;
    const order = ns.map((_, i) => i).sort((a, b) => entryOff[ns[a]!]! - entryOff[ns[b]!]!);
    const out: { key: Buffer; value: Buffer }[] = new Array(ns.length);
    const reads: Promise<void>[] = [];
    for (let i = 0; i < order.length; ) {
      const start = entryOff[ns[order[i]!]!]!;
      let stop = start + entryLen[ns[order[i]!]!]!;
      let j = i + 1;
      for (; j < order.length; j++) {
        const o = entryOff[ns[order[j]!]!]!;
        const e = o + entryLen[ns[order[j]!]!]!;
        if (o - stop > READ_GAP || Math.max(e, stop) - start > READ_MAX) break;
        stop = Math.max(stop, e);
      }
      const group = order.slice(i, j);
      reads.push(
        (async () => {
          const buf = Buffer.allocUnsafe(stop - start);
          await readAt(this.fd, buf, start);
          for (const k of group) out[k] = parseTimelineEntry(buf, entryOff[ns[k]!]! - start, entryLen[ns[k]!]!, entryOff[ns[k]!]!);
        })(),
      );
      i = j;
    }
    await Promise.all(reads);
    return out;
  }

  /** Keeps the header and tree of a tx just committed. */
  remember(id: number, t: TxTree): void {
    this.cache(this.headers, id, t.header, HEADER_CACHE);
    this.cache(this.trees, id, t, TREE_CACHE);
  }

  /** Map insertion order is the age order: the oldest goes first. */
  private cache<T>(map: Map<number, T>, id: number, value: T, max: number): void {
    map.set(id, value);
    if (map.size > max) map.delete(map.keys().next().value!);
  }
}
