/**
 * `npm start` with a wrong configuration: the process stops before touching anything, with exit
 * code 2 and one message that names every wrong variable (never a secret's value, never a stack).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMainToExit } from '../support/main-process.ts';
import { tempDir } from '../support/services.ts';

async function start(vars: Record<string, string>) {
  const dataDir = join(tempDir('ag-config-'), 'data');
  // stdout and stderr apart: nothing may reach stdout (where JSON logs would go).
  const { status, stdout, stderr } = await runMainToExit(vars, dataDir);
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
