-- After the namespace was cleared: building (or ready when there is nothing to build).
-- KEYS: meta. ARGV: epoch. Returns the status, or 'stale' when the epoch moved on.
local m = redis.call('HMGET', KEYS[1], 'epoch', 'status', 'target')
if m[1] ~= ARGV[1] or m[2] ~= 'clearing' then return 'stale' end
local status = 'building'
if m[3] == '0' then status = 'ready' end
redis.call('HSET', KEYS[1], 'status', status)
return status
