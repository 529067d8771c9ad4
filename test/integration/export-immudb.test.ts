import { exportContract } from '../contract/export-contract.ts';
import { describeEachImmudb, openTestImmudbLedger } from '../support/services.ts';

describeEachImmudb('export', ({ address }) => {
  exportContract('immudb', () => openTestImmudbLedger({ address }));
});
