/**
 * The entries of an embedded ledger transaction, as immudb's ExecAll stores them: per event the
 * timeline entry (0x00 ‖ timeline key → 0x00 ‖ canonical record) and `ev/<eventId>` as an immudb
 * reference to it (0x00 ‖ id key → 0x01 ‖ u64 atTx ‖ prefixed timeline key, exactly
 * pkg/database's EncodeReference), unbound (atTx 0) as the immudb backend writes it. Written by
 * buildTransaction, checked at start-up by startup.ts (replayLog), read back by parseTimelineEntry.
 */
import { encodeRecord as encodeEventRecord } from '../../events/canonical.ts';
import type { AuditEventRecord } from '../../events/types.ts';
import { verificationFailed } from '../../errors.ts';
import { EMPTY, kvDigest, PLAIN_VALUE_PREFIX, SET_KEY_PREFIX, withPrefix } from '../../proof/hashing.ts';
import { HTree } from '../../proof/htree.ts';
import { encodeTxHeader, type TxHeader } from '../../proof/tx-header.ts';
import { eventIdKey, timelineKey } from '../keys.ts';
import { encodeRecord, type LogEntry } from './log.ts';

/** 2048 events = 4096 entries per tx: one API batch (1000) always fits, and group commit can merge two. */
export const MAX_EVENTS_PER_TX = 2048;
export const REFERENCE_VALUE_PREFIX = 0x01;
export const EV_KEY = Buffer.from('ev/', 'latin1');
/** Stored timeline key: 0x00 ‖ "tl/" ‖ esc ‖ "/" ‖ 15 digits ‖ "/" ‖ 36-char uuid. */
export const TL_SUFFIX = 1 + 15 + 1 + 36;

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
 * then `ev/<eventId>` referring to it — and frames it. Pure: the caller supplies the chain
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
    const storedKey = withPrefix(SET_KEY_PREFIX, key);
    entries.push({ key: storedKey, value: withPrefix(PLAIN_VALUE_PREFIX, value) });
    // Unbound, as the immudb backend writes it, so the same events hash to the same entries.
    entries.push({ key: withPrefix(SET_KEY_PREFIX, eventIdKey(r.eventId)), value: referenceValue(0, storedKey) });
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

/** pkg/database's WrapReferenceValueAt: 0x01 ‖ u64 atTx ‖ referenced key (with its prefix). */
function referenceValue(atTx: number, storedKey: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(9 + storedKey.length);
  b[0] = REFERENCE_VALUE_PREFIX;
  b.writeBigUInt64BE(BigInt(atTx), 1);
  b.set(storedKey, 9);
  return b;
}

/** Key (prefix stripped) and value (prefix stripped) of a timeline entry read back by offset. */
export function parseTimelineEntry(buf: Buffer, at: number, len: number, fileOffset: number): { key: Buffer; value: Buffer } {
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
