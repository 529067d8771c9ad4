/**
 * The live contract: every LiveSignal (in process, Redis), run through real LiveFeeds that follow
 * a real ledger, must pass it unchanged. Several "instances" (feeds) share one ledger and one
 * signal channel, as gateways do; what each delivers is compared with the ledger itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/events/types.ts';
import { validateEventInput } from '../../src/events/validate.ts';
import { matches, normalizeFilter, type AuditEventFilterInput } from '../../src/events/filter.ts';
import type { AppendResult, Ledger, StoredEvent } from '../../src/ledger/port.ts';
import type { LiveFeed, LiveFeedOptions, LiveItem, LiveSubscription } from '../../src/live/index.ts';
import { prng } from '../unit/_random.ts';
import { makePools, randomEvent, randomFilter, randomNewFieldsFilter } from '../support/index-model.ts';

export interface LiveInstance {
  feed: LiveFeed;
  /** Appends through this instance's write path (which wakes its feed and signals the others). */
  append(events: NewEvent[]): Promise<AppendResult[]>;
  close(): Promise<void>;
}

export interface LiveFixture {
  /** The ledger every instance follows (for reading what was committed). */
  ledger: Ledger;
  /** A new instance: its own feed (started) on the shared ledger and signal channel. */
  instance(options?: Omit<LiveFeedOptions, 'logger'>): Promise<LiveInstance>;
  /** Signals published while `during` runs are lost (Redis restarted; in process: dropped). */
  loseSignals(during: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Pulls a subscription in the background, as a socket would. */
export function consume(sub: LiveSubscription, options: { stopAfter?: number } = {}) {
  const items: LiveItem[] = [];
  const at: number[] = [];
  let completed = false;
  let stopped = false;
  const done = (async () => {
    for (;;) {
      if (stopped || (options.stopAfter !== undefined && items.length >= options.stopAfter)) return;
      const r = await sub.next();
      if (r.done) {
        completed = true;
        return;
      }
      items.push(r.value);
      at.push(performance.now());
    }
  })();
  const events = () => items.flatMap((i) => (i.kind === 'event' ? [i.event] : []));
  return {
    sub,
    items,
    at,
    events,
    get completed() {
      return completed;
    },
    async waitFor(pred: (events: StoredEvent[]) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!pred(events())) {
        if (completed) throw new Error(`subscription completed while waiting for ${what} (${events().length} events)`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${events().length} events so far`);
        await sleep(10);
      }
    },
    async stop() {
      stopped = true;
      await sub.return();
      await done;
    },
    done,
  };
}

let serial = 0;
export function liveEvent(overrides: Record<string, unknown> = {}): NewEvent {
  serial++;
  return validateEventInput({
    eventType: 'live.test.happened',
    eventCategory: 'live',
    outcome: 'SUCCESS',
    correlationId: `live-${serial % 7}`,
    actorType: 'service',
    actorId: 'live-writer',
    timestamp: new Date(Date.UTC(2025, 5, 1) + serial).toISOString(),
    ...overrides,
  });
}

/** Every committed event after `afterTxId`, in commit order, as the ledger lists it. */
export async function committedAfter(ledger: Ledger, afterTxId: string): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  let after = afterTxId;
  for (;;) {
    const txs = await ledger.readTransactions(after, 500);
    const last = txs[txs.length - 1];
    if (!last) return out;
    for (const tx of txs) out.push(...tx.events);
    after = last.txId;
  }
}

const ids = (events: readonly StoredEvent[]) => events.map((e) => e.record.eventId);

/** Until the feed has a subscriber (a subscription without afterTxId joins asynchronously), at most ~1 s. */
async function untilSubscribed(feed: LiveFeed): Promise<void> {
  for (let i = 0; feed.stats.subscribers === 0 && i < 200; i++) await sleep(5);
}
const expectedFor = (all: readonly StoredEvent[], filter: AuditEventFilterInput) => {
  const n = normalizeFilter(filter);
  return ids(all.filter((e) => matches(e.record, n)));
};

export function liveContract(name: string, open: () => Promise<LiveFixture>) {
  describe(`live contract: ${name}`, () => {
    let fx: LiveFixture;
    let a: LiveInstance;
    beforeAll(async () => {
      fx = await open();
      a = await fx.instance();
      await a.feed.ready();
    }, 60_000);
    afterAll(async () => {
      await a?.close();
      await fx?.close();
    });

    it('delivers exactly the matching events of random filters, in commit order (txId, then position in the tx)', async () => {
      const rand = prng(501);
      const pools = makePools(rand);
      const head = await fx.ledger.lastTxId();
      const filters: AuditEventFilterInput[] = [
        {},
        { eventType: ['workflow.step.failed', 'auth.login'] },
        { outcome: ['FAILURE'], actorType: ['service', 'bot'] },
      ];
      while (filters.length < 25) filters.push(randomFilter(rand, pools, []));
      const subs = filters.map((f) => consume(a.feed.subscribe(normalizeFilter(f), BigInt(head))));
      let written = 0;
      while (written < 600) {
        const n = rand() < 0.5 ? 1 : 1 + Math.floor(rand() * 40);
        await a.append(Array.from({ length: n }, () => randomEvent(rand, pools)));
        written += n;
      }
      const all = await committedAfter(fx.ledger, head);
      expect(all).toHaveLength(written);
      // A hand-written predicate too, so the check does not rest on `matches` alone.
      expect(expectedFor(all, filters[2]!)).toEqual(ids(all.filter((e) => e.record.outcome === 'FAILURE' && ['service', 'bot'].includes(e.record.actor.type))));
      for (const [i, f] of filters.entries()) {
        const want = expectedFor(all, f);
        await subs[i]!.waitFor((got) => got.length >= want.length, `filter ${JSON.stringify(f)}`);
      }
      await sleep(300); // nothing more may arrive
      for (const [i, f] of filters.entries()) expect(ids(subs[i]!.events()), JSON.stringify(f)).toEqual(expectedFor(all, f));
      const txOrder = subs[0]!.events().map((e) => BigInt(e.txId));
      expect(txOrder.every((t, i) => i === 0 || t >= txOrder[i - 1]!)).toBe(true);
      await Promise.all(subs.map((s) => s.stop()));
      expect(a.feed.stats.subscribers).toBe(0);
    }, 120_000);

    it('filters on severity, eventAction, resourceNamespace, clusterName, recordedBy, parentEventId and correlationIds deliver exactly the matching events written meanwhile', async () => {
      const rand = prng(502);
      const pools = makePools(rand);
      const head = await fx.ledger.lastTxId();
      const filters: AuditEventFilterInput[] = [
        { severity: ['CRITICAL', 'ERROR'] },
        { recordedBy: ['gateway'], outcome: ['FAILURE'] },
        { parentEventId: pools.parentIds[0]!.toUpperCase() },
        { correlationId: pools.correlationIds[1]!, correlationIds: pools.correlationIds.slice(0, 3) },
        { correlationId: pools.correlationIds[5]!, correlationIds: pools.correlationIds.slice(0, 3) },
      ];
      while (filters.length < 20) {
        const f = randomNewFieldsFilter(rand, pools, 0.35);
        if (Object.keys(f).length > 0) filters.push(filters.length % 2 ? f : { ...randomFilter(rand, pools, []), ...f });
      }
      const subs = filters.map((f) => consume(a.feed.subscribe(normalizeFilter(f), BigInt(head))));
      let written = 0;
      while (written < 2_000) {
        const n = 1 + Math.floor(rand() * 80);
        await a.append(Array.from({ length: n }, () => randomEvent(rand, pools)));
        written += n;
      }
      const all = await committedAfter(fx.ledger, head);
      expect(all).toHaveLength(written);
      // Hand-written predicates too, so the check does not rest on `matches` alone.
      expect(expectedFor(all, filters[0]!)).toEqual(ids(all.filter((e) => e.record.severity === 'CRITICAL' || e.record.severity === 'ERROR')));
      expect(expectedFor(all, filters[2]!)).toEqual(ids(all.filter((e) => e.record.parentEventId === pools.parentIds[0])));
      expect(expectedFor(all, filters[3]!)).toEqual(ids(all.filter((e) => e.record.correlationId === pools.correlationIds[1])));
      expect(expectedFor(all, filters[4]!)).toEqual([]);
      expect(filters.filter((f) => expectedFor(all, f).length > 0).length).toBeGreaterThan(12);
      for (const [i, f] of filters.entries()) {
        const want = expectedFor(all, f);
        await subs[i]!.waitFor((got) => got.length >= want.length, `filter ${JSON.stringify(f)}`);
      }
      await sleep(300); // nothing more may arrive
      for (const [i, f] of filters.entries()) expect(ids(subs[i]!.events()), JSON.stringify(f)).toEqual(expectedFor(all, f));
      await Promise.all(subs.map((s) => s.stop()));
    }, 120_000);

    it('an instance delivers what another one wrote, each event once, woken by the signal (no poll)', async () => {
      const b = await fx.instance({ pollMs: 600_000 });
      try {
        await b.feed.ready();
        const head = await fx.ledger.lastTxId();
        const sub = consume(b.feed.subscribe(normalizeFilter({ eventCategory: ['cross'] }), BigInt(head)));
        const committedAt = new Map<string, number>();
        for (let i = 0; i < 40; i++) {
          const batch = Array.from({ length: 1 + (i % 3) }, () => liveEvent({ eventCategory: 'cross' }));
          const results = await a.append(batch);
          const t = performance.now();
          for (const r of results) committedAt.set(r.event.record.eventId, t);
          if (i % 10 === 9) await sleep(50);
        }
        await sub.waitFor((got) => got.length >= committedAt.size, 'every event on the other instance');
        await sleep(200);
        const got = ids(sub.events());
        expect(new Set(got).size).toBe(got.length);
        expect(got.sort()).toEqual([...committedAt.keys()].sort());
        // Woken by the signal: well within the (disabled) poll, and within a second.
        const lat = sub.events().map((e, i) => sub.at[i]! - committedAt.get(e.record.eventId)!);
        expect(Math.max(...lat)).toBeLessThan(1_000);
        await sub.stop();
      } finally {
        await b.close();
      }
    }, 60_000);

    it('afterTxId replays what was missed, then goes live: no gap, no duplicate, while writes go on', async () => {
      // Replay pages of one tx on B: every replay joins the feed exactly where it catches up.
      const b = await fx.instance({ replayTxs: 1 });
      try {
        await b.feed.ready();
        const f = { correlationId: 'replay-me' };
        const start = await fx.ledger.lastTxId();
        for (let i = 0; i < 30; i++) await a.append(Array.from({ length: 1 + (i % 4) }, (_, j) => liveEvent({ correlationId: j % 2 ? 'replay-me' : 'other' })));
        const mid = (await committedAfter(fx.ledger, start))[20]!.txId;
        let writing = true;
        const writer = (async () => {
          while (writing) {
            await a.append([liveEvent({ correlationId: 'replay-me' }), liveEvent({ correlationId: 'other' })]);
            await sleep(2);
          }
        })();
        // Subscriptions start at different points while the feeds move on.
        const subs: { after: string; c: ReturnType<typeof consume> }[] = [];
        for (let i = 0; i < 12; i++) {
          const feed = i % 2 ? b.feed : a.feed;
          for (const after of [start, mid, '0']) subs.push({ after, c: consume(feed.subscribe(normalizeFilter(f), BigInt(after))) });
          await sleep(40);
        }
        writing = false;
        await writer;
        await a.append([liveEvent({ correlationId: 'replay-me' })]);
        const all = await committedAfter(fx.ledger, '0');
        for (const { after, c } of subs) {
          const want = expectedFor(
            all.filter((e) => BigInt(e.txId) > BigInt(after)),
            f,
          );
          await c.waitFor((got) => got.length >= want.length, `replay after ${after}`);
        }
        await sleep(100);
        for (const { after, c } of subs) {
          const want = expectedFor(
            all.filter((e) => BigInt(e.txId) > BigInt(after)),
            f,
          );
          expect(ids(c.events()), `after ${after}`).toEqual(want);
        }
        expect(a.feed.stats.replaying + b.feed.stats.replaying).toBe(0);
        await Promise.all(subs.map((s) => s.c.stop()));
      } finally {
        await b.close();
      }
    }, 60_000);

    it('resumes inside a tx from (txId, eventId) of the last event received; the txId alone resumes after the whole tx', async () => {
      const filter = normalizeFilter({ eventCategory: ['mid-tx'] });
      const head = await fx.ledger.lastTxId();
      const first = consume(a.feed.subscribe(filter, BigInt(head)), { stopAfter: 3 });
      await a.append(Array.from({ length: 7 }, () => liveEvent({ eventCategory: 'mid-tx' })));
      await a.append(Array.from({ length: 5 }, () => liveEvent({ eventCategory: 'mid-tx' })));
      await first.done; // "disconnected" after 3 of the first tx's 7 events
      await first.sub.return();
      const all = expectedFor(await committedAfter(fx.ledger, head), { eventCategory: ['mid-tx'] });
      const got = first.events();
      expect(ids(got)).toEqual(all.slice(0, 3));
      const last = got[2]!;

      const exact = consume(a.feed.subscribe(filter, BigInt(last.txId), last.record.eventId));
      await exact.waitFor((e) => e.length >= 9, 'the rest of the tx and the next one');
      await sleep(100);
      expect([...ids(got), ...ids(exact.events())]).toEqual(all);
      await exact.stop();

      const txOnly = consume(a.feed.subscribe(filter, BigInt(last.txId)));
      await txOnly.waitFor((e) => e.length >= 5, 'the next tx');
      await sleep(100);
      expect(ids(txOnly.events())).toEqual(all.slice(7));
      await txOnly.stop();

      // An eventId that is not in that tx: the subscription ends with BAD_USER_INPUT.
      const wrong = consume(a.feed.subscribe(filter, BigInt(last.txId), '00000000-0000-4000-8000-000000000000'));
      await wrong.done;
      expect(wrong.items).toHaveLength(1);
      expect(wrong.items[0]).toMatchObject({ kind: 'end', error: { code: 'BAD_USER_INPUT' } });
    });

    it('without afterTxId: events committed from the moment it joined', async () => {
      await a.append([liveEvent({ correlationId: 'from-now' })]);
      await sleep(50);
      const sub = consume(a.feed.subscribe(normalizeFilter({ correlationId: 'from-now' })));
      await untilSubscribed(a.feed);
      await sleep(200); // the earlier event, if the feed had not read it yet, is read by now
      const before = sub.events().length;
      const [r] = await a.append([liveEvent({ correlationId: 'from-now' })]);
      await sub.waitFor((got) => got.some((e) => e.record.eventId === r!.event.record.eventId), 'the new event');
      expect(before).toBe(0);
      expect(sub.events()).toHaveLength(1);
      await sub.stop();
    });

    it('a consumer that stops pulling ends with SUBSCRIPTION_OVERFLOW and resumes from its afterTxId; the others do not wait', async () => {
      const b = await fx.instance({ queueLimit: 50 });
      try {
        await b.feed.ready();
        const filter = normalizeFilter({ eventCategory: ['overflow'] });
        const head = await fx.ledger.lastTxId();
        const slow = consume(b.feed.subscribe(filter, BigInt(head)), { stopAfter: 3 });
        const fast = consume(b.feed.subscribe(filter, BigInt(head)));
        for (let i = 0; i < 40; i++) await a.append(Array.from({ length: 7 }, () => liveEvent({ eventCategory: 'overflow' })));
        const all = expectedFor(await committedAfter(fx.ledger, head), { eventCategory: ['overflow'] });
        await fast.waitFor((got) => got.length >= all.length, 'the fast consumer');
        expect(ids(fast.events())).toEqual(all);
        await slow.done;
        expect(b.feed.stats.overflows).toBe(1);
        expect(b.feed.stats.subscribers).toBe(1); // the slow one let go of its queue

        // Pull the rest: what was queued (whole txs), then the error, then completion.
        const rest = consume(slow.sub);
        await rest.done;
        const items = [...slow.items, ...rest.items];
        const last = items[items.length - 1]!;
        expect(last.kind).toBe('end');
        const error = (last as unknown as { error: { code: string; details: { afterTxId: string } } }).error;
        expect(error.code).toBe('SUBSCRIPTION_OVERFLOW');
        const received = items.flatMap((i) => (i.kind === 'event' ? [i.event] : []));
        expect(received.length).toBeLessThanOrEqual(50 + 7);
        // The last tx received is complete, so both resume points give exactly the rest.
        for (const after of [error.details.afterTxId, received[received.length - 1]!.txId]) {
          expect(BigInt(after)).toBeGreaterThanOrEqual(BigInt(received[received.length - 1]!.txId));
          const resumed = consume(b.feed.subscribe(filter, BigInt(after)));
          await resumed.waitFor((got) => received.length + got.length >= all.length, `resume after ${after}`);
          await sleep(100);
          expect([...ids(received), ...ids(resumed.events())]).toEqual(all);
          await resumed.stop();
        }
        await fast.stop();
      } finally {
        await b.close();
      }
    }, 60_000);

    it('delivers a tx bigger than the queue limit whole to a consumer that keeps up', async () => {
      const b = await fx.instance({ queueLimit: 20 });
      try {
        await b.feed.ready();
        const sub = consume(b.feed.subscribe(normalizeFilter({ eventCategory: ['big-tx'] })));
        await untilSubscribed(b.feed);
        await a.append(Array.from({ length: 120 }, () => liveEvent({ eventCategory: 'big-tx' })));
        await sub.waitFor((got) => got.length >= 120, 'the whole tx');
        expect(b.feed.stats.overflows).toBe(0);
        await sub.stop();
      } finally {
        await b.close();
      }
    });

    it('hands one read of many txs, more events than a queue takes, whole to a consumer that keeps up', async () => {
      // Reads spaced by 400 ms: the txs written right after one read all come in the next one.
      const b = await fx.instance({ queueLimit: 20, readIntervalMs: 400 });
      try {
        await b.feed.ready();
        const sub = consume(b.feed.subscribe(normalizeFilter({ eventCategory: ['many-txs'] })));
        await untilSubscribed(b.feed);
        const written: string[] = [];
        for (let i = 0; i < 11; i++) {
          const r = await a.append(Array.from({ length: 7 }, () => liveEvent({ eventCategory: 'many-txs' })));
          written.push(...r.map((x) => x.event.record.eventId));
        }
        await sub.waitFor((got) => got.length >= written.length, 'every event');
        expect(ids(sub.events())).toEqual(written);
        expect(b.feed.stats.overflows).toBe(0);
        await sub.stop();
      } finally {
        await b.close();
      }
    });

    it('loses no event when the signals of the end of a burst are lost: every event once, on every instance', async () => {
      const b = await fx.instance();
      try {
        await b.feed.ready();
        const head = await fx.ledger.lastTxId();
        const filter = normalizeFilter({ eventCategory: ['burst'] });
        const onB = consume(b.feed.subscribe(filter, BigInt(head)));
        const onA = consume(a.feed.subscribe(filter, BigInt(head)));
        let writing = true;
        let written = 0;
        const writer = (async () => {
          while (writing) {
            await a.append(Array.from({ length: 3 }, () => liveEvent({ eventCategory: 'burst' })));
            written += 3;
            await sleep(5);
          }
        })();
        await sleep(300);
        // The burst ends while signals are lost: no later signal wakes B, so what repairs the gap
        // is the feed itself (a reconnect, or the poll), reading from its last tx.
        await fx.loseSignals(async () => {
          await sleep(500);
          writing = false;
          await writer;
          await sleep(100);
        });
        const all = expectedFor(await committedAfter(fx.ledger, head), { eventCategory: ['burst'] });
        expect(all).toHaveLength(written);
        for (const sub of [onA, onB]) {
          await sub.waitFor((got) => got.length >= all.length, 'every burst event', 10_000);
          await sleep(100);
          expect(ids(sub.events())).toEqual(all);
          await sub.stop();
        }
      } finally {
        await b.close();
      }
    }, 60_000);

    it('return() ends a waiting subscription at once; stop() completes the rest', async () => {
      const b = await fx.instance();
      await b.feed.ready();
      const sub = b.feed.subscribe(normalizeFilter({ eventType: ['never.happens'] }));
      const pending = sub.next();
      await untilSubscribed(b.feed);
      expect(b.feed.stats.subscribers).toBe(1);
      await sub.return();
      await expect(pending).resolves.toEqual({ value: undefined, done: true });
      expect(b.feed.stats.subscribers).toBe(0);

      const other = b.feed.subscribe(normalizeFilter({}));
      const waiting = other.next();
      await untilSubscribed(b.feed);
      await b.close();
      await expect(waiting).resolves.toMatchObject({ done: true });
    });
  });
}
