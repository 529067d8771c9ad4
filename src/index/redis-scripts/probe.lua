-- Counts the filter's sets in the range and looks its coded values up. Runs after prelude.lua.
-- KEYS: meta. ARGV: namespace, min, max (ZRANGE BYLEX syntax), exact (1: count every chunk), key
-- count, keys, coded value count, coded values. Returns status, checkpoint, target, gen, events; when ready, then one count per
-- key and (code, events) per coded value (code 0: none; negative: dense).
-- members of set S inside [min, max]: exact up to 33 chunks (or when EXACT), beyond that the
-- inner chunks estimated
local EXACT = ARGV[4] == '1'
local function count(S, min, max)
  local dir = S .. '#'
  if redis.call('EXISTS', dir) == 0 then return redis.call('ZLEXCOUNT', S, min, max) end
  local lo, first = '-', S
  if min ~= '-' then
    local v = string.sub(min, 2)
    lo = '(' .. v
    first = chunkOf(S, v)
  end
  local starts
  if EXACT then starts = redis.call('ZRANGE', dir, lo, max, 'BYLEX')
  else starts = redis.call('ZRANGE', dir, lo, max, 'BYLEX', 'LIMIT', 0, 33) end
  if #starts == 0 then return redis.call('ZLEXCOUNT', first, min, max) end
  local total = redis.call('ZLEXCOUNT', first, min, '+')
  if EXACT or #starts <= 32 then
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
local nk = tonumber(ARGV[5])
for k = 1, nk do out[#out + 1] = count(NS .. ARGV[5 + k], min, max) end
local a = 6 + nk
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
return out
