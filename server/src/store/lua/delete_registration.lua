-- Remove a registration (after find.lua). KEYS: bucket. ARGV: device, encoded instance.
local field = find(KEYS[1], ARGV[1], ARGV[2])
if not field then return 0 end
redis.call('HDEL', KEYS[1], field)
return 1
