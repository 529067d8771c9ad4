/**
 * An export-verifying thread (started through verify-thread.mjs by verify-parallel.ts): runs each
 * event line's own checks (`checkEventLine`) for the batches the main thread sends, in order, and
 * answers each event's position, or the first failure of the batch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { NormalizedFilter } from '../events/filter.ts';
import { CheckFailed } from '../proof/checks.ts';
import { checkEventLine, newMemo, parseLine, type TxMemo } from './verify.ts';

export interface EventJob {
  line: number;
  txId: string;
  bytes: Uint8Array;
  version: number;
  nEntries: number;
  eH: Uint8Array;
}

export interface BatchAnswer {
  id: number;
  /** line, ms, eventId, timestamp of each event checked, in order. */
  ok: [number, number, string, string][];
  failure: { line: number; check: string; message: string } | null;
}

const filter = (workerData as { filter: NormalizedFilter }).filter;
let memo: TxMemo | null = null;

parentPort!.on('message', ({ id, jobs }: { id: number; jobs: EventJob[] }) => {
  const answer: BatchAnswer = { id, ok: [], failure: null };
  for (const j of jobs) {
    try {
      const eH = Buffer.from(j.eH.buffer, j.eH.byteOffset, j.eH.byteLength);
      if (memo === null || memo.txId !== j.txId || !memo.eH.equals(eH)) memo = newMemo(j.txId, { version: j.version, nEntries: j.nEntries, eH });
      const e = checkEventLine(parseLine(j.bytes), { version: j.version, nEntries: j.nEntries, eH: memo.eH }, filter, memo);
      answer.ok.push([j.line, e.position.ms, e.eventId, e.timestamp]);
    } catch (e) {
      answer.failure = {
        line: j.line,
        check: e instanceof CheckFailed ? e.check : 'format',
        message: e instanceof CheckFailed ? e.message : `unverifiable line: ${(e as Error)?.message ?? String(e)}`,
      };
      break;
    }
  }
  parentPort!.postMessage(answer);
});
