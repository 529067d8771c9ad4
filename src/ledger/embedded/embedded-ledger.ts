/**
 * The embedded ledger backend: immudb's transaction model with v0 headers (immudb 1.1's, and
 * 1.2+'s compatibility mode) in one append-only file (log.ts), for running without an immudb
 * server. Why v0: its header has no metadata the embedded ledger would use, the on-disk record
 * stays the 124-byte layout every existing data directory holds (no migration), and both versions
 * rest on the same SHA-256 chain and trees; its bundles are `auditgraph.proof.v2` with version 0.
 *
 * Each commit is one transaction holding, per event, the two entries the immudb backend writes
 * with ExecAll (transaction.ts): the timeline entry and `ev/<eventId>` as an immudb reference to
 * it, unbound as the immudb backend writes it (older logs hold it bound to its own tx; both load).
 * Entry digests, the per-tx htree (eH), the Alh chain and the binary-linking AHTree are immudb's,
 * so a transaction here hashes as the same entries would in immudb, and bundles are checked by the
 * same verifier. Linking is synchronous, as in immudb: blTxId = id − 1 and blRoot = root of the
 * AHTree over the Alhs of txs 1..id−1 (the verifier requires it).
 *
 * A transaction is acknowledged only after its record is written and fdatasync'ed; only then do
 * the in-memory index and AHTree see it. Proof bundles are built with proof/bundle.ts over
 * dual-proof.ts's dual proofs, checked by assertProofBundle before they are returned, and the
 * trusted state (TrustedStateStore, ledger 'embedded') advances only to a state such a proof led to.
 *
 * recordedAt is the tx timestamp, Unix seconds like immudb's TxMetadata.ts; it never goes back
 * (a clock step backwards reuses the previous tx's second).
 *
 * Start-up (startup.ts) replays the whole log and recovers it: the chain, the AHTree and the index
 * of keys are rebuilt in memory (values stay on disk).
 *
 * One class past 400 lines on purpose: the port's calls, the write and the proofs share its state;
 * the tx layout (transaction.ts) and reads of the log by offset (log-reader.ts) live apart.
 */
import fs from 'node:fs';
import { decodeRecord } from '../../events/canonical.ts';
import type { AuditEventRecord } from '../../events/types.ts';
import { AuditError, ErrorCode, ledgerUnavailable, verificationFailed } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { AHTree } from '../../proof/ahtree.ts';
import { entryBundle, proofLink, type ProofLink } from '../../proof/bundle.ts';
import { toHex } from '../../proof/codecs.ts';
import { assertConsistencyProof, consistencyProofOf } from '../../proof/consistency.ts';
import { buildDualProof, type DualProofStore } from '../../proof/dual-proof.ts';
import { ZERO_HASH } from '../../proof/hashing.ts';
import type { HTree } from '../../proof/htree.ts';
import { txAlh, type TxHeader } from '../../proof/tx-header.ts';
import { VerifiedTxTree } from '../../proof/tx-tree.ts';
import { type ConsistencyProofJson, deepFreeze, type LedgerState, type ProofBundle } from '../../proof/types.ts';
import { assertProofBundle, assertProofBundlesOfTx } from '../../proof/verify.ts';
import { beyondNewest, consistencyRange, stateInHistory, txIdArgument, VerifiedHistory } from '../anchors.ts';
import { readInBulkInOrder } from '../bulk-read.ts';
import type { LedgerBackend } from '../group-commit.ts';
import { eventIdKey, timelinePrefix, timelineSeekKey, timelineWindow } from '../keys.ts';
import { anchoredTx } from '../anchored-tx.ts';
import type { AnchoredTx, AppendResult, BulkReadStep, CommittedTx, StoredEvent, TimelinePage, TimelineScan } from '../port.ts';
import type { TrustedStateStore } from '../trusted-state.ts';
import type { Column } from './column.ts';
import type { EventIndex } from './event-index.ts';
import { fdDatasync, fdWrite, forEachEntry } from './log.ts';
import { LogReader } from './log-reader.ts';
import { recover, replayLog, type ReplayedChain, type StartupReport, type StartupVerification } from './startup.ts';
import { buildTransaction, MAX_EVENTS_PER_TX, TL_SUFFIX } from './transaction.ts';

/** immudb 1.1's MaxKeyScanLimit: pages are capped as the immudb backend's (limit + 1 look-ahead <= this). */
const MAX_SCAN = 1000;
/** readTransactions stops adding txs past this many events (it always returns at least one tx). */
const READ_TXS_MAX_EVENTS = 10_000;

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
   * every tx's eH from its entries and every blRoot (several times slower). Either way a damaged
   * entry or blRoot can't be served: every read that hands out a proof rebuilds the tx's htree
   * and checks the bundle.
   */
  verify?: StartupVerification;
  logger?: Pick<Logger, 'warn'>;
  /** Logs of at least this many bytes get the start-up Alh worker (alh-worker.ts); default 16 MiB. */
  workerMinBytes?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

export class EmbeddedLedger implements LedgerBackend, DualProofStore {
  readonly kind = 'embedded' as const;
  readonly database: string;
  readonly maxEventsPerTx = MAX_EVENTS_PER_TX;
  readonly aht: AHTree;
  readonly file: string;
  private readonly fd: number;
  private readonly trusted: TrustedStateStore;
  private readonly now: () => number;
  private readonly index: EventIndex;
  /** Per tx id (index 0 unused): record offset, record length, ts (seconds). */
  private readonly txOffset: Column;
  private readonly txLength: Column;
  private readonly txTs: Column;
  /** Event number of each tx's first event: a tx's events are numbered contiguously, in entry order. */
  private readonly txFirstEvent: Column;
  private lastId: number;
  private lastAlh: Buffer;
  private end: number;
  private readonly log: LogReader;
  private writing: Promise<unknown> = Promise.resolve();
  /** States verified to be in the trusted history (anchors.ts). */
  private readonly history = new VerifiedHistory();
  private readonly reads = new Set<Promise<unknown>>();
  private closed = false;
  /** Set when a failed write could not be undone: the file's tail is unknown until a restart recovers it. */
  private broken: Error | null = null;
  onClose: (() => void) | null = null;
  startup: StartupReport | null = null;

  private constructor(options: EmbeddedLedgerOptions, chain: ReplayedChain) {
    this.file = options.file;
    this.fd = options.fd;
    this.end = options.size;
    this.database = options.database;
    this.trusted = options.trusted;
    this.now = options.now ?? Date.now;
    this.aht = chain.aht;
    this.index = chain.index;
    this.txOffset = chain.txOffset;
    this.txLength = chain.txLength;
    this.txTs = chain.txTs;
    this.txFirstEvent = chain.txFirstEvent;
    this.lastId = chain.lastId;
    this.lastAlh = chain.lastAlh;
    this.log = new LogReader(this.fd, this.txOffset, this.txLength, this.index, () => this.lastId);
  }

  /** Rebuilds the ledger from its log (truncating a torn tail) and checks it against the trusted state. */
  static async load(options: EmbeddedLedgerOptions): Promise<EmbeddedLedger> {
    const started = performance.now();
    const { chain, scan } = await replayLog(options);
    const ledger = new EmbeddedLedger(options, chain);
    const logger: Pick<Logger, 'warn'> = options.logger ?? { warn: (m) => console.warn(m) };
    await recover({ file: options.file, fd: options.fd, trusted: options.trusted, logger, chain, scan, header: (id) => ledger.header(id) });
    ledger.end = scan.end;
    ledger.startup = {
      txs: ledger.lastId,
      events: ledger.index.size,
      bytes: scan.end,
      ms: performance.now() - started,
      tornTail: scan.tornTail,
      workerRecords: chain.workerRecords,
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
      const { header, tree } = await this.log.txTree(txId);
      const raw = await this.log.readEntries([n]);
      const { key, value } = raw[0]!;
      const record = this.decode(value, key, id);
      const base = trusted ?? this.trusted.current();
      const proven = this.prove(header, base);
      const proof = this.bundle(proven, tree, this.index.leaf[n]!, key, value);
      assertProofBundle(proof, proven.assertWith);
      if (!trusted) {
        await this.trusted.advance(proof.state);
        this.history.noteHeader(header);
      }
      return { event: { record, txId: String(txId), key, recordedAt: this.recordedAt(txId) }, proof, created: false };
    });
  }

  async getVerifiedFrom(eventId: string, trustedTxId: string): Promise<AppendResult | null> {
    this.ensureOpen();
    const anchor = txIdArgument(trustedTxId, 'trustedTxId');
    if (anchor > this.lastId) throw beyondNewest('trustedTxId', anchor, this.lastId);
    const id = lowerId(eventId);
    const n = this.index.find(id);
    if (n === undefined) return null;
    return this.track(async () => {
      const txId = this.index.txIds[n]!;
      const { header, tree } = await this.log.txTree(txId);
      const raw = await this.log.readEntries([n]);
      const { key, value } = raw[0]!;
      const record = this.decode(value, key, id);
      // The later of the two states is checked against the trusted history; the bundle's dual
      // proof then links the earlier one to it.
      const top = Math.max(anchor, txId);
      const topState = this.inHistory(top);
      const anchorState = anchor === top ? topState : this.stateAt(anchor);
      const proven = this.prove(header, anchorState);
      const proof = this.bundle(proven, tree, this.index.leaf[n]!, key, value);
      assertProofBundle(proof, proven.assertWith);
      if (proof.state.txId !== topState.txId || proof.state.txHash !== topState.txHash) {
        throw verificationFailed(`the proof from tx ${anchor} does not lead to the state of tx ${top} in the gateway's trusted history`);
      }
      this.history.note(anchorState);
      return { event: { record, txId: String(txId), key, recordedAt: this.recordedAt(txId) }, proof, created: false };
    });
  }

  async consistencyProof(fromTxId: string, toTxId?: string): Promise<ConsistencyProofJson> {
    this.ensureOpen();
    const { from, to } = await consistencyRange(fromTxId, toTxId, {
      newest: async () => this.lastId,
      committed: async (txId, path) => {
        if (txId > this.lastId) throw beyondNewest(path, txId, this.lastId);
      },
    });
    const toState = this.inHistory(to);
    const source = this.header(BigInt(from));
    const target = this.header(BigInt(to));
    const proof = consistencyProofOf({ ledger: 'embedded', database: this.database, source, target, dualProof: buildDualProof(source, target, this) });
    this.history.note(assertConsistencyProof(proof, { to: toState }).from);
    return proof;
  }

  async proveTxAt(txId: string, anchor: LedgerState): Promise<AnchoredTx> {
    this.ensureOpen();
    const id = safeTxId(txId);
    const anchorId = safeTxId(anchor.txId);
    if (id > anchorId) throw new RangeError(`proveTxAt: tx ${id} is after the anchor tx ${anchorId}`);
    if (anchorId > this.lastId) throw verificationFailed(`anchor tx ${anchorId} is beyond this ledger's last tx ${this.lastId}: it comes from another history`);
    return this.track(async () => {
      const { header, entries } = await this.log.txEntries(id);
      const tree = VerifiedTxTree.verify(header, entries);
      if (typeof tree === 'string') throw verificationFailed(`tx ${id} on disk: ${tree}`);
      const dualProof = id === anchorId ? null : buildDualProof(header, this.header(BigInt(anchorId)), this);
      return anchoredTx({ ledger: 'embedded', database: this.database, tx: header, tree, anchor, dualProof });
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

  async scanTimeline(correlationId: string, { after, limit, direction, since, until }: TimelineScan): Promise<TimelinePage> {
    this.ensureOpen();
    const prefix = timelinePrefix(correlationId).toString('latin1');
    let position: { tsMs: number; eventId: string } | undefined;
    if (after) {
      timelineSeekKey(correlationId, after); // same validation (and errors) as the immudb backend
      position = { tsMs: Date.parse(after.timestamp), eventId: after.eventId.toLowerCase() };
    }
    const window = timelineWindow(since, until);
    if (!window) return { events: [], hasMore: false };
    const want = Math.max(0, Math.min(limit, MAX_SCAN - 1));
    // The slice is taken synchronously: commits landing while values are read don't shift it.
    const { items, hasMore } = this.index.scan(prefix, position, want, direction === 'desc', window);
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
    return this.log.header(id);
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
    this.log.remember(id, { header, tree });
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
    assertProofBundlesOfTx(
      results.map((r) => r.proof),
      proven.assertWith,
    );
    await this.trusted.advance(results[0]!.proof.state);
    this.history.note({ txId: String(id), txHash: toHex(alh) });
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
   * The link between `base` (what the reader trusts) and `tx`, shared by every entry of tx and
   * frozen. No base (an empty ledger's first tx) or the empty state: the tx proves itself.
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
    const link = proofLink({ ledger: 'embedded', database: this.database, tx, trusted: assertWith ?? null, dualProof: buildDualProof(source, target, this) });
    return { link: deepFreeze(link), assertWith };
  }

  /** The state at committed tx `txId` as this log holds it (not checked against anything). */
  private stateAt(txId: number): LedgerState {
    return { txId: String(txId), txHash: toHex(txAlh(this.header(BigInt(txId)))) };
  }

  /**
   * The state at committed tx `txId`, once known or proven to be in the trusted history: a dual
   * proof between it and the trusted state, built from this log's AHTree and headers, verified.
   * Start-up checked the log against the trusted state; this holds the served state to it as well.
   */
  private inHistory(txId: number): LedgerState {
    const known = this.history.get(String(txId));
    if (known) return known;
    const trusted = this.trusted.current();
    if (trusted?.txId === String(txId)) return trusted;
    // No trusted state: an empty ledger's first commit is in flight; the log's chain is all there is.
    if (!trusted || trusted.txId === '0') return this.stateAt(txId);
    const tx = this.header(BigInt(txId));
    const t = this.header(BigInt(trusted.txId));
    const [source, target] = tx.id <= t.id ? [tx, t] : [t, tx];
    const dualProof = buildDualProof(source, target, this);
    const state = stateInHistory({ ledger: 'embedded', database: this.database, txId, trusted, source, target, dualProof });
    this.history.note(state);
    return state;
  }

  /** One entry's bundle over the tx's shared link; callers verify before handing it out. */
  private bundle(proven: ProvenTx, tree: HTree, leaf: number, key: Buffer, value: Buffer): ProofBundle {
    return entryBundle(proven.link, { key, value, inclusion: { leaf, width: tree.width, terms: tree.inclusionProofHex(leaf) } });
  }

  // --- reading ---------------------------------------------------------------------------

  private async readEvents(ns: number[]): Promise<StoredEvent[]> {
    const raw = await this.log.readEntries(ns);
    return ns.map((n, i) => {
      const { key, value } = raw[i]!;
      const txId = this.index.txIds[n]!;
      return { record: this.decode(value, key, this.index.eventId(n)), txId: String(txId), key, recordedAt: this.recordedAt(txId) };
    });
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
}

interface ProvenTx {
  link: ProofLink;
  /** The caller's trusted state, checked by the verifier too (absent for a self-proof). */
  assertWith: LedgerState | undefined;
}

/** A tx id as this backend takes it (ids are counted in Numbers). */
function safeTxId(txId: string): number {
  const n = /^[1-9][0-9]{0,15}$/.test(txId) ? Number(txId) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a tx id: ${String(txId).slice(0, 24)}`);
  return n;
}

function lowerId(eventId: string): string {
  eventIdKey(eventId); // throws on anything that is not a UUID, like the immudb backend
  return eventId.toLowerCase();
}
