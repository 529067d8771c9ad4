/**
 * The subscription mix and the written events of bench/live.ts, shared with its subscriber process.
 *
 * Events: 20 event types and 5 categories (uniform), 200 correlations, 1,000 actors, outcomes
 * 90/8/2 % SUCCESS/FAILURE/PENDING. Subscriptions, by i mod 100:
 *   2 %  no filter                                   200 events/s each at 200 writes/s
 *   30 % one eventType                               10/s
 *   30 % one correlationId                           1/s
 *   20 % outcome FAILURE|PENDING and one category    4/s
 *   18 % three actorIds                              0.6/s
 * About 8,200 deliveries/s per 1,000 subscribers at 200 writes/s.
 */
export interface BenchFilter {
  eventType?: string[];
  correlationId?: string;
  outcome?: string[];
  eventCategory?: string[];
  actorId?: string[];
}

export const TYPES = Array.from({ length: 20 }, (_, i) => `svc${i % 5}.step${i}.done`);
export const CATEGORIES = Array.from({ length: 5 }, (_, i) => `svc${i}`);
export const correlation = (k: number) => `rr-live-${k % 200}`;
export const actor = (k: number) => `user-${k % 1000}`;

export function filterFor(i: number): BenchFilter {
  const r = i % 100;
  const k = Math.floor(i / 100) * 37 + r;
  if (r < 2) return {};
  if (r < 32) return { eventType: [TYPES[k % TYPES.length]!] };
  if (r < 62) return { correlationId: correlation(k * 13) };
  if (r < 82) return { outcome: ['FAILURE', 'PENDING'], eventCategory: [CATEGORIES[k % CATEGORIES.length]!] };
  return { actorId: [actor(k * 3), actor(k * 3 + 1), actor(k * 3 + 2)] };
}

/** Event k of the writer (deterministic). */
export function eventFor(k: number) {
  const h = Math.imul(k + 1, 2654435761) >>> 0;
  const o = h % 50;
  return {
    eventType: TYPES[h % TYPES.length]!,
    eventCategory: CATEGORIES[(h >>> 8) % CATEGORIES.length]!,
    outcome: o < 45 ? 'SUCCESS' : o < 49 ? 'FAILURE' : 'PENDING',
    correlationId: correlation(h >>> 4),
    actorType: 'user',
    actorId: actor(h >>> 12),
    resourceType: 'pod',
    resourceId: `pod-${k}`,
    data: { step: k, note: 'benchmark payload of a typical size' },
  };
}
