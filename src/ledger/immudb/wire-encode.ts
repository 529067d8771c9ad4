/**
 * Protobuf encoding, by hand, of the immudb requests on the hot paths (ExecAll with two operations
 * an event, GetAll, Scan, TxScan, VerifiableTxById with or without entries, TxById) and of CreateDatabaseV2: like the
 * replies (wire-decode.ts), without google-protobuf's message object per entry. Pure: no I/O.
 * Field numbers are immudb 1.10/1.11's pkg/api/schema/schema.proto.
 */
import { varintBytes, varintSize, writeVarint } from './protobuf.ts';

/** One event's two operations in an ExecAll: its timeline entry and the id key that refers to it. */
export interface WireEventWrite {
  key: Buffer;
  value: Buffer;
  idKey: Buffer;
}

/** TxScanRequest { uint64 initialTx = 1; uint32 limit = 2; bool desc = 3 } (ascending). */
export function encodeTxScanRequest(initialTx: number, limit: number): Buffer {
  return twoVarints(initialTx, limit);
}

/** A message of two varint fields, 1 and 2 (both written, even when zero). */
function twoVarints(first: number, second: number): Buffer {
  return Buffer.from([0x08, ...varintBytes(first), 0x10, ...varintBytes(second)]);
}

/**
 * TxRequest { uint64 tx = 1; EntriesSpec entriesSpec = 2 } with an empty EntriesSpec: every kind of
 * entry excluded, so immudb answers the header alone (a nil spec would list every entry's digest).
 */
export function encodeTxHeaderRequest(tx: number): Buffer {
  return Buffer.from([0x08, ...varintBytes(tx), 0x12, 0x00]);
}

/**
 * CreateDatabaseRequest { string name = 1; DatabaseNullableSettings settings = 2 { NullableUint32
 * maxTxEntries = 11; NullableUint32 writeTxHeaderVersion = 20; NullableMilliseconds syncFrequency =
 * 23 }; bool ifNotExists = 3 (true) }. A Nullable* { value = 1 } is written even for 0: present is
 * what "set" means; a setting left out keeps immudb's default.
 */
export function encodeCreateDatabaseRequest(name: string, settings: { maxTxEntries: number; writeTxHeaderVersion?: number; syncFrequencyMs?: number }): Buffer {
  const field = (tag: number[], body: readonly number[]) => [...tag, ...varintBytes(body.length), ...body];
  const nullable = (tag: number[], value: number) => field(tag, [0x08, ...varintBytes(value)]);
  const body = [
    ...nullable([0x5a], settings.maxTxEntries),
    ...(settings.writeTxHeaderVersion === undefined ? [] : nullable([0xa2, 0x01], settings.writeTxHeaderVersion)),
    ...(settings.syncFrequencyMs === undefined ? [] : nullable([0xba, 0x01], settings.syncFrequencyMs)),
  ];
  return Buffer.from([...field([0x0a], [...Buffer.from(name, 'utf8')]), ...field([0x12], body), 0x18, 0x01]);
}

/**
 * ScanRequest { bytes seekKey = 1 (exclusive); bytes prefix = 2; bool desc = 3; uint64 limit = 4;
 * uint64 sinceTx = 5; bytes endKey = 7 (exclusive: inclusiveEnd = 9 left false) }; what it
 * answers is an Entries (decodeEntries).
 */
export function encodeScanRequest(
  prefix: Buffer,
  { seekKey, endKey, desc = false, limit, sinceTx }: { seekKey?: Buffer; endKey?: Buffer; desc?: boolean; limit: number; sinceTx: number },
): Buffer {
  const parts: Buffer[] = [];
  const bytes = (tag: number, b: Buffer) => parts.push(Buffer.from([tag, ...varintBytes(b.length)]), b);
  if (seekKey) bytes(0x0a, seekKey);
  bytes(0x12, prefix);
  parts.push(Buffer.from([...(desc ? [0x18, 1] : []), 0x20, ...varintBytes(limit), 0x28, ...varintBytes(sinceTx)]));
  if (endKey) bytes(0x3a, endKey);
  return Buffer.concat(parts);
}

/** KeyListRequest { repeated bytes keys = 1; uint64 sinceTx = 2 } */
export function encodeKeyListRequest(keys: readonly Buffer[], sinceTx: number): Buffer {
  const since = varintBytes(sinceTx);
  let size = 1 + since.length;
  for (const k of keys) size += 1 + varintSize(k.length) + k.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const k of keys) {
    out[pos++] = 0x0a;
    pos = writeVarint(out, pos, k.length);
    pos += k.copy(out, pos);
  }
  out[pos++] = 0x10;
  out.set(since, pos);
  return out;
}

/** VerifiableTxRequest { uint64 tx = 1; uint64 proveSinceTx = 2 } */
export function encodeVerifiableTxRequest(tx: number, proveSinceTx: number): Buffer {
  return twoVarints(tx, proveSinceTx);
}

/**
 * VerifiableTxRequest { uint64 tx = 1; uint64 proveSinceTx = 2; EntriesSpec entriesSpec = 3;
 * bool keepReferencesUnresolved = 6 (true) }, the EntriesSpec empty: every kind of entry excluded,
 * so immudb answers the tx's header and the dual proof alone, and resolves no reference (no index
 * snapshot to wait for). What proofs between two states need (anchors, consistency proofs).
 */
export function encodeVerifiableTxHeaderRequest(tx: number, proveSinceTx: number): Buffer {
  return Buffer.from([0x08, ...varintBytes(tx), 0x10, ...varintBytes(proveSinceTx), 0x1a, 0x00, 0x30, 0x01]);
}

/**
 * ExecAllRequest { repeated Op Operations = 1; bool noWait = 2 (false: left out); repeated
 * Precondition preconditions = 3 }, two operations an event, in order: Op { KeyValue kv = 1 } with
 * { bytes key = 1; bytes value = 2 }, then Op { ReferenceRequest ref = 3 } with { bytes key = 1
 * (the id key); bytes referencedKey = 2 }: an unbound reference (atTx 0, boundRef false, both left
 * out). Then per event Precondition { KeyMustNotExist keyMustNotExist = 2 { bytes key = 1 } } on
 * its id key: immudb refuses the whole tx when any id is already stored (FAILED_PRECONDITION).
 */
export function encodeExecAllRequest(events: readonly WireEventWrite[]): Buffer {
  const bytesField = (length: number) => 1 + varintSize(length) + length;
  // Body sizes of each event's KeyValue and ReferenceRequest, computed once for both passes.
  const sizes = new Array<number>(2 * events.length);
  let size = 0;
  events.forEach(({ key, value, idKey }, i) => {
    const kv = bytesField(key.length) + bytesField(value.length);
    const ref = bytesField(idKey.length) + bytesField(key.length);
    sizes[2 * i] = kv;
    sizes[2 * i + 1] = ref;
    size += bytesField(bytesField(kv)) + bytesField(bytesField(ref)) + bytesField(bytesField(bytesField(idKey.length)));
  });
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  const put = (tag: number, length: number) => {
    out[pos++] = tag;
    pos = writeVarint(out, pos, length);
  };
  const putBytes = (tag: number, b: Buffer) => {
    put(tag, b.length);
    pos += b.copy(out, pos);
  };
  events.forEach(({ key, value, idKey }, i) => {
    const kv = sizes[2 * i]!;
    put(0x0a, bytesField(kv)); // Operations
    put(0x0a, kv); // Op.kv
    putBytes(0x0a, key);
    putBytes(0x12, value);
    const ref = sizes[2 * i + 1]!;
    put(0x0a, bytesField(ref)); // Operations
    put(0x1a, ref); // Op.ref
    putBytes(0x0a, idKey);
    putBytes(0x12, key);
  });
  for (const { idKey } of events) {
    put(0x1a, bytesField(bytesField(idKey.length))); // preconditions
    put(0x12, bytesField(idKey.length)); // Precondition.keyMustNotExist
    putBytes(0x0a, idKey);
  }
  if (pos !== size) throw new Error(`ExecAllRequest: wrote ${pos} bytes of ${size}`);
  return out;
}
