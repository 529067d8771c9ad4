/** What the index benchmarks read from Redis' INFO: memory in use and the time spent in scripts. */
import type { Redis } from 'ioredis';

export const usedMemory = async (redis: Redis) => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);

/** Seconds Redis has spent in EVAL/EVALSHA (commandstats; 0 before the first), or null when INFO is refused. */
async function scriptSeconds(redis: Redis): Promise<number | null> {
  const stats = await redis.info('commandstats').catch(() => null);
  if (stats === null) return null;
  let usec = 0;
  for (const m of stats.matchAll(/^cmdstat_(?:eval|evalsha):calls=\d+,usec=(\d+)/gm)) usec += Number(m[1]);
  return usec / 1e6;
}

/** Script seconds spent during `work`: a difference, so no CONFIG RESETSTAT on a server that may be shared (where other clients' scripts count too). */
export async function scriptSecondsOf(redis: Redis, work: () => Promise<void>): Promise<number | null> {
  const before = await scriptSeconds(redis);
  await work();
  const after = await scriptSeconds(redis);
  return before === null || after === null ? null : after - before;
}
