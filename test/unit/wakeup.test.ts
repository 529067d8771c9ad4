import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Wakeup } from '../../src/ledger/wakeup.ts';

describe('Wakeup', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** Settles `p` as far as the fake clock allows: 'pending' when it has not. */
  async function outcome<T>(p: Promise<T>): Promise<T | 'pending'> {
    return Promise.race([p, Promise.resolve().then(() => Promise.resolve('pending' as const))]);
  }

  /** `p` is still waiting 1 ms before `ms`, and then runs its time out. */
  async function runsOutAfter(p: Promise<boolean>, ms: number): Promise<void> {
    await vi.advanceTimersByTimeAsync(ms - 1);
    expect(await outcome(p)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(await p).toBe(true);
  }

  it('sleep runs its time out when nothing happens, and says so', async () => {
    await runsOutAfter(new Wakeup().sleep(1_000), 1_000);
  });

  it('a kick ends a sleep at once; a kick while busy ends the next sleep at once, only that one', async () => {
    const w = new Wakeup();
    const p = w.sleep(1_000);
    w.kick();
    expect(await p).toBe(false);
    w.kick();
    w.kick();
    expect(await w.sleep(1_000)).toBe(false);
    await runsOutAfter(w.sleep(1_000), 1_000);
  });

  it('a pause ignores kicks but keeps them for the next sleep', async () => {
    const w = new Wakeup();
    const p = w.pause(500);
    w.kick();
    await runsOutAfter(p, 500);
    expect(await w.sleep(1_000)).toBe(false); // the kick seen during the pause
  });

  it('close ends the current sleep or pause and every later one at once', async () => {
    const w = new Wakeup();
    const p = w.pause(10_000);
    w.close();
    expect(await p).toBe(false);
    const s = new Wakeup();
    const q = s.sleep(10_000);
    s.close();
    expect(await q).toBe(false);
    expect(await s.sleep(10_000)).toBe(false);
    expect(await s.pause(10_000)).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});
