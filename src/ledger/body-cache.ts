/**
 * A bounded in-process cache of event bodies read from the ledger, around any Ledger.
 *
 * `auditEvents` finds eventIds in the secondary index and then reads their bodies from the ledger
 * (`getMany`, through the request's DataLoader): on immudb that read dominates the query
 * (one B-tree lookup for the reference, one for the entry and a value-log read, per eventId). Ledger
 * entries never change once committed, so a body the gateway has itself read from the ledger
 * may be answered again from memory without weakening anything:
 *
 * - only the ledger fills it: the bodies `getMany`, `readTransactions` (the indexer and the live
 *   feed read every new body while following, value hashes checked against the tx) and
 *   `getVerified` (proven) returned. Nothing from Redis or a client ever enters it, so a tampered
 *   index still cannot forge an event: it can only name eventIds, whose bodies come from here or
 *   from the ledger;
 * - keyed by eventId, which the ledger binds to one body for good (a second append with the same
 *   id and other content is refused);
 * - `getVerified` and every other call go to the ledger unchanged (proofs are never cached).
 *
 * Memory: bounded by `maxBytes` (default 64 MiB), least recently used evicted first. A body is
 * charged an estimate of what it holds on the V8 heap (strings at 1 byte/char + 16, 2 bytes/char
 * when not Latin-1; 32 per object or array plus 16 per property or element; the key copy; 160 per
 * entry for the StoredEvent, the Map slot and the LRU order); typical audit events come to
 * 600–900 bytes, so 64 MiB holds ≈ 80,000–100,000 of them. Keys are copied out of the read
 * buffers (pooled Buffers would otherwise keep whole 8 KiB slabs alive).
 *
 * `stats` counts hits and misses of `getMany` (per eventId), entries, bytes and evictions.
 */
import type { LedgerState } from '../proof/types.ts';
import { LedgerDecorator } from './decorator.ts';
import type { AppendResult, CommittedTx, Ledger, StoredEvent } from './port.ts';

export const DEFAULT_BODY_CACHE_BYTES = 64 * 1024 * 1024;
/** What one cached body costs beyond its fields: the StoredEvent, its Map slot, its LRU position. */
const ENTRY_OVERHEAD = 160;

export interface BodyCacheStats {
  /** eventIds `getMany` answered from memory. */
  hits: number;
  /** eventIds `getMany` had to read from the ledger. */
  misses: number;
  entries: number;
  /** Estimated heap bytes of the cached bodies (≤ maxBytes). */
  bytes: number;
  maxBytes: number;
  evictions: number;
}

export interface BodyCacheOptions {
  /** Estimated heap bytes the cached bodies may take; 0 disables the cache. */
  maxBytes?: number;
}

/** A ledger behind a body cache, with the cache's counters. */
export type BodyCachedLedger<L extends Ledger = Ledger> = BodyCacheLedger<L>;

/** Heap estimate of a JSON value (see the module comment). Cheap: one walk, no serialization. */
export function estimateBytes(value: unknown, depth = 0): number {
  if (typeof value === 'string') return 16 + (/^[\0-\xff]*$/.test(value) ? value.length : 2 * value.length);
  if (value === null || typeof value !== 'object') return 8;
  if (depth > 64) return 64;
  if (Array.isArray(value)) {
    let n = 32;
    for (const v of value) n += 16 + estimateBytes(v, depth + 1);
    return n;
  }
  if (Buffer.isBuffer(value)) return 96 + value.length;
  let n = 32;
  for (const k in value) n += 16 + k.length + estimateBytes((value as Record<string, unknown>)[k], depth + 1);
  return n;
}

/**
 * LRU by bytes: a Map's insertion order is the recency order (a hit re-inserts).
 *
 * Eviction walks one long-lived iterator of the Map rather than asking `keys().next()` each time:
 * V8 leaves a deleted entry's slot in place until the table is rehashed, and a fresh iterator
 * steps over every such slot at the front, so with a full cache each eviction cost time in
 * proportion to the evictions before it, and a put grew many times slower. A live
 * Map iterator skips entries deleted before it reaches them and visits entries added after it was
 * made, in insertion order; every entry it has passed was evicted, so its next key is always the
 * least recently used one.
 */
export class BodyCache {
  private readonly map = new Map<string, { event: StoredEvent; bytes: number }>();
  private order: Iterator<string> | null = null;
  readonly stats: BodyCacheStats;

  constructor(readonly maxBytes: number = DEFAULT_BODY_CACHE_BYTES) {
    this.stats = { hits: 0, misses: 0, entries: 0, bytes: 0, maxBytes, evictions: 0 };
  }

  get(eventId: string): StoredEvent | undefined {
    const hit = this.map.get(eventId);
    if (!hit) return undefined;
    this.map.delete(eventId);
    this.map.set(eventId, hit);
    return hit.event;
  }

  /** Keeps a body the ledger returned; a commit time learnt later fills a cached null one. */
  put(event: StoredEvent): void {
    if (this.maxBytes <= 0) return;
    const id = event.record.eventId;
    const cur = this.map.get(id);
    if (cur) {
      if (cur.event.recordedAt === null && event.recordedAt !== null) cur.event = { ...cur.event, recordedAt: event.recordedAt };
      return;
    }
    const key = Buffer.allocUnsafeSlow(event.key.length);
    event.key.copy(key);
    const stored: StoredEvent = { record: event.record, txId: event.txId, key, recordedAt: event.recordedAt };
    const bytes = ENTRY_OVERHEAD + estimateBytes(event.record) + 2 * id.length + event.txId.length + key.length;
    if (bytes > this.maxBytes) return;
    this.map.set(id, { event: stored, bytes });
    this.stats.bytes += bytes;
    while (this.stats.bytes > this.maxBytes) {
      const oldest = this.oldest();
      this.stats.bytes -= this.map.get(oldest)!.bytes;
      this.map.delete(oldest);
      this.stats.evictions++;
    }
    this.stats.entries = this.map.size;
  }

  /** The least recently used key (the map is not empty). */
  private oldest(): string {
    let next = this.order?.next();
    if (!next || next.done) {
      // Run to the end (or never started): start again from the front, which holds no deleted slots
      // behind the iterator's position yet.
      this.order = this.map.keys();
      next = this.order.next();
    }
    return next.value as string;
  }

  clear(): void {
    this.map.clear();
    this.order = null;
    this.stats.entries = 0;
    this.stats.bytes = 0;
  }
}

/**
 * `ledger` with `getMany` answered from the cache where it can, misses read in one `getMany` of
 * the rest; `readTransactions`, `getVerified` and `getVerifiedFrom` fill it on the way through. Every other call is
 * the ledger's own: `readInBulk` does not fill it, because a rebuild reads every event in key
 * order, not the newest last.
 */
export class BodyCacheLedger<L extends Ledger = Ledger> extends LedgerDecorator<L> {
  private readonly cache: BodyCache;

  constructor(inner: L, options: BodyCacheOptions = {}) {
    super(inner);
    this.cache = new BodyCache(options.maxBytes ?? DEFAULT_BODY_CACHE_BYTES);
  }

  /** The cache's counters (live: they change as it is used). */
  get bodyCache(): BodyCacheStats {
    return this.cache.stats;
  }

  override async getMany(eventIds: readonly string[]): Promise<(StoredEvent | null)[]> {
    const cache = this.cache;
    const out: (StoredEvent | null)[] = new Array(eventIds.length).fill(null);
    const missing: string[] = [];
    const missingAt: number[] = [];
    eventIds.forEach((id, i) => {
      const hit = cache.get(id);
      if (hit) out[i] = hit;
      else {
        missing.push(id);
        missingAt.push(i);
      }
    });
    cache.stats.hits += eventIds.length - missing.length;
    cache.stats.misses += missing.length;
    if (missing.length > 0) {
      const read = await this.inner.getMany(missing);
      read.forEach((e, j) => {
        out[missingAt[j]!] = e;
        if (e) cache.put(e);
      });
    }
    return out;
  }

  override async readTransactions(afterTxId: string, maxTxs: number): Promise<CommittedTx[]> {
    const txs = await this.inner.readTransactions(afterTxId, maxTxs);
    for (const tx of txs) for (const e of tx.events) this.cache.put(e);
    return txs;
  }

  override async getVerified(eventId: string, trusted?: LedgerState): Promise<AppendResult | null> {
    const r = await this.inner.getVerified(eventId, trusted);
    if (r) this.cache.put(r.event);
    return r;
  }

  override async getVerifiedFrom(eventId: string, trustedTxId: string): Promise<AppendResult | null> {
    const r = await this.inner.getVerifiedFrom(eventId, trustedTxId);
    if (r) this.cache.put(r.event);
    return r;
  }
}

/** `ledger` behind a body cache of `options.maxBytes`. */
export function withBodyCache<L extends Ledger>(ledger: L, options: BodyCacheOptions = {}): BodyCachedLedger<L> {
  return new BodyCacheLedger(ledger, options);
}

/** The cache statistics of a ledger opened with `withBodyCache`, else undefined. */
export function bodyCacheStatsOf(ledger: Ledger): BodyCacheStats | undefined {
  return ledger instanceof BodyCacheLedger ? ledger.bodyCache : undefined;
}
