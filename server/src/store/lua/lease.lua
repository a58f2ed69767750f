-- Lease due messages and return them. KEYS: due, msg, born. ARGV: now_ms, lease_ms, max.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
if #ids == 0 then return out end
local until_ms = tonumber(ARGV[1]) + tonumber(ARGV[2])
local values = redis.call('HMGET', KEYS[2], unpack(ids))
for i, id in ipairs(ids) do
  if values[i] then
    redis.call('ZADD', KEYS[1], until_ms, id)
    table.insert(out, values[i])
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[3], id)
  end
end
return out
