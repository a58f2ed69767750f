-- Drop a message from the queue; whether it was queued. KEYS: due, msg, born. ARGV: id.
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
