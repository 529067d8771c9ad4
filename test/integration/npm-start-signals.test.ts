/**
 * `npm start` stopped the ways a user stops it: `kill <pid of npm>` (SIGTERM or SIGINT) and Ctrl-C
 * (the terminal sends SIGINT to every process of the foreground group: npm and the server, which
 * npm then also forwards its copy to). Each time the server stops gracefully — a write in flight
 * when the signal came still completes —, npm exits 0, the port is free and no process that npm
 * started is left. The serving node process is npm's own child (the script execs it): a shell in
 * between dies on the signal and leaves the server running, re-parented.
 */
import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/servers.ts';
import { spawnMain, stopMain, waitHealthy, type MainProcess } from '../support/main-process.ts';
import { tempDir } from '../support/services.ts';

interface Proc {
  pid: number;
  ppid: number;
  pgrp: number;
  /** Start time in clock ticks since boot: tells a pid reused later from the process seen. */
  start: string;
  cmdline: string;
}

function readProc(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: the fields after it start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (f[0] === 'Z') return null; // a zombie holds nothing: its parent has yet to reap it
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return { pid, ppid: Number(f[1]), pgrp: Number(f[2]), start: f[19]!, cmdline };
  } catch {
    return null; // gone meanwhile
  }
}

const allProcs = () =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => readProc(Number(d)) ?? []);

/** `root` and its descendants, and every process of its process group (npm leads its own). */
function treeOf(root: number): Proc[] {
  const procs = allProcs();
  const found = new Map<number, Proc>();
  for (const p of procs) if (p.pid === root || p.pgrp === root) found.set(p.pid, p);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) {
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.set(p.pid, p);
        grew = true;
      }
    }
  }
  return [...found.values()];
}

/** The process among `procs` holding the socket that listens on `port` (from /proc/net/tcp{,6}). */
function listenerOf(procs: Proc[], port: number): Proc | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/); // sl local_address rem_address st … uid timeout inode
      if (f.length > 9 && f[3] === '0A' && parseInt(f[1]!.split(':')[1]!, 16) === port) inodes.add(f[9]!);
    }
  }
  return procs.find((p) => {
    try {
      return readdirSync(`/proc/${p.pid}/fd`).some((fd) => inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${p.pid}/fd/${fd}`))?.[1] ?? ''));
    } catch {
      return false;
    }
  });
}

/** The processes of `seen` still alive (same pid and start time), and any new one in the group. */
function leftOf(seen: Proc[], pgrp: number): Proc[] {
  const still = seen.filter((p) => readProc(p.pid)?.start === p.start);
  const joined = allProcs().filter((p) => p.pgrp === pgrp && !seen.some((s) => s.pid === p.pid));
  return [...still, ...joined];
}

const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

const CREATE = JSON.stringify({
  query: 'mutation ($input: AuditEventInput!) { createAuditEvent(input: $input) { created proof { verified } } }',
  variables: {
    input: {
      eventType: 'gateway.signal.received',
      eventCategory: 'gateway',
      outcome: 'SUCCESS',
      correlationId: 'rr-signals',
      actorType: 'service',
      actorId: 'gateway',
    },
  },
});

/**
 * A createAuditEvent the server has begun (its headers answered with 100 Continue) whose body is
 * still coming: `finish()` sends the rest and resolves with the answer.
 */
async function startSlowWrite(port: number): Promise<{ finish: () => Promise<{ status: number; body: string }> }> {
  const body = Buffer.from(CREATE);
  const req = request({
    host: '127.0.0.1',
    port,
    path: '/graphql',
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': body.length, expect: '100-continue' },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
      res.once('error', reject);
    });
  });
  answer.catch(() => {}); // awaited through finish(); an early failure must not go unhandled
  await new Promise<void>((resolve, reject) => {
    req.once('continue', resolve);
    req.once('error', reject);
    req.flushHeaders();
  });
  req.write(body.subarray(0, 10));
  return {
    finish: () => {
      req.end(body.subarray(10));
      return answer;
    },
  };
}

const exited = (main: MainProcess, timeoutMs: number) =>
  new Promise<number | string>((resolve, reject) => {
    if (main.proc.exitCode !== null || main.proc.signalCode !== null) return resolve(main.proc.exitCode ?? main.proc.signalCode!);
    const timer = setTimeout(() => reject(new Error(`npm still runs ${timeoutMs} ms after the signal:\n${main.output.join('')}`)), timeoutMs);
    main.proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal!);
    });
  });

const running: MainProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const main of running.splice(0)) stopMain(main); // SIGKILL to the group, whatever is left
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('npm start stops on a signal, leaving nothing behind', () => {
  it.each([
    { how: 'kill -TERM <npm pid>', signal: 'SIGTERM' as const, toGroup: false },
    { how: 'kill -INT <npm pid>', signal: 'SIGINT' as const, toGroup: false },
    { how: 'Ctrl-C (SIGINT to the whole foreground group)', signal: 'SIGINT' as const, toGroup: true },
  ])('$how: graceful stop, npm exits 0, the port is free, no process is left', async ({ signal, toGroup }) => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const port = await freePort();
    // The embedded default: spawnMain passes no IMMUDB_ADDRESS, REDIS_URL or tokens through.
    const main = spawnMain({ PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' }, { npmStart: true });
    running.push(main);
    await waitHealthy(main, `http://127.0.0.1:${port}`);
    const npmPid = main.proc.pid!;

    const tree = treeOf(npmPid);
    const server = listenerOf(tree, port);
    const shown = tree.map((p) => `${p.pid} (parent ${p.ppid}) ${p.cmdline}`).join('\n');
    expect(server, `a process npm started listens on ${port}:\n${shown}`).toBeDefined();
    expect(server!.ppid, `the server is npm's own child, no shell or launcher in between:\n${shown}`).toBe(npmPid);

    const write = await startSlowWrite(port);
    process.kill(toGroup ? -npmPid : npmPid, signal);
    // The server waits for the write it has begun: let npm's forwarded copy of a Ctrl-C arrive meanwhile.
    await new Promise((r) => setTimeout(r, 1_500));
    const answer = await write.finish().catch((e: Error) => {
      throw new Error(`the write in flight when the signal came was cut (${e.message}); npm start printed:\n${main.output.join('')}`);
    });
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ data: { createAuditEvent: { created: true, proof: { verified: true } } } });

    expect(await exited(main, 20_000)).toBe(0);
    const output = main.output.join('');
    expect(output).toContain(`${signal}: shutting down`);
    expect(output).toMatch(/"msg":"stopped"/);
    expect(output).not.toMatch(/again: exiting without waiting/);

    // npm waited for its child; the server's own children (esbuild's service) end with it.
    const deadline = Date.now() + 5_000;
    while (leftOf(tree, npmPid).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(leftOf(tree, npmPid).map((p) => `${p.pid} ${p.cmdline}`)).toEqual([]);
    expect(await portIsFree(port)).toBe(true);
  });
});
