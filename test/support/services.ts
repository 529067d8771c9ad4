/** What the global setup provides, and ledgers on it with a fresh database each. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, inject } from 'vitest';
import { openImmudbLedger } from '../../src/ledger/immudb/index.ts';

export const immudbAddress = inject('immudbAddress');
export const immudbBinary = inject('immudbBinary');
export const redisUrl = inject('redisUrl');

/** describe() for suites that need a real immudb 1.1.0; skipped (loudly, in global setup) without one. */
export const describeImmudb = immudbAddress ? describe : describe.skip;
export const describeImmudbBinary = immudbBinary ? describe : describe.skip;

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
