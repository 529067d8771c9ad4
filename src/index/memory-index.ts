/**
 * The in-process index (REDIS_URL unset): the same sets, members, codebook, density rule, state
 * machine and executor as the Redis one, held in sorted arrays. It lives and dies with the
 * process, so every start rebuilds it from the ledger.
 */
import { AuditError, ErrorCode } from '../errors.ts';
import { fieldValue, normalizeFilter } from '../events/filter.ts';
import { positionOf } from '../events/paging.ts';
import {
  ABSENT_CODE,
  becomesDense,
  CODED_FIELDS,
  DENSE_MIN_EVENTS,
  memberCode,
  overflowCode,
  packCodes,
  resolveMaxCodes,
  type CodeEntry,
  type CodedField,
  type Codes,
  type IndexLayoutOptions,
} from './codes.ts';
import {
  findPage,
  type ProbeRequest,
  type ProbeResult,
  type RecentCorrelation,
  type RollupRequest,
  type RollupResult,
  type ScanResult,
  type ScanStream,
  type SetReader,
  type TallyResult,
  type TallySpec,
  type TallyStream,
  type ValueCount,
} from './executor.ts';
import type { BuiltIndex } from './bulk-build.ts';
import { computeStats, countMatches, type StatsArgs, type StatsResult } from './counting.ts';
import { correlationPage, type CorrelationPage, type CorrelationQuery } from './correlations.ts';
import type { ApplyBatch, ApplyResult, EventIndex, IndexPage, IndexQuery, IndexState, TickResult } from './port.ts';
import {
  type DimensionField,
  encodeMember,
  fieldCode,
  fieldKey,
  GLOBAL_KEY,
  isDimensionKey,
  MEMBER_LENGTH,
  memberMs,
  setFieldKeys,
  valueOfKey,
} from './members.ts';
import type { MemberFilter } from './plan.ts';
import { addToRollups, addToValueRollup } from './rollups.ts';
import { inRange, normalizePage, type MemberRange } from './range.ts';
import { bucketOf, lowerBound, mergeSorted, RecentList, span } from './memory-sets.ts';

const noCodesUsed = (): Record<CodedField, number> => Object.fromEntries(CODED_FIELDS.map((f) => [f, 0])) as Record<CodedField, number>;

export class MemoryEventIndex implements EventIndex, SetReader {
  readonly kind = 'memory' as const;
  private sets = new Map<string, string[]>();
  /** Dimension values seen (set key → events): stats groups. */
  private registry = new Map<string, number>();
  /** Correlations by their newest event (`recent`). */
  private recentList = new RecentList();
  /** Rollups (rollups.ts): bucket or value rollup key → cell → events. */
  private rollups = new Map<string, Map<string, number>>();
  /** Coded values (by set key) and how many codes each field handed out. */
  private codebook = new Map<string, CodeEntry>();
  private used = noCodesUsed();
  private gen = 0;
  private meta: IndexState | null = null;
  private lease: { owner: string; until: number } | null = null;
  private readonly denseMin: number;
  private readonly maxCodes: Record<CodedField, number>;

  /** The layout knobs in force, for builds that must match them (bulk-build.ts). */
  get layout(): Required<IndexLayoutOptions> {
    return { denseMinEvents: this.denseMin, maxCodes: { ...this.maxCodes } };
  }

  constructor(options: IndexLayoutOptions = {}) {
    this.denseMin = options.denseMinEvents ?? DENSE_MIN_EVENTS;
    this.maxCodes = resolveMaxCodes(options.maxCodes);
  }

  async tick(owner: string, leaseMs: number, force = false): Promise<TickResult> {
    const now = Date.now();
    const free = this.lease === null || this.lease.until <= now || this.lease.owner === owner;
    if (free || force) this.lease = { owner, until: now + leaseMs };
    return { leased: free || force, state: this.meta && { ...this.meta } };
  }

  async releaseLease(owner: string): Promise<void> {
    if (this.lease?.owner === owner) this.lease = null;
  }

  async state(): Promise<IndexState | null> {
    return this.meta && { ...this.meta };
  }

  async reset(epoch: string, target: string): Promise<void> {
    this.sets = new Map();
    this.registry = new Map();
    this.recentList = new RecentList();
    this.rollups = new Map();
    this.codebook = new Map();
    this.used = noCodesUsed();
    this.gen++;
    this.meta = { epoch, checkpoint: '0', status: target === '0' ? 'ready' : 'building', target, events: 0, applied: 0 };
  }

  /** The code of a value, handing out the next one on first sight (the overflow code when none is left). */
  private codeOf(field: CodedField, key: string): number {
    const e = this.codebook.get(key);
    if (e) return e.code;
    if (this.used[field] >= this.maxCodes[field]) return overflowCode(field);
    const code = ++this.used[field];
    this.codebook.set(key, { code, dense: false, count: 0 });
    return code;
  }

  async apply(batch: ApplyBatch): Promise<ApplyResult> {
    const refused = this.refusal(batch.epoch, batch.fromTxId);
    if (refused) return refused;
    const m = this.meta!;
    const last = batch.txs[batch.txs.length - 1];
    if (!last) return { ok: true, added: 0, status: m.status };
    const pending = new Map<string, string[]>();
    const seen = new Map<string, number>();
    const push = (key: string, member: string) => {
      let list = pending.get(key);
      if (!list) {
        list = [];
        pending.set(key, list);
      }
      list.push(member);
    };
    let applied = 0;
    for (const tx of batch.txs) {
      for (const r of tx.records) {
        applied++;
        const codes = {} as Codes;
        const coded: [string, number][] = [];
        for (const field of CODED_FIELDS) {
          const v = fieldValue(r, field);
          if (v === undefined) {
            codes[field] = ABSENT_CODE;
            continue;
          }
          const key = fieldKey(field, v);
          codes[field] = this.codeOf(field, key);
          coded.push([key, codes[field]]);
        }
        const position = positionOf(r);
        const member = encodeMember(position, packCodes(codes));
        addToRollups(this.rollups, member);
        for (const key of setFieldKeys(r)) {
          push(key, member);
          addToValueRollup(this.rollups, key, member);
          if (isDimensionKey(key)) this.registry.set(key, (this.registry.get(key) ?? 0) + 1);
        }
        this.recentList.touch(r.correlationId, position.ms);
        for (const [key] of coded) {
          if (isDimensionKey(key)) this.registry.set(key, (this.registry.get(key) ?? 0) + 1);
          const e = this.codebook.get(key);
          if (e) seen.set(key, (seen.get(key) ?? 0) + 1);
          if (!e?.dense) push(key, member); // a sparse value, or an overflowed one (always a set)
        }
      }
    }
    let added = 0;
    for (const [key, list] of pending) {
      list.sort();
      const distinct = list.filter((x, i) => i === 0 || x !== list[i - 1]);
      const [merged, n] = mergeSorted(this.sets.get(key) ?? [], distinct);
      this.sets.set(key, merged);
      if (key === GLOBAL_KEY) added = n;
    }
    m.checkpoint = last.txId;
    m.events += added;
    m.applied += applied;
    for (const [key, n] of seen) {
      const e = this.codebook.get(key)!;
      e.count += n;
      if (!e.dense && becomesDense(e.count, m.events, this.denseMin)) {
        e.dense = true;
        this.sets.delete(key);
        this.gen++;
      }
    }
    if (m.status === 'building' && BigInt(m.checkpoint) >= BigInt(m.target)) m.status = 'ready';
    return { ok: true, added, status: m.status };
  }

  /** Why a write continuing from `fromTxId` of `epoch` must be refused, if it must. */
  private refusal(epoch: string, fromTxId: string): Extract<ApplyResult, { ok: false }> | null {
    const m = this.meta;
    if (!m) return { ok: false, reason: 'missing' };
    if (m.epoch !== epoch) return { ok: false, reason: 'epoch' };
    if (m.status === 'clearing') return { ok: false, reason: 'clearing' };
    if (m.checkpoint !== fromTxId) return { ok: false, reason: 'moved' };
    return null;
  }

  async load(epoch: string, built: BuiltIndex, owner: string, leaseMs: number): Promise<ApplyResult> {
    const refused = this.refusal(epoch, '0');
    if (refused) return refused;
    const m = this.meta!;
    if (m.status !== 'building') return { ok: false, reason: 'moved' }; // ready at checkpoint 0: an empty ledger
    const now = Date.now();
    if (this.lease?.owner !== owner || this.lease.until <= now) return { ok: false, reason: 'lease' };
    this.lease.until = now + leaseMs;
    this.sets = new Map(built.sets);
    this.codebook = new Map(built.codes.map((c) => [c.key, { code: c.code, dense: c.dense, count: c.count }]));
    this.used = { ...built.used };
    this.registry = new Map(built.registry);
    this.rollups = built.rollups;
    this.recentList = RecentList.of(built.recent);
    m.checkpoint = built.lastTxId;
    m.events = built.events;
    m.applied = built.applied;
    if (BigInt(m.checkpoint) >= BigInt(m.target)) m.status = 'ready';
    return { ok: true, added: built.events, status: m.status };
  }

  async query(q: IndexQuery): Promise<IndexPage> {
    const filter = normalizeFilter(q.filter);
    const page = normalizePage(q, q.orderBy);
    this.ready();
    return findPage(this, filter, page);
  }

  async count(filter: IndexQuery['filter']): Promise<number> {
    const f = normalizeFilter(filter);
    this.ready();
    return countMatches(this, f);
  }

  async stats(q: StatsArgs): Promise<StatsResult> {
    return computeStats(this, q);
  }

  async correlations(q: CorrelationQuery): Promise<CorrelationPage> {
    return correlationPage(this, q);
  }

  async checkpoint(): Promise<string | null> {
    return this.meta?.checkpoint ?? null;
  }

  async health(): Promise<void> {}

  async close(): Promise<void> {}

  // --- SetReader ---------------------------------------------------------------------------

  private ready(): IndexState {
    const m = this.meta;
    if (m?.status !== 'ready') {
      throw new AuditError(
        ErrorCode.INDEX_UNAVAILABLE,
        m ? `The index is being rebuilt (tx ${m.checkpoint} of ${m.target}); try again shortly` : 'The index is not built yet; try again shortly',
      );
    }
    return m;
  }

  async probe(req: ProbeRequest): Promise<ProbeResult> {
    const m = this.ready();
    return {
      gen: `${m.epoch}/${this.gen}`,
      events: m.events,
      counts: req.keys.map((k) => {
        const [from, to] = span(this.sets.get(k) ?? [], req.range);
        return to - from;
      }),
      coded: req.coded.map((k) => {
        const e = this.codebook.get(k);
        return e ? { ...e } : null;
      }),
    };
  }

  async scan(streams: readonly ScanStream[], filter: MemberFilter): Promise<{ gen: string; results: ScanResult[] }> {
    return { gen: `${this.meta?.epoch}/${this.gen}`, results: streams.map((s) => this.scanOne(s, filter)) };
  }

  async tally(stream: TallyStream, filter: MemberFilter, spec: TallySpec): Promise<{ gen: string; result: TallyResult }> {
    const gen = `${this.meta?.epoch}/${this.gen}`;
    const r = this.scanOne({ key: stream.key, range: stream.range, desc: false, limit: Number.POSITIVE_INFINITY, budget: stream.budget }, filter);
    const result: TallyResult = {
      count: r.members.length,
      codes: spec.dims.map((f) => new Array<number>(overflowCode(f) + 1).fill(0)),
      histogram: new Array<number>(spec.histogram?.buckets ?? 0).fill(0),
      firstMatch: r.members[0] ?? null,
      lastMatch: r.members[r.members.length - 1] ?? null,
      last: r.last,
      done: r.done,
    };
    for (const m of r.members) {
      spec.dims.forEach((f, i) => {
        result.codes[i]![memberCode(m, f)]!++;
      });
      if (spec.histogram) {
        const b = bucketOf(memberMs(m), spec.histogram);
        if (b >= 0) result.histogram[b]!++;
      }
    }
    return { gen, result };
  }

  async rollup(req: RollupRequest): Promise<RollupResult> {
    const m = this.ready();
    const out: RollupResult = {
      gen: `${m.epoch}/${this.gen}`,
      events: m.events,
      applied: m.applied,
      count: 0,
      codes: req.dims.map((f) => new Array<number>(overflowCode(f) + 1).fill(0)),
      histogram: new Array<number>(req.buckets).fill(0),
    };
    for (const u of req.units) {
      for (const [cell, n] of this.rollups.get(u.key) ?? []) {
        // A cell is a member's first code bytes.
        if (!req.checks.every((c) => c.codes.includes(memberCode(cell, c.field, 0)))) continue;
        out.count += n;
        req.dims.forEach((f, i) => {
          out.codes[i]![memberCode(cell, f, 0)]! += n;
        });
        if (u.bucket >= 0) out.histogram[u.bucket]! += n;
      }
    }
    return out;
  }

  async values(field: DimensionField): Promise<ValueCount[]> {
    this.ready();
    const prefix = `${fieldCode(field)}:`;
    const out: ValueCount[] = [];
    for (const [key, count] of this.registry) if (key.startsWith(prefix)) out.push({ value: valueOfKey(key), count });
    return out;
  }

  async recent(after: RecentCorrelation | null, limit: number): Promise<RecentCorrelation[]> {
    this.ready();
    return this.recentList.after(after, limit);
  }

  private has(key: string, m: string): boolean {
    const set = this.sets.get(key);
    return set !== undefined && set[lowerBound(set, m)] === m;
  }

  private scanOne(s: ScanStream, filter: MemberFilter): ScanResult {
    const set = this.sets.get(s.key) ?? [];
    const [from, to] = span(set, s.range);
    const members: string[] = [];
    let last: string | null = null;
    let work = 0;
    let i = s.desc ? to - 1 : from;
    const step = s.desc ? -1 : 1;
    const inside = () => (s.desc ? i >= from : i < to);
    // Same rules as the Lua scan: at least one member, at most `budget` reads and probes, `limit` matches.
    while (inside() && members.length < s.limit && (last === null || work < s.budget)) {
      const m = set[i]!;
      i += step;
      last = m;
      work++;
      if (m.length !== MEMBER_LENGTH) continue;
      let pass = true;
      for (const c of filter.codes) {
        const code = memberCode(m, c.field);
        if (c.codes.includes(code)) continue;
        if (code === overflowCode(c.field) && c.overflowKeys.length > 0) {
          work += c.overflowKeys.length;
          if (c.overflowKeys.some((k) => this.has(k, m))) continue;
        }
        pass = false;
        break;
      }
      if (pass) {
        for (const keys of filter.sets) {
          work += keys.length;
          if (!keys.some((k) => this.has(k, m))) {
            pass = false;
            break;
          }
        }
      }
      if (pass) members.push(m);
    }
    return { members, last, done: !inside() };
  }

  /** Test and debugging aid: the members of one set (relative key) inside a range. */
  membersOf(key: string, range: MemberRange = { min: null, max: null }): string[] {
    return (this.sets.get(key) ?? []).filter((m) => inRange(m, range));
  }

  /** Test and debugging aid: the codebook entry of a coded value. */
  codeEntry(field: CodedField, value: string): CodeEntry | null {
    const e = this.codebook.get(fieldKey(field, value));
    return e ? { ...e } : null;
  }
}
