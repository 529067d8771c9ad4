#!/usr/bin/env node
// `npm run build`: compiles src/ to dist/ (or --outDir <dir>) for `node dist/main.js`.
//   node scripts/build.mjs [--outDir <dir>]
// tsc (tsconfig.build.json) rewrites the sources' `.ts` import extensions to `.js`. Every other
// file under src/ (worker scripts, Lua, …) is copied to the same place beside the output, so that
// `new URL('./x', import.meta.url)` finds it as it does under tsx. The output directory is emptied
// first: a file moved or deleted in src/ must not live on in the build.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

/** Files tsc compiles (or, for declarations, reads): not copied. */
const TYPESCRIPT = /\.[mc]?ts$/;

/** src/'s files that are not TypeScript, relative to src/. */
export function runtimeAssets(dir = src) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && !TYPESCRIPT.test(e.name))
    .map((e) => relative(src, join(e.parentPath, e.name)));
}

export function build({ outDir = join(root, 'dist') } = {}) {
  const out = resolve(outDir);
  // Emptied before building: refuse anything that holds the project or its sources.
  const inside = (child, parent) => child === parent || child.startsWith(parent + sep);
  if (inside(root, out) || inside(out, src)) throw new Error(`refusing outDir ${out}: it holds the project or lies inside src/`);
  rmSync(out, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tsc failed (exit ${r.status ?? r.signal}); nothing was written`);
  const assets = runtimeAssets();
  for (const file of assets) cpSync(join(src, file), join(out, file));
  if (!existsSync(join(out, 'main.js'))) throw new Error(`tsc wrote no ${join(out, 'main.js')}`);
  return { outDir: out, assets };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const args = process.argv.slice(2);
    let outDir;
    if (args.length === 2 && args[0] === '--outDir') outDir = args[1];
    else if (args.length !== 0) throw new Error('usage: node scripts/build.mjs [--outDir <dir>]');
    const built = build(outDir === undefined ? {} : { outDir });
    const shown = relative(process.cwd(), built.outDir);
    process.stderr.write(
      `build: ${shown.startsWith('..') ? built.outDir : shown} (${built.assets.length} file(s) copied beside the output: ${built.assets.join(', ')})\n`,
    );
  } catch (e) {
    process.stderr.write(`build failed: ${e instanceof Error ? e.message : e}\n`);
    process.exit(1);
  }
}
