/** Helpers of the export suites: whole exports in memory, their verification, and tampered copies. */
import { MAX_LINE_BYTES } from '../../src/export/format.ts';
import { splitLines } from '../../src/export/lines.ts';
import type { PreparedExport } from '../../src/export/producer.ts';
import { verifyExportLines, type ExportVerifyOptions, type ExportVerifyResult } from '../../src/export/verify.ts';

/** The whole file a prepared export produces. */
export async function collect(prepared: PreparedExport): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of prepared.chunks()) parts.push(c);
  return Buffer.concat(parts);
}

export function verifyBytes(file: Buffer | string, options: ExportVerifyOptions = {}): Promise<ExportVerifyResult> {
  return verifyExportLines(splitLines([typeof file === 'string' ? Buffer.from(file) : file], MAX_LINE_BYTES), options);
}

/** The file's lines, without their newlines (the file ends with one). */
export function linesOf(file: Buffer | string): string[] {
  const text = file.toString();
  if (!text.endsWith('\n')) throw new Error('an export ends with a newline');
  return text.slice(0, -1).split('\n');
}

export const join = (lines: string[]) => `${lines.join('\n')}\n`;

/** The eventIds of an export's event lines, in file order. */
export function exportedIds(file: Buffer | string): string[] {
  return linesOf(file)
    .map((l) => JSON.parse(l) as { value?: string })
    .filter((o) => typeof o.value === 'string')
    .map((o) => (JSON.parse(o.value!) as { eventId: string }).eventId);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Every leaf of a JSON line, each with a copy of the line where it is changed: numbers + 1, hex
 * digits flipped, decimal ids + 1, base64 with a bit flipped, other strings with a character
 * changed, booleans negated, null replaced. `hash` marks 64-hex-digit strings.
 */
export function* leafMutations(line: string): Generator<{ path: string; hash: boolean; line: string }> {
  const root = JSON.parse(line) as Json;
  const paths: (string | number)[][] = [];
  const walk = (v: Json, path: (string | number)[]) => {
    if (Array.isArray(v)) for (const [i, x] of v.entries()) walk(x, [...path, i]);
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    else paths.push(path);
  };
  walk(root, []);
  for (const path of paths) {
    const copy = JSON.parse(line) as Json;
    const parent = path.slice(0, -1).reduce((x, k) => (x as Record<string | number, Json>)[k] as Json, copy) as Record<string | number, Json>;
    const k = path[path.length - 1]!;
    const v = parent[k]!;
    let hash = false;
    if (typeof v === 'number') parent[k] = v + 1;
    else if (typeof v === 'boolean') parent[k] = !v;
    else if (v === null) parent[k] = 'x';
    else if (typeof v === 'string') {
      if (/^[0-9a-f]{64}$/.test(v)) {
        hash = true;
        parent[k] = (v[0] === '0' ? '1' : '0') + v.slice(1);
      } else if (/^(0|[1-9][0-9]*)$/.test(v)) parent[k] = String(BigInt(v) + 1n);
      else if (/^(?:[0-9a-f]{2})+$/.test(v)) parent[k] = (v[0] === '0' ? '1' : '0') + v.slice(1);
      else if (v.length > 0 && /^[A-Za-z0-9+/]+=*$/.test(v) && v.length % 4 === 0) {
        const raw = Buffer.from(v, 'base64');
        raw[raw.length - 1]! ^= 1;
        parent[k] = raw.toString('base64');
      } else if (v.length === 0) parent[k] = 'x';
      else {
        // Change a character in the middle (a letter of an event's JSON text, of a note…).
        const at = Math.floor(v.length / 2);
        parent[k] = v.slice(0, at) + (v[at] === 'a' ? 'b' : 'a') + v.slice(at + 1);
      }
    }
    const out = JSON.stringify(copy);
    if (out !== line) yield { path: path.join('.'), hash, line: out };
  }
}
