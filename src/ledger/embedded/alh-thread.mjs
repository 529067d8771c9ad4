/**
 * The start-up worker thread (started by alh-worker.ts, which describes the protocol). Plain
 * JavaScript so the thread needs no TypeScript loader.
 *
 * Walks the log's frames from `start`; per record it checks the crc32 and computes the Alh and the
 * Alh's AHTree leaf, and publishes them in the next ring slot. Stops at the first frame that does not
 * look like a record (the main thread finds out why) or at the end of the file.
 */
import { workerData } from 'node:worker_threads';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { createSha256 } from '../sha256.mjs';

const { path, size, start, ring, slot, shared, control, mainPos, magic, headerOffset, headerSize, minBody, maxBody, window } = workerData;
const ctrl = new Int32Array(control);
const mainOffset = new Float64Array(mainPos);
const slots = new Uint8Array(shared);
const offsets = new Float64Array(shared);
const { hashInto } = createSha256();
const crc32 = typeof zlib.crc32 === 'function' ? zlib.crc32 : null;
// Control words, as in alh-worker.ts.
const PRODUCED = 0;
const CONSUMED = 1;
const DONE = 2;
const MAIN_K = 3;

const u32 = (b, at) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

const fd = fs.openSync(path, 'r');
try {
  let buf = Buffer.allocUnsafe(window);
  let bufStart = 0;
  let bufLen = 0;
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
  // id ‖ prevAlh ‖ innerHash → Alh; then 0x00 ‖ Alh → leaf.
  const alhInput = new Uint8Array(72);
  const leafInput = new Uint8Array(33);
  const answer = new Uint8Array(64);
  let pos = start;
  let k = 0;
  for (;;) {
    if ((k & 63) === 0) {
      // Behind the main thread: answers for records it already passed are useless, jump ahead.
      const k1 = Atomics.load(ctrl, MAIN_K);
      const off = mainOffset[0];
      const k2 = Atomics.load(ctrl, MAIN_K);
      if (k1 >= 0 && k1 === k2 && k1 > k) {
        k = k1;
        pos = off;
      }
    }
    if (!ensure(pos, 8)) break;
    const at = pos - bufStart;
    const bodyLen = u32(buf, at + 4);
    if (u32(buf, at) !== magic || bodyLen < minBody || bodyLen > maxBody) break;
    const total = 12 + bodyLen;
    if (!ensure(pos, total)) break;
    const r = pos - bufStart; // ensure may have moved the window
    const h = r + headerOffset;
    for (let i = 0; i < 40; i++) alhInput[i] = buf[h + i];
    hashInto(buf, h + 40, h + headerSize, alhInput, 40);
    hashInto(alhInput, 0, 72, answer, 0);
    for (let i = 0; i < 32; i++) leafInput[1 + i] = answer[i];
    hashInto(leafInput, 0, 33, answer, 32);
    const crcOk = crc32 !== null && crc32(buf.subarray(r, r + total - 4)) === u32(buf, r + total - 4);
    while (k - Atomics.load(ctrl, CONSUMED) >= ring) Atomics.wait(ctrl, CONSUMED, Atomics.load(ctrl, CONSUMED), 50);
    const s = (k % ring) * slot;
    offsets[s / 8] = pos;
    for (let i = 0; i < 64; i++) slots[s + 8 + i] = answer[i];
    slots[s + 72] = crcOk ? 1 : 0;
    k++;
    Atomics.store(ctrl, PRODUCED, k);
    pos += total;
  }
} finally {
  Atomics.store(ctrl, DONE, 1);
  fs.closeSync(fd);
}
