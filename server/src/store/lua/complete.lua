-- Drop a message from the queue; whether it was queued. Its device's share is given
-- back (messages queued before shares were counted have none).
-- KEYS: due, msg, born, per-device counts, message -> device. ARGV: id.
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local device = redis.call('HGET', KEYS[5], ARGV[1])
if device then
  redis.call('HDEL', KEYS[5], ARGV[1])
  if redis.call('HINCRBY', KEYS[4], device, -1) <= 0 then redis.call('HDEL', KEYS[4], device) end
end
return redis.call('HDEL', KEYS[2], ARGV[1])
