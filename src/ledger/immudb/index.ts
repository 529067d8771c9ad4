import { LIMITS } from '../../events/limits.ts';
import { GroupCommitLedger } from '../group-commit.ts';
import { RedisEventIdClaims } from '../id-claims.ts';
import { TrustedStateStore } from '../trusted-state.ts';
import { asLedgerError, ImmudbSession } from './grpc.ts';
import { ImmudbLedger } from './immudb-ledger.ts';

export interface ImmudbConfig {
  address: string;
  user: string;
  password: string;
  database: string;
  /** Where the trusted state is kept. */
  dataDir: string;
  /** maxTxEntries of the database (immudb's default 1024; databases the gateway creates get GATEWAY_DB_MAX_TX_ENTRIES). */
  maxTxEntries?: number;
  /** syncFrequency (ms) of a database the gateway creates; unset: immudb's default. */
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
 * event) and no more. immudb 1.1 allocates maxTxEntries × maxKeyLen bytes for every Scan it serves
 * (a whole Tx per key reader: 4 MiB at 4096), which the timeline pays on every page.
 */
export const GATEWAY_DB_MAX_TX_ENTRIES = 2 * LIMITS.maxBatch;

/**
 * Connects (refusing an immudb outside SUPPORTED_IMMUDB_VERSIONS, creating the database when
 * missing) and returns the group-committing ledger. Fails with an AuditError: `ImmudbSetupRefused`
 * when immudb refuses the configuration, LEDGER_UNAVAILABLE when it cannot be reached.
 */
export async function openImmudbLedger(config: ImmudbConfig): Promise<GroupCommitLedger> {
  const maxTxEntries = config.maxTxEntries ?? (config.database === 'defaultdb' ? 1024 : GATEWAY_DB_MAX_TX_ENTRIES);
  const session = new ImmudbSession({
    ...config,
    createDatabaseMaxTxEntries: maxTxEntries,
    createDatabaseSyncFrequencyMs: config.syncFrequencyMs,
    createDatabaseWriteTxHeaderVersion: config.writeTxHeaderVersion,
  });
  try {
    await session.connect().catch((e: unknown) => {
      throw asLedgerError(e, 'the login');
    });
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
