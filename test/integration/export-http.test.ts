/**
 * GET /export over real HTTP, as main.ts wires it: an immudb ledger (body cache), the Redis index
 * and its indexer, bearer tokens, the checkpoint key; the `auditgraph export` and `verify-export`
 * commands against it. 20,000 events of mixed correlations, exported by filter and by
 * correlation and compared with the auditEvents and timeline walks over GraphQL.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRateLimiter } from '../../src/auth/rate-limit.ts';
import { createTokenStore } from '../../src/auth/tokens.ts';
import { createCheckpointSigner } from '../../src/checkpoint/checkpoint.ts';
import { runExport } from '../../src/cli/export.ts';
import { runVerifyExport } from '../../src/cli/verify-export.ts';
import type { AuditEventInput, AuditEventRecord } from '../../src/events/types.ts';
import { validateEventInput } from '../../src/events/validate.ts';
import { openEventIndex, type IndexSetup } from '../../src/index/index.ts';
import { indexNamespace } from '../../src/index/redis-index.ts';
import { withBodyCache } from '../../src/ledger/body-cache.ts';
import type { Ledger } from '../../src/ledger/port.ts';
import { createLogger } from '../../src/logger.ts';
import { createApp, type App } from '../../src/server/app.ts';
import { sha256Hex } from '../support/auth.ts';
import { exportedIds, linesOf } from '../support/export.ts';
import { waitCaughtUp } from '../support/index-helpers.ts';
import { describeImmudb, openTestImmudbLedger, redisUrl, tempDir } from '../support/services.ts';

const describeRedis = redisUrl ? describe : describe.skip;
const TOKENS = { reader: 'reader-token', writer: 'writer-token' };
const EVENTS = 20_000;
const CORRELATIONS = 40;

describeImmudb('GET /export', () => {
  describeRedis('over immudb and the Redis index', () => {
    let ledger: Ledger;
    let setup: IndexSetup;
    let app: App;
    let base: string;
    const signer = createCheckpointSigner(generateKeyPairSync('ed25519').privateKey, 'auditgraph/export-http');
    const tag = randomUUID().slice(0, 8);
    const corr = (i: number) => `${tag}-rr-${i}`;
    const dir = tempDir('auditgraph-export-http-');
    const auth = { authorization: `Bearer ${TOKENS.reader}` };

    const gql = async <T>(query: string, variables: Record<string, unknown>) => {
      const res = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: T; errors?: unknown[] };
      expect(body.errors).toBeUndefined();
      return body.data!;
    };
    /** eventIds of a GraphQL connection walked forwards, 500 a page. */
    const walk = async (field: 'auditEvents' | 'timeline', variables: { filter?: unknown; c?: string }) => {
      type Page = { edges: { node: { eventId: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
      const q =
        field === 'auditEvents'
          ? 'query($after: String, $filter: AuditEventFilter) { page: auditEvents(filter: $filter, orderBy: TIMESTAMP_ASC, first: 500, after: $after) { edges { node { eventId } } pageInfo { hasNextPage endCursor } } }'
          : 'query($after: String, $c: String!) { page: timeline(correlationId: $c, first: 500, after: $after) { edges { node { eventId } } pageInfo { hasNextPage endCursor } } }';
      const ids: string[] = [];
      let after: string | null = null;
      for (;;) {
        const { page }: { page: Page } = await gql<{ page: Page }>(q, { ...variables, after });
        ids.push(...page.edges.map((e) => e.node.eventId));
        if (!page.pageInfo.hasNextPage) return ids;
        after = page.pageInfo.endCursor;
      }
    };
    const cli = { fetch, env: {}, progress: { write: () => undefined, tty: false }, stdout: process.stdout, now: () => performance.now() };
    const key = signer.verifierKey;

    beforeAll(async () => {
      ledger = withBodyCache(await openTestImmudbLedger());
      setup = await openEventIndex({
        ledger,
        redisUrl: redisUrl!,
        namespace: indexNamespace(`exp-${randomBytes(6).toString('hex')}`),
        indexer: { pollMs: 50 },
      });
      setup.indexer.start();
      ledger.onAppended(() => setup.indexer.kick());
      app = createApp({
        ledger,
        index: setup.index,
        auth: createTokenStore([
          { name: 'reader', sha256: sha256Hex(TOKENS.reader), scopes: ['audit:read'] },
          { name: 'writer', sha256: sha256Hex(TOKENS.writer), scopes: ['audit:write'] },
        ]),
        checkpoints: signer,
        config: { port: 0, host: '127.0.0.1' },
        logger: createLogger({ level: 'error', write: () => undefined }),
      });
      base = (await app.listen()).url.replace(/\/graphql$/, '');
      // Batches of many sizes (one tx each): correlations spread over txs, txs over correlations.
      const sizes = [1000, 500, 1, 250, 37, 999, 3, 613, 128, 7];
      let n = 0;
      for (let b = 0; n < EVENTS; b++) {
        const size = Math.min(sizes[b % sizes.length]!, EVENTS - n);
        const batch = Array.from({ length: size }, () => {
          n++;
          return validateEventInput({
            eventType: n % 3 === 0 ? 'auth.login' : 'workflow.step',
            eventCategory: 'svc',
            outcome: n % 5 === 0 ? 'FAILURE' : 'SUCCESS',
            correlationId: corr((n * 7) % CORRELATIONS),
            actorType: 'user',
            actorId: `u-${n % 11}`,
            timestamp: new Date(Date.UTC(2025, 5, 1) + ((n * 104729) % (EVENTS * 3))).toISOString(),
            data: { n },
          });
        });
        await ledger.append(batch);
      }
      await waitCaughtUp(setup.index, ledger, 120_000);
    }, 300_000);
    afterAll(async () => {
      await app?.close();
      await setup?.close();
      await ledger?.close();
    });

    it('exports 20,000 events by filter and by correlation: each walk’s events once, in order; verify-export accepts; counts match', async () => {
      const filter = { eventCategory: ['svc'], correlationIds: Array.from({ length: CORRELATIONS }, (_, i) => corr(i)) };
      const out = join(dir, 'all.ndjson');
      const r = await runExport([base, '--filter', JSON.stringify(filter), '--token', TOKENS.reader, '-o', out], cli);
      expect(r, r.stderr.join('\n')).toMatchObject({ exitCode: 0 });
      expect(r.stderr.join('')).toContain(`${EVENTS} events written to ${out}`);
      const file = readFileSync(out);
      const ids = exportedIds(file);
      expect(ids).toHaveLength(EVENTS);
      expect(new Set(ids).size).toBe(EVENTS);
      expect(ids).toEqual(await walk('auditEvents', { filter }));
      const lines = linesOf(file);
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ end: true, events: EVENTS });
      // One tx line per tx in the usual case: far fewer than events.
      expect(lines.filter((l) => l.startsWith('{"tx":')).length).toBeLessThan(EVENTS / 10);
      const v = await runVerifyExport([out, '--key', key]);
      expect(v, v.stdout.join('\n')).toMatchObject({ exitCode: 0 });
      expect(v.stdout.join('')).toMatch(new RegExp(`^valid: ${EVENTS} events in \\d+ txs`));
      // Every temporary file is gone.
      expect(readdirSync(dir).filter((f) => f.endsWith('.part'))).toEqual([]);

      for (const c of [corr(3), corr(17)]) {
        const path = join(dir, `${c}.ndjson`);
        expect((await runExport([`${base}/graphql`, '--correlation', c, '--token', TOKENS.reader, '-o', path], cli)).exitCode).toBe(0);
        const cids = exportedIds(readFileSync(path));
        expect(cids.length).toBeGreaterThan(400);
        expect(cids).toEqual(await walk('timeline', { c }));
        expect((await runVerifyExport([path, '--key', key])).exitCode).toBe(0);
      }
    });

    it('runs as commands: `auditgraph export` writes the file, `auditgraph verify-export` checks it, and refuses a tampered one', async () => {
      const run = (args: string[]) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          const p = spawn(process.execPath, ['bin/auditgraph.mjs', ...args], { env: { ...process.env, AUDITGRAPH_TOKEN: TOKENS.reader } });
          let stdout = '';
          let stderr = '';
          p.stdout.on('data', (d) => (stdout += d));
          p.stderr.on('data', (d) => (stderr += d));
          p.on('close', (code) => resolve({ code, stdout, stderr }));
        });
      const out = join(dir, 'cmd.ndjson');
      const e = await run(['export', base, '--correlation', corr(5), '--since', '2025-06-01T00:00:10Z', '-o', out]);
      expect(e.code, e.stderr).toBe(0);
      expect(e.stderr).toMatch(/\d+ events, \d+ events\/s/);
      const ok = await run(['verify-export', out, '--key', key]);
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^valid: \d+ events/);
      const lines = linesOf(readFileSync(out));
      const bad = join(dir, 'cmd-bad.ndjson');
      const i = lines.findIndex((l) => l.startsWith('{"txId":'));
      lines.splice(i, 1);
      writeFileSync(bad, `${lines.join('\n')}\n`);
      const no = await run(['verify-export', bad]);
      expect(no.code).toBe(1);
      expect(no.stdout).toMatch(/^invalid: line \d+: count: /);
      expect((await run(['verify-export'])).code).toBe(2);
    });

    it('writes CSV that a CSV parser reads back with the same values', async () => {
      const c = `${tag}-csv`;
      const awkward = ['say "hi", then, go', 'two\nlines\r\nhere', '=1+2', '+cmd', '-5', '@SUM(A1)', 'ünïcødé ✓ 🚀 𝔘𝔫𝔦'];
      const inputs: AuditEventInput[] = awkward.map((s, i) => ({
        eventType: 'csv.test',
        eventCategory: 'svc',
        outcome: 'FAILURE',
        correlationId: c,
        actorType: 'user',
        actorId: `a${i}`,
        errorMessage: s,
        resourceType: 'pod',
        resourceId: s,
        timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(),
        data: { s, i },
      }));
      const written = await ledger.append(inputs.map((x) => validateEventInput(x)));
      const res = await fetch(`${base}/export?format=csv&correlationId=${encodeURIComponent(c)}`, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="auditgraph-[^"]+-csv-tx\d+\.csv"$/);
      const rows = parse(await res.text(), { bom: true, columns: true }) as Record<string, string>[];
      expect(rows).toHaveLength(awkward.length);
      const undefuse = (s: string) => (/^'[=+\-@\t\r]/.test(s) ? s.slice(1) : s);
      rows.forEach((row, i) => {
        const r: AuditEventRecord = written[i]!.event.record;
        expect(undefuse(row.errorMessage!)).toBe(awkward[i]);
        expect(undefuse(row.resourceId!)).toBe(awkward[i]);
        expect(JSON.parse(row.data!)).toEqual({ s: awkward[i], i });
        expect(row).toMatchObject({ eventId: r.eventId, timestamp: r.timestamp, txId: written[i]!.event.txId, key: written[i]!.event.key.toString('latin1') });
        expect(row.recordedAt).toMatch(/Z$/);
        for (const v of Object.values(row)) expect(v).not.toMatch(/^[=+\-@]/);
      });
    });

    it('refuses bad input with the codes GraphQL uses, and streams nothing', async () => {
      const cases: [string, number, string, string[]][] = [
        ['filter=%7Bnot%20json', 400, 'BAD_USER_INPUT', ['filter']],
        [`filter=${encodeURIComponent('{"colour":["red"]}')}`, 400, 'BAD_USER_INPUT', ['filter.colour']],
        [`filter=${encodeURIComponent('{"outcome":["MAYBE"]}')}`, 400, 'BAD_USER_INPUT', ['filter.outcome.0']],
        ['correlationId=a&since=2025-02-01T00:00:00Z&until=2025-01-01T00:00:00Z', 400, 'BAD_USER_INPUT', ['since']],
        ['correlationId=a&format=xml', 400, 'BAD_USER_INPUT', ['format']],
        ['correlationId=a&first=10', 400, 'BAD_USER_INPUT', ['first']],
      ];
      for (const [qs, status, code, paths] of cases) {
        const res = await fetch(`${base}/export?${qs}`, { headers: auth });
        expect(res.status, qs).toBe(status);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        const body = (await res.json()) as { errors: { message: string; extensions: { code: string; violations: { path: string }[] } }[] };
        expect(body.errors[0]!.extensions.code).toBe(code);
        expect(body.errors[0]!.extensions.violations.map((v) => v.path)).toEqual(paths);
      }
      // GraphQL says the same of the same filter.
      const g = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify({ query: '{ auditEvents(filter: { since: "2025-02-01T00:00:00Z", until: "2025-01-01T00:00:00Z" }) { edges { cursor } } }' }),
      });
      expect(((await g.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('BAD_USER_INPUT');

      const refused = async (init: RequestInit, path = '/export?correlationId=a') => {
        const res = await fetch(`${base}${path}`, init);
        const text = await res.text();
        expect(text).not.toContain('auditgraph.export.v1');
        return { status: res.status, code: (JSON.parse(text) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code, res };
      };
      expect(await refused({})).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
      expect(await refused({ headers: { authorization: 'Bearer nope' } })).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
      expect(await refused({ headers: { authorization: `Bearer ${TOKENS.writer}` } })).toMatchObject({ status: 403, code: 'FORBIDDEN' });
      expect(await refused({ headers: { ...auth, origin: 'http://evil.example' } })).toMatchObject({ status: 403, code: 'FORBIDDEN' });
      expect(await refused({ method: 'POST', headers: auth })).toMatchObject({ status: 405 });
      // The same origin is fine.
      const same = await fetch(`${base}/export?correlationId=a`, { headers: { ...auth, origin: base } });
      expect(same.status).toBe(200);
      await same.text();
    });

    it('charges the reader’s query-cost budget: over it, RATE_LIMITED with Retry-After before any byte', async () => {
      const limiter = new MemoryRateLimiter({ writes: { perSecond: 0, burst: 0 }, cost: { perSecond: 0.01, burst: 600 } });
      const limited = createApp({
        ledger,
        index: setup.index,
        rateLimiter: limiter,
        config: { port: 0, host: '127.0.0.1' },
        logger: createLogger({ level: 'error', write: () => undefined }),
      });
      const url = (await limited.listen()).url.replace(/\/graphql$/, '');
      try {
        // A correlation without events: one page, charged before the response starts.
        const none = `${url}/export?correlationId=${tag}-none`;
        const first = await fetch(none);
        expect(first.status).toBe(200);
        await first.text();
        const second = await fetch(none);
        expect(second.status).toBe(429);
        expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(((await second.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('RATE_LIMITED');
      } finally {
        await limited.close();
      }
    });
  });
});
