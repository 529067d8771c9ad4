-- Counts the members of one stream that pass the filter. Runs after prelude.lua and walk.lua.
-- KEYS: meta. ARGV: namespace; the filter (walk.lua); key, min, max, budget; dims (count, then
-- field codes); histogram origin, width, buckets (0: none). Returns gen, done 0/1, last member
-- read or '', count, first and last match or '', then per dim {code, count, …} and the
-- histogram {bucket, count, …}, nonzero entries only.
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'gen')
local key, min, max, budget = arg(), arg(), arg(), tonumber(arg())
local dims = {}
for k = 1, tonumber(arg()) do dims[k] = arg() end
local origin, width, buckets = tonumber(arg()), tonumber(arg()), tonumber(arg())
local count, first, lastMatch = 0, '', ''
local byDim, hist = {}, {}
for k = 1, #dims do byDim[k] = {} end
local done, last = walkRange(NS .. key, min, max, false, 1e18, budget, function(m)
  count = count + 1
  if first == '' then first = m end
  lastMatch = m
  for k = 1, #dims do
    local c = codeOf(m, dims[k])
    byDim[k][c] = (byDim[k][c] or 0) + 1
  end
  if buckets > 0 then
    local b = math.floor((msOf(m) - origin) / width)
    if b >= 0 and b < buckets then hist[b] = (hist[b] or 0) + 1 end
  end
end)
local res = { (meta[1] or '') .. '/' .. (meta[2] or '0'), done and 1 or 0, last or '', count, first, lastMatch }
for k = 1, #dims do res[#res + 1] = pairsOf(byDim[k]) end
res[#res + 1] = pairsOf(hist)
return res
