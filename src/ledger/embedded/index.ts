import { closeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GroupCommitLedger } from '../group-commit.ts';
import { TrustedStateStore } from '../trusted-state.ts';
import { EmbeddedLedger } from './embedded-ledger.ts';
import { acquireLock } from './lock.ts';
import { openOrCreateLog } from './log.ts';
import type { Logger } from '../../logger.ts';
import type { StartupVerification } from './startup.ts';

export { EmbeddedLedger } from './embedded-ledger.ts';
export type { StartupReport, StartupVerification } from './startup.ts';
export { MAX_EVENTS_PER_TX } from './transaction.ts';
export { LogCorruptionError } from './log.ts';
export { LedgerLockedError } from './lock.ts';

export interface EmbeddedConfig {
  /** DATA_DIR: the log goes to `<dataDir>/ledger/<database>.txlog`, the trusted state beside it. */
  dataDir: string;
  /** Default `defaultdb`. Letters, digits, `_` and `-` (it names files). */
  database?: string;
  /** Start-up verification depth (see EmbeddedLedgerOptions.verify); default 'chain'. */
  verify?: StartupVerification;
  logger?: Pick<Logger, 'warn'>;
  /** Logs of at least this many bytes are replayed with a helper thread; default 16 MiB. */
  workerMinBytes?: number;
}

const DATABASE = /^[A-Za-z0-9_-]{1,128}$/;

/** Paths of a database's files under DATA_DIR. */
export function embeddedLedgerPaths(dataDir: string, database = 'defaultdb') {
  if (!DATABASE.test(database)) throw new TypeError('database must be 1-128 of [A-Za-z0-9_-]');
  const dir = join(dataDir, 'ledger');
  return { dir, log: join(dir, `${database}.txlog`), lock: join(dir, `${database}.lock`) };
}

/**
 * Opens the backend: takes the single-writer lock (LedgerLockedError while another process holds
 * it), recovers the log (a torn tail is truncated with a warning, damage before intact records
 * refuses with LogCorruptionError naming the byte offset) and checks it against the trusted state.
 */
export async function openEmbeddedBackend(config: EmbeddedConfig): Promise<EmbeddedLedger> {
  const database = config.database ?? 'defaultdb';
  const paths = embeddedLedgerPaths(config.dataDir, database);
  mkdirSync(paths.dir, { recursive: true });
  const lock = await acquireLock(paths.lock, { guarded: paths.log });
  let fd: number | null = null;
  try {
    const log = openOrCreateLog(paths.log);
    fd = log.fd;
    const trusted = await TrustedStateStore.open(config.dataDir, 'embedded', database);
    const ledger = await EmbeddedLedger.load({
      file: paths.log,
      fd: log.fd,
      size: log.size,
      database,
      trusted,
      ...(config.verify ? { verify: config.verify } : {}),
      ...(config.logger ? { logger: config.logger } : {}),
      ...(config.workerMinBytes !== undefined ? { workerMinBytes: config.workerMinBytes } : {}),
    });
    ledger.onClose = () => lock.release();
    return ledger;
  } catch (e) {
    if (fd !== null) closeSync(fd);
    lock.release();
    throw e;
  }
}

/** The embedded ledger (used when IMMUDB_ADDRESS is unset), with group commit and idempotency. */
export async function openEmbeddedLedger(config: EmbeddedConfig): Promise<GroupCommitLedger> {
  return new GroupCommitLedger(await openEmbeddedBackend(config));
}
