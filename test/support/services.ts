/** What the global setup provides, and ledgers on it with a fresh database each. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, inject } from 'vitest';
import { openImmudbLedger } from '../../src/ledger/immudb/index.ts';

/** The primary immudb (1.11.1, or IMMUDB_ADDRESS) and the 1.11.1 binary. */
export const immudbAddress = inject('immudbAddress');
export const immudbBinary = inject('immudbBinary');
/** One server per tested version (1.11.1, 1.10.0), or just IMMUDB_ADDRESS as version `external`. */
export const immudbServers = inject('immudbServers');
/** Binaries by version, e.g. immudbBinaries['1.1.0'] for the unsupported-server test. */
export const immudbBinaries = inject('immudbBinaries');
export const redisUrl = inject('redisUrl');

export type ImmudbServer = { version: string; address: string };

/** describe() for suites that need a real immudb 1.11.1; skipped (loudly, in global setup) without one. */
export const describeImmudb = immudbAddress ? describe : describe.skip;
export const describeImmudbBinary = immudbBinary ? describe : describe.skip;

/** One describe block per tested immudb server, named `<name> (immudb <version>)`; skipped without any. */
export function describeEachImmudb(name: string, fn: (server: ImmudbServer) => void): void {
  // Still collected when skipped, so the skipped tests are counted.
  if (immudbServers.length === 0) return void describe.skip(`${name} (no immudb)`, () => fn({ version: 'none', address: '' }));
  for (const server of immudbServers) describe(`${name} (immudb ${server.version})`, () => fn(server));
}

export const uniqueDatabase = () => `t${randomBytes(6).toString('hex')}`;
export const tempDir = (name = 'auditgraph-test-') => mkdtempSync(join(tmpdir(), name));

export function openTestImmudbLedger(overrides: { address?: string; database?: string; dataDir?: string; callTimeoutMs?: number; redisUrl?: string } = {}) {
  return openImmudbLedger({
    address: overrides.address ?? immudbAddress!,
    user: 'immudb',
    password: 'immudb',
    database: overrides.database ?? uniqueDatabase(),
    dataDir: overrides.dataDir ?? tempDir(),
    callTimeoutMs: overrides.callTimeoutMs ?? 5_000,
    ...(overrides.redisUrl ? { redisUrl: overrides.redisUrl } : {}),
  });
}
