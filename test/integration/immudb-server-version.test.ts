/**
 * The gateway talks to immudb 1.10.x and 1.11.x only: it reads the server's version (Health) when
 * it connects and refuses any other, naming the version and the supported range. src/main.ts
 * treats that, and a refused login, as a configuration error: exit code 2, one message, nothing
 * written. Against real servers: the unsupported one is the real immudb 1.1.0 binary.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImmudbSession, ImmudbSetupRefused } from '../../src/ledger/immudb/grpc.ts';
import { openImmudbLedger } from '../../src/ledger/immudb/index.ts';
import { isSupportedImmudbVersion, parseImmudbVersion } from '../../src/ledger/immudb/version.ts';
import { runMainToExit } from '../support/main-process.ts';
import { freePort, startImmudb, type ManagedServer } from '../support/servers.ts';
import { describeEachImmudb, immudbBinaries, immudbServers, tempDir, uniqueDatabase } from '../support/services.ts';

const RANGE = 'auditgraph supports immudb 1.10.x and 1.11.x (>= 1.10.0 and < 1.12.0)';

/** main.ts as `npm start` runs it, until it exits by itself; and whether it created its DATA_DIR. */
async function runMain(vars: Record<string, string>) {
  const dataDir = join(tempDir('ag-version-'), 'data');
  return { ...(await runMainToExit(vars, dataDir)), wroteDataDir: existsSync(dataDir) };
}

// In CI the global setup fails the run when the 1.1.0 binary is missing; this skip is for local runs.
describe.skipIf(!immudbBinaries['1.1.0'])('an unsupported immudb: the real 1.1.0', () => {
  let server: ManagedServer;
  beforeAll(async () => {
    server = await startImmudb(immudbBinaries['1.1.0']!);
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('the binary is 1.1.0 and its Health names it', async () => {
    const { stdout } = await promisify(execFile)(immudbBinaries['1.1.0']!, ['version']);
    expect(stdout.split(/\s+/)).toContain('1.1.0');
  });

  it('src/main.ts stops with exit code 2 and one message naming 1.1.0 and the supported range; nothing written', async () => {
    const r = await runMain({ IMMUDB_ADDRESS: server.address, IMMUDB_DATABASE: 'auditgraph' });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `auditgraph: Invalid configuration:\n  - IMMUDB_ADDRESS points at an unsupported server: immudb at ${server.address} is version 1.1.0; ${RANGE}\n`,
    );
    expect(r.stdout).toBe('');
    expect(r.wroteDataDir).toBe(false);
  });

  it('openImmudbLedger refuses it before logging in: ImmudbSetupRefused (LEDGER_UNAVAILABLE), no trusted state written', async () => {
    const dataDir = join(tempDir(), 'data');
    const err = await openImmudbLedger({ address: server.address, user: 'immudb', password: 'immudb', database: uniqueDatabase(), dataDir }).catch((e) => e);
    expect(err).toBeInstanceOf(ImmudbSetupRefused);
    expect(err).toMatchObject({ code: 'LEDGER_UNAVAILABLE', setting: 'server', message: `immudb at ${server.address} is version 1.1.0; ${RANGE}` });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('is refused by a session that first connected to a supported server when a restart brings up 1.1.0 on its address', async () => {
    const supported = immudbBinaries['1.11.1'] ?? immudbBinaries['1.10.0'];
    if (!supported) return; // the tested versions are missing: the global setup already said so
    const port = await freePort();
    let current = await startImmudb(supported, port);
    const session = new ImmudbSession({ address: current.address, user: 'immudb', password: 'immudb', database: uniqueDatabase(), callTimeoutMs: 2_000 });
    try {
      await session.connect();
      await session.call('currentState', session.empty());
      await current.destroy();
      current = await startImmudb(immudbBinaries['1.1.0']!, port);
      // The old token is unknown to the new server; the renewal checks the version again.
      const err = await session.call('currentState', session.empty()).catch((e) => e);
      expect(err).toMatchObject({ code: 'LEDGER_UNAVAILABLE', setting: 'server', message: `immudb at 127.0.0.1:${port} is version 1.1.0; ${RANGE}` });
    } finally {
      session.close();
      await current.destroy();
    }
  });
});

describeEachImmudb('a supported immudb', (server) => {
  it('reports its version in Health, and the session accepts it', async () => {
    const session = new ImmudbSession({ address: server.address, user: 'immudb', password: 'immudb', database: 'defaultdb' });
    try {
      await session.connect();
      const reported = session.serverVersion!;
      const v = parseImmudbVersion(reported);
      expect(v, reported).not.toBeNull();
      if (server.version !== 'external') expect(`${v!.major}.${v!.minor}.${v!.patch}`).toBe(server.version);
      expect(isSupportedImmudbVersion(v!)).toBe(true);
      // The binary agrees (`immudb version`) when the harness started it.
      const binary = immudbBinaries[server.version];
      if (binary) expect((await promisify(execFile)(binary, ['version'])).stdout.split(/\s+/)).toContain(server.version);
    } finally {
      session.close();
    }
  });
});

describe.skipIf(immudbServers.length === 0)('src/main.ts and immudb refusals that are not about the version', () => {
  it('a refused login: exit code 2 naming IMMUDB_USER / IMMUDB_PASSWORD, never the password', async () => {
    const password = 'Wr0ng-pa55word-7c1f';
    const r = await runMain({ IMMUDB_ADDRESS: immudbServers[0]!.address, IMMUDB_PASSWORD: password, IMMUDB_DATABASE: uniqueDatabase() });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'auditgraph: Invalid configuration:\n' +
        `  - IMMUDB_USER / IMMUDB_PASSWORD were refused: immudb at ${immudbServers[0]!.address} refused the login of user "immudb": invalid user name or password\n`,
    );
    expect(r.stderr + r.stdout).not.toContain(password);
    expect(r.wroteDataDir).toBe(false);
  });

  it('an unreachable immudb is no configuration error: LEDGER_UNAVAILABLE and exit code 1, as before', async () => {
    const r = await runMain({ IMMUDB_ADDRESS: `127.0.0.1:${await freePort()}` });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('LEDGER_UNAVAILABLE');
    expect(r.stderr).not.toContain('Invalid configuration');
  });
});
