/**
 * A typed, promise-based immudb 1.10/1.11 gRPC session on top of immudb-node's generated stubs.
 *
 * Why not immudb-node's client: its high-level calls log with console.error, resolve `undefined`
 * on failure, accept only UTF-8 strings, hide the proofs and share one process-wide instance.
 * Here every call has a deadline, every failure is an exception we classify, keys and values are
 * bytes, and a lost token (immudb restarted, or the token's 24 h expired) is renewed by logging in
 * again. Token auth (Login + UseDatabase), not immudb's OpenSession/CloseSession sessions: a token
 * needs no keep-alive and nothing to close, so a dropped connection leaves nothing half-open.
 */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { AuditError, ErrorCode, ledgerUnavailable } from '../../errors.ts';
import { unsupportedImmudbVersion } from './version.ts';
import { MalformedReply } from './protobuf.ts';
import { encodeCreateDatabaseRequest } from './wire-encode.ts';
import type { Empty as EmptyMessage, ImmuCalls, ImmuMethod, PbClass, SchemaPb } from './schema-pb.ts';

const require = createRequire(import.meta.url);
// The generated code is CommonJS without usable typings (schema_pb.d.ts is empty): schema-pb.ts types what is used.
export const pb = require('immudb-node/dist/src/proto/schema_pb.js') as SchemaPb;
const services = require('immudb-node/dist/src/proto/schema_grpc_pb.js') as { ImmuServiceClient: ImmuServiceClientClass };
const { Empty } = require('google-protobuf/google/protobuf/empty_pb.js') as { Empty: PbClass<EmptyMessage> };

/** The generated client: grpc-js's Client with a method per ImmuService call, looked up by name. */
export type ImmuServiceClientClass = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => grpc.Client & Record<string, unknown>;

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
  /** syncFrequency (ms) of a database the gateway creates itself; unset: immudb's default. */
  createDatabaseSyncFrequencyMs?: number;
  /**
   * Tx header version a database the gateway creates writes: 0 is immudb 1.1's (compatibility
   * mode), 1 is 1.2+'s; unset: immudb's default (1).
   */
  createDatabaseWriteTxHeaderVersion?: 0 | 1;
}

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

/** What a refusal is about: the server itself (its version), the login, or the database. */
export type ImmudbSetting = 'server' | 'login' | 'database';

/**
 * immudb refused what the gateway is configured with: an unsupported server version, the user or
 * password, the database. Unlike a transport failure, retrying will not help. Clients see
 * LEDGER_UNAVAILABLE; at start-up it is a configuration error (open-ledger.ts).
 */
export class ImmudbSetupRefused extends AuditError {
  constructor(
    readonly setting: ImmudbSetting,
    message: string,
    cause?: unknown,
  ) {
    super(ErrorCode.LEDGER_UNAVAILABLE, message, {}, { cause });
    this.name = 'ImmudbSetupRefused';
  }
}

/**
 * A call refused because immudb does not know or no longer accepts the token: the call was not
 * executed. Texts seen from immudb 1.10.0 and 1.11.1 after a restart (their token keys live in
 * memory): "not logged in" (code UNKNOWN) from data calls, "Please login" (UNAUTHENTICATED) from
 * UseDatabase; a token it cannot parse: "invalid token" (INTERNAL); after the 24 h token lifetime:
 * "token has expired" (UNKNOWN, or PERMISSION_DENIED from UseDatabase).
 */
export const isAuthFailure = (e: unknown) =>
  e instanceof ImmudbError &&
  (e.grpcCode === grpc.status.UNAUTHENTICATED || e.grpcCode === grpc.status.PERMISSION_DENIED || /token|not logged in|please login/i.test(e.message));

/** Limits immudb 1.10/1.11 accept; checked here so a wrong option fails at once with its name. */
function checkOptions(o: ImmudbConnectionOptions): void {
  const check = (name: string, v: number | undefined, max: number) => {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 0 && v <= max)) throw new RangeError(`${name} must be a whole number from 0 to ${max} (got ${v})`);
  };
  check('createDatabaseMaxTxEntries', o.createDatabaseMaxTxEntries, 0xffffffff);
  check('createDatabaseSyncFrequencyMs', o.createDatabaseSyncFrequencyMs, Number.MAX_SAFE_INTEGER);
  check('createDatabaseWriteTxHeaderVersion', o.createDatabaseWriteTxHeaderVersion, 1);
  if (o.createDatabaseMaxTxEntries === 0) throw new RangeError('createDatabaseMaxTxEntries must be at least 1');
}

export class ImmudbSession {
  private readonly client: grpc.Client & Record<string, unknown>;
  private readonly timeoutMs: number;
  private readonly server: string;
  private token: string | null = null;
  private loggingIn: Promise<void> | null = null;
  private closed = false;
  /** Calls on the wire, cancelled by close() so that none outlives the session. */
  private readonly inFlight = new Set<grpc.ClientUnaryCall>();
  private loginCount = 0;
  private reportedVersion: string | null = null;

  constructor(private readonly options: ImmudbConnectionOptions) {
    checkOptions(options);
    this.timeoutMs = options.callTimeoutMs ?? 5_000;
    this.server = `immudb at ${options.address}`;
    this.client = new services.ImmuServiceClient(options.address, grpc.credentials.createInsecure(), {
      // immudb may be restarted under us: reconnect quickly instead of backing off for minutes.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
  }

  /** Checks the server's version, logs in and selects the database, creating it when missing. */
  connect(): Promise<void> {
    return this.login();
  }

  /** How many times the session has logged in (1 after connect; more after token renewals). */
  get logins(): number {
    return this.loginCount;
  }

  /** The version the server reported at the last login (Health), e.g. "1.11.1-a1b2c3d". */
  get serverVersion(): string | null {
    return this.reportedVersion;
  }

  private login(): Promise<void> {
    // Concurrent calls that all lost their token share one login.
    this.loggingIn ??= this.doLogin().finally(() => {
      this.loggingIn = null;
    });
    return this.loggingIn;
  }

  private async doLogin(): Promise<void> {
    // At every login, not just the first: a restart may have brought up another immudb.
    await this.checkVersion();
    const req = new pb.LoginRequest();
    req.setUser(Buffer.from(this.options.user));
    req.setPassword(Buffer.from(this.options.password));
    // immudb answers a wrong user or password with "invalid user name or password"; the password
    // itself is never part of a message.
    const loginToken = (
      await this.raw('login', req, null).catch((e: unknown) => {
        throw refusal(e, 'login', `${this.server} refused the login of user ${JSON.stringify(this.options.user)}`);
      })
    ).getToken();
    const db = new pb.Database();
    db.setDatabasename(this.options.database);
    const use = () =>
      this.raw('useDatabase', db, loginToken).catch((e: unknown) => {
        throw refusal(e, 'database', `${this.server} refused database ${JSON.stringify(this.options.database)}`);
      });
    let used: ImmuCalls['useDatabase']['reply'];
    try {
      used = await use();
    } catch (e) {
      if (!(e instanceof ImmudbSetupRefused) || !/does not exist/i.test(e.message)) throw e;
      await this.createDatabase(loginToken);
      used = await use();
    }
    this.token = used.getToken();
    this.loginCount++;
  }

  /** Health answers without a token on every immudb from 1.1.0 on, so even an old server is named. */
  private async checkVersion(): Promise<void> {
    let reported: string;
    try {
      reported = String((await this.raw('health', new Empty(), null)).getVersion());
    } catch (e) {
      // A gRPC server without immudb's Health is not an immudb this gateway can use.
      if (e instanceof ImmudbError && e.grpcCode === grpc.status.UNIMPLEMENTED) {
        throw new ImmudbSetupRefused('server', `${this.server} does not answer immudb's Health call (${e.message})`, e);
      }
      throw e;
    }
    const problem = unsupportedImmudbVersion(reported, this.server);
    if (problem) throw new ImmudbSetupRefused('server', problem);
    this.reportedVersion = reported;
  }

  /**
   * CreateDatabaseV2 { name, settings: DatabaseNullableSettings { maxTxEntries 11, writeTxHeaderVersion 20,
   * syncFrequency 23 }, ifNotExists: true }, encoded here: immudb-node's stubs predate the call.
   * maxTxEntries matters: immudb's default of 1024 entries per transaction caps a batch at 512 events
   * (two entries each); immudb keeps the settings in the database's own metadata across restarts.
   * ifNotExists: two gateways that both found the database missing both succeed.
   */
  private async createDatabase(token: string): Promise<void> {
    const { database, createDatabaseMaxTxEntries, createDatabaseWriteTxHeaderVersion, createDatabaseSyncFrequencyMs } = this.options;
    // immudb 1.10+ lower-cases the name it creates, after which UseDatabase of the name as given fails.
    if (database !== database.toLowerCase()) {
      throw new ImmudbSetupRefused(
        'database',
        `${this.server} cannot create database ${JSON.stringify(database)}: immudb database names are lower case (use ${JSON.stringify(database.toLowerCase())})`,
      );
    }
    const body = encodeCreateDatabaseRequest(database, {
      maxTxEntries: createDatabaseMaxTxEntries ?? 1024,
      ...(createDatabaseWriteTxHeaderVersion === undefined ? {} : { writeTxHeaderVersion: createDatabaseWriteTxHeaderVersion }),
      ...(createDatabaseSyncFrequencyMs === undefined ? {} : { syncFrequencyMs: createDatabaseSyncFrequencyMs }),
    });
    await this.rawBytes('CreateDatabaseV2', body, token).catch((e: unknown) => {
      throw refusal(e, 'database', `${this.server} refused to create database ${JSON.stringify(database)}`);
    });
  }

  /** One unary call with the session token; renews the token once when immudb no longer knows it. */
  call<M extends ImmuMethod>(method: M, request: ImmuCalls[M]['request']): Promise<ImmuCalls[M]['reply']> {
    return this.withToken((token) => this.raw(method, request, token));
  }

  /**
   * The same for a request encoded by hand (`wire-encode.ts`): `method` is the service method's name as in
   * immudb's schema.proto ('TxScan'), and the reply comes back as its encoded bytes.
   */
  callBytes(method: string, body: Buffer): Promise<Buffer> {
    return this.withToken((token) => this.rawBytes(method, body, token));
  }

  private async withToken<T>(send: (token: string | null) => Promise<T>): Promise<T> {
    if (this.closed) throw closedError();
    if (!this.token) await this.login();
    const used = this.token;
    try {
      return await send(used);
    } catch (e) {
      // An authentication failure means the call was not executed: retrying is safe even for writes.
      if (!isAuthFailure(e) || this.closed) throw e;
      // Only drop the token this call used: another call may already have renewed it.
      if (this.token === used) this.token = null;
      if (!this.token) await this.login();
      return send(this.token);
    }
  }

  private raw<M extends ImmuMethod>(method: M, request: ImmuCalls[M]['request'], token: string | null): Promise<ImmuCalls[M]['reply']> {
    const fn = this.client[method];
    if (typeof fn !== 'function') return Promise.reject(new Error(`immudb client has no method ${method}`));
    return this.unary<ImmuCalls[M]['reply']>((metadata, options, done) => fn.call(this.client, request, metadata, options, done), token);
  }

  private rawBytes(method: string, body: Buffer, token: string | null): Promise<Buffer> {
    const identity = (b: Buffer) => b;
    return this.unary(
      (metadata, options, done) => this.client.makeUnaryRequest(`/immudb.schema.ImmuService/${method}`, identity, identity, body, metadata, options, done),
      token,
    );
  }

  /** Starts one call with a deadline and the token, and settles on its answer, its failure or close(). */
  private unary<T>(
    start: (metadata: grpc.Metadata, options: grpc.CallOptions, done: (err: grpc.ServiceError | null, res?: T) => void) => grpc.ClientUnaryCall,
    token: string | null,
  ): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    const metadata = new grpc.Metadata();
    if (token) metadata.set('authorization', `Bearer ${token}`);
    return new Promise<T>((resolve, reject) => {
      let call: grpc.ClientUnaryCall | undefined;
      let settled = false;
      const done = (err: grpc.ServiceError | null, res?: T) => {
        settled = true;
        if (call) this.inFlight.delete(call);
        if (!err) resolve(res!);
        else reject(this.closed ? closedError(err) : classify(err, this.options.address));
      };
      try {
        call = start(metadata, { deadline: Date.now() + this.timeoutMs }, done);
      } catch (e) {
        // grpc-js throws when a request cannot be serialized or the channel is already shut down.
        return reject(this.closed ? closedError(e) : ledgerUnavailable(`${this.server}: the call could not be started`, e));
      }
      if (!settled) this.inFlight.add(call);
    });
  }

  empty(): EmptyMessage {
    return new Empty();
  }

  /** Cancels the calls in flight (they reject with LEDGER_UNAVAILABLE) and closes the channel. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // No Logout: immudb 1.10/1.11 sign the tokens of every client of one user with one key pair,
    // which a Logout may drop, logging out other gateways of that user too. Our token just expires.
    for (const call of this.inFlight) call.cancel();
    this.inFlight.clear();
    this.client.close();
  }
}

const closedError = (cause?: unknown) => ledgerUnavailable('the ledger connection is closed', cause);

/** An ImmudbError is immudb's answer to what we asked: a refusal of `setting`. Transport failures pass through. */
function refusal(e: unknown, setting: ImmudbSetting, what: string): unknown {
  if (!(e instanceof ImmudbError) || e.grpcCode === grpc.status.INTERNAL) return e;
  // A token immudb forgot between our Login and UseDatabase (a restart in between) is no refusal.
  if (setting === 'database' && (e.grpcCode === grpc.status.UNAUTHENTICATED || /not logged in|token/i.test(e.message))) return e;
  return new ImmudbSetupRefused(setting, `${what}: ${e.message}`, e);
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
