-- Charge a limiter (after gcra.lua). KEYS: limiter. ARGV: interval, tolerance.
return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
