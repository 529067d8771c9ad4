-- Prepended to apply, probe and scan; ARGV[1] is always the namespace.
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
