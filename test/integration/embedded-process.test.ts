/**
 * The product as a newcomer runs it: `src/main.ts` (what `npm start` runs) with no immudb and no
 * Redis — GraphiQL is served, the README's quick-start operations work as written, proofs pass
 * `npx auditgraph verify`, a SIGKILLed server restarts with every acknowledged event present,
 * verifiable, indexed and in its timeline and its trusted state continued, and a log damaged in the
 * middle stops start-up naming the byte offset, never served.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { embeddedLedgerPaths, openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';
import { FILE_HEADER_SIZE, FRAME_OVERHEAD } from '../../src/ledger/embedded/log.ts';
import { ev } from '../contract/ledger-contract.ts';
import { freePort } from '../support/servers.ts';
import { spawnMain, stopMain, waitHealthy, type MainProcess } from '../support/main-process.ts';
import { tempDir } from '../support/services.ts';
import type { ApiData, GraphQLBody } from '../support/api-types.ts';

type Running = MainProcess & { url: string };

/**
 * src/main.ts with no immudb and no Redis: as `npm start` itself (a newcomer's command), or as the
 * node process it ends up running (so that SIGKILL reaches the server, not npm).
 */
async function startMain(dataDir: string, port: number, how: 'npm start' | 'node' = 'node'): Promise<Running> {
  const main = spawnMain({ PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' }, { npmStart: how === 'npm start' });
  const started: Running = { ...main, url: `http://127.0.0.1:${port}/graphql` };
  running.push(started); // killed after the test, also when it never became healthy
  await waitHealthy(main, `http://127.0.0.1:${port}`);
  return started;
}

const running: MainProcess[] = [];
afterEach(() => {
  for (const main of running.splice(0)) stopMain(main);
});

async function gql(url: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as GraphQLBody;
}

/** `npx auditgraph verify <file> [--trusted txId:txHash]`, as the README says; --no: never fetched from a registry. */
function npxVerify(file: string, ...more: string[]) {
  return spawnSync('npx', ['--no', 'auditgraph', 'verify', file, ...more], { encoding: 'utf8' });
}

/** The README section between `## Try it` and the next `## ` heading: its graphql and sh blocks. */
function readmeQuickStart(): { graphql: string[]; sh: string[] } {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('\n## Try it\n');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks = (lang: string) => [...section.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]!);
  return { graphql: blocks('graphql'), sh: blocks('sh') };
}

const CREATE = `mutation ($input: AuditEventInput!) { createAuditEvent(input: $input) { created event { eventId ledger { txId } } proof { verified txId json } } }`;
const input = (i: number, eventId?: string) => ({
  ...(eventId ? { eventId } : {}),
  eventType: 'workflow.step.completed',
  eventCategory: 'workflow',
  outcome: i % 3 === 0 ? 'FAILURE' : 'SUCCESS',
  correlationId: 'rr-embedded',
  actorType: 'service',
  actorId: `worker-${i % 4}`,
  data: { i },
});

describe('npm start on the embedded default', () => {
  it('serves GraphiQL, and a created event carries a proof the verify command accepts', async () => {
    const dataDir = tempDir();
    const r = await startMain(dataDir, await freePort(), 'npm start');
    const page = await fetch(r.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/graphiql/i);
    const created = await gql(r.url, CREATE, { input: input(1) });
    expect(created.errors).toBeUndefined();
    expect(created.data!.createAuditEvent.proof.verified).toBe(true);
    const file = join(dataDir, 'proof.json');
    writeFileSync(file, JSON.stringify(created.data!.createAuditEvent.proof.json));
    const verify = npxVerify(file);
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^valid: .*embedded/);
  });

  it('keeps every acknowledged event across SIGKILL: present, verifiable, indexed, in its timeline; trust continues', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const first = await startMain(dataDir, port);
    const acked: string[] = [];
    const refused: string[] = [];
    let stop = false;
    let writing = 4;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const eventId = crypto.randomUUID();
        const res: { data?: ApiData | null; errors?: unknown[] } = await gql(first.url, CREATE, { input: input(w * 100_000 + i, eventId) }).catch(
          (e: Error) => ({
            errors: [e.message],
          }),
        );
        if (res?.data?.createAuditEvent) acked.push(eventId);
        else {
          if (!stop) refused.push(JSON.stringify(res.errors)); // before the kill, every write must succeed
          break;
        }
      }
      writing--;
    });
    while (acked.length < 150 && writing > 0) await new Promise((r) => setTimeout(r, 5));
    expect(refused).toEqual([]);
    first.proc.kill('SIGKILL');
    stop = true;
    await Promise.all(writers);
    await first.closed;

    const trustedFile = JSON.parse(readFileSync(join(dataDir, 'trusted-state', 'embedded-defaultdb.json'), 'utf8'));
    const beforeCrash = `${trustedFile.txId}:${trustedFile.txHash}`;

    const second = await startMain(dataDir, port);
    // The trusted state continues: the restarted gateway starts from the one saved before the kill,
    // and the next proof starts from it (the verify command checks that with --trusted).
    const state = await gql(second.url, `{ ledgerState { txId txHash } }`);
    expect(`${state.data!.ledgerState.txId}:${state.data!.ledgerState.txHash}`).toBe(beforeCrash);
    const next = await gql(second.url, CREATE, { input: input(999_999) });
    expect(next.data!.createAuditEvent.proof.verified).toBe(true);
    const nextProof = join(dataDir, 'next-proof.json');
    writeFileSync(nextProof, JSON.stringify(next.data!.createAuditEvent.proof.json));
    const verified = npxVerify(nextProof, '--trusted', beforeCrash);
    expect(verified.status, verified.stderr).toBe(0);
    acked.push(next.data!.createAuditEvent.event.eventId);

    const timeline: string[] = [];
    for (let after: string | null = null; ; ) {
      const page = await gql(
        second.url,
        `query ($after: String) { timeline(correlationId: "rr-embedded", first: 500, after: $after) { edges { node { eventId } } pageInfo { hasNextPage endCursor } } }`,
        { after },
      );
      timeline.push(...page.data!.timeline.edges.map((e) => e.node.eventId));
      if (!page.data!.timeline.pageInfo.hasNextPage) break;
      after = page.data!.timeline.pageInfo.endCursor;
    }
    expect(new Set(timeline).size).toBe(timeline.length);
    for (const id of acked) expect(timeline, id).toContain(id);
    // indexed: the in-process index is rebuilt from the ledger at start
    let indexed: string[] = [];
    for (let tries = 0; tries < 100; tries++) {
      const q = await gql(second.url, `{ auditEvents(filter: { correlationId: "rr-embedded" }, first: 500) { edges { node { eventId } } } }`);
      indexed = q.data?.auditEvents.edges.map((e) => e.node.eventId) ?? [];
      if (indexed.length >= timeline.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(new Set(indexed)).toEqual(new Set(timeline.slice(0, 500)));
    // verifiable, from the trusted state persisted before the crash
    for (const id of acked.slice(0, 40)) {
      const v = await gql(second.url, `query ($id: ID!) { verifyAuditEvent(eventId: $id) { verified } }`, { id });
      expect(v.data?.verifyAuditEvent.verified, JSON.stringify(v.errors)).toBe(true);
    }
  });

  it.each([
    ['with its trusted state', false],
    ['without a trusted state (the log copied alone)', true],
  ])('refuses a log damaged in the middle, %s: start-up fails naming the byte offset, nothing is served', async (_, dropTrusted) => {
    const dataDir = tempDir();
    const seeding = await openEmbeddedLedger({ dataDir });
    for (let i = 0; i < 6; i++) await seeding.append([ev({ correlationId: 'rr-damaged' })]);
    await seeding.close();
    const { log } = embeddedLedgerPaths(dataDir);
    const bytes = readFileSync(log);
    // The third record (tx 3): one flipped byte inside its value, intact records after it.
    let offset = FILE_HEADER_SIZE;
    for (let k = 0; k < 2; k++) offset += FRAME_OVERHEAD + bytes.readUInt32BE(offset + 4);
    bytes[offset + 200]! ^= 0x01;
    writeFileSync(log, bytes);
    // Without it, nothing but the log itself can tell that history after the damage was acknowledged.
    if (dropTrusted) rmSync(join(dataDir, 'trusted-state'), { recursive: true });

    const port = await freePort();
    const main = spawnMain({ PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    running.push(main);
    let answered = false;
    let code: number | null | undefined;
    // Poll the port until the process exits: it must never answer.
    while (code === undefined && !answered) {
      answered ||= await fetch(`http://127.0.0.1:${port}/healthz`).then(
        () => true,
        () => false,
      );
      code = await Promise.race([main.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100))]);
    }
    const output = main.output.join('');
    expect(code).toBe(1);
    expect(answered).toBe(false);
    expect(output).toContain(`corrupt at byte offset ${offset}`);
    expect(output).toMatch(/refusing to start/);
    expect(readFileSync(log).equals(bytes)).toBe(true); // nothing was cut or rewritten
  });

  it('runs the README quick start as written: create with proof, timeline, subscription, verify', async () => {
    const { graphql, sh } = readmeQuickStart();
    const create = graphql.find((q) => /^mutation/.test(q.trim()) && q.includes('createAuditEvent'));
    const timeline = graphql.find((q) => /^query/.test(q.trim()) && q.includes('timeline('));
    const subscription = graphql.find((q) => /^subscription/.test(q.trim()));
    const verifyQuery = graphql.find((q) => q.includes('verifyAuditEvent('));
    expect([create, timeline, subscription, verifyQuery].every(Boolean), 'the README shows the three operations and the re-verify').toBe(true);
    const command = sh.flatMap((b) => b.split('\n')).find((l) => l.startsWith('npx auditgraph verify proof.json'));
    expect(command).toBeDefined();

    const dataDir = tempDir();
    const r = await startMain(dataDir, await freePort(), 'npm start');
    // The subscription first, over WebSocket as GraphiQL runs it.
    const client = createClient({ url: r.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
    const delivered: string[] = [];
    const subErrors: unknown[] = [];
    const unsubscribe = client.subscribe<ApiData>(
      { query: subscription! },
      {
        next: (m) => (m.data ? delivered.push(m.data.auditEventCreated.eventId) : subErrors.push(m.errors)),
        error: (e) => subErrors.push(e),
        complete: () => {},
      },
    );
    try {
      // Create (again, as the README says) until the subscription has delivered one of them.
      const created: string[] = [];
      let proof: unknown;
      for (let tries = 0; tries < 100 && !delivered.some((id) => created.includes(id)); tries++) {
        const c = await gql(r.url, create!);
        expect(c.errors).toBeUndefined();
        expect(c.data!.createAuditEvent.proof.verified).toBe(true);
        created.push(c.data!.createAuditEvent.event.eventId);
        proof ??= c.data!.createAuditEvent.proof.json;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(subErrors).toEqual([]);
      expect(delivered.some((id) => created.includes(id))).toBe(true);

      const t = await gql(r.url, timeline!);
      expect(t.errors).toBeUndefined();
      expect(t.data!.timeline.edges.map((e) => e.node.eventId)).toEqual(created.slice(0, 50));

      const v = await gql(r.url, verifyQuery!.replace('"…"', JSON.stringify(created[0])));
      expect(v.errors).toBeUndefined();
      expect(v.data!.verifyAuditEvent.verified).toBe(true);

      // Save proof.json, then the README's command.
      writeFileSync(join(dataDir, 'proof.json'), JSON.stringify(proof));
      const args = command!.split('#')[0]!.trim().split(/\s+/);
      expect(args.slice(0, 4)).toEqual(['npx', 'auditgraph', 'verify', 'proof.json']);
      const out = npxVerify(join(dataDir, 'proof.json'));
      expect(out.status, out.stderr).toBe(0);
      expect(out.stdout).toMatch(/^valid: .*embedded/);
    } finally {
      unsubscribe();
      await client.dispose();
    }
  });
});
