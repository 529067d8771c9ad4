/** Types of sha256.mjs (plain JavaScript so the start-up worker loads it without a TypeScript loader). */

/** Writes sha256(src[start..end)) to out[at..at+32). Throws RangeError on a range out of bounds. */
export type Sha256Into = (src: Uint8Array, start: number, end: number, out: Uint8Array, at: number) => void;

/** A hasher with its own scratch state (one per thread; not reentrant). */
export function createSha256(): { hashInto: Sha256Into };
