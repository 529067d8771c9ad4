// What test/support/global-setup.ts provides to the suites (vitest's provide/inject).
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    immudbAddress: string | null;
    immudbBinary: string | null;
    redisUrl: string | null;
    /** strace can trace here (Linux, ptrace allowed). */
    strace: boolean;
  }
}
