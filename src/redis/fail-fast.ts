import type { Redis, RedisOptions } from 'ioredis';

/**
 * ioredis options for a client whose callers must learn at once that Redis is away (the index
 * answers INDEX_UNAVAILABLE, rate limits and eventId claims fail open, the live feed polls alone):
 * no offline queue and no per-request retries, so a command while disconnected rejects instead of
 * waiting; a second to connect; and reconnection that keeps trying with a backoff capped at one
 * second, so everything is back within about a second of Redis.
 */
export function failFastRedisOptions(connectionName: string, commandTimeoutMs: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1_000),
    connectionName,
  };
}

/** A connection problem is reported at most this often per client. */
const REPORT_EVERY_MS = 10_000;

/**
 * Hands a client's connection errors to `onError` as `redis (<label> connection): …`, at most one
 * per REPORT_EVERY_MS: ioredis reports every failed reconnect, and one line that often is enough to
 * know Redis is away. Listens even without `onError`, so an error never goes unhandled.
 */
export function reportConnectionErrors(client: Redis, label: string, onError?: (message: string, error: unknown) => void): void {
  let lastReport = 0;
  client.on('error', (e: unknown) => {
    if (Date.now() - lastReport < REPORT_EVERY_MS) return;
    lastReport = Date.now();
    onError?.(`redis (${label} connection): ${e instanceof Error ? e.message : String(e)}`, e);
  });
}

/** Connects the (lazy) clients; when Redis is down it returns anyway and they keep reconnecting. */
export async function connectOrKeepTrying(clients: readonly Redis[]): Promise<void> {
  await Promise.all(clients.map((c) => c.connect().catch(() => undefined)));
}
