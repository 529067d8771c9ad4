-- Takes or renews the lease (or takes it from anyone, with force) and reads the index state.
-- KEYS: lease, meta. ARGV: owner, lease ms, force 0/1. Returns {leased 0/1, meta as HGETALL}.
local cur = redis.call('GET', KEYS[1])
local leased = 0
if (not cur) or cur == ARGV[1] or ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  leased = 1
end
return {leased, redis.call('HGETALL', KEYS[2])}
