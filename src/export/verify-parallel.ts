/**
 * `verifyExportLines` with the event lines' own checks (record, entry, inclusion, selection: nearly
 * all of the work) spread over worker threads, for large files. The main thread keeps what is
 * sequential: the header, the tx lines and the window, the digest, the order and the counts. An
 * event line is recognised by how the producer writes it (`{"txId":"<digits>",` first; its thread
 * checks that the JSON says the same); any other line is checked on the main thread once every
 * line before it has been. Batches in flight are bounded (memory stays constant), and the failure
 * reported is the one of the earliest line, as the one-thread verifier reports it.
 */
import { Worker } from 'node:worker_threads';
import type { Line } from './lines.ts';
import { ExportCheckFailed, ExportVerifier, type ExportCheck, type ExportVerifyOptions, type ExportVerifyResult } from './verify.ts';
import type { BatchAnswer, EventJob } from './verify-worker.ts';

const BATCH = 256;
const EVENT_LINE = /^\{"txId":"([0-9]{1,20})",/;
const TX_LINE = Buffer.from('{"tx":');

type Failure = { line: number; check: ExportCheck; message: string };

export async function verifyExportLinesParallel(lines: AsyncIterable<Line>, options: ExportVerifyOptions, threads: number): Promise<ExportVerifyResult> {
  const v = new ExportVerifier(options);
  const waiting = new Map<number, { resolve: (a: BatchAnswer) => void; reject: (e: Error) => void }>();
  let workers: Worker[] | null = null;
  const pending: Promise<BatchAnswer>[] = [];
  let batch: EventJob[] = [];
  let sent = 0;
  let failure: Failure | null = null;
  const note = (f: Failure) => {
    if (failure === null || f.line < failure.line) failure = f;
  };

  const start = () =>
    Array.from({ length: threads }, () => {
      const w = new Worker(new URL('./verify-thread.mjs', import.meta.url), { workerData: { filter: v.filter }, execArgv: [] });
      w.on('message', (a: BatchAnswer) => {
        waiting.get(a.id)?.resolve(a);
        waiting.delete(a.id);
      });
      w.on('error', (e) => {
        for (const { reject } of waiting.values()) reject(e);
        waiting.clear();
      });
      return w;
    });
  const dispatch = () => {
    if (batch.length === 0) return;
    workers ??= start();
    const id = sent++;
    pending.push(new Promise<BatchAnswer>((resolve, reject) => waiting.set(id, { resolve, reject })));
    workers[id % workers.length]!.postMessage({ id, jobs: batch });
    batch = [];
  };
  /** Takes the answers in line order until at most `keep` batches are in flight. */
  const settle = async (keep: number) => {
    while (pending.length > keep) {
      const a = await pending.shift()!;
      for (const [line, ms, eventId, timestamp] of a.ok) {
        if (failure !== null && line > failure.line) break;
        try {
          v.eventChecked(line, { position: { ms, eventId }, eventId, timestamp });
        } catch (e) {
          if (!(e instanceof ExportCheckFailed)) throw e;
          note({ line: e.line, check: e.check, message: e.message });
          break;
        }
      }
      if (a.failure) note(a.failure as Failure);
    }
  };

  try {
    for await (const { bytes, terminated } of lines) {
      if (failure !== null) break;
      const m =
        terminated && v.filter !== null ? EVENT_LINE.exec(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 32)).toString('latin1')) : null;
      if (m) {
        const { line, tx } = v.takeEvent(bytes, m[1]!);
        batch.push({ line, txId: m[1]!, bytes: Buffer.from(bytes), version: tx.version, nEntries: tx.nEntries, eH: tx.eH });
        if (batch.length >= BATCH) {
          dispatch();
          await settle(2 * threads);
        }
        continue;
      }
      // A tx line only changes the window, which the events in flight no longer need; anything
      // else waits for every line before it.
      if (!TX_LINE.equals(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, TX_LINE.length)))) {
        dispatch();
        await settle(0);
        if (failure !== null) break;
      }
      v.push(bytes, terminated);
    }
    dispatch();
    await settle(0);
    if (failure !== null) return { ok: false, ...(failure as Failure) };
    return { ok: true, ...v.finish() };
  } catch (e) {
    if (!(e instanceof ExportCheckFailed)) throw e;
    // Lines before this one may still fail: the earliest failure is the one reported.
    note({ line: e.line, check: e.check, message: e.message });
    dispatch();
    await settle(0);
    return { ok: false, ...(failure as unknown as Failure) };
  } finally {
    if (workers) await Promise.all((workers as Worker[]).map((w) => w.terminate()));
  }
}
