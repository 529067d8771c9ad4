/**
 * SHA-256 (FIPS 180-4) of short inputs into a caller's buffer, in plain JavaScript, for the ledgers'
 * hot hashing: the embedded ledger's start-up hashes a few inputs of 33–84 bytes per transaction (in
 * the worker thread, alh-thread.mjs, and the AHTree's inner node on the main thread), millions of
 * them for a million single-event transactions, markedly faster than node:crypto. (The immudb
 * ledger's tree of a committed tx is built by the verifier's proof/tx-tree.ts with node:crypto,
 * without a result Buffer per hash, since the bundles are checked against that very tree.)
 *
 * Written by hand because no library was close (issue 6; BENCHMARKS.md "Embedded ledger"): with
 * node:crypto (crypto.hash or createHash) or @noble/hashes in its place, in both threads, start-up
 * of a million single-event transactions took markedly longer, in wall time and CPU. node:crypto
 * pays the crossing into C++ and a result Buffer per call, noble a hasher object and a DataView per
 * call; both leave garbage to collect. Re-measure before replacing it (a library that comes close
 * wins).
 *
 * Plain JavaScript (not TypeScript) so that the start-up worker thread imports it without a
 * TypeScript loader. Only used where a wrong digest fails loudly: a chain or tree rebuilt with it is
 * checked against hashes stored in the log (prevAlh, blRoot, eH). Pinned to node:crypto (every length 0..300, long inputs,
 * FIPS vectors) by test/unit/embedded-startup-parts.test.ts.
 */

// biome-ignore format: the round constants in rows of eight, as FIPS 180-4 prints them
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/**
 * A hasher with its own scratch state (one per thread; not reentrant).
 * `hashInto(src, start, end, out, at)` writes sha256(src[start..end)) to out[at..at+32).
 */
export function createSha256() {
  const W = new Int32Array(64);
  const S = new Int32Array(8);
  const block = new Uint8Array(64);

  /** One 64-byte block, its 16 words already in W[0..16), into the state S. */
  function compress() {
    for (let i = 16; i < 64; i++) {
      const w15 = W[i - 15];
      const w2 = W[i - 2];
      const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
      const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    let a = S[0],
      b = S[1],
      c = S[2],
      d = S[3],
      e = S[4],
      f = S[5],
      g = S[6],
      h = S[7];
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[i] + W[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + S0 + maj) | 0;
    }
    S[0] = (S[0] + a) | 0;
    S[1] = (S[1] + b) | 0;
    S[2] = (S[2] + c) | 0;
    S[3] = (S[3] + d) | 0;
    S[4] = (S[4] + e) | 0;
    S[5] = (S[5] + f) | 0;
    S[6] = (S[6] + g) | 0;
    S[7] = (S[7] + h) | 0;
  }

  function loadWords(src, p) {
    for (let i = 0; i < 16; i++, p += 4) W[i] = (src[p] << 24) | (src[p + 1] << 16) | (src[p + 2] << 8) | src[p + 3];
  }

  function hashInto(src, start, end, out, at) {
    if (!(start >= 0 && end >= start && end <= src.length && at >= 0 && at + 32 <= out.length)) {
      throw new RangeError('sha256: range out of bounds');
    }
    S[0] = 0x6a09e667;
    S[1] = 0xbb67ae85 | 0;
    S[2] = 0x3c6ef372;
    S[3] = 0xa54ff53a | 0;
    S[4] = 0x510e527f;
    S[5] = 0x9b05688c | 0;
    S[6] = 0x1f83d9ab;
    S[7] = 0x5be0cd19;
    let p = start;
    for (; p + 64 <= end; p += 64) {
      loadWords(src, p);
      compress();
    }
    // The tail, 0x80, zeros, and the bit length as a big-endian u64 (one or two blocks).
    const rest = end - p;
    for (let i = 0; i < rest; i++) block[i] = src[p + i];
    block[rest] = 0x80;
    let i = rest + 1;
    if (rest >= 56) {
      for (; i < 64; i++) block[i] = 0;
      loadWords(block, 0);
      compress();
      i = 0;
    }
    for (; i < 56; i++) block[i] = 0;
    const bits = (end - start) * 8; // exact below 2^53
    const hi = Math.floor(bits / 0x100000000);
    block[56] = hi >>> 24;
    block[57] = hi >>> 16;
    block[58] = hi >>> 8;
    block[59] = hi;
    block[60] = bits >>> 24;
    block[61] = bits >>> 16;
    block[62] = bits >>> 8;
    block[63] = bits;
    loadWords(block, 0);
    compress();
    for (let j = 0, q = at; j < 8; j++, q += 4) {
      const s = S[j];
      out[q] = s >>> 24;
      out[q + 1] = s >>> 16;
      out[q + 2] = s >>> 8;
      out[q + 3] = s;
    }
  }

  return { hashInto };
}
