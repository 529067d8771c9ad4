/** Opens the ledger the configuration asks for: immudb when IMMUDB_ADDRESS is set, else the embedded one in DATA_DIR. */
import { withBodyCache } from '../ledger/body-cache.ts';
import { openEmbeddedLedger } from '../ledger/embedded/index.ts';
import { ImmudbSetupRefused, openImmudbLedger, type ImmudbSetting } from '../ledger/immudb/index.ts';
import type { Ledger } from '../ledger/port.ts';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Config } from './config.ts';

/** The variables behind what immudb refused, as the configuration error names them. */
const REFUSED: Record<ImmudbSetting, string> = {
  server: 'IMMUDB_ADDRESS points at an unsupported server',
  login: 'IMMUDB_USER / IMMUDB_PASSWORD were refused',
  database: 'IMMUDB_DATABASE was refused',
};

/**
 * Throws ConfigError when immudb refuses the configuration (its version, the login, the database):
 * that stops start-up like a wrong variable (exit code 2). An unreachable immudb stays
 * LEDGER_UNAVAILABLE.
 */
export async function openLedger(config: Config, logger?: Logger): Promise<Ledger> {
  if (config.immudb) {
    let ledger: Ledger;
    try {
      ledger = await openImmudbLedger({
        ...config.immudb,
        dataDir: config.dataDir,
        // Instances sharing Redis also share eventId claims (idempotency across them rests on immudb's
        // KeyMustNotExist; a claim spares the tx immudb would refuse).
        redisUrl: config.redisUrl,
        ...(logger ? { onClaimError: (m: string) => logger.warn(m) } : {}),
      });
    } catch (e) {
      if (e instanceof ImmudbSetupRefused) throw new ConfigError([`${REFUSED[e.setting]}: ${e.message}`]);
      throw e;
    }
    // Bodies read from immudb are kept in a bounded cache (body-cache.ts; LEDGER_BODY_CACHE_MB).
    return withBodyCache(ledger, { maxBytes: config.bodyCacheBytes });
  }
  return openEmbeddedLedger({ dataDir: config.dataDir, ...(logger ? { logger } : {}) });
}
