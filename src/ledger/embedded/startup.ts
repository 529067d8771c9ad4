/**
 * Start-up of the embedded ledger: the replay of its log, then recovery.
 *
 * The replay reads the whole log (log.ts's scanLog) and rebuilds what the ledger keeps in memory:
 * the chain's end, the AHTree of its Alhs, the per-tx columns and the event index (values stay on
 * disk). Each record must continue the chain and hold the entry layout commit writes
 * (transaction.ts). For large logs a worker thread (alh-worker.ts) supplies each record's checksum
 * verdict, Alh and AHTree leaf; the main thread checks the chain and layout, hashes the AHTree's
 * inner nodes and indexes keys. Hashing here uses sha256.mjs (no allocation per hash); what it
 * computes is checked against the log (prevAlh, the last blRoot) and every proof by the
 * node:crypto verifier.
 *
 * Recovery: the last blRoot must match the rebuilt AHTree, the trusted state must be a tx of this
 * log with the same Alh, and only then is a torn tail cut off: a tail the trusted state has seen
 * was acknowledged, and losing it must stop start-up with the bytes still in place.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { verificationFailed } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { AHTree } from '../../proof/ahtree.ts';
import { toHex } from '../../proof/codecs.ts';
import { HASH_SIZE, kvDigest, PLAIN_VALUE_PREFIX, SET_KEY_PREFIX, ZERO_HASH } from '../../proof/hashing.ts';
import { HTree } from '../../proof/htree.ts';
import { GENESIS_PREV_ALH, TX_HEADER_SIZE, txAlh, type TxHeader } from '../../proof/tx-header.ts';
import { createSha256 } from '../sha256.mjs';
import type { TrustedStateStore } from '../trusted-state.ts';
import { startAlhWorker, type AlhSource } from './alh-worker.ts';
import { Column } from './column.ts';
import { EventIndex, Latin1Interner } from './event-index.ts';
import { ENTRIES_OFFSET, fsyncDir, HEADER_OFFSET, RECORD_LAYOUT, readFully, scanLog, type ScanResult } from './log.ts';
import { EV_KEY, REFERENCE_VALUE_PREFIX, TL_SUFFIX } from './transaction.ts';

/** SHA-256 without allocation for the hot path (about 4 small inputs per tx); see sha256.mjs. */
const { hashInto } = createSha256();
/** Logs at least this big get the Alh worker at start-up (starting it costs a few ms). */
const WORKER_THRESHOLD = 16 * 1024 * 1024;

export type StartupVerification = 'chain' | 'full';

export interface StartupReport {
  txs: number;
  events: number;
  bytes: number;
  ms: number;
  tornTail: ScanResult['tornTail'];
  /** Records whose Alh and checksum the start-up worker supplied (0 without it). */
  workerRecords: number;
}

/** What a replay rebuilt, for the ledger to go on from. */
export interface ReplayedChain {
  readonly aht: AHTree;
  readonly index: EventIndex;
  /** Per tx id (index 0 unused): record offset, record length, ts (seconds). */
  readonly txOffset: Column;
  readonly txLength: Column;
  readonly txTs: Column;
  /** Event number of each tx's first event: a tx's events are numbered contiguously, in entry order. */
  readonly txFirstEvent: Column;
  readonly lastId: number;
  /** The last tx's Alh (tx 1's prevAlh when the log is empty). */
  readonly lastAlh: Buffer;
}

/** The replay of one log, record by record (scanLog calls `record` for each intact one). */
export class LogReplay implements ReplayedChain {
  readonly aht = new AHTree(hashInto);
  readonly index = new EventIndex();
  readonly txOffset = Column.of(0);
  readonly txLength = Column.of(0);
  readonly txTs = Column.of(0);
  readonly txFirstEvent = Column.of(0);
  lastId = 0;
  /** Records whose Alh and checksum the worker supplied. */
  workerRecords = 0;
  private readonly scratch = Buffer.allocUnsafe(40 + HASH_SIZE);
  /** The Alh and AHTree leaf of the record being replayed, and the Alh before it. */
  private readonly replayPair = Buffer.allocUnsafe(2 * HASH_SIZE);
  private readonly replayPrev = Buffer.from(GENESIS_PREV_ALH);
  private readonly leafInput = Buffer.alloc(1 + HASH_SIZE); // 0x00 ‖ Alh
  /** Timeline prefixes as strings, made once per correlation rather than once per event. */
  private readonly prefixes = new Latin1Interner();

  /** `full`: also recompute every tx's eH and blRoot; `alhSource`: the worker's Alhs, if any. */
  constructor(
    private readonly full: boolean,
    private readonly alhSource: AlhSource | null,
  ) {}

  get lastAlh(): Buffer {
    return this.lastId > 0 ? Buffer.from(this.replayPrev) : GENESIS_PREV_ALH;
  }

  /**
   * Replays one intact record (`length` bytes at `r` of `b`, found at file offset `offset`): checks
   * it continues the chain and has the entry layout commit writes, and indexes it (if anything is
   * wrong start-up fails, so partial indexing is moot). Hot path at start-up, run a million times:
   * plain loops and byte arithmetic, no per-record views, closures or objects.
   */
  record(b: Buffer, r: number, length: number, offset: number): void {
    const full = this.full;
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
    if (full && id > 1 && !sameBytes(this.aht.root(id - 1), 0, b, H + 92, HASH_SIZE))
      throw new Error(`tx ${id}: blRoot does not match the binary-linking tree`);
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
      // immudb backend writes it, or bound to this tx, as older logs hold it.
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
      if (this.index.addAscii(b, ke - 36, prefix, tsMs, id, offset + (p - r), ve - p, i, true) < 0)
        throw new Error(`tx ${id} entry ${i}: malformed eventId in timeline key`);
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
}

/** Replays the log at `file` (open as `fd`, `size` bytes long): the chain it holds, and where its intact records end. */
export async function replayLog(options: {
  file: string;
  fd: number;
  size: number;
  verify?: StartupVerification;
  workerMinBytes?: number;
}): Promise<{ chain: LogReplay; scan: ScanResult }> {
  // Large logs: a worker computes Alhs and checksums alongside (alh-worker.ts); the main thread never waits for it.
  const source =
    options.size >= (options.workerMinBytes ?? WORKER_THRESHOLD)
      ? startAlhWorker({
          path: options.file,
          size: options.size,
          ...RECORD_LAYOUT,
        })
      : null;
  const chain = new LogReplay(options.verify === 'full', source);
  let scan: ScanResult;
  try {
    scan = scanLog(
      options.file,
      options.fd,
      options.size,
      (buf, start, length, offset) => chain.record(buf, start, length, offset),
      source ? (k, offset) => source.checksumOk(k, offset) : undefined,
    );
  } finally {
    await source?.stop();
  }
  chain.index.finishBulk();
  return { chain, scan };
}

export interface RecoveryInput {
  file: string;
  fd: number;
  trusted: TrustedStateStore;
  logger: Pick<Logger, 'warn'>;
  chain: ReplayedChain;
  scan: ScanResult;
  /** A committed tx's header, as the ledger reads it from the log. */
  header(id: bigint): TxHeader;
}

/** The checks of a replayed chain against the log and the trusted state; then a torn tail is cut off. */
export async function recover(input: RecoveryInput): Promise<void> {
  const { file, chain, scan } = input;
  if (chain.lastId > 0) {
    // The last blRoot is always checked: it pins the rebuilt AHTree to the chain.
    const last = input.header(BigInt(chain.lastId));
    const expect = chain.lastId > 1 ? chain.aht.root(chain.lastId - 1) : ZERO_HASH;
    if (!last.blRoot.equals(expect)) {
      throw verificationFailed(`embedded ledger ${file}: blRoot of tx ${chain.lastId} does not match the rebuilt binary-linking tree`);
    }
  }
  await checkTrustedState(input);
  if (scan.tornTail) truncateTornTail(input.fd, file, scan.end, scan.tornTail, input.logger);
}

/** The trusted state must be a tx of this log with the same Alh; else the log lost or rewrote history. */
async function checkTrustedState({ file, trusted, logger, chain, header }: RecoveryInput): Promise<void> {
  const t = trusted.current();
  if (!t) {
    if (chain.lastId > 0) {
      logger.warn(`embedded ledger ${file}: no trusted state was saved; trusting the log's verified chain up to tx ${chain.lastId}`);
      await trusted.advance({ txId: String(chain.lastId), txHash: toHex(chain.lastAlh) });
    }
    return;
  }
  const id = Number(t.txId);
  if (!Number.isSafeInteger(id) || id > chain.lastId) {
    throw verificationFailed(
      `embedded ledger ${file} ends at tx ${chain.lastId} but the trusted state (${trusted.file}) has seen tx ${t.txId}: acknowledged transactions are missing`,
    );
  }
  if (toHex(txAlh(header(BigInt(id)))) !== t.txHash) {
    throw verificationFailed(`embedded ledger ${file}: tx ${id} does not hash to the trusted state (${trusted.file}): history was rewritten`);
  }
}

/** Cuts the torn tail off the log, keeping its bytes beside the log for inspection (they were never acknowledged). */
function truncateTornTail(fd: number, file: string, end: number, torn: NonNullable<ScanResult['tornTail']>, logger: Pick<Logger, 'warn'>): void {
  const saved = `${file}.torn-${torn.offset}-${Date.now()}`;
  const bytes = Buffer.allocUnsafe(Math.min(torn.length, 64 * 1024 * 1024));
  readFully(fd, bytes, bytes.length, torn.offset);
  fs.writeFileSync(saved, bytes);
  fs.ftruncateSync(fd, end);
  fs.fsyncSync(fd);
  fsyncDir(join(file, '..'));
  logger.warn(
    `embedded ledger ${file}: discarded a torn tail of ${torn.length} bytes at offset ${torn.offset} (${torn.reason}); ` +
      `it held no acknowledged transaction. The bytes were saved to ${saved}`,
  );
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
