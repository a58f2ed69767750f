-- Push the limiter's TAT to now + ARGV[1] + tolerance ARGV[2] (never backwards).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = now + tonumber(ARGV[1]) + tonumber(ARGV[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur > tat then tat = cur end
redis.call('SET', KEYS[1], tat, 'PX', tat - now + SLACK_MS)
return 1
