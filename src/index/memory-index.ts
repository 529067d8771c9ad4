/**
 * The in-process index (REDIS_URL unset): the same sets, members, state machine and executor as
 * the Redis one, held in sorted arrays. It lives and dies with the process, so every start
 * rebuilds it from the ledger.
 */
import { AuditError, ErrorCode } from '../errors.ts';
import { findPage, type SetReader } from './executor.ts';
import type { ApplyBatch, ApplyResult, EventIndex, IndexPage, IndexQuery, IndexState, TickResult } from './port.ts';
import { encodeMember, GLOBAL_KEY, inRange, normalizeFilter, normalizePage, positionOf, recordKeys, type MemberRange } from './query.ts';

/** First index whose member is ≥ m (or > m when `strict`). */
function lowerBound(a: readonly string[], m: string, strict = false): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (strict ? a[mid]! <= m : a[mid]! < m) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** [from, to) indexes of the members of `a` inside `r`. */
function span(a: readonly string[], r: MemberRange): [number, number] {
  const from = r.min === null ? 0 : lowerBound(a, r.min.value, !r.min.inclusive);
  const to = r.max === null ? a.length : lowerBound(a, r.max.value, r.max.inclusive);
  return [from, Math.max(from, to)];
}

export class MemoryEventIndex implements EventIndex, SetReader {
  readonly kind = 'memory' as const;
  private sets = new Map<string, string[]>();
  private meta: IndexState | null = null;
  private lease: { owner: string; until: number } | null = null;

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
    this.meta = { epoch, checkpoint: '0', status: target === '0' ? 'ready' : 'building', target, events: 0, applied: 0 };
  }

  async apply(batch: ApplyBatch): Promise<ApplyResult> {
    const m = this.meta;
    if (!m) return { ok: false, reason: 'missing' };
    if (m.epoch !== batch.epoch) return { ok: false, reason: 'epoch' };
    if (m.status === 'clearing') return { ok: false, reason: 'clearing' };
    if (m.checkpoint !== batch.fromTxId) return { ok: false, reason: 'moved' };
    const last = batch.txs[batch.txs.length - 1];
    if (!last) return { ok: true, added: 0, status: m.status };
    let added = 0;
    let applied = 0;
    for (const tx of batch.txs) {
      for (const r of tx.records) {
        applied++;
        const member = encodeMember(positionOf(r));
        for (const key of recordKeys(r)) {
          let set = this.sets.get(key);
          if (!set) this.sets.set(key, (set = []));
          const at = lowerBound(set, member);
          if (set[at] === member) continue;
          set.splice(at, 0, member);
          if (key === GLOBAL_KEY) added++;
        }
      }
    }
    m.checkpoint = last.txId;
    m.events += added;
    m.applied += applied;
    if (m.status === 'building' && BigInt(m.checkpoint) >= BigInt(m.target)) m.status = 'ready';
    return { ok: true, added, status: m.status };
  }

  async query(q: IndexQuery): Promise<IndexPage> {
    const filter = normalizeFilter(q.filter);
    const page = normalizePage(q, q.orderBy);
    const m = this.meta;
    if (!m || m.status !== 'ready') {
      throw new AuditError(ErrorCode.INDEX_UNAVAILABLE, m ? `The index is being rebuilt (tx ${m.checkpoint} of ${m.target}); try again shortly` : 'The index is not built yet; try again shortly');
    }
    return findPage(this, filter, page);
  }

  async checkpoint(): Promise<string | null> {
    return this.meta?.checkpoint ?? null;
  }

  async health(): Promise<void> {}

  async close(): Promise<void> {}

  // --- SetReader ---------------------------------------------------------------------------

  async counts(keys: readonly string[], range: MemberRange): Promise<number[]> {
    return keys.map((k) => {
      const [from, to] = span(this.sets.get(k) ?? [], range);
      return to - from;
    });
  }

  async range(requests: readonly { key: string; range: MemberRange; desc: boolean; limit: number }[]): Promise<string[][]> {
    return requests.map(({ key, range, desc, limit }) => {
      const set = this.sets.get(key) ?? [];
      const [from, to] = span(set, range);
      return desc ? set.slice(Math.max(from, to - limit), to).reverse() : set.slice(from, Math.min(to, from + limit));
    });
  }

  async contains(checks: readonly { key: string; members: readonly string[] }[]): Promise<boolean[][]> {
    return checks.map(({ key, members }) => {
      const set = this.sets.get(key) ?? [];
      return members.map((m) => set[lowerBound(set, m)] === m);
    });
  }

  /** Test and debugging aid: the members of one set (relative key) inside a range. */
  membersOf(key: string, range: MemberRange = { min: null, max: null }): string[] {
    return (this.sets.get(key) ?? []).filter((m) => inRange(m, range));
  }
}
