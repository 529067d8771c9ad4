-- Shared by scan.lua and tally.lua, after prelude.lua: the member filter and the walk.
-- ARGV from 2: code checks (count, then per check: field code, the allowed codes as bytes,
-- overflow key count, overflow keys); set checks (count, then per check: key count, keys). arg()
-- reads on from there.
local a = 2
local function arg()
  a = a + 1
  return ARGV[a - 1]
end
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

-- a field's code in member m (LAYOUT: codes.ts, prepended by redis-commands.ts)
local function codeOf(m, f)
  local l = LAYOUT[f]
  return math.floor(string.byte(m, 22 + l.byte) / l.div) % l.mod
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
  if #m ~= MEMBER_LENGTH then return false end
  for k = 1, #codeChecks do
    local c = codeChecks[k]
    local code = codeOf(m, c[1])
    if not c[2][code] then
      if not (code == LAYOUT[c[1]].ovf and #c[3] > 0 and holds(c[3], m)) then return false end
    end
  end
  for k = 1, #setChecks do
    if not holds(setChecks[k], m) then return false end
  end
  return true
end

-- Walks set S over [min, max] (ZRANGE BYLEX bounds) in its direction, calling visit(m) for each
-- member that passes the filter, until `limit` passed, about `budget` members were read (and
-- probed), or the range ended. Returns done (the range ended), last member read (or false).
local function walkRange(S, min, max, desc, limit, budget, visit)
  work = 0
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
        visit(last)
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
  return done, last
end

