/**
 * A typed, promise-based immudb 1.1 gRPC session on top of immudb-node's generated stubs.
 *
 * Why not immudb-node's client: its high-level calls log with console.error, resolve `undefined`
 * on failure, accept only UTF-8 strings, hide the proofs and share one process-wide instance.
 * Here every call has a deadline, every failure is an exception we classify, keys and values are
 * bytes, and a lost token (immudb restarted) is renewed by logging in again.
 */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { AuditError, ErrorCode, ledgerUnavailable } from '../../errors.ts';
import { MalformedReply, varintBytes } from './wire.ts';

const require = createRequire(import.meta.url);
// The generated code is CommonJS without usable typings (schema_pb.d.ts is empty).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const pb: any = require('immudb-node/dist/src/proto/schema_pb.js');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const services: any = require('immudb-node/dist/src/proto/schema_grpc_pb.js');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { Empty }: any = require('google-protobuf/google/protobuf/empty_pb.js');

export interface ImmudbConnectionOptions {
  /** host:port */
  address: string;
  user: string;
  password: string;
  database: string;
  /** Deadline of one call. A dead server must surface as LEDGER_UNAVAILABLE, never as a hang. */
  callTimeoutMs?: number;
  /** Entries per transaction of a database the gateway creates itself (immudb's default 1024). */
  createDatabaseMaxTxEntries?: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Message = any;

const UNAVAILABLE = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED]);

/** A gRPC failure that is immudb's own answer (not a transport problem): e.g. "key not found". */
export class ImmudbError extends Error {
  constructor(
    readonly grpcCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ImmudbError';
  }
}

// After a restart immudb 1.1 no longer knows our token and answers "not logged in" (code UNKNOWN).
const isAuthFailure = (e: unknown) =>
  e instanceof ImmudbError &&
  (e.grpcCode === grpc.status.UNAUTHENTICATED ||
    e.grpcCode === grpc.status.PERMISSION_DENIED ||
    /token|not logged in/i.test(e.message));

export class ImmudbSession {
  private readonly client: grpc.Client & Record<string, unknown>;
  private readonly timeoutMs: number;
  private token: string | null = null;
  private loggingIn: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly options: ImmudbConnectionOptions) {
    this.timeoutMs = options.callTimeoutMs ?? 5_000;
    this.client = new services.ImmuServiceClient(options.address, grpc.credentials.createInsecure(), {
      // immudb may be restarted under us: reconnect quickly instead of backing off for minutes.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
  }

  /** Logs in and selects the database, creating it when missing. */
  connect(): Promise<void> {
    return this.login();
  }

  private login(): Promise<void> {
    // Concurrent calls that all lost their token share one login.
    this.loggingIn ??= this.doLogin().finally(() => {
      this.loggingIn = null;
    });
    return this.loggingIn;
  }

  private async doLogin(): Promise<void> {
    const req = new pb.LoginRequest();
    req.setUser(Buffer.from(this.options.user));
    req.setPassword(Buffer.from(this.options.password));
    const loginToken: string = (await this.raw('login', req, null)).getToken();
    const db = new pb.Database();
    db.setDatabasename(this.options.database);
    let used: Message;
    try {
      used = await this.raw('useDatabase', db, loginToken);
    } catch (e) {
      if (!(e instanceof ImmudbError) || !/does not exist/i.test(e.message)) throw e;
      await this.createDatabase(loginToken);
      used = await this.raw('useDatabase', db, loginToken);
    }
    this.token = used.getToken();
  }

  /**
   * CreateDatabaseWith(DatabaseSettings{databaseName, maxTxEntries}). immudb-node's stubs predate this
   * call, so the two-field request is encoded here. The setting matters: immudb's default of 1024
   * entries per transaction caps a batch at 512 events (two entries each); immudb keeps the setting
   * in the database's own metadata across restarts.
   */
  private async createDatabase(token: string): Promise<void> {
    const name = Buffer.from(this.options.database, 'utf8');
    const maxTxEntries = this.options.createDatabaseMaxTxEntries ?? 1024;
    const body = Buffer.from([
      0x0a, ...varintBytes(name.length), ...name, // field 1: databaseName (string)
      0x58, ...varintBytes(maxTxEntries), // field 11: maxTxEntries (uint32)
    ]);
    await this.rawBytes('CreateDatabaseWith', body, token);
  }

  /** One unary call with the session token; renews the token once when immudb no longer knows it. */
  call(method: string, request: Message): Promise<Message> {
    return this.withToken((token) => this.raw(method, request, token));
  }

  /**
   * The same for a request encoded by hand (`wire.ts`): `method` is the service method's name as in
   * immudb's schema.proto ('TxScan'), and the reply comes back as its encoded bytes.
   */
  callBytes(method: string, body: Buffer): Promise<Buffer> {
    return this.withToken((token) => this.rawBytes(method, body, token));
  }

  private async withToken<T>(send: (token: string | null) => Promise<T>): Promise<T> {
    if (this.closed) throw ledgerUnavailable('the ledger connection is closed');
    if (!this.token) await this.login();
    try {
      return await send(this.token);
    } catch (e) {
      // An authentication failure means the call was not executed: retrying is safe even for writes.
      if (!isAuthFailure(e)) throw e;
      this.token = null;
      await this.login();
      return send(this.token);
    }
  }

  private raw(method: string, request: Message, token: string | null): Promise<Message> {
    const fn = this.client[method];
    if (typeof fn !== 'function') throw new Error(`immudb client has no method ${method}`);
    const metadata = new grpc.Metadata();
    if (token) metadata.set('authorization', `Bearer ${token}`);
    return new Promise((resolve, reject) => {
      fn.call(this.client, request, metadata, { deadline: Date.now() + this.timeoutMs }, (err: grpc.ServiceError | null, res: Message) =>
        err ? reject(classify(err, this.options.address)) : resolve(res),
      );
    });
  }

  private rawBytes(method: string, body: Buffer, token: string | null): Promise<Buffer> {
    const metadata = new grpc.Metadata();
    if (token) metadata.set('authorization', `Bearer ${token}`);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/immudb.schema.ImmuService/${method}`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        metadata,
        { deadline: Date.now() + this.timeoutMs },
        (err: grpc.ServiceError | null, res?: Buffer) => (err ? reject(classify(err, this.options.address)) : resolve(res!)),
      );
    });
  }

  empty(): Message {
    return new Empty();
  }

  close(): void {
    this.closed = true;
    this.client.close();
  }
}

function classify(err: grpc.ServiceError, address: string): Error {
  if (UNAVAILABLE.has(err.code)) {
    return ledgerUnavailable(`immudb at ${address} is unavailable (${err.details || err.message})`, err);
  }
  return new ImmudbError(err.code, err.details || err.message);
}

export const isKeyNotFound = (e: unknown) => e instanceof ImmudbError && /key not found/i.test(e.message);

/** Turns anything thrown by the session into an error a client may see. */
export function asLedgerError(e: unknown, what: string): AuditError {
  if (e instanceof AuditError) return e;
  if (e instanceof ImmudbError) return new AuditError(ErrorCode.LEDGER_UNAVAILABLE, `immudb refused ${what}: ${e.message}`);
  if (e instanceof MalformedReply) return new AuditError(ErrorCode.LEDGER_UNAVAILABLE, `immudb's reply to ${what} was not understood (${e.message})`);
  return ledgerUnavailable(`immudb ${what} failed`, e);
}
