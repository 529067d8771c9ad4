/**
 * The verifiers' checks by their stable names, and how one fails: `CHECKS` are the proof bundle's
 * (verify.ts lists what each covers, in order), `CONSISTENCY_CHECKS` the consistency proof's
 * (consistency.ts). The dual-proof checks (dual-check.ts) are shared by both.
 */

export const CHECKS = [
  'format',
  'trustedState',
  'entry',
  'inclusion',
  'dualProof.sourceTx',
  'dualProof.targetTx',
  'dualProof.linking',
  'dualProof.inclusion',
  'dualProof.consistency',
  'dualProof.lastInclusion',
  'dualProof.linear',
  'state',
  'signature',
] as const;
export type CheckName = (typeof CHECKS)[number];

export const CONSISTENCY_CHECKS = [
  'format',
  'from',
  'to',
  'dualProof.sourceTx',
  'dualProof.targetTx',
  'dualProof.linking',
  'dualProof.inclusion',
  'dualProof.consistency',
  'dualProof.lastInclusion',
  'dualProof.linear',
] as const;
export type ConsistencyCheckName = (typeof CONSISTENCY_CHECKS)[number];

/** Thrown by a failing check; verifyProofBundle turns it into its result. */
export class CheckFailed extends Error {
  constructor(
    readonly check: CheckName | ConsistencyCheckName,
    message: string,
  ) {
    super(message);
  }
}

export const fail = (check: CheckName | ConsistencyCheckName, message: string): never => {
  throw new CheckFailed(check, message);
};
