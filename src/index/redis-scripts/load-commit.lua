-- Bulk load, part 2: the codebook, the counters and the checkpoint, at once.
-- Runs after load-guard.lua (CODED: codes.ts' field codes, prepended).
-- KEYS: meta, lease. ARGV: namespace, epoch, owner, lease ms, last tx, events, applied, codes
-- handed out per coded field (CODED order), then per coded value: key, code (negative: dense), events.
local NS = ARGV[1]
local CB, CN = NS .. 'cb', NS .. 'cn'
for f = 1, #CODED do
  if ARGV[7 + f] ~= '0' then redis.call('HSET', CB, '#' .. CODED[f], ARGV[7 + f]) end
end
for a = 8 + #CODED, #ARGV, 3 do
  redis.call('HSET', CB, ARGV[a], ARGV[a + 1])
  redis.call('HSET', CN, ARGV[a], ARGV[a + 2])
end
local status = 'building'
if tonumber(ARGV[5]) >= tonumber(m[4]) then status = 'ready' end
redis.call('HSET', KEYS[1], 'checkpoint', ARGV[5], 'status', status, 'events', ARGV[6], 'applied', ARGV[7])
return {'ok', tonumber(ARGV[6]), status}
