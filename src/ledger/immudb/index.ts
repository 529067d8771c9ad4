import { LIMITS } from '../../events/limits.ts';
import { GroupCommitLedger } from '../group-commit.ts';
import { RedisEventIdClaims } from '../id-claims.ts';
import { TrustedStateStore } from '../trusted-state.ts';
import { AuditError, ErrorCode } from '../../errors.ts';
import { asLedgerError, ImmudbSession } from './grpc.ts';
import { decodeMaxTxEntries } from './wire-decode.ts';
import { ImmudbLedger } from './immudb-ledger.ts';

export { ImmudbSetupRefused, type ImmudbSetting } from './grpc.ts';

export interface ImmudbConfig {
  address: string;
  user: string;
  password: string;
  database: string;
  /** Where the trusted state is kept. */
  dataDir: string;
  /**
   * maxTxEntries of a database the gateway creates (default GATEWAY_DB_MAX_TX_ENTRIES). Batches are
   * sized by what the server reports for the database in use, whoever created it.
   */
  maxTxEntries?: number;
  /** syncFrequency (ms) of a database the gateway creates (default GATEWAY_DB_SYNC_FREQUENCY_MS). */
  syncFrequencyMs?: number;
  /** Tx header version of a database the gateway creates: 0 for immudb 1.1-compatible headers (tests); unset: immudb's default, 1. */
  writeTxHeaderVersion?: 0 | 1;
  callTimeoutMs?: number;
  /**
   * Redis for eventId claims between gateway instances (id-claims.ts). Without it idempotency holds
   * within this process only.
   */
  redisUrl?: string | null;
  onClaimError?: (message: string) => void;
}

/**
 * maxTxEntries of a database the gateway creates: the largest all-or-nothing batch (two entries an
 * event) and no more, since immudb sizes per-transaction buffers by it.
 */
export const GATEWAY_DB_MAX_TX_ENTRIES = 2 * LIMITS.maxBatch;

/**
 * syncFrequency (ms) of a database the gateway creates. immudb acknowledges a write only after the
 * fsync that follows it, whatever this is; it sets how long the syncer gathers txs first, and
 * ExecAll waits for that under the database's lock. immudb's default, 20 ms, held verified batches
 * well below what this value gives in bench/write-shape.ts (BENCHMARKS.md).
 */
export const GATEWAY_DB_SYNC_FREQUENCY_MS = 2;

/**
 * Connects (refusing an immudb outside SUPPORTED_IMMUDB_VERSIONS, creating the database when
 * missing) and returns the group-committing ledger. Fails with an AuditError: `ImmudbSetupRefused`
 * when immudb refuses the configuration, LEDGER_UNAVAILABLE when it cannot be reached.
 */
export async function openImmudbLedger(config: ImmudbConfig): Promise<GroupCommitLedger> {
  const session = new ImmudbSession({
    ...config,
    createDatabaseMaxTxEntries: config.maxTxEntries ?? GATEWAY_DB_MAX_TX_ENTRIES,
    createDatabaseSyncFrequencyMs: config.syncFrequencyMs ?? GATEWAY_DB_SYNC_FREQUENCY_MS,
    createDatabaseWriteTxHeaderVersion: config.writeTxHeaderVersion,
  });
  try {
    await session.connect().catch((e: unknown) => {
      throw asLedgerError(e, 'the login');
    });
    const maxTxEntries = await databaseMaxTxEntries(session);
    const trusted = await TrustedStateStore.open(config.dataDir, 'immudb', config.database);
    const claims = config.redisUrl
      ? new RedisEventIdClaims({ url: config.redisUrl, scope: config.database, ...(config.onClaimError ? { onError: config.onClaimError } : {}) })
      : undefined;
    return new GroupCommitLedger(new ImmudbLedger({ session, database: config.database, trusted, maxTxEntries }), claims ? { claims } : {});
  } catch (e) {
    session.close();
    throw e;
  }
}

/**
 * The database's maxTxEntries as the server reports it. Not assumed: a database created elsewhere
 * (defaultdb, an operator's, or one immudb 1.1 created, which 1.10/1.11 report as 1024 whatever it
 * was created with) must not get a transaction bigger than the server's indexer takes — one such
 * tx stalls the database's indexing for good.
 */
async function databaseMaxTxEntries(session: ImmudbSession): Promise<number> {
  let reported: number | null;
  try {
    reported = decodeMaxTxEntries(await session.callBytes('GetDatabaseSettingsV2', Buffer.alloc(0)));
  } catch (e) {
    throw asLedgerError(e, 'the read of the database settings');
  }
  if (reported === null || reported < 2) {
    throw new AuditError(ErrorCode.LEDGER_UNAVAILABLE, `immudb reported maxTxEntries ${reported} for the database: an event takes 2 entries`);
  }
  return reported;
}
