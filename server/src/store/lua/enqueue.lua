-- Queue a message unless the queue is full (0) or its device holds its share (2).
-- KEYS: due, msg, born, per-device counts, message -> device.
-- ARGV: id, value, max_len, due_ms, now_ms, device, max_per_device.
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
if tonumber(redis.call('HGET', KEYS[4], ARGV[6]) or '0') >= tonumber(ARGV[7]) then return 2 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
redis.call('HINCRBY', KEYS[4], ARGV[6], 1)
redis.call('HSET', KEYS[5], ARGV[1], ARGV[6])
return 1
