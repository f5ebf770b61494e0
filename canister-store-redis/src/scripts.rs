//! The Lua scripts that make each operation one atomic round trip.
//!
//! Every script receives the time to live in milliseconds as `ARGV[1]` (`0`: no time to live,
//! the key is made persistent) and touches only the keys it is given in `KEYS`, so it runs on
//! Redis Cluster as long as those keys share a slot (one key for all but `CYCLE`).

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
local function expire(key)
  local ttl = tonumber(ARGV[1])
  if ttl > 0 then
    redis.call('PEXPIRE', key, ttl)
  else
    redis.call('PERSIST', key)
  end
end
";

/// `KEYS[1]` = session. Returns the hash as a flat field/value array and refreshes the time to
/// live, or nil when the session does not exist.
pub(crate) static LOAD: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  return false
end
expire(KEYS[1])
return h
",
    )
});

/// `KEYS[1]` = session; `ARGV[2..]` = field/value pairs (always including the version field).
/// Writes only if the key is free. Returns 1 when written, 0 when the key was taken.
pub(crate) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
hset_pairs(KEYS[1], 2, #ARGV)
expire(KEYS[1])
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
expire(KEYS[1])
return 1
",
    )
});

/// `KEYS[1]` = old session, `KEYS[2]` = new session; `ARGV[2..]` as for `CREATE`. Writes the
/// new session and deletes the old one only if the old one still exists and the new key is
/// free. Returns 1 when moved, 0 when nothing was written. Single node only (two slots).
pub(crate) static CYCLE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
hset_pairs(KEYS[2], 2, #ARGV)
expire(KEYS[2])
redis.call('DEL', KEYS[1])
return 1
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

fn script(body: &str) -> Script {
    Script::new(&format!("{HELPERS}{body}"))
}
