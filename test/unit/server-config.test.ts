import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.ts';
import { loadConfig } from '../../src/server/config.ts';

const fails = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('has the contract defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 4000,
      host: '127.0.0.1',
      immudb: null,
      dataDir: './data',
      redisUrl: null,
      logLevel: 'info',
      graphiql: true,
      introspection: true,
      bodyCacheBytes: 64 * 2 ** 20,
      indexBulkMaxEvents: 1_000_000,
      checkpointKeyFile: null,
      checkpointOrigin: null,
    });
  });

  it('reads every variable; empty counts as unset', () => {
    expect(
      loadConfig({
        PORT: '0',
        HOST: '0.0.0.0',
        IMMUDB_ADDRESS: 'immudb:3322',
        IMMUDB_USER: 'u',
        IMMUDB_PASSWORD: 'p',
        IMMUDB_DATABASE: 'audit',
        DATA_DIR: '/var/lib/auditgraph',
        REDIS_URL: 'redis://redis:6379/0',
        LOG_LEVEL: 'debug',
        GRAPHIQL: 'false',
        INTROSPECTION: '0',
        LEDGER_BODY_CACHE_MB: '0',
        INDEX_BULK_MAX_EVENTS: '0',
        CHECKPOINT_KEY_FILE: '/etc/auditgraph/checkpoint.pem',
        CHECKPOINT_ORIGIN: 'audit.example.com/prod',
      }),
    ).toEqual({
      port: 0,
      host: '0.0.0.0',
      immudb: { address: 'immudb:3322', user: 'u', password: 'p', database: 'audit' },
      dataDir: '/var/lib/auditgraph',
      redisUrl: 'redis://redis:6379/0',
      logLevel: 'debug',
      graphiql: false,
      introspection: false,
      bodyCacheBytes: 0,
      indexBulkMaxEvents: 0,
      checkpointKeyFile: '/etc/auditgraph/checkpoint.pem',
      checkpointOrigin: 'audit.example.com/prod',
    });
    expect(loadConfig({ PORT: '', IMMUDB_ADDRESS: ' ', REDIS_URL: '' })).toMatchObject({ port: 4000, immudb: null, redisUrl: null });
    expect(loadConfig({ IMMUDB_ADDRESS: '[::1]:3322' }).immudb?.address).toBe('[::1]:3322');
  });

  it('reads LEDGER_BODY_CACHE_MB as whole MiB from 0 (off) to 65536', () => {
    expect(loadConfig({ LEDGER_BODY_CACHE_MB: ' 16 ' }).bodyCacheBytes).toBe(16 * 2 ** 20);
    expect(loadConfig({ LEDGER_BODY_CACHE_MB: '65536' }).bodyCacheBytes).toBe(2 ** 36);
    for (const bad of ['-1', '1.5', 'lots', '1e3', '65537', '123456']) {
      expect(fails({ LEDGER_BODY_CACHE_MB: bad })).toMatch(/LEDGER_BODY_CACHE_MB must be a whole number of MiB from 0 \(off\) to 65536 \(got /);
    }
  });

  it('reads INDEX_BULK_MAX_EVENTS as a whole number of events from 0 (off) to 50,000,000; default 1,000,000', () => {
    expect(loadConfig({}).indexBulkMaxEvents).toBe(1_000_000);
    expect(loadConfig({ INDEX_BULK_MAX_EVENTS: ' 250000 ' }).indexBulkMaxEvents).toBe(250_000);
    expect(loadConfig({ INDEX_BULK_MAX_EVENTS: '50000000' }).indexBulkMaxEvents).toBe(50_000_000);
    for (const bad of ['-1', '1.5', 'many', '1e6', '50000001', '123456789']) {
      expect(fails({ INDEX_BULK_MAX_EVENTS: bad })).toMatch(/INDEX_BULK_MAX_EVENTS must be a whole number of events from 0 \(off\) to 50000000 \(got /);
    }
  });

  it('reads GRAPHIQL and INTROSPECTION as true/false/1/0, any case; empty is the default (on)', () => {
    for (const [raw, value] of [
      ['true', true],
      ['TRUE', true],
      [' 1 ', true],
      ['false', false],
      ['False', false],
      ['0', false],
    ] as const) {
      expect(loadConfig({ GRAPHIQL: raw, INTROSPECTION: raw })).toMatchObject({ graphiql: value, introspection: value });
    }
    expect(loadConfig({ GRAPHIQL: '', INTROSPECTION: ' ' })).toMatchObject({ graphiql: true, introspection: true });
    expect(loadConfig({ GRAPHIQL: 'false' })).toMatchObject({ graphiql: false, introspection: true });
  });

  it.each([
    [{ PORT: 'http' }, 'PORT'],
    [{ PORT: '65536' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ HOST: 'two words' }, 'HOST'],
    [{ IMMUDB_ADDRESS: 'immudb' }, 'IMMUDB_ADDRESS'],
    [{ IMMUDB_ADDRESS: 'immudb:0' }, 'IMMUDB_ADDRESS'],
    [{ IMMUDB_DATABASE: 'no spaces' }, 'IMMUDB_DATABASE'],
    [{ REDIS_URL: 'http://redis:6379' }, 'REDIS_URL'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    [{ GRAPHIQL: 'off' }, 'GRAPHIQL'],
    [{ GRAPHIQL: 'yes' }, 'GRAPHIQL'],
    [{ INTROSPECTION: '2' }, 'INTROSPECTION'],
    [{ INTROSPECTION: 'disabled' }, 'INTROSPECTION'],
    [{ LEDGER_BODY_CACHE_MB: 'lots' }, 'LEDGER_BODY_CACHE_MB'],
    [{ LEDGER_BODY_CACHE_MB: '-1' }, 'LEDGER_BODY_CACHE_MB'],
    [{ LEDGER_BODY_CACHE_MB: '65537' }, 'LEDGER_BODY_CACHE_MB'],
    [{ LEDGER_BODY_CACHE_MB: '9'.repeat(500) }, 'LEDGER_BODY_CACHE_MB'],
  ])('refuses %o, naming %s', (env, name) => {
    expect(fails(env)).toMatch(new RegExp(`^Invalid configuration:\\n  - ${name} `));
  });

  it('names every wrong variable at once and never echoes secrets', () => {
    const message = fails({ PORT: 'x', REDIS_URL: 'ftp://user:hunter2@host', IMMUDB_PASSWORD: 'y'.repeat(2000) });
    expect(message).toContain('PORT');
    expect(message).toContain('REDIS_URL');
    expect(message).toContain('IMMUDB_PASSWORD');
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('yyyy');
  });
});
