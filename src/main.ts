/**
 * Process entry point (`npm start`): configuration from the environment, the ledger, the HTTP
 * server; on SIGTERM/SIGINT a graceful stop — no new requests, in-flight ones (and their ledger
 * writes) finish, then the ledger is closed. A second signal exits at once.
 */
import { openEventIndex } from './index/index.ts';
import { loadRateLimits, MemoryRateLimiter, rateLimitsEnabled, RedisRateLimiter } from './auth/rate-limit.ts';
import { loadTokenStore } from './auth/tokens.ts';
import { createCheckpointSigner, defaultCheckpointOrigin } from './checkpoint/checkpoint.ts';
import { loadCheckpointKey } from './checkpoint/key-file.ts';
import { openLive } from './live/index.ts';
import { ConfigError } from './errors.ts';
import { createLogger } from './logger.ts';
import { loadConfig } from './server/config.ts';
import { createApp } from './server/app.ts';
import { openLedger } from './server/open-ledger.ts';

async function main(): Promise<void> {
  // Every loader runs, so one start names every wrong variable, not just the first loader's.
  const problems: string[] = [];
  const load = <T>(loader: () => T): T | undefined => {
    try {
      return loader();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
      return undefined;
    }
  };
  const config = load(loadConfig);
  const auth = load(loadTokenStore);
  const limits = load(loadRateLimits);
  // A key named by CHECKPOINT_KEY_FILE is only read, so it is checked with the rest; DATA_DIR's may be
  // generated, so only once the ledger has opened (a refused start writes nothing).
  const namedKey = config?.checkpointKeyFile ? load(() => loadCheckpointKey({ file: config.checkpointKeyFile, dataDir: config.dataDir })) : null;
  if (!config || !auth || !limits || namedKey === undefined) {
    process.stderr.write(`auditgraph: ${new ConfigError(problems).message}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.logLevel });

  // immudb refusing the configuration (an unsupported version, the login, the database) is a
  // configuration error too: the same message format and exit code, no stack trace.
  const ledger = await openLedger(config, logger).catch((e: unknown) => {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`auditgraph: ${e.message}\n`);
    process.exit(2);
  });
  logger.info(`ledger: ${ledger.kind} (database ${ledger.database})`);
  let checkpointKey = namedKey;
  try {
    checkpointKey ??= loadCheckpointKey({ file: null, dataDir: config.dataDir });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`auditgraph: ${e.message}\n`);
    process.exit(2);
  }
  const checkpoints = createCheckpointSigner(checkpointKey.key, config.checkpointOrigin ?? defaultCheckpointOrigin(ledger.database));
  logger.info(
    `checkpoints: signed with ${checkpointKey.generated ? 'a new key generated into' : 'the key in'} ${checkpointKey.file}; verifier key ${checkpoints.verifierKey}`,
  );
  // The index never blocks start-up: with Redis down the indexer retries until it answers.
  const indexing = await openEventIndex({ ledger, redisUrl: config.redisUrl, logger, indexer: { bulkMaxEvents: config.indexBulkMaxEvents } });
  indexing.indexer.start();
  logger.info(`index: ${indexing.index.kind}`);
  const live = await openLive({ ledger, redisUrl: config.redisUrl, logger });
  live.feed.start();
  logger.info(`live subscriptions: ${live.signal.kind} signal`);
  // Both followers hear of every append at once (a listener on the ledger's group commit).
  ledger.onAppended((results) => {
    indexing.indexer.kick();
    live.feed.appended(results);
  });
  const rateLimiter = !rateLimitsEnabled(limits)
    ? undefined
    : config.redisUrl
      ? new RedisRateLimiter(config.redisUrl, limits, { onError: (m) => logger.warn(m) })
      : new MemoryRateLimiter(limits);
  if (rateLimiter) logger.info(`rate limits (${rateLimiter.kind}): writes ${JSON.stringify(limits.writes)}, cost ${JSON.stringify(limits.cost)} per principal`);
  const app = createApp({
    ledger,
    index: indexing.index,
    indexLag: () => indexing.indexer.lag(),
    live: live.feed,
    auth,
    checkpoints,
    ...(rateLimiter ? { rateLimiter } : {}),
    config,
    logger,
  });
  const { url } = await app.listen();
  logger.info(`listening on ${url} (${config.graphiql ? 'GraphiQL in a browser; ' : ''}/checkpoint, /healthz, /readyz, /metrics)`);
  if (!config.graphiql || !config.introspection)
    logger.info(`GraphiQL ${config.graphiql ? 'on' : 'off'}, introspection ${config.introspection ? 'on' : 'off'}`);
  if (auth.enabled) {
    logger.info(`authentication: ${auth.names.length} token(s) (${auth.names.join(', ')})`);
  } else {
    logger.warn(
      '!!! AUTHENTICATION IS NOT CONFIGURED: anyone who can reach this port can read and write audit events. ' +
        `Bind HOST to a private address (now ${config.host}) or set AUTH_TOKENS_FILE / AUTH_TOKENS. !!!`,
    );
  }

  let stopping = false;
  let stoppingSince = 0;
  const stop = async (signal: NodeJS.Signals) => {
    // Ctrl-C under `npm start` delivers SIGINT twice within milliseconds (the terminal's and the
    // copy npm forwards): only a repeat after a pause means "exit now".
    if (stopping && Date.now() - stoppingSince < 1_000) return;
    if (stopping) {
      logger.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    stoppingSince = Date.now();
    logger.info(`${signal}: shutting down (finishing in-flight requests)`);
    try {
      await app.close();
      await rateLimiter?.close();
      await live.close();
      await indexing.close();
      await ledger.close();
      logger.info('stopped');
      process.exitCode = 0;
    } catch (e) {
      logger.error('error during shutdown', e);
      process.exitCode = 1;
    }
  };
  process.on('SIGTERM', (s) => void stop(s));
  process.on('SIGINT', (s) => void stop(s));
}

main().catch((e: unknown) => {
  createLogger().error('start-up failed', e);
  process.exit(1);
});
