/**
 * Start-up help for large logs: a worker thread walks the log's frames on its own, checks each
 * record's crc32 and computes its Alh (sha256(id ‖ prevAlh ‖ sha256(ts ‖ nEntries ‖ eH ‖ blTxId ‖
 * blRoot)), both spans contiguous in the serialized header) while the main thread checks and
 * indexes records. That takes two of the ~four hashes per transaction and the checksums off the
 * main thread when a second core is free.
 *
 * The main thread never waits for the worker: an answer that isn't there yet is computed inline,
 * and a worker that fell behind jumps to where the main thread is. Nothing is trusted that the
 * main thread could not recompute: every answer carries the file offset it was computed at and is
 * used only for the record the main thread found at that offset; the main thread still checks the
 * chain (prevAlh = previous Alh) itself. The worker is plain JavaScript run with `eval`, so it
 * needs no TypeScript loader.
 */
import { Worker } from 'node:worker_threads';

/** Slots in the ring shared with the worker: the worker runs at most this far ahead. */
const RING = 1 << 14;
const SLOT = 8 + 32 + 8; // f64 offset ‖ Alh ‖ checksum ok (1 byte, padded)
// Control words (Int32): answers written up to (k + 1), main's next k, worker done, main's current k (-1 while updating).
const PRODUCED = 0;
const CONSUMED = 1;
const DONE = 2;
const MAIN_K = 3;
/** The main thread publishes its position this often (records). */
const PUBLISH_EVERY = 64;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const { path, size, start, ring, slot, shared, control, mainPos, magic, headerOffset, headerSize, minBody, maxBody } = workerData;
const ctrl = new Int32Array(control);
const mainOffset = new Float64Array(mainPos);
const slots = Buffer.from(shared);
const offsets = new Float64Array(shared);
const hash = typeof crypto.hash === 'function'
  ? (b) => crypto.hash('sha256', b, 'buffer')
  : (b) => crypto.createHash('sha256').update(b).digest();
const crc32 = typeof zlib.crc32 === 'function' ? zlib.crc32 : null;
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
  for (;;) {
    if ((k & 63) === 0) {
      // Behind the main thread: answers for records it already passed are useless, jump ahead.
      const k1 = Atomics.load(ctrl, 3);
      const off = mainOffset[0];
      const k2 = Atomics.load(ctrl, 3);
      if (k1 >= 0 && k1 === k2 && k1 > k) { k = k1; pos = off; }
    }
    if (!ensure(pos, 8)) break;
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
    const crcOk = crc32 !== null && crc32(buf.subarray(r, r + total - 4)) === buf.readUInt32BE(r + total - 4);
    while (k - Atomics.load(ctrl, 1) >= ring) Atomics.wait(ctrl, 1, Atomics.load(ctrl, 1), 50);
    const s = k % ring;
    offsets[s * (slot / 8)] = pos;
    alh.copy(slots, s * slot + 8);
    slots[s * slot + 40] = crcOk ? 1 : 0;
    k++;
    Atomics.store(ctrl, 0, k);
    pos += total;
  }
} finally {
  Atomics.store(ctrl, 2, 1);
  fs.closeSync(fd);
}
`;

export interface AlhSource {
  /** True if the worker already found a valid checksum for the k-th record (0-based) at `offset`. */
  checksumOk(k: number, offset: number): boolean;
  /** The Alh of the k-th record if the worker already computed it at `offset`, else null; marks k as passed. */
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
  const mainPos = new SharedArrayBuffer(8);
  const ctrl = new Int32Array(control);
  const mainOffset = new Float64Array(mainPos);
  const slots = Buffer.from(shared);
  const offsets = new Float64Array(shared);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { ...options, ring: RING, slot: SLOT, shared, control, mainPos },
    // The worker must not inherit a TypeScript loader it doesn't need.
    execArgv: [],
  });
  worker.unref();
  worker.on('error', () => Atomics.store(ctrl, DONE, 1));

  /** Slot k holds an answer computed at `offset` (a slot also serves k ± RING, and jumps leave stale ones). */
  const answered = (k: number, offset: number): boolean =>
    Atomics.load(ctrl, PRODUCED) > k && offsets[(k % RING) * (SLOT / 8)] === offset;

  return {
    checksumOk(k: number, offset: number): boolean {
      return answered(k, offset) && slots[(k % RING) * SLOT + 40] === 1;
    },
    alhAt(k: number, offset: number): Buffer | null {
      const s = (k % RING) * SLOT;
      const alh = answered(k, offset) ? Buffer.from(slots.subarray(s + 8, s + 40)) : null;
      Atomics.store(ctrl, CONSUMED, k + 1);
      if (k % PUBLISH_EVERY === 0) {
        // -1 while the pair is being written, so the worker never reads a new offset with an old k.
        Atomics.store(ctrl, MAIN_K, -1);
        mainOffset[0] = offset;
        Atomics.store(ctrl, MAIN_K, k);
        Atomics.notify(ctrl, CONSUMED);
      }
      return alh;
    },
    async stop() {
      await worker.terminate();
    },
  };
}
