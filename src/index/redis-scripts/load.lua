-- Bulk load, part 1 (as many calls as it takes): sets written as full chunks.
-- Runs after load-guard.lua; MEMBER_LENGTH is members.ts' (redis-commands.ts prepends it).
-- KEYS: meta, lease. ARGV: namespace, epoch, owner, lease ms, chunk size, then per slice of a set:
-- its key, the number of its first chunk (0: the set's first), its members (ascending, MEMBER_LENGTH bytes
-- each, concatenated). Marks the index 'loading': anyone who finds it so later knows a load was
-- cut short and starts the rebuild again.
redis.call('HSET', KEYS[1], 'status', 'loading')
local NS, CAP, W = ARGV[1], tonumber(ARGV[5]), MEMBER_LENGTH
local a = 6
while a <= #ARGV do
  local S, chunk, blob = NS .. ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  a = a + 3
  local n = #blob / W
  local dir = {}
  for i = 0, n - 1, CAP do
    -- Descending: Redis inserts each member of a listpack after scanning for its place, which
    -- for the smallest so far is the head (ascending would walk the whole chunk every time).
    local args = {}
    for j = math.min(n, i + CAP) - 1, i, -1 do
      args[#args + 1] = 0
      args[#args + 1] = string.sub(blob, j * W + 1, j * W + W)
    end
    local key = S
    if chunk > 0 then
      local start = string.sub(blob, i * W + 1, i * W + W)
      key = S .. '#' .. start
      dir[#dir + 1] = 0
      dir[#dir + 1] = start
    end
    redis.call('ZADD', key, unpack(args))
    chunk = chunk + 1
    if #dir >= 1000 then
      redis.call('ZADD', S .. '#', unpack(dir))
      dir = {}
    end
  end
  if #dir > 0 then redis.call('ZADD', S .. '#', unpack(dir)) end
end
return {'ok'}
