/**
 * Process configuration from the environment (api-contract.md, "Process and configuration").
 * An empty variable counts as unset. Any wrong value stops start-up with a `ConfigError` whose
 * message names the variable (and never echoes a password).
 */
import { z } from 'zod';
import { isValidKeyName } from '../checkpoint/note.ts';
import { ConfigError } from '../errors.ts';
import { DEFAULT_BULK_MAX_EVENTS } from '../index/index.ts';
import { DEFAULT_BODY_CACHE_BYTES } from '../ledger/body-cache.ts';
import type { LogLevel } from '../logger.ts';

export interface ImmudbSettings {
  /** `host:port` */
  address: string;
  user: string;
  password: string;
  database: string;
}

export interface Config {
  port: number;
  host: string;
  /** null: use the embedded ledger in `dataDir`. */
  immudb: ImmudbSettings | null;
  dataDir: string;
  /** null: in-process index and pub/sub. */
  redisUrl: string | null;
  logLevel: LogLevel;
  /** Serve GraphiQL to browsers on GET /graphql (GRAPHIQL). */
  graphiql: boolean;
  /** Answer introspection (`__schema`, `__type`) (INTROSPECTION); `__typename` always works. */
  introspection: boolean;
  /** Heap bytes for event bodies read from immudb (LEDGER_BODY_CACHE_MB; 0: no cache). */
  bodyCacheBytes: number;
  /** Events a rebuild of the index loads in bulk (INDEX_BULK_MAX_EVENTS; 0: batch by batch). */
  indexBulkMaxEvents: number;
  /** The checkpoint signing key's PEM file (CHECKPOINT_KEY_FILE); null: `DATA_DIR/checkpoint-key.pem`, generated once. */
  checkpointKeyFile: string | null;
  /** The first line of every checkpoint and the key's name (CHECKPOINT_ORIGIN); null: `auditgraph/<database>`. */
  checkpointOrigin: string | null;
}

const unsetIfEmpty = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
/** A variable: empty → unset → `fallback`; otherwise must pass `schema`. */
const envVar = <T extends z.ZodType>(schema: T, fallback: z.input<T>) =>
  z.preprocess(unsetIfEmpty, schema.optional()).transform((v) => (v === undefined ? schema.parse(fallback) : v) as z.output<T>);
const optionalVar = <T extends z.ZodType>(schema: T) =>
  z.preprocess(unsetIfEmpty, schema.optional()).transform((v) => (v === undefined ? null : (v as z.output<T>)));

const port = z
  .string()
  .regex(/^\d{1,5}$/, { error: 'must be an integer from 0 to 65535', abort: true })
  .transform(Number)
  .refine((n) => n <= 65535, 'must be an integer from 0 to 65535');

const host = z.string().regex(/^[A-Za-z0-9.:[\]%_-]{1,255}$/, 'must be a host name or IP address, e.g. 127.0.0.1 or 0.0.0.0');

const hostPort = z
  .string()
  .regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]{1,253}):\d{1,5}$/, { error: 'must be host:port, e.g. 127.0.0.1:3322', abort: true })
  .refine((s) => {
    const p = Number(s.slice(s.lastIndexOf(':') + 1));
    return p >= 1 && p <= 65535;
  }, 'port must be from 1 to 65535');

const secretSafe = z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters');

const database = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1–128 characters of [A-Za-z0-9_-]');

const path = z.string().min(1).max(4096, 'must be at most 4096 characters');

const redisUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
  } catch {
    return false;
  }
}, 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379');

/** A checkpoint origin is also the signing key's name (signed-note rules). */
const origin = z
  .string()
  .max(255, 'must be at most 255 characters')
  .refine(isValidKeyName, 'must be a key name: no spaces and no "+", e.g. audit.example.com/prod');

const logLevel = z.enum(['debug', 'info', 'warn', 'error'], { error: 'must be one of debug, info, warn, error' });

/** A switch: true/false/1/0 (any case). */
const flag = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(z.enum(['true', 'false', '1', '0'], { error: 'must be one of true, false, 1, 0' }))
  .transform((s) => s === 'true' || s === '1');

/** A whole number from 0 (off) to `max`: a typo of a few digits should stop start-up, not exhaust the heap later. */
const wholeNumber = (max: number, unit: string) => {
  const message = `must be a whole number of ${unit} from 0 (off) to ${max}`;
  return z
    .string()
    .trim()
    .regex(new RegExp(`^\\d{1,${String(max).length}}$`), { error: message, abort: true })
    .transform(Number)
    .refine((n) => n <= max, message);
};

/** MiB of heap; at most 64 GiB. */
const cacheMiB = wholeNumber(65_536, 'MiB');

/** Events held in memory by a bulk rebuild (~600 bytes each at the peak); at most 50,000,000 (~30 GiB). */
const bulkEvents = wholeNumber(50_000_000, 'events');

const EnvSchema = z.object({
  PORT: envVar(port, '4000'),
  HOST: envVar(host, '127.0.0.1'),
  IMMUDB_ADDRESS: optionalVar(hostPort),
  IMMUDB_USER: envVar(secretSafe, 'immudb'),
  IMMUDB_PASSWORD: envVar(secretSafe, 'immudb'),
  IMMUDB_DATABASE: envVar(database, 'defaultdb'),
  DATA_DIR: envVar(path, './data'),
  REDIS_URL: optionalVar(redisUrl),
  LOG_LEVEL: envVar(logLevel, 'info'),
  GRAPHIQL: envVar(flag, 'true'),
  INTROSPECTION: envVar(flag, 'true'),
  LEDGER_BODY_CACHE_MB: envVar(cacheMiB, String(DEFAULT_BODY_CACHE_BYTES / 2 ** 20)),
  INDEX_BULK_MAX_EVENTS: envVar(bulkEvents, String(DEFAULT_BULK_MAX_EVENTS)),
  CHECKPOINT_KEY_FILE: optionalVar(path),
  CHECKPOINT_ORIGIN: optionalVar(origin),
});

/** Variables whose values must never appear in a message. */
const SECRET = new Set(['IMMUDB_PASSWORD', 'REDIS_URL']);

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      const raw = env[name];
      const shown = SECRET.has(name) || raw === undefined ? '' : ` (got ${JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw)})`;
      return `${name} ${issue.message}${shown}`;
    });
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    immudb: e.IMMUDB_ADDRESS === null ? null : { address: e.IMMUDB_ADDRESS, user: e.IMMUDB_USER, password: e.IMMUDB_PASSWORD, database: e.IMMUDB_DATABASE },
    dataDir: e.DATA_DIR,
    redisUrl: e.REDIS_URL,
    logLevel: e.LOG_LEVEL,
    graphiql: e.GRAPHIQL,
    introspection: e.INTROSPECTION,
    bodyCacheBytes: e.LEDGER_BODY_CACHE_MB * 1024 * 1024,
    indexBulkMaxEvents: e.INDEX_BULK_MAX_EVENTS,
    checkpointKeyFile: e.CHECKPOINT_KEY_FILE,
    checkpointOrigin: e.CHECKPOINT_ORIGIN,
  };
}
