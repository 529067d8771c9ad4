/**
 * Refusing deeply nested JSON before `JSON.parse` sees it: HTTP bodies (400 BAD_REQUEST,
 * request-body.ts) and WebSocket messages (closed with 4400, as graphql-ws closes on any invalid
 * message, ws.ts).
 *
 * Why: V8 parses deep nesting far more slowly than flat JSON of the same size, all of it on the
 * event loop, so one body at the size limit (MAX_REQUEST_BODY_BYTES) made of `[[[…` would stall
 * every other request. And no recursive code after the parse (JSON.stringify, value coercion, our
 * validators) then ever meets such depth. Valid requests nest a few levels plus `data` (at most
 * 32), so the limit costs them nothing.
 */

/** Far above any valid request (`data` may nest 32 levels), far below what costs anything to parse. */
export const MAX_JSON_NESTING = 1_000;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** How many times `c` occurs in `json`, counting no further than `limit + 1` (native indexOf: cheap next to the parse it spares). */
function occurrences(json: string | Uint8Array, c: number, limit: number): number {
  let n = 0;
  for (let i = -1; n <= limit; n++) {
    i = typeof json === 'string' ? json.indexOf(String.fromCharCode(c), i + 1) : Buffer.prototype.indexOf.call(json, c, i + 1);
    if (i === -1) break;
  }
  return n;
}

/**
 * Whether `json` (text, or its UTF-8 bytes) opens more than `max` arrays/objects at once. Brackets
 * inside strings do not count. Malformed JSON is not judged here (JSON.parse will refuse it); in
 * UTF-8 the bytes of `"`, `\`, `[`, `]`, `{` and `}` never occur inside a multi-byte character, so
 * bytes and text give the same answer.
 */
export function nestsDeeperThan(json: string | Uint8Array, max: number = MAX_JSON_NESTING): boolean {
  // Fast path (most requests): too few opening brackets in all to nest that deep.
  if (occurrences(json, OPEN_BRACE, max) + occurrences(json, OPEN_BRACKET, max) <= max) return false;
  const text = typeof json === 'string';
  const length = json.length;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < length; i++) {
    const c = text ? (json as string).charCodeAt(i) : (json as Uint8Array)[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return false;
}
