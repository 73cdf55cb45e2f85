//! The Lua scripts behind the Redis primitives that have no native command.
//!
//! Each runs atomically on the server and is sent with `EVALSHA`, falling
//! back to loading it on `NOSCRIPT` (`redis::Script` does this). Scripts that
//! maintain indexes from inside the script (`upkeep = "s"`) touch keys they
//! compute themselves; that is only done on a single server (standalone or
//! Sentinel). In Cluster mode the same scripts run with `upkeep = "n"` and
//! the client upkeeps indexes in separate steps (see `docs/ARCHITECTURE.md`).

use std::sync::LazyLock;

use redis::Script;

/// Helpers shared by every script: header parsing, membership, server time.
const PRELUDE: &str = r#"
local function parse(s)
  if string.byte(s, 1) ~= 31 then return 0, {}, 0 end
  local a = string.find(s, '\31', 2, true)
  local b = a and string.find(s, '\31', a + 1, true)
  local ver = a and tonumber(string.match(string.sub(s, 2, a - 1), '^%d+'))
  if not b or not ver then error('authstore:corrupt entry header') end
  local idx = {}
  for k in string.gmatch(string.sub(s, a + 1, b - 1), '[^\30]+') do idx[#idx + 1] = k end
  return ver, idx, b, string.match(string.sub(s, 2, a - 1), ':(.*)$') or ''
end
local function has(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end
local now_cached
local function now_ms()
  if not now_cached then
    local t = redis.call('TIME')
    now_cached = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now_cached
end
local function header(ver, tok, idx)
  local vfield = string.format('%d', ver)
  if tok ~= '' then vfield = vfield .. ':' .. tok end
  return '\31' .. vfield .. '\31' .. table.concat(idx, '\30') .. '\31'
end
local function is_counter(s)
  if s == '0' then return true end
  local digits = string.match(s, '^%-?([1-9]%d*)$')
  if not digits or #digits > 19 then return false end
  if #digits < 19 then return true end
  if string.byte(s, 1) == 45 then return digits <= '9223372036854775808' end
  return digits <= '9223372036854775807'
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

/// The body of `put`, as a function of one entry: `put_one(key, mode,
/// expected version, ttl ms, value, index-key prefix, member, upkeep,
/// membership token, {index keys…})`.
const PUT_ONE: &str = r#"
local zbatch, zorder
local function put_one(key, mode, expected, ttl, value, ixprefix, member, upkeep, token, new, read, known)
  local cur = known
  if not read then cur = redis.call('GET', key) end
  local ver, old, _, oldtok = 0, {}, 0, ''
  if cur then ver, old, _, oldtok = parse(cur) end
  if mode == 'c' and cur then return {-1, ver} end
  if (mode == 'x' or mode == 'v') and not cur then return {-2, 0} end
  if mode == 'v' and ver ~= tonumber(expected) then return {-3, ver} end
  local nv = ver + 1
  local ttl_ms = tonumber(ttl)
  local vfield = string.format('%d', nv)
  if token ~= '' then vfield = vfield .. ':' .. token end
  local stored = '\31' .. vfield .. '\31' .. table.concat(new, '\30') .. '\31' .. value
  if ttl_ms > 0 then redis.call('SET', key, stored, 'PX', ttl) else redis.call('SET', key, stored) end
  if upkeep ~= 'n' and (#old > 0 or #new > 0) then
    if upkeep == 's' then
      for _, k in ipairs(old) do
        if not has(new, k) then redis.call('ZREM', ixprefix .. k, member) end
      end
    end
    if #new > 0 then
      local score = '+inf'
      if ttl_ms > 0 then score = string.format('%d', now_ms() + ttl_ms) end
      for _, k in ipairs(new) do
        local z = ixprefix .. k
        if zbatch then
          if not zbatch[z] then zbatch[z] = {}; zorder[#zorder + 1] = z end
          local l = zbatch[z]
          l[#l + 1] = score
          l[#l + 1] = member
        else
          redis.call('ZADD', z, score, member)
        end
      end
    end
  end
  local out = {nv, ver, oldtok}
  for _, k in ipairs(old) do out[#out + 1] = k end
  return out
end
"#;

/// put. KEYS: entry. ARGV: mode (u|c|x|v), expected version, ttl ms (0 = none),
/// value, index-key prefix, member, upkeep (s|n), membership token ('' on one
/// server), index keys…
/// Returns {version, previous version, previous token, previous index keys…}
/// or {-1|-2|-3, current version}.
pub(crate) static PUT: LazyLock<Script> = LazyLock::new(|| {
    script(&format!(
        "{PUT_ONE}{}",
        r#"
local new = {}
for i = 9, #ARGV do new[#new + 1] = ARGV[i] end
return put_one(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], new)
"#
    ))
});

/// put of several entries on one server (never in Cluster mode: the keys
/// may sit in different slots), each exactly as `put`, in order. KEYS: the
/// entries. ARGV: index-key prefix, then per entry: mode, expected version,
/// ttl ms, value, member, number of index keys, index keys…
/// Returns one `put` reply per entry.
pub(crate) static PUT_MANY: LazyLock<Script> = LazyLock::new(|| {
    script(&format!(
        "{PUT_ONE}{}",
        r#"
local out, a = {}, 2
for i = 1, #KEYS do
  local n = tonumber(ARGV[a + 5])
  local new = {}
  for j = 1, n do new[j] = ARGV[a + 5 + j] end
  out[i] = put_one(KEYS[i], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[1], ARGV[a + 4], 's', '', new)
  a = a + 6 + n
end
return out
"#
    ))
});

/// commit: every condition checked, then every put written, or nothing.
/// KEYS: the checked entries, then the put entries. ARGV: index-key prefix,
/// upkeep (s|a), number of checks, each check's version, then per put:
/// mode, expected version, ttl ms, value, member, membership token, number
/// of index keys, index keys…
/// Each entry is read once (an entry to create only tested with EXISTS),
/// and the memberships of one index set are added by one ZADD. Returns the
/// new versions, or {-1|-2|-3, position in KEYS, current version}.
pub(crate) static COMMIT: LazyLock<Script> = LazyLock::new(|| {
    script(&format!(
        "{PUT_ONE}{}",
        r#"
local ixprefix, upkeep, nc = ARGV[1], ARGV[2], tonumber(ARGV[3])
for i = 1, nc do
  local cur = redis.call('GET', KEYS[i])
  if not cur then return {-2, i, 0} end
  local ver = parse(cur)
  if ver ~= tonumber(ARGV[3 + i]) then return {-3, i, ver} end
end
local first = 4 + nc
local a = first
local seen = {}
for i = nc + 1, #KEYS do
  local mode = ARGV[a]
  if mode == 'c' then
    if redis.call('EXISTS', KEYS[i]) == 1 then return {-1, i, 0} end
  else
    local cur = redis.call('GET', KEYS[i])
    seen[i] = cur
    local ver = 0
    if cur then ver = parse(cur) end
    if (mode == 'x' or mode == 'v') and not cur then return {-2, i, 0} end
    if mode == 'v' and ver ~= tonumber(ARGV[a + 1]) then return {-3, i, ver} end
  end
  a = a + 7 + tonumber(ARGV[a + 6])
end
local out = {}
zbatch, zorder = {}, {}
a = first
for i = nc + 1, #KEYS do
  local n = tonumber(ARGV[a + 6])
  local new = {}
  for j = 1, n do new[j] = ARGV[a + 6 + j] end
  out[#out + 1] = put_one(KEYS[i], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ixprefix, ARGV[a + 4], upkeep, ARGV[a + 5], new, true, seen[i])[1]
  a = a + 7 + n
end
for _, z in ipairs(zorder) do redis.call('ZADD', z, unpack(zbatch[z])) end
return out
"#
    ))
});

/// touch. KEYS: entry. ARGV: ttl ms, index-key prefix, member, upkeep (s|n).
/// Returns 1 if the entry was live, else 0.
pub(crate) static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[4] == 's' then
  local _, idx = parse(redis.call('GET', KEYS[1]))
  local score = now_ms() + tonumber(ARGV[1])
  for _, k in ipairs(idx) do redis.call('ZADD', ARGV[2] .. k, 'XX', score, ARGV[3]) end
end
return 1
"#,
    )
});

/// incr on a value INCRBY refused. An entry written by `put` whose value
/// is a canonical decimal is incremented in place: it keeps its header
/// (index keys, membership token) with the next version, and its TTL; on
/// overflow it is left as it was. KEYS: entry. ARGV: delta, ttl ms.
/// Returns {value as a decimal string, pttl}; errors
/// `authstore:not-a-counter` or INCRBY's overflow.
pub(crate) static INCR_ENTRY: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local cur = redis.call('GET', KEYS[1])
if cur and string.byte(cur, 1) == 31 then
  local ver, idx, b, tok = parse(cur)
  local payload = string.sub(cur, b + 1)
  if not is_counter(payload) then return {err = 'authstore:not-a-counter'} end
  redis.call('SET', KEYS[1], payload, 'KEEPTTL')
  local added = redis.pcall('INCRBY', KEYS[1], ARGV[1])
  if type(added) == 'table' and added.err then
    redis.call('SET', KEYS[1], cur, 'KEEPTTL')
    return added
  end
  local value = redis.call('GET', KEYS[1])
  redis.call('SET', KEYS[1], header(ver + 1, tok, idx) .. value, 'KEEPTTL')
  return {value, redis.call('PTTL', KEYS[1])}
elseif cur and not is_counter(cur) then
  return {err = 'authstore:not-a-counter'}
elseif not cur and tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], '0', 'PX', ARGV[2])
end
redis.call('INCRBY', KEYS[1], ARGV[1])
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
"#,
    )
});

/// One GCRA step on the server clock. KEYS: state. ARGV: interval ms, burst, cost.
/// The state is a counter holding the TAT; an entry written by `put` whose
/// value is a canonical decimal counts as one and keeps its header (index
/// keys, membership token) with the next version when the step writes.
/// Returns {allowed 0|1, remaining, retry_after ms, reset_after ms}.
pub(crate) static GCRA: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local interval, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local tat = now
local head = ''
local cur = redis.call('GET', KEYS[1])
if cur then
  if string.byte(cur, 1) == 31 then
    local ver, idx, b, tok = parse(cur)
    head = header(ver + 1, tok, idx)
    cur = string.sub(cur, b + 1)
  end
  if not is_counter(cur) then return {err = 'authstore:not-a-counter'} end
  local t = tonumber(cur)
  if t > now then tat = t end
end
local new_tat = tat + interval * cost
local horizon = now + interval * burst
if new_tat <= horizon then
  if cost > 0 then redis.call('SET', KEYS[1], head .. string.format('%d', new_tat), 'PX', new_tat - now) end
  return {1, math.floor((horizon - new_tat) / interval), 0, new_tat - now}
end
return {0, math.floor(math.max(horizon - tat, 0) / interval), new_tat - horizon, tat - now}
"#,
    )
});

/// list_index on one server. KEYS: index zset. ARGV: entry-key prefix, index key.
/// Returns live member keys; unlists members whose entry is gone or moved on.
pub(crate) static LIST_INDEX: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local live = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('GET', ARGV[1] .. m)
  local keep = false
  if v then local _, idx = parse(v); keep = has(idx, ARGV[2]) end
  if keep then live[#live + 1] = m else redis.call('ZREM', KEYS[1], m) end
end
return live
"#,
    )
});

/// delete_index on one server. KEYS: index zset. ARGV: entry-key prefix, index key.
/// Deletes every entry still carrying the index key; returns how many.
pub(crate) static DELETE_INDEX: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local n = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('GET', ARGV[1] .. m)
  if v then
    local _, idx = parse(v)
    if has(idx, ARGV[2]) then n = n + redis.call('DEL', ARGV[1] .. m) end
  end
  redis.call('ZREM', KEYS[1], m)
end
return n
"#,
    )
});

/// Cluster-mode half of delete_index: deletes one entry if it still carries
/// the index key. KEYS: entry. ARGV: index key. Returns 1 if deleted.
pub(crate) static DELETE_IF_INDEXED: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local _, idx = parse(v)
if has(idx, ARGV[1]) then return redis.call('DEL', KEYS[1]) end
return 0
"#,
    )
});

/// purge_expired on one server: prunes the index sets of one SCAN page.
/// KEYS: index zsets. ARGV: entry-key prefix, index-key prefix, how many
/// members it may remove at most. Only members whose score says their entry
/// expired, or that have no expiry (`+inf`), are checked: each stays if its
/// entry exists and still carries the index key (with its score corrected
/// to the entry's real expiry), else it is removed. Returns how many were
/// removed.
pub(crate) static PRUNE_INDEXES: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local budget = tonumber(ARGV[3])
local removed = 0
local now = now_ms()
for _, z in ipairs(KEYS) do
  local ik = string.sub(z, #ARGV[2] + 1)
  local due = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', z, '+inf', '+inf')) do due[#due + 1] = m end
  for _, m in ipairs(due) do
    if removed >= budget then return removed end
    local key = ARGV[1] .. m
    local v = redis.call('GET', key)
    local keep = false
    if v then local _, idx = parse(v); keep = has(idx, ik) end
    if keep then
      local pttl = redis.call('PTTL', key)
      local score = '+inf'
      if pttl > 0 then score = now + pttl end
      redis.call('ZADD', z, score, m)
    else
      removed = removed + redis.call('ZREM', z, m)
    end
  end
end
return removed
"#,
    )
});
