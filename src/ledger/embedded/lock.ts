/**
 * One writer per ledger file: two processes appending to the same log would interleave records
 * and corrupt acknowledged history.
 *
 * The lock is a directory (`<database>.lock`) holding one Unix socket on which the owner listens.
 * The kernel closes that socket when its process dies, however it dies (SIGKILL, OOM, a zombie
 * waiting to be reaped), so a lock cannot outlive its holder: a connection is accepted while the
 * owner lives (it answers with its pid and host, for the error message) and refused once it is
 * gone. Pids prove nothing here: in a container every start is PID 1.
 *
 * Taking it, race-free:
 *  1. bind and listen on a socket named by a random id, in a fresh directory beside the lock;
 *  2. rename that directory to the lock path. rename(2) replaces only a missing or empty
 *     directory, so this succeeds for exactly one contender, and the lock it installs is live from
 *     the first moment anyone can see it;
 *  3. on ENOTEMPTY, connect to each socket in the lock: one answers → refused; one refuses → its
 *     owner is dead, and that unique name (never reused) is unlinked; then rmdir the lock if now
 *     empty and go back to 2. Only sockets that refused connections are ever removed, so a live
 *     owner's lock is never emptied, and of several processes clearing a dead one only one
 *     rename wins.
 *
 * sun_path holds 107 bytes: a socket path longer than that is reached through the directory's
 * file descriptor (`/proc/self/fd/<fd>/<id>`). Path-bound sockets work across PID (and network)
 * namespaces that share the filesystem.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  type Stats,
  statSync,
  unlinkSync,
} from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

export class LedgerLockedError extends Error {
  constructor(
    readonly file: string,
    /** The owner's pid in its own PID namespace (null when it did not answer in time). */
    readonly pid: number | null,
    readonly host: string | null = null,
    detail = '',
  ) {
    const who = pid === null ? 'another process' : `process ${pid}${host ? ` on host ${host}` : ''}`;
    super(`embedded ledger is in use by ${who} (lock ${file})${detail}: only one gateway may write a DATA_DIR at a time`);
    this.name = 'LedgerLockedError';
  }
}

export interface FileLock {
  release(): void;
}

export interface AcquireOptions {
  /** The file the lock protects (the log): an older version's pid-file lock counts only while its process has this file open. */
  guarded?: string;
}

const SUN_PATH_MAX = 107;
/** Temporary directories left by a process killed while taking the lock are removed after this. */
const TEMP_MAX_AGE_MS = 60_000;
/** An owner that accepted the connection but has not answered in this long (busy) is still live. */
const ANSWER_TIMEOUT_MS = 2_000;

export async function acquireLock(path: string, options: AcquireOptions = {}): Promise<FileLock> {
  const parent = dirname(path);
  const prefix = `${basename(path)}.`;
  removeOldTemps(parent, prefix);
  for (let round = 0; round < 5; round++) {
    const lock = await install(path, `${prefix}${randomBytes(8).toString('hex')}.tmp`, options);
    if (lock) return lock;
  }
  throw new Error(`could not take the ledger lock ${path}`);
}

/** Steps 1-3 with a fresh directory `tempName`: the lock, or null if what got installed was not ours after all. */
async function install(path: string, tempName: string, options: AcquireOptions): Promise<FileLock | null> {
  const temp = join(dirname(path), tempName);
  const id = randomBytes(8).toString('hex');
  mkdirSync(temp, { mode: 0o700 });
  let listener: Listener | undefined;
  try {
    listener = await listen(temp, id);
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        renameSync(temp, path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') await clearDead(path);
        else if (code === 'ENOTDIR') await clearNonDirectory(path, options.guarded);
        else throw e;
        continue;
      }
      if (sameFile(join(path, id), listener.ino)) return ownedLock(path, id, listener);
      // Another start took our directory for a leftover (TEMP_MAX_AGE_MS) and emptied it before
      // the rename: we installed an empty directory, which is no lock. Start over.
      tryRmdir(path);
      listener.close();
      return null;
    }
    throw new Error(`could not take the ledger lock ${path}: it kept changing`);
  } catch (e) {
    listener?.close();
    tryUnlink(join(temp, id));
    tryRmdir(temp);
    throw e;
  }
}

function ownedLock(path: string, id: string, listener: Listener): FileLock {
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      // Only our own socket, and only if it is still the one we bound: never another owner's.
      if (sameFile(join(path, id), listener.ino)) tryUnlink(join(path, id));
      tryRmdir(path);
      listener.close();
    },
  };
}

interface Listener {
  ino: number;
  close(): void;
}

/** A listening socket `<dir>/<name>` that answers each connection with its owner, and never keeps the event loop alive. */
async function listen(dir: string, name: string): Promise<Listener> {
  const info = `${JSON.stringify({ pid: process.pid, host: hostname() })}\n`;
  const server: Server = createServer((socket) => {
    socket.unref();
    socket.on('error', () => {});
    socket.end(info);
  });
  server.unref();
  const at = shortPath(dir, name);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    at.close();
    throw e;
  }
  server.on('error', () => {});
  // The directory's fd (if any) stays open: libuv unlinks the bound path on close, and through
  // the fd that path always means our own directory, wherever it has been renamed to.
  return {
    ino: lstatSync(join(dir, name)).ino,
    close() {
      server.close();
      at.close();
    },
  };
}

/** `dir/name` as a socket address: itself when it fits in sun_path, else through an fd of `dir`. */
function shortPath(dir: string, name: string): { path: string; close(): void } {
  const direct = join(dir, name);
  if (Buffer.byteLength(direct) <= SUN_PATH_MAX) return { path: direct, close() {} };
  if (!existsSync('/proc/self/fd')) throw new Error(`${direct} is too long for a Unix socket path and /proc is not mounted`);
  const fd = openSync(dir, 'r');
  const path = `/proc/self/fd/${fd}/${name}`;
  let open = true;
  return {
    path,
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

type Probe = { live: true; pid: number | null; host: string | null } | { live: false };

/**
 * Connects to the socket `dir/name`: live if its owner answers (or accepted and is too busy to),
 * dead if refused (its process is gone) or missing. A connection dropped unanswered means the owner
 * is dying right now (SIGKILLed, its threads still exiting): asked again until it refuses.
 */
async function probe(dir: string, name: string): Promise<Probe> {
  for (let i = 0; i < 250; i++) {
    const p = await probeOnce(dir, name);
    if (p !== 'dropped') return p;
    await new Promise((r) => setTimeout(r, 20));
  }
  return { live: true, pid: null, host: null };
}

async function probeOnce(dir: string, name: string): Promise<Probe | 'dropped'> {
  let at: ReturnType<typeof shortPath>;
  try {
    at = shortPath(dir, name);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { live: false }; // the directory went meanwhile
    throw e;
  }
  try {
    return await new Promise<Probe | 'dropped'>((resolve, reject) => {
      const socket = createConnection(at.path);
      let connected = false;
      let text = '';
      const settle = (p: Probe | 'dropped') => {
        clearTimeout(timer);
        socket.destroy();
        resolve(p);
      };
      // Accepted by the kernel but not answered: an owner whose event loop is busy.
      const timer = setTimeout(
        () => (connected ? settle({ live: true, pid: null, host: null }) : socket.destroy(new Error(`no answer from ${join(dir, name)}`))),
        ANSWER_TIMEOUT_MS,
      );
      socket.setEncoding('utf8');
      socket.on('connect', () => (connected = true));
      socket.on('data', (d: string) => {
        text += d;
        if (!text.includes('\n')) return;
        let owner: { pid?: unknown; host?: unknown } = {};
        try {
          owner = JSON.parse(text);
        } catch {
          // not our format: something listens there all the same
        }
        settle({ live: true, pid: typeof owner.pid === 'number' ? owner.pid : null, host: typeof owner.host === 'string' ? owner.host : null });
      });
      socket.on('end', () => settle('dropped'));
      socket.on('error', (e: NodeJS.ErrnoException) => {
        if (connected) settle('dropped');
        else if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') settle({ live: false });
        else if (e.code === 'EAGAIN')
          settle({ live: true, pid: null, host: null }); // backlog full: someone listens
        else {
          clearTimeout(timer);
          reject(e);
        }
      });
    });
  } finally {
    at.close();
  }
}

/** Refuses if a socket in the lock directory answers; removes the dead ones, then the directory if empty. */
async function clearDead(path: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return; // changed meanwhile: the caller tries again
    throw e;
  }
  for (const name of names) {
    const p = await probe(path, name);
    if (p.live) throw new LedgerLockedError(path, p.pid, p.host);
    tryUnlink(join(path, name));
  }
  tryRmdir(path);
}

/**
 * Something other than a directory at the lock path: a socket (live → refused, dead → removed) or
 * the pid file of an older version. A pid proves nothing (in a container the new process may
 * have the same one), so that file is removed unless its process has the log open: an older
 * gateway still running.
 */
async function clearNonDirectory(path: string, guarded: string | undefined): Promise<void> {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (st.isDirectory()) return;
  if (st.isSocket()) {
    const p = await probe(dirname(path), basename(path));
    if (p.live) throw new LedgerLockedError(path, p.pid, p.host);
  } else if (st.isFile()) {
    const text = readText(path);
    if (text === null) return; // replaced by a lock directory meanwhile: the caller tries again
    const pid = Number.parseInt(text, 10);
    if (guarded && Number.isInteger(pid) && pid > 0 && pid !== process.pid && hasOpen(pid, guarded)) {
      throw new LedgerLockedError(path, pid, null, `, an older version's pid file whose process has ${guarded} open`);
    }
  }
  tryUnlink(path);
}

/** Whether process `pid` (in our PID namespace) has `file` open. */
function hasOpen(pid: number, file: string): boolean {
  let target: Stats;
  try {
    target = statSync(file);
  } catch {
    return false;
  }
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false; // no such process (or not ours to inspect)
  }
  return fds.some((fd) => {
    try {
      const s = statSync(`/proc/${pid}/fd/${fd}`);
      return s.ino === target.ino && s.dev === target.dev;
    } catch {
      return false;
    }
  });
}

/** Removes temporary directories (`<lock>.<id>.tmp`) of starts killed while taking the lock. */
function removeOldTemps(parent: string, prefix: string): void {
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const dir = join(parent, name);
    try {
      if (Date.now() - lstatSync(dir).mtimeMs < TEMP_MAX_AGE_MS) continue;
      for (const entry of readdirSync(dir)) tryUnlink(join(dir, entry));
      tryRmdir(dir);
    } catch {
      // gone meanwhile
    }
  }
}

function sameFile(path: string, ino: number): boolean {
  try {
    return lstatSync(path).ino === ino;
  } catch {
    return false;
  }
}

/** The file's text; '' once removed; null once another start has put its lock directory there. */
function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return '';
    if (code === 'EISDIR') return null;
    throw e;
  }
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENOENT: removed meanwhile; EISDIR/EPERM: replaced by a lock directory meanwhile.
    if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'EPERM') throw e;
  }
}

function tryRmdir(path: string): void {
  try {
    rmdirSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Not empty: another owner moved in; not a directory: not ours to remove.
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') throw e;
  }
}
