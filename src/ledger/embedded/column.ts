/**
 * A growable column of numbers in a typed array: the embedded ledger keeps a few per transaction
 * and per event, and start-up appends a million of each. Pushing to one costs about half what a
 * JS array push does, and it stays out of the garbage-collected heap.
 */
export class Column<A extends Float64Array | Uint32Array = Float64Array> {
  private store: A;
  private count = 0;

  /** `make(n)` allocates the backing array (Float64Array by default: exact for integers < 2^53). */
  constructor(
    private readonly make: (capacity: number) => A = ((n: number) => new Float64Array(n)) as (capacity: number) => A,
    capacity = 1024,
  ) {
    this.store = make(Math.max(1, capacity));
  }

  /** A Float64Array column holding `values`. */
  static of(...values: number[]): Column {
    const c = new Column();
    for (const v of values) c.push(v);
    return c;
  }

  get length(): number {
    return this.count;
  }

  /**
   * The backing array, valid at indexes below `length`. A push may replace it: a reference taken
   * earlier still holds every value pushed before it was taken.
   */
  get data(): A {
    return this.store;
  }

  push(value: number): void {
    if (this.count === this.store.length) this.grow();
    this.store[this.count++] = value;
  }

  /** The value at i; RangeError outside 0..length-1. */
  get(i: number): number {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`column index ${i} out of range [0, ${this.count})`);
    return this.store[i]!;
  }

  private grow(): void {
    const next = this.make(this.store.length * 2);
    next.set(this.store);
    this.store = next;
  }
}
