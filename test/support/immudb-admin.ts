/**
 * immudb 1.10/1.11 admin calls for tests, encoded by hand: immudb-node's stubs (1.1) predate them.
 * Field numbers are pkg/api/schema/schema.proto of immudb 1.11.1:
 *   CreateDatabaseV2(CreateDatabaseRequest { string name = 1; DatabaseNullableSettings settings = 2 })
 *   UpdateDatabaseV2(UpdateDatabaseRequest { string database = 1; DatabaseNullableSettings settings = 2 })
 *   UnloadDatabase / LoadDatabase({ string database = 1 })
 *   GetDatabaseSettingsV2({}) → { string database = 1; DatabaseNullableSettings settings = 2 }
 *   DatabaseNullableSettings { NullableUint32 maxTxEntries = 11; NullableUint32 writeTxHeaderVersion = 20;
 *     NullableMilliseconds syncFrequency = 23 }
 *   NullableUint32 { uint32 value = 1 }, NullableMilliseconds { int64 value = 1 }
 * Independent of how openImmudbLedger creates databases: tests set up a database first, then open
 * the ledger on it. RawImmudbClient talks to servers the gateway's session refuses (1.1.0).
 */
import * as grpc from '@grpc/grpc-js';
import { ImmudbSession, pb } from '../../src/ledger/immudb/grpc.ts';
import { GATEWAY_DB_MAX_TX_ENTRIES } from '../../src/ledger/immudb/index.ts';
import { varintBytes } from '../../src/ledger/immudb/protobuf.ts';

/** The settings these helpers set and read back; a missing one is left as immudb has it. */
export interface DbSettings {
  maxTxEntries?: number;
  /** 0: compatibility mode (immudb 1.1's headers), 1: immudb 1.2+'s. */
  writeTxHeaderVersion?: number;
  /** ms between the group commit's fsyncs (read back only). */
  syncFrequencyMs?: number;
}

// Tags are varints too: field 20's is two bytes.
const bytesField = (field: number, body: Buffer) => Buffer.from([...varintBytes((field << 3) | 2), ...varintBytes(body.length), ...body]);
const nullableUint32 = (field: number, value: number) => bytesField(field, Buffer.from([0x08, ...varintBytes(value)]));

export function encodeSettings(s: DbSettings): Buffer {
  const parts: Buffer[] = [];
  if (s.maxTxEntries !== undefined) parts.push(nullableUint32(11, s.maxTxEntries));
  if (s.writeTxHeaderVersion !== undefined) parts.push(nullableUint32(20, s.writeTxHeaderVersion));
  return Buffer.concat(parts);
}

/** A request of `{ string <name> = 1; DatabaseNullableSettings settings = 2 }` (Create and Update share the shape). */
const nameAndSettings = (name: string, s: DbSettings) => Buffer.concat([bytesField(1, Buffer.from(name)), bytesField(2, encodeSettings(s))]);

/** Just enough protobuf reading for the replies here: the fields of one message, wire types 0 and 2. */
function fields(buf: Buffer): Map<number, number | Buffer> {
  const out = new Map<number, number | Buffer>();
  let at = 0;
  const varint = () => {
    let n = 0;
    for (let shift = 1; ; shift *= 128) {
      if (at >= buf.length) throw new Error('truncated varint');
      const b = buf[at++]!;
      n += (b & 0x7f) * shift;
      if (b < 0x80) return n;
    }
  };
  while (at < buf.length) {
    const tag = varint();
    const type = tag & 7;
    if (type === 0) out.set(tag >>> 3, varint());
    else if (type === 2) {
      const len = varint();
      out.set(tag >>> 3, buf.subarray(at, at + len));
      at += len;
    } else throw new Error(`unexpected wire type ${type}`);
  }
  return out;
}

/** The settings of a `{ …; DatabaseNullableSettings settings = 2 }` reply that these helpers know. */
function settingsOf(reply: Buffer): Required<DbSettings> {
  const s = fields((fields(reply).get(2) as Buffer | undefined) ?? Buffer.alloc(0));
  // A NullableUint32 of value 0 is an empty message: its value field is left out.
  const value = (n: number) => {
    const m = s.get(n) as Buffer | undefined;
    if (m === undefined) throw new Error(`immudb's reply has no setting ${n}`);
    return (fields(m).get(1) as number | undefined) ?? 0;
  };
  return { maxTxEntries: value(11), writeTxHeaderVersion: value(20), syncFrequencyMs: value(23) };
}

/** A session as the sysadmin (immudb/immudb) on `database` (defaultdb: always there). */
export async function adminSession(address: string, database = 'defaultdb'): Promise<ImmudbSession> {
  const session = new ImmudbSession({ address, user: 'immudb', password: 'immudb', database });
  try {
    await session.connect();
  } catch (e) {
    session.close();
    throw e;
  }
  return session;
}

async function withAdmin<T>(address: string, database: string | undefined, fn: (s: ImmudbSession) => Promise<T>): Promise<T> {
  const session = await adminSession(address, database);
  try {
    return await fn(session);
  } finally {
    session.close();
  }
}

/**
 * Creates `name` with the gateway's maxTxEntries (what openImmudbLedger assumes of a database it
 * did not create) unless `settings` say otherwise; returns the settings immudb reports it took.
 */
export function createDatabase(address: string, name: string, settings: DbSettings = {}): Promise<Required<DbSettings>> {
  const s = { maxTxEntries: GATEWAY_DB_MAX_TX_ENTRIES, ...settings };
  return withAdmin(address, undefined, async (admin) => settingsOf(await admin.callBytes('CreateDatabaseV2', nameAndSettings(name, s))));
}

/** Saves new settings. A loaded database keeps writing with the ones it was opened with (see reloadDatabase). */
export function updateDatabase(address: string, name: string, settings: DbSettings): Promise<Required<DbSettings>> {
  return withAdmin(address, undefined, async (admin) => settingsOf(await admin.callBytes('UpdateDatabaseV2', nameAndSettings(name, settings))));
}

/** Closes and reopens the database's store, which then takes its saved settings. */
export function reloadDatabase(address: string, name: string): Promise<void> {
  const req = bytesField(1, Buffer.from(name));
  return withAdmin(address, undefined, async (admin) => {
    await admin.callBytes('UnloadDatabase', req);
    await admin.callBytes('LoadDatabase', req);
  });
}

/** The saved settings of `name`, as a session on it reads them. */
export function databaseSettings(address: string, name: string): Promise<Required<DbSettings>> {
  return withAdmin(address, name, async (s) => settingsOf(await s.callBytes('GetDatabaseSettingsV2', Buffer.alloc(0))));
}

/**
 * A bare client for servers the gateway's session refuses (immudb 1.1.0, below its version gate):
 * token login and requests as bytes, nothing else. For writing the history a 1.1.0 left behind.
 */
export class RawImmudbClient {
  private readonly client: grpc.Client;
  private token: string | null = null;

  constructor(
    readonly address: string,
    private readonly timeoutMs = 5_000,
  ) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
  }

  /** One ImmuService call, `body` and the reply encoded (immudb-node's stubs serialize for 1.1). */
  call(method: string, body: Uint8Array): Promise<Buffer> {
    const metadata = new grpc.Metadata();
    if (this.token) metadata.set('authorization', `Bearer ${this.token}`);
    return new Promise((resolve, reject) =>
      this.client.makeUnaryRequest(
        `/immudb.schema.ImmuService/${method}`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(body),
        metadata,
        { deadline: Date.now() + this.timeoutMs },
        (err, res) => (err ? reject(err) : resolve(res!)),
      ),
    );
  }

  /** Logs in as immudb/immudb and selects `database`, creating it first (1.1's CreateDatabaseWith) with `maxTxEntries`. */
  async open(database: string, maxTxEntries: number): Promise<void> {
    const login = new pb.LoginRequest();
    login.setUser(Buffer.from('immudb'));
    login.setPassword(Buffer.from('immudb'));
    this.token = pb.LoginResponse.deserializeBinary(await this.call('Login', login.serializeBinary())).getToken();
    // DatabaseSettings { string databaseName = 1; uint32 maxTxEntries = 11 }
    await this.call('CreateDatabaseWith', Buffer.from([0x0a, ...varintBytes(database.length), ...Buffer.from(database), 0x58, ...varintBytes(maxTxEntries)]));
    const db = new pb.Database();
    db.setDatabasename(database);
    this.token = pb.UseDatabaseReply.deserializeBinary(await this.call('UseDatabase', db.serializeBinary())).getToken();
  }

  /** The server's current state of the selected database. */
  async state(): Promise<{ txId: string; txHash: string }> {
    const s = pb.ImmutableState.deserializeBinary(await this.call('CurrentState', Buffer.alloc(0)));
    return { txId: String(s.getTxid()), txHash: Buffer.from(s.getTxhash_asU8()).toString('hex') };
  }

  close(): void {
    this.client.close();
  }
}
