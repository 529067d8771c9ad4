/**
 * The immudb ledger backend (immudb 1.10 and 1.11; src/ledger/immudb/version.ts names the range).
 *
 * Write: one ExecAll per group holds, per event, the timeline entry (key from keys.ts, value the
 * canonical record) and a reference `ev/<eventId>` → timeline key, so the event is found by id in
 * one read, with KeyMustNotExist on each id key, so an eventId another gateway stored meanwhile
 * refuses the whole tx (EventIdTaken: group-commit.ts checks the group again). Then
 * VerifiableTxById(tx, since trusted) gives the tx's entry digests and the dual proof; each
 * event's bundle is built from them and checked by the offline verifier before anyone sees it,
 * and only then does the trusted state advance.
 */
import { decodeRecord, encodeRecord } from '../../events/canonical.ts';
import type { AuditEventRecord } from '../../events/types.ts';
import { AuditError, ErrorCode, verificationFailed } from '../../errors.ts';
import { checkTxHeaderVersion, HASH_SIZE, SET_KEY_PREFIX, storedValueHash, toHex, txAlh, txEntryTree, txHeaderToJson, type HTree, type TxHeader } from '../../proof/hashing.ts';
import { assertProofBundle, assertProofBundlesOfTx } from '../../proof/verify.ts';
import { deepFreeze, PROOF_FORMAT, type DualProofJson, type LedgerState, type ProofBundle, type TxHeaderJson } from '../../proof/types.ts';
import { EventIdTaken, type LedgerBackend } from '../group-commit.ts';
import { eventIdKey, TIMELINE_PREFIX, timelineKey, timelinePrefix, timelineSeekKey } from '../keys.ts';
import type { AppendResult, BulkReadStep, CommittedTx, ScanDirection, StoredEvent, TimelinePage, TimelinePosition } from '../port.ts';
import type { TrustedStateStore } from '../trusted-state.ts';
import { asLedgerError, ImmudbError, ImmudbSession, isKeyNotFound, pb, type Message } from './grpc.ts';
import { retrying, takesTx } from '../bulk-read.ts';
import { createSha256 } from '../sha256.mjs';
import {
  decodeEntries,
  decodeTx,
  decodeTxList,
  decodeTxMetadata,
  decodeVerifiableTx,
  encodeExecAllRequest,
  encodeKeyListRequest,
  encodeScanRequest,
  encodeTxHeaderRequest,
  encodeTxScanRequest,
  encodeVerifiableTxRequest,
  type WireEntry,
  type WireEventWrite,
  type WireTx,
  type WireTxHeader,
  type WireVerifiableTx,
} from './wire.ts';

/** gRPC's FAILED_PRECONDITION: what immudb answers a write whose precondition does not hold. */
const FAILED_PRECONDITION = 9;
/** immudb's default maxResultSize: one Scan returns at most this many entries. */
const MAX_SCAN = 1000;
/** How a timeline key starts in a tx's entries (immudb's set-key prefix, then ours). */
const TIMELINE_ENTRY_TAG = Buffer.from([SET_KEY_PREFIX, ...Buffer.from(TIMELINE_PREFIX)]);
/** A bulk read's TxScan aims at this many entries; its GetAll calls ask for at most this many keys. */
const BULK_ENTRIES_PER_SCAN = 20_000;
const BULK_VALUES_PER_READ = 4_096;
/** Value bytes one GetAll asks for at most (the client takes replies of up to 64 MiB). */
const VALUE_BYTES_PER_READ = 16 * 2 ** 20;
/** Calls (of the session's deadline each) a bulk read waits for immudb to index what it listed. */
const BULK_INDEXING_WAIT_ATTEMPTS = 12;
const isTimelineEntryKey = (key: Buffer) => key.length > TIMELINE_ENTRY_TAG.length && TIMELINE_ENTRY_TAG.equals(key.subarray(0, TIMELINE_ENTRY_TAG.length));

/** sha256.mjs for the trees of committed txs (one hasher: not reentrant, never awaited inside). */
const { hashInto } = createSha256();

const hexList = (l: Uint8Array[]) => l.map(toHex);

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
      // Encoded and decoded by hand (wire.ts): google-protobuf builds four objects an event.
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
    const link = this.link(proven, base);
    const proofs = writes.map((w) => this.bundle(proven, link, w.key, w.value));
    // The shared link is verified once, each entry's inclusion on its own; only then is anything
    // of the tx (its commit time included) taken as committed.
    assertProofBundlesOfTx(proofs, link.trustedState);
    const results = records.map((record, i): AppendResult => ({ event: this.stored(record, proven, writes[i]!.key), proof: proofs[i]!, created: true }));
    await this.trusted.advance(link.state);
    return results;
  }

  async getVerified(eventId: string, trusted?: LedgerState): Promise<AppendResult | null> {
    const entry = await this.getEntry(eventIdKey(eventId));
    if (!entry) return null;
    const { record, key, value, txId } = this.resolvedById(entry, eventId);
    const base = trusted ?? this.trusted.current();
    if (base && BigInt(base.txId) > BigInt(Number.MAX_SAFE_INTEGER)) throw verificationFailed('trusted txId out of range');
    const proven = await this.proveTx(txId, base);
    const link = this.link(proven, base);
    const proof = this.bundle(proven, link, key, value);
    assertProofBundle(proof, link.trustedState);
    if (!trusted) await this.trusted.advance(proof.state);
    return { event: this.stored(record, proven, key), proof, created: false };
  }

  async getMany(eventIds: readonly string[]): Promise<(StoredEvent | null)[]> {
    if (eventIds.length === 0) return [];
    let entries: Message[];
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

  async scanTimeline(
    correlationId: string,
    { after, limit, direction }: { after?: TimelinePosition; limit: number; direction: ScanDirection },
  ): Promise<TimelinePage> {
    const want = Math.max(0, Math.min(limit, MAX_SCAN - 2));
    // One Scan either way: immudb 1.10/1.11's descending reader is exact from a seek key that is not itself a key.
    const entries = await this.scan(correlationId, after, want + 1, direction === 'desc');
    return { events: await this.toStored(entries.slice(0, want)), hasMore: entries.length > want };
  }

  /**
   * One immudb Scan of a correlation's timeline, strictly after `from` (a position or a raw key).
   * Encoded and decoded by hand (wire.ts): every timeline page reads this way.
   */
  private async scan(correlationId: string, from: TimelinePosition | Buffer | undefined, limit: number, desc: boolean): Promise<WireEntry[]> {
    const request = encodeScanRequest(timelinePrefix(correlationId), {
      ...(from ? { seekKey: Buffer.isBuffer(from) ? from : timelineSeekKey(correlationId, from) } : {}), // exclusive
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
      return { record: this.decode(e.value, key), txId, key, recordedAt: this.commitTimes_.get(txId) ?? null };
    });
  }

  async readTransactions(afterTxId: string, maxTxs: number): Promise<CommittedTx[]> {
    // Both calls are encoded and decoded by hand (wire.ts): followers read every event this way.
    const txs = await this.scanTxs(Number(afterTxId), maxTxs);
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
      for (const v of await this.committedValues(run.map((w) => w.key), (i) => run[i]!.hValue, txs[txs.length - 1]!.id)) values.push(v);
      from = to;
    }
    wanted.forEach((w, i) => {
      // Copied: a view would keep the whole reply alive as long as the event.
      const ownKey = Buffer.from(w.key);
      w.tx.events.push({ record: this.decode(values[i]!, ownKey), txId: w.tx.txId, key: ownKey, recordedAt: w.tx.recordedAt });
    });
    return out;
  }

  /**
   * Lists the txs with TxScan (keys and value hashes only: cheap), then reads the values with
   * GetAll in key order. immudb finds each value through its B-tree, whose node cache (100,000
   * nodes, fixed) does not hold the tree of a database of a million events: keys asked in commit
   * order are spread over the whole tree and miss the cache at nearly every node (~40 µs of immudb
   * CPU a key measured on 1,000,000 events), keys in order visit each node about once (~15 µs).
   */
  async *readInBulk(afterTxId: string, { maxEvents, attempts = 1 }: { maxEvents: number; attempts?: number }): AsyncGenerator<BulkReadStep, void, undefined> {
    const keys: string[] = []; // ordinal → timeline key (latin1: JS string order is byte order)
    const hashes = new HashBlocks(); // ordinal → the value hash its tx committed
    const sizes: number[] = []; // ordinal → value length
    let stopped = false; // the caller left early: reads still in flight are not retried
    const retry = <T>(read: () => Promise<T>) => retrying(read, attempts, () => !stopped);
    try {
      let after = Number(afterTxId);
      let txsPerScan = 20;
      let txsTaken = 0;
      let entriesListed = 0;
      for (let more = true; more; ) {
        const txs = await retry(() => this.scanTxs(after, txsPerScan));
        const listed: { txId: string; events: number }[] = [];
        for (const tx of txs) {
          if (tx.id !== after + 1) throw verificationFailed(`immudb listed tx ${tx.id} after tx ${after}`);
          const mine = tx.entries.filter((e) => isTimelineEntryKey(e.key));
          if (!takesTx(keys.length, txsTaken, mine.length, maxEvents)) {
            more = false;
            break;
          }
          for (const e of mine) {
            keys.push(e.key.toString('latin1', 1));
            hashes.push(e.hValue);
            sizes.push(e.vLen);
          }
          listed.push({ txId: String(tx.id), events: mine.length });
          txsTaken++;
          entriesListed += tx.entries.length;
          after = tx.id;
        }
        if (listed.length > 0) yield { txs: listed };
        if (txs.length < txsPerScan) more = false;
        // A scan's reply holds every entry's key and hash: aim at ~20,000 entries a scan.
        txsPerScan = Math.max(1, Math.min(MAX_SCAN, Math.round(BULK_ENTRIES_PER_SCAN / Math.max(1, entriesListed / txsTaken))));
      }
      if (keys.length === 0) return;
      const order = new Uint32Array(keys.length);
      for (let i = 0; i < order.length; i++) order[i] = i;
      order.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : a - b));
      // Every read asks for the values as of the last listed tx: wait for immudb to have indexed it
      // once, with time to spare, rather than have each read's deadline run out behind a busy indexer.
      await retrying(() => this.committedValues([Buffer.from(keys[order[0]!]!, 'latin1')], () => hashes.at(order[0]!), after), BULK_INDEXING_WAIT_ATTEMPTS, () => !stopped);
      const read = (from: number, to: number) => {
        const ordinals = order.subarray(from, to);
        const asked = Array.from(ordinals, (o) => Buffer.from(keys[o]!, 'latin1'));
        const p = retry(() => this.committedValues(asked, (i) => hashes.at(ordinals[i]!), after));
        p.catch(() => undefined); // awaited below, or dropped when the caller stops early
        return { ordinals, asked, values: p };
      };
      // Reads of at most BULK_VALUES_PER_READ keys (and VALUE_BYTES_PER_READ); one in flight while
      // the last one is decoded.
      const reads: ReturnType<typeof read>[] = [];
      let next = 0;
      const issue = () => {
        if (next >= order.length) return;
        const end = readEnd((i) => sizes[order[i]!]!, next, order.length, BULK_VALUES_PER_READ);
        reads.push(read(next, end));
        next = end;
      };
      issue();
      while (reads.length > 0) {
        issue();
        const { ordinals, asked, values } = reads.shift()!;
        const got = await values;
        yield { events: Array.from(ordinals, (ordinal, i) => ({ ordinal, record: this.decode(got[i]!, asked[i]!) })) };
      }
    } finally {
      stopped = true;
    }
  }

  /**
   * One GetAll of timeline keys as of `sinceTx`, each value checked against the hash its tx
   * committed, `hashOf(i)` for `keys[i]` (timeline keys are written once: a value written again
   * behind the gateway fails here).
   */
  private async committedValues(keys: readonly Buffer[], hashOf: (i: number) => Buffer, sinceTx: number): Promise<Buffer[]> {
    let entries: WireEntry[];
    try {
      entries = decodeEntries(await this.session.callBytes('GetAll', encodeKeyListRequest(keys, sinceTx)));
    } catch (e) {
      throw asLedgerError(e, 'the read of committed events');
    }
    // GetAll answers key by key in the order asked, leaving out keys it does not find.
    if (entries.length !== keys.length) throw verificationFailed(`immudb returned ${entries.length} values for ${keys.length} keys`);
    return entries.map(({ key, value }, i) => {
      if (!key.equals(keys[i]!) || !storedValueHash(value).equals(hashOf(i))) {
        throw verificationFailed(`the value of ${keys[i]!.toString('latin1')} does not match the tx that wrote it`);
      }
      return value;
    });
  }

  /** TxScan of up to `maxTxs` txs after `after`; [] past the last one. */
  private async scanTxs(after: number, maxTxs: number): Promise<WireTx[]> {
    try {
      return decodeTxList(await this.session.callBytes('TxScan', encodeTxScanRequest(after + 1, Math.max(1, Math.min(maxTxs, MAX_SCAN)))));
    } catch (e) {
      // A scan that starts past the last tx may be answered with an error rather than an empty list.
      if (e instanceof ImmudbError && /tx not found|key not found|illegal/i.test(e.message)) return [];
      throw asLedgerError(e, 'the transaction scan');
    }
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
    let state: Message;
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

  /**
   * The entry immudb reached through `ev/<eventId>`, checked before anything of it is used. A
   * gateway writes the id reference and the timeline entry in one transaction and never writes
   * either again, so the reference must have been written in the transaction that holds the
   * entry's current value (the reference is unbound: immudb resolves it to the timeline key's
   * latest value, and a later write to that key, or to the id key, was not a gateway's), and the
   * entry must hold that very event.
   */
  private resolvedById(entry: Message, eventId: string): { record: AuditEventRecord; key: Buffer; value: Buffer; txId: number } {
    const key = Buffer.from(entry.getKey_asU8());
    const ref = entry.getReferencedby();
    if (!ref) throw verificationFailed(`the id key of event ${eventId} is not a reference`);
    const txId: number = entry.getTx();
    if (ref.getTx() !== txId) {
      throw verificationFailed(`the timeline entry of event ${eventId} was written again (tx ${txId}) after its id reference (tx ${ref.getTx()})`);
    }
    const value = Buffer.from(entry.getValue_asU8());
    const record = this.decode(value, key);
    if (record.eventId !== eventId.toLowerCase()) throw verificationFailed(`the ledger answered event ${record.eventId} for ${eventId}`);
    return { record, key, value, txId };
  }

  private async getEntry(key: Buffer): Promise<Message | null> {
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
    let vtx: WireVerifiableTx;
    try {
      vtx = decodeVerifiableTx(await this.session.callBytes('VerifiableTxById', encodeVerifiableTxRequest(txId, base ? Number(base.txId) : txId)));
    } catch (e) {
      // immudb refuses a proof from a tx it does not have: our trusted state is from another history.
      // A reply that is not a whole proof proves nothing either.
      if (e instanceof Error && !(e instanceof AuditError)) throw verificationFailed(`immudb cannot prove tx ${txId} from trusted tx ${base?.txId}: ${e.message}`);
      throw e;
    }
    checkProvenHeader(vtx.header);
    this.noteTx(Math.max(txId, base ? Number(base.txId) : 0));
    // The tx's own hash tree, from its entries' (key, hash of value): gives each entry's inclusion
    // proof. (immudb-node's HTree builds wrong inclusion proofs for widths that are not powers of 2.)
    const { entries } = vtx;
    if (entries.length === 0) throw verificationFailed('immudb answered a transaction without entries');
    const keyIndex = new Map<string, number>();
    entries.forEach(({ key }, i) => {
      // latin1 maps bytes to code units one to one, so equal strings are equal keys; the first
      // entry with a key wins, as a search from the start would find it.
      const k = key.toString('latin1');
      if (!keyIndex.has(k)) keyIndex.set(k, i);
    });
    // Hashed with sha256.mjs: a wrong hash here cannot pass, since every bundle is verified
    // against the tx's eH with node:crypto before it is handed out.
    const tree = txEntryTree(entries, vtx.header.version, hashInto);
    return { vtx, tree, keyIndex };
  }

  /**
   * What every bundle of one proven tx shares: its header, the dual proof from `base`, and the
   * states. Frozen, so no holder of one bundle can change it for the others.
   */
  private link(proven: ProvenTx, base: LedgerState | null): SharedLink {
    const { header: md, dualProof: dp, signature: sig } = proven.vtx;
    const tx = headerJson(md);
    const txHash = toHex(txAlh(txHeader(md)));
    const trustedState = base ?? { txId: tx.id, txHash };
    const target = BigInt(trustedState.txId) > BigInt(tx.id) ? trustedState : { txId: tx.id, txHash };
    const lp = dp.linearProof;
    return deepFreeze({
      tx,
      trustedState: { ...trustedState },
      dualProof: {
        sourceTx: headerJson(dp.sourceTx),
        targetTx: headerJson(dp.targetTx),
        inclusionProof: hexList(dp.inclusionProof),
        consistencyProof: hexList(dp.consistencyProof),
        targetBlTxAlh: toHex(dp.targetBlTxAlh),
        lastInclusionProof: hexList(dp.lastInclusionProof),
        linearProof: { sourceTxId: String(lp.sourceTxId), targetTxId: String(lp.targetTxId), terms: hexList(lp.terms) },
      },
      state: {
        ...target,
        signature: sig ? { publicKey: sig.publicKey.toString('base64'), signature: sig.signature.toString('base64') } : null,
      },
    });
  }

  /** One entry's bundle over a shared link; callers verify before handing it out. */
  private bundle(proven: ProvenTx, link: SharedLink, key: Buffer, value: Buffer): ProofBundle {
    const index = proven.keyIndex.get(String.fromCharCode(SET_KEY_PREFIX) + key.toString('latin1')) ?? -1;
    if (index < 0) throw verificationFailed('the entry is not in the transaction immudb proved');
    return {
      format: PROOF_FORMAT,
      ledger: 'immudb',
      database: this.database,
      entry: { key: key.toString('base64'), value: value.toString('base64'), metadata: toHex(proven.vtx.entries[index]!.metadata) },
      tx: link.tx,
      inclusion: { leaf: index, width: proven.tree.width, terms: proven.tree.inclusionProofHex(index) },
      trustedState: link.trustedState,
      dualProof: link.dualProof,
      state: link.state,
    };
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

  private decode(value: Buffer, key: Buffer): AuditEventRecord {
    try {
      return decodeRecord(value);
    } catch (e) {
      throw verificationFailed(`the ledger entry ${key.toString('latin1')} does not hold a valid event: ${(e as Error).message}`);
    }
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

interface SharedLink {
  tx: TxHeaderJson;
  trustedState: LedgerState;
  dualProof: DualProofJson;
  state: ProofBundle['state'];
}

interface ProvenTx {
  vtx: WireVerifiableTx;
  tree: HTree;
  /** Index of the first entry of the tx by its key as immudb stores it (with its one-byte prefix), as a latin1 string. */
  keyIndex: Map<string, number>;
  /** The tx's id and commit time as StoredEvent gives them, once the first event asked. */
  committed?: { txId: string; recordedAt: string };
}

function headerJson(md: WireTxHeader): TxHeaderJson {
  return txHeaderToJson(txHeader(md));
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
function txHeader(md: WireTxHeader): TxHeader {
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

/** 32-byte hashes by ordinal, in blocks (one Buffer per 4,096 rather than one per hash). */
class HashBlocks {
  private readonly blocks: Buffer[] = [];
  private n = 0;

  push(hash: Buffer): void {
    if (hash.length !== 32) throw verificationFailed('immudb listed a value hash that is not 32 bytes');
    const at = this.n & 4095;
    if (at === 0) this.blocks.push(Buffer.allocUnsafe(4096 * 32));
    hash.copy(this.blocks[this.blocks.length - 1]!, at * 32);
    this.n++;
  }

  at(i: number): Buffer {
    const at = (i & 4095) * 32;
    return this.blocks[i >>> 12]!.subarray(at, at + 32);
  }
}

/**
 * Where a GetAll of the keys from `from` (of `count`) ends: at most `maxKeys` keys and
 * VALUE_BYTES_PER_READ bytes of values by `sizeAt` (one value alone may be bigger).
 */
function readEnd(sizeAt: (i: number) => number, from: number, count: number, maxKeys: number): number {
  let end = from;
  for (let bytes = 0; end < count && end - from < maxKeys; end++) {
    bytes += sizeAt(end);
    if (bytes > VALUE_BYTES_PER_READ && end > from) break;
  }
  return end;
}
