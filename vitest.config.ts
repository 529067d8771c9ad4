import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS ("main") and ESM ("module") without "exports": Node loads the CJS one for
    // every dependency (Pothos, Yoga), Vite would give our sources the ESM one — two realms, and
    // "Cannot use GraphQLSchema from another module or realm". One copy, the one Node picks.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real-server suites share one immudb; separate databases keep them independent.
    pool: 'forks',
  },
});
