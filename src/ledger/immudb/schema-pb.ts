/**
 * Types for the part of immudb-node's generated protobuf code (google-protobuf's jspb, CommonJS) this
 * code base uses: the generated schema_pb.d.ts is empty, so these are written from schema.proto and
 * the generated schema_pb.js. Only the messages and accessors in use are listed; bytes getters come
 * in the `_asU8` form, uint64 fields are JS numbers (jspb's default), and setters are not chained.
 */

/** What every generated message has. */
export interface PbMessage {
  serializeBinary(): Uint8Array;
}

/** A generated message class. */
export interface PbClass<T extends PbMessage> {
  new (): T;
  deserializeBinary(bytes: Uint8Array): T;
}

type Bytes = Uint8Array | string;

/** google.protobuf.Empty */
export type Empty = PbMessage;

export interface LoginRequest extends PbMessage {
  setUser(value: Bytes): void;
  setPassword(value: Bytes): void;
}

export interface LoginResponse extends PbMessage {
  getToken(): string;
}

export interface Database extends PbMessage {
  setDatabasename(value: string): void;
}

export interface UseDatabaseReply extends PbMessage {
  getToken(): string;
}

export interface HealthResponse extends PbMessage {
  getVersion(): string;
}

export interface ImmutableState extends PbMessage {
  getDb(): string;
  getTxid(): number;
  getTxhash_asU8(): Uint8Array;
}

export interface KeyRequest extends PbMessage {
  setKey(value: Bytes): void;
  setSincetx(value: number): void;
}

export interface KeyListRequest extends PbMessage {
  setKeysList(value: Bytes[]): void;
  setSincetx(value: number): void;
}

export interface Reference extends PbMessage {
  getTx(): number;
  getKey_asU8(): Uint8Array;
  getAttx(): number;
}

export interface Entry extends PbMessage {
  getTx(): number;
  setTx(value: number): void;
  getKey_asU8(): Uint8Array;
  setKey(value: Bytes): void;
  getValue_asU8(): Uint8Array;
  setValue(value: Bytes): void;
  /** Unset (undefined) unless the entry was reached through a reference. */
  getReferencedby(): Reference | undefined;
}

export interface Entries extends PbMessage {
  getEntriesList(): Entry[];
  setEntriesList(value: Entry[]): void;
}

export interface KeyValue extends PbMessage {
  setKey(value: Bytes): void;
  setValue(value: Bytes): void;
}

export interface Op extends PbMessage {
  setKv(value: KeyValue): void;
}

export interface ExecAllRequest extends PbMessage {
  setOperationsList(value: Op[]): void;
}

export interface SetRequest extends PbMessage {
  setKvsList(value: KeyValue[]): void;
}

export interface ReferenceRequest extends PbMessage {
  setKey(value: Bytes): void;
  setReferencedkey(value: Bytes): void;
}

/** immudb 1.1's tx header, as immudb-node's proof checks take it. */
export interface TxMetadata extends PbMessage {
  setId(value: number): void;
  setPrevalh(value: Bytes): void;
  setTs(value: number): void;
  setNentries(value: number): void;
  setEh(value: Bytes): void;
  setBltxid(value: number): void;
  setBlroot(value: Bytes): void;
}

export interface LinearProof extends PbMessage {
  setSourcetxid(value: number): void;
  setTargettxid(value: number): void;
  setTermsList(value: Bytes[]): void;
}

export interface DualProof extends PbMessage {
  setSourcetxmetadata(value: TxMetadata): void;
  setTargettxmetadata(value: TxMetadata): void;
  setInclusionproofList(value: Bytes[]): void;
  setConsistencyproofList(value: Bytes[]): void;
  setTargetbltxalh(value: Bytes): void;
  setLastinclusionproofList(value: Bytes[]): void;
  setLinearproof(value: LinearProof): void;
}

export interface InclusionProof extends PbMessage {
  setLeaf(value: number): void;
  setWidth(value: number): void;
  setTermsList(value: Bytes[]): void;
}

/** The module `immudb-node/dist/src/proto/schema_pb.js`, as far as it is used. */
export interface SchemaPb {
  LoginRequest: PbClass<LoginRequest>;
  LoginResponse: PbClass<LoginResponse>;
  Database: PbClass<Database>;
  UseDatabaseReply: PbClass<UseDatabaseReply>;
  ImmutableState: PbClass<ImmutableState>;
  KeyRequest: PbClass<KeyRequest>;
  KeyListRequest: PbClass<KeyListRequest>;
  Entry: PbClass<Entry>;
  Entries: PbClass<Entries>;
  KeyValue: PbClass<KeyValue>;
  Op: PbClass<Op>;
  ExecAllRequest: PbClass<ExecAllRequest>;
  SetRequest: PbClass<SetRequest>;
  ReferenceRequest: PbClass<ReferenceRequest>;
  TxMetadata: PbClass<TxMetadata>;
  LinearProof: PbClass<LinearProof>;
  DualProof: PbClass<DualProof>;
  InclusionProof: PbClass<InclusionProof>;
}

/** The unary ImmuService methods called through the generated client, with their request and reply. */
export interface ImmuCalls {
  login: { request: LoginRequest; reply: LoginResponse };
  useDatabase: { request: Database; reply: UseDatabaseReply };
  health: { request: Empty; reply: HealthResponse };
  currentState: { request: Empty; reply: ImmutableState };
  get: { request: KeyRequest; reply: Entry };
  getAll: { request: KeyListRequest; reply: Entries };
  /** The replies of the writes are not read. */
  set: { request: SetRequest; reply: PbMessage };
  execAll: { request: ExecAllRequest; reply: PbMessage };
  setReference: { request: ReferenceRequest; reply: PbMessage };
}

export type ImmuMethod = keyof ImmuCalls;
