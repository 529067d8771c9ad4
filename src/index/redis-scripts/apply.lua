-- One batch of txs: codes, members and the checkpoint, compare-and-set on epoch and checkpoint.
-- Runs after prelude.lua; DENSE_SHARE_INVERSE, CODED and LAYOUT are codes.ts' (redis-commands.ts
-- prepends them). KEYS: meta. ARGV: namespace, epoch, from, to, events in the batch, chunk size,
-- denseMin, max codes of each coded field (CODED order), then the batch's distinct coded values
-- (count, then each as '<fc>:<esc>'), the events (one string: per event its 22-byte position and
-- one u32 index of its value per coded field, 0 = none, sorted by position), then the set keys (count, then per key the key and a string of u32
-- event indexes, ascending; the global set first). Returns {'ok', added, status} or {reason}.
local m = redis.call('HMGET', KEYS[1], 'epoch', 'checkpoint', 'status', 'target', 'events')
if not m[1] then return {'missing'} end
if m[1] ~= ARGV[2] then return {'epoch'} end
if m[3] == 'clearing' then return {'clearing'} end
if m[3] == 'loading' then return {'loading'} end
if m[2] ~= ARGV[3] then return {'moved'} end
local CAP = tonumber(ARGV[6])
local DENSE_MIN = tonumber(ARGV[7])
local NC = #CODED
local MAXC = {}
for f = 1, NC do MAXC[CODED[f]] = tonumber(ARGV[7 + f]) end
-- ARGV positions after the max codes
local ND = 8 + NC
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
local nd = tonumber(ARGV[ND])
local dcode, dkind = {}, {}
for d = 1, nd do
  local v = ARGV[ND + d]
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
      dcode[d], dkind[d] = LAYOUT[fc].ovf, 3
    end
  end
end

-- members, and the events of each coded value
local blob = ARGV[ND + 1 + nd]
local W = 22 + 4 * NC
local members, lists = {}, {}
for i = 1, #blob / W do
  local o = (i - 1) * W
  local bytes = {}
  for b = 1, CODE_BYTES do bytes[b] = 0 end
  for f = 1, NC do
    local d = u32(blob, o + 22 + (f - 1) * 4)
    if d > 0 then
      local l = LAYOUT[CODED[f]]
      bytes[l.byte] = bytes[l.byte] + dcode[d] * l.div
      local list = lists[d]
      if not list then
        list = {}
        lists[d] = list
      end
      list[#list + 1] = i
    end
  end
  members[i] = string.sub(blob, o + 1, o + 22) .. string.char(unpack(bytes))
end

-- the registry of dimension values (stats groups) and the correlations by newest event
local DIM = { et = true, ai = true, sv = true, cl = true, ec = true, rt = true, oc = true }
local function register(key, n)
  local fc = string.sub(key, 1, 2)
  if DIM[fc] and string.sub(key, 3, 3) == ':' then redis.call('HINCRBY', NS .. 'dv:' .. fc, string.sub(key, 4), n) end
end
local function unescape(s)
  return (string.gsub(s, '%%(%x%x)', function(h) return string.char(tonumber(h, 16)) end))
end

-- rollups: per minute, hour and day bucket, and per value of the VALUE_ROLLUP fields (all time),
-- events by their cell (the first 3 code bytes), in total, and per code of each rollup field
-- (rollups.ts, rollupFieldsOf)
local fieldsOf = {}
local function tallyCell(t, cell)
  local fields = fieldsOf[cell]
  if not fields then
    fields = { cell, '#t' }
    for r = 1, #ROLLUP do
      local l = LAYOUT[ROLLUP[r]]
      fields[#fields + 1] = '#' .. ROLLUP[r] .. string.char(math.floor(string.byte(cell, l.byte) / l.div) % l.mod)
    end
    fieldsOf[cell] = fields
  end
  for _, f in ipairs(fields) do t[f] = (t[f] or 0) + 1 end
end
local LEVELS = { { 'm', 60000 }, { 'h', 3600000 }, { 'd', 86400000 } }
local tallies, order = {}, {}
for i = 1, #members do
  local ms, cell = msOf(members[i]), string.sub(members[i], 23, 25)
  for l = 1, 3 do
    local key = NS .. 'ru:' .. LEVELS[l][1] .. ':' .. string.format('%d', math.floor(ms / LEVELS[l][2]))
    local t = tallies[key]
    if not t then
      t = {}
      tallies[key] = t
      order[#order + 1] = key
    end
    tallyCell(t, cell)
  end
end
for _, key in ipairs(order) do
  for field, n in pairs(tallies[key]) do redis.call('HINCRBY', key, field, n) end
  local minute = string.match(key, 'ru:m:(%d+)$')
  if minute then redis.call('PEXPIREAT', key, string.format('%d', (tonumber(minute) + 1) * 60000 + MINUTE_KEEP_MS)) end
end

local added = 0
local a = ND + 2 + nd
for k = 1, tonumber(ARGV[a]) do
  local key, idx = ARGV[a + 2 * k - 1], ARGV[a + 2 * k]
  local list = {}
  for j = 1, #idx / 4 do list[j] = members[u32(idx, (j - 1) * 4)] end
  local r = addSorted(NS .. key, list)
  if k == 1 then added = r end
  register(key, #list)
  if VALUE_ROLLUP[string.sub(key, 1, 2)] and string.sub(key, 3, 3) == ':' then
    local t = {}
    for j = 1, #list do tallyCell(t, string.sub(list[j], 23, 25)) end
    for field, n in pairs(t) do redis.call('HINCRBY', NS .. 'vr:' .. key, field, n) end
  end
  if string.sub(key, 1, 3) == 'ci:' then
    redis.call('ZADD', NS .. 'cr', 'GT', string.format('%d', msOf(list[#list])), unescape(string.sub(key, 4)))
  end
end

local events = tonumber(m[5] or '0') + added
local moved = false
for d = 1, nd do
  local l = lists[d]
  local v = ARGV[ND + d]
  register(v, #l)
  if dkind[d] ~= 2 then
    local list = {}
    for j = 1, #l do list[j] = members[l[j]] end
    addSorted(NS .. v, list)
  end
  if dkind[d] ~= 3 then
    local count = redis.call('HINCRBY', CN, v, #l)
    if dkind[d] == 1 and count > DENSE_MIN and count * DENSE_SHARE_INVERSE > events then
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
return {'ok', added, status}
