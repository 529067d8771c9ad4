/** Bearer tokens for the tests: the stores are configured with hashes (src/auth/tokens.ts). */
import { createHash } from 'node:crypto';

/** The `sha256` a token store is configured with for `token`. */
export const sha256Hex = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
