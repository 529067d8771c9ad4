/**
 * The entry of an export-verifying thread (verify-parallel.ts): plain JavaScript, so the thread
 * loads its TypeScript the way the process does: the compiled module beside it in a build
 * (dist/), else the source through tsx's ESM API (a checkout, as bin/auditgraph.mjs runs it).
 */
import { existsSync } from 'node:fs';

const compiled = new URL('./verify-worker.js', import.meta.url);
if (existsSync(compiled)) await import(compiled.href);
else {
  const { tsImport } = await import('tsx/esm/api');
  await tsImport(new URL('./verify-worker.ts', import.meta.url).href, import.meta.url);
}
