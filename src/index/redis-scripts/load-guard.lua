-- Prepended to the bulk-load scripts: refuses unless this build is still the one at
-- checkpoint 0 and the owner (ARGV[3]) holds the lease (KEYS[2]); renews the lease.
local m = redis.call('HMGET', KEYS[1], 'epoch', 'status', 'checkpoint', 'target')
if not m[1] then return {'missing'} end
if m[1] ~= ARGV[2] then return {'epoch'} end
if m[2] == 'clearing' then return {'clearing'} end
if (m[2] ~= 'building' and m[2] ~= 'loading') or m[3] ~= '0' then return {'moved'} end
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return {'lease'} end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
