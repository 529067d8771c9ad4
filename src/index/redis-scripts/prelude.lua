-- Prepended to the batch and query scripts; ARGV[1] is always the namespace.
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
-- the timestamp (ms) a member starts with (BE48)
local function msOf(m)
  local a1, a2, a3, a4, a5, a6 = string.byte(m, 1, 6)
  return ((((a1 * 256 + a2) * 256 + a3) * 256 + a4) * 256 + a5) * 256 + a6
end
-- a table's entries as a flat reply list {key, value, …}
local function pairsOf(t)
  local out = {}
  for k, v in pairs(t) do
    out[#out + 1] = k
    out[#out + 1] = v
  end
  return out
end
