-- Replace an existing device's target, of any kind (TARGET_AT is where the target starts
-- in the device's record). KEYS: bucket. ARGV: device, encoded target.
local head = redis.call('HGET', KEYS[1], ARGV[1])
if not head then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], string.sub(head, 1, TARGET_AT - 1) .. ARGV[2])
return 1
