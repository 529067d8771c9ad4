/**
 * The embedded ledger's transaction log: one append-only file per database.
 *
 * File layout (integers big-endian):
 *
 *   file header (16 bytes)   "AGLEDGER" ‖ u32 version (1) ‖ u32 crc32 of the 12 bytes before
 *   record*                  one per committed transaction:
 *     u32 magic "AGTX" ‖ u32 bodyLen ‖ body ‖ u32 crc32(magic ‖ bodyLen ‖ body)
 *     body = tx header (124 bytes, immudb 1.1's TxMetadata serialization: id, prevAlh, ts,
 *            nEntries, eH, blTxId, blRoot — see encodeTxHeader)
 *            ‖ nEntries × (u32 kLen ‖ key ‖ u32 vLen ‖ value)
 *
 * Keys and values are stored as immudb's store holds them (with the database layer's one-byte
 * prefixes), so each entry's digest is kvDigest(key, value) exactly as in immudb and proofs need
 * no translation.
 *
 * Recovery (scanLog): records are read in order. A framing or checksum failure is a torn tail
 * when no intact record follows it (a crash can only leave the one unacknowledged write, or the
 * zeros of a grown file, after the last fsync): the caller truncates there. When an intact record
 * does follow, the damage is in the middle of acknowledged history and scanLog refuses with a
 * LogCorruptionError naming the offset. Records whose checksum holds but whose content is wrong
 * (chain, layout) cannot come from a crash and are refused wherever they are.
 */
import { closeSync, fdatasync, fstatSync, fsyncSync, openSync, read, readSync, renameSync, write, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import zlib from 'node:zlib';
import { verificationFailed } from '../../errors.ts';
import { TX_HEADER_SIZE } from '../../proof/tx-header.ts';

export const FILE_MAGIC = Buffer.from('AGLEDGER', 'latin1');
export const FILE_VERSION = 1;
export const FILE_HEADER_SIZE = 16;
export const RECORD_MAGIC = 0x41475458; // "AGTX"
const RECORD_MAGIC_BYTES = Buffer.from('AGTX', 'latin1');
/** magic + bodyLen before the body, crc after it. */
export const FRAME_HEAD = 8;
export const FRAME_OVERHEAD = 12;
/** A record's body is at least a header and one entry with a 1-byte key. */
export const MIN_BODY = TX_HEADER_SIZE + 4 + 1 + 4;
/** Bodies are capped so a corrupted length can't make recovery allocate gigabytes. */
export const MAX_BODY = 1024 * 1024 * 1024;

/** Offset of the tx header inside a record, and of the first entry. */
export const HEADER_OFFSET = FRAME_HEAD;
export const ENTRIES_OFFSET = FRAME_HEAD + TX_HEADER_SIZE;

/** Where a reader that does not parse records (the Alh worker) finds what it needs in the log. */
export const RECORD_LAYOUT = {
  start: FILE_HEADER_SIZE,
  magic: RECORD_MAGIC,
  headerOffset: HEADER_OFFSET,
  headerSize: TX_HEADER_SIZE,
  minBody: MIN_BODY,
  maxBody: MAX_BODY,
} as const;

const crc32: (data: Uint8Array, value?: number) => number = typeof zlib.crc32 === 'function' ? zlib.crc32 : crc32Fallback; // zlib.crc32: Node >= 20.15

export interface LogEntry {
  /** As stored: immudb's key prefix included. */
  key: Uint8Array;
  /** As stored: immudb's value prefix included. */
  value: Uint8Array;
}

/** Thrown when acknowledged history is damaged: the ledger must not be served. */
export class LogCorruptionError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`embedded ledger ${file} is corrupt at byte offset ${offset}: ${reason}; refusing to start (restore the file from a backup)`);
    this.name = 'LogCorruptionError';
  }
}

export function fileHeader(): Buffer {
  const b = Buffer.alloc(FILE_HEADER_SIZE);
  FILE_MAGIC.copy(b, 0);
  b.writeUInt32BE(FILE_VERSION, 8);
  b.writeUInt32BE(crc32(b.subarray(0, 12)), 12);
  return b;
}

/** One transaction as a framed, checksummed record. `header` is encodeTxHeader's output. */
export function encodeRecord(header: Uint8Array, entries: readonly LogEntry[]): Buffer {
  if (header.length !== TX_HEADER_SIZE) throw new RangeError('bad tx header size');
  let bodyLen = TX_HEADER_SIZE;
  for (const e of entries) bodyLen += 8 + e.key.length + e.value.length;
  if (bodyLen > MAX_BODY) throw new RangeError(`transaction of ${bodyLen} bytes exceeds ${MAX_BODY}`);
  const b = Buffer.allocUnsafe(FRAME_OVERHEAD + bodyLen);
  b.writeUInt32BE(RECORD_MAGIC, 0);
  b.writeUInt32BE(bodyLen, 4);
  b.set(header, HEADER_OFFSET);
  let p = ENTRIES_OFFSET;
  for (const e of entries) {
    b.writeUInt32BE(e.key.length, p);
    b.set(e.key, p + 4);
    p += 4 + e.key.length;
    b.writeUInt32BE(e.value.length, p);
    b.set(e.value, p + 4);
    p += 4 + e.value.length;
  }
  b.writeUInt32BE(crc32(b.subarray(0, p)), p);
  return b;
}

/** Does `record` (a whole frame) carry a valid checksum? */
export function recordChecksumOk(record: Buffer): boolean {
  if (record.length < FRAME_OVERHEAD) return false;
  const end = record.length - 4;
  return crc32(record.subarray(0, end)) === record.readUInt32BE(end);
}

/** Positions of one entry inside a record buffer. */
export interface EntrySpan {
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
}

/**
 * Walks the entries of a record whose frame and checksum were verified; `visit` gets offsets
 * relative to the record. Throws (a layout error) when they do not fill the body exactly.
 */
export function forEachEntry(record: Buffer, nEntries: number, visit: (i: number, s: EntrySpan) => void): void {
  const end = record.length - 4;
  let p = ENTRIES_OFFSET;
  const span: EntrySpan = { keyStart: 0, keyEnd: 0, valueStart: 0, valueEnd: 0 };
  for (let i = 0; i < nEntries; i++) {
    if (p + 4 > end) throw new Error(`entry ${i} runs past the record`);
    const kLen = record.readUInt32BE(p);
    span.keyStart = p + 4;
    span.keyEnd = span.keyStart + kLen;
    if (kLen === 0 || span.keyEnd + 4 > end) throw new Error(`entry ${i}: bad key length ${kLen}`);
    const vLen = record.readUInt32BE(span.keyEnd);
    span.valueStart = span.keyEnd + 4;
    span.valueEnd = span.valueStart + vLen;
    if (span.valueEnd > end) throw new Error(`entry ${i}: bad value length ${vLen}`);
    visit(i, span);
    p = span.valueEnd;
  }
  if (p !== end) throw new Error(`${end - p} stray bytes after the last entry`);
}

/** Creates the file with its header, atomically (temp file + rename), or checks an existing header. */
export function openOrCreateLog(path: string): { fd: number; size: number; created: boolean } {
  let fd: number;
  let created = false;
  try {
    fd = openSync(path, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const tmp = `${path}.tmp`;
    const t = openSync(tmp, 'w');
    try {
      writeSync(t, fileHeader());
      fsyncSync(t);
    } finally {
      closeSync(t);
    }
    renameSync(tmp, path);
    fsyncDir(dirname(path));
    fd = openSync(path, 'r+');
    created = true;
  }
  const size = fstatSync(fd).size;
  const head = Buffer.alloc(FILE_HEADER_SIZE);
  const got = size >= FILE_HEADER_SIZE ? readSync(fd, head, 0, FILE_HEADER_SIZE, 0) : 0;
  if (got !== FILE_HEADER_SIZE || !head.equals(fileHeader())) {
    closeSync(fd);
    throw new LogCorruptionError(path, 0, 'not an auditgraph ledger file of version 1 (bad file header)');
  }
  return { fd, size, created };
}

export function fsyncDir(dir: string): void {
  const d = openSync(dir, 'r');
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}

export interface ScanResult {
  /** Offset just past the last intact record: where the next one goes. */
  end: number;
  records: number;
  /** Set when bytes after `end` were not an intact record and nothing intact follows them. */
  tornTail: { offset: number; length: number; reason: string } | null;
}

/** Read size: small enough that a chunk is still in cache while its records are parsed (much larger chunks were slower). */
const CHUNK = 1024 * 1024;

/**
 * Reads every record of the file in order, hands each intact one to `onRecord` (as its position
 * `start` and `length` in a reused buffer: copy what you keep; no per-record view is made, start-up
 * sees a million records), and finds where the log really ends. `checksummed` lets a
 * helper that read the same bytes vouch for a record's checksum (the start-up worker). `onRecord` throwing
 * means the content is wrong though the checksum holds: that is refused as corruption at that
 * record's offset. Sequential synchronous reads: start-up does nothing else meanwhile.
 */
export function scanLog(
  path: string,
  fd: number,
  size: number,
  onRecord: (buf: Buffer, start: number, length: number, offset: number) => void,
  /** true when the k-th record (0-based), found at `offset`, was already checksummed elsewhere. */
  checksummed?: (k: number, offset: number) => boolean,
): ScanResult {
  let buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)));
  let bufStart = 0;
  let bufLen = 0;
  /** Makes file bytes [off, off + n) available at buf[off - bufStart]; false past EOF. */
  const ensure = (off: number, n: number): boolean => {
    if (off + n > size) return false;
    if (off >= bufStart && off + n <= bufStart + bufLen) return true;
    if (n > buf.length) buf = Buffer.allocUnsafe(n);
    bufStart = off;
    bufLen = Math.min(buf.length, size - off);
    readFully(fd, buf, bufLen, off);
    return true;
  };

  let pos = FILE_HEADER_SIZE;
  let records = 0;
  while (pos < size) {
    let problem: string | null = null;
    let total = 0;
    if (!ensure(pos, FRAME_HEAD)) problem = `incomplete record frame (${size - pos} bytes left)`;
    else {
      const magic = buf.readUInt32BE(pos - bufStart);
      const bodyLen = buf.readUInt32BE(pos - bufStart + 4);
      total = FRAME_OVERHEAD + bodyLen;
      if (magic !== RECORD_MAGIC) problem = 'bad record magic';
      else if (bodyLen < MIN_BODY || bodyLen > MAX_BODY) problem = `impossible record length ${bodyLen}`;
      else if (!ensure(pos, total)) problem = `incomplete record (${total} bytes announced, ${size - pos} left)`;
      else if (!checksummed?.(records, pos) && !recordChecksumOk(buf.subarray(pos - bufStart, pos - bufStart + total))) problem = 'checksum mismatch';
    }
    if (problem !== null) {
      const next = findIntactRecord(fd, size, pos + 1);
      if (next !== null) throw new LogCorruptionError(path, pos, `${problem}, and an intact record follows at offset ${next}`);
      return { end: pos, records, tornTail: { offset: pos, length: size - pos, reason: problem } };
    }
    try {
      onRecord(buf, pos - bufStart, total, pos);
    } catch (e) {
      if (e instanceof LogCorruptionError) throw e;
      throw new LogCorruptionError(path, pos, (e as Error).message);
    }
    records++;
    pos += total;
  }
  return { end: pos, records, tornTail: null };
}

/** First offset >= from holding a frame with a valid checksum, or null. Only runs on damage. */
export function findIntactRecord(fd: number, size: number, from: number): number | null {
  const window = Buffer.allocUnsafe(CHUNK);
  for (let start = from; start < size; ) {
    const len = Math.min(window.length, size - start);
    readFully(fd, window, len, start);
    const view = window.subarray(0, len);
    for (let i = view.indexOf(RECORD_MAGIC_BYTES); i >= 0; i = view.indexOf(RECORD_MAGIC_BYTES, i + 1)) {
      const at = start + i;
      if (at + FRAME_HEAD > size) break;
      const head = Buffer.allocUnsafe(FRAME_HEAD);
      readFully(fd, head, FRAME_HEAD, at);
      const bodyLen = head.readUInt32BE(4);
      if (bodyLen < MIN_BODY || bodyLen > MAX_BODY || at + FRAME_OVERHEAD + bodyLen > size) continue;
      const rec = Buffer.allocUnsafe(FRAME_OVERHEAD + bodyLen);
      readFully(fd, rec, rec.length, at);
      if (recordChecksumOk(rec)) return at;
    }
    if (start + len >= size) break;
    start += len - (RECORD_MAGIC_BYTES.length - 1); // overlap: a magic across the boundary is seen
  }
  return null;
}

export function readFully(fd: number, buf: Buffer, len: number, position: number): void {
  let done = 0;
  while (done < len) {
    const n = readSync(fd, buf, done, len - done, position + done);
    if (n === 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += n;
  }
}

/** fs.write at `position`, as a promise. */
export function fdWrite(fd: number, buf: Buffer, off: number, len: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, buf, off, len, position, (e, n) => (e ? reject(e) : resolve(n))));
}

/** fs.fdatasync, as a promise. */
export function fdDatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));
}

/** Fills `buf` from the log at `position`; a log that ends first fails verification. */
export async function readAt(fd: number, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const n = await new Promise<number>((resolve, reject) => read(fd, buf, done, buf.length - done, position + done, (e, r) => (e ? reject(e) : resolve(r))));
    if (n === 0) throw verificationFailed(`the log ends before offset ${position + buf.length}`);
    done += n;
  }
}

// ---------------------------------------------------------------------------------------------

let table: Int32Array | null = null;

/** Plain table-driven CRC-32 (IEEE), for Node versions without zlib.crc32. */
function crc32Fallback(data: Uint8Array, value = 0): number {
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
