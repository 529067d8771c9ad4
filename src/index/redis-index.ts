/**
 * The Redis index.
 *
 * Keys, all under `ag:idx:v2:{<escaped scope>}:` (scope: ledger kind and database; the braces are a
 * cluster hash tag, so every key of the index shares a slot):
 *
 *   meta            hash: epoch, checkpoint, status, target, events, applied, gen
 *   lease           string: owner id of the instance that follows the ledger (PX ttl)
 *   cb              hash: coded value `<fc>:<esc(v)>` → its code (negative once dense); `#<fc>` → codes handed out
 *   cn              hash: coded value → events with it
 *   all             the set of every event
 *   <fc>:<esc(v)>   the set of one value: fc ∈ ci et ai ri (every value), ec rt at oc (rare values, codes.ts)
 *
 * Members are 25 bytes `BE48(ms) ‖ uuid ‖ codes`, score 0 (query.ts says why). Values are
 * percent-encoded, so no crafted actorId reaches another key.
 *
 * Chunked sets: Redis keeps a sorted set of up to 128 short members as one compact listpack
 * (~30 bytes a member) and a bigger one as a skiplist plus a hash table (~130 bytes a member). So a
 * set is a chain of zsets of at most `chunkSize` members, each of which stays a listpack:
 *
 *   S               the first chunk (a set that never grew past chunkSize is just this one key)
 *   S#              directory: the first member of every later chunk (a zset, lexicographic)
 *   S#<member>      the chunk that starts at that member; it holds [member, next chunk's start)
 *
 * `#` never occurs in an escaped value, and `S#<member>` is exactly 26 bytes longer than `S#`, so
 * these keys cannot meet another set's. A full chunk is split in two before it would outgrow a
 * listpack; a chunk that is full and receives a member past its end starts a new chunk instead,
 * so time-ordered appends leave full chunks. Lua compares members byte by byte itself (Lua's `<`
 * on strings follows the locale, which Redis sets from the environment).
 *
 * Writes: one Lua script per batch assigns codes, adds the members and moves the checkpoint, and
 * refuses unless the epoch and the checkpoint are still the ones the batch was read from
 * (compare-and-set). So a batch applies exactly once, whoever sends it and whenever; the lease
 * only saves the other instances from reading the ledger for nothing. A bulk load (`load`, a
 * rebuild written in its final shape) is fenced by epoch and checkpoint 0 too, but its scripts
 * also require the lease: it alone keeps two loaders of one epoch apart.
 *
 * Reads: one script counts the filter's sets in the range and looks its coded values up (and
 * checks that the index is ready), then one script per round reads the driver's chunks and keeps
 * the members that pass the filter (codes, membership in other sets), reading a bounded number.
 * Both return `gen`: when it moves (a value turned dense and lost its set) the query starts over.
 *
 * Failing fast: no offline queue, no retries per command, a command timeout. A query while Redis
 * is away fails in well under a second with INDEX_UNAVAILABLE; the connection keeps reconnecting
 * in the background.
 */
import { Redis, type Result } from 'ioredis';
import { AuditError, ErrorCode, isAuditError } from '../errors.ts';
import { CODED_FIELDS, codedValue, DENSE_MIN_EVENTS, DENSE_SHARE_INVERSE, resolveMaxCodes, type CodedField, type IndexLayoutOptions } from './codes.ts';
import { findPage, type ProbeRequest, type ProbeResult, type ScanResult, type ScanStream, type SetReader } from './executor.ts';
import type { ApplyBatch, ApplyResult, EventIndex, IndexPage, IndexQuery, IndexState, IndexStatus, TickResult } from './port.ts';
import type { BuiltIndex } from './bulk-build.ts';
import { encodePosition, escapeValue, fieldKey, GLOBAL_KEY, lexArg, MEMBER_LENGTH, normalizeFilter, normalizePage, positionOf, setFieldKeys, type MemberFilter, type MemberRange } from './query.ts';
import { failFastRedisOptions } from '../redis/fail-fast.ts';

type Arg = string | Buffer | number;

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
  }
}

const TICK = `
local cur = redis.call('GET', KEYS[1])
local leased = 0
if (not cur) or cur == ARGV[1] or ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  leased = 1
end
return {leased, redis.call('HGETALL', KEYS[2])}`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** A new epoch fences off every writer of the old one before any key is deleted. */
const BEGIN = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'checkpoint', '0', 'status', 'clearing', 'target', ARGV[2], 'events', 0, 'applied', 0, 'gen', 0)
return 'ok'`;

const FINISH_CLEAR = `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'status', 'target')
if m[1] ~= ARGV[1] or m[2] ~= 'clearing' then return 'stale' end
local status = 'building'
if m[3] == '0' then status = 'ready' end
redis.call('HSET', KEYS[1], 'status', status)
return status`;

/** Shared by the scripts below; ARGV[1] is always the namespace. */
const PRELUDE = `
local NS = ARGV[1]
-- a < b, byte by byte (Lua's own < on strings uses strcoll)
local function lt(a, b)
  local n = #a
  if #b < n then n = #b end
  for k = 1, n do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x < y end
  end
  return #a < #b
end
-- the chunk of set S that holds (or would hold) member m, and its start (false: the first chunk)
local function chunkOf(S, m)
  local d = redis.call('ZRANGE', S .. '#', '[' .. m, '-', 'BYLEX', 'REV', 'LIMIT', 0, 1)[1]
  if d then return S .. '#' .. d, d end
  return S, false
end
`;

/**
 * KEYS: meta. ARGV: namespace, epoch, from, to, events in the batch, chunk size, denseMin, max codes
 * of ec rt at oc, then the batch's distinct coded values (count, then each as \`<fc>:<esc>\`), the
 * events (one string: per event its 22-byte position and 4 × u32 indexes of its coded values, 0 =
 * none, sorted by position), then the set keys (count, then per key the key and a string of u32
 * event indexes, ascending; the global set first).
 */
const APPLY = `${PRELUDE}
local m = redis.call('HMGET', KEYS[1], 'epoch', 'checkpoint', 'status', 'target', 'events')
if not m[1] then return {'missing'} end
if m[1] ~= ARGV[2] then return {'epoch'} end
if m[3] == 'clearing' then return {'clearing'} end
if m[3] == 'loading' then return {'loading'} end
if m[2] ~= ARGV[3] then return {'moved'} end
local CAP = tonumber(ARGV[6])
local DENSE_MIN = tonumber(ARGV[7])
local MAXC = { ec = tonumber(ARGV[8]), rt = tonumber(ARGV[9]), at = tonumber(ARGV[10]), oc = tonumber(ARGV[11]) }
local OVF = { ec = 255, rt = 255, at = 31, oc = 7 }
local CB, CN = NS .. 'cb', NS .. 'cn'

local function zaddRange(key, list, i, j)
  local args = {}
  for k = i, j do
    args[#args + 1] = 0
    args[#args + 1] = list[k]
  end
  return redis.call('ZADD', key, unpack(args))
end

-- makes room in the full chunk ck (start: its start or false) for member m
local function split(S, ck, start, size, m)
  local last = redis.call('ZRANGE', ck, -1, -1)[1]
  if lt(last, m) then
    -- past the chunk's end: a new chunk starts at m (appends in order leave full chunks)
    redis.call('ZADD', S .. '#', 0, m)
    return
  end
  if not start then
    local first = redis.call('ZRANGE', ck, 0, 0)[1]
    if lt(m, first) then
      -- before the whole set: the first chunk moves on as a chunk of its own
      redis.call('RENAME', ck, S .. '#' .. first)
      redis.call('ZADD', S .. '#', 0, first)
      return
    end
  end
  local half = math.floor(size / 2)
  local upper = redis.call('ZRANGE', ck, half, -1)
  local args = {}
  for k = 1, #upper do
    args[2 * k - 1] = 0
    args[2 * k] = upper[k]
  end
  redis.call('ZADD', S .. '#' .. upper[1], unpack(args))
  redis.call('ZREMRANGEBYRANK', ck, half, -1)
  redis.call('ZADD', S .. '#', 0, upper[1])
end

-- adds ascending members to set S; returns how many were new
local function addSorted(S, list)
  local n = #list
  if n == 0 then return 0 end
  local dir = S .. '#'
  if redis.call('EXISTS', dir) == 0 and redis.call('ZCARD', S) + n <= CAP then return zaddRange(S, list, 1, n) end
  local added, i = 0, 1
  while i <= n do
    local ck, start = chunkOf(S, list[i])
    local size = redis.call('ZCARD', ck)
    if size >= CAP then
      split(S, ck, start, size, list[i])
    else
      local nx
      if start then nx = redis.call('ZRANGE', dir, '(' .. start, '+', 'BYLEX', 'LIMIT', 0, 1)[1]
      else nx = redis.call('ZRANGE', dir, '-', '+', 'BYLEX', 'LIMIT', 0, 1)[1] end
      local stop = math.min(n, i + CAP - size - 1)
      local j = i
      while j < stop and ((not nx) or lt(list[j + 1], nx)) do j = j + 1 end
      added = added + zaddRange(ck, list, i, j)
      i = j + 1
    end
  end
  return added
end

local function dropSet(S)
  local dir = S .. '#'
  local starts = redis.call('ZRANGE', dir, 0, -1)
  for i = 1, #starts, 500 do
    local keys = {}
    for j = i, math.min(i + 499, #starts) do keys[#keys + 1] = S .. '#' .. starts[j] end
    redis.call('UNLINK', unpack(keys))
  end
  redis.call('UNLINK', dir, S)
end

local function u32(s, o)
  local a, b, c, d = string.byte(s, o + 1, o + 4)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- the batch's coded values: code, and kind (1 sparse, 2 dense, 3 overflow)
local nd = tonumber(ARGV[12])
local dcode, dkind = {}, {}
for d = 1, nd do
  local v = ARGV[12 + d]
  local c = redis.call('HGET', CB, v)
  if c then
    c = tonumber(c)
    if c < 0 then dcode[d], dkind[d] = -c, 2 else dcode[d], dkind[d] = c, 1 end
  else
    local fc = string.sub(v, 1, 2)
    local used = tonumber(redis.call('HGET', CB, '#' .. fc) or '0')
    if used < MAXC[fc] then
      used = used + 1
      redis.call('HSET', CB, v, used, '#' .. fc, used)
      dcode[d], dkind[d] = used, 1
    else
      dcode[d], dkind[d] = OVF[fc], 3
    end
  end
end

-- members, and the events of each coded value
local blob = ARGV[13 + nd]
local members, lists = {}, {}
for i = 1, #blob / 38 do
  local o = (i - 1) * 38
  local c = {}
  for f = 1, 4 do
    local d = u32(blob, o + 22 + (f - 1) * 4)
    if d > 0 then
      c[f] = dcode[d]
      local l = lists[d]
      if not l then
        l = {}
        lists[d] = l
      end
      l[#l + 1] = i
    else
      c[f] = 0
    end
  end
  members[i] = string.sub(blob, o + 1, o + 22) .. string.char(c[1], c[2], c[3] * 8 + c[4])
end

local added = 0
local a = 14 + nd
for k = 1, tonumber(ARGV[a]) do
  local key, idx = ARGV[a + 2 * k - 1], ARGV[a + 2 * k]
  local list = {}
  for j = 1, #idx / 4 do list[j] = members[u32(idx, (j - 1) * 4)] end
  local r = addSorted(NS .. key, list)
  if k == 1 then added = r end
end

local events = tonumber(m[5] or '0') + added
local moved = false
for d = 1, nd do
  local l = lists[d]
  local v = ARGV[12 + d]
  if dkind[d] ~= 2 then
    local list = {}
    for j = 1, #l do list[j] = members[l[j]] end
    addSorted(NS .. v, list)
  end
  if dkind[d] ~= 3 then
    local count = redis.call('HINCRBY', CN, v, #l)
    if dkind[d] == 1 and count > DENSE_MIN and count * ${DENSE_SHARE_INVERSE} > events then
      redis.call('HSET', CB, v, -dcode[d])
      dropSet(NS .. v)
      moved = true
    end
  end
end

local status = m[3]
if status == 'building' and tonumber(ARGV[4]) >= tonumber(m[4]) then status = 'ready' end
redis.call('HSET', KEYS[1], 'checkpoint', ARGV[4], 'status', status)
redis.call('HINCRBY', KEYS[1], 'events', added)
redis.call('HINCRBY', KEYS[1], 'applied', ARGV[5])
if moved then redis.call('HINCRBY', KEYS[1], 'gen', 1) end
return {'ok', added, status}`;

/** Shared by the bulk-load scripts: refuses unless this build is still the one at checkpoint 0 and `owner` holds the lease. */
const LOAD_GUARD = `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'status', 'checkpoint', 'target')
if not m[1] then return {'missing'} end
if m[1] ~= ARGV[2] then return {'epoch'} end
if m[2] == 'clearing' then return {'clearing'} end
if (m[2] ~= 'building' and m[2] ~= 'loading') or m[3] ~= '0' then return {'moved'} end
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return {'lease'} end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
`;

/**
 * Bulk load, part 1 (as many calls as it takes): sets written as full chunks.
 * KEYS: meta, lease. ARGV: namespace, epoch, owner, lease ms, chunk size, then per slice of a set:
 * its key, the number of its first chunk (0: the set's first), its members (ascending, 25 bytes
 * each, concatenated). Marks the index 'loading': anyone who finds it so later knows a load was
 * cut short and starts the rebuild again.
 */
const LOAD = `${LOAD_GUARD}
redis.call('HSET', KEYS[1], 'status', 'loading')
local NS, CAP, W = ARGV[1], tonumber(ARGV[5]), ${MEMBER_LENGTH}
local a = 6
while a <= #ARGV do
  local S, chunk, blob = NS .. ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  a = a + 3
  local n = #blob / W
  local dir = {}
  for i = 0, n - 1, CAP do
    -- Descending: Redis inserts each member of a listpack after scanning for its place, which
    -- for the smallest so far is the head (ascending would walk the whole chunk every time).
    local args = {}
    for j = math.min(n, i + CAP) - 1, i, -1 do
      args[#args + 1] = 0
      args[#args + 1] = string.sub(blob, j * W + 1, j * W + W)
    end
    local key = S
    if chunk > 0 then
      local start = string.sub(blob, i * W + 1, i * W + W)
      key = S .. '#' .. start
      dir[#dir + 1] = 0
      dir[#dir + 1] = start
    end
    redis.call('ZADD', key, unpack(args))
    chunk = chunk + 1
    if #dir >= 1000 then
      redis.call('ZADD', S .. '#', unpack(dir))
      dir = {}
    end
  end
  if #dir > 0 then redis.call('ZADD', S .. '#', unpack(dir)) end
end
return {'ok'}`;

/**
 * Bulk load, part 2: the codebook, the counters and the checkpoint, at once.
 * KEYS: meta, lease. ARGV: namespace, epoch, owner, lease ms, last tx, events, applied, codes
 * handed out (ec rt at oc), then per coded value: key, code (negative: dense), events.
 */
const LOAD_COMMIT = `${LOAD_GUARD}
local NS = ARGV[1]
local CB, CN = NS .. 'cb', NS .. 'cn'
local fcs = { 'ec', 'rt', 'at', 'oc' }
for f = 1, 4 do
  if ARGV[7 + f] ~= '0' then redis.call('HSET', CB, '#' .. fcs[f], ARGV[7 + f]) end
end
for a = 12, #ARGV, 3 do
  redis.call('HSET', CB, ARGV[a], ARGV[a + 1])
  redis.call('HSET', CN, ARGV[a], ARGV[a + 2])
end
local status = 'building'
if tonumber(ARGV[5]) >= tonumber(m[4]) then status = 'ready' end
redis.call('HSET', KEYS[1], 'checkpoint', ARGV[5], 'status', status, 'events', ARGV[6], 'applied', ARGV[7])
return {'ok', tonumber(ARGV[6]), status}`;

/**
 * KEYS: meta. ARGV: namespace, min, max (ZRANGE BYLEX syntax), key count, keys, coded value count,
 * coded values. Returns status, checkpoint, target, gen, events; when ready, then one count per
 * key and (code, events) per coded value (code 0: none; negative: dense).
 */
const PROBE = `${PRELUDE}
-- members of set S inside [min, max]: exact up to 33 chunks, beyond that the inner chunks estimated
local function count(S, min, max)
  local dir = S .. '#'
  if redis.call('EXISTS', dir) == 0 then return redis.call('ZLEXCOUNT', S, min, max) end
  local lo, first = '-', S
  if min ~= '-' then
    local v = string.sub(min, 2)
    lo = '(' .. v
    first = chunkOf(S, v)
  end
  local starts = redis.call('ZRANGE', dir, lo, max, 'BYLEX', 'LIMIT', 0, 33)
  if #starts == 0 then return redis.call('ZLEXCOUNT', first, min, max) end
  local total = redis.call('ZLEXCOUNT', first, min, '+')
  if #starts <= 32 then
    for k = 1, #starts - 1 do total = total + redis.call('ZCARD', S .. '#' .. starts[k]) end
    return total + redis.call('ZLEXCOUNT', S .. '#' .. starts[#starts], '-', max)
  end
  local sampled = 0
  for k = 1, 32 do sampled = sampled + redis.call('ZCARD', S .. '#' .. starts[k]) end
  local chunks = redis.call('ZLEXCOUNT', dir, lo, max)
  local lastStart = redis.call('ZRANGE', dir, max, lo, 'BYLEX', 'REV', 'LIMIT', 0, 1)[1]
  return total + math.floor((chunks - 1) * sampled / 32) + redis.call('ZLEXCOUNT', S .. '#' .. lastStart, '-', max)
end

local m = redis.call('HMGET', KEYS[1], 'status', 'checkpoint', 'target', 'epoch', 'gen', 'events')
local out = { m[1] or '', m[2] or '', m[3] or '', (m[4] or '') .. '/' .. (m[5] or '0'), tonumber(m[6] or '0') }
if m[1] ~= 'ready' then return out end
local min, max = ARGV[2], ARGV[3]
local nk = tonumber(ARGV[4])
for k = 1, nk do out[#out + 1] = count(NS .. ARGV[4 + k], min, max) end
local a = 5 + nk
local nc = tonumber(ARGV[a])
if nc > 0 then
  local fields = {}
  for k = 1, nc do fields[k] = ARGV[a + k] end
  local codes = redis.call('HMGET', NS .. 'cb', unpack(fields))
  local counts = redis.call('HMGET', NS .. 'cn', unpack(fields))
  for k = 1, nc do
    out[#out + 1] = tonumber(codes[k] or '0')
    out[#out + 1] = tonumber(counts[k] or '0')
  end
end
return out`;

/**
 * KEYS: meta. ARGV: namespace; code checks (count, then per check: field code, the allowed codes
 * as bytes, overflow key count, overflow keys); set checks (count, then per check: key count,
 * keys); streams (count, then per stream: key, min, max, desc 0/1, limit, budget). Returns gen,
 * then per stream {done 0/1, last member read or '', matching members…}.
 */
const SCAN = `${PRELUDE}
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'gen')
local a = 2
local function arg()
  a = a + 1
  return ARGV[a - 1]
end
local OVF = { ec = 255, rt = 255, at = 31, oc = 7 }
local codeChecks, setChecks = {}, {}
for k = 1, tonumber(arg()) do
  local field, codes, allowed, ovf = arg(), arg(), {}, {}
  for p = 1, #codes do allowed[string.byte(codes, p)] = true end
  for p = 1, tonumber(arg()) do ovf[p] = NS .. arg() end
  codeChecks[k] = { field, allowed, ovf }
end
for k = 1, tonumber(arg()) do
  local keys = {}
  for p = 1, tonumber(arg()) do keys[p] = NS .. arg() end
  setChecks[k] = keys
end

local function codeOf(m, f)
  if f == 'ec' then return string.byte(m, 23) end
  if f == 'rt' then return string.byte(m, 24) end
  local b = string.byte(m, 25)
  if f == 'at' then return math.floor(b / 8) end
  return b % 8
end

local work = 0
local function holds(keys, m)
  for p = 1, #keys do
    work = work + 1
    if redis.call('ZSCORE', (chunkOf(keys[p], m)), m) then return true end
  end
  return false
end

local function passes(m)
  if #m ~= 25 then return false end
  for k = 1, #codeChecks do
    local c = codeChecks[k]
    local code = codeOf(m, c[1])
    if not c[2][code] then
      if not (code == OVF[c[1]] and #c[3] > 0 and holds(c[3], m)) then return false end
    end
  end
  for k = 1, #setChecks do
    if not holds(setChecks[k], m) then return false end
  end
  return true
end

local function scan(S, min, max, desc, limit, budget)
  work = 0
  local out = { 0, '' }
  local found, last, done = 0, false, false
  local dir = S .. '#'
  local ck, start
  if desc then
    if max == '+' then
      local d = redis.call('ZRANGE', dir, '+', '-', 'BYLEX', 'REV', 'LIMIT', 0, 1)[1]
      if d then ck, start = S .. '#' .. d, d else ck, start = S, false end
    else
      ck, start = chunkOf(S, string.sub(max, 2))
    end
  elseif min == '-' then
    ck, start = S, false
  else
    ck, start = chunkOf(S, string.sub(min, 2))
  end
  local lo, hi, firstChunk = min, max, true
  while true do
    local want = math.min(256, budget - work)
    if want < 1 then want = 1 end
    local got
    if desc then got = redis.call('ZRANGE', ck, hi, lo, 'BYLEX', 'REV', 'LIMIT', 0, want)
    else got = redis.call('ZRANGE', ck, lo, hi, 'BYLEX', 'LIMIT', 0, want) end
    local k = 0
    while k < #got and found < limit and work < budget do
      k = k + 1
      last = got[k]
      work = work + 1
      if passes(last) then
        found = found + 1
        out[#out + 1] = last
      end
    end
    if k < #got or found >= limit or work >= budget then break end
    if last then
      if desc then hi = '(' .. last else lo = '(' .. last end
    end
    if #got < want then
      -- nothing more in range in this chunk: on to the next one in walk order. A chunk always
      -- holds its start, so a later chunk with nothing in range means the range is over.
      if #got == 0 and not firstChunk then
        done = true
        break
      end
      firstChunk = false
      if desc then
        if not start then
          done = true
          break
        end
        local nx = redis.call('ZRANGE', dir, '(' .. start, '-', 'BYLEX', 'REV', 'LIMIT', 0, 1)[1]
        if nx then ck, start = S .. '#' .. nx, nx else ck, start = S, false end
      else
        local nx
        if start then nx = redis.call('ZRANGE', dir, '(' .. start, '+', 'BYLEX', 'LIMIT', 0, 1)[1]
        else nx = redis.call('ZRANGE', dir, '-', '+', 'BYLEX', 'LIMIT', 0, 1)[1] end
        if not nx then
          done = true
          break
        end
        ck, start = S .. '#' .. nx, nx
      end
    end
  end
  if done then out[1] = 1 end
  if last then out[2] = last end
  return out
end

local res = { (meta[1] or '') .. '/' .. (meta[2] or '0') }
for k = 1, tonumber(arg()) do
  local key, min, max, desc, limit, budget = arg(), arg(), arg(), arg(), arg(), arg()
  res[k + 1] = scan(NS .. key, min, max, desc == '1', tonumber(limit), tonumber(budget))
end
return res`;

/**
 * `ag:idx:v2:{<scope>}:` — the scope names the ledger (kind and database) the index follows. The
 * version changes with the layout, so an index of an older layout is rebuilt, never misread
 * (v1: 22-byte members, a plain zset per value; v2: codes in members, chunked sets).
 */
export function indexNamespace(scope: string): string {
  return `ag:idx:v2:{${escapeValue(scope)}}:`;
}

/** Redis' default zset-max-listpack-entries: the biggest sorted set it keeps compact. */
export const DEFAULT_CHUNK_SIZE = 128;

export interface RedisIndexOptions extends IndexLayoutOptions {
  url: string;
  namespace: string;
  /** Client-side timeout of query commands (fail fast). */
  queryTimeoutMs?: number;
  /** Timeout of the indexer's commands (a batch script may take a while). */
  writeTimeoutMs?: number;
  /**
   * Members per chunk; default: Redis' zset-max-listpack-entries when it may be read (CONFIG GET),
   * at most 128, else 128. Any size reads correctly; past the server's setting chunks just cost more.
   */
  chunkSize?: number;
  /** Redis connection errors, at most one per 10 s and connection. */
  onError?: (message: string, error: unknown) => void;
}

const unavailable = (what: string, cause: unknown) =>
  new AuditError(ErrorCode.INDEX_UNAVAILABLE, `The event index (Redis) is unavailable: ${what} failed; the ledger is not affected, try again shortly`, {}, { cause });

function parseState(flat: string[]): IndexState | null {
  if (flat.length === 0) return null;
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  if (h.epoch === undefined) return null;
  return {
    epoch: h.epoch,
    checkpoint: h.checkpoint ?? '0',
    status: (h.status ?? 'clearing') as IndexStatus,
    target: h.target ?? '0',
    events: Number(h.events ?? 0),
    applied: Number(h.applied ?? 0),
  };
}

type RefusalReason = Extract<ApplyResult, { ok: false }>['reason'];

/** A write script's reply: {'ok', added, status} or {reason}. */
const applyResult = ([outcome, added, status]: [string, number?, string?]): ApplyResult =>
  outcome === 'ok' ? { ok: true, added: Number(added), status: status as IndexStatus } : { ok: false, reason: outcome as RefusalReason };

/** A bulk-load script writes about this many members (~10 ms of Redis), … */
const LOAD_MEMBERS_PER_SCRIPT = 16_384;
/** … and slices of at most this many sets (many small ones: one per correlation). */
const LOAD_SETS_PER_SCRIPT = 2_000;
const LOAD_SCRIPTS_IN_FLIGHT = 4;

/** Field codes of the coded fields, as the scripts know them. */
const FC: Record<CodedField, string> = { eventCategory: 'ec', resourceType: 'rt', actorType: 'at', outcome: 'oc' };

/** The arguments of one apply script (after the namespace … max codes): coded values, events, sets. */
export function applyArgs(batch: ApplyBatch): { args: Arg[]; events: number } {
  const distinct = new Map<string, number>();
  const rows: { pos: string; coded: number[]; keys: string[] }[] = [];
  for (const tx of batch.txs) {
    for (const r of tx.records) {
      const coded = CODED_FIELDS.map((f) => {
        const v = codedValue(r, f);
        if (v === undefined) return 0;
        const key = fieldKey(f, v);
        let d = distinct.get(key);
        if (d === undefined) distinct.set(key, (d = distinct.size + 1));
        return d;
      });
      rows.push({ pos: encodePosition(positionOf(r)), coded, keys: setFieldKeys(r) });
    }
  }
  // Position order: every list built from it is ascending, which the chunked insert wants.
  rows.sort((a, b) => (a.pos < b.pos ? -1 : a.pos > b.pos ? 1 : 0));
  const blob = Buffer.alloc(rows.length * 38);
  const sets = new Map<string, number[]>([[GLOBAL_KEY, []]]);
  rows.forEach((row, i) => {
    const o = i * 38;
    blob.write(row.pos, o, 'latin1');
    row.coded.forEach((d, f) => blob.writeUInt32BE(d, o + 22 + f * 4));
    for (const key of row.keys) {
      let list = sets.get(key);
      if (!list) sets.set(key, (list = []));
      list.push(i + 1);
    }
  });
  const args: Arg[] = [distinct.size, ...distinct.keys(), blob, sets.size];
  for (const [key, list] of sets) {
    const idx = Buffer.alloc(list.length * 4);
    list.forEach((n, j) => idx.writeUInt32BE(n, j * 4));
    args.push(key, idx);
  }
  return { args, events: rows.length };
}

export class RedisEventIndex implements EventIndex, SetReader {
  readonly kind = 'redis' as const;
  readonly namespace: string;
  /** Queries and health checks: short timeout. */
  readonly reader: Redis;
  /** The indexer's scripts and the rebuild: longer timeout, never blocks queries behind a batch. */
  readonly writer: Redis;
  private readonly meta: string;
  private readonly lease: string;
  private chunkSize: number;
  private readonly denseMin: number;
  private readonly maxCodes: Record<CodedField, number>;

  /** The layout knobs in force, for builds that must match them (bulk-build.ts). */
  get layout(): Required<IndexLayoutOptions> {
    return { denseMinEvents: this.denseMin, maxCodes: { ...this.maxCodes } };
  }

  private constructor(options: RedisIndexOptions) {
    this.namespace = options.namespace;
    this.meta = `${this.namespace}meta`;
    this.lease = `${this.namespace}lease`;
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 2) throw new RangeError('chunkSize must be an integer ≥ 2');
    this.denseMin = options.denseMinEvents ?? DENSE_MIN_EVENTS;
    this.maxCodes = resolveMaxCodes(options.maxCodes);
    // The indexer catches up as soon as Redis is back.
    this.reader = new Redis(options.url, failFastRedisOptions('auditgraph-index-query', options.queryTimeoutMs ?? 800));
    this.writer = new Redis(options.url, failFastRedisOptions('auditgraph-indexer', options.writeTimeoutMs ?? 10_000));
    this.writer.defineCommand('agIndexTick', { numberOfKeys: 2, lua: TICK });
    this.writer.defineCommand('agIndexRelease', { numberOfKeys: 1, lua: RELEASE });
    this.writer.defineCommand('agIndexBegin', { numberOfKeys: 1, lua: BEGIN });
    this.writer.defineCommand('agIndexFinishClear', { numberOfKeys: 1, lua: FINISH_CLEAR });
    this.writer.defineCommand('agIndexApply', { numberOfKeys: 1, lua: APPLY });
    this.writer.defineCommand('agIndexLoad', { numberOfKeys: 2, lua: LOAD });
    this.writer.defineCommand('agIndexLoadCommit', { numberOfKeys: 2, lua: LOAD_COMMIT });
    this.reader.defineCommand('agIndexProbe', { numberOfKeys: 1, lua: PROBE });
    this.reader.defineCommand('agIndexScan', { numberOfKeys: 1, lua: SCAN });
    for (const [name, client] of [
      ['query', this.reader],
      ['indexer', this.writer],
    ] as const) {
      let lastReport = 0;
      client.on('error', (e: unknown) => {
        // ioredis reports every failed reconnect; one line per 10 s is enough to know Redis is away.
        if (Date.now() - lastReport < 10_000) return;
        lastReport = Date.now();
        options.onError?.(`redis (${name} connection): ${e instanceof Error ? e.message : String(e)}`, e);
      });
    }
  }

  /** Connects both clients; when Redis is down it returns anyway and they keep reconnecting. */
  static async open(options: RedisIndexOptions): Promise<RedisEventIndex> {
    const index = new RedisEventIndex(options);
    await Promise.all([index.reader, index.writer].map((c) => c.connect().catch(() => undefined)));
    if (options.chunkSize === undefined) {
      // Chunks no bigger than what this server keeps as a listpack (CONFIG may be disabled: then 128).
      const got = await index.writer.config('GET', 'zset-max-listpack-entries').catch(() => null);
      const n = Array.isArray(got) ? Number(got[1]) : Number.NaN;
      if (Number.isInteger(n) && n >= 2) index.chunkSize = Math.min(DEFAULT_CHUNK_SIZE, n);
    }
    return index;
  }

  async tick(owner: string, leaseMs: number, force = false): Promise<TickResult> {
    const [leased, flat] = await this.writer.agIndexTick(this.lease, this.meta, owner, leaseMs, force ? '1' : '0');
    return { leased: leased === 1, state: parseState(flat) };
  }

  async releaseLease(owner: string): Promise<void> {
    await this.writer.agIndexRelease(this.lease, owner);
  }

  async state(): Promise<IndexState | null> {
    return parseState(Object.entries(await this.writer.hgetall(this.meta)).flat());
  }

  async reset(epoch: string, target: string): Promise<void> {
    await this.writer.agIndexBegin(this.meta, epoch, target);
    // SCAN + UNLINK in bounded steps: no single command blocks Redis however big the index is.
    let cursor = '0';
    do {
      const [next, keys] = await this.writer.scanBuffer(cursor, 'MATCH', `${this.namespace}*`, 'COUNT', 1000);
      cursor = next.toString();
      const doomed = keys.filter((k) => !k.equals(Buffer.from(this.meta)) && !k.equals(Buffer.from(this.lease)));
      if (doomed.length > 0) await this.writer.unlink(...doomed);
    } while (cursor !== '0');
    await this.writer.agIndexFinishClear(this.meta, epoch);
  }

  async apply(batch: ApplyBatch): Promise<ApplyResult> {
    const last = batch.txs[batch.txs.length - 1];
    if (!last) return { ok: true, added: 0, status: (await this.state())?.status ?? 'building' };
    const { args, events } = applyArgs(batch);
    const m = this.maxCodes;
    const reply = await this.writer.agIndexApply(
      this.meta,
      this.namespace,
      batch.epoch,
      batch.fromTxId,
      last.txId,
      events,
      this.chunkSize,
      this.denseMin,
      m.eventCategory,
      m.resourceType,
      m.actorType,
      m.outcome,
      ...args,
    );
    return applyResult(reply);
  }

  /**
   * Writes the built sets as full chunks, a bounded slice per script (so Redis keeps answering
   * other clients in between), a few in flight; then the codebook and checkpoint in one script.
   * Every script checks epoch, checkpoint 0 and the lease first, and renews the lease.
   */
  async load(epoch: string, built: BuiltIndex, owner: string, leaseMs: number): Promise<ApplyResult> {
    const head: Arg[] = [this.namespace, epoch, owner, leaseMs];
    const cap = this.chunkSize;
    const slice = cap * Math.max(1, Math.floor(LOAD_MEMBERS_PER_SCRIPT / cap));
    // A few scripts in flight, answered in order; one refusal stops the sending (the scripts
    // still in flight are refused too, or wrote what a rebuild will clear) and skips the commit.
    const inFlight: Promise<[string]>[] = [];
    let refused: RefusalReason | null = null;
    const settle = async (keep: number) => {
      while (inFlight.length > keep && !refused) {
        const [outcome] = await inFlight.shift()!;
        if (outcome !== 'ok') refused = outcome as RefusalReason;
      }
    };
    const send = async (args: Arg[]) => {
      const p = this.writer.agIndexLoad(this.meta, this.lease, ...head, cap, ...args);
      p.catch(() => undefined); // awaited by settle, or dropped after a refusal or a failure
      inFlight.push(p);
      await settle(LOAD_SCRIPTS_IN_FLIGHT - 1);
    };
    let args: Arg[] = [];
    let members = 0;
    for (const [key, list] of built.sets) {
      for (let i = 0; i < list.length && !refused; i += slice) {
        const part = list.slice(i, i + slice);
        args.push(key, i / cap, Buffer.from(part.join(''), 'latin1'));
        members += part.length;
        if (members >= LOAD_MEMBERS_PER_SCRIPT || args.length >= 3 * LOAD_SETS_PER_SCRIPT) {
          await send(args);
          args = [];
          members = 0;
        }
      }
      if (refused) break;
    }
    if (args.length > 0 && !refused) await send(args);
    await settle(0);
    if (refused) return { ok: false, reason: refused };
    const u = built.used;
    const codes: Arg[] = built.codes.flatMap((c) => [c.key, c.dense ? -c.code : c.code, c.count]);
    const reply = await this.writer.agIndexLoadCommit(
      this.meta,
      this.lease,
      ...head,
      built.lastTxId,
      built.events,
      built.applied,
      u.eventCategory,
      u.resourceType,
      u.actorType,
      u.outcome,
      ...codes,
    );
    return applyResult(reply);
  }

  async query(q: IndexQuery): Promise<IndexPage> {
    const filter = normalizeFilter(q.filter);
    const page = normalizePage(q, q.orderBy);
    try {
      return await findPage(this, filter, page);
    } catch (e) {
      throw isAuditError(e) ? e : unavailable('the query', e);
    }
  }

  async checkpoint(): Promise<string | null> {
    try {
      return await this.reader.hget(this.meta, 'checkpoint');
    } catch (e) {
      throw unavailable('reading the checkpoint', e);
    }
  }

  async health(): Promise<void> {
    try {
      await this.reader.ping();
    } catch (e) {
      throw unavailable('PING', e);
    }
  }

  async close(): Promise<void> {
    // quit() waits for replies; when Redis is away there is nothing to wait for.
    await Promise.all([this.reader, this.writer].map((c) => (c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : c.disconnect())));
  }

  // --- SetReader (query connection) ---------------------------------------------------------

  async probe(req: ProbeRequest): Promise<ProbeResult> {
    const args: Arg[] = [this.namespace, lexArg(req.range.min, 'min'), lexArg(req.range.max, 'max'), req.keys.length, ...req.keys, req.coded.length, ...req.coded];
    const r = await this.reader.agIndexProbe(this.meta, ...args);
    const [status, checkpoint, target, gen, events] = r as [string, string, string, string, number];
    if (status !== 'ready') {
      throw new AuditError(
        ErrorCode.INDEX_UNAVAILABLE,
        status ? `The event index is being rebuilt (tx ${checkpoint} of ${target}); try again shortly` : 'The event index is empty and being rebuilt; try again shortly',
      );
    }
    const counts = r.slice(5, 5 + req.keys.length) as number[];
    const coded = req.coded.map((_, i) => {
      const code = Number(r[5 + req.keys.length + 2 * i]);
      const count = Number(r[6 + req.keys.length + 2 * i]);
      return code === 0 ? null : { code: Math.abs(code), dense: code < 0, count };
    });
    return { gen, events: Number(events), counts, coded };
  }

  async scan(streams: readonly ScanStream[], filter: MemberFilter): Promise<{ gen: string; results: ScanResult[] }> {
    const args: Arg[] = [this.namespace, filter.codes.length];
    for (const c of filter.codes) args.push(FC[c.field], Buffer.from(c.codes), c.overflowKeys.length, ...c.overflowKeys);
    args.push(filter.sets.length);
    for (const keys of filter.sets) args.push(keys.length, ...keys);
    args.push(streams.length);
    for (const s of streams) args.push(s.key, lexArg(s.range.min, 'min'), lexArg(s.range.max, 'max'), s.desc ? 1 : 0, s.limit, s.budget);
    const [gen, ...per] = await this.reader.agIndexScanBuffer(this.meta, ...args);
    return {
      gen: gen.toString(),
      results: per.map(([done, last, ...members]) => ({
        done: Number(done) === 1,
        last: last.length > 0 ? last.toString('latin1') : null,
        members: members.map((m) => m.toString('latin1')),
      })),
    };
  }

  // --- inspection (tests, debugging) ---------------------------------------------------------

  /** Every member of a logical set (relative key), chunk after chunk, and the chunks' sizes. */
  async setMembers(key: string): Promise<{ members: string[]; chunks: { key: Buffer; size: number; encoding: string }[] }> {
    const S = Buffer.from(this.namespace + key, 'latin1');
    const dir = Buffer.concat([S, Buffer.from('#')]);
    const starts = await this.writer.zrangeBuffer(dir, 0, -1);
    const chunkKeys = [S, ...starts.map((s) => Buffer.concat([dir, s]))];
    const members: string[] = [];
    const chunks: { key: Buffer; size: number; encoding: string }[] = [];
    for (const k of chunkKeys) {
      const got = (await this.writer.zrangeBuffer(k, 0, -1)).map((b) => b.toString('latin1'));
      members.push(...got);
      const encoding = got.length > 0 ? String(await this.writer.object('ENCODING', k)) : 'none';
      chunks.push({ key: k, size: got.length, encoding });
    }
    return { members, chunks };
  }

  /** The codebook: coded value key → code (negative: dense), and events per value. */
  async codebook(): Promise<{ codes: Record<string, number>; counts: Record<string, number> }> {
    const [codes, counts] = await Promise.all([this.writer.hgetall(`${this.namespace}cb`), this.writer.hgetall(`${this.namespace}cn`)]);
    const num = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v)]));
    return { codes: num(codes), counts: num(counts) };
  }
}
