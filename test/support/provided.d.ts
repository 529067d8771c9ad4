// What test/support/global-setup.ts provides to the suites (vitest's provide/inject).
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The primary immudb (1.11.1, or IMMUDB_ADDRESS): for suites that need just one. */
    immudbAddress: string | null;
    /** The 1.11.1 server binary, for suites that start their own. */
    immudbBinary: string | null;
    /** One running server per tested version, 1.11.1 first; just `external` with IMMUDB_ADDRESS. */
    immudbServers: { version: string; address: string }[];
    /** Every immudb binary that could be built, by version (1.1.0 too: the unsupported server). */
    immudbBinaries: Record<string, string>;
    redisUrl: string | null;
    /** strace can trace here (Linux, ptrace allowed). */
    strace: boolean;
  }
}
