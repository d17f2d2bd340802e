/*
 * scripts.c - the Lua scripts that make each queue step atomic.
 *
 * Every state change that touches more than one key runs as one script, so
 * that no crash, restart or concurrent controller can observe a job half
 * moved (say, gone from the in-flight list but not yet leased). The scripts
 * are loaded once per connection with SCRIPT LOAD and called by their SHA;
 * conn.c falls back to EVAL when Redis answers NOSCRIPT (its script cache
 * is empty after a restart or SCRIPT FLUSH).
 *
 * Clock: every deadline (controller liveness, leases) and every "now" that
 * decides what expired or became due comes from the Redis server's TIME, in
 * milliseconds since the epoch. All controllers therefore agree on one clock
 * and a controller with a skewed clock cannot steal a lease early. Due times
 * passed in by callers (retry) are wall-clock milliseconds and are compared
 * with that same server clock.
 *
 * Keys: a script receives the keys it uses in KEYS, except that recover and
 * stats derive "<Q>:inflight:<cid>" from a prefix in ARGV for controller ids
 * they only learn inside the script. Redis tolerates this on a standalone
 * server (and a Sentinel-managed primary), which is what easel supports;
 * Redis Cluster is not supported.
 */
#include "queue_int.h"

/* now, in ms since the epoch, from the server clock */
#define LUA_NOW                                                              \
    "local t = redis.call('TIME')\n"                                         \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* Moves every element of list `src` to the right end of `dst`, leftmost
 * first. In-flight lists hold the oldest entry at their right end (claims
 * LPUSH onto them), so the oldest lands rightmost in the pending list and is
 * claimed again first: the original order is kept. */
#define LUA_REQUEUE                                                          \
    "local function requeue(src, dst)\n"                                     \
    "  local n = 0\n"                                                        \
    "  while redis.call('LMOVE', src, dst, 'LEFT', 'RIGHT') do\n"            \
    "    n = n + 1\n"                                                        \
    "  end\n"                                                                \
    "  return n\n"                                                           \
    "end\n"

/* Removes every dead letter of job `id` from list `key`, returns how many.
 * The plain substring test skips decoding letters of other jobs; pcall keeps
 * a foreign, malformed element from failing the script. */
#define LUA_DROP_LETTERS                                                     \
    "local function drop_letters(key, id)\n"                                 \
    "  local n = 0\n"                                                        \
    "  for _, raw in ipairs(redis.call('LRANGE', key, 0, -1)) do\n"          \
    "    if string.find(raw, id, 1, true) then\n"                            \
    "      local ok, d = pcall(cjson.decode, raw)\n"                         \
    "      if ok and type(d) == 'table' and d.id == id then\n"               \
    "        n = n + redis.call('LREM', key, 0, raw)\n"                      \
    "      end\n"                                                            \
    "    end\n"                                                              \
    "  end\n"                                                                \
    "  return n\n"                                                           \
    "end\n"

/* claim: KEYS pending, inflight, controllers; ARGV max, lease_ms, cid.
 * Refreshes the controller's liveness, then moves up to max entries from the
 * right (oldest) end of pending onto the in-flight list in one step. Returns
 * them oldest first. An entry is thus always in exactly one of the two lists,
 * and the controller is registered before it holds anything, so recovery can
 * always find it. */
static const char claim_lua[] =
    LUA_NOW
    "redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[3])\n"
    "local max = tonumber(ARGV[1])\n"
    "if max <= 0 then return {} end\n"
    "local got = redis.call('RPOP', KEYS[1], max)\n"
    "if not got then return {} end\n"
    "redis.call('LPUSH', KEYS[2], unpack(got))\n"
    "return got\n";

/* release: KEYS pending, inflight. Puts this controller's own claimed but
 * unadopted entries back at the front of the line (the right end of
 * pending), order kept. Returns how many moved. */
static const char release_lua[] =
    LUA_REQUEUE
    "return requeue(KEYS[2], KEYS[1])\n";

/* recover: KEYS pending, controllers; ARGV inflight key prefix. For every
 * controller whose liveness deadline has passed (score < now): moves its
 * whole in-flight list back to the front of pending, order kept, and forgets
 * the controller. One script, so a controller that comes back to life in the
 * meantime either re-registers before (and is left alone) or after (and
 * starts from an empty list). Returns the number of entries moved. */
static const char recover_lua[] =
    LUA_NOW
    LUA_REQUEUE
    "local moved = 0\n"
    "local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)\n"
    "for _, cid in ipairs(gone) do\n"
    "  moved = moved + requeue(ARGV[1] .. cid, KEYS[1])\n"
    "  redis.call('ZREM', KEYS[2], cid)\n"
    "end\n"
    "return moved\n";

/* adopt: KEYS inflight, claims, leases, owners, controllers;
 * ARGV cid, lease_ms, then (raw, job id, canonical) per entry.
 * For each entry: removes the raw entry from the in-flight list (scanning
 * from the right, where the oldest claims sit, so a batch adopted in claim
 * order costs O(1) per entry), stores the canonical entry and takes the
 * lease for this controller. The whole batch is one atomic step: no entry is
 * ever both unleased and absent from the in-flight list. If a raw entry is no
 * longer in the list (it was recovered after this controller's liveness ran
 * out) the job is still adopted: delivery is at least once. Also refreshes
 * liveness. Returns the number of entries adopted. */
static const char adopt_lua[] =
    LUA_NOW
    "local deadline = now + tonumber(ARGV[2])\n"
    "local cid = ARGV[1]\n"
    "local hc, zl, ho = {}, {}, {}\n"
    "for i = 3, #ARGV, 3 do\n"
    "  redis.call('LREM', KEYS[1], -1, ARGV[i])\n"
    "  local id = ARGV[i + 1]\n"
    "  hc[#hc + 1] = id\n"
    "  hc[#hc + 1] = ARGV[i + 2]\n"
    "  zl[#zl + 1] = deadline\n"
    "  zl[#zl + 1] = id\n"
    "  ho[#ho + 1] = id\n"
    "  ho[#ho + 1] = cid\n"
    "end\n"
    "if #hc > 0 then\n"
    "  redis.call('HSET', KEYS[2], unpack(hc))\n"
    "  redis.call('ZADD', KEYS[3], unpack(zl))\n"
    "  redis.call('HSET', KEYS[4], unpack(ho))\n"
    "end\n"
    "redis.call('ZADD', KEYS[5], deadline, cid)\n"
    "return #hc / 2\n";

/* renew: KEYS leases, owners, controllers; ARGV cid, lease_ms, ids...
 * Extends the lease of every listed job this controller still owns; a job
 * owned by someone else (or no longer leased: acked, retried, dead) is left
 * untouched and reported. Refreshes liveness. Returns the 0-based positions
 * of the lost ids. */
static const char renew_lua[] =
    LUA_NOW
    "local deadline = now + tonumber(ARGV[2])\n"
    "local lost = {}\n"
    "for i = 3, #ARGV do\n"
    "  local id = ARGV[i]\n"
    "  if redis.call('HGET', KEYS[2], id) == ARGV[1]\n"
    "     and redis.call('ZSCORE', KEYS[1], id) then\n"
    "    redis.call('ZADD', KEYS[1], 'XX', deadline, id)\n"
    "  else\n"
    "    lost[#lost + 1] = i - 3\n"
    "  end\n"
    "end\n"
    "redis.call('ZADD', KEYS[3], deadline, ARGV[1])\n"
    "return lost\n";

/* take_expired: KEYS leases, owners, claims, controllers;
 * ARGV max, lease_ms, cid. Takes up to max leases whose deadline is not
 * after now: each gets a fresh deadline and this controller as its owner in
 * the same step, so two controllers can never both take one. A lease whose
 * claim is missing cannot be re-dispatched and is dropped. Refreshes
 * liveness. Returns id, canonical entry, id, canonical entry, ... */
static const char take_expired_lua[] =
    LUA_NOW
    "local deadline = now + tonumber(ARGV[2])\n"
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now,\n"
    "                       'LIMIT', 0, tonumber(ARGV[1]))\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local c = redis.call('HGET', KEYS[3], id)\n"
    "  if c then\n"
    "    redis.call('ZADD', KEYS[1], deadline, id)\n"
    "    redis.call('HSET', KEYS[2], id, ARGV[3])\n"
    "    out[#out + 1] = id\n"
    "    out[#out + 1] = c\n"
    "  else\n"
    "    redis.call('ZREM', KEYS[1], id)\n"
    "    redis.call('HDEL', KEYS[2], id)\n"
    "  end\n"
    "end\n"
    "redis.call('ZADD', KEYS[4], deadline, ARGV[3])\n"
    "return out\n";

/* retry: KEYS claims, leases, owners, delayed, delayed:ids;
 * ARGV job id, due_ms, [entry]. Puts the job's entry (the one given, else
 * its claim, else the one already waiting) into the delayed set at due_ms,
 * records id -> member in the index so cancel is O(1), replaces an older
 * member of the same job, and drops lease, owner and claim. Calling it again
 * only moves the due time. Returns 0 when nothing is known of the job. */
static const char retry_lua[] =
    "local id = ARGV[1]\n"
    "local old = redis.call('HGET', KEYS[5], id)\n"
    "local member = ARGV[3] or redis.call('HGET', KEYS[1], id) or old\n"
    "if not member then return 0 end\n"
    "if old and old ~= member then redis.call('ZREM', KEYS[4], old) end\n"
    "redis.call('ZADD', KEYS[4], ARGV[2], member)\n"
    "redis.call('HSET', KEYS[5], id, member)\n"
    "redis.call('ZREM', KEYS[2], id)\n"
    "redis.call('HDEL', KEYS[3], id)\n"
    "redis.call('HDEL', KEYS[1], id)\n"
    "return 1\n";

/* requeue: KEYS claims, leases, owners, pending, delayed, delayed:ids;
 * ARGV job id, [entry]. Puts the job's entry (the one given, else its claim,
 * else the one waiting in the delayed set) at the right end of pending, so
 * it is claimed before everything already waiting, and drops lease, owner,
 * claim and any delayed member: the job is in exactly one place. Returns 0
 * when nothing is known of the job. */
static const char requeue_lua[] =
    "local id = ARGV[1]\n"
    "local old = redis.call('HGET', KEYS[6], id)\n"
    "local member = ARGV[2] or redis.call('HGET', KEYS[1], id) or old\n"
    "if not member then return 0 end\n"
    "if old then\n"
    "  redis.call('ZREM', KEYS[5], old)\n"
    "  redis.call('HDEL', KEYS[6], id)\n"
    "end\n"
    "redis.call('RPUSH', KEYS[4], member)\n"
    "redis.call('ZREM', KEYS[2], id)\n"
    "redis.call('HDEL', KEYS[3], id)\n"
    "redis.call('HDEL', KEYS[1], id)\n"
    "return 1\n";

/* promote: KEYS delayed, delayed:ids, pending; ARGV max. Moves up to max
 * delayed entries that are due (score <= now) to the left end of pending
 * (behind everything already waiting), earliest due first, and drops their
 * index entries (only when the index still points at that member). Returns
 * {moved, due time of the next waiting entry or 0}. */
static const char promote_lua[] =
    LUA_NOW
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now,\n"
    "                       'LIMIT', 0, tonumber(ARGV[1]))\n"
    "for _, m in ipairs(due) do\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "  redis.call('LPUSH', KEYS[3], m)\n"
    "  local ok, d = pcall(cjson.decode, m)\n"
    "  if ok and type(d) == 'table' and type(d.id) == 'string'\n"
    "     and redis.call('HGET', KEYS[2], d.id) == m then\n"
    "    redis.call('HDEL', KEYS[2], d.id)\n"
    "  end\n"
    "end\n"
    "local nx = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "local next_due = '0'\n"
    "if nx[2] then next_due = nx[2] end\n"
    "return {#due, next_due}\n";

/* cancel_delayed: KEYS delayed, delayed:ids; ARGV job id. Removes the job's
 * waiting entry through the index. Returns 1 if one was waiting. */
static const char cancel_delayed_lua[] =
    "local m = redis.call('HGET', KEYS[2], ARGV[1])\n"
    "if not m then return 0 end\n"
    "redis.call('HDEL', KEYS[2], ARGV[1])\n"
    "return redis.call('ZREM', KEYS[1], m)\n";

/* dead: KEYS claims, leases, owners, dead, delayed, delayed:ids;
 * ARGV job id, reason, error, [entry]. Replaces any earlier dead letter of
 * the job with {"id","reason","error","entry","at"} (entry: the one given,
 * else the claim, else the waiting delayed entry, else null; "at" in server
 * ms) pushed on the left (newest first), and removes the job from leases,
 * owners, claims and the delayed set, so it is in exactly one place. */
static const char dead_lua[] =
    LUA_NOW
    LUA_DROP_LETTERS
    "local id = ARGV[1]\n"
    "local waiting = redis.call('HGET', KEYS[6], id)\n"
    "local entry = ARGV[4] or redis.call('HGET', KEYS[1], id) or waiting\n"
    "drop_letters(KEYS[4], id)\n"
    "if entry == false or entry == nil then entry = cjson.null end\n"
    "redis.call('LPUSH', KEYS[4], cjson.encode({id = id, reason = ARGV[2],\n"
    "           error = ARGV[3], entry = entry, at = now}))\n"
    "if waiting then\n"
    "  redis.call('ZREM', KEYS[5], waiting)\n"
    "  redis.call('HDEL', KEYS[6], id)\n"
    "end\n"
    "redis.call('ZREM', KEYS[2], id)\n"
    "redis.call('HDEL', KEYS[3], id)\n"
    "redis.call('HDEL', KEYS[1], id)\n"
    "return 1\n";

/* reject: KEYS inflight, dead; ARGV raw, reason, error. Moves a raw entry
 * that never became a job from the in-flight list to the dead-letter list
 * as {"id":"", "reason", "error", "entry": raw, "at"} in one step. Returns
 * whether the raw entry was still in flight. */
static const char reject_lua[] =
    LUA_NOW
    "local n = redis.call('LREM', KEYS[1], -1, ARGV[1])\n"
    "redis.call('LPUSH', KEYS[2], cjson.encode({id = '', reason = ARGV[2],\n"
    "           error = ARGV[3], entry = ARGV[1], at = now}))\n"
    "return n\n";

/* undead: KEYS dead; ARGV job id. Removes the job's dead letters; returns
 * how many. */
static const char undead_lua[] =
    LUA_DROP_LETTERS
    "return drop_letters(KEYS[1], ARGV[1])\n";

/* stats: KEYS pending, controllers, leases, delayed, dead, pool; ARGV
 * inflight key prefix. One consistent snapshot of the counters: pending, in
 * flight (summed over registered controllers and workers), leased, delayed,
 * dead, controllers (and workers), pool. Reads only. */
static const char stats_lua[] =
    "local inflight = 0\n"
    "for _, cid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do\n"
    "  inflight = inflight + redis.call('LLEN', ARGV[1] .. cid)\n"
    "end\n"
    "return {redis.call('LLEN', KEYS[1]), inflight,\n"
    "        redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]),\n"
    "        redis.call('LLEN', KEYS[5]), redis.call('ZCARD', KEYS[2]),\n"
    "        redis.call('LLEN', KEYS[6])}\n";

/* oldest: KEYS pending. The age in ms of the entry at the claiming end,
 * counted from when a scrape first saw it there: producers' entries carry
 * no time of their own. The sighting (the entry's SHA-1 and the time) is
 * kept beside the list so every replica, and a restarted one, reports the
 * same age. Returns -1 when the list is empty. */
static const char oldest_lua[] =
    LUA_NOW
    "local mk = KEYS[1] .. ':oldest'\n"
    "local e = redis.call('LINDEX', KEYS[1], -1)\n"
    "if not e then redis.call('DEL', mk) return -1 end\n"
    "local h = redis.sha1hex(e)\n"
    "local cur = redis.call('GET', mk)\n"
    "if cur and string.sub(cur, 1, 40) == h then\n"
    "  return now - tonumber(string.sub(cur, 42))\n"
    "end\n"
    "redis.call('SET', mk, h .. ' ' .. now, 'EX', 604800)\n"
    "return 0\n";

/* breaker_allow: KEYS breaker; ARGV cooldown_ms. A hash {state, fails,
 * until}. Closed: allowed. Open before `until`: refused, with the time
 * left. Open after it: half-open, and this caller is the one probe; the
 * probe holds the breaker for another cooldown, so others keep being
 * refused until it reports. Returns {allowed (0/1), probe (0/1), wait ms}. */
static const char breaker_allow_lua[] =
    LUA_NOW
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if not st or st == 'closed' then return {1, 0, 0} end\n"
    "local untl = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')\n"
    "if now < untl then return {0, 0, untl - now} end\n"
    "redis.call('HSET', KEYS[1], 'state', 'half_open', 'until', now + tonumber(ARGV[1]))\n"
    "return {1, 1, 0}\n";

/* breaker_record: KEYS breaker; ARGV ok (1/0), threshold, cooldown_ms.
 * A success closes the breaker and clears the count; a failure counts, and
 * the threshold-th consecutive one (or a failed probe) opens it for a
 * cooldown. Returns {state after, changed (0/1)}. The hash expires a day
 * after its last change, so endpoints no longer used leave nothing. */
static const char breaker_record_lua[] =
    LUA_NOW
    "local st = redis.call('HGET', KEYS[1], 'state') or 'closed'\n"
    "local out = {st, 0}\n"
    "if ARGV[1] == '1' then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'closed', 'fails', 0)\n"
    "  out = {'closed', st ~= 'closed' and 1 or 0}\n"
    "elseif st == 'half_open' then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + tonumber(ARGV[3]))\n"
    "  out = {'open', 1}\n"
    "elseif st == 'closed' then\n"
    "  local f = redis.call('HINCRBY', KEYS[1], 'fails', 1)\n"
    "  if f >= tonumber(ARGV[2]) then\n"
    "    redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + tonumber(ARGV[3]), 'fails', 0)\n"
    "    out = {'open', 1}\n"
    "  end\n"
    "end\n"
    "if out[1] == 'open' and out[2] == 1 then redis.call('HINCRBY', KEYS[1], 'opens', 1) end\n"
    "redis.call('PEXPIRE', KEYS[1], 86400000)\n"
    "return out\n";

/* breakers: ARGV the SCAN pattern of the breaker hashes. Every breaker
 * as {key, state, consecutive failures, ms until a probe may go (open
 * only), times opened}. Read-only: for `easel breakers` and metrics. */
static const char breakers_lua[] =
    LUA_NOW
    "local out, cur = {}, '0'\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cur, 'MATCH', ARGV[1], 'COUNT', 500)\n"
    "  cur = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    local h = redis.call('HMGET', k, 'state', 'fails', 'until', 'opens')\n"
    "    local left = math.max(0, tonumber(h[3] or '0') - now)\n"
    "    table.insert(out, {k, h[1] or 'closed', tonumber(h[2] or '0'), left,\n"
    "                       tonumber(h[4] or '0')})\n"
    "  end\n"
    "until cur == '0'\n"
    "return out\n";

/* rate_take: KEYS rate log; ARGV requests, per_ms, member. A sliding
 * window: the log holds the times of the calls of the last per_ms. Returns
 * {1, 0} and logs this call when fewer than `requests` are in it, else
 * {0, ms until the oldest leaves the window}. */
static const char rate_take_lua[] =
    LUA_NOW
    "local per = tonumber(ARGV[2])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per)\n"
    "if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then\n"
    "  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])\n"
    "  redis.call('PEXPIRE', KEYS[1], per)\n"
    "  return {1, 0}\n"
    "end\n"
    "local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "return {0, math.max(1, tonumber(oldest[2]) + per - now)}\n";

/* slot_take: KEYS running set; ARGV limit, job id, hold_ms. The set holds
 * the jobs running a model, each until its hold runs out (a controller
 * that dies cannot leak a slot for longer). A job already in it keeps its
 * slot. Returns 1 when the job has a slot, 0 when the model is full. */
static const char slot_take_lua[] =
    LUA_NOW
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "local hold = now + tonumber(ARGV[3])\n"
    "if redis.call('ZSCORE', KEYS[1], ARGV[2]) or\n"
    "   redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then\n"
    "  redis.call('ZADD', KEYS[1], hold, ARGV[2])\n"
    "  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* pool_put: KEYS leases, owners, claims, pool; ARGV owner, job id, entry.
 * Hands a job the caller holds the lease of to the warm pool: drops lease
 * and owner, keeps the claim (the canonical entry, for retry and dead
 * letters) and LPUSHes the entry on the pool list, behind what already
 * waits, in one step: the job is leased or pooled, never both or neither.
 * Returns 0 (and changes nothing) when the caller no longer owns the
 * lease: the job was taken over meanwhile. */
static const char pool_put_lua[] =
    "if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[1] then return 0 end\n"
    "redis.call('ZREM', KEYS[1], ARGV[2])\n"
    "redis.call('HDEL', KEYS[2], ARGV[2])\n"
    "redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])\n"
    "redis.call('LPUSH', KEYS[4], ARGV[3])\n"
    "return 1\n";

/* pool_claim: KEYS pool, inflight, controllers, leases, owners, claims;
 * ARGV max, lease_ms, worker id. Refreshes the worker's liveness, then
 * leases to the worker up to max entries: first those a blocking move left
 * in its in-flight list (the worker's threads share it; one left there is
 * taken by its next claim, or recovered if the worker dies), then from the
 * right (oldest) end of the pool list.
 * Each entry is canonical; its "id" gets a lease owned by the worker. An
 * entry that is not (never written by easel) is dropped. Returns the
 * leased entries, oldest first. */
static const char pool_claim_lua[] =
    LUA_NOW
    "local deadline = now + tonumber(ARGV[2])\n"
    "redis.call('ZADD', KEYS[3], deadline, ARGV[3])\n"
    "local out = {}\n"
    "local function take(e)\n"
    "  local ok, d = pcall(cjson.decode, e)\n"
    "  if ok and type(d) == 'table' and type(d.id) == 'string' then\n"
    "    redis.call('ZADD', KEYS[4], deadline, d.id)\n"
    "    redis.call('HSET', KEYS[5], d.id, ARGV[3])\n"
    "    redis.call('HSET', KEYS[6], d.id, e)\n"
    "    out[#out + 1] = e\n"
    "  end\n"
    "end\n"
    "local max = tonumber(ARGV[1])\n"
    "while #out < max do\n"
    "  local e = redis.call('RPOP', KEYS[2])\n"
    "  if not e then break end\n"
    "  take(e)\n"
    "end\n"
    "max = max - #out\n"
    "if max > 0 then\n"
    "  local got = redis.call('RPOP', KEYS[1], max)\n"
    "  if got then for _, e in ipairs(got) do take(e) end end\n"
    "end\n"
    "return out\n";

/* backlog: KEYS pending, controllers, delayed, claims, pool, delayed:ids;
 * ARGV inflight key prefix, by_model (0/1), max_scan. One snapshot of where
 * waiting work is. A job waiting in the delayed set or the pool list keeps
 * its claim (its canonical entry, for the retry and dead letters): it is
 * counted where it waits, and left out of the claims list. Returns {pending, delayed, inflight, unscanned, {model,
 * p, d, c, pooled, ...}, {id, model, ...}, pooled} where the claims list
 * names every adopted job (model "" unless by_model) and the split covers
 * at most max_scan entries, read 1000 at a time. Reads only. */
static const char backlog_lua[] =
    "local by = ARGV[2] == '1'\n"
    "local budget = tonumber(ARGV[3])\n"
    "local m, order, unscanned = {}, {}, 0\n"
    "local function model_of(raw)\n"
    "  local ok, d = pcall(cjson.decode, raw)\n"
    "  if ok and type(d) == 'table' and type(d.model) == 'string' then return d.model end\n"
    "  return ''\n"
    "end\n"
    "local function tally(model, i)\n"
    "  local t = m[model]\n"
    "  if not t then t = {0, 0, 0, 0}; m[model] = t; order[#order + 1] = model end\n"
    "  t[i] = t[i] + 1\n"
    "end\n"
    "local function scan(key, n, i, range)\n"
    "  if not by then return end\n"
    "  local from = 0\n"
    "  while from < n and budget > 0 do\n"
    "    local to = from + math.min(1000, budget) - 1\n"
    "    for _, raw in ipairs(redis.call(range, key, from, to)) do\n"
    "      tally(model_of(raw), i)\n"
    "      budget = budget - 1\n"
    "    end\n"
    "    from = to + 1\n"
    "  end\n"
    "  if from < n then unscanned = unscanned + n - from end\n"
    "end\n"
    "local pending = redis.call('LLEN', KEYS[1])\n"
    "scan(KEYS[1], pending, 1, 'LRANGE')\n"
    "local delayed = redis.call('ZCARD', KEYS[3])\n"
    "scan(KEYS[3], delayed, 2, 'ZRANGE')\n"
    "local inflight = 0\n"
    "for _, cid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do\n"
    "  local k = ARGV[1] .. cid\n"
    "  local n = redis.call('LLEN', k)\n"
    "  inflight = inflight + n\n"
    "  scan(k, n, 3, 'LRANGE')\n"
    "end\n"
    "local pooled = redis.call('LLEN', KEYS[5])\n"
    "scan(KEYS[5], pooled, 4, 'LRANGE')\n"
    "local split = {}\n"
    "for _, name in ipairs(order) do\n"
    "  local t = m[name]\n"
    "  split[#split + 1] = name\n"
    "  split[#split + 1] = t[1]\n"
    "  split[#split + 1] = t[2]\n"
    "  split[#split + 1] = t[3]\n"
    "  split[#split + 1] = t[4]\n"
    "end\n"
    "local waiting = {}\n"
    "if pooled > 0 then\n"
    "  for _, raw in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do\n"
    "    local id = string.match(raw, '\"id\"%s*:%s*\"([^\"]+)\"')\n"
    "    if id then waiting[id] = true end\n"
    "  end\n"
    "end\n"
    "local claims = {}\n"
    "local kv = redis.call('HGETALL', KEYS[4])\n"
    "for i = 1, #kv, 2 do\n"
    "  local id = kv[i]\n"
    "  if not waiting[id] and redis.call('HEXISTS', KEYS[6], id) == 0 then\n"
    "    claims[#claims + 1] = id\n"
    "    claims[#claims + 1] = by and model_of(kv[i + 1]) or ''\n"
    "  end\n"
    "end\n"
    "return {pending, delayed, inflight, unscanned, split, claims, pooled}\n";

const struct queue_script queue_scripts[QUEUE_SCRIPT_COUNT] = {
    [QUEUE_SCRIPT_CLAIM] = {"claim", claim_lua},
    [QUEUE_SCRIPT_RELEASE] = {"release", release_lua},
    [QUEUE_SCRIPT_RECOVER] = {"recover", recover_lua},
    [QUEUE_SCRIPT_ADOPT] = {"adopt", adopt_lua},
    [QUEUE_SCRIPT_RENEW] = {"renew", renew_lua},
    [QUEUE_SCRIPT_TAKE_EXPIRED] = {"take_expired", take_expired_lua},
    [QUEUE_SCRIPT_RETRY] = {"retry", retry_lua},
    [QUEUE_SCRIPT_REQUEUE] = {"requeue", requeue_lua},
    [QUEUE_SCRIPT_PROMOTE] = {"promote", promote_lua},
    [QUEUE_SCRIPT_CANCEL_DELAYED] = {"cancel_delayed", cancel_delayed_lua},
    [QUEUE_SCRIPT_DEAD] = {"dead", dead_lua},
    [QUEUE_SCRIPT_REJECT] = {"reject", reject_lua},
    [QUEUE_SCRIPT_UNDEAD] = {"undead", undead_lua},
    [QUEUE_SCRIPT_STATS] = {"stats", stats_lua},
    [QUEUE_SCRIPT_BREAKER_ALLOW] = {"breaker_allow", breaker_allow_lua},
    [QUEUE_SCRIPT_BREAKER_RECORD] = {"breaker_record", breaker_record_lua},
    [QUEUE_SCRIPT_RATE_TAKE] = {"rate_take", rate_take_lua},
    [QUEUE_SCRIPT_SLOT_TAKE] = {"slot_take", slot_take_lua},
    [QUEUE_SCRIPT_BREAKERS] = {"breakers", breakers_lua},
    [QUEUE_SCRIPT_OLDEST] = {"oldest", oldest_lua},
    [QUEUE_SCRIPT_POOL_PUT] = {"pool_put", pool_put_lua},
    [QUEUE_SCRIPT_POOL_CLAIM] = {"pool_claim", pool_claim_lua},
    [QUEUE_SCRIPT_BACKLOG] = {"backlog", backlog_lua},
};
