/**
 * The index's Lua scripts (redis-scripts/*.lua), read once when this module loads and registered
 * on a client with ioredis' defineCommand: EVALSHA, and EVAL once after NOSCRIPT (a restarted or
 * flushed Redis). What each script takes and returns is at the top of its file.
 */
import { readFileSync } from 'node:fs';
import type { Redis, Result } from 'ioredis';
import { CODE_BYTES, DENSE_SHARE_INVERSE, luaCodeLayout } from './codes.ts';
import { MEMBER_LENGTH } from './members.ts';
import { luaRollupFields } from './rollups.ts';

export type Arg = string | Buffer | number;

/** tally.lua's reply: gen, done, last, count, first and last match, per dim and the histogram {key, count, …}. */
export type TallyReply = [Buffer, number, Buffer, number, Buffer, Buffer, ...number[][]];

declare module 'ioredis' {
  interface RedisCommander<Context> {
    agIndexTick(lease: string, meta: string, owner: string, leaseMs: number, force: string): Result<[number, string[]], Context>;
    agIndexRelease(lease: string, owner: string): Result<number, Context>;
    agIndexBegin(meta: string, epoch: string, target: string): Result<string, Context>;
    agIndexFinishClear(meta: string, epoch: string): Result<string, Context>;
    agIndexApply(meta: string, ...args: Arg[]): Result<[string, number?, string?], Context>;
    agIndexLoad(meta: string, lease: string, ...args: Arg[]): Result<[string], Context>;
    agIndexLoadCommit(meta: string, lease: string, ...args: Arg[]): Result<[string, number?, string?], Context>;
    agIndexProbe(meta: string, ...args: Arg[]): Result<(string | number)[], Context>;
    agIndexScanBuffer(meta: string, ...args: Arg[]): Result<[Buffer, ...[number, Buffer, ...Buffer[]][]], Context>;
    agIndexLoadExtra(meta: string, lease: string, ...args: Arg[]): Result<[string], Context>;
    agIndexTallyBuffer(meta: string, ...args: Arg[]): Result<TallyReply, Context>;
    agIndexRecentBuffer(meta: string, ...args: Arg[]): Result<Buffer[], Context>;
    agIndexRollup(meta: string, ...args: Arg[]): Result<(string | number | number[])[], Context>;
  }
}

const lua = (name: string) => readFileSync(new URL(`./redis-scripts/${name}.lua`, import.meta.url), 'utf8');

/** The layout constants the scripts share with the TypeScript side, as Lua locals. */
const CONSTANTS = `local MEMBER_LENGTH, CODE_BYTES, DENSE_SHARE_INVERSE = ${MEMBER_LENGTH}, ${CODE_BYTES}, ${DENSE_SHARE_INVERSE}\n${luaCodeLayout()}${luaRollupFields()}`;
const PRELUDE = CONSTANTS + lua('prelude');
const LOAD_GUARD = CONSTANTS + lua('load-guard');

type Script = { numberOfKeys: number; lua: string };

/** The indexer's scripts: lease, epochs, batches, bulk loads. */
const WRITE: Record<string, Script> = {
  agIndexTick: { numberOfKeys: 2, lua: lua('tick') },
  agIndexRelease: { numberOfKeys: 1, lua: lua('release') },
  agIndexBegin: { numberOfKeys: 1, lua: lua('begin') },
  agIndexFinishClear: { numberOfKeys: 1, lua: lua('finish-clear') },
  agIndexApply: { numberOfKeys: 1, lua: PRELUDE + lua('apply') },
  agIndexLoad: { numberOfKeys: 2, lua: LOAD_GUARD + lua('load') },
  agIndexLoadCommit: { numberOfKeys: 2, lua: LOAD_GUARD + lua('load-commit') },
  agIndexLoadExtra: { numberOfKeys: 2, lua: LOAD_GUARD + lua('load-extra') },
};

/** The query scripts. */
const READ: Record<string, Script> = {
  agIndexProbe: { numberOfKeys: 1, lua: PRELUDE + lua('probe') },
  agIndexScan: { numberOfKeys: 1, lua: PRELUDE + lua('walk') + lua('scan') },
  agIndexTally: { numberOfKeys: 1, lua: PRELUDE + lua('walk') + lua('tally') },
  agIndexRecent: { numberOfKeys: 1, lua: PRELUDE + lua('recent') },
  agIndexRollup: { numberOfKeys: 1, lua: PRELUDE + lua('rollup') },
};

export function defineIndexCommands(clients: { reader: Redis; writer: Redis }): void {
  for (const [name, script] of Object.entries(WRITE)) clients.writer.defineCommand(name, script);
  for (const [name, script] of Object.entries(READ)) clients.reader.defineCommand(name, script);
}
