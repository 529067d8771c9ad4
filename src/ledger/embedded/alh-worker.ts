/**
 * Start-up help for large logs: a worker thread walks the log's frames on its own and computes
 * every record's Alh (sha256(id ‖ prevAlh ‖ sha256(ts ‖ nEntries ‖ eH ‖ blTxId ‖ blRoot)), both
 * spans contiguous in the serialized header) while the main thread checks and indexes records.
 * and checks its crc32. That takes two of the ~four hashes per transaction and the checksums off
 * the main thread.
 *
 * Nothing is trusted from the worker that the main thread could not recompute: each answer
 * carries the record's file offset and is used only for the record the main thread found (with a
 * valid checksum) at that offset; the main thread still checks the chain (prevAlh = previous Alh)
 * itself. The worker stops at the first frame it can't follow; later answers are then computed
 * inline. The worker is plain JavaScript run with `eval`, so it needs no TypeScript loader.
 */
import { Worker } from 'node:worker_threads';

/** Slots in the ring shared with the worker: the worker runs at most this far ahead. */
const RING = 1 << 14;
const SLOT = 8 + 32 + 8; // f64 offset ‖ Alh ‖ checksum ok (1 byte, padded)
// Control words.
const PRODUCED = 0;
const CONSUMED = 1;
const DONE = 2;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const { path, size, start, ring, slot, shared, control, magic, headerOffset, headerSize, minBody, maxBody } = workerData;
const ctrl = new Int32Array(control);
const slots = Buffer.from(shared);
const offsets = new Float64Array(shared);
const hash = typeof crypto.hash === 'function'
  ? (b) => crypto.hash('sha256', b, 'buffer')
  : (b) => crypto.createHash('sha256').update(b).digest();
const fd = fs.openSync(path, 'r');
try {
  let buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  let bufStart = 0, bufLen = 0;
  const ensure = (off, n) => {
    if (off + n > size) return false;
    if (off >= bufStart && off + n <= bufStart + bufLen) return true;
    if (n > buf.length) buf = Buffer.allocUnsafe(n);
    bufStart = off;
    bufLen = Math.min(buf.length, size - off);
    let done = 0;
    while (done < bufLen) {
      const r = fs.readSync(fd, buf, done, bufLen - done, off + done);
      if (r === 0) return false;
      done += r;
    }
    return true;
  };
  const scratch = Buffer.allocUnsafe(72);
  let pos = start, k = 0;
  while (ensure(pos, 8)) {
    const at = pos - bufStart;
    const bodyLen = buf.readUInt32BE(at + 4);
    if (buf.readUInt32BE(at) !== magic || bodyLen < minBody || bodyLen > maxBody) break;
    const total = 12 + bodyLen;
    if (!ensure(pos, total)) break;
    const r = pos - bufStart; // ensure may have moved the window
    const h = r + headerOffset;
    buf.copy(scratch, 0, h, h + 40);
    hash(buf.subarray(h + 40, h + headerSize)).copy(scratch, 40);
    const alh = hash(scratch);
    const crcOk = typeof zlib.crc32 === 'function' && zlib.crc32(buf.subarray(r, r + total - 4)) === buf.readUInt32BE(r + total - 4);
    while (k - Atomics.load(ctrl, 1) >= ring) Atomics.wait(ctrl, 1, Atomics.load(ctrl, 1), 100);
    const s = k % ring;
    offsets[s * (slot / 8)] = pos;
    alh.copy(slots, s * slot + 8);
    slots[s * slot + 40] = crcOk ? 1 : 0;
    k++;
    Atomics.store(ctrl, 0, k);
    if ((k & 63) === 0) Atomics.notify(ctrl, 0);
    pos += total;
  }
} finally {
  Atomics.store(ctrl, 2, 1);
  Atomics.notify(ctrl, 0);
  fs.closeSync(fd);
}
`;

export interface AlhSource {
  /** True if the worker found a valid checksum for the k-th record (0-based) at `offset`. Call before alhAt(k). */
  checksumOk(k: number, offset: number): boolean;
  /** The Alh of the k-th record if the worker computed it for a record at `offset`; else null. Moves on past k. */
  alhAt(k: number, offset: number): Buffer | null;
  stop(): Promise<void>;
}

export function startAlhWorker(options: {
  path: string;
  size: number;
  start: number;
  magic: number;
  headerOffset: number;
  headerSize: number;
  minBody: number;
  maxBody: number;
}): AlhSource {
  const shared = new SharedArrayBuffer(RING * SLOT);
  const control = new SharedArrayBuffer(4 * 4);
  const ctrl = new Int32Array(control);
  const slots = Buffer.from(shared);
  const offsets = new Float64Array(shared);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { ...options, ring: RING, slot: SLOT, shared, control },
    // The worker must not inherit a TypeScript loader it doesn't need.
    execArgv: [],
  });
  worker.unref();
  // A worker that dies still marks itself done (finally); an error before that is covered here.
  worker.on('error', () => {
    Atomics.store(ctrl, DONE, 1);
    Atomics.notify(ctrl, PRODUCED);
  });
  let failed = false;
  /** Waits for slot k; false once the worker stopped before k (or went out of step). */
  const ready = (k: number, offset: number): boolean => {
    if (failed) return false;
    for (;;) {
      const produced = Atomics.load(ctrl, PRODUCED);
      if (produced > k) break;
      if (Atomics.load(ctrl, DONE) === 1 && Atomics.load(ctrl, PRODUCED) <= k) {
        failed = true;
        return false;
      }
      Atomics.wait(ctrl, PRODUCED, produced, 20);
    }
    if (offsets[(k % RING) * (SLOT / 8)] !== offset) failed = true;
    return !failed;
  };
  return {
    checksumOk(k: number, offset: number): boolean {
      return ready(k, offset) && slots[(k % RING) * SLOT + 40] === 1;
    },
    alhAt(k: number, offset: number): Buffer | null {
      const s = k % RING;
      const ok = ready(k, offset);
      const alh = ok ? Buffer.from(slots.subarray(s * SLOT + 8, s * SLOT + 40)) : null;
      Atomics.store(ctrl, CONSUMED, k + 1);
      if ((k & 63) === 0) Atomics.notify(ctrl, CONSUMED);
      return alh;
    },
    async stop() {
      await worker.terminate();
    },
  };
}
