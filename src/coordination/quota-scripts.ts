/**
 * The Lua scripts of the shared quotas (src/coordination/redis-quota.ts). Each check and its
 * count run as one script, so Redis serialises them across every instance: no two requests, on
 * whatever instances, can both take the last slot. Counts are written with `%.0f` (Lua's own
 * number-to-string turns 1e15 into "1e+15").
 *
 * Keys: `owner` is the owner's hash (upload id -> counted bytes) for one endpoint; `built` is the
 * endpoint's marker that its counts are in Redis (missing after a flush or on a new Redis: the
 * script answers `rebuild` and the caller rebuilds them from the store first); `released` is the
 * endpoint's sorted set of recently released ids (-> ms), so a rebuild running at the same time
 * does not bring a finished upload back.
 */

/** Sum of an owner's counted bytes, except upload ARGV[1]; the owner's upload count. */
const SUM = `
local function others(key, id)
  local sum, count = 0, 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    count = count + 1
    if all[i] ~= id then sum = sum + tonumber(all[i + 1]) end
  end
  return sum, count
end
local function num(x) return string.format('%.0f', x) end
`;

/**
 * reserve: KEYS owner, built, reserved; ARGV id, bytes, exact (1/0), maxUploads (-1: none),
 * maxBytes (-1: none), now (ms). The reservation's time goes to `reserved` (trimmed to the last
 * hour), so a reconciliation never takes back the slot of a creation still on its way to the store.
 * -> {'ok', granted} | {'uploads', max} | {'bytes', max, total} | {'rebuild'}
 */
export const RESERVE = `${SUM}
if redis.call('EXISTS', KEYS[2]) == 0 then return {'rebuild'} end
local id, bytes, exact = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local maxUploads, maxBytes = tonumber(ARGV[4]), tonumber(ARGV[5])
local sum, count = others(KEYS[1], id)
if maxUploads >= 0 and count >= maxUploads then return {'uploads', num(maxUploads)} end
if not exact and maxBytes >= 0 then bytes = math.min(bytes, math.max(0, maxBytes - sum)) end
if maxBytes >= 0 and sum + bytes > maxBytes then return {'bytes', num(maxBytes), num(sum + bytes)} end
redis.call('HSET', KEYS[1], id, num(bytes))
redis.call('ZADD', KEYS[3], ARGV[6], id)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[6]) - 3600000)
return {'ok', num(bytes)}
`;

/**
 * reconcile one owner's counts with a listing of the store (the sweep does it, under its lease):
 * KEYS owner, released, reserved; ARGV cutoff (ms), then id, bytes of each upload the listing found
 * for the owner. A counted id the store does not have is dropped unless it was reserved after
 * `cutoff` (a creation that may not have reached the store when it was listed): that is the slot a
 * creation killed between its quota check and its sidecar leaves behind. A listed id not counted
 * (and not released meanwhile) is counted. -> number of ids dropped
 */
export const RECONCILE = `
local listed = {}
for i = 2, #ARGV, 2 do
  listed[ARGV[i]] = true
  if not redis.call('ZSCORE', KEYS[2], ARGV[i]) then redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
local dropped = 0
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not listed[id] then
    local at = redis.call('ZSCORE', KEYS[3], id)
    if not at or tonumber(at) < tonumber(ARGV[1]) then
      redis.call('HDEL', KEYS[1], id)
      dropped = dropped + 1
    end
  end
end
return dropped
`;

/**
 * resize (a deferred length declared): KEYS owner, built; ARGV id, bytes, maxBytes (-1: none).
 * -> {'ok'} | {'bytes', max, total} | {'rebuild'}
 */
export const RESIZE = `${SUM}
if redis.call('EXISTS', KEYS[2]) == 0 then return {'rebuild'} end
local id, bytes, maxBytes = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('HEXISTS', KEYS[1], id) == 0 then return {'ok'} end
local sum = others(KEYS[1], id)
if maxBytes >= 0 and sum + bytes > maxBytes then return {'bytes', num(maxBytes), num(sum + bytes)} end
redis.call('HSET', KEYS[1], id, num(bytes))
return {'ok'}
`;

/**
 * claim (bytes about to be written to a deferred length): KEYS owner, built;
 * ARGV id, offset, wanted, exact (1/0), maxBytes. -> {'ok', granted} | {'bytes', max, total} | {'rebuild'}
 */
export const CLAIM = `${SUM}
if redis.call('EXISTS', KEYS[2]) == 0 then return {'rebuild'} end
local id, offset, wanted, exact, maxBytes = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1', tonumber(ARGV[5])
local sum = others(KEYS[1], id)
local room = math.max(0, maxBytes - sum - offset)
if wanted > room and (exact or room == 0) then return {'bytes', num(maxBytes), num(sum + offset + wanted)} end
local granted = math.min(wanted, room)
redis.call('HSET', KEYS[1], id, num(offset + granted))
return {'ok', num(granted)}
`;

/** settle: KEYS owner; ARGV id, bytes. Only an upload still counted is updated. */
export const SETTLE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
`;

/**
 * release: KEYS owner, released; ARGV id, now (ms), keepMs. The id is remembered as released for
 * keepMs (longer than any rebuild's listing), older entries dropped.
 */
export const RELEASE = `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
return 1
`;

/**
 * One batch of a rebuild: KEYS released, rebuild (the rebuild lock), then owner keys;
 * ARGV token, then id, bytes per owner key. Counts only while the lock is still this rebuild's,
 * never an id released meanwhile, never over a count a request wrote meanwhile (it is newer).
 * -> 1, or 0 when the lock is lost (another instance rebuilds).
 */
export const MERGE = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
for i = 3, #KEYS do
  local id = ARGV[(i - 3) * 2 + 2]
  if not redis.call('ZSCORE', KEYS[1], id) then redis.call('HSETNX', KEYS[i], id, ARGV[(i - 3) * 2 + 3]) end
end
return 1
`;

/**
 * Start of a rebuild: KEYS built, rebuild; ARGV token, ms. -> 'built' (the counts are there: no
 * rebuild), 'taken' (the lock is this instance's now) or 'busy' (another instance rebuilds).
 * One step: looking for the marker and then taking the lock in two round trips let an instance
 * take the lock just after another one had finished (FINISH sets the marker and drops the lock
 * between the two) and list the whole store a second time.
 */
export const TAKE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'built' end
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return 'taken' end
return 'busy'
`;

/**
 * End of a rebuild: KEYS built, rebuild; ARGV token. Sets the marker (reservations go ahead) and
 * drops the lock, if the lock is still this rebuild's. -> 1 | 0
 */
export const FINISH = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
`;

/** A lease (rebuild lock, sweep lease) renewed by its holder: KEYS lease; ARGV token, ms. -> 1 | 0 */
export const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** A lease given back by its holder (never one another instance took after it lapsed): KEYS lease; ARGV token. */
export const DROP = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
`;
