//! The Lua scripts that make each operation one atomic round trip.
//!
//! Every script receives the time to live in milliseconds as `ARGV[1]` (`0`: no time to live,
//! the key is made persistent). On Redis Cluster they touch only the keys they are given in
//! `KEYS`, one per script (`CYCLE` is not used there): the per-user index (a sorted set per
//! user, named in a session's `x` field) is kept on single nodes and Sentinel only, where the
//! scripts also reach the index a session names (`LOAD`, `SAVE`, `DELETE`, `LIST`). Redis
//! Cluster keeps the index's keys in other slots, so it has no index there.

use std::sync::LazyLock;

use redis::Script;

/// Shared helpers: `hset_pairs` writes `ARGV[from..to]` as field/value pairs and `hdel_list`
/// deletes the fields `ARGV[from..to]`, both in chunks (Lua's `unpack` has a stack limit);
/// `expire` applies `ARGV[1]`.
const HELPERS: &str = r"
local function hset_pairs(key, from, to)
  local i = from
  while i <= to do
    local j = math.min(i + 199, to)
    redis.call('HSET', key, unpack(ARGV, i, j))
    i = j + 1
  end
end
local function hdel_list(key, from, to)
  local i = from
  while i <= to do
    local j = math.min(i + 199, to)
    redis.call('HDEL', key, unpack(ARGV, i, j))
    i = j + 1
  end
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function index_extend(idx, ttl, fresh)
  if ttl <= 0 then
    redis.call('PERSIST', idx)
    return
  end
  local left = redis.call('PTTL', idx)
  if fresh or (left >= 0 and left < ttl) then
    -- A quarter more than the session's: rewritten about once per quarter of the time to
    -- live, not at every save; outlives its last session by at most that quarter.
    redis.call('PEXPIRE', idx, ttl + math.floor(ttl / 4))
  end
end
local function index_add(idx, member, ttl)
  local fresh = redis.call('EXISTS', idx) == 0
  redis.call('ZADD', idx, now_ms(), member)
  index_extend(idx, ttl, fresh)
end
local function index_remove(session)
  local idx = redis.call('HGET', session, 'x')
  if idx then
    redis.call('ZREM', idx, session)
    if redis.call('ZCARD', idx) == 0 then
      redis.call('DEL', idx)
    end
  end
end
local function slide(key, ttl)
  if ttl > 0 then
    local left = redis.call('PTTL', key)
    if left < 0 or left * 5 < ttl * 4 then
      redis.call('PEXPIRE', key, ttl)
      redis.call('HSET', key, 's', now_ms())
      local idx = redis.call('HGET', key, 'x')
      if idx then
        index_extend(idx, ttl, false)
      end
    end
  elseif redis.call('PTTL', key) >= 0 then
    redis.call('PERSIST', key)
  end
end
local function expire(key)
  local ttl = tonumber(ARGV[1])
  if ttl > 0 then
    redis.call('PEXPIRE', key, ttl)
  else
    redis.call('PERSIST', key)
  end
end
";

/// `KEYS[1]` = session. Returns the hash as a flat field/value array, or nil when the session
/// does not exist. Refreshes the time to live (to the `r` field's, a remembered login's, else
/// `ARGV[1]`) only when less than 80 % of it remains: most loads write nothing (`PTTL` is a
/// read), so they propagate nothing to replicas or the append-only file.
pub(crate) static LOAD: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  return false
end
local ttl = tonumber(ARGV[1])
for i = 1, #h, 2 do
  if h[i] == 'r' then
    ttl = tonumber(h[i + 1]) or ttl
  end
end
slide(KEYS[1], ttl)
return h
",
    )
});

/// `KEYS[1]` = session, `KEYS[2]` (when the session has a user) = that user's index;
/// `ARGV[2..]` = field/value pairs (always including the version field, and the index's name
/// in `x` with `KEYS[2]`). Writes only if the key is free. Returns 1 when written, 0 when the
/// key was taken.
pub(crate) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
hset_pairs(KEYS[1], 2, #ARGV)
redis.call('HSET', KEYS[1], 's', now_ms())
expire(KEYS[1])
if KEYS[2] then
  index_add(KEYS[2], KEYS[1], tonumber(ARGV[1]))
end
return 1
",
    )
});

/// `KEYS[1]` = session; `ARGV[2]` = `1` to remove every data field first; `ARGV[3]` = n, the
/// number of fields to delete that follow; then the field/value pairs to write. Applies the
/// delta only if the session exists. Returns 1 when applied, 0 when the session is gone.
pub(crate) static SAVE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if ARGV[2] == '1' then
  local names = redis.call('HKEYS', KEYS[1])
  for _, name in ipairs(names) do
    if string.sub(name, 1, 2) == 'd:' then
      redis.call('HDEL', KEYS[1], name)
    end
  end
end
local n = tonumber(ARGV[3])
hdel_list(KEYS[1], 4, 3 + n)
hset_pairs(KEYS[1], 4 + n, #ARGV)
redis.call('HSET', KEYS[1], 's', now_ms())
expire(KEYS[1])
local idx = redis.call('HGET', KEYS[1], 'x')
if idx then
  index_extend(idx, tonumber(ARGV[1]), false)
end
return 1
",
    )
});

/// `KEYS[1]` = old session, `KEYS[2]` = new session, `KEYS[3]` (when the new record has a
/// user) = that user's index; `ARGV[2..]` as for `CREATE`. Writes the new session and deletes
/// the old one (and its entry in its user's index) only if the old one still exists and the
/// new key is free. Returns 1 when moved, 0 when nothing was written. Single node only (two
/// slots).
pub(crate) static CYCLE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
hset_pairs(KEYS[2], 2, #ARGV)
redis.call('HSET', KEYS[2], 's', now_ms())
expire(KEYS[2])
index_remove(KEYS[1])
redis.call('DEL', KEYS[1])
if KEYS[3] then
  index_add(KEYS[3], KEYS[2], tonumber(ARGV[1]))
end
return 1
",
    )
});

/// `KEYS[1]` = session. Deletes it and its entry in its user's index (the `x` field names the
/// index). Returns how many sessions were deleted (0 or 1).
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
index_remove(KEYS[1])
return redis.call('DEL', KEYS[1])
",
    )
});

/// `KEYS[1]` = a user's index. Returns, for each session in it that still exists, oldest
/// first: its key, its `c` field and its `s` field (empty when absent); drops the others
/// from the index (and the index when none is left).
pub(crate) static LIST: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local out = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', member, 'v', 'c', 's')
  if f[1] then
    table.insert(out, member)
    table.insert(out, f[2] or '')
    table.insert(out, f[3] or '')
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
if #out == 0 then
  redis.call('DEL', KEYS[1])
end
return out
",
    )
});

/// `KEYS[1]` = lock key, `ARGV[1]` = token. Deletes the lock only if it still holds the token
/// (so a holder whose lease ran out cannot release someone else's lock).
pub(crate) static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// Login throttling: counts one attempt at each counter in `KEYS` (a string
/// `<count>:<since ms>`), `ARGV[1]` being now in Unix ms by the engine's clock and
/// `ARGV[1 + i]` the window of `KEYS[i]` in ms: the count goes up by one while the window
/// lasts, else restarts at one from now (`Counter::after_attempt`); the key expires when its
/// window ends. Returns count and since of each key in turn.
pub(crate) static COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local win = tonumber(ARGV[i + 1])
  local count, since = 0, now
  local v = redis.call('GET', key)
  if v then
    local c, s = string.match(v, '^(%d+):(%d+)$')
    if c and tonumber(s) + win > now then
      count, since = tonumber(c), tonumber(s)
    end
  end
  count = count + 1
  redis.call('SET', key, string.format('%d:%d', count, since), 'PX',
    math.max(since + win - now, 1))
  out[#out + 1] = count
  out[#out + 1] = since
end
return out
",
    )
});

/// Login throttling: gives back one attempt at each counter in `KEYS` whose window (from
/// `ARGV[1 + i]`, in ms) still lasts at `ARGV[1]` (`Counter::after_refund`), keeping its
/// time to live. Absent or ended counters are left alone. Returns an empty list.
pub(crate) static REFUND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local win = tonumber(ARGV[i + 1])
  local v = redis.call('GET', key)
  if v then
    local c, s = string.match(v, '^(%d+):(%d+)$')
    if c and tonumber(s) + win > now and tonumber(c) > 0 then
      redis.call('SET', key, string.format('%d:%s', tonumber(c) - 1, s), 'KEEPTTL')
    end
  end
end
return {}
",
    )
});

fn script(body: &str) -> Script {
    Script::new(&format!("{HELPERS}{body}"))
}
