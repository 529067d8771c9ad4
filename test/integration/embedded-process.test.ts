/**
 * The product as a newcomer runs it: `src/main.ts` (what `npm start` runs) with no immudb and no
 * Redis — GraphiQL is served, proofs pass the `auditgraph verify` command, and a SIGKILLed server
 * restarts with every acknowledged event present, verifiable, indexed and in its timeline.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/servers.ts';
import { tempDir } from '../support/services.ts';

interface Running {
  proc: ChildProcess;
  url: string;
  output: string[];
}

async function startMain(dataDir: string, port: number): Promise<Running> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info' };
  delete env.IMMUDB_ADDRESS;
  delete env.REDIS_URL;
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  proc.stdout!.on('data', (d) => output.push(String(d)));
  proc.stderr!.on('data', (d) => output.push(String(d)));
  const url = `http://127.0.0.1:${port}/graphql`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`main exited (${proc.exitCode ?? proc.signalCode}): ${output.join('')}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (ok) return { proc, url, output };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`main did not start: ${output.join('')}`);
}

const running: Running[] = [];
afterEach(() => {
  for (const r of running.splice(0)) if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL');
});

async function gql(url: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as { data?: any; errors?: any[] };
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
    const r = await startMain(dataDir, await freePort());
    running.push(r);
    const page = await fetch(r.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/graphiql/i);
    const created = await gql(r.url, CREATE, { input: input(1) });
    expect(created.errors).toBeUndefined();
    expect(created.data.createAuditEvent.proof.verified).toBe(true);
    const file = join(dataDir, 'proof.json');
    writeFileSync(file, JSON.stringify(created.data.createAuditEvent.proof.json));
    const verify = spawnSync(process.execPath, ['bin/auditgraph.mjs', 'verify', file], { encoding: 'utf8' });
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^valid: .*embedded/);
  });

  it('keeps every acknowledged event across SIGKILL: present, verifiable, indexed, in its timeline; trust continues', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const first = await startMain(dataDir, port);
    running.push(first);
    const acked: string[] = [];
    const refused: string[] = [];
    let stop = false;
    let writing = 4;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const eventId = crypto.randomUUID();
        const res: { data?: any; errors?: unknown[] } = await gql(first.url, CREATE, { input: input(w * 100_000 + i, eventId) }).catch((e: Error) => ({ errors: [e.message] }));
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
    // Killed by a signal, a process has exitCode null and signalCode set: check both, or wait forever.
    await new Promise((r) => (first.proc.exitCode !== null || first.proc.signalCode !== null ? r(null) : first.proc.once('exit', r)));

    const second = await startMain(dataDir, port);
    running.push(second);
    const timeline: string[] = [];
    for (let after: string | null = null; ; ) {
      const page = await gql(second.url, `query ($after: String) { timeline(correlationId: "rr-embedded", first: 500, after: $after) { edges { node { eventId } } pageInfo { hasNextPage endCursor } } }`, { after });
      timeline.push(...page.data.timeline.edges.map((e: any) => e.node.eventId));
      if (!page.data.timeline.pageInfo.hasNextPage) break;
      after = page.data.timeline.pageInfo.endCursor;
    }
    expect(new Set(timeline).size).toBe(timeline.length);
    for (const id of acked) expect(timeline, id).toContain(id);
    // indexed: the in-process index is rebuilt from the ledger at start
    let indexed: string[] = [];
    for (let tries = 0; tries < 100; tries++) {
      const q = await gql(second.url, `{ auditEvents(filter: { correlationId: "rr-embedded" }, first: 500) { edges { node { eventId } } } }`);
      indexed = q.data?.auditEvents.edges.map((e: any) => e.node.eventId) ?? [];
      if (indexed.length >= timeline.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(new Set(indexed)).toEqual(new Set(timeline.slice(0, 500)));
    // verifiable, from the trusted state persisted before the crash
    for (const id of acked.slice(0, 40)) {
      const v = await gql(second.url, `query ($id: ID!) { verifyAuditEvent(eventId: $id) { verified } }`, { id });
      expect(v.data?.verifyAuditEvent.verified, JSON.stringify(v.errors)).toBe(true);
    }
    const after = await gql(second.url, CREATE, { input: input(999_999) });
    expect(after.data.createAuditEvent.proof.verified).toBe(true);
  });
});
