/**
 * The compiled build as the container runs it: `npm run build` (here into a temporary directory
 * laid out as the image is: package.json, node_modules, bin/, dist/, and no src/ or tsx in use),
 * then `node dist/main.js` on the embedded default. The README's quick start works against it, a
 * returned proof passes the compiled `auditgraph verify`, and SIGTERM stops it gracefully.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/servers.ts';
import { tempDir } from '../support/services.ts';
import type { GraphQLBody } from '../support/api-types.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** A README section, from its `## ` heading to the next one: its graphql and sh blocks. */
function readmeSection(heading: string): { graphql: string[]; sh: string[] } {
  const start = readme.indexOf(`\n## ${heading}\n`);
  expect(start, `README has a "## ${heading}" section`).toBeGreaterThanOrEqual(0);
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks = (lang: string) => [...section.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]!);
  return { graphql: blocks('graphql'), sh: blocks('sh') };
}

let app: string; // the image-like directory
let server: ChildProcess | undefined;
const output: string[] = [];

beforeAll(() => {
  app = tempDir('auditgraph-compiled-');
  const build = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--outDir', join(app, 'dist')], { cwd: root, encoding: 'utf8' });
  expect(build.status, `npm run build failed:\n${build.stdout}${build.stderr}`).toBe(0);
  // As the image: dist/ from the build, bin/, package.json ("type": "module"), the dependencies.
  cpSync(join(root, 'package.json'), join(app, 'package.json'));
  cpSync(join(root, 'bin'), join(app, 'bin'), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'), 'dir');
}, 180_000);

afterAll(() => {
  server?.kill('SIGKILL');
  if (app) rmSync(app, { recursive: true, force: true });
});

describe('the compiled build (npm run build, node dist/main.js)', () => {
  it('holds every file of src/ that is not TypeScript, beside the compiled modules, and no .ts import', () => {
    const src = join(root, 'src');
    const assets = readdirSync(src, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && !/\.[mc]?ts$/.test(e.name))
      .map((e) => relative(src, join(e.parentPath, e.name)));
    expect(assets).toContain(join('ledger', 'embedded', 'alh-thread.mjs')); // loaded through new URL(…, import.meta.url)
    for (const file of assets) expect(readFileSync(join(app, 'dist', file)), file).toEqual(readFileSync(join(src, file)));
    const compiled = readdirSync(join(app, 'dist'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.js'));
    expect(compiled.length).toBeGreaterThan(50);
    const tsImports = compiled.flatMap((e) =>
      [...readFileSync(join(e.parentPath, e.name), 'utf8').matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+\.ts)["']/g)].map((m) => `${e.name}: ${m[1]}`),
    );
    expect(tsImports).toEqual([]);
  });

  it("serves the README's quick start; its proof passes the compiled verify command; SIGTERM stops it", async () => {
    const { sh } = readmeSection('Running in production');
    const commands = sh
      .flatMap((b) => b.split('\n'))
      .flatMap((l) =>
        l
          .split('#')[0]!
          .split('&&')
          .map((c) => c.trim()),
      );
    expect(commands).toContain('npm run build');
    expect(commands).toContain('node dist/main.js');
    const { graphql } = readmeSection('Try it');
    const create = graphql.find((q) => /^mutation/.test(q.trim()) && q.includes('createAuditEvent'));
    const timeline = graphql.find((q) => /^query/.test(q.trim()) && q.includes('timeline('));
    expect(create && timeline, 'the README shows the create and the timeline query').toBeTruthy();

    const port = await freePort();
    const dataDir = join(app, 'data');
    mkdirSync(dataDir);
    // The embedded default: no immudb, no Redis, no tokens from the environment.
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info' };
    for (const name of ['IMMUDB_ADDRESS', 'REDIS_URL', 'AUTH_TOKENS', 'AUTH_TOKENS_FILE', 'NODE_OPTIONS']) delete env[name];
    server = spawn(process.execPath, ['dist/main.js'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (d) => output.push(String(d)));
    server.stderr!.on('data', (d) => output.push(String(d)));
    const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    for (let deadline = Date.now() + 30_000; ; ) {
      if (server.exitCode !== null || server.signalCode !== null)
        throw new Error(`node dist/main.js exited (${server.exitCode ?? server.signalCode}):\n${output.join('')}`);
      if (
        await fetch(`${base}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (Date.now() > deadline) throw new Error(`node dist/main.js did not answer /healthz within 30 s:\n${output.join('')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const gql = async (query: string) => {
      const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
      return (await res.json()) as GraphQLBody;
    };

    const created = await gql(create!);
    expect(created.errors).toBeUndefined();
    const c = created.data!.createAuditEvent;
    expect(c.created).toBe(true);
    expect(c.proof.verified).toBe(true);
    expect(c.event.ledger.txId).toBe(c.proof.txId);
    const again = await gql(create!); // the README says to run it again to watch events arrive
    expect(again.errors).toBeUndefined();

    const t = await gql(timeline!);
    expect(t.errors).toBeUndefined();
    expect(t.data!.timeline.edges.map((e) => e.node)).toEqual(
      [c.event, again.data!.createAuditEvent.event].map((e) => ({
        eventId: e.eventId,
        eventType: 'gateway.signal.received',
        outcome: 'SUCCESS',
        timestamp: e.timestamp,
        actor: { type: 'service', id: 'gateway' },
      })),
    );
    expect(t.data!.timeline.pageInfo.hasNextPage).toBe(false);

    // The proof, saved as proof.json, through the compiled CLI: the image-like directory has no src/.
    expect(existsSync(join(app, 'src'))).toBe(false);
    const proofFile = join(app, 'proof.json');
    writeFileSync(proofFile, JSON.stringify(c.proof.json));
    const verify = spawnSync(process.execPath, [join(app, 'bin/auditgraph.mjs'), 'verify', proofFile], { cwd: app, encoding: 'utf8' });
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^valid: entry .* in tx ${c.proof.txId} \\(embedded `));
    const forged = structuredClone(c.proof.json);
    forged.entry.value = Buffer.from('{"forged":true}').toString('base64');
    writeFileSync(proofFile, JSON.stringify(forged));
    const refused = spawnSync(process.execPath, [join(app, 'bin/auditgraph.mjs'), 'verify', proofFile], { cwd: app, encoding: 'utf8' });
    expect(refused.status, refused.stdout + refused.stderr).toBe(1);
    expect(refused.stdout).toMatch(/^invalid: inclusion: entry digest does not reach tx.eH/);

    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output.join('')).toMatch(/"msg":"stopped"/);
  });
});
