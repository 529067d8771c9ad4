/**
 * A process that loads DATA_DIR's checkpoint key (generating it when missing) the moment `<dir>/go`
 * appears, and prints its public key: several of them race to create the same key file.
 */
import { createPublicKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpointKey } from '../../src/checkpoint/key-file.ts';

const dataDir = process.argv[2]!;
const go = join(process.argv[3]!, 'go');
process.stdout.write('ready\n');
const tick = new Int32Array(new SharedArrayBuffer(4));
while (!existsSync(go)) Atomics.wait(tick, 0, 0, 1);
const { key, generated } = loadCheckpointKey({ file: null, dataDir });
process.stdout.write(`${JSON.stringify({ publicKey: createPublicKey(key).export({ format: 'jwk' }).x, generated })}\n`);
