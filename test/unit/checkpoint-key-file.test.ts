/** The checkpoint signing key file: generated once into DATA_DIR (even by racing processes), reused, and bad files refused. */
import { spawn } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_KEY_FILE, loadCheckpointKey } from '../../src/checkpoint/key-file.ts';
import { ConfigError } from '../../src/errors.ts';
import { tempDir } from '../support/services.ts';

const publicOf = (k: KeyObject) => createPublicKey(k).export({ format: 'jwk' }).x;

function configError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems.join('\n');
  }
  throw new Error('no ConfigError');
}

describe('loadCheckpointKey', () => {
  it('generates DATA_DIR/checkpoint-key.pem once (PKCS#8, mode 0600) and reuses it', () => {
    const dataDir = join(tempDir(), 'not-yet');
    const first = loadCheckpointKey({ file: null, dataDir });
    const file = join(dataDir, DEFAULT_KEY_FILE);
    expect(first).toMatchObject({ file, generated: true });
    expect(first.key.asymmetricKeyType).toBe('ed25519');
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = loadCheckpointKey({ file: null, dataDir });
    expect(again.generated).toBe(false);
    expect(publicOf(again.key)).toBe(publicOf(first.key));
    expect(readdirSync(dataDir)).toEqual([DEFAULT_KEY_FILE]);
  });

  it('uses CHECKPOINT_KEY_FILE when set, and never generates it', () => {
    const dir = tempDir();
    const key = generateKeyPairSync('ed25519').privateKey;
    const file = join(dir, 'mine.pem');
    writeFileSync(file, key.export({ format: 'pem', type: 'pkcs8' }));
    expect(publicOf(loadCheckpointKey({ file, dataDir: dir }).key)).toBe(publicOf(key));
    expect(existsSync(join(dir, DEFAULT_KEY_FILE))).toBe(false);
    expect(configError(() => loadCheckpointKey({ file: join(dir, 'missing.pem'), dataDir: dir }))).toBe(
      `CHECKPOINT_KEY_FILE ${join(dir, 'missing.pem')} cannot be read: ENOENT`,
    );
    expect(existsSync(join(dir, 'missing.pem'))).toBe(false);
  });

  it('refuses a file that is not an Ed25519 PKCS#8 PEM key, without showing it', () => {
    const dir = tempDir();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const ed = generateKeyPairSync('ed25519');
    const cases: Record<string, string | Buffer> = {
      rsa: String(rsa.export({ format: 'pem', type: 'pkcs8' })),
      ecPkcs8: String(ec.export({ format: 'pem', type: 'pkcs8' })),
      ecSec1: String(ec.export({ format: 'pem', type: 'sec1' })),
      encrypted: String(ed.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' })),
      public: String(ed.publicKey.export({ format: 'pem', type: 'spki' })),
      der: ed.privateKey.export({ format: 'der', type: 'pkcs8' }),
      truncated: String(ed.privateKey.export({ format: 'pem', type: 'pkcs8' })).slice(0, 60),
      garbage: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
      empty: '',
      big: 'x'.repeat(100_000),
    };
    for (const [name, content] of Object.entries(cases)) {
      const file = join(dir, `${name}.pem`);
      writeFileSync(file, content);
      const message = configError(() => loadCheckpointKey({ file, dataDir: dir }));
      expect(message, name).toMatch(new RegExp(`^CHECKPOINT_KEY_FILE ${file} is not an Ed25519 private key in PKCS#8 PEM`));
      const body = Buffer.isBuffer(content) ? content.toString('base64') : content.replace(/-----[A-Z ]+-----|\s/g, '');
      if (body.length > 8) expect(message, name).not.toContain(body.slice(0, 16));
    }
  });

  it('refuses a bad key in DATA_DIR instead of replacing it', () => {
    const dataDir = tempDir();
    const file = join(dataDir, DEFAULT_KEY_FILE);
    writeFileSync(file, 'not a key');
    expect(configError(() => loadCheckpointKey({ file: null, dataDir }))).toMatch(
      /^the checkpoint key in DATA_DIR \(checkpoint-key\.pem\) .* is not an Ed25519 private key/,
    );
    expect(readFileSync(file, 'utf8')).toBe('not a key');
  });

  it('leaves processes racing to create the key with one and the same key', async () => {
    const dataDir = tempDir();
    const barrier = tempDir();
    const children = Array.from({ length: 6 }, () => {
      const proc = spawn(process.execPath, ['--import', 'tsx', 'test/support/checkpoint-key-child.ts', dataDir, barrier], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      const ready = new Promise<void>((resolve) =>
        proc.stdout.on('data', (d) => {
          out += String(d);
          if (out.startsWith('ready\n')) resolve();
        }),
      );
      const done = new Promise<string>((resolve, reject) =>
        proc.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}`)))),
      );
      return { ready, done };
    });
    await Promise.all(children.map((c) => c.ready));
    writeFileSync(join(barrier, 'go'), '');
    const results = (await Promise.all(children.map((c) => c.done))).map((o) => JSON.parse(o.split('\n')[1]!) as { publicKey: string; generated: boolean });
    expect(new Set(results.map((r) => r.publicKey)).size).toBe(1);
    expect(results.filter((r) => r.generated)).toHaveLength(1);
    expect(readdirSync(dataDir)).toEqual([DEFAULT_KEY_FILE]);
    expect(publicOf(loadCheckpointKey({ file: null, dataDir }).key)).toBe(results[0]!.publicKey);
  });
});
