/** Seeded PRNG (mulberry32) for reproducible property-style tests. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Characters that stress key encoding and JSON: separators, escapes, NUL, controls, non-ASCII, astral. */
export const NASTY_ALPHABET = [
  'a',
  'Z',
  '0',
  '-',
  '.',
  '_',
  '~',
  '/',
  '%',
  '%2F',
  ':',
  '\u0000',
  '\n',
  '\u001f',
  '"',
  '\\',
  ' ',
  'é',
  '\u00ff',
  '\ufffd',
  '\u2028',
  '\u200b',
  '中',
  '😀',
  '𝄞',
  '\u{10ffff}',
  'tl',
  'ev',
];

export function randomString(rand: () => number, maxParts = 8, alphabet: readonly string[] = NASTY_ALPHABET): string {
  const n = 1 + Math.floor(rand() * maxParts);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return s;
}

export function randomUuid(rand: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
