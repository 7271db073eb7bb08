"""The Lua script behind admission and settlement: one call applies a batch of settlements, then
decides a batch of admissions, atomically (app/billing/limits.py builds the batches).

ARGV: now_ms, alive_key,
      n_level_sets, then per set: id, JSON [[prefix, period, budget, rpm, tpm, parallel, budget_expire_at], ...]
                    (-1: no such limit; 0: no expiry) — stored as `al:lv:<id>` for a day, so each request
                    only names its set
      n_settlements, then per settlement: request_id, reserved, actual, tokens, refund(0/1), minute, set id
      n_admissions,  then per admission: request_id, amount, deadline_ms, minute, set id
Returns, per admission: {"ok", 0, 0, used_rpm, used_tpm, ... per level} or {refusal, level_index, used}
with refusal one of parallel, rpm, tpm, budget, seed (the period's counter must first be restored),
or levels (the set is unknown to Redis: send it again).

Each level is a handful of plain counters (`:n` parallel requests, `:m:`/`:t:` per minute, the
budget period's hash); what a request holds is recorded once per request (`al:if`), so requests
whose API died are found and released — only when a limit looks reached, so an admission that
fits touches each key once or twice.
"""

BATCH = """
local now = tonumber(ARGV[1])
local alive = redis.call('EXISTS', ARGV[2]) == 1
local pos = 3
local function take() local v = ARGV[pos]; pos = pos + 1; return v end
local function int() return tonumber(take()) end
local sets = {}
local function levels_of(id)
  if sets[id] == nil then
    local raw = redis.call('GET', 'al:lv:' .. id)
    sets[id] = raw and cjson.decode(raw) or false
  end
  return sets[id]
end

-- What a request holds (parallel slots, reserved money) is recorded once, in `al:if:<rid>`
-- ("<set id>|<units>") and the `al:if` zset scored by its deadline; `release` gives it back.
local function release(rid)
  local record = redis.call('GET', 'al:if:' .. rid)
  redis.call('ZREM', 'al:if', rid)
  if not record then return false end
  redis.call('DEL', 'al:if:' .. rid)
  local id, units = string.match(record, '^(.-)|(%d+)$')
  units = tonumber(units)
  for _, lv in ipairs(levels_of(id) or {}) do
    if lv[6] >= 0 and tonumber(redis.call('DECR', lv[1] .. ':n')) < 0 then redis.call('SET', lv[1] .. ':n', 0) end
    if lv[3] >= 0 and units > 0 then redis.call('HINCRBY', lv[1] .. ':b:' .. lv[2], 'res', -units) end
  end
  return true
end

-- Requests whose API died never settle: free what they held once their deadline passed.
local function purge()
  for _, rid in ipairs(redis.call('ZRANGEBYSCORE', 'al:if', '-inf', now, 'LIMIT', 0, 200)) do release(rid) end
end

for _ = 1, int() do
  local id, payload = take(), take()
  redis.call('SET', 'al:lv:' .. id, payload, 'EX', 86400)
  sets[id] = cjson.decode(payload)
end

for _ = 1, int() do
  local rid, reserved, actual, tokens = take(), int(), int(), int()
  local refund, minute, id = take() == '1', take(), take()
  release(rid)
  for _, lv in ipairs(levels_of(id) or {}) do
    local p, period = lv[1], lv[2]
    if lv[3] >= 0 and actual > 0 then redis.call('HINCRBY', p .. ':b:' .. period, 'spend', actual) end
    if lv[4] >= 0 and refund then
      local m = p .. ':m:' .. minute
      if tonumber(redis.call('GET', m) or '0') > 0 then redis.call('DECR', m) end
    end
    if lv[5] >= 0 and tokens > 0 then
      local t = p .. ':t:' .. minute
      if redis.call('INCRBY', t, tokens) == tokens then redis.call('EXPIRE', t, 120) end
    end
  end
end

local results = {}
local purged = false
for a = 1, int() do
  local rid, amount, deadline, minute, id = take(), int(), int(), take(), take()
  local set = levels_of(id)
  local verdict, report = nil, {'ok', 0, 0}
  if not set then verdict = {'levels', 0, 0} end
  for l, lv in ipairs(set or {}) do
    if verdict then break end
    local p, period, budget, rpm, tpm, par = lv[1], lv[2], lv[3], lv[4], lv[5], lv[6]
    if par >= 0 then
      local busy = tonumber(redis.call('GET', p .. ':n') or '0')
      if busy >= par and not purged then
        purge(); purged = true
        busy = tonumber(redis.call('GET', p .. ':n') or '0')
      end
      if busy >= par then verdict = {'parallel', l - 1, busy} break end
    end
    local used_r, used_t = 0, 0
    if rpm >= 0 then
      used_r = tonumber(redis.call('GET', p .. ':m:' .. minute) or '0')
      if used_r >= rpm then verdict = {'rpm', l - 1, used_r} break end
    end
    if tpm >= 0 then
      used_t = tonumber(redis.call('GET', p .. ':t:' .. minute) or '0')
      if used_t >= tpm then verdict = {'tpm', l - 1, used_t} break end
    end
    if budget >= 0 then
      local b = p .. ':b:' .. period
      local state = redis.call('HMGET', b, 'seeded', 'spend', 'res')
      if not state[1] then
        if not alive then verdict = {'seed', l - 1, 0} break end
        redis.call('HSET', b, 'seeded', 1)
        if lv[7] > 0 then redis.call('EXPIREAT', b, lv[7]) end
      end
      local held = tonumber(state[2] or '0') + tonumber(state[3] or '0')
      if held + amount > budget and not purged then
        purge(); purged = true
        state = redis.call('HMGET', b, 'seeded', 'spend', 'res')
        held = tonumber(state[2] or '0') + tonumber(state[3] or '0')
      end
      if held + amount > budget then verdict = {'budget', l - 1, held} break end
    end
    report[#report + 1] = used_r
    report[#report + 1] = used_t
  end
  if verdict then
    results[a] = verdict
  else
    local holds = false
    for _, lv in ipairs(set) do
      local p = lv[1]
      if lv[6] >= 0 then redis.call('INCR', p .. ':n'); holds = true end
      if lv[4] >= 0 then
        local m = p .. ':m:' .. minute
        if redis.call('INCR', m) == 1 then redis.call('EXPIRE', m, 120) end
      end
      if lv[3] >= 0 and amount > 0 then
        redis.call('HINCRBY', p .. ':b:' .. lv[2], 'res', amount)
        holds = true
      end
    end
    if holds then
      redis.call('ZADD', 'al:if', deadline, rid)
      redis.call('SET', 'al:if:' .. rid, id .. '|' .. amount)
    end
    results[a] = report
  end
end
return results
"""
