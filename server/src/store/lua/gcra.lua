-- One GCRA step on `key` using Redis' clock (instances may disagree on time). interval 0
-- = no limit, only honour a hold (no write). 0 when allowed, else ms to wait. The key
-- expires SLACK_MS after its theoretical arrival time.
local function gcra(key, interval, tol)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', key) or '0')
  if interval == 0 then
    if tat > now then return tat - now end
    return 0
  end
  if tat < now then tat = now end
  local allow_at = tat - tol
  if allow_at > now then return allow_at - now end
  local new = tat + interval
  redis.call('SET', key, new, 'PX', new - now + SLACK_MS)
  return 0
end
