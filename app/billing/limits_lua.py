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

Purges (expired parallel slots, reservations of requests whose API died) only run when a limit
looks reached, so an admission that fits touches each key once or twice.
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

for _ = 1, int() do
  local id, payload = take(), take()
  redis.call('SET', 'al:lv:' .. id, payload, 'EX', 86400)
  sets[id] = cjson.decode(payload)
end

for _ = 1, int() do
  local rid, reserved, actual, tokens = take(), int(), int(), int()
  local refund, minute = take() == '1', take()
  for _, lv in ipairs(levels_of(take()) or {}) do
    local p, period = lv[1], lv[2]
    local has_budget, has_rpm, has_tpm, has_par = lv[3] >= 0, lv[4] >= 0, lv[5] >= 0, lv[6] >= 0
    if has_budget then
      local b = p .. ':b:' .. period
      if reserved > 0 and redis.call('ZREM', p .. ':r:' .. period, rid .. ':' .. reserved) == 1 then
        redis.call('HINCRBY', b, 'res', -reserved)
      end
      if actual > 0 then redis.call('HINCRBY', b, 'spend', actual) end
    end
    if has_rpm and refund then
      local m = p .. ':m:' .. minute
      if tonumber(redis.call('GET', m) or '0') > 0 then redis.call('DECR', m) end
    end
    if has_tpm and tokens > 0 then
      local t = p .. ':t:' .. minute
      if redis.call('INCRBY', t, tokens) == tokens then redis.call('EXPIRE', t, 120) end
    end
    if has_par then redis.call('ZREM', p .. ':p', rid) end
  end
end

local results = {}
for a = 1, int() do
  local rid, amount, deadline, minute = take(), int(), int(), take()
  local set = levels_of(take())
  local levels = {}
  for l, row in ipairs(set or {}) do
    levels[l] = {p = row[1], period = row[2], budget = row[3], rpm = row[4], tpm = row[5], par = row[6], expire = row[7]}
  end
  local verdict, report = nil, {'ok', 0, 0}
  if not set then verdict = {'levels', 0, 0} end
  for l, lv in ipairs(levels) do
    if verdict then break end
    local p = lv.p
    if lv.par >= 0 then
      local slots = p .. ':p'
      local busy = redis.call('ZCARD', slots)
      if busy >= lv.par then
        redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
        busy = redis.call('ZCARD', slots)
        if busy >= lv.par then verdict = {'parallel', l - 1, busy} break end
      end
    end
    local used_r, used_t = 0, 0
    if lv.rpm >= 0 then
      used_r = tonumber(redis.call('GET', p .. ':m:' .. minute) or '0')
      if used_r >= lv.rpm then verdict = {'rpm', l - 1, used_r} break end
    end
    if lv.tpm >= 0 then
      used_t = tonumber(redis.call('GET', p .. ':t:' .. minute) or '0')
      if used_t >= lv.tpm then verdict = {'tpm', l - 1, used_t} break end
    end
    if lv.budget >= 0 then
      local b = p .. ':b:' .. lv.period
      local state = redis.call('HMGET', b, 'seeded', 'spend', 'res')
      if not state[1] then
        if not alive then verdict = {'seed', l - 1, 0} break end
        redis.call('HSET', b, 'seeded', 1)
        if lv.expire > 0 then redis.call('EXPIREAT', b, lv.expire) end
      end
      local held = tonumber(state[2] or '0') + tonumber(state[3] or '0')
      if held + amount > lv.budget then
        local r = p .. ':r:' .. lv.period
        local stale = redis.call('ZRANGEBYSCORE', r, '-inf', now)
        for _, member in ipairs(stale) do
          local units = tonumber(string.match(member, ':(%d+)$'))
          redis.call('HINCRBY', b, 'res', -units)
          held = held - units
        end
        if #stale > 0 then redis.call('ZREMRANGEBYSCORE', r, '-inf', now) end
        if held + amount > lv.budget then verdict = {'budget', l - 1, held} break end
      end
    end
    report[#report + 1] = used_r
    report[#report + 1] = used_t
  end
  if verdict then
    results[a] = verdict
  else
    for _, lv in ipairs(levels) do
      local p = lv.p
      if lv.par >= 0 then
        redis.call('ZADD', p .. ':p', deadline, rid)
        redis.call('PEXPIRE', p .. ':p', deadline - now + 60000)
      end
      if lv.rpm >= 0 then
        local m = p .. ':m:' .. minute
        if redis.call('INCR', m) == 1 then redis.call('EXPIRE', m, 120) end
      end
      if lv.budget >= 0 and amount > 0 then
        local r = p .. ':r:' .. lv.period
        redis.call('HINCRBY', p .. ':b:' .. lv.period, 'res', amount)
        redis.call('ZADD', r, deadline, rid .. ':' .. amount)
        redis.call('PEXPIRE', r, deadline - now + 60000)
      end
    end
    results[a] = report
  end
end
return results
"""
