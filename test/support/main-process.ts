/**
 * src/main.ts as a child process, as `npm start` runs it, for tests of the product as a process
 * (start-up, configuration errors, crashes). Only the variables a test passes reach it: the
 * harness's immudb, Redis and tokens never leak in from the environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface MainProcess {
  proc: ChildProcess;
  /** stdout and stderr, interleaved as they arrived. */
  output: string[];
  stdout: string[];
  stderr: string[];
  /** main's exit code once it has exited and its output is complete (null: killed by a signal). */
  closed: Promise<number | null>;
  /** Started through `npm start`, in a process group of its own. */
  npmStart: boolean;
}

const INHERITED_SERVICES = ['IMMUDB_ADDRESS', 'REDIS_URL', 'AUTH_TOKENS', 'AUTH_TOKENS_FILE'];

/**
 * Starts main with `vars` over the current environment minus the services. `npmStart`: through
 * `npm start` itself, in a process group of its own (end it with `process.kill(-pid)`, so that
 * nothing of it outlives a test that fails half-way).
 */
export function spawnMain(vars: Record<string, string>, options: { npmStart?: boolean } = {}): MainProcess {
  const env = mainEnv(vars);
  const proc = options.npmStart
    ? spawn('npm', ['start'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return tracked(proc, options.npmStart ?? false);
}

/** The current environment minus the services, on 127.0.0.1, with `vars` over it. */
export function mainEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOST: '127.0.0.1' };
  for (const name of INHERITED_SERVICES) delete env[name];
  return Object.assign(env, vars);
}

/** Collects a spawned main's output and its exit. */
export function tracked(proc: ChildProcess, npmStart: boolean): MainProcess {
  const output: string[] = [];
  const stdout: string[] = [];
  const stderr: string[] = [];
  proc.stdout!.on('data', (d) => {
    output.push(String(d));
    stdout.push(String(d));
  });
  proc.stderr!.on('data', (d) => {
    output.push(String(d));
    stderr.push(String(d));
  });
  const closed = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  return { proc, output, stdout, stderr, closed, npmStart };
}

/**
 * Runs main with `vars` (PORT 0, DATA_DIR `dataDir`) until it exits by itself, as a start that is
 * refused does; one that does not stop within 30 s is killed, a failure too. stdout and stderr apart.
 */
export async function runMainToExit(vars: Record<string, string>, dataDir: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const main = spawnMain({ PORT: '0', DATA_DIR: dataDir, ...vars });
  const guard = setTimeout(() => main.proc.kill('SIGKILL'), 30_000);
  const status = await main.closed;
  clearTimeout(guard);
  return { status, stdout: main.stdout.join(''), stderr: main.stderr.join('') };
}

/** Kills main if it still runs: under `npm start` the whole group (npm, its shell, tsx, the server). */
export function stopMain(main: MainProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (main.npmStart) {
    try {
      process.kill(-main.proc.pid!, signal);
    } catch {
      // already gone
    }
  } else if (main.proc.exitCode === null && main.proc.signalCode === null) main.proc.kill(signal);
}

/** Resolves once `base`/healthz answers; throws (with main's output) if main exits or takes 30 s. */
export async function waitHealthy(main: MainProcess, base: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { proc, output } = main;
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`main exited (${proc.exitCode ?? proc.signalCode}): ${output.join('')}`);
    if (
      await fetch(`${base}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`main did not start within ${timeoutMs} ms: ${main.output.join('')}`);
}
