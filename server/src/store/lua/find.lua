-- Helpers over a bucket hash: regs(key, dev) lists a device's registration fields and
-- values; find(key, dev, instance) the one whose encoded instance is `instance`, and the
-- count. A registration value is a flag byte (0, or 1 + 65-byte VAPID key) and the instance.
local function regs(key, dev)
  local all = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #all, 2 do
    local f = all[i]
    if #f == 36 and string.sub(f, 1, 16) == dev then
      out[#out + 1] = f
      out[#out + 1] = all[i + 1]
    end
  end
  return out
end
local function find(key, dev, instance)
  local r = regs(key, dev)
  local field, value
  for i = 1, #r, 2 do
    local v = r[i + 1]
    local skip = 1
    if string.byte(v, 1) == 1 then skip = 66 end
    if string.sub(v, skip + 1) == instance then field = r[i]; value = v end
  end
  return field, value, #r / 2
end
