/**
 * The immudb ledger backend (immudb 1.10 and 1.11; src/ledger/immudb/version.ts names the range).
 *
 * Write: one ExecAll per group holds, per event, the timeline entry (key from keys.ts, value the
 * canonical record) and a reference `ev/<eventId>` → timeline key, so the event is found by id in
 * one read, with KeyMustNotExist on each id key, so an eventId another gateway stored meanwhile
 * refuses the whole tx (EventIdTaken: group-commit.ts checks the group again). Then
 * VerifiableTxById(tx, since trusted) gives the tx's entry digests and the dual proof; each
 * event's bundle is built from them (proven-tx.ts) and checked by the offline verifier before
 * anyone sees it, and only then does the trusted state advance. Followers' reads of committed txs:
 * tx-reads.ts.
 *
 * Proofs from a state the reader names (getVerifiedFrom) and consistency proofs: VerifiableTxById
 * between the two txs, and the later of the two states checked to be in the gateway's trusted
 * history (anchors.ts): known already (VerifiedHistory), or proven from the trusted state by a
 * header-only VerifiableTxById run beside the first call.
 */
import { encodeRecord } from '../../events/canonical.ts';
import type { AuditEventRecord } from '../../events/types.ts';
import { AuditError, ErrorCode, verificationFailed } from '../../errors.ts';
import { toHex } from '../../proof/codecs.ts';
import { assertConsistencyProof, consistencyProofOf } from '../../proof/consistency.ts';
import { txAlh } from '../../proof/tx-header.ts';
import type { ConsistencyProofJson, LedgerState } from '../../proof/types.ts';
import { assertProofBundle, assertProofBundlesOfTx } from '../../proof/verify.ts';
import { beyondNewest, consistencyRange, stateInHistory, txIdArgument, VerifiedHistory } from '../anchors.ts';
import { EventIdTaken, type LedgerBackend } from '../group-commit.ts';
import { eventIdKey, timelineBoundKey, timelineKey, timelinePrefix, timelineSeekKey, timelineWindow } from '../keys.ts';
import { anchoredTx } from '../anchored-tx.ts';
import type { AnchoredTx, AppendResult, BulkReadStep, CommittedTx, StoredEvent, TimelinePage, TimelineScan } from '../port.ts';
import type { TrustedStateStore } from '../trusted-state.ts';
import { asLedgerError, ImmudbError, type ImmudbSession, isKeyNotFound, pb } from './grpc.ts';
import type { Entry, ImmutableState } from './schema-pb.ts';
import { dualProofJson, entryProof, fetchProvenLink, fetchVerifiableTx, provenTx, txHeader, txLink, type ProvenTx } from './proven-tx.ts';
import { committedValues, decodeEvent, isTimelineEntryKey, MAX_SCAN, readEnd, readInBulkByKey, scanTxs } from './tx-reads.ts';
import { decodeEntries, decodeTx, decodeTxMetadata, type WireEntry } from './wire-decode.ts';
import { encodeExecAllRequest, encodeScanRequest, encodeTxHeaderRequest, type WireEventWrite } from './wire-encode.ts';

/** gRPC's FAILED_PRECONDITION: what immudb answers a write whose precondition does not hold. */
const FAILED_PRECONDITION = 9;

/**
 * What the gateway writes for an event: its timeline entry and the key of the reference to it by
 * id. Exported for the benchmark's floor, so it sends exactly what commit() sends.
 */
export function eventWrite(r: AuditEventRecord): WireEventWrite {
  return { key: timelineKey(r.correlationId, r.timestamp, r.eventId), value: encodeRecord(r), idKey: eventIdKey(r.eventId) };
}

export interface ImmudbLedgerOptions {
  session: ImmudbSession;
  database: string;
  trusted: TrustedStateStore;
  /** Entries immudb accepts in one transaction (database setting maxTxEntries). */
  maxTxEntries: number;
}

export class ImmudbLedger implements LedgerBackend {
  readonly kind = 'immudb' as const;
  readonly database: string;
  readonly maxEventsPerTx: number;
  /**
   * Transactions in flight at once. immudb overlaps concurrent commits (their round trips and
   * fsyncs), and each one's proof is checked on its own, against whatever trusted state is current
   * when its proof is fetched (older or newer than the tx: both are proven). Well below immudb
   * 1.1's limit of 30 concurrent writes.
   */
  readonly commitConcurrency = 4;
  private readonly session: ImmudbSession;
  private readonly trusted: TrustedStateStore;
  /** Newest tx this gateway knows committed: reads wait for immudb's index to reach it (read-your-writes). */
  private lastTx = 0;
  private readonly commitTimes_ = new Map<string, string>();
  /** States verified to be in the trusted history, and the checks of others in flight (one per tx). */
  private readonly history = new VerifiedHistory();
  private readonly checking = new Map<number, Promise<LedgerState>>();

  constructor(options: ImmudbLedgerOptions) {
    this.session = options.session;
    this.database = options.database;
    this.trusted = options.trusted;
    this.maxEventsPerTx = Math.floor(options.maxTxEntries / 2);
    this.lastTx = Number(options.trusted.current()?.txId ?? 0);
  }

  async commit(records: AuditEventRecord[]): Promise<AppendResult[]> {
    // Per event its timeline entry and an unbound reference ev/<eventId> → timeline key. Unbound
    // (atTx 0): immudb resolves it through its key index and reads just the value; a bound one
    // reads the value at its tx. What an unbound one resolves to is checked on read (resolvedById).
    const writes = records.map(eventWrite);
    let txId: number;
    try {
      // Encoded and decoded by hand (wire-encode.ts, wire-decode.ts): google-protobuf builds four objects an event.
      txId = decodeTxMetadata(await this.session.callBytes('ExecAll', encodeExecAllRequest(writes))).id;
    } catch (e) {
      if (e instanceof ImmudbError && e.grpcCode === FAILED_PRECONDITION && /KeyMustNotExist/.test(e.message)) {
        throw new EventIdTaken(`immudb refused the write: an eventId in it was stored meanwhile (${e.message})`);
      }
      throw asLedgerError(e, 'the write');
    }
    if (!(txId > 0)) throw new AuditError(ErrorCode.LEDGER_UNAVAILABLE, 'immudb acknowledged the write without a transaction id');
    this.noteTx(txId);

    const base = this.trusted.current();
    const proven = await this.proveTx(txId, base);
    const link = txLink(proven, base, this.database);
    // ExecAll writes each event's timeline entry then its id reference, and immudb keeps that order.
    const proofs = writes.map((w, i) => entryProof(proven, link, w.key, w.value, 2 * i));
    // The shared link is verified once, each entry's inclusion on its own; only then is anything
    // of the tx (its commit time included) taken as committed.
    assertProofBundlesOfTx(proofs, link.trustedState, proven.tree);
    const results = records.map((record, i): AppendResult => ({ event: this.stored(record, proven, writes[i]!.key), proof: proofs[i]!, created: true }));
    await this.trusted.advance(link.state);
    // The state handed out is the tx's own unless a concurrent commit's trusted state is later.
    if (link.state.txId === String(txId)) this.history.note(link.state);
    else this.history.noteHeader(txHeader(proven.vtx.header));
    return results;
  }

  async getVerified(eventId: string, trusted?: LedgerState): Promise<AppendResult | null> {
    const entry = await this.getEntry(eventIdKey(eventId));
    if (!entry) return null;
    const { record, key, value, txId } = this.resolvedById(entry, eventId);
    const base = trusted ?? this.trusted.current();
    if (base && BigInt(base.txId) > BigInt(Number.MAX_SAFE_INTEGER)) throw verificationFailed('trusted txId out of range');
    const proven = await this.proveTx(txId, base);
    const proof = entryProof(proven, txLink(proven, base, this.database), key, value);
    assertProofBundle(proof, proof.trustedState);
    if (!trusted) {
      await this.trusted.advance(proof.state);
      this.history.noteHeader(txHeader(proven.vtx.header));
    }
    return { event: this.stored(record, proven, key), proof, created: false };
  }

  async getVerifiedFrom(eventId: string, trustedTxId: string): Promise<AppendResult | null> {
    const anchor = txIdArgument(trustedTxId, 'trustedTxId');
    await this.committed(anchor, 'trustedTxId');
    const entry = await this.getEntry(eventIdKey(eventId));
    if (!entry) return null;
    const { record, key, value, txId } = this.resolvedById(entry, eventId);
    // Checking the later state against the trusted history and proving the tx from the anchor are
    // independent calls: run together, an anchor not known yet costs no extra round trip.
    const top = Math.max(anchor, txId);
    const [topState, vtx] = await Promise.all([this.inHistory(top), fetchVerifiableTx(this.session, txId, anchor)]);
    this.noteTx(top);
    const proven = provenTx(vtx);
    // Below the tx, the anchor's state is the dual proof's source; the proof then leads from it to
    // the tx, which is in the trusted history, so the anchor is too.
    const anchorState = anchor === top ? topState : { txId: String(anchor), txHash: toHex(txAlh(txHeader(vtx.dualProof.sourceTx))) };
    const proof = entryProof(proven, txLink(proven, anchorState, this.database), key, value);
    assertProofBundle(proof, anchorState);
    if (proof.state.txId !== topState.txId || proof.state.txHash !== topState.txHash) {
      throw verificationFailed(`the proof from tx ${anchor} does not lead to the state of tx ${top} in the gateway's trusted history`);
    }
    this.history.note(anchorState);
    return { event: this.stored(record, proven, key), proof, created: false };
  }

  async consistencyProof(fromTxId: string, toTxId?: string): Promise<ConsistencyProofJson> {
    const { from, to } = await consistencyRange(fromTxId, toTxId, {
      newest: async () => {
        await this.catchUp();
        return this.lastTx;
      },
      committed: (txId, path) => this.committed(txId, path),
    });
    // As in getVerifiedFrom: the check of `to` and the proof between the two run together.
    const [toState, link] = await Promise.all([this.inHistory(to), fetchProvenLink(this.session, to, from)]);
    const proof = consistencyProofOf({ ledger: 'immudb', database: this.database, ...link });
    this.history.note(assertConsistencyProof(proof, { to: toState }).from);
    return proof;
  }

  /** One VerifiableTxById(tx, proveSinceTx = anchor): the tx's entries (for its tree) and the dual proof tx → anchor. */
  async proveTxAt(txId: string, anchor: LedgerState): Promise<AnchoredTx> {
    const id = safeTxId(txId);
    const anchorId = safeTxId(anchor.txId);
    if (id > anchorId) throw new RangeError(`proveTxAt: tx ${id} is after the anchor tx ${anchorId}`);
    const proven = provenTx(await fetchVerifiableTx(this.session, id, anchorId));
    const { vtx, tree } = proven;
    return anchoredTx({
      ledger: 'immudb',
      database: this.database,
      tx: txHeader(vtx.header),
      tree,
      anchor,
      dualProof: id === anchorId ? null : dualProofJson(vtx.dualProof),
    });
  }

  async getMany(eventIds: readonly string[]): Promise<(StoredEvent | null)[]> {
    if (eventIds.length === 0) return [];
    let entries: Entry[];
    try {
      const req = new pb.KeyListRequest();
      req.setKeysList(eventIds.map(eventIdKey));
      req.setSincetx(this.lastTx);
      // GetAll leaves out the keys it does not find (immudb 1.2+).
      entries = (await this.session.call('getAll', req)).getEntriesList();
    } catch (e) {
      throw asLedgerError(e, 'the read');
    }
    // Entries come back for the ids found, in request order; each is matched to its id by the
    // reference it was reached through, not by what its value claims.
    const asked = new Map(eventIds.map((id) => [eventIdKey(id).toString('latin1'), id]));
    const byId = new Map<string, StoredEvent>();
    for (const e of entries) {
      const ref = e.getReferencedby();
      const id = ref ? asked.get(Buffer.from(ref.getKey_asU8()).toString('latin1')) : undefined;
      if (id === undefined) throw verificationFailed('immudb answered a read by id with an entry that no id asked for leads to');
      const { record, key, txId } = this.resolvedById(e, id);
      byId.set(id, { record, txId: String(txId), key, recordedAt: this.commitTimes_.get(String(txId)) ?? null });
    }
    return eventIds.map((id) => byId.get(id) ?? null);
  }

  async scanTimeline(correlationId: string, { after, limit, direction, since, until }: TimelineScan): Promise<TimelinePage> {
    const want = Math.max(0, Math.min(limit, MAX_SCAN - 2));
    const from = after ? timelineSeekKey(correlationId, after) : undefined; // validates the position
    const window = timelineWindow(since, until);
    if (!window) return { events: [], hasMore: false };
    const desc = direction === 'desc';
    // The window's bound keys are never keys themselves: the scan starts after the near one (or
    // after the cursor, when that is further in) and immudb stops before the far one (endKey).
    const near = desc ? window.until : window.since;
    const far = desc ? window.since : window.until;
    const nearKey = near === undefined ? undefined : timelineBoundKey(correlationId, near);
    const inward = (a: Buffer, b: Buffer) => (desc ? Buffer.compare(a, b) < 0 : Buffer.compare(a, b) > 0);
    const seekKey = from && (!nearKey || inward(from, nearKey)) ? from : nearKey;
    const endKey = far === undefined ? undefined : timelineBoundKey(correlationId, far);
    if (seekKey && endKey && !inward(endKey, seekKey)) return { events: [], hasMore: false };
    // One Scan either way: immudb 1.10/1.11's descending reader is exact from a seek key that is not itself a key.
    const read = await this.scan(correlationId, { seekKey, endKey }, want + 1, desc);
    // immudb stops at endKey; checked again, so that a server ignoring it could only cost reads.
    const entries = endKey ? read.filter((e) => inward(endKey, Buffer.from(e.key))) : read;
    return { events: await this.toStored(entries.slice(0, want)), hasMore: entries.length > want };
  }

  /**
   * One immudb Scan of a correlation's timeline, strictly after `seekKey` and before `endKey` (both
   * exclusive). Encoded and decoded by hand (wire-encode.ts, wire-decode.ts): every timeline page reads this way.
   */
  private async scan(
    correlationId: string,
    keys: { seekKey?: Buffer | undefined; endKey?: Buffer | undefined },
    limit: number,
    desc: boolean,
  ): Promise<WireEntry[]> {
    const request = encodeScanRequest(timelinePrefix(correlationId), {
      ...(keys.seekKey ? { seekKey: keys.seekKey } : {}),
      ...(keys.endKey ? { endKey: keys.endKey } : {}),
      desc,
      limit,
      sinceTx: this.lastTx, // read-your-writes: wait until immudb indexed what we committed
    });
    try {
      return decodeEntries(await this.session.callBytes('Scan', request));
    } catch (e) {
      if (isKeyNotFound(e)) return [];
      throw asLedgerError(e, 'the timeline scan');
    }
  }

  private async toStored(entries: WireEntry[]): Promise<StoredEvent[]> {
    return entries.map((e): StoredEvent => {
      // Copied: a view would keep the whole reply alive as long as the event.
      const key = Buffer.from(e.key);
      const txId = String(e.tx);
      return { record: decodeEvent(e.value, key), txId, key, recordedAt: this.commitTimes_.get(txId) ?? null };
    });
  }

  async readTransactions(afterTxId: string, maxTxs: number): Promise<CommittedTx[]> {
    // Both calls are encoded and decoded by hand (wire-encode.ts, wire-decode.ts): followers read every event this way.
    const txs = await scanTxs(this.session, Number(afterTxId), maxTxs);
    // TxScan lists entry keys and value hashes only: values come from one GetAll of the timeline keys.
    const wanted: { tx: CommittedTx; key: Buffer; hValue: Buffer; vLen: number }[] = [];
    const out = txs.map((tx): CommittedTx => {
      const committed: CommittedTx = { txId: String(tx.id), recordedAt: new Date(tx.ts * 1000).toISOString(), events: [] };
      this.commitTimes_.set(committed.txId, committed.recordedAt);
      for (const e of tx.entries) {
        if (isTimelineEntryKey(e.key)) wanted.push({ tx: committed, key: e.key.subarray(1), hValue: e.hValue, vLen: e.vLen });
      }
      return committed;
    });
    const values: Buffer[] = [];
    // Usually one GetAll; more when the values would not fit one reply.
    for (let from = 0; from < wanted.length; ) {
      const to = readEnd((i) => wanted[i]!.vLen, from, wanted.length, Infinity);
      const run = wanted.slice(from, to);
      // A loop, not push(...): a run may hold tens of thousands of small values.
      for (const v of await committedValues(
        this.session,
        run.map((w) => w.key),
        (i) => run[i]!.hValue,
        txs[txs.length - 1]!.id,
      ))
        values.push(v);
      from = to;
    }
    wanted.forEach((w, i) => {
      // Copied: a view would keep the whole reply alive as long as the event.
      const ownKey = Buffer.from(w.key);
      w.tx.events.push({ record: decodeEvent(values[i]!, ownKey), txId: w.tx.txId, key: ownKey, recordedAt: w.tx.recordedAt });
    });
    return out;
  }

  readInBulk(afterTxId: string, options: { maxEvents: number; attempts?: number }): AsyncGenerator<BulkReadStep, void, undefined> {
    return readInBulkByKey(this.session, afterTxId, options);
  }

  async lastTxId(): Promise<string> {
    try {
      const state = await this.session.call('currentState', this.session.empty());
      return String(state.getTxid());
    } catch (e) {
      throw asLedgerError(e, 'the state read');
    }
  }

  /** Reads after this see every transaction immudb had committed when it was called. */
  async catchUp(): Promise<void> {
    this.noteTx(Number(await this.lastTxId()));
  }

  /** The trusted state; on first use it is taken from immudb after checking the tx hashes to it. */
  async trustedState(): Promise<LedgerState> {
    const current = this.trusted.current();
    if (current) return current;
    let state: ImmutableState;
    try {
      state = await this.session.call('currentState', this.session.empty());
    } catch (e) {
      throw asLedgerError(e, 'the state read');
    }
    const txId: number = state.getTxid();
    if (txId === 0) return { txId: '0', txHash: '0'.repeat(64) };
    const proven = await this.proveTx(txId, null);
    const txHash = toHex(txAlh(txHeader(proven.vtx.header)));
    if (txHash !== toHex(state.getTxhash_asU8())) throw verificationFailed('immudb state hash does not match its transaction');
    await this.trusted.advance({ txId: String(txId), txHash });
    this.history.note({ txId: String(txId), txHash });
    return this.trusted.current()!;
  }

  async ping(): Promise<void> {
    try {
      await this.session.call('health', this.session.empty());
    } catch (e) {
      throw asLedgerError(e, 'the health check');
    }
  }

  async close(): Promise<void> {
    this.session.close();
  }

  // --- internals -------------------------------------------------------------------------

  private noteTx(txId: number) {
    if (txId > this.lastTx) this.lastTx = txId;
  }

  /** BAD_USER_INPUT at `path` unless tx `txId` is committed (immudb is asked only past the newest tx seen). */
  private async committed(txId: number, path: string): Promise<void> {
    if (txId <= this.lastTx) return;
    await this.catchUp();
    if (txId > this.lastTx) throw beyondNewest(path, txId, this.lastTx);
  }

  /** The state at tx `txId` (committed), once known or proven to be in the gateway's trusted history. */
  private inHistory(txId: number): Promise<LedgerState> {
    const known = this.history.get(String(txId));
    if (known) return Promise.resolve(known);
    const current = this.trusted.current();
    if (current?.txId === String(txId)) return Promise.resolve(current);
    let checking = this.checking.get(txId);
    if (!checking) {
      checking = this.proveInHistory(txId).finally(() => this.checking.delete(txId));
      this.checking.set(txId, checking);
    }
    return checking;
  }

  private async proveInHistory(txId: number): Promise<LedgerState> {
    const trusted = await this.trustedState();
    if (trusted.txId === String(txId)) return trusted;
    const since = Number(trusted.txId);
    if (since === 0) throw verificationFailed(`the gateway trusts no state of the ledger yet, so tx ${txId} cannot be checked against one`);
    const link = await fetchProvenLink(this.session, txId, since);
    const state = stateInHistory({ ledger: 'immudb', database: this.database, txId, trusted, ...link });
    // Proven from the trusted state: a later state may become the trusted one.
    if (txId > since) await this.trusted.advance(state);
    this.history.note(state);
    return state;
  }

  /**
   * The entry immudb reached through `ev/<eventId>`, checked before anything of it is used. A
   * gateway writes the id reference and the timeline entry in one transaction and never writes
   * either again, so the reference must have been written in the transaction that holds the
   * entry's current value (the reference is unbound: immudb resolves it to the timeline key's
   * latest value, and a later write to that key, or to the id key, was not a gateway's), and the
   * entry must hold that very event.
   */
  private resolvedById(entry: Entry, eventId: string): { record: AuditEventRecord; key: Buffer; value: Buffer; txId: number } {
    const key = Buffer.from(entry.getKey_asU8());
    const ref = entry.getReferencedby();
    if (!ref) throw verificationFailed(`the id key of event ${eventId} is not a reference`);
    const txId: number = entry.getTx();
    if (ref.getTx() !== txId) {
      throw verificationFailed(`the timeline entry of event ${eventId} was written again (tx ${txId}) after its id reference (tx ${ref.getTx()})`);
    }
    const value = Buffer.from(entry.getValue_asU8());
    const record = decodeEvent(value, key);
    if (record.eventId !== eventId.toLowerCase()) throw verificationFailed(`the ledger answered event ${record.eventId} for ${eventId}`);
    return { record, key, value, txId };
  }

  private async getEntry(key: Buffer): Promise<Entry | null> {
    const req = new pb.KeyRequest();
    req.setKey(key);
    req.setSincetx(this.lastTx);
    try {
      return await this.session.call('get', req);
    } catch (e) {
      if (isKeyNotFound(e)) return null;
      throw asLedgerError(e, 'the read');
    }
  }

  /** VerifiableTxById from `base` (or the tx itself on first use) plus the tx's own hash tree. */
  private async proveTx(txId: number, base: LedgerState | null): Promise<ProvenTx> {
    const vtx = await fetchVerifiableTx(this.session, txId, base ? Number(base.txId) : txId);
    this.noteTx(Math.max(txId, base ? Number(base.txId) : 0));
    return provenTx(vtx);
  }

  private stored(record: AuditEventRecord, proven: ProvenTx, key: Buffer): StoredEvent {
    // Once per proven tx: every event of a commit shares its id and time.
    if (proven.committed === undefined) {
      const md = proven.vtx.header;
      proven.committed = { txId: String(md.id), recordedAt: new Date(md.ts * 1000).toISOString() };
      this.commitTimes_.set(proven.committed.txId, proven.committed.recordedAt);
    }
    return { record, txId: proven.committed.txId, key, recordedAt: proven.committed.recordedAt };
  }

  /** One header-only TxById per distinct tx not yet cached. */
  async commitTimes(txIds: readonly string[]): Promise<(string | null)[]> {
    const times = this.commitTimes_;
    const txs = [...new Set(txIds.filter((id) => !times.has(id)))];
    await Promise.all(
      txs.map(async (id) => {
        try {
          const tx = decodeTx(await this.session.callBytes('TxById', encodeTxHeaderRequest(Number(id))));
          times.set(id, new Date(tx.ts * 1000).toISOString());
        } catch (e) {
          if (e instanceof ImmudbError && /not found|illegal/i.test(e.message)) return;
          throw asLedgerError(e, 'the tx read');
        }
      }),
    );
    const out = txIds.map((id) => times.get(id) ?? null);
    // A tx's commit time never changes, so the cache is only bounded, never invalidated.
    while (times.size > 100_000) times.delete(times.keys().next().value!);
    return out;
  }
}

/** A tx id as this backend takes it (immudb's are 64-bit; Numbers hold every id a ledger reaches). */
function safeTxId(txId: string): number {
  const n = /^[1-9][0-9]{0,15}$/.test(txId) ? Number(txId) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a tx id: ${String(txId).slice(0, 24)}`);
  return n;
}
