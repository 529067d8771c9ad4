import type { Json } from './types.ts';

/** Matches a UTF-16 surrogate without its partner: it has no UTF-8 encoding. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** String.prototype.isWellFormed (ES2024; Node 20 has it): native, and cheaper than the regex on every string checked. */
const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

export function isWellFormed(s: string): boolean {
  return nativeIsWellFormed ? nativeIsWellFormed.call(s) : !LONE_SURROGATE.test(s);
}

export interface JsonLimits {
  /** Containers nested deeper than this are rejected (`[]` is depth 1, a scalar depth 0). */
  maxDepth: number;
  /** Upper bound on the UTF-8 length of the canonical serialization. */
  maxBytes: number;
  /** Stop collecting after this many issues (bounds the work and the error message). */
  maxIssues?: number;
}

export interface JsonIssue {
  /** Keys and indexes from the inspected root. */
  path: (string | number)[];
  message: string;
}

export interface JsonInspection {
  issues: JsonIssue[];
  /** UTF-8 length of the canonical serialization (only meaningful when there are no issues). */
  bytes: number;
}

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | null;
  key: string | number | null;
}

function pathOf(frame: Frame): (string | number)[] {
  const path: (string | number)[] = [];
  for (let f: Frame | null = frame; f !== null && f.key !== null; f = f.parent) path.push(f.key);
  return path.reverse();
}

const utf8Length = (s: string) => Buffer.byteLength(s, 'utf8');

function isPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

interface InspectState {
  bytes: number;
  readonly maxBytes: number;
  readonly issues: JsonIssue[];
}

function overBudgetOf(st: InspectState, frame: Frame): boolean {
  if (st.bytes <= st.maxBytes) return false;
  st.issues.push({ path: pathOf(frame), message: `is larger than ${st.maxBytes} bytes serialized` });
  return true;
}

function addStringTo(st: InspectState, s: string, frame: Frame, what: string): boolean {
  // A serialized string takes at least length + 2 bytes: skip serializing hopeless ones.
  if (s.length + 2 > st.maxBytes - st.bytes) {
    st.bytes += s.length + 2;
    return overBudgetOf(st, frame);
  }
  if (!isWellFormed(s)) st.issues.push({ path: pathOf(frame), message: `${what} contains a lone surrogate (not valid Unicode)` });
  // Without a character JSON.stringify escapes, the string is written as itself in quotes.
  st.bytes += JSON_ESCAPED.test(s) ? utf8Length(JSON.stringify(s)) : utf8Length(s) + 2;
  return overBudgetOf(st, frame);
}

/**
 * Checks that `value` is plain JSON within the limits, without recursion and with early exit:
 * the walk stops as soon as the depth or byte budget is exceeded, so hostile input (a depth
 * bomb, a cycle, a huge sparse array, shared sub-trees) costs at most O(maxBytes) steps.
 * The byte count is exact for the canonical form: key order does not change the length.
 */
export function inspectJson(value: unknown, limits: JsonLimits): JsonInspection {
  const maxIssues = limits.maxIssues ?? 10;
  const issues: JsonIssue[] = [];
  // The running byte count lives in `st` so the two helpers below can be module functions rather
  // than closures made for every call.
  const st: InspectState = { bytes: 0, maxBytes: limits.maxBytes, issues };
  const stack: Frame[] = [{ value, depth: 0, parent: null, key: null }];

  while (stack.length > 0 && issues.length < maxIssues) {
    const frame = stack.pop()!;
    const v = frame.value;
    switch (typeof v) {
      case 'string':
        if (addStringTo(st, v, frame, 'string')) return { issues, bytes: st.bytes };
        continue;
      case 'number':
        if (!Number.isFinite(v)) {
          issues.push({ path: pathOf(frame), message: 'is not a finite number (not JSON)' });
          continue;
        }
        st.bytes += JSON.stringify(v).length;
        if (overBudgetOf(st, frame)) return { issues, bytes: st.bytes };
        continue;
      case 'boolean':
        st.bytes += v ? 4 : 5;
        if (overBudgetOf(st, frame)) return { issues, bytes: st.bytes };
        continue;
      case 'object':
        break;
      default: // undefined, function, symbol, bigint
        issues.push({ path: pathOf(frame), message: `is ${typeof v === 'undefined' ? 'undefined' : `a ${typeof v}`} (not JSON)` });
        continue;
    }
    if (v === null) {
      st.bytes += 4;
      if (overBudgetOf(st, frame)) return { issues, bytes: st.bytes };
      continue;
    }

    const depth = frame.depth + 1;
    if (depth > limits.maxDepth) {
      issues.push({ path: pathOf(frame), message: `is nested more than ${limits.maxDepth} levels deep` });
      return { issues, bytes: st.bytes };
    }

    if (Array.isArray(v)) {
      if (Object.getPrototypeOf(v) !== Array.prototype) {
        issues.push({ path: pathOf(frame), message: 'is not a plain array (not JSON)' });
        continue;
      }
      // Brackets and commas first: a huge (even sparse) array fails here without iterating.
      st.bytes += 2 + Math.max(v.length - 1, 0);
      if (overBudgetOf(st, frame)) return { issues, bytes: st.bytes };
      for (let i = v.length - 1; i >= 0; i--) {
        const child: Frame = { value: v[i], depth, parent: frame, key: i };
        if (!Object.hasOwn(v, i)) {
          issues.push({ path: pathOf(child), message: 'is a hole in the array (not JSON)' });
          if (issues.length >= maxIssues) break;
          continue;
        }
        stack.push(child);
      }
      continue;
    }

    if (!isPlainObject(v)) {
      const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
      issues.push({ path: pathOf(frame), message: `is ${typeof name === 'string' && name ? `a ${name}` : 'not a plain object'} (not JSON)` });
      continue;
    }
    if (Object.getOwnPropertySymbols(v).length > 0) {
      issues.push({ path: pathOf(frame), message: 'has symbol keys (not JSON)' });
      continue;
    }
    const keys = Object.keys(v);
    st.bytes += 2 + Math.max(keys.length - 1, 0) + keys.length; // braces, commas, colons
    if (overBudgetOf(st, frame)) return { issues, bytes: st.bytes };
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const child: Frame = { value: (v as Record<string, unknown>)[key], depth, parent: frame, key };
      if (addStringTo(st, key, child, 'key')) return { issues, bytes: st.bytes };
      stack.push(child);
    }
  }
  return { issues, bytes: st.bytes };
}

/**
 * Canonical JSON: object keys sorted by UTF-16 code units (as RFC 8785), no whitespace, numbers
 * and strings as ECMAScript `JSON.stringify` writes them. Equal JSON values give equal strings.
 * Expects a value that passed `inspectJson` (finite numbers, plain containers, bounded depth).
 */
export function canonicalJson(value: Json): string {
  return stringifiesCanonically(value, 0) ? JSON.stringify(value) : write(value, 0);
}

/**
 * `JSON.parse(canonicalJson(value))` without the text in between, for a value that passed
 * `inspectJson` (no issues): a detached copy with every object's keys inserted in sorted order
 * and -0 as 0. Objects are plain ones of Object.prototype, as JSON.parse makes them; a key
 * `__proto__` is an own property, as JSON.parse defines it (assignment would set the prototype).
 */
export function normalizedJsonCopy(value: Json): Json {
  if (typeof value !== 'object' || value === null) return value === 0 ? 0 : value;
  if (Array.isArray(value)) return value.map(normalizedJsonCopy);
  const out: Record<string, Json> = {};
  for (const key of Object.keys(value).sort()) {
    const item = normalizedJsonCopy((value as Record<string, Json>)[key]!);
    if (key === '__proto__') Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    else out[key] = item;
  }
  return out;
}

/** Past this depth the check below gives up and `write` decides (it is also what throws on depth). */
const FAST_MAX_DEPTH = 64;

/**
 * Whether JSON.stringify writes `v` exactly as `write` does, so that the native serializer can
 * stand in for it: only JSON values (strings, finite numbers, booleans, null; arrays of Array's
 * own prototype without holes; objects of Object.prototype or none), nothing with a toJSON, and
 * every object's own keys already enumerating in sorted order (JSON.stringify writes them in
 * enumeration order, which for integer-like keys is numeric: those fail the order check). Strings
 * and numbers are written by JSON.stringify on both paths. Records and the data normalized by
 * validation are built in sorted order, so they take this path.
 */
function stringifiesCanonically(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object':
      break;
    default:
      return false;
  }
  if (v === null) return true;
  if (depth >= FAST_MAX_DEPTH || (v as { toJSON?: unknown }).toJSON !== undefined) return false;
  if (Array.isArray(v)) {
    if (Object.getPrototypeOf(v) !== Array.prototype) return false;
    // A hole reads as undefined, which fails (write refuses it; JSON.stringify would write null).
    for (let i = 0; i < v.length; i++) if (!stringifiesCanonically(v[i], depth + 1)) return false;
    return true;
  }
  if (!isPlainObject(v)) return false;
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (i > 0 && !(keys[i - 1]! < key)) return false;
    if (!stringifiesCanonically((v as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

/** Generous bound: callers validate depth first; this only turns a mistake into an error. */
const CANONICAL_MAX_DEPTH = 256;

/**
 * The characters JSON.stringify may write other than as themselves: '"', '\\', U+0000–U+001F
 * (escaped) and surrogates (a lone one is escaped as \uXXXX; pairs are not, but any surrogate
 * takes the JSON.stringify path here). A string without any of them is written as "<itself>".
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000–U+001F are exactly the characters JSON.stringify escapes
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

function quote(s: string): string {
  return JSON_ESCAPED.test(s) ? JSON.stringify(s) : `"${s}"`;
}

function write(v: Json, depth: number): string {
  if (depth > CANONICAL_MAX_DEPTH) throw new RangeError('canonicalJson: value nested too deeply');
  if (typeof v === 'string') return quote(v);
  if (v === null || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError('canonicalJson: non-finite number');
    return JSON.stringify(v);
  }
  // Built by appending to one string (the same characters the parts-and-join form produced).
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      const item = v[i];
      if (item === undefined) throw new TypeError('canonicalJson: undefined array element');
      if (i > 0) out += ',';
      out += write(item, depth + 1);
    }
    return `${out}]`;
  }
  if (typeof v !== 'object') throw new TypeError(`canonicalJson: ${typeof v} is not JSON`);
  const keys = Object.keys(v).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const item = v[key];
    if (item === undefined) throw new TypeError('canonicalJson: undefined property');
    if (i > 0) out += ',';
    out += quote(key);
    out += ':';
    out += write(item, depth + 1);
  }
  return `${out}}`;
}
