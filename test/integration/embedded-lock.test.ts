/**
 * The embedded ledger's single-writer lock, with real processes: it dies with its holder (SIGKILL,
 * an unreaped zombie), of processes starting together on the same lock exactly one wins, long
 * DATA_DIR paths work, it never keeps a process alive, release removes only its own lock, and an
 * older version's pid file blocks only while that version runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedLedgerPaths, openEmbeddedBackend } from '../../src/ledger/embedded/index.ts';
import { acquireLock, LedgerLockedError } from '../../src/ledger/embedded/lock.ts';
import { processState } from '../support/pidns.ts';
import { tempDir } from '../support/services.ts';

const CONTENDER = fileURLToPath(new URL('../support/lock-contender.ts', import.meta.url));

interface Child {
  proc: ChildProcess;
  /** The next line of its stdout (rejects if it exits first). */
  line(): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function track(proc: ChildProcess): Child {
  children.push(proc);
  const lines: string[] = [];
  const waiting: ((l: string | null) => void)[] = [];
  let buffered = '';
  let stderr = '';
  let ended = false;
  proc.stderr?.on('data', (d) => (stderr += String(d)));
  proc.stdout!.on('data', (d) => {
    buffered += String(d);
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const l = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      const w = waiting.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('close', (code, signal) => {
      ended = true;
      for (const w of waiting.splice(0)) w(null);
      resolve({ code, signal });
    }),
  );
  return {
    proc,
    exited,
    line: () =>
      new Promise((resolve, reject) => {
        const got = (l: string | null) => (l === null ? reject(new Error(`child exited: ${stderr}`)) : resolve(l));
        if (lines.length) got(lines.shift()!);
        else if (ended) got(null);
        else waiting.push(got);
      }),
  };
}

function contender(lock: string, mode: 'stdin' | 'hold' | 'once', guarded = '-'): Child {
  return track(spawn(process.execPath, ['--import', 'tsx', CONTENDER, lock, guarded, mode], { stdio: ['pipe', 'pipe', 'pipe'] }));
}

/** A lock path in a fresh directory, as the ledger has it. */
function lockIn(dataDir = tempDir('auditgraph-lock-')) {
  const paths = embeddedLedgerPaths(dataDir);
  mkdirSync(paths.dir, { recursive: true });
  return paths;
}

const wonPid = (line: string) => {
  const m = /^won (\d+)$/.exec(line);
  if (!m) throw new Error(`expected "won <pid>", got: ${line}`);
  return Number(m[1]);
};

describe('embedded ledger lock', () => {
  it('refuses a second owner while the first lives, naming its pid and host; release removes the lock', async () => {
    const { lock, log } = lockIn();
    const a = await acquireLock(lock, { guarded: log });
    const err = await acquireLock(lock, { guarded: log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerLockedError);
    expect((err as LedgerLockedError).pid).toBe(process.pid);
    expect((err as LedgerLockedError).host).toBe(hostname());
    expect((err as Error).message).toContain(`in use by process ${process.pid} on host ${hostname()} (lock ${lock})`);
    a.release();
    a.release(); // twice is harmless
    expect(existsSync(lock)).toBe(false);
    // a refused start leaves nothing behind either
    expect(readdirSync(dirname(lock))).toEqual([]);
    (await acquireLock(lock)).release();
  });

  it('of processes starting together, exactly one wins: on a fresh lock, a SIGKILLed holder’s, an old pid file', async () => {
    const { lock } = lockIn();
    const pool = [contender(lock, 'stdin'), contender(lock, 'stdin'), contender(lock, 'stdin')];
    for (const c of pool) expect(await c.line()).toBe('ready');
    const states: string[] = [];
    for (let round = 0; round < 9; round++) {
      const state = ['fresh', 'killed', 'old pid file'][round % 3]!;
      states.push(state);
      if (state === 'old pid file') writeFileSync(lock, `${pool[0]!.proc.pid}\n`); // a live pid: it must not matter
      for (const c of pool) c.proc.stdin!.write('go\n');
      const answers = await Promise.all(pool.map((c) => c.line()));
      const winners = answers.flatMap((a, i) => (a.startsWith('won ') ? [i] : []));
      expect(winners, `round ${round} (${state}): ${answers.join(' | ')}`).toHaveLength(1);
      const w = winners[0]!;
      for (const [i, a] of answers.entries()) if (i !== w) expect(a).toContain(`refused embedded ledger is in use by process ${wonPid(answers[w]!)}`);
      // Leave the next round's starting state.
      const next = ['fresh', 'killed', 'old pid file'][(round + 1) % 3];
      if (next === 'killed') {
        pool[w]!.proc.kill('SIGKILL');
        await pool[w]!.exited;
        expect(existsSync(lock)).toBe(true); // the dead holder's lock is still there
        pool[w] = contender(lock, 'stdin');
        expect(await pool[w]!.line()).toBe('ready');
      } else {
        pool[w]!.proc.stdin!.write('release\n');
        expect(await pool[w]!.line()).toBe('released');
        expect(existsSync(lock)).toBe(false);
      }
    }
    expect(states).toContain('killed');
  }, 120_000);

  it('is taken over from a SIGKILLed holder at once, while it is still an unreaped zombie', async () => {
    const { lock, log } = lockIn();
    // sh starts the holder in the background and becomes `sleep`, which never reaps it.
    const parent = track(
      spawn('sh', ['-c', '"$0" --import tsx "$1" "$2" - hold & exec sleep 600', process.execPath, CONTENDER, lock], { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    const pid = wonPid(await parent.line());
    try {
      await expect(acquireLock(lock, { guarded: log })).rejects.toBeInstanceOf(LedgerLockedError);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
    for (let i = 0; i < 500 && processState(pid) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(processState(pid)).toBe('Z');
    (await acquireLock(lock, { guarded: log })).release();
  });

  it('works with a DATA_DIR too long for a Unix socket path', async () => {
    const dataDir = join(tempDir('auditgraph-lock-'), 'a-rather-long-directory-name-'.repeat(8));
    const { lock, log } = lockIn(dataDir);
    expect(Buffer.byteLength(lock)).toBeGreaterThan(200);
    const holder = contender(lock, 'hold');
    const pid = wonPid(await holder.line());
    const err = await acquireLock(lock, { guarded: log }).catch((e: unknown) => e);
    expect((err as LedgerLockedError).pid).toBe(pid);
    holder.proc.kill('SIGKILL');
    await holder.exited;
    const ledger = await openEmbeddedBackend({ dataDir });
    await expect(openEmbeddedBackend({ dataDir })).rejects.toBeInstanceOf(LedgerLockedError);
    await ledger.close();
    expect(existsSync(lock)).toBe(false);
  });

  it('does not keep its process alive: a holder that does nothing else exits by itself', async () => {
    const { lock } = lockIn();
    const holder = contender(lock, 'once');
    wonPid(await holder.line());
    const timer = setTimeout(() => holder.proc.kill('SIGKILL'), 20_000);
    const { code, signal } = await holder.exited;
    clearTimeout(timer);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    (await acquireLock(lock)).release(); // and its lock died with it
  });

  it('release removes only its own lock, not one that replaced it', async () => {
    const { lock } = lockIn();
    const a = await acquireLock(lock);
    renameSync(lock, `${lock}.moved`); // say, an operator moved it away and another gateway started
    const b = await acquireLock(lock);
    a.release();
    await expect(acquireLock(lock)).rejects.toMatchObject({ pid: process.pid });
    b.release();
    expect(existsSync(lock)).toBe(false);
    expect(existsSync(`${lock}.moved`)).toBe(true);
  });

  it('an older version’s pid file is taken over unless its process has the log open', async () => {
    const { lock, log } = lockIn();
    writeFileSync(log, '');
    // a gone pid, our own (the same PID 1 in every container start), a live process without the log
    const bystander = track(spawn('sleep', ['600'], { stdio: ['ignore', 'pipe', 'ignore'] }));
    for (const pid of [999_999_999, process.pid, bystander.proc.pid!, 'half-written']) {
      writeFileSync(lock, `${pid}\n`);
      (await acquireLock(lock, { guarded: log })).release();
      expect(existsSync(lock), String(pid)).toBe(false);
    }
    // an older gateway still running: its process has the log open
    const fd = openSync(log, 'r');
    const older = track(spawn('sleep', ['600'], { stdio: ['ignore', 'pipe', 'ignore', fd] }));
    closeSync(fd);
    writeFileSync(lock, `${older.proc.pid}\n`);
    const err = await acquireLock(lock, { guarded: log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerLockedError);
    expect((err as LedgerLockedError).pid).toBe(older.proc.pid);
    expect((err as Error).message).toContain('an older version');
    expect(readFileSync(lock, 'utf8')).toBe(`${older.proc.pid}\n`);
    older.proc.kill('SIGKILL');
    await older.exited;
    (await acquireLock(lock, { guarded: log })).release();
  });
});
