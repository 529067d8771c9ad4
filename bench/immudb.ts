/**
 * The benchmarks' immudb servers and the raw calls they send beside the gateway's (hand-encoded
 * protobuf, field numbers of immudb 1.10/1.11's pkg/api/schema/schema.proto; immudb-node's 1.1
 * stubs and its client's proof checks predate those servers).
 *
 * `npm run bench` runs on a private immudb 1.11.1 (or IMMUDB_ADDRESS) and starts a private 1.10.0
 * beside it for the raw floors the issue names (BENCH_FLOOR_VERSIONS, comma-separated; empty: none).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startImmudb, type ManagedServer } from '../test/support/servers.ts';
import { ImmudbSession } from '../src/ledger/immudb/grpc.ts';
import { openImmudbLedger } from '../src/ledger/immudb/index.ts';
import { varintBytes } from '../src/ledger/immudb/protobuf.ts';

export interface BenchServer {
  address: string;
  /** As ServerInfo reports it, e.g. "1.11.1". */
  version: string;
}

/** What a benchmark runs on: the server under test and the servers of the raw floors beside it. */
export interface BenchTarget extends BenchServer {
  floors: BenchServer[];
}

/** The `server` cell of a row: "immudb 1.11.1". */
export const serverLabel = (s: BenchServer) => `immudb ${s.version}`;

/** Starts a private immudb of each version (built by scripts/immudb-install.mjs). */
export async function startServers(versions: string[]): Promise<{ servers: (BenchServer & { managed: ManagedServer })[]; stop: () => Promise<void> }> {
  const started: (BenchServer & { managed: ManagedServer })[] = [];
  const stop = async () => {
    for (const s of started) await s.managed.destroy();
  };
  try {
    if (versions.length === 0) return { servers: started, stop };
    const binaries = execFileSync(process.execPath, ['scripts/immudb-install.mjs', ...versions], { encoding: 'utf8' })
      .trim()
      .split('\n');
    for (const binary of binaries) {
      const managed = await startImmudb(binary);
      started.push({ address: managed.address, version: await serverVersion(managed.address), managed });
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { servers: started, stop };
}

/**
 * BENCH_SYNC_FREQUENCY_MS: the syncFrequency of every database the gateway benchmarks create (the
 * gateway's and their floors' alike); unset: whatever the gateway does by default.
 */
export function gatewayDbOptions(): { syncFrequencyMs?: number } {
  const v = process.env.BENCH_SYNC_FREQUENCY_MS;
  return v === undefined || v === '' ? {} : { syncFrequencyMs: Number(v) };
}

/** The gateway's ledger on `server`, database `database` (created as the gateway creates it). */
export function openGatewayLedger(server: BenchServer, database: string) {
  return openImmudbLedger({
    address: server.address,
    user: 'immudb',
    password: 'immudb',
    database,
    dataDir: mkdtempSync(join(tmpdir(), 'ag-bench-')),
    ...gatewayDbOptions(),
  });
}

/**
 * A session on a new database created by the gateway itself (a ledger opened on it and closed), so
 * that a floor writes to a database set up exactly as the gateway's.
 */
export async function gatewayDatabase(server: BenchServer, name: string): Promise<ImmudbSession> {
  await (await openGatewayLedger(server, name)).close();
  const s = login(server.address, name);
  await s.connect();
  return s;
}

const login = (address: string, database = 'defaultdb') => new ImmudbSession({ address, user: 'immudb', password: 'immudb', database, callTimeoutMs: 60_000 });

/** ServerInfo { string version = 1; … } */
export async function serverVersion(address: string): Promise<string> {
  const s = login(address);
  try {
    await s.connect();
    const reply = await s.callBytes('ServerInfo', Buffer.alloc(0));
    if (reply[0] !== 0x0a) return 'unknown';
    const [length, at] = readVarint(reply, 1);
    return reply.toString('utf8', at, at + length) || 'unknown';
  } finally {
    s.close();
  }
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 128;
  }
}

export interface DatabaseSettings {
  maxTxEntries: number;
  /** Milliseconds; absent: immudb's default (embedded/store/options.go DefaultSyncFrequency, 20 ms). */
  syncFrequencyMs?: number;
}

const field = (tag: number, body: Buffer | number[]) => Buffer.from([tag, ...varintBytes(body.length), ...body]);

/**
 * CreateDatabaseV2(CreateDatabaseRequest { string name = 1; DatabaseNullableSettings settings = 2 })
 * with settings { NullableUint32 maxTxEntries = 11; NullableMilliseconds syncFrequency = 23 },
 * both { value = 1 } (syncFrequency an int64; 0 is a value too: a Nullable field is set when present).
 */
export function encodeCreateDatabaseV2(name: string, settings: DatabaseSettings): Buffer {
  const parts = [field(0x5a, [0x08, ...varintBytes(settings.maxTxEntries)])]; // 11, length-delimited
  // field 23, wire type 2: (23 << 3) | 2 = 186 = varint [0xba, 0x01]
  if (settings.syncFrequencyMs !== undefined) {
    const body = Buffer.from([0x08, ...varintBytes(settings.syncFrequencyMs)]);
    parts.push(Buffer.from([0xba, 0x01, ...varintBytes(body.length), ...body]));
  }
  const nameBytes = Buffer.from(name, 'utf8');
  return Buffer.concat([field(0x0a, nameBytes), field(0x12, Buffer.concat(parts))]);
}

/** Creates `name` on `address` with these settings and returns a session on it (connected). */
export async function createDatabase(address: string, name: string, settings: DatabaseSettings): Promise<ImmudbSession> {
  const admin = login(address);
  try {
    await admin.connect();
    await admin.callBytes('CreateDatabaseV2', encodeCreateDatabaseV2(name, settings));
  } finally {
    admin.close();
  }
  const s = login(address, name);
  await s.connect();
  return s;
}

/** A Precondition { KeyMustNotExistPrecondition keyMustNotExist = 2 { bytes key = 1 } } */
const mustNotExist = (key: Buffer) => field(0x12, field(0x0a, key));

/**
 * SetRequest { repeated KeyValue KVs = 1 { bytes key = 1; bytes value = 2 }; bool noWait = 2;
 * repeated Precondition preconditions = 3 }: the KVs in order, then KeyMustNotExist on each key
 * of `absent`.
 */
export function encodeSetRequest(kvs: readonly { key: Buffer; value: Buffer }[], absent: readonly Buffer[] = []): Buffer {
  const parts: Buffer[] = [];
  for (const { key, value } of kvs) parts.push(field(0x0a, Buffer.concat([field(0x0a, key), field(0x12, value)])));
  for (const key of absent) parts.push(field(0x1a, mustNotExist(key)));
  return Buffer.concat(parts);
}

/** VerifiableSetRequest { SetRequest setRequest = 1; uint64 proveSinceTx = 2 } */
export function encodeVerifiableSetRequest(setRequest: Buffer, proveSinceTx: number): Buffer {
  return Buffer.concat([field(0x0a, setRequest), Buffer.from([0x10, ...varintBytes(proveSinceTx)])]);
}

/** Entries of a reply { repeated Entry entries = 1 }, counted without decoding them. */
export function countEntries(reply: Buffer): number {
  let n = 0;
  for (let pos = 0; pos < reply.length; ) {
    const tag = reply[pos++]!;
    const [length, at] = readVarint(reply, pos);
    pos = at + length;
    if (tag === 0x0a) n++;
  }
  return n;
}
