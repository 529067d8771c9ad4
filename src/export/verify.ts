/**
 * The offline verifier of `auditgraph.export.v1` files (docs/export-format.md), line by line in
 * constant memory: what it keeps is the header's shared proof part, the window of the last K txs
 * (K = the header's `window`, at most MAX_WINDOW; per tx its version, width and eH), the previous
 * event's position, the counts and a running SHA-256. The proof arithmetic is proof/'s: the dual
 * proofs go through dual-check.ts (as proof bundles and consistency proofs do), entries through
 * hashing.ts and htree.ts. Pure: node:crypto only (the CLI feeds it a file).
 *
 * Public surface: `ExportVerifier` (`push(line, terminated)`, `finish()`), `verifyExportLines`
 * (a whole stream of lines), `EXPORT_CHECKS` (the stable check names), `ExportVerifyResult`.
 *
 * Checks (each failure names its line and one of these):
 * - `json`        the line is UTF-8 JSON (an object), of at most MAX_LINE_BYTES.
 * - `format`      exact fields, types and encodings (as in proof bundles: 64 lowercase hex hashes,
 *                 canonical decimal ids, canonical base64; v2 tx headers), a known format and window.
 * - `anchor`      the anchor tx's header hashes (Alh) to the anchor state, and so does a tx line of
 *                 the anchor itself.
 * - `trusted`     the anchor is the state the reader trusts (`--trusted`, `--checkpoint`).
 * - `checkpoint`  with a key: the header's checkpoint is signed by it and names the anchor.
 * - `dualProof.*` the header's anchor link (tx anchor−1 → anchor) and every tx line's dual proof to
 *                 the anchor, as immudb's VerifyDualProof with both headers linking their
 *                 predecessor (blTxId == id − 1): dualProof.linking, .inclusion, .consistency,
 *                 .lastInclusion, .linear, .sourceTx.
 * - `tx`          a tx line's tx is at or before the anchor, and not in the window already.
 * - `window`      an event's tx had its tx line within the last K txs.
 * - `record`      the value is a stored audit event: canonical JSON of an exact record.
 * - `entry`       the key is that event's timeline key; the KV metadata is canonical (none in v0).
 * - `inclusion`   the entry's digest reaches its tx's eH through the inclusion proof (width = nEntries).
 * - `selection`   the event matches the header's selection and window.
 * - `order`       events strictly increase by (timestamp, eventId): no duplicate, no reordering.
 * - `count`       the closing line's counts are the events and tx lines read.
 * - `digest`      the closing line's digest is the SHA-256 of every earlier line.
 * - `signature`   with a key: the closing line is signed by it (anchor, counts, digest).
 * - `end`         the file ends with the closing line and its newline; nothing follows it.
 */
import { openCheckpoint } from '../checkpoint/checkpoint.ts';
import { openNote, type NoteVerifier } from '../checkpoint/note.ts';
import { decodeRecord } from '../events/canonical.ts';
import { INDEX_FIELDS, matches, type NormalizedFilter } from '../events/filter.ts';
import { isWellFormed } from '../events/json.ts';
import { comparePositions, positionOf, type EventPosition } from '../events/paging.ts';
import { parseCanonicalTimestamp } from '../events/time.ts';
import { timelineKey } from '../ledger/keys.ts';
import { hashList, header, ledgerAndDatabase, obj, parseDualProof, u32, wellFormedString, type ParsedDualProof } from '../proof/bundle-parse.ts';
import { CheckFailed } from '../proof/checks.ts';
import { parseBase64, parseHash, parseHex, parseUint64, toHex } from '../proof/codecs.ts';
import { checkDualProof } from '../proof/dual-check.ts';
import { checkKvMetadata, entryDigest } from '../proof/hashing.ts';
import { verifyHTreeInclusion, type HTreeFolds } from '../proof/htree.ts';
import { txAlh } from '../proof/tx-header.ts';
import type { LedgerState } from '../proof/types.ts';
import { closingNoteText, EXPORT_FORMAT, lineDigest, MAX_LINE_BYTES, MAX_WINDOW, normalizedOf, TxWindow, type FilterJson } from './format.ts';

export const EXPORT_CHECKS = [
  'json',
  'format',
  'anchor',
  'trusted',
  'checkpoint',
  'dualProof.sourceTx',
  'dualProof.targetTx',
  'dualProof.linking',
  'dualProof.inclusion',
  'dualProof.consistency',
  'dualProof.lastInclusion',
  'dualProof.linear',
  'tx',
  'window',
  'record',
  'entry',
  'inclusion',
  'selection',
  'order',
  'count',
  'digest',
  'signature',
  'end',
] as const;
export type ExportCheck = (typeof EXPORT_CHECKS)[number];

/** A failed check, at a 1-based line number. */
export class ExportCheckFailed extends Error {
  constructor(
    readonly line: number,
    readonly check: ExportCheck,
    message: string,
  ) {
    super(message);
  }
}

export interface ExportVerifyOptions {
  /** The anchor must be exactly this state (from `--trusted`, or a checkpoint the reader holds). */
  trusted?: LedgerState;
  /** The checkpoint key: the header's checkpoint and the closing line must both be signed by it. */
  key?: NoteVerifier;
}

export interface ExportSummary {
  events: number;
  txs: number;
  anchor: LedgerState;
  ledger: string;
  database: string;
  summary: string;
}

export type ExportVerifyResult = ({ ok: true } & ExportSummary) | { ok: false; line: number; check: ExportCheck; message: string };

/** What the header gives every later line. */
interface Header {
  ledger: string;
  database: string;
  selectionText: string;
  filter: NormalizedFilter;
  anchor: { txId: bigint; txHash: Buffer; state: LedgerState };
  /** The target side every tx's dual proof shares (null: the anchor is tx 1, or the ledger is empty). */
  shared: Omit<ParsedDualProof, 'source' | 'inclusion' | 'consistency'> | null;
  window: number;
  hasCheckpoint: boolean;
}

/** What the window keeps of a tx: what its entries' inclusion proofs are checked against. */
export interface TxInfo {
  version: number;
  nEntries: number;
  eH: Buffer;
}

/** Parsed inclusion terms and htree folds of one tx's events (a checker keeps one tx's at a time). */
export interface TxMemo {
  txId: string;
  eH: Buffer;
  terms: Map<string, Buffer>;
  folds: HTreeFolds;
}

export const newMemo = (txId: string, tx: TxInfo): TxMemo => ({ txId, eH: tx.eH, terms: new Map(), folds: new Map() });

/** What an event line's own checks give the order check. */
export interface CheckedEvent {
  position: EventPosition;
  eventId: string;
  timestamp: string;
}

const fail = (check: ExportCheck, message: string): never => {
  throw new CheckFailed(check as never, message);
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const HEADER_KEYS = ['format', 'ledger', 'database', 'selection', 'since', 'until', 'anchor', 'anchorTx', 'anchorLink', 'checkpoint', 'window', 'createdAt'];
const LINK_KEYS = ['sourceTx', 'inclusionProof', 'consistencyProof', 'targetBlTxAlh', 'lastInclusionProof', 'linearProof'];

export class ExportVerifier {
  private lineNo = 0;
  private head: Header | null = null;
  private closed = false;
  private txWindow: TxWindow<TxInfo> | null = null;
  private events = 0;
  private txs = 0;
  private last: EventPosition | null = null;
  private readonly digest = lineDigest();
  /** Parsed inclusion terms and htree folds of the tx whose events are being read (one tx at a time). */
  private memo: TxMemo | null = null;
  private checkpointSigned = false;
  private closingSigned = false;

  constructor(private readonly options: ExportVerifyOptions = {}) {}

  /** The next line, without its `\n`; `terminated` false: the file ended inside it. Throws ExportCheckFailed. */
  push(bytes: Uint8Array, terminated = true): void {
    this.lineNo++;
    try {
      if (this.closed) fail('end', 'a line after the closing line');
      if (!terminated) fail('end', 'the file is cut short inside this line (no newline at its end)');
      const o = parseLine(bytes);
      if (this.head === null) this.onHeader(o);
      else if (Object.hasOwn(o, 'end')) this.onClosing(o);
      else if (Object.hasOwn(o, 'tx')) this.onTx(o);
      else this.onEvent(o);
    } catch (e) {
      if (e instanceof CheckFailed) throw new ExportCheckFailed(this.lineNo, e.check as ExportCheck, e.message);
      if (e instanceof ExportCheckFailed) throw e;
      throw new ExportCheckFailed(this.lineNo, 'format', `unverifiable line: ${(e as Error)?.message ?? String(e)}`);
    }
    if (!this.closed) {
      this.digest.update(bytes);
      this.digest.update(NEWLINE);
    }
  }

  /** After the last line. Throws ExportCheckFailed when the file holds no closing line. */
  finish(): ExportSummary {
    const head = this.head;
    if (!head) throw new ExportCheckFailed(1, 'end', 'the file is empty');
    if (!this.closed) throw new ExportCheckFailed(this.lineNo + 1, 'end', `the file is cut short after line ${this.lineNo}: no closing line`);
    const anchored = this.options.trusted
      ? 'the trusted state'
      : this.checkpointSigned
        ? `its checkpoint, signed by ${this.options.key!.name}`
        : `the file's own word (pass --trusted or --key to tie it to a state you trust)${head.hasCheckpoint ? '; checkpoint not checked' : ''}`;
    const closing = this.closingSigned ? `signed by ${this.options.key!.name}` : 'signature not checked';
    const summary =
      `valid: ${this.events} events in ${this.txs} txs of ${head.ledger} ${JSON.stringify(head.database)} (${head.selectionText}), ` +
      `anchored at tx ${head.anchor.state.txId} (${head.anchor.state.txHash}), anchor checked against ${anchored}; closing line ${closing}`;
    return { events: this.events, txs: this.txs, anchor: head.anchor.state, ledger: head.ledger, database: head.database, summary };
  }

  // --- lines -----------------------------------------------------------------------------------

  private onHeader(o: Record<string, unknown>): void {
    const h = obj(o, 'header', HEADER_KEYS);
    if (h.format !== EXPORT_FORMAT) fail('format', `format: expected "${EXPORT_FORMAT}" (line 1 must be the header)`);
    const { ledger, database } = ledgerAndDatabase(h);
    const window = h.window;
    if (!Number.isInteger(window) || (window as number) < 1 || (window as number) > MAX_WINDOW)
      fail('format', `window: expected an integer from 1 to ${MAX_WINDOW}`);
    if (typeof h.createdAt !== 'string' || parseCanonicalTimestamp(h.createdAt) === null) fail('format', 'createdAt: expected an RFC 3339 UTC timestamp');
    const since = bound(h.since, 'since');
    const until = bound(h.until, 'until');
    if (since !== null && until !== null && since > until) fail('format', 'since is after until');
    const { filter, text: selectionText } = selection(h.selection, since, until);

    const a = obj(h.anchor, 'anchor', ['txId', 'txHash']);
    const anchorId = parseUint64(a.txId) ?? fail('format', 'anchor.txId: expected a canonical decimal uint64 string');
    const anchorHash = parseHash(a.txHash) ?? fail('format', 'anchor.txHash: expected 64 lowercase hex chars');
    const state = { txId: anchorId.toString(), txHash: toHex(anchorHash) };
    const trusted = this.options.trusted;
    if (trusted && (trusted.txId !== state.txId || trusted.txHash !== state.txHash)) {
      fail('trusted', `the export is anchored at tx ${state.txId} (${state.txHash}), not at the trusted state tx ${trusted.txId} (${trusted.txHash})`);
    }

    let shared: Header['shared'] = null;
    if (anchorId === 0n) {
      if (!anchorHash.equals(ZERO)) fail('anchor', 'the empty ledger (tx 0) has the all-zero hash');
      if (h.anchorTx !== null || h.anchorLink !== null) fail('format', 'anchorTx and anchorLink are null for an empty ledger');
    } else {
      const anchorTx = header(h.anchorTx, 'anchorTx', true);
      if (anchorTx.id !== anchorId) fail('anchor', `anchorTx.id ${anchorTx.id} != anchor.txId ${anchorId}`);
      if (!txAlh(anchorTx).equals(anchorHash)) fail('anchor', 'anchorTx does not hash to anchor.txHash');
      if (anchorId === 1n) {
        if (h.anchorLink !== null) fail('format', 'anchorLink is null when the anchor is tx 1');
      } else {
        const link = obj(h.anchorLink, 'anchorLink', LINK_KEYS);
        const dp = parseDualProof({ ...link, targetTx: h.anchorTx }, 'anchorLink', true);
        if (dp.source.id !== anchorId - 1n) fail('dualProof.sourceTx', `anchorLink.sourceTx is tx ${dp.source.id}, not tx ${anchorId - 1n}`);
        checkDualProof(dp, txAlh(dp.source), anchorHash);
        shared = { target: dp.target, targetBlTxAlh: dp.targetBlTxAlh, lastInclusion: dp.lastInclusion, linear: dp.linear };
      }
    }

    if (h.checkpoint !== null && typeof h.checkpoint !== 'string') fail('format', 'checkpoint: expected a signed note or null');
    const key = this.options.key;
    if (key) {
      if (h.checkpoint === null) fail('checkpoint', 'the export carries no checkpoint to check the key against');
      const cp = openCheckpoint(h.checkpoint as string, key);
      if (!cp.ok) fail('checkpoint', cp.message);
      else if (cp.checkpoint.txId !== state.txId || cp.checkpoint.txHash !== state.txHash) {
        fail('checkpoint', `the checkpoint names tx ${cp.checkpoint.txId} (${cp.checkpoint.txHash}), not the anchor`);
      }
      this.checkpointSigned = true;
    }

    this.txWindow = new TxWindow(window as number);
    this.head = {
      ledger,
      database,
      selectionText,
      filter,
      anchor: { txId: anchorId, txHash: anchorHash, state },
      shared,
      window: window as number,
      hasCheckpoint: h.checkpoint !== null,
    };
  }

  private onTx(o: Record<string, unknown>): void {
    const head = this.head!;
    const t = obj(o, 'tx line', ['tx', 'proof']);
    const h = header(t.tx, 'tx', true);
    const id = h.id.toString();
    if (h.id > head.anchor.txId) fail('tx', `tx ${id} is after the anchor tx ${head.anchor.txId}`);
    if (this.txWindow!.has(id)) fail('tx', `tx ${id} is in the window already (a repeated tx line)`);
    if (h.id === head.anchor.txId) {
      if (t.proof !== null) fail('format', 'proof: null for the anchor tx');
      if (!txAlh(h).equals(head.anchor.txHash)) fail('anchor', `tx ${id} is the anchor tx but does not hash to anchor.txHash`);
    } else {
      const shared = head.shared ?? fail('tx', `tx ${id} has no anchor link to be proven with`);
      const p = obj(t.proof, 'proof', ['inclusionProof', 'consistencyProof']);
      const dp: ParsedDualProof = {
        ...shared,
        source: h,
        inclusion: hashList(p.inclusionProof, 'proof.inclusionProof'),
        consistency: hashList(p.consistencyProof, 'proof.consistencyProof'),
      };
      checkDualProof(dp, txAlh(h), head.anchor.txHash);
    }
    this.txWindow!.add(id, { version: h.version, nEntries: h.nEntries, eH: h.eH });
    this.txs++;
  }

  private onEvent(o: Record<string, unknown>): void {
    const head = this.head!;
    const txId = typeof o.txId === 'string' ? o.txId : '';
    const tx = this.txWindow!.use(txId) ?? fail('window', `tx ${String(o.txId).slice(0, 24)} has no tx line among the last ${head.window} txs`);
    const memo = this.memo !== null && this.memo.txId === txId && this.memo.eH === tx.eH ? this.memo : newMemo(txId, tx);
    this.memo = memo;
    const checked = checkEventLine(o, tx, head.filter, memo);
    this.ordered(checked);
  }

  /** The order check and the count of an event whose own checks passed (`checkEventLine`). */
  private ordered(e: CheckedEvent): void {
    if (this.last !== null && comparePositions(e.position, this.last) <= 0) {
      fail('order', `event ${e.eventId} (${e.timestamp}) does not come after the previous event: a repeated or reordered line`);
    }
    this.last = e.position;
    this.events++;
  }

  // --- lines checked elsewhere (verify-parallel.ts) ---------------------------------------------

  /** The header's filter, once line 1 was read. */
  get filter(): NormalizedFilter | null {
    return this.head?.filter ?? null;
  }

  /**
   * An event line whose own checks (`checkEventLine`) the caller runs elsewhere: its line number and
   * its tx from the window (`txId`: the line's, which those checks confirm), its bytes counted in the
   * digest. Throws ExportCheckFailed as push does.
   */
  takeEvent(bytes: Uint8Array, txId: string): { line: number; tx: TxInfo } {
    this.lineNo++;
    const line = this.lineNo;
    if (this.closed) throw new ExportCheckFailed(line, 'end', 'a line after the closing line');
    if (this.head === null) throw new ExportCheckFailed(line, 'format', 'line 1 must be the header');
    if (bytes.length > MAX_LINE_BYTES) throw new ExportCheckFailed(line, 'json', `longer than ${MAX_LINE_BYTES} bytes`);
    const tx = this.txWindow!.use(txId);
    if (tx === undefined) throw new ExportCheckFailed(line, 'window', `tx ${txId.slice(0, 24)} has no tx line among the last ${this.head.window} txs`);
    this.digest.update(bytes);
    this.digest.update(NEWLINE);
    return { line, tx };
  }

  /** A taken event's checks passed elsewhere: its order check and count, called in line order. */
  eventChecked(line: number, e: CheckedEvent): void {
    try {
      this.ordered(e);
    } catch (err) {
      if (err instanceof CheckFailed) throw new ExportCheckFailed(line, err.check as ExportCheck, err.message);
      throw err;
    }
  }

  private onClosing(o: Record<string, unknown>): void {
    const head = this.head!;
    const c = obj(o, 'closing line', ['end', 'events', 'txs', 'digest', 'signature']);
    if (c.end !== true) fail('format', 'end: expected true');
    for (const k of ['events', 'txs'] as const) {
      if (!Number.isSafeInteger(c[k]) || (c[k] as number) < 0) fail('format', `${k}: expected a non-negative integer`);
    }
    if (c.events !== this.events) fail('count', `the closing line counts ${c.events} events, the file holds ${this.events}`);
    if (c.txs !== this.txs) fail('count', `the closing line counts ${c.txs} tx lines, the file holds ${this.txs}`);
    const digest = parseHash(c.digest) ?? fail('format', 'digest: expected 64 lowercase hex chars');
    const actual = this.digest.digest();
    if (!digest.equals(actual)) fail('digest', 'the lines before the closing line are not the ones it was written after (SHA-256 differs)');
    if (c.signature !== null && typeof c.signature !== 'string') fail('format', 'signature: expected a signed note or null');
    const key = this.options.key;
    if (key) {
      if (c.signature === null) fail('signature', 'the closing line is not signed');
      const text = attempt('signature', '', () => openNote(c.signature as string, [key]).text);
      if (text !== closingNoteText(key.name, head.anchor.state, this.events, this.txs, toHex(actual))) {
        fail('signature', 'the signed text is not this export’s anchor, counts and digest');
      }
      this.closingSigned = true;
    }
    this.closed = true;
  }
}

/** A line's JSON object: UTF-8 (strict), JSON, an object, at most MAX_LINE_BYTES. Throws CheckFailed (`json`). */
export function parseLine(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length > MAX_LINE_BYTES) fail('json', `longer than ${MAX_LINE_BYTES} bytes`);
  let o: unknown;
  try {
    o = JSON.parse(utf8.decode(bytes));
  } catch (e) {
    fail('json', `not UTF-8 JSON (${(e as Error).message.slice(0, 100)})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail('json', 'not a JSON object');
  return o as Record<string, unknown>;
}

/**
 * An event line's own checks, given its tx from the window: fields and encodings (`format`), the
 * record (`record`), key and metadata (`entry`), the inclusion proof (`inclusion`), the selection
 * (`selection`). What is left is the order, which needs the previous event. `memo` holds the tx's
 * parsed terms and folds (newMemo(txId, tx) for another tx). Throws CheckFailed.
 */
export function checkEventLine(o: Record<string, unknown>, tx: TxInfo, filter: NormalizedFilter, memo: TxMemo): CheckedEvent {
  const e = obj(o, 'event line', ['txId', 'key', 'metadata', 'value', 'inclusion']);
  if (e.txId !== memo.txId) fail('format', 'txId: not the tx this line was read for');
  const key = parseBase64(e.key) ?? fail('format', 'key: expected canonical padded base64');
  const metadata = parseHex(e.metadata) ?? fail('format', 'metadata: expected lowercase hex');
  if (typeof e.value !== 'string' || !isWellFormed(e.value)) fail('format', 'value: expected a well-formed string');
  const value = Buffer.from(e.value as string, 'utf8');

  const record = attempt('record', '', () => decodeRecord(value));
  const expectedKey = attempt('record', 'the event has no timeline key: ', () => timelineKey(record.correlationId, record.timestamp, record.eventId));
  if (!key.equals(expectedKey)) fail('entry', `the key is not the timeline key of event ${record.eventId}`);
  if (tx.version === 0 && metadata.length !== 0) fail('entry', 'an entry of a v0 tx has no metadata');
  const why = checkKvMetadata(metadata);
  if (why) fail('entry', `metadata: ${why}`);

  const inc = obj(e.inclusion, 'inclusion', ['leaf', 'width', 'terms']);
  const leaf = u32(inc.leaf, 'inclusion.leaf');
  const width = u32(inc.width, 'inclusion.width');
  const terms = hashList(inc.terms, 'inclusion.terms', memo.terms);
  if (width !== tx.nEntries) fail('inclusion', `width ${width} != the tx's nEntries ${tx.nEntries}`);
  if (leaf >= width) fail('inclusion', `leaf ${leaf} >= width ${width}`);
  if (!verifyHTreeInclusion(terms, leaf, width, entryDigest(key, value, tx.version, metadata), tx.eH, memo.folds)) {
    fail('inclusion', `the entry of event ${record.eventId} does not reach tx ${memo.txId}'s eH`);
  }
  if (!matches(record, filter)) fail('selection', `event ${record.eventId} is outside the export's selection or window`);
  return { position: positionOf(record), eventId: record.eventId, timestamp: record.timestamp };
}

/** `fn()` (a pure decoder), or a failure of `check` with what it threw: anything it refuses is this line's fault. */
function attempt<T>(check: ExportCheck, prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    return fail(check, prefix + ((e as Error)?.message ?? String(e)));
  }
}

const NEWLINE = Buffer.from('\n');
const ZERO = Buffer.alloc(32);

/** A window bound of the header: null or a canonical RFC 3339 UTC timestamp, in ms. */
function bound(v: unknown, name: string): number | null {
  if (v === null) return null;
  const ms = parseCanonicalTimestamp(v);
  return ms ?? fail('format', `${name}: expected null or an RFC 3339 UTC timestamp (YYYY-MM-DDTHH:MM:SS.sssZ)`);
}

/** The header's selection as the filter every event must match, and a one-line description. */
function selection(v: unknown, since: number | null, until: number | null): { filter: NormalizedFilter; text: string } {
  if (typeof v === 'object' && v !== null && Object.hasOwn(v, 'correlationId')) {
    const s = obj(v, 'selection', ['correlationId']);
    const id = wellFormedString(s.correlationId, 'selection.correlationId');
    if (id.length === 0) fail('format', 'selection.correlationId: empty');
    return { filter: normalizedOf({ correlationId: [id] }, since, until), text: `correlation ${JSON.stringify(id).slice(0, 200)}` };
  }
  const s = obj(v, 'selection', ['filter']);
  const f = s.filter;
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return fail('format', 'selection.filter: expected an object');
  for (const [k, values] of Object.entries(f)) {
    if (!(INDEX_FIELDS as readonly string[]).includes(k)) fail('format', `selection.filter: unknown field "${k.slice(0, 64)}"`);
    if (!Array.isArray(values)) fail('format', `selection.filter.${k}: expected a list of values`);
    for (const [i, x] of (values as unknown[]).entries()) wellFormedString(x, `selection.filter.${k}.${i}`);
  }
  const text = Object.keys(f).length === 0 ? 'every event' : `filter ${JSON.stringify(f).slice(0, 200)}`;
  return { filter: normalizedOf(f as FilterJson, since, until), text };
}

/**
 * Verifies a whole export, given as its lines (splitLines over a file, lines.ts). Never throws
 * for anything in the file; what fails is named by line and check.
 */
export async function verifyExportLines(
  lines: AsyncIterable<{ bytes: Uint8Array; terminated: boolean }>,
  options: ExportVerifyOptions = {},
): Promise<ExportVerifyResult> {
  const v = new ExportVerifier(options);
  try {
    for await (const { bytes, terminated } of lines) v.push(bytes, terminated);
    return { ok: true, ...v.finish() };
  } catch (e) {
    if (e instanceof ExportCheckFailed) return { ok: false, line: e.line, check: e.check, message: e.message };
    throw e;
  }
}
