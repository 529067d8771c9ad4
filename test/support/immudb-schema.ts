/**
 * immudb 1.10/1.11's gRPC messages as far as the wire tests need them, for protobufjs: the ones
 * wire-encode.ts writes or wire-decode.ts reads, with every field immudb may send in them — also
 * those wire-decode.ts skips (TxEntry.value, Tx.kvEntries/zEntries, Entry.metadata/expired/revision,
 * DualProof's LinearAdvanceProof), so that random replies carry them. Written here from the field numbers and
 * types alone. Some request fields the gateway never sets are left out (TxScanRequest's and
 * VerifiableTxRequest's entriesSpec, sinceTx, noWait…): reencode() drops them, so a request that
 * carried one would still fail its test.
 */
import protobuf from 'protobufjs';

const PROTO = `
syntax = "proto3";
package immudb;

message TxMetadata { uint64 truncatedTxID = 1; bytes extra = 2; }
message TxHeader {
  uint64 id = 1; bytes prevAlh = 2; int64 ts = 3; int32 nentries = 4; bytes eH = 5;
  uint64 blTxId = 6; bytes blRoot = 7; int32 version = 8; TxMetadata metadata = 9;
}
message Expiration { int64 expiresAt = 1; }
message KVMetadata { bool deleted = 1; Expiration expiration = 2; bool nonIndexable = 3; }
message TxEntry { bytes key = 1; bytes hValue = 2; int32 vLen = 3; KVMetadata metadata = 4; bytes value = 5; }
message Reference { uint64 tx = 1; bytes key = 2; uint64 atTx = 3; KVMetadata metadata = 4; uint64 revision = 5; }
message Entry {
  uint64 tx = 1; bytes key = 2; bytes value = 3; Reference referencedBy = 4; KVMetadata metadata = 5;
  bool expired = 6; uint64 revision = 7;
}
message Entries { repeated Entry entries = 1; }
message ZEntry { bytes set = 1; bytes key = 2; Entry entry = 3; double score = 4; uint64 atTx = 5; }
message Tx { TxHeader header = 1; repeated TxEntry entries = 2; repeated Entry kvEntries = 3; repeated ZEntry zEntries = 4; }
message TxList { repeated Tx txs = 1; }

message LinearProof { uint64 sourceTxId = 1; uint64 TargetTxId = 2; repeated bytes terms = 3; }
message InclusionProof { int32 leaf = 1; int32 width = 2; repeated bytes terms = 3; }
message LinearAdvanceProof { repeated bytes linearProofTerms = 1; repeated InclusionProof inclusionProofs = 2; }
message DualProof {
  TxHeader sourceTxHeader = 1; TxHeader targetTxHeader = 2; repeated bytes inclusionProof = 3;
  repeated bytes consistencyProof = 4; bytes targetBlTxAlh = 5; repeated bytes lastInclusionProof = 6;
  LinearProof linearProof = 7; LinearAdvanceProof LinearAdvanceProof = 8;
}
message Signature { bytes publicKey = 1; bytes signature = 2; }
message VerifiableTx { Tx tx = 1; DualProof dualProof = 2; Signature signature = 3; }

message KeyValue { bytes key = 1; bytes value = 2; KVMetadata metadata = 3; }
message Precondition {
  message KeyMustExist { bytes key = 1; }
  message KeyMustNotExist { bytes key = 1; }
  message KeyNotModifiedAfterTx { bytes key = 1; uint64 txID = 2; }
  oneof precondition { KeyMustExist keyMustExist = 1; KeyMustNotExist keyMustNotExist = 2; KeyNotModifiedAfterTx keyNotModifiedAfterTX = 3; }
}
message ReferenceRequest {
  bytes key = 1; bytes referencedKey = 2; uint64 atTx = 3; bool boundRef = 4; bool noWait = 5; repeated Precondition preconditions = 6;
}
message ZAddRequest { bytes set = 1; double score = 2; bytes key = 3; uint64 atTx = 4; bool boundRef = 5; bool noWait = 6; }
message Op { oneof operation { KeyValue kv = 1; ZAddRequest zAdd = 2; ReferenceRequest ref = 3; } }
message ExecAllRequest { repeated Op Operations = 1; bool noWait = 2; repeated Precondition preconditions = 3; }
message TxScanRequest { uint64 initialTx = 1; uint32 limit = 2; bool desc = 3; }
message VerifiableTxRequest { uint64 tx = 1; uint64 proveSinceTx = 2; }
message EntryTypeSpec { int32 action = 1; }
message EntriesSpec { EntryTypeSpec kvEntriesSpec = 1; EntryTypeSpec zEntriesSpec = 2; EntryTypeSpec sqlEntriesSpec = 3; }
// VerifiableTxRequest with every field, for the header-only request (encodeVerifiableTxHeaderRequest).
message VerifiableTxRequestFull {
  uint64 tx = 1; uint64 proveSinceTx = 2; EntriesSpec entriesSpec = 3; uint64 sinceTx = 4; bool noWait = 5; bool keepReferencesUnresolved = 6;
}
message KeyListRequest { repeated bytes keys = 1; uint64 sinceTx = 2; }
message ScanRequest { bytes seekKey = 1; bytes prefix = 2; bool desc = 3; uint64 limit = 4; uint64 sinceTx = 5; bytes endKey = 7; }
`;

/**
 * Fields a later immudb might add, one of each wire type, put in every message by
 * `immudbSchema({ future: true })`; their numbers span tags of 1, 2, 3 and 5 bytes.
 */
export const FUTURE_FIELDS = [
  { name: 'future15', id: 15, type: 'uint64' }, // varint
  { name: 'future2047', id: 2047, type: 'fixed64' },
  { name: 'future2048', id: 2048, type: 'bytes' },
  { name: 'future536870911', id: 536_870_911, type: 'fixed32' }, // the largest field number
] as const;

/** The messages, by name (e.g. `immudbSchema().lookupType('immudb.TxList')`). */
export function immudbSchema(options: { future?: boolean } = {}): protobuf.Root {
  const { root } = protobuf.parse(PROTO, { keepCase: true });
  if (options.future) {
    for (const type of (root.lookup('immudb') as protobuf.Namespace).nestedArray) {
      if (!(type instanceof protobuf.Type)) continue;
      for (const f of FUTURE_FIELDS) type.add(new protobuf.Field(f.name, f.id, f.type));
    }
  }
  root.resolveAll();
  return root;
}

/** `message` (a plain object, 64-bit numbers as numbers or decimal strings) encoded as `type`. */
export function encode(root: protobuf.Root, type: string, message: object): Buffer {
  const t = root.lookupType(`immudb.${type}`);
  return Buffer.from(t.encode(t.fromObject(message)).finish());
}

/**
 * `buf` decoded as `type`, to a plain object: 64-bit numbers as numbers, absent fields as defaults, the oneof's case named.
 * `T`: the shape the caller reads of it (bytes fields are Buffers), as schema.proto has it.
 */
export function decode<T = Record<string, unknown>>(root: protobuf.Root, type: string, buf: Uint8Array): T {
  const t = root.lookupType(`immudb.${type}`);
  return t.toObject(t.decode(buf), { longs: Number, defaults: true, oneofs: true }) as T;
}

/**
 * `buf` decoded as `type` and encoded again. protobufjs writes only the fields it knows, in field
 * order, so this equals `buf` only if `buf` holds nothing else, in that order.
 */
export function reencode(root: protobuf.Root, type: string, buf: Uint8Array): Buffer {
  const t = root.lookupType(`immudb.${type}`);
  return Buffer.from(t.encode(t.decode(buf)).finish());
}
