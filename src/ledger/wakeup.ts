/**
 * The idle wait of a loop that follows the ledger (the indexer, the live feed).
 *
 * `sleep` is the poll: a kick ends it early, and a kick that came while the loop was busy ends the
 * next one at once, so new txs are never left waiting for the poll. `pause` (a backoff, the pacing
 * between reads) only ends early on close, and keeps the kicks it sees for the next sleep: a burst
 * of kicks must not turn a backoff into a busy retry. `close` ends the current wait and every later
 * one at once.
 */
export class Wakeup {
  private wake: (() => void) | null = null;
  private kicked = false;
  private closed_ = false;

  /** New work: end the current sleep now, or the next one as soon as it starts. */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** close() was called: the loop is stopping. */
  get closed(): boolean {
    return this.closed_;
  }

  close(): void {
    this.closed_ = true;
    this.wake?.();
  }

  /** Waits up to `ms`, less on a kick or close. True when the whole time ran out. */
  sleep(ms: number): Promise<boolean> {
    if (this.closed_) return Promise.resolve(false);
    if (this.kicked) {
      this.kicked = false;
      return Promise.resolve(false);
    }
    return this.wait(ms, true);
  }

  /** Waits `ms`, less only on close. True when the whole time ran out. */
  pause(ms: number): Promise<boolean> {
    if (this.closed_) return Promise.resolve(false);
    return this.wait(ms, false);
  }

  private wait(ms: number, kickable: boolean): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const finish = (timedOut: boolean) => {
        clearTimeout(timer);
        this.wake = null;
        if (kickable) this.kicked = false;
        resolve(timedOut);
      };
      const timer = setTimeout(() => finish(true), ms);
      this.wake = () => {
        if (kickable || this.closed_) finish(false);
      };
    });
  }
}
