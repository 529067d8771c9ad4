/**
 * Start-up help for large logs: a worker thread walks the log's frames on its own, checks each
 * record's crc32, computes its Alh (sha256(id ‖ prevAlh ‖ sha256(ts ‖ nEntries ‖ eH ‖ blTxId ‖
 * blRoot)), both spans contiguous in the serialized header) and the Alh's binary-linking leaf
 * (sha256(0x00 ‖ Alh)), while the main thread checks and indexes records. That takes three of the
 * ~four hashes per transaction and the checksums off the main thread when a second core is free.
 *
 * The main thread never waits for the worker: an answer that isn't there yet is computed inline,
 * and a worker that fell behind jumps to where the main thread is. Nothing is trusted that the
 * main thread could not recompute: every answer carries the file offset it was computed at and is
 * used only for the record the main thread found at that offset; the main thread still checks the
 * chain (prevAlh = previous Alh) itself. The thread (alh-thread.mjs) is plain JavaScript, so it
 * needs no TypeScript loader; it hashes with sha256.mjs.
 */
import { Worker } from 'node:worker_threads';

/** Slots in the ring shared with the worker: the worker runs at most this far ahead. */
const RING = 1 << 14;
const SLOT = 8 + 32 + 32 + 8; // f64 offset ‖ Alh ‖ AHTree leaf ‖ checksum ok (1 byte, padded)
// Control words (Int32): answers written up to (k + 1), main's next k (published every PUBLISH_EVERY), worker done,
// main's current k (-1 while updating).
const PRODUCED = 0;
const CONSUMED = 1;
const DONE = 2;
const MAIN_K = 3;
/** The main thread publishes its position this often (records). */
const PUBLISH_EVERY = 64;

/** The worker's read window. */
const WINDOW = 1024 * 1024;

export interface AlhSource {
  /** True if the worker already found a valid checksum for the k-th record (0-based) at `offset`. */
  checksumOk(k: number, offset: number): boolean;
  /**
   * Copies the k-th record's Alh and AHTree leaf (64 bytes) to `out` if the worker already
   * computed them at `offset`, and says whether it did; marks k as passed either way.
   */
  take(k: number, offset: number, out: Uint8Array): boolean;
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
  const worker = new Worker(new URL('./alh-thread.mjs', import.meta.url), {
    workerData: { ...options, ring: RING, slot: SLOT, shared, control, mainPos, window: WINDOW },
    // The worker must not inherit a TypeScript loader it doesn't need.
    execArgv: [],
  });
  worker.unref();
  worker.on('error', () => Atomics.store(ctrl, DONE, 1));

  /**
   * Slot k holds an answer computed at `offset` (a slot also serves k ± RING, and jumps leave stale
   * ones). PRODUCED is re-read only when k reaches the count last read: the worker writes it per
   * record, and reading it per record too would bounce its cache line between the cores.
   */
  let produced = 0;
  const answered = (k: number, offset: number): boolean => {
    if (k >= produced) produced = Atomics.load(ctrl, PRODUCED);
    return k < produced && offsets[(k % RING) * (SLOT / 8)] === offset;
  };

  return {
    checksumOk(k: number, offset: number): boolean {
      return answered(k, offset) && slots[(k % RING) * SLOT + 72] === 1;
    },
    take(k: number, offset: number, out: Uint8Array): boolean {
      const s = (k % RING) * SLOT + 8;
      const ok = answered(k, offset);
      // A plain loop: 64 bytes are copied faster than a Buffer.copy call costs.
      if (ok) for (let i = 0; i < 64; i++) out[i] = slots[s + i]!;
      // Published every PUBLISH_EVERY records only (an atomic store per record costs more than the
      // rest of this): the worker then sees up to that many slots fewer free, out of RING.
      if (k % PUBLISH_EVERY === 0) {
        Atomics.store(ctrl, CONSUMED, k + 1);
        // -1 while the pair is being written, so the worker never reads a new offset with an old k.
        Atomics.store(ctrl, MAIN_K, -1);
        mainOffset[0] = offset;
        Atomics.store(ctrl, MAIN_K, k);
        Atomics.notify(ctrl, CONSUMED);
      }
      return ok;
    },
    async stop() {
      await worker.terminate();
    },
  };
}
