/**
 * Private immudb and Redis processes for tests: free port, temporary data dir, killable for
 * fault tests. immudb's pgsql server, web console and metrics server are off: they listen on fixed
 * ports, which would clash between instances (immudb 1.1.0 cannot turn metrics off, but there a
 * clash only logs an error).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, proc: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${name} exited (${proc.exitCode ?? proc.signalCode}) during start-up`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not listen on ${port} within ${timeoutMs} ms`);
}

export interface ManagedServer {
  readonly address: string;
  readonly port: number;
  readonly dir: string;
  /** SIGKILL: nothing flushed, like a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data dir. */
  start(): Promise<void>;
  /** Kills it and removes its data. */
  destroy(): Promise<void>;
}

function managed(name: string, port: number, dir: string, launch: () => ChildProcess): ManagedServer {
  let proc: ChildProcess | null = null;
  const server: ManagedServer = {
    address: `127.0.0.1:${port}`,
    port,
    dir,
    async start() {
      proc = launch();
      proc.stdout?.resume();
      proc.stderr?.resume();
      await waitForPort(port, 20_000, proc, name);
    },
    async kill() {
      const p = proc;
      proc = null;
      if (!p || p.exitCode !== null || p.signalCode !== null) return; // already gone (by exit or by signal)
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGKILL');
      });
    },
    async destroy() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Starts it, or kills what was spawned and rethrows: a failed start leaves no process behind. */
async function started(server: ManagedServer): Promise<ManagedServer> {
  try {
    await server.start();
  } catch (e) {
    await server.destroy();
    throw e;
  }
  return server;
}

// immudb 1.1.0 has no --metrics-server flag and refuses unknown flags, so ask the binary.
const metricsFlag = new Map<string, Promise<boolean>>();
function hasMetricsFlag(binary: string): Promise<boolean> {
  let known = metricsFlag.get(binary);
  if (!known) {
    known = new Promise((resolve) => execFile(binary, ['--help'], (_e, stdout) => resolve(String(stdout).includes('--metrics-server'))));
    metricsFlag.set(binary, known);
  }
  return known;
}

export async function startImmudb(binary: string, port?: number, extraArgs: string[] = []): Promise<ManagedServer> {
  const p = port ?? (await freePort());
  const args = ['--address', '127.0.0.1', '--port', String(p), '--pgsql-server=false', '--web-server=false'];
  if (await hasMetricsFlag(binary)) args.push('--metrics-server=false');
  const dir = mkdtempSync(join(tmpdir(), 'auditgraph-immudb-'));
  const server = managed('immudb', p, dir, () =>
    spawn(binary, ['--dir', join(dir, 'data'), ...args, ...extraArgs], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  return started(server);
}

export async function startRedis(port?: number): Promise<ManagedServer> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'auditgraph-redis-'));
  const server = managed('redis-server', p, dir, () =>
    spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  return started(server);
}
