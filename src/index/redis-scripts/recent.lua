-- Correlations by their newest event, newest first (ties: id bytes, descending), after a cursor.
-- Runs after prelude.lua. KEYS: meta. ARGV: namespace, after ms ('' for the start), after id,
-- limit. Returns status, then id, ms, id, ms, … (only when the index is ready).
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'ready' then return { status or '' } end
local CR, limit = NS .. 'cr', tonumber(ARGV[4])
local out = { 'ready' }
local function take(list)
  for k = 1, #list, 2 do
    out[#out + 1] = list[k]
    out[#out + 1] = list[k + 1]
  end
end
if ARGV[2] == '' then
  take(redis.call('ZRANGE', CR, '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, limit, 'WITHSCORES'))
else
  -- the rest of the cursor's own millisecond (ids below the cursor's), then older ones
  local same = redis.call('ZRANGE', CR, ARGV[2], ARGV[2], 'BYSCORE', 'REV', 'WITHSCORES')
  for k = 1, #same, 2 do
    if (#out - 1) / 2 >= limit then break end
    if lt(same[k], ARGV[3]) then
      out[#out + 1] = same[k]
      out[#out + 1] = same[k + 1]
    end
  end
  local left = limit - (#out - 1) / 2
  if left > 0 then take(redis.call('ZRANGE', CR, '(' .. ARGV[2], '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, left, 'WITHSCORES')) end
end
return out
