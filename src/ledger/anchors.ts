/**
 * What both backends share for proofs anchored where a client chooses (`getVerifiedFrom`) and for
 * consistency proofs (issue 21): the tx ids a client names, the check that a state is in the
 * gateway's trusted history, and a bounded cache of states already found to be.
 *
 * A state is in the trusted history when a verified dual proof links it to the trusted state
 * (either side of it). The trusted state only ever advances along that history, so a state found
 * there stays there: the cache is bounded, never invalidated.
 */
import { ValidationError, verificationFailed } from '../errors.ts';
import { toHex } from '../proof/codecs.ts';
import { consistencyProofOf, verifyConsistencyProof } from '../proof/consistency.ts';
import { txAlh, type TxHeader } from '../proof/tx-header.ts';
import type { DualProofJson, LedgerState } from '../proof/types.ts';

/** A few thousand states: a dashboard's anchors and the recent commits, at ~150 bytes each. */
const DEFAULT_MAX_STATES = 4096;

/**
 * States (txId → Alh) verified to be in the gateway's trusted history: its commits, the txs of
 * bundles verified against the trusted state, checked anchors and consistency proofs' ends. The
 * least recently used goes first when full.
 */
export class VerifiedHistory {
  private readonly alhs = new Map<string, string>();

  constructor(private readonly max = DEFAULT_MAX_STATES) {}

  get(txId: string): LedgerState | undefined {
    const txHash = this.alhs.get(txId);
    if (txHash === undefined) return undefined;
    this.alhs.delete(txId);
    this.alhs.set(txId, txHash);
    return { txId, txHash };
  }

  /** Call only with a state a verified proof showed in the trusted history. */
  note(state: LedgerState): void {
    this.alhs.delete(state.txId);
    this.alhs.set(state.txId, state.txHash);
    if (this.alhs.size > this.max) this.alhs.delete(this.alhs.keys().next().value!);
  }

  /** note() for a header a verified proof bound (its Alh computed here). */
  noteHeader(h: TxHeader): void {
    this.note({ txId: h.id.toString(), txHash: toHex(txAlh(h)) });
  }

  get size(): number {
    return this.alhs.size;
  }
}

/**
 * The state at tx `txId` once the dual proof between it and `trusted` (source the lower of the
 * two, target the higher; the same tx on both sides when they are equal) verifies against the
 * trusted state: the consistency proof's checks (proof/consistency.ts). VERIFICATION_FAILED
 * otherwise: the ledger's history at that tx is not the one the gateway trusts.
 */
export function stateInHistory(input: {
  ledger: 'immudb' | 'embedded';
  database: string;
  txId: number;
  trusted: LedgerState;
  source: TxHeader;
  target: TxHeader;
  dualProof: DualProofJson;
}): LedgerState {
  const { txId, trusted } = input;
  const below = BigInt(txId) < BigInt(trusted.txId);
  const r = verifyConsistencyProof(consistencyProofOf(input), below ? { to: trusted } : { from: trusted });
  if (!r.ok) {
    throw verificationFailed(`tx ${txId} is not in the history of the gateway's trusted state tx ${trusted.txId} (${r.check}: ${r.message})`);
  }
  const state = below ? r.from : r.to;
  if (state.txId !== String(txId)) throw verificationFailed(`the ledger proved tx ${state.txId} when asked for tx ${txId}`);
  return state;
}

/** Up to 2^53 − 1: what both backends take as a tx id (immudb's are 64-bit; no ledger gets near). */
const TX_ID = /^[1-9][0-9]{0,15}$/;

/** A tx id a caller names (`path`: its argument): canonical decimal from 1, else BAD_USER_INPUT. */
export function txIdArgument(value: unknown, path: string): number {
  const n = typeof value === 'string' && TX_ID.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new ValidationError([{ path, message: 'must be a ledger txId: a decimal integer from 1, without leading zeros' }]);
  return n;
}

/** BAD_USER_INPUT at `path`: tx `txId` is not committed (yet). */
export function beyondNewest(path: string, txId: number, newest: number): ValidationError {
  return new ValidationError([{ path, message: `tx ${txId} is beyond the newest committed tx ${newest}` }]);
}

/**
 * The txs of a consistency proof as the port takes them: `fromTxId` <= `toTxId` (default: the
 * newest), both committed; BAD_USER_INPUT naming the argument otherwise. Checked before any proof
 * is fetched: `committed` and `newest` are the backend's (immudb asks only past what it has seen).
 */
export async function consistencyRange(
  fromTxId: string,
  toTxId: string | undefined,
  ledger: { newest: () => Promise<number>; committed: (txId: number, path: string) => Promise<void> },
): Promise<{ from: number; to: number }> {
  const from = txIdArgument(fromTxId, 'fromTxId');
  if (toTxId === undefined) {
    const newest = await ledger.newest();
    if (from > newest) throw beyondNewest('fromTxId', from, newest);
    return { from, to: newest };
  }
  const to = txIdArgument(toTxId, 'toTxId');
  if (from > to) throw new ValidationError([{ path: 'fromTxId', message: `must not be after toTxId (${to})` }]);
  await ledger.committed(to, 'toTxId');
  return { from, to };
}
