-- Replace an existing device's token (TOKEN_AT is where the token starts in the
-- device's record). KEYS: bucket. ARGV: device, encoded token.
local head = redis.call('HGET', KEYS[1], ARGV[1])
if not head then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], string.sub(head, 1, TOKEN_AT - 1) .. ARGV[2])
return 1
