/**
 * The gateway on the embedded ledger as a container runs it: in a PID namespace of its own, so it
 * is PID 1 at every start. Killed with its whole namespace (SIGKILL, as an OOM kill or `docker
 * kill` does), it starts again in a new namespace on the same DATA_DIR, also at once and also
 * while the killed one is an unreaped zombie, with every acknowledged event kept; a second live
 * gateway on the same DATA_DIR is refused. Needs util-linux's unshare and nsenter: in CI their
 * absence fails; elsewhere only their absence skips.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/servers.ts';
import { waitHealthy, type MainProcess } from '../support/main-process.ts';
import {
  canMakePidNamespaces,
  childrenOf,
  firstChild,
  inCI,
  namespaceProblem,
  nsPids,
  processState,
  spawnMainInNewPidNamespace,
  spawnMainInPidNamespaceOf,
  utilLinuxInstalled,
} from '../support/pidns.ts';
import { tempDir } from '../support/services.ts';
import type { GraphQLBody } from '../support/api-types.ts';

const running: MainProcess[] = [];
afterEach(() => {
  // SIGKILL to unshare ends its namespace (--kill-child); nsenter'd gateways die with theirs.
  for (const m of running.splice(0)) if (m.proc.exitCode === null && m.proc.signalCode === null) m.proc.kill('SIGKILL');
});

async function gql(port: number, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphQLBody;
}

const CORRELATION = 'rr-pidns';
const input = (i: number) => ({
  eventType: 'container.restart.checked',
  eventCategory: 'restart',
  outcome: 'SUCCESS',
  correlationId: CORRELATION,
  actorType: 'service',
  actorId: 'pidns-test',
  data: { i },
});

/** Acknowledges `n` events in one createAuditEvents and 3 by createAuditEvent; their ids. */
async function acknowledge(port: number, from: number, n: number): Promise<string[]> {
  const batch = await gql(port, `mutation ($input: [AuditEventInput!]!) { createAuditEvents(input: $input) { events { eventId } } }`, {
    input: Array.from({ length: n }, (_, k) => input(from + k)),
  });
  expect(batch.errors).toBeUndefined();
  const ids: string[] = batch.data!.createAuditEvents.events.map((e: { eventId: string }) => e.eventId);
  for (let k = 0; k < 3; k++) {
    const one = await gql(port, `mutation ($input: AuditEventInput!) { createAuditEvent(input: $input) { event { eventId } } }`, {
      input: input(from + n + k),
    });
    expect(one.errors).toBeUndefined();
    ids.push(one.data!.createAuditEvent.event.eventId);
  }
  expect(ids).toHaveLength(n + 3);
  return ids;
}

/** Every event of the test's correlation, from the ledger's timeline. */
async function stored(port: number): Promise<string[]> {
  const ids: string[] = [];
  for (let after: string | null = null; ; ) {
    const page = await gql(
      port,
      `query ($after: String) { timeline(correlationId: "${CORRELATION}", first: 500, after: $after) { edges { node { eventId } } pageInfo { hasNextPage endCursor } } }`,
      { after },
    );
    expect(page.errors).toBeUndefined();
    ids.push(...page.data!.timeline.edges.map((e: { node: { eventId: string } }) => e.node.eventId));
    if (!page.data!.timeline.pageInfo.hasNextPage) return ids;
    after = page.data!.timeline.pageInfo.endCursor;
  }
}

async function expectStored(port: number, acked: string[], when: string): Promise<void> {
  const ids = await stored(port);
  expect(ids, when).toHaveLength(acked.length);
  expect(new Set(ids), when).toEqual(new Set(acked));
}

/** Main as PID 1 of a new PID namespace, serving on `port`; also returns its init's host pid. */
async function startInNewNamespace(dataDir: string, port: number, init: 'main' | 'sleep' = 'main') {
  const main = spawnMainInNewPidNamespace({ PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' }, init);
  running.push(main);
  const initPid = await firstChild(main.proc.pid!);
  await waitHealthy(main, `http://127.0.0.1:${port}`);
  return { main, initPid };
}

const describeNs = utilLinuxInstalled || inCI ? describe : describe.skip;

describeNs('embedded gateway restarted in new PID namespaces', () => {
  it('can make PID namespaces here (unshare, nsenter; required in CI)', () => {
    expect(canMakePidNamespaces, namespaceProblem).toBe(true);
  });

  it('starts as PID 1 after its namespace is SIGKILLed, three times (the last at once), keeping every acknowledged event', async () => {
    const dataDir = tempDir('auditgraph-pidns-');
    const port = await freePort();
    const acked: string[] = [];
    for (let start = 0; start <= 3; start++) {
      const { main, initPid } = await startInNewNamespace(dataDir, port);
      // PID 1 in its own namespace, as at every container start: a pid proves nothing here.
      expect(nsPids(initPid)).toEqual([initPid, 1]);
      await expectStored(port, acked, `start ${start}`);
      acked.push(...(await acknowledge(port, start * 1000, 40)));
      if (start === 3) break;
      // The whole namespace goes: SIGKILL to its init.
      process.kill(initPid, 'SIGKILL');
      // Restarts 1 and 2 wait until it is gone; restart 3 starts at once.
      if (start < 2) expect(await main.closed).not.toBe(0);
    }
    await expectStored(port, acked, 'at the end');
  }, 180_000);

  it('refuses a second live gateway on the same DATA_DIR, also when it is PID 1 too, with a clear message and exit code 1', async () => {
    const dataDir = tempDir('auditgraph-pidns-');
    const port = await freePort();
    const first = await startInNewNamespace(dataDir, port);
    const acked = await acknowledge(port, 0, 5);

    const secondPort = await freePort();
    const second = spawnMainInNewPidNamespace({ PORT: String(secondPort), DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    running.push(second);
    const guard = setTimeout(() => second.proc.kill('SIGKILL'), 60_000);
    const code = await second.closed;
    clearTimeout(guard);
    const stderr = second.stderr.join('');
    expect(code, stderr).toBe(1);
    expect(stderr).toMatch(/embedded ledger is in use by process 1 on host \S+ \(lock [^)]*defaultdb\.lock\): only one gateway may write a DATA_DIR at a time/);
    expect(
      await fetch(`http://127.0.0.1:${secondPort}/healthz`).then(
        () => true,
        () => false,
      ),
    ).toBe(false);

    // The first one never noticed.
    acked.push(...(await acknowledge(port, 100, 5)));
    await expectStored(port, acked, 'after the refusal');
    expect(first.main.proc.exitCode).toBeNull();
  }, 120_000);

  it('starts at once beside its killed predecessor while that is still an unreaped zombie in the same namespace', async () => {
    const dataDir = tempDir('auditgraph-pidns-');
    const port = await freePort();
    // An init (sleep) that never reaps: the killed gateway stays a zombie, with its pid taken.
    const { initPid } = await startInNewNamespace(dataDir, port, 'sleep');
    const [gateway] = childrenOf(initPid);
    expect(nsPids(gateway!)).toEqual([gateway, 2]);
    const acked = await acknowledge(port, 0, 40);

    process.kill(gateway!, 'SIGKILL');
    for (let i = 0; i < 500 && processState(gateway!) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(processState(gateway!)).toBe('Z');

    const next = spawnMainInPidNamespaceOf(initPid, { PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    running.push(next);
    await waitHealthy(next, `http://127.0.0.1:${port}`);
    expect(processState(gateway!)).toBe('Z'); // still there, still holding its pid
    await expectStored(port, acked, 'after the restart');
    acked.push(...(await acknowledge(port, 100, 5)));
    await expectStored(port, acked, 'after more writes');
    process.kill(initPid, 'SIGKILL'); // the namespace, the zombie and the new gateway with it
  }, 120_000);
});
