-- Bulk load, part 1b (as many calls as it takes): the registry of dimension values and the
-- correlations by newest event. Runs after load-guard.lua.
-- KEYS: meta, lease. ARGV: namespace, epoch, owner, lease ms, then 'dv' and pairs of value key
-- (`<fc>:<esc(v)>`) and events, 'cr' and pairs of correlationId and its newest event's ms, or 'ru'
-- and triples of rollup key (a time bucket's `ru:…` or a value's `vr:…`), field (a cell's 3 code
-- bytes, `#t` or `#<fc><code>`) and events.
redis.call('HSET', KEYS[1], 'status', 'loading')
local NS = ARGV[1]
if ARGV[5] == 'dv' then
  for a = 6, #ARGV, 2 do
    local key = ARGV[a]
    redis.call('HSET', NS .. 'dv:' .. string.sub(key, 1, 2), string.sub(key, 4), ARGV[a + 1])
  end
elseif ARGV[5] == 'ru' then
  for a = 6, #ARGV, 3 do
    redis.call('HSET', NS .. ARGV[a], ARGV[a + 1], ARGV[a + 2])
    -- minute buckets expire as the batch script has them (rollups.ts)
    local minute = string.match(ARGV[a], '^ru:m:(%d+)$')
    if minute then redis.call('PEXPIREAT', NS .. ARGV[a], string.format('%d', (tonumber(minute) + 1) * 60000 + MINUTE_KEEP_MS)) end
  end
else
  local args = {}
  for a = 6, #ARGV, 2 do
    args[#args + 1] = ARGV[a + 1]
    args[#args + 1] = ARGV[a]
  end
  if #args > 0 then redis.call('ZADD', NS .. 'cr', unpack(args)) end
end
return {'ok'}
