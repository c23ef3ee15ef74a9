/**
 * The Lua scripts of the Redis store. LIMIT_SCRIPT: one call checks (and, when every check allows, charges)
 * all the limits of a request, atomically, in one round trip. Redis runs a script alone, so 50 concurrent
 * requests from any number of gateways against a limit of 10 let exactly 10 through. USAGE_SCRIPT: one call
 * adds a batch of usage at most once per batch id.
 *
 * The math mirrors stores/algorithms.ts line for line (same float operations in the same order; Lua numbers
 * are the same IEEE doubles as JavaScript's), so the memory and Redis stores give identical answers.
 * Numbers are stored with `%.17g`, which round-trips a double exactly.
 *
 * Key layout (KEYS[i] is `${keyPrefix}${check.key}`):
 * - fixed window: `KEYS[i]:<window number>`, or KEYS[i] itself for a calendar window (the key names it);
 * - sliding window: `KEYS[i]:<window number>` and `KEYS[i]:<window number - 1>`;
 * - token bucket: KEYS[i], holding the TAT as `<base>:<units>` (see tokenBucket in algorithms.ts).
 * The per-window keys are built inside the script from KEYS[i], so they carry its hash tag: on Redis Cluster
 * they live in the slot of the declared keys, which is where Redis 7 lets a script touch keys it did not
 * declare. Every KEYS[i] of one call MUST share one hash tag there (rate limits: `rl:{<route>}:`).
 *
 * Expiries are relative (SET ... PX ttl, with ttl computed from the caller's `now`), so a counter lives as
 * long as its window plus a grace whatever the skew between the gateway's clock and Redis's.
 */

/**
 * LIMIT_SCRIPT checks or charges N limits.
 * KEYS: one per check. ARGV: now (Unix ms), cost, mode ('consume' | 'peek'), then 4 per check: algorithm
 * code (1 fixed window, 2 sliding window, 3 token bucket; see ALGORITHM_CODE), limit, windowMs, windowEnd
 * (calendar fixed windows) or 0.
 * Returns a flat array of integers: allowed (1 or 0), then remaining, resetMs, retryAfterMs per check.
 * In peek mode nothing is written; in consume mode everything is written only when every check allows.
 */
export const LIMIT_SCRIPT = `
local EPSILON = 1e-9
local GRACE = 1000

local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local consume = ARGV[3] == 'consume'
local n = #KEYS

-- The answer of the last evaluation (Outcome in algorithms.ts).
local allowed, remaining, reset, retry, stored, stored_units, ttl = false, 0, 0, 0, 0, 0, 0

-- fixedWindow in algorithms.ts.
local function fixed_window(count, limit, wend, charge)
  allowed = count + cost <= limit
  local after = count
  if allowed and charge then after = count + cost end
  remaining = math.max(0, math.floor(limit - after))
  reset = math.max(0, wend - now)
  if allowed then retry = 0 else retry = math.max(1, wend - now) end
  stored = after
  ttl = math.max(1, math.ceil(wend + GRACE - now))
end

-- slidingWindow in algorithms.ts.
local function sliding_window(cur, prev, limit, w, charge)
  local idx = math.floor(now / w)
  local elapsed = now - idx * w
  local weighted = prev * (w - elapsed) / w
  local est = weighted + cur
  allowed = est + cost <= limit + EPSILON
  local cur_after = cur
  local est_after = est
  if allowed and charge then
    cur_after = cur + cost
    est_after = weighted + cur_after
  end
  remaining = math.max(0, math.floor(limit - est_after + EPSILON))
  reset = (idx + 1) * w - now
  if allowed then
    retry = 0
  elseif cur + cost > limit then
    retry = math.max(1, (idx + 1) * w - now + math.ceil(math.max(0, math.min(w, w * (1 - (limit - cost) / cur)))))
  else
    retry = math.max(1, math.ceil(w * (1 - (limit - cur - cost) / prev)) - elapsed)
  end
  stored = cur_after
  ttl = math.ceil((idx + 2) * w + GRACE - now)
end

-- tokenBucket in algorithms.ts: the TAT is base + units * w / limit, stored as '<base>:<units>'; base is
-- nil when the key does not exist.
local function token_bucket(base, units, limit, w, charge)
  if base == nil or units * w <= (now - base) * limit then
    base = now
    units = 0
  elseif units >= limit then
    local q = math.floor(units / limit)
    base = base + q * w
    units = units - q * limit
  end
  local offset = base - now
  local new_units = units + cost
  allowed = new_units * w <= (w - offset) * limit
  local after = units
  if allowed and charge then after = new_units end
  remaining = math.max(0, math.floor(((w - offset) * limit - after * w) / w))
  reset = offset + math.ceil(after * w / limit)
  if allowed then retry = 0 else retry = math.max(1, offset - w + math.ceil(new_units * w / limit)) end
  stored = base
  stored_units = after
  ttl = offset + math.ceil(after * w / limit) + GRACE
end

local function algo_of(i)
  return ARGV[3 + (i - 1) * 4 + 1]
end

-- Evaluates check i from what Redis holds now; returns the key to write when it is charged.
local function evaluate(i, charge)
  local at = 3 + (i - 1) * 4
  local algo = algo_of(i)
  local limit = tonumber(ARGV[at + 2])
  local w = tonumber(ARGV[at + 3])
  local wend = tonumber(ARGV[at + 4])
  local key = KEYS[i]
  if algo == '1' then
    if wend ~= 0 then
      fixed_window(tonumber(redis.call('GET', key)) or 0, limit, wend, charge)
    else
      local idx = math.floor(now / w)
      key = key .. ':' .. string.format('%d', idx)
      fixed_window(tonumber(redis.call('GET', key)) or 0, limit, idx * w + w, charge)
    end
  elseif algo == '2' then
    local idx = math.floor(now / w)
    key = KEYS[i] .. ':' .. string.format('%d', idx)
    local cur = tonumber(redis.call('GET', key)) or 0
    local prev = tonumber(redis.call('GET', KEYS[i] .. ':' .. string.format('%d', idx - 1))) or 0
    sliding_window(cur, prev, limit, w, charge)
  elseif algo == '3' then
    local value = redis.call('GET', key)
    local base, units
    if value then
      local b, u = string.match(value, '^([^:]+):([^:]+)$')
      base = tonumber(b)
      units = tonumber(u)
    end
    -- A value of another shape (not written by this script) counts as no value.
    if base == nil or units == nil then
      base = nil
      units = 0
    end
    token_bucket(base, units, limit, w, charge)
  else
    return redis.error_reply('ERR unknown limit algorithm ' .. tostring(algo))
  end
  return key
end

-- All or nothing: with several checks, learn first whether every one allows, charging none.
local charge = consume
if consume and n > 1 then
  for i = 1, n do
    local key = evaluate(i, false)
    if type(key) == 'table' then return key end
    if not allowed then
      charge = false
      break
    end
  end
end

local reply = { 1 }
for i = 1, n do
  local key = evaluate(i, charge)
  if type(key) == 'table' then return key end
  if not allowed then
    reply[1] = 0
  elseif charge then
    local value = string.format('%.17g', stored)
    if algo_of(i) == '3' then value = value .. ':' .. string.format('%.17g', stored_units) end
    redis.call('SET', key, value, 'PX', string.format('%d', ttl))
  end
  local at = 2 + (i - 1) * 3
  reply[at] = remaining
  reply[at + 1] = reset
  reply[at + 2] = retry
end
return reply
`;

/**
 * USAGE_SCRIPT adds one batch of usage records, at most once per batch id.
 * KEYS: the batch's marker (`${keyPrefix}ub:<batchId>`; on Redis Cluster `${keyPrefix}ub:{<consumer>}:<batchId>`,
 * with one call per consumer), then one usage hash per record (a key may repeat).
 * ARGV: the marker's lifetime (ms), the usage keys' lifetime (ms), then field and count per record.
 * Returns -1 when the marker already exists (the batch was applied before: a resend after a lost reply),
 * else the number of records skipped.
 *
 * The marker is written first, in the same atomic step as the counts, so a reply lost after the script ran
 * (a timeout, a dropped connection) makes the caller's resend a no-op. A record whose HINCRBY fails (a key of
 * another type, a field that is not an integer: something else writes under the prefix) is skipped rather
 * than failing the batch: Redis does not roll back a script's earlier writes, so failing would leave the
 * batch half applied, and the resend would count the other records again. An outage-type error (OOM,
 * READONLY) cannot hit a record: Redis refuses it on the marker, the script's first write, and nothing is
 * written.
 */
export const USAGE_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return -1 end
local ttl = ARGV[2]
local skipped = 0
for i = 2, #KEYS do
  local r = redis.pcall('HINCRBY', KEYS[i], ARGV[2 * i - 1], ARGV[2 * i])
  if type(r) == 'table' and r.err then
    skipped = skipped + 1
  else
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return skipped
`;
