/**
 * Consistency proofs, `auditgraph.consistency.v1`: the ledger at tx `from` is a prefix of the
 * ledger at tx `to`, so a reader who trusts (or saved) one of the two states can take the other
 * as the same history. The document is the two states and immudb's dual proof between their txs
 * (source `from`, target `to`; from == to allowed), the same `DualProofJson` (v2 headers) that
 * proof bundles carry, checked by the same code (dual-check.ts). Pure: depends on node:crypto only.
 *
 * Public surface:
 * - `CONSISTENCY_FORMAT`, `ConsistencyProofJson`, `CONSISTENCY_CHECKS` (the stable check names).
 * - `verifyConsistencyProof(proof: unknown, expect?: { from?, to? })` never throws; with `expect`,
 *   the proof must be between exactly those states (what a monitor saved, what a checkpoint says).
 * - `assertConsistencyProof(proof, expect?)`: the ok result, or throws `verificationFailed(check)`.
 * - `consistencyProofOf(...)`: the document over a dual proof, for the ledgers.
 *
 * Checks, in order (the first failure is reported):
 * - `format`       shape and encodings as in proof bundles (exact fields, 64 lowercase hex hashes,
 *                  canonical decimal ids >= 1, v2 headers), format and ledger known, database a
 *                  non-empty well-formed string, from.txId <= to.txId.
 * - `from`, `to`   the expected state (when given) is well-formed and equals the proof's.
 * - `dualProof.sourceTx` / `dualProof.targetTx`
 *                  the source header has id from.txId and hashes (Alh) to from.txHash; the target
 *                  header likewise for `to`.
 * - `dualProof.linking`, `dualProof.inclusion`, `dualProof.consistency`, `dualProof.lastInclusion`,
 *   `dualProof.linear`: as for proof bundles (verify.ts), from from.txHash to to.txHash; both headers
 *                  must link their predecessor (blTxId == id − 1), which closes the linear-proof hole.
 *
 * Nothing signs the document: `ledger` and `database` only name what it is about, and the verdict
 * ties the two states to each other, never to a server.
 */
import { verificationFailed } from '../errors.ts';
import { ledgerAndDatabase, obj, parseDualProof, parseState, type ParsedState } from './bundle-parse.ts';
import { CheckFailed, fail, type ConsistencyCheckName } from './checks.ts';
import { parseHash, parseUint64, toHex } from './codecs.ts';
import { checkDualProof, checkStateSide } from './dual-check.ts';
import { txAlh, type TxHeader } from './tx-header.ts';
import { CONSISTENCY_FORMAT, type ConsistencyProofJson, type DualProofJson, type LedgerState } from './types.ts';
import { escapeBytes } from './verify.ts';

export { CONSISTENCY_CHECKS, type ConsistencyCheckName } from './checks.ts';
export { CONSISTENCY_FORMAT, type ConsistencyProofJson } from './types.ts';

export type ConsistencyResult = { ok: true; from: LedgerState; to: LedgerState; summary: string } | { ok: false; check: string; message: string };

/** The states a consistency proof must be between (either, both or none). */
export interface ExpectedStates {
  from?: LedgerState;
  to?: LedgerState;
}

export function verifyConsistencyProof(proof: unknown, expect?: ExpectedStates): ConsistencyResult {
  try {
    return verify(proof, expect);
  } catch (e) {
    if (e instanceof CheckFailed) return { ok: false, check: e.check, message: e.message };
    // Anything else (a bug, or a hostile object with throwing getters) is still a rejection.
    return { ok: false, check: 'format', message: `unverifiable proof: ${(e as Error)?.message ?? String(e)}` };
  }
}

export function assertConsistencyProof(proof: unknown, expect?: ExpectedStates): Extract<ConsistencyResult, { ok: true }> {
  const r = verifyConsistencyProof(proof, expect);
  if (!r.ok) throw verificationFailed(r.check, new Error(`${r.check}: ${r.message}`));
  return r;
}

/** The document over `dualProof`, a dual proof from `source` to `target` (source.id <= target.id). */
export function consistencyProofOf(input: {
  ledger: ConsistencyProofJson['ledger'];
  database: string;
  source: TxHeader;
  target: TxHeader;
  dualProof: DualProofJson;
}): ConsistencyProofJson {
  const state = (h: TxHeader): LedgerState => ({ txId: h.id.toString(), txHash: toHex(txAlh(h)) });
  return {
    format: CONSISTENCY_FORMAT,
    ledger: input.ledger,
    database: input.database,
    from: state(input.source),
    to: state(input.target),
    dualProof: input.dualProof,
  };
}

function verify(proof: unknown, expect: ExpectedStates | undefined): ConsistencyResult {
  const doc = obj(proof, 'proof', ['format', 'ledger', 'database', 'from', 'to', 'dualProof']);
  if (doc.format !== CONSISTENCY_FORMAT) fail('format', `format: expected "${CONSISTENCY_FORMAT}"`);
  const { ledger, database } = ledgerAndDatabase(doc);
  const from = parseState(doc.from, 'from');
  const to = parseState(doc.to, 'to');
  const dp = parseDualProof(doc.dualProof, 'dualProof', true);
  if (from.txId > to.txId) fail('format', `from.txId ${from.txId} > to.txId ${to.txId}`);

  if (expect?.from !== undefined) checkExpected(expect.from, from, 'from');
  if (expect?.to !== undefined) checkExpected(expect.to, to, 'to');

  checkStateSide(dp.source, from, 'from', 'dualProof.sourceTx');
  checkStateSide(dp.target, to, 'to', 'dualProof.targetTx');
  checkDualProof(dp, from.txHash, to.txHash);

  const out = { from: printState(from), to: printState(to) };
  const summary =
    `valid: tx ${out.from.txId} (${out.from.txHash}) is in the history of tx ${out.to.txId} (${out.to.txHash}) ` +
    `(${ledger} ${escapeBytes(Buffer.from(database, 'utf8'), 120)})`;
  return { ok: true, ...out, summary };
}

function checkExpected(given: LedgerState, actual: ParsedState, side: ConsistencyCheckName & ('from' | 'to')): void {
  const id = parseUint64(given?.txId);
  const hash = parseHash(given?.txHash);
  if (id === undefined || id < 1n || hash === undefined) fail(side, `the expected ${side} state is malformed`);
  if (id !== actual.txId) fail(side, `the proof's ${side} state is tx ${actual.txId}, not the expected tx ${id}`);
  if (!hash!.equals(actual.txHash)) fail(side, `the proof's ${side} state (tx ${id}) has another hash than the expected one`);
}

const printState = (s: ParsedState): LedgerState => ({ txId: s.txId.toString(), txHash: toHex(s.txHash) });
