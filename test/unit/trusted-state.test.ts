import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { TrustedStateStore } from '../../src/ledger/trusted-state.ts';
import { prng } from './_random.ts';

// Every file the store opens: a write opens its temporary file (then fsyncs it and renames it over the state).
const opened = vi.hoisted((): string[] => []);
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...fs,
    open: (...args: Parameters<typeof fs.open>) => {
      opened.push(String(args[0]));
      return fs.open(...args);
    },
  };
});

const hash = (i: number) => i.toString(16).padStart(64, '0');
const state = (i: number) => ({ txId: String(i), txHash: hash(i) });
const onDisk = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { txId: string; txHash: string };

describe('trusted state store', () => {
  it('many concurrent advances all resolve once the newest state is on disk, in any order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ag-trusted-'));
    const store = await TrustedStateStore.open(dir, 'immudb', 'db');
    const rand = prng(7);
    const order = Array.from({ length: 200 }, (_, i) => i + 1)
      .map((i) => [rand(), i] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, i]) => i);
    await Promise.all(
      order.map(async (i) => {
        await store.advance(state(i));
        // Whatever write carried this advance, the file never lags behind it.
        expect(BigInt(onDisk(store.file).txId)).toBeGreaterThanOrEqual(BigInt(i));
      }),
    );
    expect(onDisk(store.file)).toMatchObject(state(200));
    expect(store.current()).toEqual(state(200));
    // Advances made before a write starts share it: not one write (and fsync) each.
    const writes = opened.filter((f) => f === `${store.file}.tmp`).length;
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThan(10);
    expect((await TrustedStateStore.open(dir, 'immudb', 'db')).current()).toEqual(state(200));
  });

  it('never goes backwards', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ag-trusted-'));
    const store = await TrustedStateStore.open(dir, 'immudb', 'db');
    await store.advance(state(10));
    await store.advance(state(3));
    expect(onDisk(store.file)).toMatchObject(state(10));
  });

  it('a failed write fails its advances, and the next advance writes again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ag-trusted-'));
    const store = await TrustedStateStore.open(dir, 'immudb', 'db');
    await store.advance(state(1));
    // A directory where the temporary file goes: open(…, 'w') fails with EISDIR.
    mkdirSync(`${store.file}.tmp`);
    await expect(store.advance(state(3))).rejects.toThrow(/EISDIR/);
    expect(onDisk(store.file)).toMatchObject(state(1));
    // Trusted in memory since the failed write, but not on disk: still refused, never a silent success.
    await expect(store.advance(state(2))).rejects.toThrow(/EISDIR/);
    rmSync(`${store.file}.tmp`, { recursive: true });
    await store.advance(state(2));
    expect(BigInt(onDisk(store.file).txId)).toBeGreaterThanOrEqual(2n);
    await store.advance(state(4));
    expect(onDisk(store.file)).toMatchObject(state(4));
  });
});
