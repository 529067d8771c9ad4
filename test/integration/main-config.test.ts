/**
 * `npm start` with a wrong configuration: the process stops before touching anything, with exit
 * code 2 and one message that names every wrong variable (never a secret's value, never a stack).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/services.ts';

async function start(vars: Record<string, string>) {
  const dataDir = join(tempDir('ag-config-'), 'data');
  const env: NodeJS.ProcessEnv = { ...process.env, HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir };
  // Only the variables under test: none of the harness's servers.
  for (const name of ['IMMUDB_ADDRESS', 'REDIS_URL', 'AUTH_TOKENS', 'AUTH_TOKENS_FILE']) delete env[name];
  Object.assign(env, vars);
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += String(d)));
  proc.stderr.on('data', (d) => (stderr += String(d)));
  // A start that does not stop on its own is a failure too; kill it so the test ends.
  const guard = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  const status = await new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  clearTimeout(guard);
  let created: string[] = [];
  try {
    created = readdirSync(dataDir);
  } catch {
    // not created: nothing was written
  }
  return { status, stdout, stderr, created };
}

describe('src/main.ts refuses a wrong configuration', () => {
  it.each([
    [{ PORT: '70000' }, 'PORT'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ IMMUDB_ADDRESS: 'no-port' }, 'IMMUDB_ADDRESS'],
    [{ GRAPHIQL: 'maybe' }, 'GRAPHIQL'],
    [{ LEDGER_BODY_CACHE_MB: '1.5' }, 'LEDGER_BODY_CACHE_MB'],
    [{ AUTH_TOKENS: '{not json' }, 'AUTH_TOKENS'],
    [{ AUTH_TOKENS_FILE: '/nonexistent/auditgraph-tokens.json' }, 'AUTH_TOKENS_FILE'],
    [{ RATE_LIMIT_WRITES_PER_SEC: '-5' }, 'RATE_LIMIT_WRITES_PER_SEC'],
  ])('%o: exit code 2 naming %s, nothing started or written', async (vars, name) => {
    const r = await start(vars);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^auditgraph: Invalid configuration:\\n  - ${name}[ .\\[]`));
    expect(r.stdout).toBe('');
    expect(r.created).toEqual([]);
  });

  it('names every wrong variable of every kind in one start, without secrets or stack traces', async () => {
    const r = await start({
      PORT: 'x',
      REDIS_URL: 'ftp://user:hunter2@host',
      IMMUDB_PASSWORD: 's3cret'.repeat(400),
      AUTH_TOKENS: '[{"name":"ci","token":"plaintext-secret","scopes":["audit:read"]}]',
      RATE_LIMIT_COST_BURST: 'lots',
    });
    expect(r.status).toBe(2);
    for (const name of ['PORT', 'REDIS_URL', 'IMMUDB_PASSWORD', 'AUTH_TOKENS[0]', 'RATE_LIMIT_COST_BURST']) expect(r.stderr).toContain(`  - ${name}`);
    for (const secret of ['hunter2', 's3crets3cret', 'plaintext-secret']) expect(r.stderr).not.toContain(secret);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.created).toEqual([]);
  });
});
