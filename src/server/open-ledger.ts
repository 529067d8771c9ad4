/** Opens the ledger the configuration asks for: immudb when IMMUDB_ADDRESS is set, else the embedded one in DATA_DIR. */
import type { AppLedger } from '../graphql/context.ts';
import { withBodyCache } from '../ledger/body-cache.ts';
import { openEmbeddedLedger } from '../ledger/embedded/index.ts';
import { openImmudbLedger } from '../ledger/immudb/index.ts';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

export async function openLedger(config: Config, logger?: Logger): Promise<AppLedger> {
  if (config.immudb) {
    // Bodies read from immudb are kept in a bounded cache (body-cache.ts; LEDGER_BODY_CACHE_MB).
    return withBodyCache(await openImmudbLedger({
      ...config.immudb,
      dataDir: config.dataDir,
      // Instances sharing Redis also share eventId claims, so idempotency holds across them.
      redisUrl: config.redisUrl,
      ...(logger ? { onClaimError: (m: string) => logger.warn(m) } : {}),
    }), { maxBytes: config.bodyCacheBytes });
  }
  return openEmbeddedLedger({ dataDir: config.dataDir, ...(logger ? { logger: { warn: (m: string) => logger.warn(m) } } : {}) });
}
