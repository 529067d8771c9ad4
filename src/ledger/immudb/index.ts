import { GroupCommitLedger } from '../group-commit.ts';
import { TrustedStateStore } from '../trusted-state.ts';
import { ImmudbSession } from './grpc.ts';
import { ImmudbLedger } from './immudb-ledger.ts';

export interface ImmudbConfig {
  address: string;
  user: string;
  password: string;
  database: string;
  /** Where the trusted state is kept. */
  dataDir: string;
  /** maxTxEntries of the database (immudb's default 1024; databases the gateway creates get 4096). */
  maxTxEntries?: number;
  callTimeoutMs?: number;
}

/** Connects (creating the database when missing) and returns the group-committing ledger. */
export async function openImmudbLedger(config: ImmudbConfig): Promise<GroupCommitLedger> {
  const maxTxEntries = config.maxTxEntries ?? (config.database === 'defaultdb' ? 1024 : 4096);
  const session = new ImmudbSession({ ...config, createDatabaseMaxTxEntries: maxTxEntries });
  try {
    await session.connect();
    const trusted = await TrustedStateStore.open(config.dataDir, 'immudb', config.database);
    return new GroupCommitLedger(new ImmudbLedger({ session, database: config.database, trusted, maxTxEntries }));
  } catch (e) {
    session.close();
    throw e;
  }
}
