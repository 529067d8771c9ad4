/**
 * Bearer tokens (api-contract.md, "Authentication"). Tokens are configured only as SHA-256 hashes
 * (AUTH_TOKENS_FILE and/or AUTH_TOKENS, JSON `[{ name, sha256, scopes }]`), so the configuration
 * never holds a usable secret. A presented token is hashed and compared against every configured
 * hash with `timingSafeEqual` (no early exit: the time taken does not say which hash was close).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';

export const SCOPES = ['audit:read', 'audit:write', 'audit:admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  name: string;
  scopes: readonly Scope[];
}

export type AuthResult = { ok: true; principal: Principal | null } | { ok: false; reason: 'missing' | 'invalid' };

export interface TokenStore {
  /** false: no tokens configured; every request is let in with no principal. */
  readonly enabled: boolean;
  readonly names: readonly string[];
  /** `authorization` as sent (`Bearer <token>`), from the HTTP header or graphql-ws connectionParams. */
  authenticate(authorization: unknown): AuthResult;
}

/** `audit:admin` implies every scope. */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.includes(scope) || principal.scopes.includes('audit:admin');
}

interface Entry {
  principal: Principal;
  hash: Buffer;
}

const BEARER = /^Bearer ([\x21-\x7e]{1,4096})$/i;

export function createTokenStore(entries: readonly { name: string; sha256: string; scopes: readonly Scope[] }[]): TokenStore {
  const list: Entry[] = entries.map((e) => ({
    principal: Object.freeze({ name: e.name, scopes: Object.freeze([...e.scopes]) }),
    hash: Buffer.from(e.sha256, 'hex'),
  }));
  return {
    enabled: list.length > 0,
    names: list.map((e) => e.principal.name),
    authenticate(authorization) {
      if (list.length === 0) return { ok: true, principal: null };
      if (authorization === undefined || authorization === null || authorization === '') return { ok: false, reason: 'missing' };
      const m = typeof authorization === 'string' ? BEARER.exec(authorization.trim()) : null;
      if (!m) return { ok: false, reason: 'invalid' };
      const presented = createHash('sha256').update(m[1]!, 'utf8').digest();
      let found: Principal | null = null;
      for (const e of list) if (timingSafeEqual(presented, e.hash) && found === null) found = e.principal;
      return found ? { ok: true, principal: found } : { ok: false, reason: 'invalid' };
    },
  };
}

const NAME = /^[A-Za-z0-9._:@-]{1,128}$/;
const HEX = /^[0-9a-f]{64}$/;

function parseEntries(json: string, source: string, problems: string[]): { name: string; sha256: string; scopes: Scope[] }[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    problems.push(`${source} is not valid JSON (${(e as Error).message})`);
    return [];
  }
  if (!Array.isArray(parsed)) {
    problems.push(`${source} must be a JSON array of { name, sha256, scopes }`);
    return [];
  }
  const out: { name: string; sha256: string; scopes: Scope[] }[] = [];
  parsed.forEach((raw: unknown, i) => {
    const at = `${source}[${i}]`;
    const e = raw as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) {
      problems.push(`${at} must be an object { name, sha256, scopes }`);
      return;
    }
    const extra = Object.keys(e).filter((k) => !['name', 'sha256', 'scopes'].includes(k));
    // A plaintext `token` field is a mistake worth stopping for: secrets do not belong here.
    if (extra.length > 0) problems.push(`${at} has unknown field(s) ${extra.map((k) => JSON.stringify(k.slice(0, 32))).join(', ')}`);
    if (typeof e.name !== 'string' || !NAME.test(e.name)) problems.push(`${at}.name must be 1–128 characters of [A-Za-z0-9._:@-]`);
    const hash = typeof e.sha256 === 'string' ? e.sha256.toLowerCase() : '';
    if (!HEX.test(hash)) problems.push(`${at}.sha256 must be 64 hex digits (the SHA-256 of the token)`);
    const scopes = e.scopes;
    if (!Array.isArray(scopes) || scopes.some((s) => !(SCOPES as readonly unknown[]).includes(s))) {
      problems.push(`${at}.scopes must be a list of ${SCOPES.join(', ')}`);
    }
    out.push({ name: String(e.name), sha256: hash, scopes: Array.isArray(scopes) ? (scopes as Scope[]) : [] });
  });
  return out;
}

/** Reads AUTH_TOKENS_FILE and AUTH_TOKENS (both may be set: the lists are joined). Throws ConfigError. */
export function loadTokenStore(env: Record<string, string | undefined> = process.env): TokenStore {
  const problems: string[] = [];
  const entries: { name: string; sha256: string; scopes: Scope[] }[] = [];
  const file = env.AUTH_TOKENS_FILE?.trim();
  if (file) {
    let text: string | null = null;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      problems.push(`AUTH_TOKENS_FILE cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (text !== null) entries.push(...parseEntries(text, 'AUTH_TOKENS_FILE', problems));
  }
  const inline = env.AUTH_TOKENS?.trim();
  if (inline) entries.push(...parseEntries(inline, 'AUTH_TOKENS', problems));
  const seenNames = new Set<string>();
  const seenHashes = new Set<string>();
  for (const e of entries) {
    if (seenNames.has(e.name)) problems.push(`token name ${JSON.stringify(e.name)} is configured twice`);
    if (seenHashes.has(e.sha256)) problems.push(`token ${JSON.stringify(e.name)} has the same sha256 as another token`);
    seenNames.add(e.name);
    seenHashes.add(e.sha256);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return createTokenStore(entries);
}
