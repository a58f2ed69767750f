-- Add or replace a registration (after find.lua). KEYS: bucket.
-- ARGV: device, encoded instance, new value, new field, limit.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {0} end
local field, value, count = find(KEYS[1], ARGV[1], ARGV[2])
if field then
  if value == ARGV[3] then return {1, field} end
  redis.call('HDEL', KEYS[1], field)
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[3])
  return {2, ARGV[4]}
end
if count >= tonumber(ARGV[5]) then return {3} end
redis.call('HSET', KEYS[1], ARGV[4], ARGV[3])
return {4}
