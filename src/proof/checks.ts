/** The verifier's checks by their stable names (verify.ts lists what each covers, in order), and how one fails. */

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

/** Thrown by a failing check; verifyProofBundle turns it into its result. */
export class CheckFailed extends Error {
  constructor(
    readonly check: CheckName,
    message: string,
  ) {
    super(message);
  }
}

export const fail = (check: CheckName, message: string): never => {
  throw new CheckFailed(check, message);
};
