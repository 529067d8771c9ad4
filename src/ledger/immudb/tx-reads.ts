/**
 * Reads of committed transactions from immudb, for the ledger's followers: TxScan lists a tx's
 * entry keys and value hashes, GetAll reads the values, each checked against the hash its tx
 * committed; and the bulk read of a rebuild, which reads the values in key order.
 */
import { decodeRecord } from '../../events/canonical.ts';
import type { AuditEventRecord } from '../../events/types.ts';
import { verificationFailed } from '../../errors.ts';
import { SET_KEY_PREFIX, storedValueHash } from '../../proof/hashing.ts';
import { retrying, takesTx } from '../bulk-read.ts';
import { TIMELINE_PREFIX } from '../keys.ts';
import type { BulkReadStep } from '../port.ts';
import { asLedgerError, ImmudbError, type ImmudbSession } from './grpc.ts';
import { decodeEntries, decodeTxList, type WireEntry, type WireTx } from './wire-decode.ts';
import { encodeKeyListRequest, encodeTxScanRequest } from './wire-encode.ts';

/** immudb's default maxResultSize: one Scan returns at most this many entries. */
export const MAX_SCAN = 1000;
/** How a timeline key starts in a tx's entries (immudb's set-key prefix, then ours). */
const TIMELINE_ENTRY_TAG = Buffer.from([SET_KEY_PREFIX, ...Buffer.from(TIMELINE_PREFIX)]);
/** A bulk read's TxScan aims at this many entries; its GetAll calls ask for at most this many keys. */
const BULK_ENTRIES_PER_SCAN = 20_000;
const BULK_VALUES_PER_READ = 4_096;
/** Value bytes one GetAll asks for at most (the client takes replies of up to 64 MiB). */
const VALUE_BYTES_PER_READ = 16 * 2 ** 20;
/** Calls (of the session's deadline each) a bulk read waits for immudb to index what it listed. */
const BULK_INDEXING_WAIT_ATTEMPTS = 12;

/** A tx entry's key (as immudb lists it, prefix included) is a timeline key. */
export const isTimelineEntryKey = (key: Buffer) =>
  key.length > TIMELINE_ENTRY_TAG.length && TIMELINE_ENTRY_TAG.equals(key.subarray(0, TIMELINE_ENTRY_TAG.length));

/** The event a ledger entry holds; a value that is not one fails verification. */
export function decodeEvent(value: Buffer, key: Buffer): AuditEventRecord {
  try {
    return decodeRecord(value);
  } catch (e) {
    throw verificationFailed(`the ledger entry ${key.toString('latin1')} does not hold a valid event: ${(e as Error).message}`);
  }
}

/**
 * One GetAll of timeline keys as of `sinceTx`, each value checked against the hash its tx
 * committed, `hashOf(i)` for `keys[i]` (timeline keys are written once: a value written again
 * behind the gateway fails here).
 */
export async function committedValues(session: ImmudbSession, keys: readonly Buffer[], hashOf: (i: number) => Buffer, sinceTx: number): Promise<Buffer[]> {
  let entries: WireEntry[];
  try {
    entries = decodeEntries(await session.callBytes('GetAll', encodeKeyListRequest(keys, sinceTx)));
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
export async function scanTxs(session: ImmudbSession, after: number, maxTxs: number): Promise<WireTx[]> {
  try {
    return decodeTxList(await session.callBytes('TxScan', encodeTxScanRequest(after + 1, Math.max(1, Math.min(maxTxs, MAX_SCAN)))));
  } catch (e) {
    // A scan that starts past the last tx may be answered with an error rather than an empty list.
    if (e instanceof ImmudbError && /tx not found|key not found|illegal/i.test(e.message)) return [];
    throw asLedgerError(e, 'the transaction scan');
  }
}

/**
 * Ledger.readInBulk on immudb. Lists the txs with TxScan (keys and value hashes only: cheap), then
 * reads the values with GetAll in key order. immudb finds each value through its B-tree, whose node
 * cache (fixed in size) does not hold the tree of a large database: keys asked in commit order are
 * spread over the whole tree and miss the cache at nearly every node, keys in order visit each node
 * about once, which costs immudb several times less CPU a key.
 */
export async function* readInBulkByKey(
  session: ImmudbSession,
  afterTxId: string,
  { maxEvents, attempts = 1 }: { maxEvents: number; attempts?: number },
): AsyncGenerator<BulkReadStep, void, undefined> {
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
      const txs = await retry(() => scanTxs(session, after, txsPerScan));
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
    await retrying(
      () => committedValues(session, [Buffer.from(keys[order[0]!]!, 'latin1')], () => hashes.at(order[0]!), after),
      BULK_INDEXING_WAIT_ATTEMPTS,
      () => !stopped,
    );
    const read = (from: number, to: number) => {
      const ordinals = order.subarray(from, to);
      const asked = Array.from(ordinals, (o) => Buffer.from(keys[o]!, 'latin1'));
      const p = retry(() => committedValues(session, asked, (i) => hashes.at(ordinals[i]!), after));
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
      yield { events: Array.from(ordinals, (ordinal, i) => ({ ordinal, record: decodeEvent(got[i]!, asked[i]!) })) };
    }
  } finally {
    stopped = true;
  }
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
export function readEnd(sizeAt: (i: number) => number, from: number, count: number, maxKeys: number): number {
  let end = from;
  for (let bytes = 0; end < count && end - from < maxKeys; end++) {
    bytes += sizeAt(end);
    if (bytes > VALUE_BYTES_PER_READ && end > from) break;
  }
  return end;
}
