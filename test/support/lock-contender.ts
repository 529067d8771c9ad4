/**
 * Child process for the ledger lock tests: `lock-contender <lockPath> <guarded> <mode>`.
 *  - `stdin`: prints `ready`; then per stdin line `go` tries to take the lock (`won <pid>` or
 *    `refused <message>`), `release` releases it (`released`).
 *  - `hold`: takes the lock at once (`won <pid>`) and keeps running.
 *  - `once`: takes the lock at once (`won <pid>`) and does nothing more: the process ends by
 *    itself unless the lock keeps it alive.
 */
import { createInterface } from 'node:readline';
import { acquireLock, LedgerLockedError, type FileLock } from '../../src/ledger/embedded/lock.ts';

const [lockPath, guarded, mode] = process.argv.slice(2);
if (!lockPath || !mode) throw new Error('usage: lock-contender <lockPath> <guarded|-> <stdin|hold|once>');
const options = guarded && guarded !== '-' ? { guarded } : {};
const say = (line: string) => process.stdout.write(`${line.replace(/\n/g, ' ')}\n`);

async function take(): Promise<FileLock | null> {
  try {
    const lock = await acquireLock(lockPath!, options);
    say(`won ${process.pid}`);
    return lock;
  } catch (e) {
    say(e instanceof LedgerLockedError ? `refused ${e.message}` : `error ${String(e)}`);
    return null;
  }
}

if (mode === 'stdin') {
  let held: FileLock | null = null;
  say('ready');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'go') held = (await take()) ?? held;
    else if (line === 'release') {
      held?.release();
      held = null;
      say('released');
    }
  }
} else {
  await take();
  if (mode === 'hold') setInterval(() => {}, 60_000);
}
