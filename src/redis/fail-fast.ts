import type { RedisOptions } from 'ioredis';

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
