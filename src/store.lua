#!lua name=consentd
-- src/store.lua - consentd's Redis Function library (Redis 7, Lua 5.1).
--
-- The key layout is documented at the top of src/store.c; every key a function
-- touches is passed in KEYS, all with one hash tag (one Redis Cluster slot).
-- This file is embedded into consentd at build time (cmake/store_lua.cmake):
-- Redis reports errors with this file's line numbers.
--
-- VERSION: consentd loads this library only into a Redis whose consentd
-- library is older (consentd_version absent, or smaller), never over a newer
-- one, so that the nodes of a rolling upgrade do not overwrite each other's
-- library. Raise it with every change of this file (tests/fixtures/store_lua.sha256
-- pairs each version with the file's hash, and lint_lua fails when they
-- disagree). A new version keeps every function of the older ones, with their
-- arguments and replies: old nodes run on it until they are replaced.
local VERSION = 14

-- Returns VERSION: what consentd asks a Redis before loading the library.
local function version()
  return VERSION
end

redis.register_function{function_name = 'consentd_version', callback = version,
                        flags = {'no-writes'}}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The consent log entry id a history entry carries (msgpack map key 'log').
local function entry_log_id(entry)
  local ok, m = pcall(cmsgpack.unpack, entry)
  if ok and type(m) == 'table' and type(m.log) == 'string' then
    return m.log
  end
  return nil
end

local function id_ms(id)
  return tonumber(string.match(id, '^(%d+)-')) or 0
end

-- Banner versions: KEYS version, index (tag {<site>:banners}).
-- Keep the version until at least until_ms (expiry and index score only move
-- later); trim the index of expired versions; it lives as long as its last.
local function banner_keep(keys, hash, until_ms, now)
  if redis.call('PEXPIRETIME', keys[1]) < until_ms then
    redis.call('PEXPIREAT', keys[1], until_ms)
  end
  redis.call('ZADD', keys[2], 'GT', until_ms, hash)
  redis.call('ZREMRANGEBYSCORE', keys[2], '-inf', now)
  local last = redis.call('ZRANGE', keys[2], -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIREAT', keys[2], math.floor(tonumber(last[2])))
  end
end

-- ARGV: hash, js ('': served again, archive nothing), policy version, languages,
-- variants, keep_ms. Archives the version the first time (never overwritten),
-- notes when it was last served. Returns 1, or 0 when js is '' and the version
-- is not archived (expired or flushed: the caller sends it again).
local function banner_served(keys, args)
  local keep = tonumber(args[6])
  if keep == nil or keep < 1 then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local now = now_ms()
  if redis.call('EXISTS', keys[1]) == 0 then
    if args[2] == '' then
      return 0
    end
    redis.call('HSET', keys[1], 'js', args[2], 'first', now, 'pv', args[3],
               'langs', args[4], 'vars', args[5])
  end
  if now > (tonumber(redis.call('HGET', keys[1], 'last')) or 0) then
    redis.call('HSET', keys[1], 'last', now)
  end
  banner_keep(keys, args[1], now + keep, now)
  return 1
end

-- ARGV: hash, keep_ms. A consent names this version: keep it as long as that
-- proof. Returns 1, or 0 when it is not archived.
local function banner_named(keys, args)
  local keep = tonumber(args[2])
  if keep == nil or keep < 1 then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  if redis.call('EXISTS', keys[1]) == 0 then
    return 0
  end
  local now = now_ms()
  banner_keep(keys, args[1], now + keep, now)
  return 1
end

-- KEYS: index. ARGV: max. Returns {hash, first, last, pv, langs, vars, ...} for
-- the live versions, the most recently first served first, at most max.
local function banner_list(keys, args)
  local prefix = string.sub(keys[1], 1, -6) .. 'v:'
  local found = {}
  for _, h in ipairs(redis.call('ZRANGE', keys[1], now_ms(), '+inf', 'BYSCORE')) do
    local m = redis.call('HMGET', prefix .. h, 'first', 'last', 'pv', 'langs', 'vars')
    if m[1] then
      found[#found + 1] = {h, m[1], m[2] or m[1], m[3] or '', m[4] or '', m[5] or ''}
    end
  end
  table.sort(found, function(a, b)
    local fa, fb = tonumber(a[2]) or 0, tonumber(b[2]) or 0
    if fa ~= fb then return fa > fb end
    return a[1] < b[1]
  end)
  local out = {}
  for i = 1, math.min(#found, tonumber(args[1]) or 0) do
    for _, v in ipairs(found[i]) do
      out[#out + 1] = v
    end
  end
  return out
end

redis.register_function('consentd_banner_served', banner_served)
redis.register_function('consentd_banner_named', banner_named)
redis.register_function{function_name = 'consentd_banner_list', callback = banner_list,
                        flags = {'no-writes'}}

-- A visitor's key of another kind beside its history (cd:{<tag>}:h:<visitor>):
-- cd:{<tag>}:<kind>:<visitor>, same tag, same slot. For the calls of version 1
-- nodes, which do not pass the keys version 2 added.
local function visitor_key(history, kind)
  local head, visitor = string.match(history, '^(.-}):h:(.*)$')
  return head .. ':' .. kind .. ':' .. visitor
end

-- The visitor's write limit (version 3): fixed windows of a minute and a day,
-- each from the visitor's first write in it, counted in the keys minute and
-- day (STRING, TTL the window). Returns the ms until the full window ends
-- (nothing counted), or nil: then this write is counted. A limit of 0: none.
local function write_limited(minute, day, per_minute, per_day)
  local windows = {{minute, per_minute, 60000}, {day, per_day, 86400000}}
  for _, w in ipairs(windows) do
    if w[2] > 0 and (tonumber(redis.call('GET', w[1])) or 0) >= w[2] then
      local ttl = redis.call('PTTL', w[1])
      return ttl > 0 and ttl or w[3]
    end
  end
  for _, w in ipairs(windows) do
    if w[2] > 0 and redis.call('INCR', w[1]) == 1 then
      redis.call('PEXPIRE', w[1], w[3])
    end
  end
  return nil
end

-- The visitor's data keys (version 5), cd:{<tag>}:k:<pseudonym>, from the
-- pseudonym key cd:{<tag>}:p:<visitor>: same tag, same slot.
local function data_keys(pseudonym_key, pseudonym)
  return string.match(pseudonym_key, '^(.-}):p:') .. ':k:' .. pseudonym
end

-- The value of field name in a stream entry's fields {f1, v1, f2, v2, ...}.
local function entry_field(fields, name)
  for i = 1, #fields - 1, 2 do
    if fields[i] == name then
      return fields[i + 1]
    end
  end
  return nil
end

-- KEYS: state, history, log[, index[, minute, day[, pseudonym[, seq[,
-- link]]]]] (link, the visitor's identify link: version 8, see IDENTIFY)
-- (index: version 2, derived from the history's name when absent; the write
-- counters: version 3; the pseudonym key: version 5; seq, the partition's log
-- sequence counter: version 6, derived from the log's name when absent, so
-- that the writes of older nodes are numbered too).
-- ARGV: visitor, record (msgpack fixmap), expires_at_ms, retention_ms,
-- history_max[, per_minute, per_day[, pseudonym, sealed, data_key]] (version
-- 3: the visitor's write limit; version 5: a fresh pseudonym (32 hex) used
-- when the visitor has none yet, the record sealed by consentd (seal.h) and
-- the key that opens it).
-- With the version 5 arguments the log entry is {p: pseudonym, c: sealed} and
-- the data key goes to the visitor's data keys, field = the entry id; without
-- them (nodes of versions 1 to 4), {v: visitor, r: record} as before.
-- Returns the consent log entry id (a string), or over the write limit the
-- ms to wait (an integer, > 0): then nothing was written.
local function put(keys, args)
  local rec = args[2]
  local head = string.byte(rec, 1)
  if head == nil or head < 0x80 or head >= 0x8f then
    return redis.error_reply('ERR consentd: the record is not a msgpack fixmap')
  end
  local expires_at = tonumber(args[3])
  local retention = tonumber(args[4])
  local history_max = tonumber(args[5])
  if expires_at == nil or retention == nil or retention < 1 or history_max == nil or
     history_max < 1 then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local index = keys[4] or visitor_key(keys[2], 'x')
  if keys[6] then
    local per_minute, per_day = tonumber(args[6]), tonumber(args[7])
    if per_minute == nil or per_minute < 0 or per_day == nil or per_day < 0 then
      return redis.error_reply('ERR consentd: bad arguments')
    end
    local wait = write_limited(keys[5], keys[6], per_minute, per_day)
    if wait then
      return wait
    end
  end
  local sealed = keys[7] ~= nil
  if sealed and (not string.match(args[8] or '', '^%x+$') or #args[8] ~= 32 or
                 (args[9] or '') == '' or #(args[10] or '') ~= 32) then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local pseudonym_key = keys[7] or visitor_key(keys[2], 'p')
  local pseudonym = redis.call('GET', pseudonym_key)
  local now = now_ms()
  local min_ms = math.max(now - retention, 0)
  -- n: the entry's place in the partition (1, 2, ...), hashed with it into
  -- the partition's chain (consentd_chain_append): a deleted entry leaves a
  -- gap. Last, so that readers of the fields by position still find v, r
  -- (or p, c).
  local seq = keys[8] or (string.sub(keys[3], 1, -4) .. 'seq')
  local n_seq = redis.call('INCR', seq)
  if n_seq == 1 then
    -- The partition's first numbered write: entries written before version
    -- 6 (no n) count as 1..XLEN, as the checkpointer numbers them.
    local before = redis.call('XLEN', keys[3])
    if before > 0 then
      n_seq = before + 1
      redis.call('SET', seq, n_seq)
    end
  end
  redis.call('PEXPIRE', seq, args[4])
  local id
  if sealed then
    pseudonym = pseudonym or args[8]
    id = redis.call('XADD', keys[3], 'MINID', min_ms, '*', 'p', pseudonym, 'c', args[9],
                    'n', n_seq)
    -- The data keys live as the history: a retention after the last write.
    redis.call('SET', pseudonym_key, pseudonym, 'PX', args[4])
    redis.call('HSET', data_keys(pseudonym_key, pseudonym), id, args[10])
    redis.call('PEXPIRE', data_keys(pseudonym_key, pseudonym), args[4])
  else
    id = redis.call('XADD', keys[3], 'MINID', min_ms, '*', 'v', args[1], 'r', rec, 'n', n_seq)
  end
  redis.call('PEXPIRE', keys[3], args[4])
  -- An entry id that leaves the history and the index for its age takes its
  -- data key along (its log entry left the log with MINID).
  local function forget(lid)
    if pseudonym then
      redis.call('HDEL', data_keys(pseudonym_key, pseudonym), lid)
    end
  end
  if expires_at > now then
    redis.call('SET', keys[1], rec, 'PXAT', args[3])
  else
    redis.call('DEL', keys[1])
  end
  -- The history entry is the record with one more key, 'log': bump the
  -- fixmap count and append the pair, without re-encoding the record.
  local entry = string.char(head + 1) .. string.sub(rec, 2) .. cmsgpack.pack('log', id)
  local n = redis.call('LPUSH', keys[2], entry)
  -- Drop the oldest entries beyond history_max or older than the retention.
  -- Their log entries stay: the log is evidence, trimmed by its retention
  -- only. The id of one that leaves by the count and is still within the
  -- retention moves to the index, so that every log entry of the visitor
  -- within the retention stays named by its history or its index (erasure
  -- needs it).
  local moved = false
  while n > 1 do
    local lid = entry_log_id(redis.call('LINDEX', keys[2], -1))
    local old = lid ~= nil and id_ms(lid) < min_ms
    if n <= history_max and not old then
      break
    end
    redis.call('RPOP', keys[2])
    if lid ~= nil and not old then
      redis.call('LPUSH', index, lid)
      moved = true
    elseif lid ~= nil then
      forget(lid)
    end
    n = n - 1
  end
  redis.call('PEXPIRE', keys[2], args[4])
  -- The index, newest first: drop its ids past the retention (their entries
  -- left the log with XADD's MINID); it lives a retention after its last id.
  while true do
    local last = redis.call('LINDEX', index, -1)
    if not last or id_ms(last) >= min_ms then
      break
    end
    redis.call('RPOP', index)
    forget(last)
  end
  if moved then
    redis.call('PEXPIRE', index, args[4])
  end
  -- Version 8: with the visitor's identify link (keys[9]), the answer says
  -- which user it speaks for ('' for none), for consentd to carry the
  -- choice to the user's record (another slot: a second call).
  if keys[9] then
    return {id, redis.call('GET', keys[9]) or ''}
  end
  return id
end

-- KEYS: state, history[, index, log[, pseudonym]] (version 4; the pseudonym
-- key: version 5). ARGV: history_max[, older_max].
-- Returns {state or nil, {history entries, newest first}}; with the index and
-- the log, a third element: the older writes the index names that are still
-- in the log, newest first, at most older_max, as history entries (the
-- record with its 'log' key), so that the access request shows them too.
-- With the pseudonym key, an older write whose entry is sealed comes as
-- {log id, sealed bytes, data key} for the caller to open (without it, such
-- entries are left out: older nodes cannot open them).
local function visitor(keys, args)
  local state = redis.call('GET', keys[1])
  local history = redis.call('LRANGE', keys[2], 0, tonumber(args[1]) - 1)
  if not keys[4] then
    return {state, history}
  end
  local pseudonym = keys[5] and redis.call('GET', keys[5])
  local older = {}
  for _, lid in ipairs(redis.call('LRANGE', keys[3], 0, (tonumber(args[2]) or 0) - 1)) do
    local e = redis.call('XRANGE', keys[4], lid, lid)[1]
    local f = e and e[2] or {}
    local rec, sealed = entry_field(f, 'r'), entry_field(f, 'c')
    if rec then
      local head = string.byte(rec, 1)
      if head ~= nil and head >= 0x80 and head < 0x8f then
        older[#older + 1] = string.char(head + 1) .. string.sub(rec, 2) .. cmsgpack.pack('log', lid)
      end
    elseif sealed and pseudonym then
      local key = redis.call('HGET', data_keys(keys[5], pseudonym), lid)
      if key then
        older[#older + 1] = {lid, sealed, key}
      end
    end
  end
  return {state, history, older}
end

-- KEYS: a partition's log (version 5). ARGV: start, end, count (XRANGE's).
-- Returns {{id, {field, value, ...}, data key or false}, ...}: the entries in
-- id order, each sealed one with the key that opens it, read from the
-- visitor's data keys its pseudonym names (same tag, same slot); false when
-- that key is gone: the visitor was erased (or a legacy entry, {v, r}).
local function log_read(keys, args)
  local prefix = string.sub(keys[1], 1, -4)
  local out = {}
  for _, e in ipairs(redis.call('XRANGE', keys[1], args[1], args[2], 'COUNT', args[3])) do
    local pseudonym = entry_field(e[2], 'p')
    local key = pseudonym and redis.call('HGET', prefix .. 'k:' .. pseudonym, e[1]) or false
    out[#out + 1] = {e[1], e[2], key}
  end
  return out
end

-- KEYS: state, history, log, erasures[, index[, minute, day[, pseudonym,
-- compaction[, link]]]] (link: version 8, see IDENTIFY) (index: version 2,
-- derived from the history's name when absent; the write counters of put:
-- version 3, likewise; the pseudonym key, likewise, and the partition's
-- compaction marker: version 5).
-- ARGV: retention_ms. Deletes the visitor's keys and its data keys: its
-- sealed log entries stay, unreadable; its legacy entries ({v, r}) are
-- XDEL'd. With the marker, notes when the first erasure not yet compacted
-- on disk happened (SET NX: consentd_compact_take).
-- Returns how many keys and log entries were deleted.
local function erase(keys, args)
  local retention = tonumber(args[1])
  if retention == nil or retention < 1 then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local index = keys[5] or visitor_key(keys[2], 'x')
  -- Entries past the retention are named by no history or index: trim them.
  redis.call('XTRIM', keys[3], 'MINID', math.max(now_ms() - retention, 0))
  local ids = {}
  for _, e in ipairs(redis.call('LRANGE', keys[2], 0, -1)) do
    local lid = entry_log_id(e)
    if lid ~= nil then
      ids[#ids + 1] = lid
    end
  end
  for _, lid in ipairs(redis.call('LRANGE', index, 0, -1)) do
    ids[#ids + 1] = lid
  end
  -- Only the legacy entries: a sealed one stays, as ciphertext.
  local legacy = {}
  for _, lid in ipairs(ids) do
    local e = redis.call('XRANGE', keys[3], lid, lid)[1]
    if e and entry_field(e[2], 'v') then
      legacy[#legacy + 1] = lid
    end
  end
  local removed = 0
  for i = 1, #legacy, 100 do
    removed = removed + redis.call('XDEL', keys[3], unpack(legacy, i, math.min(i + 99, #legacy)))
  end
  local pseudonym_key = keys[8] or visitor_key(keys[2], 'p')
  local pseudonym = redis.call('GET', pseudonym_key)
  if pseudonym then
    removed = removed + redis.call('DEL', pseudonym_key, data_keys(pseudonym_key, pseudonym))
  end
  if keys[9] then
    redis.call('SET', keys[9], now_ms(), 'NX', 'PX', args[1])
  end
  -- The write counters name the visitor too.
  local minute = keys[6] or visitor_key(keys[2], 'wm')
  local day = keys[7] or visitor_key(keys[2], 'wd')
  removed = removed + redis.call('DEL', keys[1], keys[2], index, minute, day)
  redis.call('INCR', keys[4])
  redis.call('PEXPIRE', keys[4], args[1])
  -- Version 8: the visitor's identify link goes too; the answer names the
  -- user ('' for none), whose record consentd then unlinks (its own slot).
  if keys[10] then
    local user = redis.call('GET', keys[10]) or ''
    removed = removed + redis.call('DEL', keys[10])
    return {removed, user}
  end
  return removed
end

-- IDENTIFY (version 8, issue 20 item 7): a logged-in visitor's choice
-- follows its user. The visitor's link is in the visitor's slot, the user's
-- record in the user's own ({<site>:u:<user>}): two calls, never one.
--
-- consentd_identify_link. KEYS: the visitor's state, its link (u:<visitor>).
-- ARGV: user (hex pseudonym), ttl_ms. Links the visitor to the user and
-- answers the visitor's current state (nil when none).
local function identify_link(keys, args)
  local ttl = tonumber(args[2])
  if not string.match(args[1] or '', '^%x+$') or ttl == nil or ttl < 1 then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  redis.call('SET', keys[2], args[1], 'PX', ttl)
  return redis.call('GET', keys[1])
end

-- consentd_user_choice. KEYS: the user's record (HASH r: record, t: its
-- issued_at ms, v: the visitor who made it). ARGV: visitor ('' when the
-- site's server asks for no visitor: then no record), record ('' for none),
-- issued_at_ms, expires_at_ms. Keeps the newer of the stored record and the
-- one given (the key expires with the record it keeps), and answers
-- {record, visitor} of the newest (nils when none).
local function user_choice(keys, args)
  local t, e = tonumber(args[3]), tonumber(args[4])
  if ((args[1] or '') == '' and (args[2] or '') ~= '') or t == nil or e == nil then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  if (args[2] or '') ~= '' and e > now_ms() then
    local had = tonumber(redis.call('HGET', keys[1], 't') or '')
    if had == nil or had < t then
      redis.call('HSET', keys[1], 'r', args[2], 't', args[3], 'v', args[1])
      redis.call('PEXPIREAT', keys[1], args[4])
    end
  end
  return redis.call('HMGET', keys[1], 'r', 'v')
end

-- consentd_user_unlink. KEYS: the user's record. ARGV: an erased visitor.
-- Deletes the user's record if that visitor made it; answers keys deleted.
local function user_unlink(keys, args)
  if (args[1] or '') ~= '' and redis.call('HGET', keys[1], 'v') == args[1] then
    return redis.call('DEL', keys[1])
  end
  return 0
end

redis.register_function('consentd_identify_link', identify_link)
redis.register_function('consentd_user_choice', user_choice)
redis.register_function('consentd_user_unlink', user_unlink)
redis.register_function('consentd_put', put)
redis.register_function{function_name = 'consentd_visitor', callback = visitor,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'consentd_log_read', callback = log_read,
                        flags = {'no-writes'}}

-- KEYS: a partition's compaction marker (version 5). ARGV: due_ms.
-- Takes the marker when the erasure it notes happened at due_ms or before:
-- returns that time (and deletes the marker), else 0. Of many consentd nodes,
-- one takes it; it puts it back (consentd_compact_mark) if its compaction
-- fails.
local function compact_take(keys, args)
  local since = tonumber(redis.call('GET', keys[1]))
  if since == nil or since > (tonumber(args[1]) or 0) then
    return 0
  end
  redis.call('DEL', keys[1])
  return since
end

-- KEYS: a partition's compaction marker. ARGV: since_ms, ttl_ms. Puts back
-- a marker taken for a compaction that failed (kept when a newer one exists:
-- the older time wins, the disk bound counts from it).
local function compact_mark(keys, args)
  local since = tonumber(args[1])
  if since == nil or since < 1 or (tonumber(args[2]) or 0) < 1 then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local was = tonumber(redis.call('GET', keys[1]))
  if was == nil or was > since then
    redis.call('SET', keys[1], since, 'PX', args[2])
  end
  return 1
end

redis.register_function('consentd_compact_take', compact_take)
redis.register_function('consentd_compact_mark', compact_mark)

-- The packed row of a counter hash (version 9): cd:{<site>:stats}:<k>:<stamp>
-- -> cd:{<site>:stats}:p<k>:<stamp> (same tag). See consentd_stats_packed.
local function packed_key(hash)
  local head, kind, rest = string.match(hash, '^(.-}:)(%a+):(.*)$')
  return head .. 'p' .. kind .. ':' .. rest
end

-- The batches a sender's flushes applied (version 5): a sorted set of their
-- sequence numbers (score = member), the newest BATCH_WINDOW kept. Returns
-- 'new' (and remembers seq), 'seen' (applied before: skip it), or 'old'
-- (older than every number kept: whether it was applied cannot be told).
local BATCH_WINDOW = 128
local BATCH_TTL_MS = 3600000

local function batch_check(key, seq)
  if redis.call('ZSCORE', key, seq) then
    return 'seen'
  end
  local n = redis.call('ZCARD', key)
  if n >= BATCH_WINDOW then
    local lowest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if tonumber(seq) < tonumber(lowest[2]) then
      return 'old'
    end
  end
  redis.call('ZADD', key, seq, seq)
  if n + 1 > BATCH_WINDOW then
    redis.call('ZREMRANGEBYRANK', key, 0, n - BATCH_WINDOW)
  end
  redis.call('PEXPIRE', key, BATCH_TTL_MS)
  return 'new'
end

-- KEYS: the hour hash, the day hash, the day's HyperLogLog (one tag: {<site>:stats})
-- [, the sender's batches, the week's hash and HyperLogLog, the month's
-- hash and HyperLogLog (version 5)].
-- ARGV: [seq (with the batches key: the batch's number, > 0, unique per sender),]
-- hour_expire_at_ms, day_expire_at_ms, n, then n pairs field, increment,
-- then the visitor ids. Returns n; with the batches key, -1 when this batch
-- was applied before (nothing done: a retry whose first send ran), and an
-- error 'batch too old' when that cannot be told (nothing done).
local function count(keys, args)
  local o = 0
  if keys[4] then
    o = 1
    local seq = tonumber(args[1])
    if seq == nil or seq < 1 or seq ~= math.floor(seq) then
      return redis.error_reply('ERR consentd: bad arguments')
    end
  end
  local hour_at, day_at, n = tonumber(args[o + 1]), tonumber(args[o + 2]), tonumber(args[o + 3])
  if hour_at == nil or day_at == nil or n == nil or n < 0 or #args < o + 3 + 2 * n then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  if keys[4] then
    local seen = batch_check(keys[4], args[1])
    if seen == 'seen' then
      return -1
    elseif seen == 'old' then
      return redis.error_reply('ERR consentd: batch too old to tell whether it was applied')
    end
  end
  for i = o + 4, o + 3 + 2 * n, 2 do
    redis.call('HINCRBY', keys[1], args[i], args[i + 1])
    redis.call('HINCRBY', keys[2], args[i], args[i + 1])
  end
  if n > 0 then
    redis.call('PEXPIREAT', keys[1], hour_at)
    redis.call('PEXPIREAT', keys[2], day_at)
  end
  if #args > o + 3 + 2 * n then
    redis.call('PFADD', keys[3], unpack(args, o + 4 + 2 * n, #args))
    redis.call('PEXPIREAT', keys[3], day_at)
  end
  -- The week's and the month's rollups (version 5: KEYS 5..8, hash and
  -- HyperLogLog of each), once a stats query has built them: kept exact.
  local changed = {keys[1], keys[2]}
  for r = 5, 7, 2 do
    if keys[r] and redis.call('EXISTS', keys[r]) == 1 then
      for i = o + 4, o + 3 + 2 * n, 2 do
        redis.call('HINCRBY', keys[r], args[i], args[i + 1])
      end
      if #args > o + 3 + 2 * n then
        redis.call('PFADD', keys[r + 1], unpack(args, o + 4 + 2 * n, #args))
      end
      changed[#changed + 1] = keys[r]
    end
  end
  -- The packed rows of what changed (version 9) are no longer its sums:
  -- gone, the next query packs them again.
  if n > 0 or #args > o + 3 + 2 * n then
    local packed = {}
    for i = 1, #changed do
      packed[i] = packed_key(changed[i])
    end
    redis.call('DEL', unpack(packed))
  end
  return n
end

-- KEYS: the buckets' hashes (hours or days), then the days' HyperLogLogs.
-- ARGV: n_buckets, n_bucket_fields, n_total_fields, per_day (1: PFCOUNT each day),
-- then the bucket fields and the total fields.
-- Returns {rows, totals, uniques, unique_total}: rows[i] the values of the bucket
-- fields in bucket i, comma-separated; totals the sums of the total fields over
-- every bucket, comma-separated; uniques the PFCOUNT of each day (when per_day);
-- unique_total the PFCOUNT of all the days together (their union).
-- Not flagged no-writes: Redis refuses PFCOUNT there (it may rewrite the cached
-- cardinality inside the HyperLogLog); nothing else is written.
local function stats(keys, args)
  local nb, nbf, ntf = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  if nb == nil or nbf == nil or ntf == nil or nb > #keys or #args ~= 4 + nbf + ntf then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local fields = {}
  for j = 1, nbf + ntf do
    fields[j] = args[4 + j]
  end
  local rows, totals = {}, {}
  for j = 1, ntf do
    totals[j] = 0
  end
  for i = 1, nb do
    local row = {}
    if redis.call('EXISTS', keys[i]) == 1 then
      local v = redis.call('HMGET', keys[i], unpack(fields))
      for j = 1, nbf do
        row[j] = tonumber(v[j]) or 0
      end
      for j = 1, ntf do
        totals[j] = totals[j] + (tonumber(v[nbf + j]) or 0)
      end
      rows[i] = table.concat(row, ',')
    else
      rows[i] = ''
    end
  end
  for j = 1, ntf do
    totals[j] = string.format('%.0f', totals[j])
  end
  local uniques, unique_total = {}, 0
  if #keys > nb then
    if args[4] == '1' then
      for d = nb + 1, #keys do
        uniques[#uniques + 1] = redis.call('PFCOUNT', keys[d])
      end
    end
    unique_total = redis.call('PFCOUNT', unpack(keys, nb + 1, #keys))
  end
  return {rows, table.concat(totals, ','), uniques, unique_total}
end

-- THE HASH CHAINS (version 6). The hashes are computed by consentd (C), not
-- here: Redis' Lua has no SHA-256. A chain entry has the id of the log entry
-- it covers, and fields n (the entry's n) and h (the chain value, 64 hex).

-- The last entry of a stream: {id, fields} or nil.
local function stream_last(key)
  return redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
end

local function field(fields, name)
  for i = 1, #fields - 1, 2 do
    if fields[i] == name then
      return fields[i + 1]
    end
  end
  return nil
end

-- KEYS: chain, log. ARGV: max. Returns {last id, last n, last h} of the chain
-- ('' each when it is empty), then the log entries after the last id (from
-- the log's start when empty), at most max, as XRANGE gives them.
local function chain_pending(keys, args)
  local max = tonumber(args[1])
  if max == nil or max < 1 then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local last = stream_last(keys[1])
  local head = {'', '', ''}
  local from = '-'
  if last then
    head = {last[1], field(last[2], 'n') or '', field(last[2], 'h') or ''}
    from = '(' .. last[1]
  end
  return {head, redis.call('XRANGE', keys[2], from, '+', 'COUNT', max)}
end

-- KEYS: chain[, log]. ARGV: expected last id ('' for an empty chain),
-- retention_ms, then triples id, n, h in id order. Appends them only when the
-- chain's last id is still the expected one (compare-and-set: two nodes never
-- write two chains), trims it to the log's first entry (so that it never
-- drops the value of an entry the log still holds; without the log key, or
-- with an empty log, MINID now - retention) and keeps it a retention.
-- Returns how many were appended, or -1 when the chain moved.
local function chain_append(keys, args)
  local retention = tonumber(args[2])
  if retention == nil or retention < 1 or (#args - 2) % 3 ~= 0 then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local last = stream_last(keys[1])
  if (last and last[1] or '') ~= args[1] then
    return -1
  end
  for i = 3, #args, 3 do
    redis.call('XADD', keys[1], args[i], 'n', args[i + 1], 'h', args[i + 2])
  end
  local first = keys[2] and redis.call('XRANGE', keys[2], '-', '+', 'COUNT', 1)[1]
  redis.call('XTRIM', keys[1], 'MINID', first and first[1] or math.max(now_ms() - retention, 0))
  redis.call('PEXPIRE', keys[1], retention)
  return (#args - 2) / 3
end

-- KEYS: log, chain. ARGV: start (an XRANGE bound: '-' or '(<id>'), max.
-- Returns {id, fields, h or ''} for the log entries from start, at most max:
-- the raw log with the chain value of each entry already chained.
local function log_raw(keys, args)
  local entries = redis.call('XRANGE', keys[1], args[1], '+', 'COUNT', tonumber(args[2]) or 0)
  local out = {}
  if #entries == 0 then
    return out
  end
  local hs = {}
  for _, c in ipairs(redis.call('XRANGE', keys[2], entries[1][1], entries[#entries][1])) do
    hs[c[1]] = field(c[2], 'h')
  end
  for i, e in ipairs(entries) do
    out[i] = {e[1], e[2], hs[e[1]] or ''}
  end
  return out
end

-- KEYS: log, chain. ARGV: id, max. The material of an inclusion proof:
-- {fields of the log entry id (false when there is none), its chain value
-- ('' until chained), the chain's entry before it: h and n ('' when none),
-- the log entries after it, at most max, as XRANGE gives them}.
local function log_inclusion(keys, args)
  local max = tonumber(args[2])
  if max == nil or max < 1 then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local e = redis.call('XRANGE', keys[1], args[1], args[1])[1]
  if not e then
    return {false, '', '', '', {}}
  end
  local c = redis.call('XRANGE', keys[2], args[1], args[1])[1]
  local before = redis.call('XREVRANGE', keys[2], '(' .. args[1], '-', 'COUNT', 1)[1]
  return {e[2], c and field(c[2], 'h') or '', before and field(before[2], 'h') or '',
          before and field(before[2], 'n') or '',
          redis.call('XRANGE', keys[1], '(' .. args[1], '+', 'COUNT', max)}
end

-- KEYS: checkpoints (tag {<site>:log}). ARGV: expected last id ('' for none),
-- the checkpoint (a JWS), root (64 hex: what it covers), retention_ms.
-- Appends it only when the last checkpoint is still the expected one
-- (compare-and-set: one linear sequence, even when a lease expired mid-way);
-- trims and keeps the stream a retention. Returns its id, or '' when the
-- sequence moved.
local function checkpoint_add(keys, args)
  local retention = tonumber(args[4])
  if retention == nil or retention < 1 or args[2] == '' then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local last = stream_last(keys[1])
  if (last and last[1] or '') ~= args[1] then
    return ''
  end
  local id = redis.call('XADD', keys[1], 'MINID', math.max(now_ms() - retention, 0), '*',
                        'jws', args[2], 'root', args[3])
  redis.call('PEXPIRE', keys[1], retention)
  return id
end

redis.register_function{function_name = 'consentd_chain_pending', callback = chain_pending,
                        flags = {'no-writes'}}
redis.register_function('consentd_chain_append', chain_append)
redis.register_function{function_name = 'consentd_log_raw', callback = log_raw,
                        flags = {'no-writes'}}
redis.register_function('consentd_checkpoint_add', checkpoint_add)
redis.register_function{function_name = 'consentd_log_inclusion', callback = log_inclusion,
                        flags = {'no-writes'}}

-- The day after stamp, both 'YYYYMMDD' (UTC, Gregorian).
local function next_day(stamp)
  local y, m, d = tonumber(string.sub(stamp, 1, 4)), tonumber(string.sub(stamp, 5, 6)),
    tonumber(string.sub(stamp, 7, 8))
  local dim = ({31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31})[m]
  if m == 2 and ((y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0) then
    dim = 29
  end
  d = d + 1
  if d > dim then
    d, m = 1, m + 1
    if m > 12 then
      y, m = y + 1, 1
    end
  end
  return string.format('%04d%02d%02d', y, m, d)
end

-- A rollup (hash, hll) of nd days from day (YYYYMMDD), expiring at exp:
-- built from its days (summed, their HyperLogLogs merged; their keys, same
-- tag, are named here from the rollup's) unless built before (field '_').
-- Nothing for nd = 0 (a day or an hour).
local function rollup_build(hash, hll, nd, exp, day)
  if nd == 0 or redis.call('HEXISTS', hash, '_') == 1 then
    return
  end
  local head = string.match(hash, '^(.-}:)')
  local hlls = {}
  for d = 1, nd do
    local flat = redis.call('HGETALL', head .. 'd:' .. day)
    for i = 1, #flat, 2 do
      redis.call('HINCRBY', hash, flat[i], flat[i + 1])
    end
    hlls[d] = head .. 'u:' .. day
    day = next_day(day)
  end
  redis.call('HSET', hash, '_', '1')
  redis.call('PFMERGE', hll, unpack(hlls))
  redis.call('PEXPIREAT', hash, exp)
  redis.call('PEXPIREAT', hll, exp)
end

-- Stats by day, week or month (version 5). A unit is a hash and a
-- HyperLogLog: a day's, or a rollup (a week's or a month's) of n days from
-- a first day. A rollup is built the first time a query needs it, from its
-- days (summed, their HyperLogLogs merged; their keys, same tag, are named
-- here from the rollup's), marked with the field '_', and from then on kept
-- exact by consentd_count, which adds to the rollups that exist. So a query
-- reads a handful of rollups, not every day.
-- KEYS: per unit: hash, HyperLogLog.
-- ARGV: n_bucket_fields, n_total_fields, uniques (1: PFCOUNT of each row and
-- of the union; 2 (version 7: rows that are hours): of the union only), n_units,
-- n_rows, the bucket fields and the total fields, per unit: n_days,
-- expire_at_ms and first day (YYYYMMDD) of a rollup (0, 0, '' for a day),
-- then n_totals and the units (1-based) whose sums are the totals, then
-- n_unions and the units whose HyperLogLogs' union is the range's visitors
-- (each list disjoint, covering the range). The first n_rows units are the
-- rows.
-- Returns {rows, totals, row uniques, unique_total}: each row the array of
-- its values (nil: 0), totals an array of such arrays (one per unit of the
-- totals) for consentd to add up.
local function stats_by(keys, args)
  local nbf, ntf = tonumber(args[1]), tonumber(args[2])
  local uniq, row_uniq = args[3] == '1' or args[3] == '2', args[3] == '1'
  local nunits, nrows = tonumber(args[4]), tonumber(args[5])
  if nbf == nil or ntf == nil or nunits == nil or nrows == nil or nrows > nunits then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local at = 6
  local bfields, tfields = {}, {}
  for j = 1, nbf do
    bfields[j] = args[at]
    at = at + 1
  end
  for j = 1, ntf do
    tfields[j] = args[at]
    at = at + 1
  end
  if 2 * nunits ~= #keys then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local units = {}
  for u = 1, nunits do
    local nd, exp, day = tonumber(args[at]), tonumber(args[at + 1]), args[at + 2]
    if nd == nil or exp == nil or (nd > 0 and not string.match(day, '^%d%d%d%d%d%d%d%d$')) then
      return redis.error_reply('ERR consentd: bad arguments')
    end
    at = at + 3
    local hash, hll = keys[2 * u - 1], keys[2 * u]
    rollup_build(hash, hll, nd, exp, day)
    units[u] = {hash, hll}
  end
  -- A row is HMGET's answer as is (nil for a field never counted, a whole
  -- row of them for a day without a count): consentd reads the numbers,
  -- which costs Lua nothing.
  local rows, uniques = {}, {}
  for i = 1, nrows do
    rows[i] = redis.call('HMGET', units[i][1], unpack(bfields))
    if row_uniq then
      uniques[i] = redis.call('PFCOUNT', units[i][2])
    end
  end
  -- The totals: HMGET's answer for each unit of the totals (consentd adds
  -- them up); the visitors: the union of the HyperLogLogs of the units of
  -- the union.
  local totals, hlls = {}, {}
  local ntot = tonumber(args[at]) or 0
  local nuni = tonumber(args[at + ntot + 1]) or 0
  for t = 1, ntot do
    local u = units[tonumber(args[at + t])]
    if u == nil then
      return redis.error_reply('ERR consentd: bad arguments')
    end
    totals[t] = ntf > 0 and redis.call('HMGET', u[1], unpack(tfields)) or {}
  end
  for t = 1, nuni do
    local u = units[tonumber(args[at + ntot + 1 + t])]
    if u == nil then
      return redis.error_reply('ERR consentd: bad arguments')
    end
    hlls[t] = u[2]
  end
  local unique_total = 0
  if uniq and #hlls > 0 then
    unique_total = redis.call('PFCOUNT', unpack(hlls))
  end
  return {rows, totals, uniques, unique_total}
end

-- PACKED ROWS (version 9). A query that reads a unit's hash field by field
-- (HMGET of ~50 fields of 288) spends its time moving values through Lua,
-- half a microsecond each way. A unit whose time is over (a closed hour,
-- day, week or month) no longer changes but for a late flush, so it is
-- packed once into one string, key p<k>: beside its hash (ph:, pd:, pw:,
-- pm:, same stamp, same expiry), and a query reads one short string per row:
--   "<unique visitors>\n<list id>\n<value> <value> ..."
-- the values of every field of the hash ('_' left out) in the order of its
-- field list: the field names, sorted, joined by '\n', stored once under
-- pf:<list id> (list id = SHA-1 of the list, hex) and shared by every row
-- with the same fields (a site's rows almost all have the same ones); it
-- lives as long as the longest-lived row that names it. Unique visitors is
-- PFCOUNT of the unit's HyperLogLog (0 for an hour: its HyperLogLog is its
-- day's). consentd_count deletes the packed rows of every hash it changes,
-- in the same atomic call, so a packed row is always its hash's sums; the
-- next query packs it again. A unit not over yet (or whose hash has no
-- expiry: not written by consentd_count) is packed for the answer but not
-- kept. lists (a table list id -> list) gathers the lists a call names.
-- The packed row of hash, its uniques given (a decimal string); its list
-- added to lists. Returns the row, the hash's field count, the list's id.
local function pack_row(hash, uniques, lists)
  local flat = redis.call('HGETALL', hash)
  local value, names = {}, {}
  for i = 1, #flat, 2 do
    if flat[i] ~= '_' then
      names[#names + 1] = flat[i]
      value[flat[i]] = flat[i + 1]
    end
  end
  table.sort(names)
  local values = {}
  for i = 1, #names do
    values[i] = value[names[i]]
  end
  local list = table.concat(names, '\n')
  local id = redis.sha1hex(list)
  lists[id] = list
  return uniques .. '\n' .. id .. '\n' .. table.concat(values, ' '), #flat, id
end

local function pack(hash, hll, packed, end_ms, now, lists)
  local kind = string.match(hash, '}:(%a+):')
  local row, nfields, id = pack_row(hash,
    kind == 'h' and '0' or tostring(redis.call('PFCOUNT', hll)), lists)
  if end_ms <= now and nfields > 0 then
    local at = redis.call('PEXPIRETIME', hash)
    if at > 0 then
      local lkey = string.match(hash, '^(.-}:)') .. 'pf:' .. id
      if not redis.call('SET', lkey, lists[id], 'NX', 'PXAT', at) then
        redis.call('PEXPIREAT', lkey, at, 'GT')
      end
      redis.call('SET', packed, row, 'PXAT', at)
    end
  end
  return row
end

-- The packed rows of units (each {hash, hll, packed, end_ms}): one MGET,
-- then each row not packed yet (or whose list is gone) packed; with
-- readonly (consentd_stats_read), by fallback(i, unit) instead.
local function packed_rows(units, now, lists, fallback)
  local rows = {}
  if #units == 0 then
    return rows
  end
  local names = {}
  for i = 1, #units do
    names[i] = units[i][3]
  end
  local got = redis.call('MGET', unpack(names))
  for i = 1, #units do
    local row, u = got[i], units[i]
    if row then
      local id = string.match(row, '^%d+\n(%x+)\n')
      if id and lists[id] == nil then
        lists[id] = redis.call('GET', string.match(u[1], '^(.-}:)') .. 'pf:' .. id)
      end
      if not (id and lists[id]) then
        row = nil
      end
    end
    if row then
      rows[i] = row
    elseif fallback then
      rows[i] = fallback(i, u)
    else
      rows[i] = pack(u[1], u[2], u[3], u[4], now, lists)
    end
  end
  return rows
end

-- Stats by hour, day, week or month from packed rows (version 9): the
-- units, rows, totals and union of consentd_stats_by, each unit with its
-- packed row.
-- KEYS: per unit: hash, HyperLogLog, packed row.
-- ARGV: uniques (0: none, else the PFCOUNT of the union), n_units, n_rows,
-- per unit: n_days, expire_at_ms and first day (YYYYMMDD) of a rollup (0,
-- 0, '' for an hour or a day) and the unit's end (Unix ms), then n_totals
-- and the units (1-based) whose sums are the totals, then n_unions and the
-- units whose HyperLogLogs' union is the range's visitors. The first n_rows
-- units are the rows.
-- Returns {rows, totals, unique_total, lists}: the packed row of each row
-- unit and of each unit of the totals (consentd reads the fields it wants
-- and adds up the totals), the union's PFCOUNT, and the field lists the
-- rows name, flat: id, list, id, list...
-- The arguments of consentd_stats_packed and consentd_stats_read: the
-- units ({hash, hll, packed, end_ms, n_days, expire_at_ms, first day}),
-- the units wanted (the rows, then those of the totals) and the
-- HyperLogLogs of the union; nil when they are not of that form.
local function stats_args(keys, args)
  local nunits, nrows = tonumber(args[2]), tonumber(args[3])
  if nunits == nil or nrows == nil or nrows > nunits or 3 * nunits ~= #keys then
    return nil
  end
  local at = 4
  local units = {}
  for u = 1, nunits do
    local nd, exp, day, ends = tonumber(args[at]), tonumber(args[at + 1]), args[at + 2],
      tonumber(args[at + 3])
    if nd == nil or exp == nil or ends == nil or
        (nd > 0 and not string.match(day, '^%d%d%d%d%d%d%d%d$')) then
      return nil
    end
    units[u] = {keys[3 * u - 2], keys[3 * u - 1], keys[3 * u], ends, nd, exp, day}
    at = at + 4
  end
  local ntot = tonumber(args[at]) or 0
  local nuni = tonumber(args[at + ntot + 1]) or 0
  local wanted, hlls = {}, {}
  for i = 1, nrows do
    wanted[i] = units[i]
  end
  for t = 1, ntot + nuni do
    local u = tonumber(args[t <= ntot and at + t or at + 1 + t])
    if u == nil or u < 1 or u > nunits then
      return nil
    end
    if t <= ntot then
      wanted[nrows + t] = units[u]
    else
      hlls[t - ntot] = units[u][2]
    end
  end
  return units, wanted, hlls, nrows, ntot
end

-- {rows, totals} from the rows wanted, and the lists as a flat array.
local function stats_reply(got, nrows, ntot, lists)
  local rows, totals, flat = {}, {}, {}
  for i = 1, nrows do
    rows[i] = got[i]
  end
  for t = 1, ntot do
    totals[t] = got[nrows + t]
  end
  for id, list in pairs(lists) do
    flat[#flat + 1] = id
    flat[#flat + 1] = list
  end
  return rows, totals, flat
end

local function stats_packed(keys, args)
  local units, wanted, hlls, nrows, ntot = stats_args(keys, args)
  if units == nil then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local now = now_ms()
  for _, u in ipairs(units) do
    rollup_build(u[1], u[2], u[5], u[6], u[7])
  end
  local lists = {}
  local rows, totals, flat = stats_reply(packed_rows(wanted, now, lists), nrows, ntot, lists)
  local unique_total = 0
  if args[1] ~= '0' and #hlls > 0 then
    unique_total = redis.call('PFCOUNT', unpack(hlls))
  end
  return {rows, totals, unique_total, flat}
end

-- The same read without a write (version 9, flagged no-writes: FCALL_RO,
-- and a replica, docs/scaling.md): nothing packed, no rollup built, and no
-- PFCOUNT (Redis refuses it in a read-only function: it may rewrite the
-- HyperLogLog's cached count). A unit whose time is not over (or whose hash
-- has no expiry) is packed for the answer with its unique visitors left to
-- consentd (uncounted: the 1-based places among the rows and totals whose
-- count consentd asks with PFCOUNT, as it asks the union's); a closed unit
-- not packed yet, or a rollup not built yet, is missing: consentd then asks
-- the primary (consentd_stats_packed), which packs it for the next time.
-- KEYS and ARGV: consentd_stats_packed's.
-- Returns {rows, totals, 0, lists, missing, uncounted}; when missing > 0,
-- rows, totals, lists and uncounted are empty.
local function stats_read(keys, args)
  local units, wanted, _, nrows, ntot = stats_args(keys, args)
  if units == nil then
    return redis.error_reply('ERR consentd: bad arguments')
  end
  local missing, uncounted, lists = 0, {}, {}
  for _, u in ipairs(units) do
    if u[5] > 0 and redis.call('HEXISTS', u[1], '_') == 0 then
      missing = missing + 1
    end
  end
  if missing > 0 then
    return {{}, {}, 0, {}, missing, {}}
  end
  local now = now_ms()
  local got = packed_rows(wanted, now, lists, function(i, u)
    if u[4] <= now and redis.call('PEXPIRETIME', u[1]) > 0 then
      missing = missing + 1
      return ''
    end
    if not string.match(u[1], '}:h:') and redis.call('EXISTS', u[2]) == 1 then
      uncounted[#uncounted + 1] = i
    end
    return (pack_row(u[1], '0', lists))
  end)
  if missing > 0 then
    return {{}, {}, 0, {}, missing, {}}
  end
  local rows, totals, flat = stats_reply(got, nrows, ntot, lists)
  return {rows, totals, 0, flat, 0, uncounted}
end

redis.register_function('consentd_erase', erase)
redis.register_function('consentd_count', count)
redis.register_function('consentd_stats', stats)
redis.register_function('consentd_stats_by', stats_by)
redis.register_function('consentd_stats_packed', stats_packed)
redis.register_function{function_name = 'consentd_stats_read', callback = stats_read,
                        flags = {'no-writes'}}

-- SCAN SUMMARIES (version 10). KEYS[1] = cd:{<site>:scans}:list; ARGV[1] =
-- the summary (JSON, validated by consentd), ARGV[2] = how many to keep.
-- Pushes it first and drops the oldest beyond the cap (RPOP with a count:
-- the same cap as LTRIM, within the commands consentd's ACL user has).
-- Returns 1.
local function scan_add(keys, args)
  local keep = tonumber(args[2])
  local n = redis.call('LPUSH', keys[1], args[1])
  if n > keep then
    redis.call('RPOP', keys[1], n - keep)
  end
  return 1
end

redis.register_function('consentd_scan_add', scan_add)

-- SITE API KEYS (version 11). KEYS[1] = cd:{<site>:keys}:k, a hash: field =
-- the SHA-256 (hex) of a key's secret, value = its record (JSON text written
-- by consentd: name, scopes, created_at, created_by). Names are unique per
-- site; at most ARGV[4] keys.
-- consentd_key_add: ARGV sha, name, record, max. Returns 'added', 'exists'
-- (a key of that name, or that hash, is there: nothing written) or 'full'.
local function key_named(hash, name)
  local all = redis.call('HGETALL', hash)
  for i = 1, #all, 2 do
    local ok, rec = pcall(cjson.decode, all[i + 1])
    if ok and type(rec) == 'table' and rec.name == name then
      return all[i], #all / 2
    end
  end
  return nil, #all / 2
end

local function key_add(keys, args)
  local found, n = key_named(keys[1], args[2])
  if found or redis.call('HEXISTS', keys[1], args[1]) == 1 then
    return 'exists'
  end
  if n >= tonumber(args[4]) then
    return 'full'
  end
  redis.call('HSET', keys[1], args[1], args[3])
  return 'added'
end

-- consentd_key_delete: ARGV name. Returns 1 when a key of that name was
-- deleted, 0 when there was none.
local function key_delete(keys, args)
  local found = key_named(keys[1], args[1])
  if not found then
    return 0
  end
  redis.call('HDEL', keys[1], found)
  return 1
end

-- consentd_key_list: the records, as one JSON array (their text as stored).
local function key_list(keys)
  local all = redis.call('HGETALL', keys[1])
  local out = {}
  for i = 2, #all, 2 do
    out[#out + 1] = all[i]
  end
  return '[' .. table.concat(out, ',') .. ']'
end

redis.register_function('consentd_key_add', key_add)
redis.register_function('consentd_key_delete', key_delete)
redis.register_function{function_name = 'consentd_key_list', callback = key_list,
                        flags = {'no-writes'}}
-- SITES IN REDIS (version 12, issue 22 item 1; key layout: src/store.c, SITE
-- CONFIGURATION). KEYS[1] is the site's head, cd:{<site>:site}:head; its
-- versions and its draft are named from it (same tag, same slot), as the banner
-- list names its versions. Every reply is one JSON text (cjson), so that
-- store.c passes bytes up and nothing above it reads a Redis reply.
local function site_key(head, what)
  return string.sub(head, 1, -5) .. what
end

local function site_num(v)
  return tonumber(v) or 0
end

-- ARGV: canonical json, who, message, parent ('' or a version number),
-- publish (1: yes; 2: only a new version, or when none is published: an
-- import; 0: no), expected published version ('' for any). A version equal
-- to the newest one (same json) is not made again: that version is answered
-- (created false), and published if asked: an import or a retried call is
-- idempotent, and an unchanged import does not undo a roll back. Publishing
-- checks the expected published version (the publish with a policy bump was
-- computed from it): else conflict.
local function site_commit(keys, args)
  local head = keys[1]
  local last = site_num(redis.call('HGET', head, 'last'))
  local pub = site_num(redis.call('HGET', head, 'pub'))
  if args[5] == '1' and args[6] ~= '' and site_num(args[6]) ~= pub then
    return cjson.encode({conflict = true, published = pub})
  end
  local n, created = last, false
  if last == 0 or redis.call('HGET', site_key(head, 'v:' .. last), 'json') ~= args[1] then
    n, created = last + 1, true
    local parent = args[4]
    if parent == '' then parent = tostring(last) end
    redis.call('HSET', site_key(head, 'v:' .. n), 'json', args[1], 'who', args[2],
               'at', now_ms(), 'msg', args[3], 'parent', parent)
    redis.call('HSET', head, 'last', n)
  end
  if args[5] == '1' or (args[5] == '2' and (created or pub == 0)) then
    redis.call('HSET', head, 'pub', n, 'pub_at', now_ms(), 'pub_who', args[2])
    pub = n
  end
  return cjson.encode({version = n, created = created, published = pub})
end

-- ARGV: version number, who, expected published version ('' for any).
local function site_publish(keys, args)
  local head = keys[1]
  local n = site_num(args[1])
  local pub = site_num(redis.call('HGET', head, 'pub'))
  if n < 1 or redis.call('EXISTS', site_key(head, 'v:' .. n)) == 0 then
    return cjson.encode({missing = true, published = pub})
  end
  if args[3] ~= '' and site_num(args[3]) ~= pub then
    return cjson.encode({conflict = true, published = pub})
  end
  redis.call('HSET', head, 'pub', n, 'pub_at', now_ms(), 'pub_who', args[2])
  return cjson.encode({published = n, previous = pub})
end

-- ARGV: canonical json, who, expected revision (0: no draft yet). The last
-- writer loses: a revision that is not the current one changes nothing. A
-- call sent again after it was applied (the revision after the expected one
-- holds the same json from the same writer) answers that revision.
local function site_draft_put(keys, args)
  local draft = site_key(keys[1], 'draft')
  local rev = site_num(redis.call('HGET', draft, 'rev'))
  if rev == site_num(args[3]) + 1 then
    local d = redis.call('HMGET', draft, 'json', 'who')
    if d[1] == args[1] and d[2] == args[2] then
      return cjson.encode({revision = rev})
    end
  end
  if site_num(args[3]) ~= rev then
    return cjson.encode({conflict = true, revision = rev})
  end
  rev = rev + 1
  redis.call('HSET', draft, 'json', args[1], 'who', args[2], 'at', now_ms(), 'rev', rev,
             'base', site_num(redis.call('HGET', keys[1], 'pub')))
  return cjson.encode({revision = rev})
end

-- ARGV (optional, since version 14): 'revision' leaves the document out:
-- the list of sites reads each draft's revision only.
local function site_draft_get(keys, args)
  if args[1] == 'revision' then
    local rev = redis.call('HGET', site_key(keys[1], 'draft'), 'rev')
    return cjson.encode({revision = site_num(rev)})
  end
  local d = redis.call('HMGET', site_key(keys[1], 'draft'), 'json', 'who', 'at', 'rev', 'base')
  if not d[1] then
    return cjson.encode({revision = 0, published = site_num(redis.call('HGET', keys[1], 'pub'))})
  end
  return cjson.encode({json = d[1], who = d[2], at = site_num(d[3]), revision = site_num(d[4]),
                       base = site_num(d[5])})
end

-- ARGV: limit. The newest versions first, without their json.
local function site_versions(keys, args)
  local h = redis.call('HMGET', keys[1], 'last', 'pub', 'pub_at', 'pub_who')
  local last = site_num(h[1])
  local out = {}
  local n = last
  while n >= 1 and #out < site_num(args[1]) do
    local v = redis.call('HMGET', site_key(keys[1], 'v:' .. n), 'who', 'at', 'msg', 'parent')
    out[#out + 1] = {version = n, who = v[1] or '', at = site_num(v[2]), message = v[3] or '',
                     parent = site_num(v[4])}
    n = n - 1
  end
  return cjson.encode({last = last, published = site_num(h[2]), published_at = site_num(h[3]),
                       published_by = h[4] or '', versions = out})
end

-- ARGV: a version number, or 'published'.
local function site_version_get(keys, args)
  local pub = site_num(redis.call('HGET', keys[1], 'pub'))
  local n = args[1] == 'published' and pub or site_num(args[1])
  local v = redis.call('HMGET', site_key(keys[1], 'v:' .. n), 'json', 'who', 'at', 'msg',
                       'parent')
  if n < 1 or not v[1] then
    return cjson.encode({missing = true, published = pub})
  end
  return cjson.encode({version = n, json = v[1], who = v[2], at = site_num(v[3]), message = v[4],
                       parent = site_num(v[5]), published = pub})
end

-- The registry, KEYS[1] = cd:{sites}:registry (HASH site id -> its published
-- version): the whole of it, as {"<id>": version}.
local function sites_list(keys)
  local all = redis.call('HGETALL', keys[1])
  local out = {}
  for i = 1, #all, 2 do
    out[all[i]] = site_num(all[i + 1])
  end
  return cjson.encode({sites = out})
end

redis.register_function('consentd_site_commit', site_commit)
redis.register_function('consentd_site_publish', site_publish)
redis.register_function('consentd_site_draft_put', site_draft_put)
redis.register_function{function_name = 'consentd_site_draft_get', callback = site_draft_get,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'consentd_site_versions', callback = site_versions,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'consentd_site_version_get',
                        callback = site_version_get, flags = {'no-writes'}}
redis.register_function{function_name = 'consentd_sites_list', callback = sites_list,
                        flags = {'no-writes'}}

-- KEYS[1] the registry; ARGV: site id, its published version, channel. Notes
-- the version in the registry and announces "<id> <version>" on the channel
-- (on a cluster, PUBLISH reaches every node's subscribers). Idempotent.
local function sites_mark(keys, args)
  redis.call('HSET', keys[1], args[1], args[2])
  local heard = redis.call('PUBLISH', args[3], args[1] .. ' ' .. args[2])
  return cjson.encode({heard = heard})
end

redis.register_function('consentd_sites_mark', sites_mark)

-- THE CONSOLE (version 13, issue 22 items 2 and 3; key layout: src/store.c,
-- SITE CONFIGURATION). KEYS[1] is the site's head, as above.

-- A preview of an unsaved document. ARGV: canonical json, preview id, ttl
-- (ms). NX: an id is never reused (it is 144 random bits: never happens).
local function site_preview_put(keys, args)
  local ok = redis.call('SET', site_key(keys[1], 'preview:' .. args[2]), args[1], 'PX', args[3],
                        'NX')
  return cjson.encode({stored = ok ~= false})
end

-- ARGV: preview id. {json} or {missing} once it expired.
local function site_preview_get(keys, args)
  local json = redis.call('GET', site_key(keys[1], 'preview:' .. args[1]))
  if not json then
    return cjson.encode({missing = true})
  end
  return cjson.encode({json = json})
end

-- A new site (POST /v1/sites). ARGV: canonical json, who, message. Version 1
-- and the draft (revision 1), not published; a site that has a version or a
-- draft already exists: nothing is written.
local function site_create(keys, args)
  local head = keys[1]
  local draft = site_key(head, 'draft')
  if site_num(redis.call('HGET', head, 'last')) > 0 or redis.call('EXISTS', draft) == 1 then
    return cjson.encode({exists = true})
  end
  local now = now_ms()
  redis.call('HSET', site_key(head, 'v:1'), 'json', args[1], 'who', args[2], 'at', now,
             'msg', args[3], 'parent', 0)
  redis.call('HSET', head, 'last', 1)
  redis.call('HSET', draft, 'json', args[1], 'who', args[2], 'at', now, 'rev', 1, 'base', 0)
  return cjson.encode({version = 1, revision = 1})
end

redis.register_function('consentd_site_preview_put', site_preview_put)
redis.register_function{function_name = 'consentd_site_preview_get',
                        callback = site_preview_get, flags = {'no-writes'}}
redis.register_function('consentd_site_create', site_create)
