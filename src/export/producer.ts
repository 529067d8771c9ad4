/**
 * The streaming producer of exports (docs/export-format.md): NDJSON with proofs, or CSV. It reads
 * through the ports only: one correlation's timeline (`Ledger.scanTimeline`, ascending, paged) or a
 * filter's events through the index (`EventIndex.query` oldest first, bodies by `Ledger.getMany`,
 * each checked against its index entry as `auditEvents` does), and each tx's proof against the
 * anchor (`Ledger.proveTxAt`, verified by the ledger). The anchor is the gateway's trusted state
 * when the export starts: events of later txs are left out, so writes may go on meanwhile.
 *
 * Memory stays bounded whatever the export's size: one page of events read ahead, at most
 * `cacheTxs` tx proofs (fetched up to `prefetchTxs` txs ahead of the event being written), the tx
 * window (ids only), and the output in chunks the caller writes with back-pressure.
 *
 * Public surface: `prepareExport(deps, request, tuning?)` → `PreparedExport` (what fails before
 * the first byte fails there: anchor, index lag, the first page's budget).
 */
import type { AuditEventFilterInput, NormalizedFilter } from '../events/filter.ts';
import { matches } from '../events/filter.ts';
import { comparePositions, PAGE_SIZE, positionOf } from '../events/paging.ts';
import { AuditError, ErrorCode, verificationFailed } from '../errors.ts';
import type { EventIndex } from '../index/port.ts';
import type { AnchoredTx, Ledger, StoredEvent } from '../ledger/port.ts';
import { toBase64, toHex } from '../proof/codecs.ts';
import type { DualProofJson, LedgerState } from '../proof/types.ts';
import { csvHeader, csvRow } from './csv.ts';
import {
  anchorLinkOf,
  closingNoteText,
  DEFAULT_WINDOW,
  EMPTY_STATE,
  encodeClosing,
  encodeEventLine,
  encodeHeader,
  encodeTxLine,
  EXPORT_FORMAT,
  exportFileName,
  isoOrNull,
  lineDigest,
  storedTexts,
  TxWindow,
  type AnchorLinkJson,
  type ExportHeader,
} from './format.ts';
import type { ExportRequest } from './request.ts';

/** Signs the anchor's checkpoint and the closing line with the gateway's checkpoint key. */
export interface ExportSigner {
  /** The checkpoint origin: the key's name. */
  readonly origin: string;
  checkpoint(state: LedgerState): string;
  /** A signed note of `text` (never checkpoint-shaped text: closingNoteText). */
  signNote(text: string): string;
}

export interface ExportDeps {
  ledger: Ledger;
  /** Needed for a filter's export (INDEX_UNAVAILABLE without it). */
  index?: EventIndex;
  /** Absent: the header's checkpoint and the closing signature are null. */
  signer?: ExportSigner;
  /** Charged before each page of events is read (the first in prepareExport), with its size; may wait, or throw to refuse. */
  charge?: (events: number) => Promise<void>;
  now?: () => Date;
}

export interface ExportTuning {
  /** Events read per page (at most 500: the index's largest page). */
  pageSize?: number;
  /** The header's window K. */
  window?: number;
  /** Tx proofs held at once, and how many txs ahead of the current event they are fetched. */
  cacheTxs?: number;
  prefetchTxs?: number;
  /** Output is handed out in chunks of about this many bytes (whole lines). */
  chunkBytes?: number;
  /** How long a filter's export waits for the index to reach the anchor before INDEX_UNAVAILABLE. */
  indexWaitMs?: number;
}

export interface PreparedExport {
  anchor: LedgerState;
  fileName: string;
  contentType: string;
  /** The file in chunks of whole lines. A failure mid-way throws: what was handed out then lacks the closing line. */
  chunks(): AsyncGenerator<Buffer, void, undefined>;
  /** Events (and tx lines) handed out so far. */
  readonly progress: { events: number; txs: number };
}

const DEFAULTS: Required<ExportTuning> = {
  pageSize: PAGE_SIZE.max,
  window: DEFAULT_WINDOW,
  cacheTxs: 32,
  prefetchTxs: 8,
  chunkBytes: 64 * 1024,
  indexWaitMs: 10_000,
};

export async function prepareExport(deps: ExportDeps, request: ExportRequest, tuning: ExportTuning = {}): Promise<PreparedExport> {
  const t = { ...DEFAULTS, ...tuning };
  if (t.cacheTxs < t.prefetchTxs + 2) throw new RangeError('export tuning: cacheTxs must exceed prefetchTxs by 2');
  const { ledger } = deps;
  const anchor = await ledger.trustedState();
  const anchorId = BigInt(anchor.txId);
  const index = deps.index;
  if (request.indexFilter !== null) {
    if (!index)
      throw new AuditError(ErrorCode.INDEX_UNAVAILABLE, 'Exporting a filter needs the event index, and this server has none: export one correlation instead.');
    if (anchorId > 0n) await waitForIndex(index, anchorId, t.indexWaitMs);
  }
  // Refused before the first byte: a client over its budget gets RATE_LIMITED, not a cut file.
  await deps.charge?.(t.pageSize);

  const progress = { events: 0, txs: 0 };
  // Every page after the first is charged before it is read.
  const more = async () => deps.charge?.(t.pageSize);
  const source =
    request.indexFilter !== null
      ? indexPages(index!, ledger, request.indexFilter, request.filter, t.pageSize, more)
      : timelinePages(ledger, request, t.pageSize, more);
  // The proofs of a page's first txs are asked for as soon as the page is read, ahead of its turn.
  const proofs = request.format === 'ndjson' && anchorId > 0n ? new ProofCache(ledger, anchor, t.cacheTxs) : null;
  const pages = readAhead(withinAnchor(source, anchorId, (events) => proofs?.prefetch(events, t.prefetchTxs)));
  const fileName = exportFileName(ledger.database, request.selection, anchor.txId, request.format);

  if (request.format === 'csv') {
    return {
      anchor,
      fileName,
      contentType: 'text/csv; charset=utf-8; header=present',
      progress,
      chunks: () => csvChunks(ledger, pages, t.chunkBytes, progress),
    };
  }

  const first = anchorId > 0n ? await ledger.proveTxAt(anchorId > 1n ? (anchorId - 1n).toString() : '1', anchor) : null;
  const header: ExportHeader = {
    format: EXPORT_FORMAT,
    ledger: ledger.kind,
    database: ledger.database,
    selection: request.selection,
    since: isoOrNull(request.since),
    until: isoOrNull(request.until),
    anchor: anchorId > 0n ? { txId: anchor.txId, txHash: anchor.txHash } : EMPTY_STATE,
    anchorTx: first === null ? null : (first.dualProof?.targetTx ?? first.tx),
    anchorLink: first?.dualProof ? anchorLinkOf(first.dualProof) : null,
    checkpoint: anchorId > 0n && deps.signer ? deps.signer.checkpoint(anchor) : null,
    window: t.window,
    createdAt: (deps.now?.() ?? new Date()).toISOString(),
  };
  return {
    anchor,
    fileName,
    contentType: 'application/x-ndjson; charset=utf-8',
    progress,
    chunks: () =>
      ndjsonChunks({ signer: deps.signer, anchor, header, pages, proofs: proofs ?? new ProofCache(ledger, anchor, t.cacheTxs), tuning: t, progress, first }),
  };
}

// --- NDJSON ------------------------------------------------------------------------------------

interface NdjsonRun {
  signer: ExportSigner | undefined;
  anchor: LedgerState;
  header: ExportHeader;
  pages: AsyncGenerator<StoredEvent[], void, undefined>;
  proofs: ProofCache;
  tuning: Required<ExportTuning>;
  progress: { events: number; txs: number };
  /** The proof of tx anchor−1 (or of tx 1) the header was made from: the first one cached. */
  first: AnchoredTx | null;
}

async function* ndjsonChunks(run: NdjsonRun): AsyncGenerator<Buffer, void, undefined> {
  const { header, anchor, tuning, progress } = run;
  const digest = lineDigest();
  const out = new Chunks(tuning.chunkBytes, (b) => digest.update(b));
  const window = new TxWindow<true>(header.window);
  const { proofs } = run;
  if (run.first) proofs.put(run.first);
  const link = header.anchorLink;
  try {
    out.add(encodeHeader(header));
    for await (const events of run.pages) {
      // Proofs are asked for in the order the page needs them, up to prefetchTxs txs ahead.
      const order: string[] = [];
      const rank = new Map<string, number>();
      for (const e of events) {
        if (!rank.has(e.txId)) {
          rank.set(e.txId, order.length);
          order.push(e.txId);
        }
      }
      let asked = 0;
      for (const e of events) {
        const at = rank.get(e.txId)!;
        for (; asked < order.length && asked <= at + tuning.prefetchTxs; asked++) proofs.request(order[asked]!);
        const proven = await proofs.request(e.txId);
        let entry: ReturnType<AnchoredTx['entry']> = null;
        let value: string | undefined;
        for (const text of storedTexts(e.record)) {
          entry = proven.entry(e.key, Buffer.from(text, 'utf8'));
          if (entry) {
            value = text;
            break;
          }
        }
        if (!entry || value === undefined) throw verificationFailed(`event ${e.record.eventId} is not the entry tx ${e.txId} holds under its key`);
        if (window.use(e.txId) === undefined) {
          out.add(encodeTxLine({ tx: proven.tx, proof: proven.dualProof ? perTxPart(proven.dualProof, link, e.txId) : null }));
          window.add(e.txId, true);
          progress.txs++;
        }
        out.add(
          encodeEventLine({
            txId: e.txId,
            key: toBase64(e.key),
            metadata: toHex(entry.metadata),
            value,
            inclusion: { leaf: entry.leaf, width: proven.tx.nEntries, terms: entry.terms },
          }),
        );
        progress.events++;
        if (out.full) yield out.take();
      }
    }
    if (out.pending > 0) yield out.take();
    const hex = digest.digest('hex');
    const signature =
      run.signer && anchor.txId !== '0' ? run.signer.signNote(closingNoteText(run.signer.origin, header.anchor, progress.events, progress.txs, hex)) : null;
    yield Buffer.from(encodeClosing({ events: progress.events, txs: progress.txs, digest: hex, signature }), 'utf8');
  } finally {
    await run.pages.return(undefined);
  }
}

/**
 * The part of a tx's dual proof its tx line carries; the rest is the header's anchor link, which
 * every dual proof to the anchor shares (same target, same start of the linear proof).
 */
function perTxPart(dp: DualProofJson, link: AnchorLinkJson | null, txId: string): { inclusionProof: string[]; consistencyProof: string[] } {
  const same =
    link !== null &&
    dp.targetBlTxAlh === link.targetBlTxAlh &&
    dp.lastInclusionProof.join() === link.lastInclusionProof.join() &&
    JSON.stringify(dp.linearProof) === JSON.stringify(link.linearProof);
  if (!same) throw verificationFailed(`the dual proof of tx ${txId} to the anchor does not share the anchor link`);
  return { inclusionProof: dp.inclusionProof, consistencyProof: dp.consistencyProof };
}

/** Tx proofs by txId, the least recently asked for out first (a proof still in flight may go: it is asked for again). */
class ProofCache {
  private readonly map = new Map<string, Promise<AnchoredTx>>();

  constructor(
    private readonly ledger: Ledger,
    private readonly anchor: LedgerState,
    private readonly max: number,
  ) {}

  /** Asks for the proofs of the first `count` txs of `events` (in the order they come). */
  prefetch(events: readonly StoredEvent[], count: number): void {
    const seen = new Set<string>();
    for (const e of events) {
      if (seen.size >= count) return;
      if (seen.has(e.txId)) continue;
      seen.add(e.txId);
      this.request(e.txId);
    }
  }

  put(proof: AnchoredTx): void {
    this.set(proof.tx.id, Promise.resolve(proof));
  }

  request(txId: string): Promise<AnchoredTx> {
    const known = this.map.get(txId);
    if (known) {
      this.map.delete(txId);
      this.map.set(txId, known);
      return known;
    }
    const p = this.ledger.proveTxAt(txId, this.anchor);
    // Awaited when its event comes; a prefetch dropped unused must not be an unhandled rejection.
    p.catch(() => undefined);
    this.set(txId, p);
    return p;
  }

  private set(txId: string, p: Promise<AnchoredTx>): void {
    this.map.set(txId, p);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}

// --- CSV ---------------------------------------------------------------------------------------

async function* csvChunks(
  ledger: Ledger,
  pages: AsyncGenerator<StoredEvent[], void, undefined>,
  chunkBytes: number,
  progress: { events: number },
): AsyncGenerator<Buffer, void, undefined> {
  const out = new Chunks(chunkBytes);
  try {
    out.add(csvHeader());
    for await (const events of pages) {
      const missing = [...new Set(events.filter((e) => e.recordedAt === null).map((e) => e.txId))];
      const times = new Map<string, string | null>();
      if (missing.length > 0) {
        const at = await ledger.commitTimes(missing);
        for (let i = 0; i < missing.length; i++) times.set(missing[i]!, at[i] ?? null);
      }
      for (const e of events) {
        out.add(csvRow(e.record, { txId: e.txId, key: e.key, recordedAt: e.recordedAt ?? times.get(e.txId) ?? null }));
        progress.events++;
      }
      if (out.full) yield out.take();
    }
    if (out.pending > 0) yield out.take();
  } finally {
    await pages.return(undefined);
  }
}

// --- reading events ----------------------------------------------------------------------------

/** One correlation's events in timeline order, page by page. */
async function* timelinePages(
  ledger: Ledger,
  request: ExportRequest,
  pageSize: number,
  more: () => Promise<void>,
): AsyncGenerator<StoredEvent[], void, undefined> {
  const correlationId = 'correlationId' in request.selection ? request.selection.correlationId : '';
  let after: { timestamp: string; eventId: string } | undefined;
  for (;;) {
    if (after) await more();
    const page = await ledger.scanTimeline(correlationId, {
      ...(after ? { after } : {}),
      limit: pageSize,
      direction: 'asc',
      ...(request.since !== null ? { since: request.since } : {}),
      ...(request.until !== null ? { until: request.until } : {}),
    });
    yield page.events;
    const last = page.events[page.events.length - 1];
    if (!page.hasMore || !last) return;
    after = { timestamp: last.record.timestamp, eventId: last.record.eventId };
  }
}

/**
 * A filter's events, oldest first, through the index: each page's bodies from the ledger, an entry
 * the ledger does not back exactly (no such event, another position, outside the filter) dropped.
 */
async function* indexPages(
  index: EventIndex,
  ledger: Ledger,
  filter: AuditEventFilterInput,
  normalized: NormalizedFilter,
  pageSize: number,
  more: () => Promise<void>,
): AsyncGenerator<StoredEvent[], void, undefined> {
  let after: string | null = null;
  for (;;) {
    if (after !== null) await more();
    const page = await index.query({ filter, orderBy: 'TIMESTAMP_ASC', first: pageSize, after });
    const stored = await ledger.getMany(page.edges.map((e) => e.eventId));
    const events: StoredEvent[] = [];
    page.edges.forEach((edge, i) => {
      const node = stored[i];
      if (node && comparePositions(positionOf(node.record), edge.position) === 0 && matches(node.record, normalized)) events.push(node);
    });
    yield events;
    if (!page.pageInfo.hasNextPage || page.pageInfo.endCursor === null) return;
    after = page.pageInfo.endCursor;
  }
}

/** Pages without the events of txs after the anchor; `onPage` sees each as soon as it is read. */
async function* withinAnchor(
  pages: AsyncGenerator<StoredEvent[], void, undefined>,
  anchorId: bigint,
  onPage: (events: StoredEvent[]) => void,
): AsyncGenerator<StoredEvent[], void, undefined> {
  try {
    for await (const page of pages) {
      const events = page.filter((e) => BigInt(e.txId) <= anchorId);
      if (events.length === 0) continue;
      onPage(events);
      yield events;
    }
  } finally {
    await pages.return(undefined);
  }
}

/** Keeps the next page's read in flight while the caller works on the current one. */
async function* readAhead<T>(source: AsyncGenerator<T, void, undefined>): AsyncGenerator<T, void, undefined> {
  let next = source.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) return;
      next = source.next();
      next.catch(() => undefined); // awaited on the next turn, or dropped when the caller stops
      yield r.value;
    }
  } finally {
    // A read still in flight finishes first; whatever it says no longer matters.
    await next.then(
      () => source.return(undefined),
      () => undefined,
    );
  }
}

/** Waits (briefly) for the index to have applied the anchor's tx; INDEX_UNAVAILABLE otherwise. */
async function waitForIndex(index: EventIndex, anchorId: bigint, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let delay = 20; ; delay = Math.min(2 * delay, 500)) {
    const at = await index.checkpoint();
    if (at !== null && BigInt(at) >= anchorId) return;
    if (Date.now() >= deadline) {
      throw new AuditError(
        ErrorCode.INDEX_UNAVAILABLE,
        `The event index has not caught up with tx ${anchorId}, the ledger state this export is anchored to (it is at ${at ?? 'nothing'}); try again shortly.`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Output lines gathered into chunks of about `target` bytes; `onChunk` sees each chunk's bytes (the digest). */
class Chunks {
  private parts: string[] = [];
  /** UTF-16 code units gathered: about the bytes (exact for ASCII, which nearly all of it is). */
  private length = 0;

  constructor(
    private readonly target: number,
    private readonly onChunk?: (b: Buffer) => void,
  ) {}

  add(line: string): void {
    this.parts.push(line);
    this.length += line.length;
  }

  get pending(): number {
    return this.length;
  }

  get full(): boolean {
    return this.length >= this.target;
  }

  take(): Buffer {
    const b = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.length = 0;
    this.onChunk?.(b);
    return b;
  }
}
