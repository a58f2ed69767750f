-- Store a message's new state and due time, only while it is still queued.
-- KEYS: due, msg. ARGV: id, value, due_ms.
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
