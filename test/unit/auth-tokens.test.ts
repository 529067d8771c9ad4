import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTokenStore, hasScope, loadTokenStore } from '../../src/auth/tokens.ts';
import { sha256Hex } from '../support/auth.ts';
import { ConfigError } from '../../src/errors.ts';
import { tempDir } from '../support/services.ts';

const entry = (name: string, token: string, scopes: string[]) => ({ name, sha256: sha256Hex(token), scopes });

describe('token store', () => {
  it('is open (no principal) with no tokens configured, whatever is sent', () => {
    const store = loadTokenStore({});
    expect(store.enabled).toBe(false);
    expect(store.authenticate(undefined)).toEqual({ ok: true, principal: null });
    expect(store.authenticate('Bearer anything')).toEqual({ ok: true, principal: null });
  });

  it('joins AUTH_TOKENS_FILE and AUTH_TOKENS and authenticates by hash', () => {
    const file = join(tempDir(), 'tokens.json');
    writeFileSync(file, JSON.stringify([entry('gateway-svc', 'secret-1', ['audit:write'])]));
    const store = loadTokenStore({ AUTH_TOKENS_FILE: file, AUTH_TOKENS: JSON.stringify([entry('ops', 'secret-2', ['audit:admin'])]) });
    expect(store.names).toEqual(['gateway-svc', 'ops']);
    expect(store.authenticate('Bearer secret-1')).toEqual({ ok: true, principal: { name: 'gateway-svc', scopes: ['audit:write'] } });
    expect(store.authenticate('bearer secret-2')).toMatchObject({ ok: true, principal: { name: 'ops' } });
    expect(store.authenticate(undefined)).toEqual({ ok: false, reason: 'missing' });
    for (const bad of ['Bearer secret-3', 'secret-1', 'Basic secret-1', 'Bearer ', 42, { a: 1 }])
      expect(store.authenticate(bad), String(bad)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('audit:admin implies every scope', () => {
    const admin = { name: 'a', scopes: ['audit:admin'] as const };
    expect(hasScope(admin, 'audit:read') && hasScope(admin, 'audit:write')).toBe(true);
    expect(hasScope({ name: 'r', scopes: ['audit:read'] }, 'audit:write')).toBe(false);
  });

  it.each([
    ['not JSON', '{', /AUTH_TOKENS is not valid JSON/],
    ['not a list', '{}', /must be a JSON array/],
    ['a bad hash', JSON.stringify([{ name: 'x', sha256: 'abc', scopes: [] }]), /sha256 must be 64 hex digits/],
    ['an unknown scope', JSON.stringify([entry('x', 't', ['audit:everything'])]), /scopes must be a list/],
    ['a plaintext token', JSON.stringify([{ ...entry('x', 't', []), token: 't' }]), /unknown field\(s\) "token"/],
    ['a repeated name', JSON.stringify([entry('x', 't1', []), entry('x', 't2', [])]), /configured twice/],
    ['a repeated hash', JSON.stringify([entry('x', 't', []), entry('y', 't', [])]), /same sha256/],
  ])('refuses %s', (_what, value, message) => {
    expect(() => loadTokenStore({ AUTH_TOKENS: value })).toThrow(ConfigError);
    expect(() => loadTokenStore({ AUTH_TOKENS: value })).toThrow(message);
  });

  it('refuses an unreadable file without echoing anything from it', () => {
    expect(() => loadTokenStore({ AUTH_TOKENS_FILE: '/nonexistent/tokens.json' })).toThrow(/AUTH_TOKENS_FILE cannot be read \(ENOENT\)/);
  });

  it('createTokenStore accepts upper-case hex as configured by loadTokenStore (normalized)', () => {
    const store = loadTokenStore({ AUTH_TOKENS: JSON.stringify([{ ...entry('x', 't', ['audit:read']), sha256: sha256Hex('t').toUpperCase() }]) });
    expect(store.authenticate('Bearer t')).toMatchObject({ ok: true });
    expect(createTokenStore([]).enabled).toBe(false);
  });
});
