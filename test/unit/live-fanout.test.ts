/**
 * The live feed's fan-out index (src/live/fanout.ts) against brute force: for random filters and
 * random records, the groups an event meets are exactly the groups whose filter `matches` it (the
 * predicate of `auditEvents`), each once; and adding and removing members keeps the index equal
 * to a plain model of who is subscribed with which filter.
 */
import { describe, expect, it } from 'vitest';
import type { AuditEventRecord } from '../../src/events/types.ts';
import { matches, normalizeFilter, type AuditEventFilterInput, type NormalizedFilter } from '../../src/events/filter.ts';
import { filterKey, SubscriberIndex, type FilterGroup } from '../../src/live/fanout.ts';
import { makePools, randomEvent, randomFilter, type Pools } from '../support/index-model.ts';
import { prng } from './_random.ts';

type Group = FilterGroup<number>;

/** The groups met, in call order (a group met twice appears twice). */
function met(index: SubscriberIndex<number>, r: AuditEventRecord): Group[] {
  const out: Group[] = [];
  index.forEachMatch(r, (g) => void out.push(g));
  return out;
}

const keysOf = (groups: Group[]) => groups.map((g) => g.key).sort();

/** Filters as subscribers send them: random ones, the empty one, a time window only, resource ones. */
function someFilter(rand: () => number, pools: Pools, records: readonly AuditEventRecord[]): AuditEventFilterInput {
  const p = rand();
  if (p < 0.05) return {};
  if (p < 0.1) return { since: records[Math.floor(rand() * records.length)]!.timestamp };
  if (p < 0.15) return { resourceId: pools.resourceIds[Math.floor(rand() * 5)]!, outcome: ['FAILURE', 'SUCCESS'] };
  return randomFilter(rand, pools, records);
}

describe('SubscriberIndex (live fan-out)', () => {
  it('meets exactly the groups whose filter matches, each once: random filters × random records, 40 seeds', () => {
    let checked = 0;
    let matched = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rand = prng(seed);
      const pools = makePools(rand);
      const records = Array.from({ length: 150 }, () => randomEvent(rand, pools).record);
      const index = new SubscriberIndex<number>();
      const groups = new Map<string, { filter: NormalizedFilter; group: Group }>();
      const n = 20 + Math.floor(rand() * 180);
      for (let m = 0; m < n; m++) {
        // Every fourth member reuses an earlier filter: groups with several members.
        const reuse = m > 0 && rand() < 0.25 ? [...groups.values()][Math.floor(rand() * groups.size)]!.filter : null;
        const filter = reuse ?? normalizeFilter(someFilter(rand, pools, records));
        const group = index.add(m, filter);
        const known = groups.get(filterKey(filter));
        if (known) expect(group).toBe(known.group);
        else groups.set(filterKey(filter), { filter, group });
      }
      expect(index.groupCount()).toBe(groups.size);
      for (const r of records) {
        const got = met(index, r);
        const want = [...groups.values()].filter((g) => matches(r, g.filter)).map((g) => g.group);
        expect(keysOf(got), `seed ${seed}, event ${r.eventId}`).toEqual(keysOf(want));
        expect(new Set(got).size).toBe(got.length); // never twice
        checked++;
        matched += want.length;
      }
    }
    // The cases are not vacuous: many records, and matches as well as misses.
    expect(checked).toBe(40 * 150);
    expect(matched).toBeGreaterThan(checked);
  });

  it('an event meets a group anchored on one field only through that field; other terms and the window still decide', () => {
    const index = new SubscriberIndex<string>();
    const rand = prng(5);
    const pools = makePools(rand);
    const r = randomEvent(rand, pools).record;
    const other = r.outcome === 'SUCCESS' ? 'FAILURE' : 'SUCCESS';
    index.add('same-actor-other-outcome', normalizeFilter({ actorId: [r.actor.id], outcome: [other] }));
    index.add('same-actor', normalizeFilter({ actorId: [r.actor.id, 'someone-else'] }));
    index.add('later', normalizeFilter({ correlationId: r.correlationId, since: new Date(Date.parse(r.timestamp) + 1).toISOString() }));
    index.add('until-it', normalizeFilter({ until: r.timestamp }));
    index.add('from-it', normalizeFilter({ since: r.timestamp }));
    const names = met(index as unknown as SubscriberIndex<number>, r).flatMap((g) => [...g.members]);
    expect(names.sort()).toEqual(['from-it', 'same-actor']);
  });

  it('add/remove bookkeeping follows a model through random joins and leaves; empty groups disappear', () => {
    for (let seed = 100; seed < 110; seed++) {
      const rand = prng(seed);
      const pools = makePools(rand);
      const records = Array.from({ length: 60 }, () => randomEvent(rand, pools).record);
      const filters = Array.from({ length: 25 }, () => normalizeFilter(someFilter(rand, pools, records)));
      const index = new SubscriberIndex<number>();
      /** The model: member → its filter and the group it was given. */
      const model = new Map<number, { filter: NormalizedFilter; group: Group }>();
      let next = 0;
      const check = () => {
        expect(index.groupCount()).toBe(new Set([...model.values()].map((m) => filterKey(m.filter))).size);
        const liveKeys = new Map([...model.values()].map((m) => [filterKey(m.filter), m.filter]));
        for (const r of records.slice(0, 20)) {
          const groups = met(index, r);
          // Only live groups are met (none left over, none empty), and each matching one.
          expect(keysOf(groups)).toEqual(
            [...liveKeys]
              .filter(([, f]) => matches(r, f))
              .map(([k]) => k)
              .sort(),
          );
          expect(groups.every((g) => g.members.size > 0)).toBe(true);
          const got = new Set<number>();
          for (const g of groups) for (const m of g.members) got.add(m);
          const want = [...model].filter(([, m]) => matches(r, m.filter)).map(([id]) => id);
          expect([...got].sort((a, b) => a - b)).toEqual(want.sort((a, b) => a - b));
        }
      };
      for (let round = 0; round < 30; round++) {
        const joins = Math.floor(rand() * 12);
        for (let j = 0; j < joins; j++) {
          const filter = filters[Math.floor(rand() * filters.length)]!;
          const id = next++;
          model.set(id, { filter, group: index.add(id, filter) });
        }
        const leaves = Math.floor(rand() * 10);
        for (let l = 0; l < leaves && model.size > 0; l++) {
          const id = [...model.keys()][Math.floor(rand() * model.size)]!;
          index.remove(id, model.get(id)!.group);
          model.delete(id);
        }
        check();
      }
      for (const [id, m] of model) index.remove(id, m.group);
      model.clear();
      check();
      expect(index.groupCount()).toBe(0);
      for (const r of records) expect(met(index, r)).toEqual([]);
    }
  });

  it('removing twice, or through a group that was replaced, leaves the live group alone', () => {
    const index = new SubscriberIndex<string>();
    const filter = normalizeFilter({ eventType: ['a.b'] });
    const first = index.add('x', filter);
    index.remove('x', first);
    index.remove('x', first); // again: nothing to do
    const second = index.add('y', filter);
    expect(second).not.toBe(first);
    index.remove('x', first); // a stale group of the same filter
    expect(index.groupCount()).toBe(1);
    const rand = prng(9);
    const record = { ...randomEvent(rand, makePools(rand)).record, eventType: 'a.b' };
    expect(met(index as unknown as SubscriberIndex<number>, record).map((g) => [...g.members])).toEqual([['y']]);
  });
});
