-- reel-ratelimit GCRA decision (one round trip, atomic inside Redis).
-- KEYS[1]  the bucket key; its value is the TAT in decimal nanoseconds since the Unix epoch
-- ARGV[1]  emission interval, nanoseconds
-- ARGV[2]  capacity (burst x emission interval), nanoseconds
-- ARGV[3]  cost
-- ARGV[4]  now in decimal nanoseconds since the epoch, or "" to use the server's TIME
-- Returns {allowed (1/0), backlog before this request in nanoseconds}.
-- Lua numbers are doubles: times are kept as (seconds, nanoseconds) pairs and only
-- differences, which are below 2^53 ns, are formed as single numbers.
local function split(text)
  local len = string.len(text)
  if len <= 9 then return 0, tonumber(text) end
  return tonumber(string.sub(text, 1, len - 9)), tonumber(string.sub(text, len - 8))
end

local emission = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now_s, now_ns
if ARGV[4] == '' then
  local time = redis.call('TIME')
  now_s, now_ns = tonumber(time[1]), tonumber(time[2]) * 1000
else
  now_s, now_ns = split(ARGV[4])
end

local backlog = 0
-- A value that is not a TAT (written by something else) counts as an empty bucket.
local stored = redis.call('GET', KEYS[1])
if stored then
  local tat_s, tat_ns = split(stored)
  if tat_s and tat_ns then
    backlog = (tat_s - now_s) * 1000000000 + (tat_ns - now_ns)
    if backlog < 0 then backlog = 0 end
  end
end

local after = backlog + cost * emission
if after > capacity then
  return {0, backlog}
end
local total = now_ns + after
local tat_s = now_s + math.floor(total / 1000000000)
local tat_ns = total % 1000000000
redis.call('SET', KEYS[1], string.format('%d%09d', tat_s, tat_ns), 'PX', math.ceil(after / 1000000) + 1)
return {1, backlog}
