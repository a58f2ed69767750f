-- A device and its registrations (after find.lua). KEYS: bucket. ARGV: device.
local head = redis.call('HGET', KEYS[1], ARGV[1])
if not head then return false end
local r = regs(KEYS[1], ARGV[1])
table.insert(r, 1, head)
return r
