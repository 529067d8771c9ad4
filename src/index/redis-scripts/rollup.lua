-- Adds up rollup buckets (rollups.ts): the events of cells that pass the code checks, in total, by
-- code of each dim, and per histogram bucket. Runs after prelude.lua (LAYOUT: codes.ts).
-- KEYS: meta. ARGV: namespace; checks (count, then per check: field code, allowed codes as bytes);
-- dims (count, then field codes); then per unit: its key and its histogram bucket (-1: none).
-- Returns status; when ready: gen, events, applied, count, per dim {code, count, …}, then the
-- histogram {bucket, count, …}, nonzero entries only.
local m = redis.call('HMGET', KEYS[1], 'status', 'epoch', 'gen', 'events', 'applied')
if m[1] ~= 'ready' then return { m[1] or '' } end
local a = 2
local function arg()
  a = a + 1
  return ARGV[a - 1]
end
local checks = {}
for k = 1, tonumber(arg()) do
  local field, codes, allowed = arg(), arg(), {}
  for p = 1, #codes do allowed[string.byte(codes, p)] = true end
  checks[k] = { field, allowed }
end
local dims = {}
for k = 1, tonumber(arg()) do dims[k] = arg() end
-- a field's code in a cell: the first code bytes of a member (LAYOUT: codes.ts)
local function codeOf(cell, f)
  local l = LAYOUT[f]
  return math.floor(string.byte(cell, l.byte) / l.div) % l.mod
end
local count, byDim, hist = 0, {}, {}
for k = 1, #dims do byDim[k] = {} end
-- Without checks, the totals and per-code fields answer (rollupFieldsOf); with checks, the cells.
local fields, owner = nil, {}
if #checks == 0 then
  fields = { '#t' }
  for k = 1, #dims do
    local used = tonumber(redis.call('HGET', NS .. 'cb', '#' .. dims[k]) or '0')
    local codes = { 0, LAYOUT[dims[k]].ovf }
    for c = 1, used do codes[#codes + 1] = c end
    for _, c in ipairs(codes) do
      fields[#fields + 1] = '#' .. dims[k] .. string.char(c)
      owner[#fields] = { k, c }
    end
  end
end
while a <= #ARGV do
  local key, bucket = arg(), tonumber(arg())
  if fields then
    local got = redis.call('HMGET', NS .. key, unpack(fields))
    local n = tonumber(got[1] or '0')
    count = count + n
    if bucket >= 0 and n > 0 then hist[bucket] = (hist[bucket] or 0) + n end
    for p = 2, #got do
      if got[p] then
        local o = owner[p]
        byDim[o[1]][o[2]] = (byDim[o[1]][o[2]] or 0) + tonumber(got[p])
      end
    end
  else
    local h = redis.call('HGETALL', NS .. key)
    for p = 1, #h, 2 do
      local cell, pass = h[p], #h[p] == 3
      for k = 1, #checks do
        if not pass then break end
        if not checks[k][2][codeOf(cell, checks[k][1])] then pass = false end
      end
      if pass then
        local n = tonumber(h[p + 1])
        count = count + n
        for k = 1, #dims do
          local c = codeOf(cell, dims[k])
          byDim[k][c] = (byDim[k][c] or 0) + n
        end
        if bucket >= 0 then hist[bucket] = (hist[bucket] or 0) + n end
      end
    end
  end
end
local res = { 'ready', (m[2] or '') .. '/' .. (m[3] or '0'), tonumber(m[4] or '0'), tonumber(m[5] or '0'), count }
for k = 1, #dims do res[#res + 1] = pairsOf(byDim[k]) end
res[#res + 1] = pairsOf(hist)
return res
