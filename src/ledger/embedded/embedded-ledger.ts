/**
 * The embedded ledger backend: immudb's transaction model with v0 headers (immudb 1.1's, and
 * 1.2+'s compatibility mode) in one append-only file (log.ts), for running without an immudb
 * server. Why v0: its header has no metadata the embedded ledger would use, the on-disk record
 * stays the 124-byte layout every existing data directory holds (no migration), and both versions
 * rest on the same SHA-256 chain and trees; its bundles are `auditgraph.proof.v2` with version 0.
 *
 * Each commit is one transaction holding, per event, the two entries the immudb backend writes
 * with ExecAll: the timeline entry (timeline key → canonical record) and `ev/<eventId>` as an
 * immudb reference to it (value 0x01 ‖ u64 atTx ‖ prefixed timeline key, exactly pkg/database's
 * EncodeReference), unbound (atTx 0) as the immudb backend writes it (logs written before
 * 2026-12-03 hold it bound to its own tx; both load). Entry digests, the per-tx htree (eH), the
 * Alh chain and the binary-linking AHTree are immudb's, so a transaction here hashes as the same
 * entries would in immudb, and bundles are checked by the same verifier. Linking is synchronous, as in immudb: blTxId =
 * id − 1 and blRoot = root of the AHTree over the Alhs of txs 1..id−1 (the verifier requires it).
 *
 * A transaction is acknowledged only after its record is written and fdatasync'ed; only then do
 * the in-memory index and AHTree see it. Proof bundles are built with dual-proof.ts, checked by
 * assertProofBundle before they are returned, and the trusted state (TrustedStateStore, ledger
 * 'embedded') advances only to a state such a proof led to.
 *
 * recordedAt is the tx timestamp, Unix seconds like immudb's TxMetadata.ts; it never goes back
 * (a clock step backwards reuses the previous tx's second).
 *
 * Start-up replays the whole log (load → replay), about 3 µs of main-thread CPU per single-event
 * tx: a worker thread (alh-worker.ts) supplies each record's checksum verdict, Alh and AHTree leaf,
 * the main thread checks the chain and layout, hashes the AHTree's inner nodes and indexes keys
 * (values stay on disk). Hashing there uses sha256.mjs (no allocation per hash); what it computes
 * is checked against the log (prevAlh, the last blRoot) and every proof by the node:crypto verifier.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { decodeRecord, encodeRecord as encodeEventRecord } from '../../events/canonical.ts';
import type { AuditEventRecord } from '../../events/types.ts';
import { AuditError, ErrorCode, ledgerUnavailable, verificationFailed } from '../../errors.ts';
import { AHTree } from '../../proof/ahtree.ts';
import { buildDualProof, type DualProofStore } from '../../proof/dual-proof.ts';
import {
  decodeTxHeader,
  EMPTY,
  encodeTxHeader,
  GENESIS_PREV_ALH,
  HASH_SIZE,
  HTree,
  kvDigest,
  PLAIN_VALUE_PREFIX,
  SET_KEY_PREFIX,
  toHex,
  TX_HEADER_SIZE,
  txAlh,
  txHeaderToJson,
  ZERO_HASH,
  type TxHeader,
} from '../../proof/hashing.ts';
import { deepFreeze, PROOF_FORMAT, type DualProofJson, type LedgerState, type ProofBundle, type TxHeaderJson } from '../../proof/types.ts';
import { assertProofBundle, assertProofBundlesOfTx } from '../../proof/verify.ts';
import type { LedgerBackend } from '../group-commit.ts';
import { eventIdKey, timelineKey, timelinePrefix, timelineSeekKey } from '../keys.ts';
import type { AppendResult, BulkReadStep, CommittedTx, ScanDirection, StoredEvent, TimelinePage, TimelinePosition } from '../port.ts';
import { readInBulkInOrder } from '../bulk-read.ts';
import type { TrustedStateStore } from '../trusted-state.ts';
import { startAlhWorker, type AlhSource } from './alh-worker.ts';
import { createSha256 } from '../sha256.mjs';
import { Column } from './column.ts';
import { EventIndex, Latin1Interner } from './event-index.ts';
import {
  ENTRIES_OFFSET,
  encodeRecord,
  FILE_HEADER_SIZE,
  MAX_BODY,
  MIN_BODY,
  RECORD_MAGIC,
  forEachEntry,
  fsyncDir,
  HEADER_OFFSET,
  readFully,
  recordChecksumOk,
  scanLog,
  type LogEntry,
  type ScanResult,
} from './log.ts';

/** SHA-256 without allocation for the hot paths (start-up hashes ~4 small inputs per tx); see sha256.mjs. */
const { hashInto } = createSha256();
/** 2048 events = 4096 entries per tx: one API batch (1000) always fits, and group commit can merge two. */
export const MAX_EVENTS_PER_TX = 2048;
/** immudb 1.1's MaxKeyScanLimit: pages are capped as the immudb backend's (limit + 1 look-ahead <= this). */
const MAX_SCAN = 1000;
const REFERENCE_VALUE_PREFIX = 0x01;
const EV_KEY = Buffer.from('ev/', 'latin1');
/** Stored timeline key: 0x00 ‖ "tl/" ‖ esc ‖ "/" ‖ 15 digits ‖ "/" ‖ 36-char uuid. */
const TL_SUFFIX = 1 + 15 + 1 + 36;
/** Logs at least this big get the Alh worker at start-up (starting it costs a few ms). */
const WORKER_THRESHOLD = 16 * 1024 * 1024;
const HEADER_CACHE = 8192;
/** readTransactions stops adding txs past this many events (it always returns at least one tx). */
const READ_TXS_MAX_EVENTS = 10_000;
const TREE_CACHE = 16;
/** Reads of neighbouring entries are merged when the gap is below this. */
const READ_GAP = 64 * 1024;
const READ_MAX = 4 * 1024 * 1024;

export type StartupVerification = 'chain' | 'full';

export interface Logger {
  warn(message: string): void;
}

export interface EmbeddedLedgerOptions {
  /** The log file (created when missing) and its directory. */
  file: string;
  fd: number;
  size: number;
  database: string;
  trusted: TrustedStateStore;
  /**
   * 'chain' (default): per record the checksum, id sequence, prevAlh → Alh chain, blTxId and the
   * entry layout, plus the last tx's blRoot against the rebuilt AHTree. 'full' also recomputes
   * every tx's eH from its entries and every blRoot (about 5x slower). Either way a damaged
   * entry or blRoot can't be served: every read that hands out a proof rebuilds the tx's htree
   * and checks the bundle.
   */
  verify?: StartupVerification;
  logger?: Logger;
  /** Logs of at least this many bytes get the start-up Alh worker (alh-worker.ts); default 16 MiB. */
  workerMinBytes?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

interface TxTree {
  header: TxHeader;
  tree: HTree;
}

export interface StartupReport {
  txs: number;
  events: number;
  bytes: number;
  ms: number;
  tornTail: ScanResult['tornTail'];
  /** Records whose Alh and checksum the start-up worker supplied (0 without it). */
  workerRecords: number;
}

export class EmbeddedLedger implements LedgerBackend, DualProofStore {
  readonly kind = 'embedded' as const;
  readonly database: string;
  readonly maxEventsPerTx = MAX_EVENTS_PER_TX;
  readonly aht = new AHTree(hashInto);
  readonly file: string;
  private readonly fd: number;
  private readonly trusted: TrustedStateStore;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly index = new EventIndex();
  /** Per tx id (index 0 unused): record offset, record length, ts (seconds). */
  private readonly txOffset = Column.of(0);
  private readonly txLength = Column.of(0);
  private readonly txTs = Column.of(0);
  /** Event number of each tx's first event: a tx's events are numbered contiguously, in entry order. */
  private readonly txFirstEvent = Column.of(0);
  private lastId = 0;
  private lastAlh: Buffer = GENESIS_PREV_ALH;
  private end: number;
  private readonly headers = new Map<number, TxHeader>();
  private readonly trees = new Map<number, TxTree>();
  private writing: Promise<unknown> = Promise.resolve();
  private readonly reads = new Set<Promise<unknown>>();
  private closed = false;
  /** Set when a failed write could not be undone: the file's tail is unknown until a restart recovers it. */
  private broken: Error | null = null;
  private readonly scratch = Buffer.allocUnsafe(40 + HASH_SIZE);
  /** Start-up: the Alh and AHTree leaf of the record being replayed, and the Alh before it. */
  private readonly replayPair = Buffer.allocUnsafe(2 * HASH_SIZE);
  private readonly replayPrev = Buffer.from(GENESIS_PREV_ALH);
  private readonly leafInput = Buffer.alloc(1 + HASH_SIZE); // 0x00 ‖ Alh
  /** Start-up: timeline prefixes as strings, made once per correlation rather than once per event. */
  private readonly prefixes = new Latin1Interner();
  private alhSource: AlhSource | null = null;
  private workerRecords = 0;
  onClose: (() => void) | null = null;
  startup: StartupReport | null = null;

  private constructor(options: EmbeddedLedgerOptions) {
    this.file = options.file;
    this.fd = options.fd;
    this.end = options.size;
    this.database = options.database;
    this.trusted = options.trusted;
    this.logger = options.logger ?? { warn: (m) => console.warn(m) };
    this.now = options.now ?? Date.now;
  }

  /** Rebuilds the ledger from its log (truncating a torn tail) and checks it against the trusted state. */
  static async load(options: EmbeddedLedgerOptions): Promise<EmbeddedLedger> {
    const ledger = new EmbeddedLedger(options);
    const started = performance.now();
    // Large logs: a worker computes Alhs and checksums alongside (alh-worker.ts); the main thread never waits for it.
    ledger.alhSource =
      options.size >= (options.workerMinBytes ?? WORKER_THRESHOLD)
        ? startAlhWorker({ path: options.file, size: options.size, start: FILE_HEADER_SIZE, magic: RECORD_MAGIC, headerOffset: HEADER_OFFSET, headerSize: TX_HEADER_SIZE, minBody: MIN_BODY, maxBody: MAX_BODY })
        : null;
    let result: ScanResult;
    try {
      const source = ledger.alhSource;
      result = scanLog(
        options.file,
        options.fd,
        options.size,
        (buf, start, length, offset) => ledger.replay(buf, start, length, offset, options.verify === 'full'),
        source ? (k, offset) => source.checksumOk(k, offset) : undefined,
      );
    } finally {
      await ledger.alhSource?.stop();
      ledger.alhSource = null;
    }
    ledger.index.finishBulk();
    if (ledger.lastId > 0) ledger.lastAlh = Buffer.from(ledger.replayPrev);
    if (ledger.lastId > 0) {
      // The last blRoot is always checked: it pins the rebuilt AHTree to the chain.
      const last = ledger.header(BigInt(ledger.lastId));
      const expect = ledger.lastId > 1 ? ledger.aht.root(ledger.lastId - 1) : ZERO_HASH;
      if (!last.blRoot.equals(expect)) {
        throw verificationFailed(`embedded ledger ${options.file}: blRoot of tx ${ledger.lastId} does not match the rebuilt binary-linking tree`);
      }
    }
    // Before anything is cut off: a tail the trusted state has seen was acknowledged, and losing it
    // must stop start-up with the bytes still in place.
    await ledger.checkTrustedState();
    if (result.tornTail) ledger.truncateTail(result.end, result.tornTail);
    ledger.end = result.end;
    ledger.startup = {
      txs: ledger.lastId,
      events: ledger.index.size,
      bytes: result.end,
      ms: performance.now() - started,
      tornTail: result.tornTail,
      workerRecords: ledger.workerRecords,
    };
    return ledger;
  }

  // --- LedgerBackend ---------------------------------------------------------------------

  commit(records: AuditEventRecord[]): Promise<AppendResult[]> {
    // One writer at a time even if a caller bypasses group commit.
    const run = this.writing.then(() => this.commitNow(records));
    this.writing = run.catch(() => undefined);
    return run;
  }

  async getVerified(eventId: string, trusted?: LedgerState): Promise<AppendResult | null> {
    this.ensureOpen();
    const id = lowerId(eventId);
    const n = this.index.find(id);
    if (n === undefined) return null;
    return this.track(async () => {
      const txId = this.index.txIds[n]!;
      const { header, tree } = await this.txTree(txId);
      const raw = await this.readEntries([n]);
      const { key, value } = raw[0]!;
      const record = this.decode(value, key, id);
      const base = trusted ?? this.trusted.current();
      const proven = this.prove(header, base);
      const proof = this.bundle(proven, tree, this.index.leaf[n]!, key, value);
      assertProofBundle(proof, proven.assertWith);
      if (!trusted) await this.trusted.advance(proof.state);
      return { event: { record, txId: String(txId), key, recordedAt: this.recordedAt(txId) }, proof, created: false };
    });
  }

  async getMany(eventIds: readonly string[]): Promise<(StoredEvent | null)[]> {
    this.ensureOpen();
    const ns = eventIds.map((e) => this.index.find(lowerId(e)));
    const present = ns.filter((n): n is number => n !== undefined);
    if (present.length === 0) return ns.map(() => null);
    const events = await this.track(() => this.readEvents(present));
    const byN = new Map(present.map((n, i) => [n, events[i]!]));
    return ns.map((n) => (n === undefined ? null : byN.get(n)!));
  }

  async scanTimeline(
    correlationId: string,
    { after, limit, direction }: { after?: TimelinePosition; limit: number; direction: ScanDirection },
  ): Promise<TimelinePage> {
    this.ensureOpen();
    const prefix = timelinePrefix(correlationId).toString('latin1');
    let position: { tsMs: number; eventId: string } | undefined;
    if (after) {
      timelineSeekKey(correlationId, after); // same validation (and errors) as the immudb backend
      position = { tsMs: Date.parse(after.timestamp), eventId: after.eventId.toLowerCase() };
    }
    const want = Math.max(0, Math.min(limit, MAX_SCAN - 1));
    // The slice is taken synchronously: commits landing while values are read don't shift it.
    const { items, hasMore } = this.index.scan(prefix, position, want, direction === 'desc');
    if (items.length === 0) return { events: [], hasMore };
    return { events: await this.track(() => this.readEvents(items)), hasMore };
  }

  async readTransactions(afterTxId: string, maxTxs: number): Promise<CommittedTx[]> {
    this.ensureOpen();
    if (typeof afterTxId !== 'string' || !/^(?:0|[1-9][0-9]{0,19})$/.test(afterTxId)) throw new TypeError('afterTxId must be a decimal tx id');
    const from = Number(afterTxId) + 1;
    // As immudb's TxScan: at most MAX_SCAN txs; also bounded in events so one call stays small.
    const limit = Math.max(1, Math.min(maxTxs, MAX_SCAN));
    const txs: number[] = [];
    const ns: number[] = [];
    for (let id = from; id <= this.lastId && txs.length < limit; id++) {
      if (txs.length > 0 && ns.length >= READ_TXS_MAX_EVENTS) break;
      txs.push(id);
      const stop = id < this.lastId ? this.txFirstEvent.get(id + 1) : this.index.size;
      for (let n = this.txFirstEvent.get(id); n < stop; n++) ns.push(n);
    }
    if (txs.length === 0) return [];
    const events = ns.length > 0 ? await this.track(() => this.readEvents(ns)) : [];
    const out = txs.map((id): CommittedTx => ({ txId: String(id), recordedAt: this.recordedAt(id), events: [] }));
    for (const e of events) out[Number(e.txId) - from]!.events.push(e);
    return out;
  }

  readInBulk(afterTxId: string, options: { maxEvents: number; attempts?: number }): AsyncGenerator<BulkReadStep, void, undefined> {
    return readInBulkInOrder((after, maxTxs) => this.readTransactions(after, maxTxs), afterTxId, options);
  }

  async lastTxId(): Promise<string> {
    this.ensureOpen();
    return String(this.lastId);
  }

  async trustedState(): Promise<LedgerState> {
    this.ensureOpen();
    const current = this.trusted.current();
    if (current) return current;
    return { txId: '0', txHash: '0'.repeat(64) };
  }

  async ping(): Promise<void> {
    this.ensureOpen();
    if (this.broken) throw ledgerUnavailable(`the embedded ledger stopped accepting writes: ${this.broken.message}`, this.broken);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writing;
    while (this.reads.size > 0) await Promise.allSettled([...this.reads]);
    fs.closeSync(this.fd);
    this.onClose?.();
  }

  // --- DualProofStore --------------------------------------------------------------------

  header(id: bigint): TxHeader {
    const n = Number(id);
    if (!Number.isSafeInteger(n) || n < 1 || n > this.lastId) throw new RangeError(`no tx ${id}`);
    const cached = this.headers.get(n);
    if (cached) return cached;
    const b = Buffer.allocUnsafe(TX_HEADER_SIZE);
    readFully(this.fd, b, TX_HEADER_SIZE, this.txOffset.get(n) + HEADER_OFFSET);
    const h = decodeTxHeader(b);
    if (h.id !== id) throw verificationFailed(`the log holds tx ${h.id} where tx ${id} was`);
    this.cacheHeader(n, h);
    return h;
  }

  // --- writing ---------------------------------------------------------------------------

  private async commitNow(records: AuditEventRecord[]): Promise<AppendResult[]> {
    this.ensureOpen();
    if (this.broken) throw ledgerUnavailable(`the embedded ledger stopped accepting writes: ${this.broken.message}`, this.broken);
    if (records.length === 0) return [];
    for (const r of records) if (this.index.has(r.eventId)) throw new Error(`eventId ${r.eventId} is already stored`);
    const id = this.lastId + 1;
    const previous = this.lastId > 0 ? this.txTs.get(this.lastId) : 0;
    const { header, record, keys, values, tree } = buildTransaction({
      id,
      prevAlh: this.lastAlh,
      ts: Math.max(Math.floor(this.now() / 1000), previous),
      blRoot: id > 1 ? this.aht.root(id - 1) : ZERO_HASH,
      records,
    });
    const offset = this.end;
    await this.persist(record, offset);

    // Durable: from here on the tx exists, in memory as on disk.
    const alh = txAlh(header);
    this.aht.append(alh);
    this.lastId = id;
    this.lastAlh = alh;
    this.end = offset + record.length;
    this.txOffset.push(offset);
    this.txLength.push(record.length);
    this.txTs.push(Number(header.ts));
    this.txFirstEvent.push(this.index.size);
    this.cacheHeader(id, header);
    this.cacheTree(id, { header, tree });
    forEachEntry(record, header.nEntries, (i, s) => {
      if (i % 2 !== 0) return;
      const r = records[i / 2]!;
      const prefix = record.toString('latin1', s.keyStart + 1, s.keyEnd - TL_SUFFIX + 1);
      this.index.add(r.eventId, prefix, Date.parse(r.timestamp), id, offset + s.keyStart - 4, s.valueEnd - s.keyStart + 4, i, false);
    });

    const proven = this.prove(header, this.trusted.current());
    const recordedAt = this.recordedAt(id);
    const results = records.map(
      (r, i): AppendResult => ({
        event: { record: r, txId: String(id), key: keys[i]!, recordedAt },
        proof: this.bundle(proven, tree, 2 * i, keys[i]!, values[i]!),
        created: true,
      }),
    );
    // The shared link is verified once, each entry's inclusion on its own.
    assertProofBundlesOfTx(results.map((r) => r.proof), proven.assertWith);
    await this.trusted.advance(results[0]!.proof.state);
    return results;
  }

  /** Writes the record at `offset` and fdatasyncs; on failure undoes the partial write or stops writing. */
  private async persist(record: Buffer, offset: number): Promise<void> {
    try {
      let done = 0;
      while (done < record.length) done += await fdWrite(this.fd, record, done, record.length - done, offset + done);
      await fdDatasync(this.fd);
    } catch (e) {
      try {
        fs.ftruncateSync(this.fd, offset);
        fs.fdatasyncSync(this.fd);
      } catch (t) {
        this.broken = t as Error;
      }
      // After a failed fsync the kernel may have dropped dirty pages: only a restart re-reads the truth.
      if ((e as NodeJS.ErrnoException).syscall === 'fdatasync' || (e as NodeJS.ErrnoException).syscall === 'fsync') this.broken = e as Error;
      throw ledgerUnavailable(`the embedded ledger could not write: ${(e as Error).message}`, e);
    }
  }

  // --- proofs ----------------------------------------------------------------------------

  /**
   * The dual proof linking `base` (what the reader trusts) and `tx`, shared by every entry of
   * tx. No base (an empty ledger's first tx) or the empty state: the tx proves itself.
   */
  private prove(tx: TxHeader, base: LedgerState | null): ProvenTx {
    let trustedTx = tx;
    let assertWith: LedgerState | undefined;
    if (base && !(base.txId === '0' && base.txHash === '0'.repeat(64))) {
      const id = /^[1-9][0-9]{0,15}$/.test(base.txId) ? Number(base.txId) : Number.NaN;
      if (!Number.isSafeInteger(id)) throw verificationFailed(`trusted state tx ${String(base.txId).slice(0, 24)} is malformed`);
      if (id > this.lastId) throw verificationFailed(`trusted state tx ${id} is beyond this ledger's last tx ${this.lastId}: it comes from another history`);
      trustedTx = this.header(BigInt(id));
      if (toHex(txAlh(trustedTx)) !== base.txHash) throw verificationFailed(`trusted state does not match tx ${id} of this ledger`);
      assertWith = base;
    }
    const [source, target] = trustedTx.id <= tx.id ? [trustedTx, tx] : [tx, trustedTx];
    return {
      tx: deepFreeze(txHeaderToJson(tx)),
      dualProof: deepFreeze(buildDualProof(source, target, this)),
      trustedState: deepFreeze({ txId: trustedTx.id.toString(), txHash: toHex(txAlh(trustedTx)) }),
      state: deepFreeze({ txId: target.id.toString(), txHash: toHex(txAlh(target)), signature: null }),
      assertWith,
    };
  }

  /**
   * One entry's bundle (as dual-proof.ts's buildProofBundle lays it out). The tx's bundles share
   * their frozen tx/trustedState/dualProof/state objects; callers verify before handing them out.
   */
  private bundle(proven: ProvenTx, tree: HTree, leaf: number, key: Buffer, value: Buffer): ProofBundle {
    return {
      format: PROOF_FORMAT,
      ledger: 'embedded',
      database: this.database,
      entry: { key: key.toString('base64'), value: value.toString('base64'), metadata: '' },
      tx: proven.tx,
      inclusion: { leaf, width: proven.tx.nEntries, terms: tree.inclusionProofHex(leaf) },
      trustedState: proven.trustedState,
      dualProof: proven.dualProof,
      state: proven.state,
    };
  }

  /** The tx's header and htree, rebuilt from the record on disk (checksum and eH checked). */
  private async txTree(txId: number): Promise<TxTree> {
    const cached = this.trees.get(txId);
    if (cached) return cached;
    const record = Buffer.allocUnsafe(this.txLength.get(txId));
    await readAt(this.fd, record, this.txOffset.get(txId));
    if (!recordChecksumOk(record)) throw verificationFailed(`tx ${txId} is damaged on disk (checksum mismatch at offset ${this.txOffset.get(txId)})`);
    const header = this.header(BigInt(txId));
    if (!record.subarray(HEADER_OFFSET, ENTRIES_OFFSET).equals(encodeTxHeader(header))) {
      throw verificationFailed(`tx ${txId}'s header on disk changed since start-up`);
    }
    const digests: Buffer[] = [];
    forEachEntry(record, header.nEntries, (_, s) => {
      digests.push(kvDigest(record.subarray(s.keyStart, s.keyEnd), record.subarray(s.valueStart, s.valueEnd)));
    });
    const tree = HTree.build(digests, hashInto);
    if (!tree.root.equals(header.eH)) throw verificationFailed(`tx ${txId}'s entries do not hash to its eH`);
    const t = { header, tree };
    this.cacheTree(txId, t);
    return t;
  }

  // --- reading ---------------------------------------------------------------------------

  private async readEvents(ns: number[]): Promise<StoredEvent[]> {
    const raw = await this.readEntries(ns);
    return ns.map((n, i) => {
      const { key, value } = raw[i]!;
      const txId = this.index.txIds[n]!;
      return { record: this.decode(value, key, this.index.eventId(n)), txId: String(txId), key, recordedAt: this.recordedAt(txId) };
    });
  }

  /** Timeline entries (gateway key and value, prefixes stripped) of events, with nearby reads merged. */
  private async readEntries(ns: number[]): Promise<{ key: Buffer; value: Buffer }[]> {
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

  private decode(value: Buffer, key: Buffer, eventId: string): AuditEventRecord {
    let record: AuditEventRecord;
    try {
      record = decodeRecord(value);
    } catch (e) {
      throw verificationFailed(`the ledger entry ${key.toString('latin1')} does not hold a valid event: ${(e as Error).message}`);
    }
    if (record.eventId !== eventId) throw verificationFailed(`the ledger answered event ${record.eventId} for ${eventId}`);
    return record;
  }

  async commitTimes(txIds: readonly string[]): Promise<(string | null)[]> {
    return txIds.map((id) => {
      const n = Number(id);
      return Number.isSafeInteger(n) && n >= 1 && n <= this.lastId ? this.recordedAt(n) : null;
    });
  }

  private recordedAt(txId: number): string {
    return new Date(this.txTs.get(txId) * 1000).toISOString();
  }

  // --- start-up --------------------------------------------------------------------------

  /**
   * Replays one intact record (`length` bytes at `r` of `b`, found at file offset `offset`): checks
   * it continues the chain and has the entry layout commit writes, and indexes it (if anything is
   * wrong start-up fails, so partial indexing is moot). Hot path at start-up, run a million times:
   * plain loops and byte arithmetic, no per-record views, closures or objects.
   */
  private replay(b: Buffer, r: number, length: number, offset: number, full: boolean): void {
    const H = r + HEADER_OFFSET;
    const id = u32(b, H) * 2 ** 32 + u32(b, H + 4);
    const expected = this.lastId + 1;
    if (id !== expected) throw new Error(`tx id ${id} where ${expected} was expected`);
    if (!sameBytes(this.replayPrev, 0, b, H + 8, HASH_SIZE)) throw new Error(`tx ${id}: prevAlh is not the Alh of tx ${this.lastId}`);
    const ts = (u32(b, H + 40) | 0) * 2 ** 32 + u32(b, H + 44);
    const nEntries = u32(b, H + 48);
    const blTxId = u32(b, H + 84) * 2 ** 32 + u32(b, H + 88);
    if (blTxId !== id - 1) throw new Error(`tx ${id}: blTxId ${blTxId}, expected ${id - 1}`);
    if (id === 1 && !sameBytes(ZERO_HASH, 0, b, H + 92, HASH_SIZE)) throw new Error('tx 1: blRoot must be zero');
    if (full && id > 1 && !sameBytes(this.aht.root(id - 1), 0, b, H + 92, HASH_SIZE)) throw new Error(`tx ${id}: blRoot does not match the binary-linking tree`);
    if (nEntries < 2 || nEntries % 2 !== 0) throw new Error(`tx ${id}: ${nEntries} entries, expected pairs of timeline and id entries`);

    // Alh = sha256(id ‖ prevAlh ‖ innerHash), innerHash = sha256(ts ‖ nEntries ‖ eH ‖ blTxId ‖ blRoot):
    // both spans are contiguous in the serialized header. Its AHTree leaf is sha256(0x00 ‖ Alh).
    const pair = this.replayPair;
    if (this.alhSource?.take(id - 1, offset, pair)) this.workerRecords++;
    else {
      const scratch = this.scratch;
      const leafInput = this.leafInput;
      for (let i = 0; i < 40; i++) scratch[i] = b[H + i]!;
      hashInto(b, H + 40, H + TX_HEADER_SIZE, scratch, 40);
      hashInto(scratch, 0, 40 + HASH_SIZE, pair, 0);
      for (let i = 0; i < HASH_SIZE; i++) leafInput[1 + i] = pair[i]!;
      hashInto(leafInput, 0, 1 + HASH_SIZE, pair, HASH_SIZE);
    }

    const digests: Buffer[] | null = full ? [] : null;
    const firstEvent = this.index.size;
    const end = r + length - 4;
    let p = r + ENTRIES_OFFSET;
    for (let i = 0; i < nEntries; i += 2) {
      // Timeline entry: 0x00 "tl/" esc "/" 15 digits "/" uuid → 0x00 ‖ record.
      const ks = p + 4;
      const ke = ks + (ks <= end ? u32(b, p) : 0);
      const vs = ke + 4;
      const ve = vs + (vs <= end ? u32(b, ke) : 0);
      if (ke <= ks || vs > end || ve > end) throw new Error(`tx ${id} entry ${i}: bad entry lengths`);
      if (ke - ks < 4 + 1 + TL_SUFFIX || b[ks] !== SET_KEY_PREFIX || b[ks + 1] !== 0x74 || b[ks + 2] !== 0x6c || b[ks + 3] !== 0x2f) {
        throw new Error(`tx ${id} entry ${i}: not a timeline key`);
      }
      if (b[ke - 37] !== 0x2f || b[ke - TL_SUFFIX] !== 0x2f) throw new Error(`tx ${id} entry ${i}: malformed timeline key`);
      let tsMs = 0;
      for (let q = ke - 52; q < ke - 37; q++) {
        const d = b[q]! - 0x30;
        if (d < 0 || d > 9) throw new Error(`tx ${id} entry ${i}: malformed timestamp in timeline key`);
        tsMs = tsMs * 10 + d;
      }
      if (ve - vs < 2 || b[vs] !== PLAIN_VALUE_PREFIX) throw new Error(`tx ${id} entry ${i}: timeline value is not a plain value`);

      // Id entry: 0x00 "ev/" uuid → 0x01 ‖ u64 atTx ‖ the timeline key above: unbound (0), as the
      // immudb backend writes it, or bound to this tx, as logs written before 2026-12-03 hold it.
      const rp = ve;
      const rks = rp + 4;
      const rke = rks + (rks <= end ? u32(b, rp) : 0);
      const rvs = rke + 4;
      const rve = rvs + (rvs <= end ? u32(b, rke) : 0);
      const j = i + 1;
      if (rke <= rks || rvs > end || rve > end) throw new Error(`tx ${id} entry ${j}: bad entry lengths`);
      if (rke - rks !== 1 + EV_KEY.length + 36 || b[rks] !== SET_KEY_PREFIX || !sameBytes(EV_KEY, 0, b, rks + 1, EV_KEY.length)) {
        throw new Error(`tx ${id} entry ${j}: not an id key`);
      }
      if (!sameBytes(b, ke - 36, b, rks + 4, 36)) throw new Error(`tx ${id} entry ${j}: id key does not match the timeline entry before it`);
      if (rve - rvs !== 9 + (ke - ks) || b[rvs] !== REFERENCE_VALUE_PREFIX) throw new Error(`tx ${id} entry ${j}: id entry is not a reference`);
      const atTx = u32(b, rvs + 1) * 2 ** 32 + u32(b, rvs + 5);
      if (atTx !== 0 && atTx !== id) throw new Error(`tx ${id} entry ${j}: reference bound to another tx`);
      if (!sameBytes(b, ks, b, rvs + 9, ke - ks)) throw new Error(`tx ${id} entry ${j}: reference does not point at the timeline entry`);

      if (digests) {
        digests.push(kvDigest(b.subarray(ks, ke), b.subarray(vs, ve)));
        digests.push(kvDigest(b.subarray(rks, rke), b.subarray(rvs, rve)));
      }
      const prefix = this.prefixes.intern(b, ks + 1, ke - TL_SUFFIX + 1);
      if (this.index.addAscii(b, ke - 36, prefix, tsMs, id, offset + (p - r), ve - p, i, true) < 0) throw new Error(`tx ${id} entry ${i}: malformed eventId in timeline key`);
      p = rve;
    }
    if (p !== end) throw new Error(`tx ${id}: ${end - p} stray bytes after the last entry`);
    if (digests && !sameBytes(HTree.build(digests, hashInto).root, 0, b, H + 52, HASH_SIZE)) throw new Error(`tx ${id}: entries do not hash to eH`);

    this.aht.appendLeafHash(pair, HASH_SIZE);
    this.lastId = id;
    for (let i = 0; i < HASH_SIZE; i++) this.replayPrev[i] = pair[i]!;
    this.txOffset.push(offset);
    this.txLength.push(length);
    this.txTs.push(ts);
    this.txFirstEvent.push(firstEvent);
  }

  private truncateTail(end: number, torn: NonNullable<ScanResult['tornTail']>): void {
    // Keep the discarded bytes beside the log for inspection; they were never acknowledged.
    const saved = `${this.file}.torn-${torn.offset}-${Date.now()}`;
    const bytes = Buffer.allocUnsafe(Math.min(torn.length, 64 * 1024 * 1024));
    readFully(this.fd, bytes, bytes.length, torn.offset);
    fs.writeFileSync(saved, bytes);
    fs.ftruncateSync(this.fd, end);
    fs.fsyncSync(this.fd);
    fsyncDir(join(this.file, '..'));
    this.logger.warn(
      `embedded ledger ${this.file}: discarded a torn tail of ${torn.length} bytes at offset ${torn.offset} (${torn.reason}); ` +
        `it held no acknowledged transaction. The bytes were saved to ${saved}`,
    );
  }

  /** The trusted state must be a tx of this log with the same Alh; else the log lost or rewrote history. */
  private async checkTrustedState(): Promise<void> {
    const t = this.trusted.current();
    if (!t) {
      if (this.lastId > 0) {
        this.logger.warn(`embedded ledger ${this.file}: no trusted state was saved; trusting the log's verified chain up to tx ${this.lastId}`);
        await this.trusted.advance({ txId: String(this.lastId), txHash: toHex(this.lastAlh) });
      }
      return;
    }
    const id = Number(t.txId);
    if (!Number.isSafeInteger(id) || id > this.lastId) {
      throw verificationFailed(
        `embedded ledger ${this.file} ends at tx ${this.lastId} but the trusted state (${this.trusted.file}) has seen tx ${t.txId}: acknowledged transactions are missing`,
      );
    }
    if (toHex(txAlh(this.header(BigInt(id)))) !== t.txHash) {
      throw verificationFailed(`embedded ledger ${this.file}: tx ${id} does not hash to the trusted state (${this.trusted.file}): history was rewritten`);
    }
  }

  // --- helpers ---------------------------------------------------------------------------

  private ensureOpen(): void {
    if (this.closed) throw new AuditError(ErrorCode.LEDGER_UNAVAILABLE, 'the embedded ledger is closed');
  }

  /** Runs a read so that close() waits for it before closing the file. */
  private track<T>(fn: () => Promise<T>): Promise<T> {
    const p = fn();
    this.reads.add(p);
    const done = () => this.reads.delete(p);
    p.then(done, done);
    return p;
  }

  private cacheHeader(id: number, h: TxHeader): void {
    this.headers.set(id, h);
    if (this.headers.size > HEADER_CACHE) this.headers.delete(this.headers.keys().next().value!);
  }

  private cacheTree(id: number, t: TxTree): void {
    this.trees.set(id, t);
    if (this.trees.size > TREE_CACHE) this.trees.delete(this.trees.keys().next().value!);
  }
}

export interface BuiltTransaction {
  header: TxHeader;
  /** The framed log record. */
  record: Buffer;
  /** Per event: gateway-level timeline key and canonical value (what bundles show). */
  keys: Buffer[];
  values: Buffer[];
  tree: HTree;
}

/**
 * Lays out one transaction as immudb's ExecAll would store it — per event the timeline entry,
 * then `ev/<eventId>` bound to this tx — and frames it. Pure: the caller supplies the chain
 * position (prevAlh, blRoot = AHTree root over txs 1..id−1) and the ts in seconds.
 */
export function buildTransaction(input: { id: number; prevAlh: Buffer; ts: number; blRoot: Buffer; records: readonly AuditEventRecord[] }): BuiltTransaction {
  const { id, records } = input;
  if (records.length === 0 || records.length > MAX_EVENTS_PER_TX) throw new RangeError(`1 to ${MAX_EVENTS_PER_TX} events per transaction`);
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  const entries: LogEntry[] = [];
  const seen = new Set<string>();
  for (const r of records) {
    if (seen.has(r.eventId)) throw new Error(`eventId ${r.eventId} twice in one transaction`);
    seen.add(r.eventId);
    const key = timelineKey(r.correlationId, r.timestamp, r.eventId);
    const value = encodeEventRecord(r);
    keys.push(key);
    values.push(value);
    const storedKey = prefixed(SET_KEY_PREFIX, key);
    entries.push({ key: storedKey, value: prefixed(PLAIN_VALUE_PREFIX, value) });
    // Unbound, as the immudb backend writes it, so the same events hash to the same entries.
    entries.push({ key: prefixed(SET_KEY_PREFIX, eventIdKey(r.eventId)), value: referenceValue(0, storedKey) });
  }
  const tree = HTree.build(entries.map((e) => kvDigest(e.key, e.value)));
  const header: TxHeader = {
    id: BigInt(id),
    prevAlh: input.prevAlh,
    ts: BigInt(input.ts),
    version: 0,
    metadata: EMPTY,
    nEntries: entries.length,
    eH: tree.root,
    blTxId: BigInt(id - 1),
    blRoot: input.blRoot,
  };
  return { header, record: encodeRecord(encodeTxHeader(header), entries), keys, values, tree };
}

interface ProvenTx {
  tx: TxHeaderJson;
  dualProof: DualProofJson;
  trustedState: LedgerState;
  state: ProofBundle['state'];
  /** The caller's trusted state, checked by the verifier too (absent for a self-proof). */
  assertWith: LedgerState | undefined;
}

function lowerId(eventId: string): string {
  eventIdKey(eventId); // throws on anything that is not a UUID, like the immudb backend
  return eventId.toLowerCase();
}

function prefixed(prefix: number, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + b.length);
  out[0] = prefix;
  out.set(b, 1);
  return out;
}

/** pkg/database's WrapReferenceValueAt: 0x01 ‖ u64 atTx ‖ referenced key (with its prefix). */
function referenceValue(atTx: number, storedKey: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(9 + storedKey.length);
  b[0] = REFERENCE_VALUE_PREFIX;
  b.writeBigUInt64BE(BigInt(atTx), 1);
  b.set(storedKey, 9);
  return b;
}

/** Big-endian u32 at b[at] (no bounds check: callers check against the record's end). */
function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** a[ao..ao+n) equals b[bo..bo+n) (a plain loop: cheaper than Buffer.compare for short spans). */
function sameBytes(a: Uint8Array, ao: number, b: Uint8Array, bo: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

/** Key (prefix stripped) and value (prefix stripped) of a timeline entry read back by offset. */
function parseTimelineEntry(buf: Buffer, at: number, len: number, fileOffset: number): { key: Buffer; value: Buffer } {
  const kLen = buf.readUInt32BE(at);
  const vLenAt = at + 4 + kLen;
  const vLen = buf.readUInt32BE(vLenAt);
  if (4 + kLen + 4 + vLen !== len || buf[at + 4] !== SET_KEY_PREFIX || buf[vLenAt + 4] !== PLAIN_VALUE_PREFIX) {
    throw verificationFailed(`the log entry at offset ${fileOffset} changed since start-up`);
  }
  return {
    key: Buffer.from(buf.subarray(at + 5, vLenAt)),
    value: Buffer.from(buf.subarray(vLenAt + 5, vLenAt + 4 + vLen)),
  };
}

function fdWrite(fd: number, buf: Buffer, off: number, len: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, off, len, position, (e, n) => (e ? reject(e) : resolve(n))));
}

function fdDatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
}

async function readAt(fd: number, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const n = await new Promise<number>((resolve, reject) =>
      fs.read(fd, buf, done, buf.length - done, position + done, (e, r) => (e ? reject(e) : resolve(r))),
    );
    if (n === 0) throw verificationFailed(`the log ends before offset ${position + buf.length}`);
    done += n;
  }
}
