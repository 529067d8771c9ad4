/**
 * The event mix of the index benchmarks (bench/index.ts, bench/index-apply.ts): 50 event types and
 * 10,000 actors with skewed (Zipf-like) popularity, 90/8/2 % SUCCESS/FAILURE/PENDING, timestamps
 * uniform over the 30 days before `now`, 50,000 correlations; the optional fields as a platform
 * sends them (severity 70/20/8/2 %, 8 clusters, 6 actions, 20 namespaces, a parent in 30 % of
 * events). Seeded, so every run writes the same events.
 */
import type { NewEvent } from '../src/events/types.ts';
import { validateEventInput } from '../src/events/validate.ts';
export { prng } from '../test/unit/_random.ts';

export const DAY = 24 * 3600_000;

/** Rank r in [0, n) with P(r) ∝ 1/(r+1) (approximately), by inverse transform. */
const zipf = (rand: () => number, n: number) => Math.min(n - 1, Math.floor(Math.exp(rand() * Math.log(n + 1)) - 1));

export const EVENT_TYPES = Array.from({ length: 50 }, (_, i) => `svc${i % 7}.thing${i}.happened`);
export const ACTORS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

const ACTIONS = ['create', 'update', 'delete', 'restart', 'scale', 'evaluate'];

/** A UUID from the seeded generator (a parent event's id). */
function uuidOf(rand: () => number): string {
  const h = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16)).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20)}`;
}

export function indexBenchEvent(rand: () => number, now: number): NewEvent {
  const r = rand();
  const s = rand();
  return validateEventInput({
    eventType: EVENT_TYPES[zipf(rand, EVENT_TYPES.length)]!,
    eventCategory: `svc${Math.floor(rand() * 7)}`,
    outcome: r < 0.9 ? 'SUCCESS' : r < 0.98 ? 'FAILURE' : 'PENDING',
    timestamp: new Date(now - Math.floor(rand() * 30 * DAY)).toISOString(),
    correlationId: `rr-${Math.floor(rand() * 50_000)}`,
    actorType: rand() < 0.8 ? 'user' : 'service',
    actorId: ACTORS[zipf(rand, ACTORS.length)]!,
    resourceType: 'pod',
    resourceId: `pod-${Math.floor(rand() * 20_000)}`,
    data: { n: Math.floor(rand() * 1e6), note: 'benchmark payload' },
    severity: s < 0.7 ? 'INFO' : s < 0.9 ? 'WARNING' : s < 0.98 ? 'ERROR' : 'CRITICAL',
    clusterName: `cluster-${Math.floor(rand() * 8)}`,
    eventAction: ACTIONS[Math.floor(rand() * ACTIONS.length)]!,
    resourceNamespace: `ns-${Math.floor(rand() * 20)}`,
    parentEventId: rand() < 0.3 ? uuidOf(rand) : null,
  });
}
