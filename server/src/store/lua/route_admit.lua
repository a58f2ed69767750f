-- Route a push and charge its limiter (after gcra.lua). KEYS: bucket, limiter.
-- ARGV: device, registration field, interval, tolerance.
local v = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
if not v[1] or not v[2] then return false end
if string.byte(v[2], 1) == 1 then return {v[1], v[2], 0} end
return {v[1], v[2], gcra(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))}
