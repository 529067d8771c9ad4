import { ledgerContract } from '../contract/ledger-contract.ts';
import { describeImmudb, openTestImmudbLedger } from '../support/services.ts';

describeImmudb('immudb 1.1.0', () => {
  ledgerContract('immudb', () => openTestImmudbLedger());
});
