/** assertProofBundlesOfTx: the shared link is trusted only by identity, each entry always checked. */
import { describe, expect, it } from 'vitest';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import type { ProofBundle } from '../../src/proof/types.ts';
import { assertProofBundlesOfTx } from '../../src/proof/verify.ts';
import { ev } from '../contract/ledger-contract.ts';
import { codeOf } from '../support/error-code.ts';
import { tempDir } from '../support/services.ts';

describe('assertProofBundlesOfTx', () => {
  it('accepts a committed batch, refuses a tampered entry or a tampered unshared link', async () => {
    const ledger = await openEmbeddedLedger({ dataDir: tempDir() });
    await ledger.append([ev()]);
    const results = await ledger.append([ev({ correlationId: 'b' }), ev({ correlationId: 'b' }), ev({ correlationId: 'b' })]);
    const proofs = results.map((r) => r.proof);
    expect(proofs[1]!.dualProof).toBe(proofs[0]!.dualProof); // shared, frozen
    expect(Object.isFrozen(proofs[0]!.dualProof.linearProof.terms)).toBe(true);
    expect(codeOf(() => assertProofBundlesOfTx(proofs, proofs[0]!.trustedState))).toBe('ok');

    // a later bundle with the shared link but another value
    const badEntry: ProofBundle = { ...proofs[2]!, entry: { ...proofs[2]!.entry, value: Buffer.from('{}').toString('base64') } };
    expect(codeOf(() => assertProofBundlesOfTx([proofs[0]!, proofs[1]!, badEntry], proofs[0]!.trustedState))).toBe('VERIFICATION_FAILED');
    // a later bundle with its own (tampered) copy of the link gets the full check
    const copy = JSON.parse(JSON.stringify(proofs[1]!)) as ProofBundle;
    copy.dualProof.linearProof.terms.push('00'.repeat(32));
    expect(codeOf(() => assertProofBundlesOfTx([proofs[0]!, copy], proofs[0]!.trustedState))).toBe('VERIFICATION_FAILED');
    // the first bundle is always verified in full
    const first = JSON.parse(JSON.stringify(proofs[0]!)) as ProofBundle;
    first.tx.eH = 'ab'.repeat(32);
    expect(codeOf(() => assertProofBundlesOfTx([first], proofs[0]!.trustedState))).toBe('VERIFICATION_FAILED');
    await ledger.close();
  });
});
