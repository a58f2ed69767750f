-- A project's number (1–255), assigned on first use; -1 when the table is full.
-- KEYS: projects. ARGV: name.
local n = redis.call('HGET', KEYS[1], 'n:' .. ARGV[1])
if n then return tonumber(n) end
n = redis.call('HINCRBY', KEYS[1], 'next', 1)
if n > 255 then
  redis.call('HINCRBY', KEYS[1], 'next', -1)
  return -1
end
redis.call('HSET', KEYS[1], 'n:' .. ARGV[1], n, 'i:' .. n, ARGV[1])
return n
