-- One round of a query: reads the driver's chunks and keeps the members that pass the filter.
-- Runs after prelude.lua and walk.lua.
-- KEYS: meta. ARGV: namespace; the filter (walk.lua); streams (count, then per stream: key, min,
-- max, desc 0/1, limit, budget). Returns gen, then per stream {done 0/1, last member read or '',
-- matching members…}.
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'gen')
local res = { (meta[1] or '') .. '/' .. (meta[2] or '0') }
for k = 1, tonumber(arg()) do
  local key, min, max, desc, limit, budget = arg(), arg(), arg(), arg(), arg(), arg()
  local out = { 0, '' }
  local done, last = walkRange(NS .. key, min, max, desc == '1', tonumber(limit), tonumber(budget), function(m) out[#out + 1] = m end)
  if done then out[1] = 1 end
  if last then out[2] = last end
  res[k + 1] = out
end
return res
