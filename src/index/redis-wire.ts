/**
 * The Redis index's scripts, seen from TypeScript: the arguments they take and the replies they
 * give (redis-scripts/*.lua documents each side's layout; the two must change together).
 */
import { positionOf } from '../events/paging.ts';
import type { BuiltIndex } from './bulk-build.ts';
import { fieldValue } from '../events/filter.ts';
import { CODE_LAYOUT, CODED_FIELDS, overflowCode, type CodedField } from './codes.ts';
import type {
  ProbeRequest,
  ProbeResult,
  RecentCorrelation,
  RollupRequest,
  RollupResult,
  ScanResult,
  ScanStream,
  TallyResult,
  TallySpec,
  TallyStream,
} from './executor.ts';
import type { ApplyBatch, ApplyResult, IndexState, IndexStatus } from './port.ts';
import { encodePosition, fieldKey, GLOBAL_KEY, setFieldKeys } from './members.ts';
import type { MemberFilter } from './plan.ts';
import { lexArg } from './range.ts';
import type { Arg, TallyReply } from './redis-commands.ts';
import { MINUTE_KEEP_MS, MINUTE_MS, rollupFieldsOf } from './rollups.ts';

/** The meta hash (HGETALL, flat) as an IndexState; null when there is none or it has no epoch. */
export function parseState(flat: string[]): IndexState | null {
  if (flat.length === 0) return null;
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  if (h.epoch === undefined) return null;
  return {
    epoch: h.epoch,
    checkpoint: h.checkpoint ?? '0',
    status: (h.status ?? 'clearing') as IndexStatus,
    target: h.target ?? '0',
    events: Number(h.events ?? 0),
    applied: Number(h.applied ?? 0),
  };
}

export type RefusalReason = Extract<ApplyResult, { ok: false }>['reason'];

/** A write script's reply: {'ok', added, status} or {reason}. */
export const applyResult = ([outcome, added, status]: [string, number?, string?]): ApplyResult =>
  outcome === 'ok' ? { ok: true, added: Number(added), status: status as IndexStatus } : { ok: false, reason: outcome as RefusalReason };

/** Field codes of the coded fields, as the scripts know them. */
const FC = Object.fromEntries(CODED_FIELDS.map((f) => [f, CODE_LAYOUT[f].fc])) as Record<CodedField, string>;
/** Bytes per event in the apply script's event string: its position, then a u32 per coded field. */
const ROW_BYTES = 22 + 4 * CODED_FIELDS.length;

/** The arguments of one apply script (after the namespace … max codes): coded values, events, sets. */
export function applyArgs(batch: ApplyBatch): { args: Arg[]; events: number } {
  const distinct = new Map<string, number>();
  const rows: { pos: string; coded: number[]; keys: string[] }[] = [];
  for (const tx of batch.txs) {
    for (const r of tx.records) {
      const coded = CODED_FIELDS.map((f) => {
        const v = fieldValue(r, f);
        if (v === undefined) return 0;
        const key = fieldKey(f, v);
        let d = distinct.get(key);
        if (d === undefined) {
          d = distinct.size + 1;
          distinct.set(key, d);
        }
        return d;
      });
      rows.push({ pos: encodePosition(positionOf(r)), coded, keys: setFieldKeys(r) });
    }
  }
  // Position order: every list built from it is ascending, which the chunked insert wants.
  rows.sort((a, b) => (a.pos < b.pos ? -1 : a.pos > b.pos ? 1 : 0));
  const blob = Buffer.alloc(rows.length * ROW_BYTES);
  const sets = new Map<string, number[]>([[GLOBAL_KEY, []]]);
  rows.forEach((row, i) => {
    const o = i * ROW_BYTES;
    blob.write(row.pos, o, 'latin1');
    row.coded.forEach((d, f) => {
      blob.writeUInt32BE(d, o + 22 + f * 4);
    });
    for (const key of row.keys) {
      let list = sets.get(key);
      if (!list) {
        list = [];
        sets.set(key, list);
      }
      list.push(i + 1);
    }
  });
  const args: Arg[] = [distinct.size, ...distinct.keys(), blob, sets.size];
  for (const [key, list] of sets) {
    const idx = Buffer.alloc(list.length * 4);
    list.forEach((n, j) => {
      idx.writeUInt32BE(n, j * 4);
    });
    args.push(key, idx);
  }
  return { args, events: rows.length };
}

/** A bulk-load script writes about this many members (a script holds Redis while it runs: keep each one short), … */
const LOAD_MEMBERS_PER_SCRIPT = 16_384;
/** … and slices of at most this many sets (many small ones: one per correlation). */
const LOAD_SETS_PER_SCRIPT = 2_000;

/** The set slices of a bulk load (load.lua, after the chunk size), one script's worth at a time. */
export function* loadArgs(built: BuiltIndex, chunkSize: number): Generator<Arg[]> {
  const slice = chunkSize * Math.max(1, Math.floor(LOAD_MEMBERS_PER_SCRIPT / chunkSize));
  let args: Arg[] = [];
  let members = 0;
  for (const [key, list] of built.sets) {
    for (let i = 0; i < list.length; i += slice) {
      const part = list.slice(i, i + slice);
      args.push(key, i / chunkSize, Buffer.from(part.join(''), 'latin1'));
      members += part.length;
      if (members >= LOAD_MEMBERS_PER_SCRIPT || args.length >= 3 * LOAD_SETS_PER_SCRIPT) {
        yield args;
        args = [];
        members = 0;
      }
    }
  }
  if (args.length > 0) yield args;
}

/** The arguments of load-commit.lua after the lease ms. */
export function loadCommitArgs(built: BuiltIndex): Arg[] {
  const codes: Arg[] = built.codes.flatMap((c) => [c.key, c.dense ? -c.code : c.code, c.count]);
  return [built.lastTxId, built.events, built.applied, ...CODED_FIELDS.map((f) => built.used[f]), ...codes];
}

/** Pairs per load-extra script. */
const LOAD_EXTRA_PAIRS = 1_000;

/** The registry and correlation slices of a bulk load (load-extra.lua, after the lease ms). */
export function* loadExtraArgs(built: BuiltIndex): Generator<Arg[]> {
  const slices = function* (kind: string, pairs: Iterable<[string, number]>): Generator<Arg[]> {
    let args: Arg[] = [kind];
    for (const [k, n] of pairs) {
      args.push(k, n);
      if (args.length > 2 * LOAD_EXTRA_PAIRS) {
        yield args;
        args = [kind];
      }
    }
    if (args.length > 1) yield args;
  };
  yield* slices('dv', built.registry);
  yield* slices('cr', built.recent);
  let args: Arg[] = ['ru'];
  const expired = Date.now() - MINUTE_KEEP_MS;
  for (const [key, cells] of built.rollups) {
    // A minute bucket past its keep would expire as it is written (rollups.ts).
    if (key.startsWith('ru:m:') && (Number(key.slice(5)) + 1) * MINUTE_MS <= expired) continue;
    const fields = new Map<string, number>();
    for (const [cell, n] of cells) for (const f of rollupFieldsOf(cell)) fields.set(f, (fields.get(f) ?? 0) + n);
    for (const [f, n] of fields) args.push(key, Buffer.from(f, 'latin1'), n);
    if (args.length > 3 * LOAD_EXTRA_PAIRS) {
      yield args;
      args = ['ru'];
    }
  }
  if (args.length > 1) yield args;
}

export function probeArgs(namespace: string, req: ProbeRequest): Arg[] {
  return [
    namespace,
    lexArg(req.range.min, 'min'),
    lexArg(req.range.max, 'max'),
    req.exact ? 1 : 0,
    req.keys.length,
    ...req.keys,
    req.coded.length,
    ...req.coded,
  ];
}

/** probe.lua's reply: the index's status, and when it is ready what the query asked for. */
export function probeReply(r: (string | number)[], req: ProbeRequest): { status: string; checkpoint: string; target: string; result: ProbeResult } {
  const [status, checkpoint, target, gen, events] = r as [string, string, string, string, number];
  const counts = r.slice(5, 5 + req.keys.length) as number[];
  const coded = req.coded.map((_, i) => {
    const code = Number(r[5 + req.keys.length + 2 * i]);
    const count = Number(r[6 + req.keys.length + 2 * i]);
    return code === 0 ? null : { code: Math.abs(code), dense: code < 0, count };
  });
  return { status, checkpoint, target, result: { gen, events: Number(events), counts, coded } };
}

/** The member filter's arguments (walk.lua). */
function filterArgs(namespace: string, filter: MemberFilter): Arg[] {
  const args: Arg[] = [namespace, filter.codes.length];
  for (const c of filter.codes) args.push(FC[c.field], Buffer.from(c.codes), c.overflowKeys.length, ...c.overflowKeys);
  args.push(filter.sets.length);
  for (const keys of filter.sets) args.push(keys.length, ...keys);
  return args;
}

/** A script's sparse {index, count, …} list as a dense array of `size` counts. */
function densePairs(pairs: number[] | undefined, size: number): number[] {
  const out = new Array<number>(size).fill(0);
  const p = pairs ?? [];
  for (let i = 0; i + 1 < p.length; i += 2) out[Number(p[i])] = Number(p[i + 1]);
  return out;
}

export function tallyArgs(namespace: string, stream: TallyStream, filter: MemberFilter, spec: TallySpec): Arg[] {
  const h = spec.histogram;
  return [
    ...filterArgs(namespace, filter),
    stream.key,
    lexArg(stream.range.min, 'min'),
    lexArg(stream.range.max, 'max'),
    stream.budget,
    spec.dims.length,
    ...spec.dims.map((f) => FC[f]),
    h ? h.origin : 0,
    h ? h.width : 1,
    h ? h.buckets : 0,
  ];
}

export function tallyReply(reply: TallyReply, spec: TallySpec): { gen: string; result: TallyResult } {
  const [gen, done, last, count, first, lastMatch, ...lists] = reply;
  const member = (b: Buffer) => (b.length > 0 ? b.toString('latin1') : null);
  return {
    gen: gen.toString(),
    result: {
      done: Number(done) === 1,
      last: member(last),
      count: Number(count),
      firstMatch: member(first),
      lastMatch: member(lastMatch),
      codes: spec.dims.map((f, i) => densePairs(lists[i], overflowCode(f) + 1)),
      histogram: densePairs(lists[spec.dims.length], spec.histogram?.buckets ?? 0),
    },
  };
}

export function rollupArgs(namespace: string, req: RollupRequest): Arg[] {
  const args: Arg[] = [namespace, req.checks.length];
  for (const c of req.checks) args.push(FC[c.field], Buffer.from(c.codes));
  args.push(req.dims.length, ...req.dims.map((f) => FC[f]));
  for (const u of req.units) args.push(u.key, u.bucket);
  return args;
}

/** rollup.lua's reply; null when the index is not ready. */
export function rollupReply(reply: (string | number | number[])[], req: RollupRequest): RollupResult | null {
  if (reply[0] !== 'ready') return null;
  const [, gen, events, applied, count, ...lists] = reply as [string, string, number, number, number, ...number[][]];
  return {
    gen: String(gen),
    events: Number(events),
    applied: Number(applied),
    count: Number(count),
    codes: req.dims.map((f, i) => densePairs(lists[i], overflowCode(f) + 1)),
    histogram: densePairs(lists[req.dims.length], req.buckets),
  };
}

export function recentArgs(namespace: string, after: RecentCorrelation | null, limit: number): Arg[] {
  return [namespace, after ? String(after.lastMs) : '', after ? Buffer.from(after.correlationId, 'utf8') : '', limit];
}

/** recent.lua's reply: status, then id, ms pairs; null when the index is not ready. */
export function recentReply([status, ...pairs]: Buffer[]): RecentCorrelation[] | null {
  if (status?.toString() !== 'ready') return null;
  const out: RecentCorrelation[] = [];
  for (let i = 0; i + 1 < pairs.length; i += 2) out.push({ correlationId: pairs[i]!.toString('utf8'), lastMs: Number(pairs[i + 1]!.toString()) });
  return out;
}

export function scanArgs(namespace: string, streams: readonly ScanStream[], filter: MemberFilter): Arg[] {
  const args = filterArgs(namespace, filter);
  args.push(streams.length);
  for (const s of streams) args.push(s.key, lexArg(s.range.min, 'min'), lexArg(s.range.max, 'max'), s.desc ? 1 : 0, s.limit, s.budget);
  return args;
}

export function scanReply([gen, ...per]: [Buffer, ...[number, Buffer, ...Buffer[]][]]): { gen: string; results: ScanResult[] } {
  return {
    gen: gen.toString(),
    results: per.map(([done, last, ...members]) => ({
      done: Number(done) === 1,
      last: last.length > 0 ? last.toString('latin1') : null,
      members: members.map((m) => m.toString('latin1')),
    })),
  };
}
