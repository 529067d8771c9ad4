/**
 * One writer per ledger file: two processes appending to the same log would interleave records
 * and corrupt acknowledged history. The lock is a file holding the owner's pid, created with
 * O_EXCL; a lock whose pid is gone (the owner crashed or was killed) is taken over.
 * (A pid reused by an unrelated process after a crash blocks start-up until the file is removed:
 * the error says which file.)
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

export class LedgerLockedError extends Error {
  constructor(
    readonly file: string,
    readonly pid: number,
  ) {
    super(`embedded ledger is in use by process ${pid} (lock file ${file}); remove the file only if that process is not an auditgraph`);
    this.name = 'LedgerLockedError';
  }
}

export interface FileLock {
  release(): void;
}

export function acquireLock(file: string): FileLock {
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number.parseInt(readText(file), 10);
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) throw new LedgerLockedError(file, pid);
      // Stale (or half-written by a crash between create and write): remove and retry.
      try {
        unlinkSync(file);
      } catch (u) {
        if ((u as NodeJS.ErrnoException).code !== 'ENOENT') throw u;
      }
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        try {
          if (Number.parseInt(readText(file), 10) === process.pid) unlinkSync(file);
        } catch {
          // Already gone: nothing to release.
        }
      },
    };
  }
  throw new Error(`could not take the ledger lock ${file}`);
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

function isAlive(pid: number): boolean {
  // Our own pid means this process already holds it (a second open of the same ledger).
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
