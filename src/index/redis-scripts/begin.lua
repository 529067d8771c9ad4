-- A new epoch fences off every writer of the old one before any key is deleted.
-- KEYS: meta. ARGV: epoch, target tx.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'checkpoint', '0', 'status', 'clearing', 'target', ARGV[2], 'events', 0, 'applied', 0, 'gen', 0)
return 'ok'
