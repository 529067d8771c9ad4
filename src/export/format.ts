/**
 * `auditgraph.export.v1` (docs/export-format.md): NDJSON lines, their encoders, and what the
 * producer (producer.ts) and the verifier (verify.ts) must agree on: the tx window (an LRU of the
 * txs whose proofs were written), the order key, the selection's normalized form, the time window,
 * and the text the closing line's signature covers. Pure.
 *
 * Lines, each one JSON object and `\n`:
 * - header (line 1): format, ledger, database, selection, since/until, the anchor state, its tx
 *   header, the dual proof of tx anchor−1 to it (`anchorLink`), its signed checkpoint, the window
 *   size, createdAt.
 * - tx: a tx header and the per-tx part of its dual proof to the anchor (null for the anchor itself).
 * - event: txId, entry key (base64), KV metadata (hex), the stored value as its exact JSON text,
 *   and its inclusion proof in the tx.
 * - closing: `end`, the counts, the SHA-256 of every earlier line, and a signature.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../events/json.ts';
import { INDEX_FIELDS, type IndexField, type NormalizedFilter } from '../events/filter.ts';
import { MAX_TIMESTAMP_MS } from '../events/time.ts';
import type { AuditEventRecord, Json } from '../events/types.ts';
import type { DualProofJson, LedgerState, TxHeaderJson } from '../proof/types.ts';

export const EXPORT_FORMAT = 'auditgraph.export.v1' as const;
/** Txs whose proofs a reader keeps at once (the header's `window`), by default. */
export const DEFAULT_WINDOW = 1024;
/** The largest window a verifier accepts: its memory stays bounded whatever a file claims. */
export const MAX_WINDOW = 65_536;
/** The longest line a verifier reads (an event of the largest record with its proof is far below). */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;
/** The anchor of an export of an empty ledger. */
export const EMPTY_STATE: LedgerState = Object.freeze({ txId: '0', txHash: '0'.repeat(64) });

/** What the export holds: one correlation's timeline, or the events matching a filter (through the index). */
export type ExportSelection = { correlationId: string } | { filter: FilterJson };

/** A normalized filter in the header: each field's sorted, distinct values (OR), fields ANDed. */
export type FilterJson = Partial<Record<IndexField, string[]>>;

/** A dual proof's part every tx of an export shares (its target is the anchor), with the source tx anchor−1. */
export type AnchorLinkJson = Omit<DualProofJson, 'targetTx'>;

export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  ledger: 'immudb' | 'embedded';
  database: string;
  selection: ExportSelection;
  /** The event-time window [since, until), RFC 3339; null: unbounded. */
  since: string | null;
  until: string | null;
  anchor: LedgerState;
  /** The anchor's tx header; null only for an empty ledger (anchor tx 0). */
  anchorTx: TxHeaderJson | null;
  /** Dual proof from tx anchor−1 to the anchor; null when the anchor is tx 1 (or 0). */
  anchorLink: AnchorLinkJson | null;
  /** The anchor's signed checkpoint (C2SP signed note); null when the gateway signs none. */
  checkpoint: string | null;
  window: number;
  createdAt: string;
}

export interface TxLine {
  tx: TxHeaderJson;
  /** The per-tx part of the dual proof tx → anchor; null for the anchor's own tx. */
  proof: { inclusionProof: string[]; consistencyProof: string[] } | null;
}

export interface EventLine {
  txId: string;
  key: string;
  metadata: string;
  value: string;
  inclusion: { leaf: number; width: number; terms: string[] };
}

export interface ClosingLine {
  end: true;
  events: number;
  txs: number;
  digest: string;
  /** A signed note over closingNoteText, by the checkpoint key; null when the gateway signs none. */
  signature: string | null;
}

const line = (o: unknown): string => `${JSON.stringify(o)}\n`;

export const encodeHeader = (h: ExportHeader): string =>
  line({
    format: h.format,
    ledger: h.ledger,
    database: h.database,
    selection: h.selection,
    since: h.since,
    until: h.until,
    anchor: h.anchor,
    anchorTx: h.anchorTx,
    anchorLink: h.anchorLink,
    checkpoint: h.checkpoint,
    window: h.window,
    createdAt: h.createdAt,
  });

export const encodeTxLine = (t: TxLine): string => line({ tx: t.tx, proof: t.proof });

export const encodeEventLine = (e: EventLine): string =>
  line({
    txId: e.txId,
    key: e.key,
    metadata: e.metadata,
    value: e.value,
    inclusion: { leaf: e.inclusion.leaf, width: e.inclusion.width, terms: e.inclusion.terms },
  });

export const encodeClosing = (c: Omit<ClosingLine, 'end'>): string =>
  line({ end: true, events: c.events, txs: c.txs, digest: c.digest, signature: c.signature });

/** The anchor link of a verified dual proof from tx anchor−1 to the anchor. */
export function anchorLinkOf(dp: DualProofJson): AnchorLinkJson {
  const { targetTx: _anchor, ...link } = dp;
  return link;
}

/**
 * The text the closing line's signature covers, a C2SP signed note body: the key's name (the
 * checkpoint origin), the format, the anchor (txId, base64 hash), the counts, the base64 digest. Its
 * second line is never a number, so it can never be read as a checkpoint.
 */
export function closingNoteText(origin: string, anchor: LedgerState, events: number, txs: number, digestHex: string): string {
  const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
  return `${origin}\n${EXPORT_FORMAT}\n${anchor.txId} ${b64(anchor.txHash)}\n${events} ${txs}\n${b64(digestHex)}\n`;
}

/** SHA-256 over every line before the closing one, as written (each with its `\n`). */
export function lineDigest() {
  return createHash('sha256');
}

/**
 * The txs whose proofs a reader holds: at most `size`, least recently used out first. A tx line
 * adds its tx (most recent); an event line's tx must be in it and becomes the most recent. The
 * producer runs the same window to know when to write a tx line, so both always agree.
 */
export class TxWindow<V> {
  private readonly txs = new Map<string, V>();

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('tx window: size must be a positive integer');
  }

  has(txId: string): boolean {
    return this.txs.has(txId);
  }

  /** The tx's value, made the most recently used; undefined when it is not in the window. */
  use(txId: string): V | undefined {
    const v = this.txs.get(txId);
    if (v === undefined) return undefined;
    this.txs.delete(txId);
    this.txs.set(txId, v);
    return v;
  }

  add(txId: string, value: V): void {
    this.txs.delete(txId);
    this.txs.set(txId, value);
    if (this.txs.size > this.size) this.txs.delete(this.txs.keys().next().value!);
  }
}

/**
 * The event-time window as the header states it: bounds no stored timestamp (1970 to 9999) lies
 * beyond are dropped (they change nothing), an empty window stays empty. Ms in, ms out.
 */
export function exportWindow(since: number | null, until: number | null): { since: number | null; until: number | null } {
  if (since !== null && since > MAX_TIMESTAMP_MS) return { since: MAX_TIMESTAMP_MS, until: MAX_TIMESTAMP_MS };
  const lo = since === null || since <= 0 ? null : Math.ceil(since);
  const hi = until === null || until > MAX_TIMESTAMP_MS ? null : Math.max(0, Math.ceil(until));
  return { since: lo, until: hi };
}

export const isoOrNull = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A normalized filter's terms as the header writes them. */
export function filterJson(f: NormalizedFilter): FilterJson {
  const out: FilterJson = {};
  for (const t of f.terms) out[t.field] = [...t.values];
  return out;
}

/** The header's filter back as a NormalizedFilter (fields in INDEX_FIELDS order). */
export function normalizedOf(f: FilterJson, since: number | null, until: number | null): NormalizedFilter {
  return { terms: INDEX_FIELDS.filter((field) => f[field] !== undefined).map((field) => ({ field, values: f[field]! })), since, until };
}

/**
 * The texts the ledger may hold for a record, most likely first: JSON.stringify's (the canonical
 * text whenever every object's keys are in sorted order, as in a record decoded from the ledger),
 * the canonical encoding, and for a record written before recordedBy existed (read back with
 * recordedBy null) the canonical text without that field. The producer takes the one whose bytes
 * its tx commits to, so a wrong guess costs a hash, never a wrong line.
 */
export function* storedTexts(record: AuditEventRecord): Generator<string, void, undefined> {
  const quick = JSON.stringify(record);
  yield quick;
  const canonical = canonicalJson(record as unknown as Json);
  if (canonical !== quick) yield canonical;
  if (record.recordedBy === null) {
    const { recordedBy: _none, ...legacy } = record;
    yield canonicalJson(legacy as unknown as Json);
  }
}

/** `auditgraph-<db>-<selection>-tx<anchor>.<ext>`, in the characters every file system and header takes. */
export function exportFileName(database: string, selection: ExportSelection | null, anchorTxId: string, ext: 'ndjson' | 'csv'): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  let what = 'all';
  if (selection && 'correlationId' in selection) what = safe(selection.correlationId);
  else if (selection && Object.keys(selection.filter).length > 0) {
    what = `filter-${createHash('sha256').update(JSON.stringify(selection.filter)).digest('hex').slice(0, 12)}`;
  }
  return `auditgraph-${safe(database)}-${what}-tx${anchorTxId}.${ext}`;
}
