-- Delete a device and its registrations (after find.lua; TARGET_AT is where the target
-- starts in the device's record). KEYS: bucket. ARGV: device, encoded target or ''
-- (when given, only while the device's whole target is still that one).
local head = redis.call('HGET', KEYS[1], ARGV[1])
if not head then return 0 end
if ARGV[2] ~= '' and string.sub(head, TARGET_AT) ~= ARGV[2] then return 0 end
local r = regs(KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
for i = 1, #r, 2 do redis.call('HDEL', KEYS[1], r[i]) end
return 1
