/**
 * src/main.ts in a PID namespace of its own, as a container runs it: `unshare -pf --mount-proc`
 * makes it PID 1 (or, under a shell that becomes `sleep`, PID 2 with an init that never reaps).
 * The environment is built as spawnMain builds it: the harness's services never leak in.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mainEnv, tracked, type MainProcess } from './main-process.ts';

export const inCI = process.env.CI === 'true' || process.env.CI === '1';

/** util-linux's unshare and nsenter are installed (only their absence may skip, and not in CI). */
export const utilLinuxInstalled = ['unshare', 'nsenter'].every(
  (cmd) => (spawnSync(cmd, ['--version']).error as NodeJS.ErrnoException | undefined)?.code !== 'ENOENT',
);

/**
 * How unshare makes a PID namespace here: directly (root with CAP_SYS_ADMIN), else inside a user
 * namespace that maps us to root; null (with the reason in `namespaceProblem`) if neither works.
 */
export let namespaceProblem = '';
const userNamespace: boolean | null = (() => {
  if (!utilLinuxInstalled) {
    namespaceProblem = 'unshare or nsenter is not installed (util-linux)';
    return null;
  }
  for (const user of [false, true]) {
    const r = spawnSync('unshare', [user ? '-rpf' : '-pf', '--mount-proc', 'true'], { encoding: 'utf8' });
    if (r.status === 0) return user;
    namespaceProblem += `unshare ${user ? '-rpf' : '-pf'}: ${r.stderr.trim() || r.error}; `;
  }
  return null;
})();
export const canMakePidNamespaces = userNamespace !== null;

const NEW_NAMESPACE = [userNamespace ? '-rpf' : '-pf', '--mount-proc', '--kill-child=SIGKILL'];
const MAIN = [process.execPath, '--import', 'tsx', 'src/main.ts'];

function track(cmd: string, args: string[], vars: Record<string, string>): MainProcess {
  return tracked(spawn(cmd, args, { env: mainEnv(vars), stdio: ['ignore', 'pipe', 'pipe'] }), false);
}

/**
 * Main in a new PID namespace. `init: 'main'`: main is its PID 1. `init: 'sleep'`: a shell starts
 * main in the background and becomes `sleep` (PID 1, never reaps), main is PID 2. The returned
 * process is unshare's: SIGKILL to it kills the whole namespace (--kill-child), and main's exit
 * code is its exit code.
 */
export function spawnMainInNewPidNamespace(vars: Record<string, string>, init: 'main' | 'sleep' = 'main'): MainProcess {
  const command = init === 'main' ? MAIN : ['sh', '-c', '"$0" "$@" & exec sleep 600', ...MAIN];
  return track('unshare', [...NEW_NAMESPACE, ...command], vars);
}

/** Main started inside the PID (and mount) namespace whose init has host pid `initPid`. */
export function spawnMainInPidNamespaceOf(initPid: number, vars: Record<string, string>): MainProcess {
  return track(
    'nsenter',
    ['-t', String(initPid), ...(userNamespace ? ['-U', '--preserve-credentials'] : []), '-p', '-m', `--wd=${process.cwd()}`, ...MAIN],
    vars,
  );
}

/** Host pids of `pid`'s children. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** `pid`'s pid in each PID namespace it is in, host first (the NSpid line of /proc/<pid>/status). */
export function nsPids(pid: number): number[] {
  const line = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return line ? line.trim().split(/\s+/).map(Number) : [];
}

/** Linux process state letter (R, S, Z, ...) of `pid`, or null once it is gone. */
export function processState(pid: number): string | null {
  try {
    return /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The host pid of the first child of `parent` once it has one (unshare forks its namespace's init). */
export async function firstChild(parent: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [child] = childrenOf(parent);
    if (child) return child;
    if (Date.now() > deadline) throw new Error(`process ${parent} started no child within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
