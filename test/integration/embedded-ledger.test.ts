import { ledgerContract } from '../contract/ledger-contract.ts';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import { tempDir } from '../support/services.ts';

ledgerContract('embedded', () => openEmbeddedLedger({ dataDir: tempDir('auditgraph-embedded-') }));
