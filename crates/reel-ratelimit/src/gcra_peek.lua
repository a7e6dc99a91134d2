-- reel-ratelimit GCRA peek: the bucket's backlog now, read-only (no write, no expiry change).
-- KEYS[1]  the bucket key; its value is the TAT in decimal nanoseconds since the Unix epoch
-- ARGV[1]  now in decimal nanoseconds since the epoch, or "" to use the server's TIME
-- Returns {1, backlog in nanoseconds (0 for an unknown or drained key)}.
local function split(text)
  local len = string.len(text)
  if len <= 9 then return 0, tonumber(text) end
  return tonumber(string.sub(text, 1, len - 9)), tonumber(string.sub(text, len - 8))
end

local now_s, now_ns
if ARGV[1] == '' then
  local time = redis.call('TIME')
  now_s, now_ns = tonumber(time[1]), tonumber(time[2]) * 1000
else
  now_s, now_ns = split(ARGV[1])
end

local backlog = 0
local stored = redis.call('GET', KEYS[1])
if stored then
  local tat_s, tat_ns = split(stored)
  if tat_s and tat_ns then
    backlog = (tat_s - now_s) * 1000000000 + (tat_ns - now_ns)
    if backlog < 0 then backlog = 0 end
  end
end
return {1, backlog}
