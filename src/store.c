/*
 * store.c - the consent records and acceptance counters in Redis: key
 * layout, the calls, and the versioned load of the server-side function
 * library (src/store.lua). The records' msgpack encoding: store_record.c.
 *
 * KEY LAYOUT (part of the on-disk format: changing anything here needs a
 * migration).
 *
 * Every consent key carries the hash tag {<site>:<p>}, where <site> is the
 * site id and <p> = store_partition(visitor), written in decimal (0..63). The
 * partition is FNV-1a (32 bit) of the visitor id's bytes, mod
 * STORE_PARTITIONS (64): both the hash and the count are fixed forever,
 * since they decide where every existing record lives. All keys one call
 * touches share one tag, hence one Redis Cluster slot.
 *
 *   key                            type    TTL                       content
 *   cd:{site:p}:s:<visitor>        STRING  PXAT expires_at_ms        the current record
 *   cd:{site:p}:h:<visitor>        LIST    log retention, from the   records with `log`,
 *                                          last write                newest first, <= 200
 *   cd:{site:p}:log                STREAM  log retention, from the   entries {p: pseudonym,
 *                                          last write; entries       c: sealed record}; id =
 *                                          trimmed by MINID          when Redis stored it
 *                                                                    (legacy: {v: visitor,
 *                                                                    r: record}, versions 1-4)
 *   cd:{site:p}:p:<visitor>        STRING  as the history            the visitor's pseudonym:
 *                                                                    16 random bytes, hex
 *   cd:{site:p}:k:<pseudonym>      HASH    as the history; fields    log entry id -> its data
 *                                          leave with their ids      key (32 random bytes)
 *   cd:{site:p}:x:<visitor>        LIST    log retention, from the   log entry ids of the
 *                                          last id pushed            visitor that left the
 *                                                                    history by its count,
 *                                                                    newest first (the index)
 *   cd:{site:p}:wm:<visitor>       STRING  60 s from the visitor's   integer: its writes in the
 *                                          first write in the window window (the write limit)
 *   cd:{site:p}:wd:<visitor>       STRING  a day, likewise           the same, per day
 *   cd:{site:p}:erasures           STRING  log retention, from the   integer: erasures done
 *                                          last erasure              (anonymous; sum the 64)
 *   cd:{site:p}:compact            STRING  until taken (<= log       integer: Unix ms (Redis)
 *                                          retention)                of the first erasure not
 *                                                                    yet compacted on disk
 *   cd:{site:p}:seq                STRING  log retention, from the   integer: the partition's
 *                                          last write                last entry number n
 *   cd:{site:p}:chain              STREAM  log retention, from the   the partition's hash chain:
 *                                          last append; trimmed to   one entry per log entry,
 *                                          the log's first entry     same id, {n, h: 64 hex}
 *
 * THE SEALED LOG (crypto-erasure). consentd seals each record before the
 * FCALL (seal.h: XChaCha20-Poly1305-IETF, a fresh data key and nonce per
 * entry, additional data = format, site, partition) and passes a fresh
 * pseudonym candidate; consentd_put keeps the visitor's pseudonym if it has
 * one (no extra round trip), writes {p, c} to the log and the data key to
 * k:<pseudonym>, field = the entry id. p: and k: live as the history (a
 * retention after the last write: as long as the log entries they open, so
 * a state that expires leaves its proofs readable in the log); a k: field
 * leaves where the history and the index drop its id for age. Readers join
 * each entry with its key inside a function (consentd_log_read for the
 * export, consentd_visitor for the access request's older writes) and open
 * it here; an entry whose key is gone is an erased one (store_record_t
 * .erased: only its id and time). Nodes of versions 1-4 still call
 * consentd_put with the old arguments: their entries are {v, r} (legacy).
 *
 * THE TAMPER-EVIDENT LOG (library version 6). consentd_put numbers every
 * log entry: n = INCR seq, stored as the entry's last field (after v and r,
 * or p and c, so that readers by position still find them). The chain values are
 * computed in C (logchain.h: Redis' Lua has no SHA-256) by the checkpointer
 * (checkpoint.h): consentd_chain_pending (FCALL_RO) gives the chain's head
 * and the log entries after it; consentd_chain_append appends links only
 * if the chain's last id is still the one read (compare-and-set). A site's
 * checkpoints have their own tag, {<site>:log}:
 *
 *   key                            type    TTL                       content
 *   cd:{site:log}:checkpoints      STREAM  log retention, from the   {jws, root}: the signed
 *                                          last append; MINID        checkpoints, oldest first
 *   cd:{site:log}:lease            STRING  < log.checkpoint_seconds  the checkpointing node's
 *                                                                    token (SET NX PX)
 *
 * consentd_checkpoint_add appends only if the last checkpoint is still the
 * one read (compare-and-set): one linear sequence. consentd_log_raw
 * (FCALL_RO) reads a partition's entries with their chain values, for the
 * raw export (store_log_raw_page: one partition per page);
 * consentd_log_inclusion (FCALL_RO) one entry, the chain value before it
 * and the entries after it, for an inclusion proof.
 *
 * ACCEPTANCE COUNTERS have their own tag, {<site>:stats}: every counter key
 * of a site lives on one slot, so that a flush (one per site and hour) and
 * a stats query are one FCALL each.
 *
 *   key                            type    TTL                       content
 *   cd:{site:stats}:h:<YYYYMMDDHH> HASH    end of the hour + stats   field "<dim>|<metric>"
 *                                          retention (PEXPIREAT)     -> count (UTC hour)
 *   cd:{site:stats}:d:<YYYYMMDD>   HASH    end of the day + stats    the same fields, per
 *                                          retention                 UTC day
 *   cd:{site:stats}:u:<YYYYMMDD>   HLL     as the day hash           visitor ids seen that day
 *   cd:{site:stats}:w:<YYYYMMDD>   HASH    end of the week + stats   a week's rollup (its Monday,
 *   cd:{site:stats}:uw:<YYYYMMDD>  HLL     retention                 ISO): sums and union of its
 *                                                                    days, field "_" = 1 (built)
 *   cd:{site:stats}:m:<YYYYMM>     HASH    end of the month + stats  a month's rollup, the same
 *   cd:{site:stats}:um:<YYYYMM>    HLL     retention
 *   cd:{site:stats}:p<k>:<stamp>   STRING  as its hash (same         a closed unit's packed row
 *     (k = h, d, w, m; stamp as    PEXPIRETIME)              (library version 9):
 *     the hash's)                                            "<uniques>\n<list id>\n<v> <v>.."
 *   cd:{site:stats}:pf:<list id>   STRING  as the longest-lived row  a field list: the hash's
 *                                          naming it                 fields, sorted, '\n'-joined;
 *                                                                    id = its SHA-1, hex
 *   cd:{site:stats}:b:<sender>     ZSET    an hour after the         the numbers of the newest
 *                                          sender's last batch       128 batches of that sender
 *                                                                    applied (member = score)
 *
 * SCAN SUMMARIES have their own tag, {<site>:scans} (version 10):
 *
 *   key                            type    TTL                       content
 *   cd:{site:scans}:list           LIST    none (capped: the newest  scan summaries (JSON text
 *                                          STORE_SCANS_KEEP)         consentd wrote), newest
 *                                                                    first
 *
 * SITE API KEYS have their own tag, {<site>:keys} (version 11):
 *
 *   key                            type    TTL                       content
 *   cd:{site:keys}:k               HASH    none (a key lives until   field = SHA-256 (hex) of the
 *                                          deleted; at most          secret -> the key's record,
 *                                          STORE_SITE_KEYS_MAX)      JSON: {name, scopes,
 *                                                                    created_at, created_by}
 *
 * (stats retention = site->stats_retention_days.) Fields: dims all,
 * v.<variant>, l.<lang>, s.<source>; metrics shown, dismissed,
 * panel_opened, decisions, accept_all, reject_all, custom, withdrawn,
 * g.<purpose>, r.<purpose> (counters.h says what each counts). Writes:
 * consentd_count (unless its (sender, number) is in the sender's batches:
 * then nothing, and it answers -1; a number below all 128 kept is refused,
 * "too old"; else HINCRBY each field into the hour and the day hash, PFADD
 * the visitors, PEXPIREAT the three keys, remember the number). <sender> is
 * 16 random hex digits per worker thread and process (counters.c), so dead
 * senders' keys expire within the hour; it also adds the fields and the
 * visitors to the week's and the month's rollups when they exist. ROLLUPS
 * are built by consentd_stats_by the first time a query needs a whole week
 * or month (sum of the day hashes, PFMERGE of their HyperLogLogs, field
 * "_" set, expiry of the last day): built before or after a flush, a rollup
 * is the exact sum of its days, since both run atomically. Reads:
 * consentd_stats_packed (version 9), by hour, day, week or month (rows
 * from the hours, the days or the rollups; totals and the union of
 * visitors from the whole months in the range and its other days), in
 * calls of at most STORE_STATS_ROWS_PER_CALL rows and one for the totals.
 * Each unit comes back PACKED: one string of its hash's values in the
 * order of a field list the reply carries once (store_packed_add reads the
 * fields the query wants); a closed unit's packed row is kept beside its
 * hash and read with one MGET, and consentd_count deletes the packed rows
 * of the hashes it adds to, in the same atomic call, so a packed row is
 * always its hash's image (store.lua, PACKED ROWS). On a replica
 * (redis.read_url, store_stats_read_from) consentd_stats_read (FCALL_RO,
 * no-writes) reads the same without making anything: what it lacks is read
 * from the primary. consentd_stats_by
 * (HMGET field by field) stays for nodes before version 9, consentd_stats
 * (one call over the hour or day hashes) for nodes before version 7.
 *
 * (log retention = site->log_retention_days.) Ints in msgpack use the
 * smallest encoding; strings are msgpack str. A state whose expires_at_ms is
 * already past is deleted rather than set. History entries older than the
 * retention are popped at the visitor's next write; the log is trimmed with
 * an exact MINID (not `~`, which keeps up to a whole stream node of expired
 * entries) at every write and erasure, and by nothing else: the log is
 * evidence, and no write (anyone can name any visitor) may delete another
 * write's entry. The index's ids past the retention are popped at the
 * visitor's next write.
 *
 * A RECORD (the value of a state, of a history entry, the `r` of a legacy log
 * entry, the plain text of a sealed `c`) is a msgpack map whose layout is
 * specified in store_record.h.
 *
 * WRITES go through the Redis Function library `consentd` (src/store.lua,
 * embedded at build time as STORE_LIBRARY_SOURCE; loaded as THE LIBRARY
 * VERSION below says). One FCALL per consent: consentd_put sets the state,
 * appends to the log (trimming it with an exact MINID), and pushes the
 * history entry: the record with its `log` key appended by bumping the
 * fixmap count, so the record is never re-encoded in Lua; the history
 * entries it pops beyond STORE_HISTORY_MAX move their log id to the index.
 *
 * Invariant that erasure relies on: every consent log entry of a visitor
 * younger than the retention is named by the visitor's history or by its
 * index. Entries leave the history only (a) when older than the retention
 * (their log entry is then past the retention too), (b) beyond
 * STORE_HISTORY_MAX: their log id moves to the index, in the same FCALL,
 * (c) when the history key expires, a retention after the visitor's last
 * write (so all its log entries are older than the retention) or (d) on
 * erasure. Ids leave the index only when older than the retention, when it
 * expires (a retention after its newest id was pushed) or on erasure.
 * consentd_erase therefore trims the log to the retention, then deletes the
 * legacy log entries ({v, r}) its history and its index name, the state,
 * the history and the index, the write counters, the pseudonym and the data
 * keys: nothing with the visitor id, nothing that opens its sealed entries,
 * is left. Those stay in the log as ciphertext (the log's order and
 * integrity hold). The erasure counter is the only trace, and it holds no
 * id. In the same FCALL it sets the partition's compact marker (SET NX, now):
 * erasure.h takes it and has that master rewrite its AOF and snapshot, so
 * that the deleted bytes leave the disk within erasure.disk_within_seconds. The index
 * holds at most the visitor's writes within the retention less
 * STORE_HISTORY_MAX: with a day limit of D writes, D * retention days.
 *
 * THE WRITE LIMIT (store_write_limit_t) is checked and counted by
 * consentd_put itself, before anything is written, in wm and wd (fixed
 * windows: INCR, and PEXPIRE at the window's first write): one round trip,
 * exact across nodes. Over it, consentd_put writes nothing and answers the
 * integer PTTL of the full window instead of the log id.
 *
 * Library version 1 (nodes of a rolling upgrade) passes no index key:
 * consentd_put and consentd_erase then use the index named from the
 * history key (same tag, same slot), so the invariant holds for their
 * writes too.
 *
 * READS are a plain GET (current state) and consentd_visitor (FCALL_RO: the
 * state, the history and the older writes the index names, read from the
 * log with their data keys, in one consistent snapshot).
 *
 * THE LIBRARY VERSION. src/store.lua declares `local VERSION = N` (an
 * integer, raised with every change of the file) and returns it from
 * consentd_version (FCALL_RO, no key). When a connection becomes ready
 * (with a cluster: each master's, so that every master has the library),
 * and when an FCALL answers "Function not found", consentd asks that Redis
 * for it and:
 *   - no library, or one without consentd_version (before versions: 0), or
 *     an older version: FUNCTION LOAD REPLACE of its own;
 *   - the same version: nothing (FUNCTION LOAD is not sent);
 *   - a newer version: nothing, and one log line per process: "Redis has
 *     consentd library version N, newer than this node's M: leaving it".
 *     A newer library keeps every function, arguments and reply shape of
 *     the older ones (that is what allows a rolling upgrade: old nodes run
 *     on it until they are replaced).
 * Nodes racing to load the same version load the same bytes: harmless. The
 * check and the load are two round trips, so an old node that checked just
 * before a new node loaded may still put its older library back; the new
 * nodes load theirs again at their next connection or "Function not found",
 * and a rolling upgrade that starts new nodes after the old ones are up
 * does not meet it.
 *
 * IDENTIFY (library version 8, issue 20 item 7: a logged-in visitor's
 * choice follows its user; identify_token.h, api/identify.h). <user> is the
 * user's pseudonym (IDENTIFY_USER_HEX hex, never the site's user id). The
 * link lives in the visitor's slot, so that the visitor's writes read it in
 * their own FCALL and erasure finds it; the user's record in the user's own
 * tag {<site>:u:<user>}:
 *
 *   key                            type    TTL                       content
 *   cd:{site:p}:u:<visitor>        STRING  choice lifetime, from the the user's pseudonym
 *                                          last identify             (consentd_identify_link)
 *   cd:{site:u:<user>}:c           HASH    PEXPIREAT the expiry of   r: the user's latest record
 *                                          the record it keeps       (as a state), t: its iat
 *                                                                    ms, v: the visitor who
 *                                                                    made it
 *
 * consentd_put and consentd_erase take the link as one more key (version
 * 8; nodes before pass none) and answer {their answer, user or ""}: a
 * visitor with no link still writes in one round trip. The caller then
 * makes the user's call: consentd_user_choice (keep the newer record,
 * answer the kept one) or consentd_user_unlink (delete the record if the
 * erased visitor made it). Two calls, two slots, never one FCALL across
 * both.
 *
 * BANNER VERSIONS (the archive of every banner.js consentd served; no
 * personal data, so erasure never touches it). Keys of a site share the tag
 * {<site>:banners}, one slot per site:
 *
 *   key                            type    TTL                       content
 *   cd:{site:banners}:v:<hash>     HASH    last served (or named by  js: the exact bytes served
 *                                          a consent) + retention +  (uncompressed), first, last:
 *                                          STORE_BANNER_GRACE_MS     served, Unix ms (Redis
 *                                                                    TIME), pv: policy version,
 *                                                                    langs, vars: comma-separated
 *   cd:{site:banners}:index        ZSET    the latest version's      member <hash>, score: when
 *                                          expiry                    that version expires (ms)
 *
 * <hash> is the banner version (64 hex, banner.h). js, first, pv, langs and
 * vars are written once, when a version is first archived, and never
 * overwritten; last only moves forward; the expiry only moves later. The
 * index is trimmed of expired versions at every write. consentd_banner_list
 * reads the version keys it finds in the index by name (same tag, same
 * slot) rather than through KEYS: their names are only known inside.
 *
 * COMPRESSED BANNERS (issue 22, item 4: built once for the fleet) have their
 * own tag, {<site>:bz}, apart from the archive (which is evidence; these are
 * a cache):
 *
 *   key                            type    TTL                       content
 *   cd:{site:bz}:z:<sha>           STRING  STORE_BANNER_BLOB_TTL_MS  the compressed forms of one
 *                                          (30 days) from the write  script served (banner.js,
 *                                                                    consentd-defaults.js):
 *                                                                    banner_build.c's blob
 *   cd:{site:bz}:l:<sha>           STRING  STORE_BANNER_LEASE_MS     "1": a node is compressing
 *                                          (5 s)                     it (SET NX PX)
 *
 * <sha> is
 * the SHA-256 (64 hex) of a script's uncompressed bytes, exactly as served
 * (a banner's differs from its version <hash>, which reads its own "bv" as
 * zeros). z: is written by the first node that compresses that body (SET NX
 * PX: nodes racing write the same bytes, since compression is
 * deterministic; a node that refuses a stored blob as corrupt replaces it,
 * SET PX), and read (GET) by every node that builds the same body instead
 * of compressing it. No TTL refresh: a node finding none after 30 days
 * builds and writes it again. l: is the lease of the node building a
 * missing body, deleted once it has written z: (else it expires): the
 * others poll z: until it is there (for at most BANNER_SHARE_WAIT_MS, then
 * they build it themselves). Plain GET, SET and DEL of one key each: no
 * function, one slot per command on a cluster. Memory: about the compressed size of
 * each body published in the last 30 days (12 KB for the demo site).
 *
 * SITE CONFIGURATION (library version 12, issue 22 item 1: sites live in
 * Redis, versioned and published). A site's keys share the tag {<site>:site}:
 *
 *   key                            type    TTL                       content
 *   cd:{site:site}:head            HASH    none                      last: the newest version
 *                                                                    number (1, 2, ...), pub:
 *                                                                    the published one (absent:
 *                                                                    none), pub_at (Unix ms,
 *                                                                    Redis TIME), pub_who
 *   cd:{site:site}:v:<n>           HASH    none (never deleted: a    json: the site document,
 *                                          proof may name it)        canonical (keys sorted,
 *                                                                    compact), who, at (ms), msg,
 *                                                                    parent: the version it was
 *                                                                    made from (0: none)
 *   cd:{site:site}:draft           HASH    none                      json, who, at, rev: the
 *                                                                    draft's revision (1, 2, ...;
 *                                                                    absent: no draft), base: the
 *                                                                    version published when saved
 *   cd:{site:site}:preview:<id>    STRING  PX STORE_SITE_PREVIEW_MS  a console preview (version
 *                                          (15 minutes)              13): an unsaved document,
 *                                                                    canonical; <id>: 24
 *                                                                    base64url characters
 *
 * consentd_site_create (version 13, POST /v1/sites) writes version 1 and the
 * draft (revision 1) of a site that has neither, publishing nothing.
 * Versions are immutable: written once by consentd_site_commit, which makes
 * version last+1 only when json differs from the newest version's (an import
 * of an unchanged file, a retried call: no new version) and can publish it in
 * the same call, if the published version is still the one the caller read
 * (a publish with a policy bump is computed from it). consentd_site_publish
 * sets pub to an existing version (a roll back publishes an older one).
 * consentd_site_draft_put replaces the draft only if its revision is the one
 * the writer read (the last writer loses, with the current revision; the
 * same write sent again after it was applied answers its revision).
 *
 * THE REGISTRY of sites is one small key with its own tag, {sites}: on a
 * cluster it lives on the slot of "sites", found like any key (the slot map):
 *
 *   cd:{sites}:registry            HASH    none                      site id -> its published
 *                                                                    version number; -<n>
 *                                                                    (version 13): known, not
 *                                                                    served (created and not
 *                                                                    yet published, or deleted),
 *                                                                    version n its document
 *
 * A publish is two calls, two slots (never one FCALL across both): the site's
 * (consentd_site_commit or _publish), then consentd_sites_mark (HSET the
 * registry, PUBLISH "<id> <version>" on STORE_SITES_CHANNEL: on a cluster a
 * PUBLISH reaches the subscribers of every node). Both are idempotent: a
 * caller that lost the second call publishes again. Every node subscribes to
 * the channel and reads the whole registry every few seconds (site_watch.h):
 * a lost message or mark is caught there.
 *
 * THE LOG EXPORT reads the 64 streams with consentd_log_read (XRANGE ...
 * COUNT inside, each entry with its data key), partition 0 to 63, each in id
 * order, chaining commands until the page holds `limit`
 * records or the last partition is done. from_ms/to_ms filter on the entry
 * ids, i.e. when Redis stored the record (the same millisecond as iat, give
 * or take the clocks). The cursor is "<p>-<ms>-<seq>": go on in partition p
 * after entry ms-seq ("<p>-0-0": from the start of p). Entries that do not
 * open or decode are skipped and counted in one log line per page.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "clock.h"
#include "identify_token.h"
#include "log.h"
#include "random.h"
#include "seal.h"
#include "strbuf.h"
#include "visitor.h"
#include "store_lua.h" /* generated from src/store.lua: STORE_LIBRARY_SOURCE, _VERSION */

#define STORE_TAG_MAX (SITE_ID_MAX + 48) /* "<site>:<p>", "<site>:banners", "<site>:u:<user>" */
#define STORE_KEY_MAX (STORE_TAG_MAX + VISITOR_ID_MAX + 16)
#define STORE_ID_MAX 48     /* "<u64>-<u64>" */
#define STORE_CURSOR_MAX 64 /* "<partition>-<u64>-<u64>" */
#define STORE_ARGV_MAX 16
#define STORE_ERR_MAX 256
#define STORE_MS_PER_DAY 86400000LL

/* ---- keys ------------------------------------------------------------------ */

unsigned store_partition(const char *visitor, size_t len)
{
    /* FNV-1a, 32 bit (visitor_hash32). Part of the key layout: never change it. */
    return visitor_hash32(visitor, len) % STORE_PARTITIONS;
}

static int store_site_id_ok(const char *id);

static int store_site_ok(const site_t *site)
{
    return site != NULL && store_site_id_ok(site->id);
}

static int store_visitor_ok(const char *visitor)
{
    return visitor != NULL && visitor_id_valid(visitor, strlen(visitor));
}

/* ---- calls ----------------------------------------------------------------- */

typedef enum {
    STORE_CALL_PUT,
    STORE_CALL_GET,
    STORE_CALL_VISITOR,
    STORE_CALL_ERASE,
    STORE_CALL_LOG,
    STORE_CALL_COUNT,
    STORE_CALL_STATS,
    STORE_CALL_BANNER_FOUND,
    STORE_CALL_BANNER_LIST,
    STORE_CALL_BANNER_GET,
    STORE_CALL_COMPACT_TAKE,
    STORE_CALL_COMPACT,
    STORE_CALL_RAW /* the log's chains and checkpoints: raw_reply / raw_fail */
} store_call_kind_t;

/* A log export in progress: partition by partition, in time order. */
typedef struct store_log_state {
    char site_id[SITE_ID_MAX + 1];
    unsigned partition;
    char last_id[STORE_ID_MAX]; /* resume after this entry id */
    uint64_t last_ms;
    int64_t from_ms, to_ms;
    size_t limit;
    size_t n, cap, skipped;
    store_record_t *records;
    char **strings; /* one malloc'd buffer per record */
    char cursor[STORE_CURSOR_MAX];
} store_log_state_t;

/*
 * One asynchronous call: a heap record owned by the call from the moment
 * redis_command accepted it until the user's callback has returned, then
 * freed. It holds copies of every argument, so that an FCALL can be sent
 * again after the library was reloaded.
 */
typedef struct store_call {
    store_call_kind_t kind;
    redis_t *r;
    void *data;
    union {
        store_done_cb done;
        store_record_cb record;
        store_visitor_cb visitor;
        store_erase_cb erase;
        store_log_cb log;
        store_stats_cb stats;
        store_counts_cb counts;
        store_found_cb found;
        store_banner_list_cb banner_list;
        store_bytes_cb bytes;

        store_chain_pending_cb chain_pending;
        store_chain_append_cb chain_append;
        store_checkpoints_cb checkpoints;
        store_checkpoint_added_cb checkpoint_added;
        store_log_raw_cb log_raw;
        store_inclusion_cb inclusion;
        store_compact_take_cb compact_take;
        store_put_linked_cb put_linked;
        store_erase_linked_cb erase_linked;
    } cb;
    int linked; /* PUT, ERASE: with the visitor's identify link (cb.*_linked) */
    int is_fcall;
    int durable;       /* a write that must outlive a failover: redis_command_durable */
    redis_t *fallback; /* a read sent to a replica (store_call_read_from): the primary */
    int retried;
    char tag[STORE_TAG_MAX];
    size_t tag_len;
    char site_id[SITE_ID_MAX + 1]; /* the consent calls': what a sealed entry is bound to */
    unsigned partition;
    int compact_step; /* STORE_CALL_COMPACT: 0 BGREWRITEAOF sent, 1 BGSAVE sent */
    int argc, argv_max;
    const char **argv; /* argv_fixed, or after bytes[] for the long calls */
    size_t *argvlen;
    const char *argv_fixed[STORE_ARGV_MAX];
    size_t argvlen_fixed[STORE_ARGV_MAX];
    store_log_state_t *log;
    /* STORE_CALL_RAW: what reads the reply, and what tells the user's
     * callback (in cb) of an error. */
    void (*raw_reply)(struct store_call *c, const redis_reply_t *reply);
    void (*raw_fail)(struct store_call *c, const redis_error_t *err);
    struct { /* STORE_CALL_RAW, the raw export: where it is */
        char site_id[SITE_ID_MAX + 1];
        unsigned partition;
        size_t limit;
        char id[STORE_ID_MAX]; /* the inclusion proof's entry */
    } raw;
    struct store_stats_state *stats_state; /* consentd_stats_by in several calls */
    struct {                               /* STORE_CALL_STATS: the shape of the answer */
        size_t n_buckets, n_bucket_fields, n_total_fields;
        int per_bucket; /* a unique count per bucket in the answer */
    } stats;
    size_t used, cap;
    max_align_t bytes[]; /* the arguments (then, for long calls, argv and argvlen) */
} store_call_t;

/* A call of up to nargs arguments (at least STORE_ARGV_MAX) taking cap bytes
 * in all. */
static store_call_t *store_call_new_args(store_call_kind_t kind, redis_t *r, void *data, size_t cap,
                                         size_t nargs)
{
    size_t extra = 0;
    cap = (cap + sizeof(size_t) - 1) / sizeof(size_t) * sizeof(size_t); /* argv aligned */
    if (nargs > STORE_ARGV_MAX) {
        if (nargs > INT_MAX || nargs > (SIZE_MAX - cap) / 2 / sizeof(size_t)) return NULL;
        extra = nargs * (sizeof(const char *) + sizeof(size_t));
    }
    store_call_t *c = malloc(sizeof(*c) + cap + extra);
    if (c == NULL) return NULL;
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->r = r;
    c->data = data;
    c->cap = cap;
    if (nargs > STORE_ARGV_MAX) {
        c->argv = (const char **)(void *)((char *)c->bytes + cap);
        c->argvlen = (size_t *)(void *)(c->argv + nargs);
        c->argv_max = (int)nargs;
    } else {
        c->argv = c->argv_fixed;
        c->argvlen = c->argvlen_fixed;
        c->argv_max = STORE_ARGV_MAX;
    }
    return c;
}

static store_call_t *store_call_new(store_call_kind_t kind, redis_t *r, void *data, size_t cap)
{
    return store_call_new_args(kind, r, data, cap, STORE_ARGV_MAX);
}

static void store_stats_state_free(struct store_stats_state *st);

static void store_call_free(store_call_t *c)
{
    if (c->stats_state != NULL) store_stats_state_free(c->stats_state);
    if (c->log != NULL) {
        for (size_t i = 0; i < c->log->n; i++)
            free(c->log->strings[i]);
        free(c->log->records);
        free(c->log->strings);
        free(c->log);
    }
    free(c);
}

/* "<site>:<partition>", written by hand (every consent call). */
static void store_call_tag(store_call_t *c, const char *site_id, unsigned partition)
{
    size_t n = strlen(site_id);
    if (n >= sizeof(c->site_id)) n = 0;
    memcpy(c->site_id, site_id, n);
    c->site_id[n] = '\0';
    c->partition = partition;
    strbuf_t b;
    strbuf_init_fixed(&b, c->tag, sizeof(c->tag));
    strbuf_str(&b, site_id);
    strbuf_char(&b, ':');
    strbuf_u64(&b, partition);
    c->tag_len = strbuf_failed(&b) ? 0 : b.len;
}

/* Append one argument; -1 when it does not fit (a bug in the caller's cap). */
static int store_arg(store_call_t *c, const void *s, size_t len)
{
    if (c->argc >= c->argv_max || len > c->cap - c->used) return -1;
    char *at = (char *)c->bytes + c->used;
    memcpy(at, s, len);
    c->argv[c->argc] = at;
    c->argvlen[c->argc] = len;
    c->argc++;
    c->used += len;
    return 0;
}

static int store_argf(store_call_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int store_argf(store_call_t *c, const char *fmt, ...)
{
    char buf[STORE_KEY_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf)) return -1;
    return store_arg(c, buf, (size_t)n);
}

static int store_arg_str(store_call_t *c, const char *s)
{
    return store_arg(c, s, strlen(s));
}

/* An argument written in pieces, by hand, straight into the call's bytes:
 * store_arg_begin, strbuf_* appends, store_arg_end (-1 when it did not fit,
 * one spare byte included). The consent path formats no argument with the
 * printf family (issue 18, item 14). */
static void store_arg_begin(store_call_t *c, strbuf_t *b)
{
    strbuf_init_fixed(b, (char *)c->bytes + c->used, c->cap - c->used);
}

/* The len bytes at c->bytes + c->used, written there already, as the next
 * argument. */
static int store_arg_push(store_call_t *c, size_t len)
{
    if (c->argc >= c->argv_max) return -1;
    c->argv[c->argc] = (char *)c->bytes + c->used;
    c->argvlen[c->argc] = len;
    c->argc++;
    c->used += len;
    return 0;
}

static int store_arg_end(store_call_t *c, const strbuf_t *b)
{
    if (strbuf_failed(b)) return -1;
    return store_arg_push(c, b->len);
}

static int store_arg_i64(store_call_t *c, int64_t v)
{
    strbuf_t b;
    store_arg_begin(c, &b);
    strbuf_i64(&b, v);
    return store_arg_end(c, &b);
}

/* The key cd:{<tag>}:<name><suffix>, copied in place in four pieces (a
 * consent write has eight keys): -1 when it does not fit, one spare byte
 * included, as store_arg_end. */
static int store_arg_key(store_call_t *c, const char *name, size_t name_len, const char *suffix)
{
    size_t suffix_len = strlen(suffix);
    size_t len = 4 + c->tag_len + 2 + name_len + suffix_len;
    if (len >= c->cap - c->used) return -1;
    char *at = (char *)c->bytes + c->used;
    memcpy(at, "cd:{", 4);
    memcpy(at + 4, c->tag, c->tag_len);
    memcpy(at + 4 + c->tag_len, "}:", 2);
    memcpy(at + 6 + c->tag_len, name, name_len);
    memcpy(at + 6 + c->tag_len + name_len, suffix, suffix_len);
    return store_arg_push(c, len);
}

/* The visitor's keys, in this order: state, history, log, erasures. */
static int store_arg_keys(store_call_t *c, const char *visitor, int nkeys)
{
    static const struct {
        const char *name;
        size_t len;
    } keys[] = {{"s:", 2}, {"h:", 2}, {"log", 3}, {"erasures", 8}};
    for (int i = 0; i < nkeys; i++)
        if (store_arg_key(c, keys[i].name, keys[i].len, i < 2 ? visitor : "") != 0) return -1;
    return 0;
}

/* One more key of the visitor, cd:{<tag>}:<kind>:<visitor> (x: the log
 * index; see the key layout). */
static int store_arg_visitor_key(store_call_t *c, const char *kind, const char *visitor)
{
    char name[8];
    size_t n = strlen(kind);
    if (n + 1 >= sizeof(name)) return -1;
    memcpy(name, kind, n);
    name[n++] = ':';
    return store_arg_key(c, name, n, visitor);
}

/* What this file says when a reply is not what it asked for. */
static const redis_error_t store_error_unexpected = {REDIS_ERROR_REPLY,
                                                     "unexpected reply from Redis"};
static const redis_error_t store_error_oom = {REDIS_ERROR_BUSY, "out of memory"};
static const char *store_reply_text(const redis_reply_t *r, size_t *len);

static void store_log_finish(store_call_t *c, const redis_error_t *err);

/* Run the user's callback with an error, then free the call. */
static void store_call_fail(store_call_t *c, const redis_error_t *err)
{
    switch (c->kind) {
    case STORE_CALL_PUT:
        if (c->linked)
            c->cb.put_linked(c->data, NULL, err);
        else
            c->cb.done(c->data, err);
        break;
    case STORE_CALL_GET:
        c->cb.record(c->data, NULL, err);
        break;
    case STORE_CALL_VISITOR:
        c->cb.visitor(c->data, NULL, NULL, 0, err);
        break;
    case STORE_CALL_ERASE:
        if (c->linked)
            c->cb.erase_linked(c->data, 0, NULL, err);
        else
            c->cb.erase(c->data, 0, err);
        break;
    case STORE_CALL_LOG:
        store_log_finish(c, err);
        return;
    case STORE_CALL_COUNT:
        c->cb.counts(c->data, 0, err);
        break;
    case STORE_CALL_STATS:
        c->cb.stats(c->data, NULL, err);
        break;
    case STORE_CALL_BANNER_FOUND:
        c->cb.found(c->data, 0, err);
        break;
    case STORE_CALL_BANNER_LIST:
        c->cb.banner_list(c->data, NULL, 0, err);
        break;
    case STORE_CALL_BANNER_GET:
        c->cb.bytes(c->data, NULL, 0, err);
        break;
    case STORE_CALL_RAW:
        c->raw_fail(c, err);
        break;
    case STORE_CALL_COMPACT_TAKE:
        c->cb.compact_take(c->data, 0, err);
        break;
    case STORE_CALL_COMPACT:
        c->cb.done(c->data, err);
        break;
    }
    store_call_free(c);
}

static void store_on_reply(void *data, const redis_reply_t *reply, const redis_error_t *err);
static void store_banner_on_reply(store_call_t *c, const redis_reply_t *reply);
static void store_compact_on_reply(store_call_t *c, const redis_reply_t *reply);

static int store_call_send(store_call_t *c)
{
    return (c->durable ? redis_command_durable : redis_command)(
        c->r, c->tag, c->tag_len, store_on_reply, c, c->argc, c->argv, c->argvlen);
}

static int store_reply_is_function_missing(const redis_reply_t *reply);

/* ---- the function library: loaded when Redis' is older (see the head) ------- */

/* err: NULL when the library in that Redis is ours or newer, else why not. */
typedef void (*store_library_cb)(void *data, const redis_error_t *err);

/* One check-and-load: the version asked, then FUNCTION LOAD when older.
 * Heap-allocated, freed after its callback. Both commands go where tag
 * routes (a failed call's tag), or with no tag from store_on_connect to the
 * connection that has just become ready (redis.h). */
typedef struct store_library {
    redis_t *r;
    char tag[STORE_TAG_MAX];
    size_t tag_len;
    store_library_cb cb;
    void *data;
    long long found; /* the version Redis had: -1 for none (no library, or no version) */
} store_library_t;

/* Process-wide, the one mutable state of this file: the newest version
 * already reported as newer than ours, so that every worker and every
 * master connection does not say it again. */
static long long store_newer_logged;

static void store_library_end(store_library_t *l, const redis_error_t *err)
{
    if (err != NULL)
        log_msg(LOG_ERROR, "store: loading the Redis function library: %s", err->detail);
    if (l->cb != NULL) l->cb(l->data, err);
    free(l);
}

static void store_library_on_loaded(void *data, const redis_reply_t *reply,
                                    const redis_error_t *err)
{
    store_library_t *l = data;
    char buf[STORE_ERR_MAX];
    if (err != NULL) {
        store_library_end(l, err);
    } else if (redis_reply_kind(reply) == REDIS_REPLY_KIND_ERROR) {
        redis_error_t e = redis_error_of_reply(reply, buf, sizeof(buf));
        store_library_end(l, &e);
    } else {
        if (l->found < 0)
            log_msg(LOG_INFO,
                    "store: loaded the Redis function library, version %lld (Redis had no "
                    "versioned consentd library)",
                    (long long)STORE_LIBRARY_VERSION);
        else
            log_msg(
                LOG_INFO,
                "store: loaded the Redis function library, version %lld (Redis had version %lld)",
                (long long)STORE_LIBRARY_VERSION, l->found);
        store_library_end(l, NULL);
    }
}

static void store_library_on_version(void *data, const redis_reply_t *reply,
                                     const redis_error_t *err)
{
    store_library_t *l = data;
    char buf[STORE_ERR_MAX];
    if (err != NULL) {
        store_library_end(l, err);
        return;
    }
    if (redis_reply_kind(reply) == REDIS_REPLY_KIND_INTEGER) {
        l->found = redis_reply_integer(reply);
    } else if (!store_reply_is_function_missing(reply)) {
        redis_error_t e = redis_reply_kind(reply) == REDIS_REPLY_KIND_ERROR
                              ? redis_error_of_reply(reply, buf, sizeof(buf))
                              : store_error_unexpected;
        store_library_end(l, &e);
        return;
    } /* else no library, or one from before versions (older than any) */
    if (l->found == STORE_LIBRARY_VERSION) {
        store_library_end(l, NULL);
        return;
    }
    if (l->found > STORE_LIBRARY_VERSION) {
        long long seen = __atomic_load_n(&store_newer_logged, __ATOMIC_RELAXED);
        while (seen < l->found &&
               !__atomic_compare_exchange_n(&store_newer_logged, &seen, l->found, 0,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        }
        if (seen < l->found)
            log_msg(LOG_WARN,
                    "store: Redis has consentd library version %lld, newer than this node's "
                    "%lld: leaving it",
                    l->found, (long long)STORE_LIBRARY_VERSION);
        store_library_end(l, NULL);
        return;
    }
    /* The one place FUNCTION LOAD is sent. */
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", STORE_LIBRARY_SOURCE};
    size_t argvlen[] = {8, 4, 7, STORE_LIBRARY_SOURCE_LEN};
    int rc = redis_command(l->r, l->tag_len > 0 ? l->tag : NULL, l->tag_len,
                           store_library_on_loaded, l, 4, argv, argvlen);
    if (rc != REDIS_OK) store_library_end(l, redis_error_of_rc(rc));
}

/* Ask the Redis of tag (NULL: the connection just ready) for its library
 * version; load ours when it is older. cb (may be NULL) runs exactly once
 * when this returns REDIS_OK, never otherwise. */
static int store_library_ensure(redis_t *r, const char *tag, size_t tag_len, store_library_cb cb,
                                void *data)
{
    store_library_t *l = calloc(1, sizeof(*l));
    if (l == NULL) return REDIS_E_BUSY;
    l->r = r;
    l->found = -1;
    l->cb = cb;
    l->data = data;
    if (tag != NULL && tag_len > 0 && tag_len <= sizeof(l->tag)) {
        memcpy(l->tag, tag, tag_len);
        l->tag_len = tag_len;
    }
    const char *argv[] = {"FCALL_RO", "consentd_version", "0"};
    size_t argvlen[] = {8, 16, 1};
    int rc = redis_command(r, l->tag_len > 0 ? l->tag : NULL, l->tag_len, store_library_on_version,
                           l, 3, argv, argvlen);
    if (rc != REDIS_OK) free(l);
    return rc;
}

void store_on_connect(redis_t *r)
{
    int rc = store_library_ensure(r, NULL, 0, NULL, NULL);
    if (rc != REDIS_OK)
        log_msg(LOG_ERROR, "store: loading the Redis function library: %s",
                redis_error_of_rc(rc)->detail);
}

/* The library was checked (and loaded) again after an FCALL found a function
 * missing: send the call again, once. */
static void store_on_reloaded(void *data, const redis_error_t *err)
{
    store_call_t *c = data;
    if (err != NULL) {
        store_call_fail(c, err);
        return;
    }
    int rc = store_call_send(c);
    if (rc != REDIS_OK) store_call_fail(c, redis_error_of_rc(rc));
}

static int store_reply_is_function_missing(const redis_reply_t *reply)
{
    static const char missing[] = "ERR Function not found";
    size_t len;
    const char *s;
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_ERROR) return 0;
    s = redis_reply_str(reply, &len);
    return s != NULL && len >= sizeof(missing) - 1 && memcmp(s, missing, sizeof(missing) - 1) == 0;
}

/* Decode the bytes of one stored record into a fresh buffer (*strings,
 * caller frees); -1 when they are not a record. Strings take at most the
 * encoded size (each has a header byte to spare for its NUL), plus the
 * extra bytes the caller reserves. */
static int store_decode_alloc(const char *buf, size_t len, size_t extra, store_record_t *rec,
                              char **strings)
{
    *strings = malloc(len + extra + 1);
    if (*strings == NULL) return -1;
    if (store_record_decode(buf, len, rec, *strings, len + 1) != 0) {
        free(*strings);
        *strings = NULL;
        return -1;
    }
    return 0;
}

/* Open a sealed log entry of c's site and partition (sealed bytes under its
 * data key) and decode the record, its strings and then the entry id into
 * out, which takes at most len + id_len + 2 bytes; scratch holds len bytes.
 * 0, or -1 when it does not open (another key, altered) or decode. */
static int store_open_entry(const store_call_t *c, const char *sealed, size_t len, const char *key,
                            size_t key_len, const char *id, size_t id_len, store_record_t *rec,
                            store_record_strings_t *out, unsigned char *scratch)
{
    size_t plain_len;
    if (key_len != SEAL_KEY_BYTES || len < SEAL_OVERHEAD || id_len >= STORE_ID_MAX ||
        out->left < len + id_len + 2 ||
        seal_open(c->site_id, c->partition, (const unsigned char *)key,
                  (const unsigned char *)sealed, len, scratch, len, &plain_len) != 0 ||
        store_record_decode((const char *)scratch, plain_len, rec, out->p, plain_len + 1) != 0)
        return -1;
    out->p += plain_len + 1;
    out->left -= plain_len + 1;
    rec->log_id = store_record_strings_copy(out, id, id_len, STORE_ID_MAX);
    return rec->log_id != NULL ? 0 : -1;
}

/* The parts of a sealed entry as consentd_visitor and consentd_log_read
 * give it: {id, sealed bytes, data key}; 0 when e is one. */
static int store_sealed_parts(const redis_reply_t *e, const char **id, size_t *id_len,
                              const char **sealed, size_t *len, const char **key, size_t *key_len)
{
    if (e == NULL || redis_reply_kind(e) != REDIS_REPLY_KIND_ARRAY || redis_reply_count(e) != 3)
        return -1;
    *id = redis_reply_str(redis_reply_at(e, 0), id_len);
    *sealed = redis_reply_str(redis_reply_at(e, 1), len);
    *key = redis_reply_str(redis_reply_at(e, 2), key_len);
    return *id != NULL && *sealed != NULL && *key != NULL ? 0 : -1;
}

static void store_on_put(store_call_t *c, const redis_reply_t *reply)
{
    if (redis_reply_kind(reply) == REDIS_REPLY_KIND_INTEGER && redis_reply_integer(reply) > 0) {
        /* Over the visitor's write limit: nothing written, the ms to wait. */
        redis_error_t e = {REDIS_ERROR_LIMITED, "over the visitor's write limit",
                           redis_reply_integer(reply)};
        store_call_fail(c, &e);
        return;
    }
    if (c->linked && redis_reply_kind(reply) == REDIS_REPLY_KIND_STRING) {
        /* A library before version 8 (an old node put it back during a
         * rolling upgrade) ignores the link key: written, no link known. */
        c->cb.put_linked(c->data, NULL, NULL);
        store_call_free(c);
        return;
    }
    if (c->linked) {
        /* Version 8 with the link key: {log id, user or ""}. */
        size_t len = 0;
        const char *user = store_reply_text(redis_reply_at(reply, 1), &len);
        if (redis_reply_kind(reply) != REDIS_REPLY_KIND_ARRAY || redis_reply_count(reply) != 2 ||
            user == NULL) {
            store_call_fail(c, &store_error_unexpected);
            return;
        }
        c->cb.put_linked(c->data, len > 0 ? user : NULL, NULL);
        store_call_free(c);
        return;
    }
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_STRING) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    c->cb.done(c->data, NULL);
    store_call_free(c);
}

static void store_on_get(store_call_t *c, const redis_reply_t *reply)
{
    redis_reply_kind_t kind = redis_reply_kind(reply);
    if (kind == REDIS_REPLY_KIND_NIL) {
        c->cb.record(c->data, NULL, NULL);
    } else if (kind == REDIS_REPLY_KIND_STRING) {
        size_t len;
        const char *s = redis_reply_str(reply, &len);
        store_record_t rec;
        char *strings;
        if (store_decode_alloc(s, len, 0, &rec, &strings) == 0) {
            c->cb.record(c->data, &rec, NULL);
            free(strings);
        } else {
            /* A state we cannot read is no state: the visitor is asked again
             * and the next write replaces it. */
            log_msg(LOG_WARN, "store: %.*s: undecodable consent state ignored", (int)c->tag_len,
                    c->tag);
            c->cb.record(c->data, NULL, NULL);
        }
    } else {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    store_call_free(c);
}

/* The entries of an array reply (NIL: none), at most max. */
static size_t store_reply_entries(const redis_reply_t *a, size_t max)
{
    size_t n = redis_reply_kind(a) == REDIS_REPLY_KIND_ARRAY ? redis_reply_count(a) : 0;
    return n < max ? n : max;
}

/* The i-th entry of the history, then of the older writes after its n_h. */
static const redis_reply_t *store_visitor_entry(const redis_reply_t *history, size_t n_h,
                                                const redis_reply_t *older, size_t i)
{
    return i < n_h ? redis_reply_at(history, i) : redis_reply_at(older, i - n_h);
}

static void store_on_visitor(store_call_t *c, const redis_reply_t *reply)
{
    const redis_reply_t *state, *history, *older = NULL;
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_ARRAY ||
        (redis_reply_count(reply) != 2 && redis_reply_count(reply) != 3) ||
        (state = redis_reply_at(reply, 0)) == NULL ||
        (history = redis_reply_at(reply, 1)) == NULL ||
        (redis_reply_count(reply) == 3 && (older = redis_reply_at(reply, 2)) == NULL) ||
        (redis_reply_kind(state) != REDIS_REPLY_KIND_NIL &&
         redis_reply_kind(state) != REDIS_REPLY_KIND_STRING) ||
        (redis_reply_kind(history) != REDIS_REPLY_KIND_ARRAY &&
         redis_reply_kind(history) != REDIS_REPLY_KIND_NIL) ||
        (older != NULL && redis_reply_kind(older) != REDIS_REPLY_KIND_ARRAY)) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    /* The history, then the older writes its index names (newest first too). */
    size_t n_h = store_reply_entries(history, STORE_HISTORY_MAX);
    size_t n = n_h + (older != NULL ? store_reply_entries(older, STORE_ACCESS_OLDER_MAX) : 0);

    /* One arena for every decoded string: the encoded sizes bound it. */
    size_t total = 1, len;
    const char *s;
    if (redis_reply_kind(state) == REDIS_REPLY_KIND_STRING) {
        redis_reply_str(state, &len);
        total += len + 1;
    }
    size_t sealed_max = 0, id_len, key_len;
    const char *id, *key;
    for (size_t i = 0; i < n; i++) {
        const redis_reply_t *e = store_visitor_entry(history, n_h, older, i);
        if (e != NULL && redis_reply_kind(e) == REDIS_REPLY_KIND_STRING) {
            redis_reply_str(e, &len);
            total += len + 1;
        } else if (store_sealed_parts(e, &id, &id_len, &s, &len, &key, &key_len) == 0) {
            total += len + id_len + 2; /* an older write, sealed in the log */
            if (len > sealed_max) sealed_max = len;
        }
    }
    char *arena = malloc(total);
    store_record_t *records = malloc((n + 1) * sizeof(*records));
    unsigned char *scratch = malloc(sealed_max + 1);
    if (arena == NULL || records == NULL || scratch == NULL) {
        free(arena);
        free(records);
        free(scratch);
        store_call_fail(c, &store_error_oom);
        return;
    }
    store_record_strings_t out = {arena, total};
    store_record_t *current = NULL;
    size_t nh = 0, skipped = 0;
    if (redis_reply_kind(state) == REDIS_REPLY_KIND_STRING) {
        s = redis_reply_str(state, &len);
        if (store_record_decode(s, len, &records[n], out.p, len + 1) == 0)
            current = &records[n];
        else
            skipped++;
        out.p += len + 1;
        out.left -= len + 1;
    }
    for (size_t i = 0; i < n; i++) {
        const redis_reply_t *e = store_visitor_entry(history, n_h, older, i);
        if (store_sealed_parts(e, &id, &id_len, &s, &len, &key, &key_len) == 0) {
            if (store_open_entry(c, s, len, key, key_len, id, id_len, &records[nh], &out,
                                 scratch) == 0)
                nh++;
            else
                skipped++;
            continue;
        }
        if (e == NULL || redis_reply_kind(e) != REDIS_REPLY_KIND_STRING) {
            skipped++;
            continue;
        }
        s = redis_reply_str(e, &len);
        if (store_record_decode(s, len, &records[nh], out.p, len + 1) == 0)
            nh++;
        else
            skipped++;
        out.p += len + 1;
        out.left -= len + 1;
    }
    if (skipped > 0)
        log_msg(LOG_WARN, "store: %.*s: %zu undecodable visitor records skipped", (int)c->tag_len,
                c->tag, skipped);
    c->cb.visitor(c->data, current, records, nh, NULL);
    free(arena);
    free(records);
    free(scratch);
    store_call_free(c);
}

static void store_on_erase(store_call_t *c, const redis_reply_t *reply)
{
    if (c->linked && redis_reply_kind(reply) == REDIS_REPLY_KIND_INTEGER &&
        redis_reply_integer(reply) >= 0) {
        /* A library before version 8 ignores the link key (see store_on_put). */
        c->cb.erase_linked(c->data, (size_t)redis_reply_integer(reply), NULL, NULL);
        store_call_free(c);
        return;
    }
    if (c->linked) {
        /* Version 8 with the link key: {removed, user or ""}. */
        size_t len = 0;
        const redis_reply_t *n = redis_reply_at(reply, 0);
        const char *user = store_reply_text(redis_reply_at(reply, 1), &len);
        if (redis_reply_kind(reply) != REDIS_REPLY_KIND_ARRAY || redis_reply_count(reply) != 2 ||
            redis_reply_kind(n) != REDIS_REPLY_KIND_INTEGER || redis_reply_integer(n) < 0 ||
            user == NULL) {
            store_call_fail(c, &store_error_unexpected);
            return;
        }
        c->cb.erase_linked(c->data, (size_t)redis_reply_integer(n), len > 0 ? user : NULL, NULL);
        store_call_free(c);
        return;
    }
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_INTEGER || redis_reply_integer(reply) < 0) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    c->cb.erase(c->data, (size_t)redis_reply_integer(reply), NULL);
    store_call_free(c);
}

/* ---- the consent log, page by page ----------------------------------------- */

static int store_log_send(store_call_t *c)
{
    store_log_state_t *st = c->log;
    store_call_tag(c, st->site_id, st->partition);
    c->argc = 0;
    c->used = 0;
    int rc = store_arg_str(c, "FCALL_RO") | store_arg_str(c, "consentd_log_read") |
             store_arg_str(c, "1") | store_argf(c, "cd:{%.*s}:log", (int)c->tag_len, c->tag);
    /* Resume after the last entry read, or start at from_ms. */
    if (st->last_id[0] != '\0' && st->last_ms >= (uint64_t)st->from_ms)
        rc |= store_argf(c, "(%s", st->last_id);
    else
        rc |= store_argf(c, "%" PRId64, st->from_ms);
    rc |= store_argf(c, "%" PRId64, st->to_ms);
    rc |= store_argf(c, "%zu", st->limit - st->n);
    if (rc != 0) return REDIS_E_ARGS;
    return store_call_send(c);
}

static void store_log_finish(store_call_t *c, const redis_error_t *err)
{
    store_log_state_t *st = c->log;
    if (st->skipped > 0)
        log_msg(LOG_WARN, "store: consent log of %s: %zu undecodable entries skipped", st->site_id,
                st->skipped);
    if (err != NULL)
        c->cb.log(c->data, NULL, 0, NULL, err);
    else
        c->cb.log(c->data, st->records, st->n, st->cursor[0] != '\0' ? st->cursor : NULL, NULL);
    store_call_free(c);
}

/* The value of field name (one byte) in a stream entry's fields. */
static const char *store_entry_field(const redis_reply_t *fields, char name, size_t *len)
{
    size_t nf = redis_reply_kind(fields) == REDIS_REPLY_KIND_ARRAY ? redis_reply_count(fields) : 0;
    for (size_t i = 0; i + 1 < nf; i += 2) {
        size_t flen;
        const char *f = redis_reply_str(redis_reply_at(fields, i), &flen);
        const redis_reply_t *v = redis_reply_at(fields, i + 1);
        if (f != NULL && flen == 1 && f[0] == name &&
            redis_reply_kind(v) == REDIS_REPLY_KIND_STRING)
            return redis_reply_str(v, len);
    }
    return NULL;
}

/* Add one consentd_log_read entry {id, {field, value, ...}, data key or nil}
 * to the page: a legacy entry's record {v, r}, a sealed entry {p, c} opened
 * with its key, or without its key an erased one. */
static void store_log_add(store_call_t *c, const char *id, size_t id_len,
                          const redis_reply_t *fields, const redis_reply_t *key_reply)
{
    store_log_state_t *st = c->log;
    size_t rec_len = 0, sealed_len = 0, key_len = 0;
    const char *rec_bytes = store_entry_field(fields, 'r', &rec_len);
    const char *sealed = store_entry_field(fields, 'c', &sealed_len);
    const char *key = redis_reply_kind(key_reply) == REDIS_REPLY_KIND_STRING
                          ? redis_reply_str(key_reply, &key_len)
                          : NULL;
    if (st->n == st->cap) {
        size_t cap = st->cap == 0 ? 16 : st->cap * 2;
        if (cap > st->limit) cap = st->limit;
        store_record_t *records = realloc(st->records, cap * sizeof(*records));
        if (records != NULL) st->records = records;
        char **strings = realloc(st->strings, cap * sizeof(*strings));
        if (strings != NULL) st->strings = strings;
        if (records == NULL || strings == NULL) {
            st->skipped++;
            return;
        }
        st->cap = cap;
    }
    store_record_t *rec = &st->records[st->n];
    char *strings = NULL;
    if (id_len >= STORE_ID_MAX) {
        st->skipped++;
        return;
    }
    if (rec_bytes != NULL) {
        /* A legacy entry: the record in clear. */
        if (store_decode_alloc(rec_bytes, rec_len, id_len + 1, rec, &strings) != 0) {
            st->skipped++;
            return;
        }
        /* The entry id goes after the record's strings, which take <= rec_len + 1. */
        char *log_id = strings + rec_len + 1;
        memcpy(log_id, id, id_len);
        log_id[id_len] = '\0';
        rec->log_id = log_id;
    } else if (sealed != NULL && key != NULL) {
        unsigned char *scratch = malloc(sealed_len + 1);
        strings = malloc(sealed_len + id_len + 2);
        store_record_strings_t out = {strings, sealed_len + id_len + 2};
        if (scratch == NULL || strings == NULL ||
            store_open_entry(c, sealed, sealed_len, key, key_len, id, id_len, rec, &out, scratch) !=
                0) {
            free(scratch);
            free(strings);
            st->skipped++;
            return;
        }
        free(scratch);
    } else if (sealed != NULL) {
        /* Its data key is gone: the visitor was erased. What is left is
         * when Redis stored it. */
        if ((strings = malloc(id_len + 1)) == NULL) {
            st->skipped++;
            return;
        }
        memcpy(strings, id, id_len);
        strings[id_len] = '\0';
        memset(rec, 0, sizeof(*rec));
        rec->erased = 1;
        rec->log_id = strings;
        rec->issued_at_ms = (int64_t)strtoull(strings, NULL, 10);
    } else {
        st->skipped++;
        return;
    }
    st->strings[st->n++] = strings;
}

static void store_on_log(store_call_t *c, const redis_reply_t *reply)
{
    store_log_state_t *st = c->log;
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_ARRAY) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    size_t asked = st->limit - st->n, got = redis_reply_count(reply);
    int advanced = 0;
    for (size_t i = 0; i < got; i++) {
        const redis_reply_t *e = redis_reply_at(reply, i);
        size_t id_len = 0;
        const char *id = NULL;
        if (e != NULL && redis_reply_kind(e) == REDIS_REPLY_KIND_ARRAY && redis_reply_count(e) == 3)
            id = redis_reply_str(redis_reply_at(e, 0), &id_len);
        if (id == NULL || id_len == 0 || id_len >= STORE_ID_MAX) {
            st->skipped++;
            continue;
        }
        store_log_add(c, id, id_len, redis_reply_at(e, 1), redis_reply_at(e, 2));
        memcpy(st->last_id, id, id_len);
        st->last_id[id_len] = '\0';
        st->last_ms = strtoull(st->last_id, NULL, 10);
        advanced = 1;
    }
    if (got < asked || !advanced) {
        /* This partition is done: on to the next one. */
        st->partition++;
        st->last_id[0] = '\0';
        st->last_ms = 0;
        if (st->partition >= STORE_PARTITIONS) {
            store_log_finish(c, NULL);
            return;
        }
    }
    if (st->n >= st->limit) {
        snprintf(st->cursor, sizeof(st->cursor), "%u-%s", st->partition,
                 st->last_id[0] != '\0' ? st->last_id : "0-0");
        store_log_finish(c, NULL);
        return;
    }
    int rc = store_log_send(c);
    if (rc != REDIS_OK) store_call_fail(c, redis_error_of_rc(rc));
}

int store_cursor_parse(const char *s, store_cursor_t *out)
{
    unsigned long long v[3];
    for (int i = 0; i < 3; i++) {
        if (*s < '0' || *s > '9') return -1;
        char *end;
        errno = 0;
        v[i] = strtoull(s, &end, 10);
        if (errno != 0 || end - s > 20 || *end != (i < 2 ? '-' : '\0')) return -1;
        s = end + (i < 2);
    }
    if (v[0] >= STORE_PARTITIONS || v[2] == UINT64_MAX) return -1;
    out->partition = (unsigned)v[0];
    out->ms = v[1];
    out->seq = v[2];
    return 0;
}

/* ---- counters and stats ------------------------------------------------------- */

static void store_on_count(store_call_t *c, const redis_reply_t *reply)
{
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_INTEGER) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    c->cb.counts(c->data, redis_reply_integer(reply) >= 0, NULL);
    store_call_free(c);
}

static void store_on_stats_part(store_call_t *c, const redis_reply_t *reply);
static void store_stats_fall_back(store_call_t *c);
static int store_stats_on_replica(const store_call_t *c);

/* "{<site>:stats}": the tag of every counter key of a site. */
static void store_call_stats_tag(store_call_t *c, const char *site_id)
{
    int n = snprintf(c->tag, sizeof(c->tag), "%s:stats", site_id);
    c->tag_len = n > 0 && (size_t)n < sizeof(c->tag) ? (size_t)n : 0;
}

/* Counter keys: kind 'h' (hour hash, t in hours), 'd' (day hash) or 'u' (day
 * HyperLogLog), t in days since the Unix epoch, as UTC YYYYMMDD[HH]; 'w'
 * and 'W' (a week's hash and HyperLogLog, "w:" and "uw:", t its Monday, as
 * YYYYMMDD), 'm' and 'M' (a month's, "m:" and "um:", t its first day, as
 * YYYYMM). */
static int store_arg_counter_key(store_call_t *c, char kind, int64_t t)
{
    char stamp[CLOCK_TEXT_MAX];
    const char *name = kind == 'h'   ? "h:"
                       : kind == 'd' ? "d:"
                       : kind == 'w' ? "w:"
                       : kind == 'W' ? "uw:"
                       : kind == 'm' ? "m:"
                       : kind == 'M' ? "um:"
                                     : "u:";
    if (t < 0 || clock_format(kind == 'h' ? t * 3600000 : t * 86400000,
                              kind == 'h' ? CLOCK_HOUR_KEY : CLOCK_DAY_KEY, stamp) == 0)
        return -1;
    if (kind == 'm' || kind == 'M') stamp[6] = '\0'; /* YYYYMM */
    return store_arg_key(c, name, strlen(name), stamp);
}

/* The packed row of a counter hash (store.lua, PACKED ROWS): kind 'h', 'd',
 * 'w' or 'm' as store_arg_counter_key, key "p<k>:" and the same stamp. */
static int store_arg_packed_key(store_call_t *c, char kind, int64_t t)
{
    char stamp[CLOCK_TEXT_MAX];
    const char *name = kind == 'h' ? "ph:" : kind == 'd' ? "pd:" : kind == 'w' ? "pw:" : "pm:";
    if (t < 0 || clock_format(kind == 'h' ? t * 3600000 : t * 86400000,
                              kind == 'h' ? CLOCK_HOUR_KEY : CLOCK_DAY_KEY, stamp) == 0)
        return -1;
    if (kind == 'm') stamp[6] = '\0'; /* YYYYMM */
    return store_arg_key(c, name, strlen(name), stamp);
}

static int store_site_id_ok(const char *id)
{
    if (id == NULL) return 0;
    size_t len = strlen(id);
    return len > 0 && len <= SITE_ID_MAX && strpbrk(id, "{}") == NULL;
}

/* ---- the API ---------------------------------------------------------------- */

static void store_on_reply(void *data, const redis_reply_t *reply, const redis_error_t *err)
{
    store_call_t *c = data;
    char buf[STORE_ERR_MAX];
    if (c->kind == STORE_CALL_STATS && store_stats_on_replica(c) &&
        (err != NULL || redis_reply_kind(reply) == REDIS_REPLY_KIND_ERROR)) {
        store_stats_fall_back(c); /* the primary answers */
        return;
    }
    if (c->fallback != NULL && (err != NULL || redis_reply_kind(reply) == REDIS_REPLY_KIND_ERROR)) {
        /* A read on the replica failed: the primary answers, from this call on. */
        c->r = c->fallback;
        c->fallback = NULL;
        c->retried = 0;
        int rc = store_call_send(c);
        if (rc != REDIS_OK) store_call_fail(c, redis_error_of_rc(rc));
        return;
    }
    if (err != NULL) {
        store_call_fail(c, err);
        return;
    }
    if (c->is_fcall && !c->retried && store_reply_is_function_missing(reply)) {
        /* Redis restarted without its functions, or they were flushed. */
        c->retried = 1;
        int rc = store_library_ensure(c->r, c->tag, c->tag_len, store_on_reloaded, c);
        if (rc != REDIS_OK) store_call_fail(c, redis_error_of_rc(rc));
        return;
    }
    if (redis_reply_kind(reply) == REDIS_REPLY_KIND_ERROR) {
        redis_error_t e = redis_error_of_reply(reply, buf, sizeof(buf));
        store_call_fail(c, &e);
        return;
    }
    switch (c->kind) {
    case STORE_CALL_PUT:
        store_on_put(c, reply);
        break;
    case STORE_CALL_GET:
        store_on_get(c, reply);
        break;
    case STORE_CALL_VISITOR:
        store_on_visitor(c, reply);
        break;
    case STORE_CALL_ERASE:
        store_on_erase(c, reply);
        break;
    case STORE_CALL_LOG:
        store_on_log(c, reply);
        break;
    case STORE_CALL_COUNT:
        store_on_count(c, reply);
        break;
    case STORE_CALL_STATS:
        store_on_stats_part(c, reply);
        break;
    case STORE_CALL_BANNER_FOUND:
    case STORE_CALL_BANNER_LIST:
    case STORE_CALL_BANNER_GET:
        store_banner_on_reply(c, reply);
        break;
    case STORE_CALL_RAW:
        c->raw_reply(c, reply);
        break;
    case STORE_CALL_COMPACT_TAKE:
    case STORE_CALL_COMPACT:
        store_compact_on_reply(c, reply);
        break;
    }
}

/* Send a call built by the caller; frees it when Redis would not take it. */
static int store_call_start(store_call_t *c, int build_rc)
{
    if (build_rc != 0) {
        store_call_free(c);
        return REDIS_E_ARGS;
    }
    int rc = store_call_send(c);
    if (rc != REDIS_OK) store_call_free(c);
    return rc;
}

static int64_t store_retention_ms(const site_t *site)
{
    return (int64_t)site->log_retention_days * STORE_MS_PER_DAY;
}

uint32_t store_proof_hold_days(const site_t *site)
{
    uint32_t held = 2 * site->log_retention_days; /* history and log: see store.h */
    return held > site->choice_lifetime_days ? held : site->choice_lifetime_days;
}

/* consentd_put, with the visitor's identify link when linked is set. */
static int store_put(redis_t *r, const site_t *site, const store_record_t *rec,
                     const store_write_limit_t *limit, store_done_cb cb, store_put_linked_cb linked,
                     void *data)
{
    static const store_write_limit_t unlimited = {0, 0};
    if (limit == NULL) limit = &unlimited;
    if (r == NULL || (cb == NULL && linked == NULL) || rec == NULL || !store_site_ok(site) ||
        !store_visitor_ok(rec->visitor) || rec->expires_at_ms <= 0 || site->log_retention_days == 0)
        return REDIS_E_ARGS;
    size_t enc_len;
    store_record_t bare = *rec;
    bare.log_id = NULL; /* consentd_put appends the `log` key itself */
    char *enc = store_record_encode(&bare, &enc_len);
    if (enc == NULL) return REDIS_E_ARGS;
    /* The log entry: the record sealed under a fresh data key (seal.h), and
     * a pseudonym for the visitor in case it has none yet (the function
     * keeps the one it has: no round trip to ask). */
    unsigned partition = store_partition(rec->visitor, strlen(rec->visitor));
    unsigned char key[SEAL_KEY_BYTES], pseudonym[STORE_PSEUDONYM_BYTES];
    char pseudonym_hex[2 * STORE_PSEUDONYM_BYTES + 1];
    size_t sealed_cap = enc_len + SEAL_OVERHEAD;
    store_call_t *c = store_call_new_args(STORE_CALL_PUT, r, data,
                                          9 * STORE_KEY_MAX + enc_len + sealed_cap + 128, 24);
    if (c == NULL) {
        free(enc);
        return REDIS_E_ARGS;
    }
    if (linked != NULL) {
        c->linked = 1;
        c->cb.put_linked = linked;
    } else {
        c->cb.done = cb;
    }
    c->is_fcall = 1;
    c->durable = 1;
    store_call_tag(c, site->id, partition);
    random_bytes(pseudonym, sizeof(pseudonym));
    sodium_bin2hex(pseudonym_hex, sizeof(pseudonym_hex), pseudonym, sizeof(pseudonym));
    int brc =
        store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_put") |
        store_arg_str(c, linked != NULL ? "9" : "8") | store_arg_keys(c, rec->visitor, 3) |
        store_arg_visitor_key(c, "x", rec->visitor) | store_arg_visitor_key(c, "wm", rec->visitor) |
        store_arg_visitor_key(c, "wd", rec->visitor) | store_arg_visitor_key(c, "p", rec->visitor) |
        store_arg_key(c, "seq", 3, "") |
        (linked != NULL ? store_arg_visitor_key(c, "u", rec->visitor) : 0) |
        store_arg_str(c, rec->visitor) | store_arg(c, enc, enc_len) |
        store_arg_i64(c, rec->expires_at_ms) | store_arg_i64(c, store_retention_ms(site)) |
        store_arg_i64(c, STORE_HISTORY_MAX) | store_arg_i64(c, limit->per_minute) |
        store_arg_i64(c, limit->per_day) | store_arg(c, pseudonym_hex, 2 * STORE_PSEUDONYM_BYTES);
    /* Sealed straight into the call's bytes, then the key. */
    if (brc == 0 && c->argc < c->argv_max && c->cap - c->used >= sealed_cap) {
        unsigned char *at = (unsigned char *)c->bytes + c->used;
        size_t n = seal_entry(site->id, partition, enc, enc_len, key, at, sealed_cap);
        if (n == 0) {
            brc = -1;
        } else {
            c->argv[c->argc] = (const char *)at;
            c->argvlen[c->argc++] = n;
            c->used += n;
            brc = store_arg(c, key, sizeof(key));
        }
    } else {
        brc = -1;
    }
    sodium_memzero(key, sizeof(key));
    free(enc);
    return store_call_start(c, brc);
}

int store_consent_put(redis_t *r, const site_t *site, const store_record_t *rec,
                      const store_write_limit_t *limit, store_done_cb cb, void *data)
{
    return store_put(r, site, rec, limit, cb, NULL, data);
}

int store_consent_put_linked(redis_t *r, const site_t *site, const store_record_t *rec,
                             const store_write_limit_t *limit, store_put_linked_cb cb, void *data)
{
    if (cb == NULL) return REDIS_E_ARGS;
    return store_put(r, site, rec, limit, NULL, cb, data);
}

int store_consent_get(redis_t *r, const site_t *site, const char *visitor, store_record_cb cb,
                      void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || !store_visitor_ok(visitor))
        return REDIS_E_ARGS;
    store_call_t *c = store_call_new(STORE_CALL_GET, r, data, 2 * STORE_KEY_MAX);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.record = cb;
    store_call_tag(c, site->id, store_partition(visitor, strlen(visitor)));
    return store_call_start(c, store_arg_str(c, "GET") | store_arg_keys(c, visitor, 1));
}

int store_visitor_get(redis_t *r, const site_t *site, const char *visitor, store_visitor_cb cb,
                      void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || !store_visitor_ok(visitor))
        return REDIS_E_ARGS;
    store_call_t *c = store_call_new(STORE_CALL_VISITOR, r, data, 6 * STORE_KEY_MAX);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.visitor = cb;
    c->is_fcall = 1;
    store_call_tag(c, site->id, store_partition(visitor, strlen(visitor)));
    return store_call_start(c, store_arg_str(c, "FCALL_RO") | store_arg_str(c, "consentd_visitor") |
                                   store_arg_str(c, "5") | store_arg_keys(c, visitor, 2) |
                                   store_arg_visitor_key(c, "x", visitor) |
                                   store_argf(c, "cd:{%.*s}:log", (int)c->tag_len, c->tag) |
                                   store_arg_visitor_key(c, "p", visitor) |
                                   store_argf(c, "%d", STORE_HISTORY_MAX) |
                                   store_argf(c, "%d", STORE_ACCESS_OLDER_MAX));
}

/* consentd_erase, with the visitor's identify link when linked is set. */
static int store_erase(redis_t *r, const site_t *site, const char *visitor, store_erase_cb cb,
                       store_erase_linked_cb linked, void *data)
{
    if (r == NULL || (cb == NULL && linked == NULL) || !store_site_ok(site) ||
        !store_visitor_ok(visitor) || site->log_retention_days == 0)
        return REDIS_E_ARGS;
    store_call_t *c = store_call_new(STORE_CALL_ERASE, r, data, 10 * STORE_KEY_MAX);
    if (c == NULL) return REDIS_E_ARGS;
    if (linked != NULL) {
        c->linked = 1;
        c->cb.erase_linked = linked;
    } else {
        c->cb.erase = cb;
    }
    c->is_fcall = 1;
    c->durable = 1;
    store_call_tag(c, site->id, store_partition(visitor, strlen(visitor)));
    return store_call_start(
        c, store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_erase") |
               store_arg_str(c, linked != NULL ? "10" : "9") | store_arg_keys(c, visitor, 4) |
               store_arg_visitor_key(c, "x", visitor) | store_arg_visitor_key(c, "wm", visitor) |
               store_arg_visitor_key(c, "wd", visitor) | store_arg_visitor_key(c, "p", visitor) |
               store_arg_key(c, "compact", 7, "") |
               (linked != NULL ? store_arg_visitor_key(c, "u", visitor) : 0) |
               store_argf(c, "%" PRId64, store_retention_ms(site)));
}

int store_visitor_erase(redis_t *r, const site_t *site, const char *visitor, store_erase_cb cb,
                        void *data)
{
    return store_erase(r, site, visitor, cb, NULL, data);
}

int store_visitor_erase_linked(redis_t *r, const site_t *site, const char *visitor,
                               store_erase_linked_cb cb, void *data)
{
    if (cb == NULL) return REDIS_E_ARGS;
    return store_erase(r, site, visitor, NULL, cb, data);
}

/* A read (FCALL_RO of a no-writes function) that replica answers when it
 * is connected, the primary else, or after it failed. */
static void store_call_read_from(store_call_t *c, redis_t *replica)
{
    if (replica == NULL || !redis_is_connected(replica)) return;
    c->fallback = c->r;
    c->r = replica;
    c->retried = 1; /* a replica cannot load the library: the primary answers */
}

int store_log_page(redis_t *r, const site_t *site, const char *cursor, int64_t from_ms,
                   int64_t to_ms, size_t limit, store_log_cb cb, void *data)
{
    return store_log_page_from(r, NULL, site, cursor, from_ms, to_ms, limit, cb, data);
}

int store_log_page_from(redis_t *r, redis_t *replica, const site_t *site, const char *cursor,
                        int64_t from_ms, int64_t to_ms, size_t limit, store_log_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || limit == 0) return REDIS_E_ARGS;
    if (from_ms < 0) from_ms = 0;
    if (to_ms < from_ms) return REDIS_E_ARGS;
    if (limit > STORE_LOG_PAGE_MAX) limit = STORE_LOG_PAGE_MAX;
    store_call_t *c = store_call_new(STORE_CALL_LOG, r, data, 4 * STORE_KEY_MAX);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.log = cb;
    c->is_fcall = 1;
    if ((c->log = calloc(1, sizeof(*c->log))) == NULL) {
        store_call_free(c);
        return REDIS_E_ARGS;
    }
    store_log_state_t *st = c->log;
    snprintf(st->site_id, sizeof(st->site_id), "%s", site->id);
    st->from_ms = from_ms;
    st->to_ms = to_ms;
    st->limit = limit;
    store_cursor_t at;
    if (cursor != NULL && store_cursor_parse(cursor, &at) != 0) {
        store_call_free(c);
        return REDIS_E_ARGS;
    }
    if (cursor != NULL) {
        /* Go on in that partition, after that entry. */
        st->partition = at.partition;
        st->last_ms = at.ms;
        if (at.ms != 0 || at.seq != 0)
            snprintf(st->last_id, sizeof(st->last_id), "%llu-%llu", (unsigned long long)at.ms,
                     (unsigned long long)at.seq);
    }
    store_call_read_from(c, replica);
    int rc = store_log_send(c);
    if (rc != REDIS_OK) store_call_free(c);
    return rc;
}

int store_counts_add(redis_t *r, const store_counts_t *counts, store_counts_cb cb, void *data)
{
    const store_counts_t *k = counts;
    if (r == NULL || cb == NULL || k == NULL || !store_site_id_ok(k->site_id) || k->hour < 0 ||
        k->retention_days == 0 || (k->n_fields == 0 && k->n_visitors == 0) ||
        k->n_fields > STORE_STATS_FIELDS_MAX || k->n_visitors > STORE_STATS_FIELDS_MAX ||
        k->sender == NULL || strlen(k->sender) != STORE_BATCH_SENDER_LEN ||
        strspn(k->sender, "0123456789abcdef") != STORE_BATCH_SENDER_LEN || k->seq == 0)
        return REDIS_E_ARGS;
    size_t nargs = 15 + 2 * k->n_fields + k->n_visitors, cap = 8 * STORE_KEY_MAX + 96;
    for (size_t i = 0; i < k->n_fields; i++)
        cap += strlen(k->fields[i]) + 20;
    for (size_t i = 0; i < k->n_visitors; i++)
        cap += strlen(k->visitors[i]);
    store_call_t *c = store_call_new_args(STORE_CALL_COUNT, r, data, cap, nargs);
    if (c == NULL) return REDIS_E_BUSY; /* out of memory: keep the counts for the next flush */
    c->cb.counts = cb;
    c->is_fcall = 1;
    c->durable = 1; /* an acknowledged batch must outlive a failover: it is not sent again */
    store_call_stats_tag(c, k->site_id);
    int64_t day = k->hour / 24;
    int64_t retention_ms = (int64_t)k->retention_days * STORE_MS_PER_DAY;
    int brc =
        store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_count") | store_arg_str(c, "8") |
        store_arg_counter_key(c, 'h', k->hour) | store_arg_counter_key(c, 'd', day) |
        store_arg_counter_key(c, 'u', day) | store_arg_key(c, "b:", 2, k->sender) |
        store_arg_counter_key(c, 'w', clock_week_start(day)) |
        store_arg_counter_key(c, 'W', clock_week_start(day)) |
        store_arg_counter_key(c, 'm', clock_month_start(day)) |
        store_arg_counter_key(c, 'M', clock_month_start(day)) | store_argf(c, "%" PRIu64, k->seq) |
        store_argf(c, "%" PRId64, (k->hour + 1) * 3600000 + retention_ms) |
        store_argf(c, "%" PRId64, (int64_t)((day + 1) * STORE_MS_PER_DAY + retention_ms)) |
        store_argf(c, "%zu", k->n_fields);
    for (size_t i = 0; i < k->n_fields && brc == 0; i++)
        brc |= store_arg_str(c, k->fields[i]) | store_argf(c, "%" PRIu64, k->values[i]);
    for (size_t i = 0; i < k->n_visitors && brc == 0; i++)
        brc |= store_arg_str(c, k->visitors[i]);
    return store_call_start(c, brc);
}

size_t store_stats_buckets(const store_stats_query_t *q)
{
    if (q == NULL || q->first_day < 0 || q->last_day < q->first_day) return 0;
    int64_t days = q->last_day - q->first_day + 1, n = 0;
    switch (q->by) {
    case STORE_BY_HOUR:
        return days <= STORE_STATS_HOUR_DAYS_MAX ? (size_t)days * 24 : 0;
    case STORE_BY_DAY:
        return days <= STORE_STATS_DAYS_MAX ? (size_t)days : 0;
    case STORE_BY_WEEK:
        if (days > STORE_STATS_DAYS_MAX + 12 || clock_week_start(q->first_day) != q->first_day ||
            days % 7 != 0)
            return 0;
        return (size_t)(days / 7);
    case STORE_BY_MONTH:
        if (days > STORE_STATS_MONTH_DAYS_MAX || clock_month_start(q->first_day) != q->first_day ||
            clock_next_month(q->last_day) != q->last_day + 1)
            return 0;
        for (int64_t d = q->first_day; d <= q->last_day; d = clock_next_month(d))
            n++;
        return (size_t)n;
    }
    return 0;
}

/* A unit of consentd_stats_by: a day ('d'), or a rollup, week ('w') or
 * month ('m'), with its days first..end-1. */
typedef struct store_unit {
    char kind;
    int64_t first, end;
} store_unit_t;

/* The units of q: the rows (the buckets) first, then the others the
 * totals need. totals[] lists the units (1-based) whose sums make the
 * range's totals, unions[] those whose HyperLogLogs make its unique
 * visitors: both partition the range. By month, both are the rows. By day,
 * both are the "cover": the whole months inside the range, and its other
 * days (their rows). By week, the totals are the rows, the union the cover
 * (fewer, larger HyperLogLogs: months and the days at the edges). */
typedef struct store_plan {
    store_unit_t *units;
    size_t n, nrows;
    size_t *totals, *unions;
    size_t ntot, nuni;
} store_plan_t;

static int store_plan(const store_stats_query_t *q, size_t nb, store_plan_t *p)
{
    int64_t days = q->last_day - q->first_day + 1;
    size_t cap = nb + (size_t)days / 28 + 2 + 62; /* rows, months, days at the edges */
    memset(p, 0, sizeof(*p));
    p->units = malloc(cap * sizeof(*p->units));
    p->totals = malloc(cap * sizeof(*p->totals));
    p->unions = malloc(cap * sizeof(*p->unions));
    if (p->units == NULL || p->totals == NULL || p->unions == NULL) return -1;
    char kind = q->by == STORE_BY_HOUR   ? 'h'
                : q->by == STORE_BY_DAY  ? 'd'
                : q->by == STORE_BY_WEEK ? 'w'
                                         : 'm';
    if (kind == 'h') { /* hours since the Unix epoch */
        for (int64_t h = q->first_day * 24; h < (q->last_day + 1) * 24 && p->n < nb; h++)
            p->units[p->n++] = (store_unit_t){'h', h, h + 1};
    }
    for (int64_t d = q->first_day; kind != 'h' && d <= q->last_day && p->n < nb;) {
        int64_t end = kind == 'd' ? d + 1 : kind == 'w' ? d + 7 : clock_next_month(d);
        p->units[p->n++] = (store_unit_t){kind, d, end};
        d = end;
    }
    p->nrows = p->n;
    if (kind == 'm') {
        for (size_t i = 0; i < p->nrows; i++)
            p->totals[p->ntot++] = p->unions[p->nuni++] = i + 1;
        return 0;
    }
    for (int64_t d = q->first_day; d <= q->last_day && p->n < cap;) {
        int64_t next = clock_next_month(d);
        if (clock_month_start(d) == d && next - 1 <= q->last_day) {
            p->units[p->n++] = (store_unit_t){'m', d, next};
            p->unions[p->nuni++] = p->n;
            d = next;
        } else if (kind == 'd') {
            p->unions[p->nuni++] = (size_t)(d - q->first_day) + 1; /* that day's row */
            d++;
        } else {
            p->units[p->n++] = (store_unit_t){'d', d, d + 1};
            p->unions[p->nuni++] = p->n;
            d++;
        }
    }
    if (kind == 'd' || kind == 'h') { /* a day hash is the sum of its hours */
        memcpy(p->totals, p->unions, p->nuni * sizeof(*p->totals));
        p->ntot = p->nuni;
    } else {
        for (size_t i = 0; i < p->nrows; i++)
            p->totals[p->ntot++] = i + 1;
    }
    return 0;
}

static void store_plan_free(store_plan_t *p)
{
    free(p->units);
    free(p->totals);
    free(p->unions);
}

/* A unit's keys: its hash, its HyperLogLog and its packed row. */
static int store_unit_args(store_call_t *c, const store_unit_t *u)
{
    if (u->kind == 'h') /* an hour: its hash, and its day's HyperLogLog (never counted alone) */
        return store_arg_counter_key(c, 'h', u->first) |
               store_arg_counter_key(c, 'u', u->first / 24) |
               store_arg_packed_key(c, 'h', u->first);
    if (u->kind == 'd')
        return store_arg_counter_key(c, 'd', u->first) | store_arg_counter_key(c, 'u', u->first) |
               store_arg_packed_key(c, 'd', u->first);
    return store_arg_counter_key(c, u->kind, u->first) |
           store_arg_counter_key(c, u->kind == 'w' ? 'W' : 'M', u->first) |
           store_arg_packed_key(c, u->kind, u->first);
}

static void store_stats_shape(store_call_t *c, const store_stats_query_t *q, size_t nb)
{
    c->cb.stats = NULL;
    c->is_fcall = 1;
    c->stats.n_buckets = nb;
    c->stats.n_bucket_fields = q->n_bucket_fields;
    c->stats.n_total_fields = q->n_total_fields;
    c->stats.per_bucket = q->uniques && q->by != STORE_BY_HOUR;
    store_call_stats_tag(c, q->site_id);
}

/* A field the query reads, by name (sorted by name, memcmp order: a packed
 * row's lines are looked up in them) and its place in the answer. */
typedef struct store_stats_field {
    const char *name;
    size_t len, place;
} store_stats_field_t;

/* A stats read by hour, day, week or month in several calls (store_stats_read). */
typedef struct store_stats_state {
    store_plan_t plan;
    size_t nb, nbf, ntf;
    char **bfields, **tfields;              /* copies: the query's may be gone by the next call */
    store_stats_field_t *bsorted, *tsorted; /* the same, sorted by name */
    int uniques;
    int64_t retention_ms;
    size_t next_row; /* the first row of the next call */
    int single;      /* the whole plan in one call */
    size_t call_rows, call_row0;
    int call_final;
    unsigned char *total_row; /* nrows: 1 for a row that is a unit of the totals */
    /* The read path (store_stats_read_from): the primary to fall back on
     * while reading from a replica (consentd_stats_read, FCALL_RO). */
    redis_t *primary;
    int replica;                    /* reading from the replica now */
    int fell_back;                  /* a replica was named, and the primary answers */
    size_t *uncounted, n_uncounted; /* rows whose unique visitors are left to PFCOUNT */
    size_t pf_next;                 /* the PFCOUNTs after the calls: the next one */
    uint64_t *values;               /* nb * nbf rows, ntf totals, nb uniques */
    uint64_t unique_total;
} store_stats_state_t;

static void store_stats_state_free(store_stats_state_t *st)
{
    if (st == NULL) return;
    store_plan_free(&st->plan);
    for (size_t i = 0; i < st->nbf; i++)
        free(st->bfields[i]);
    for (size_t i = 0; i < st->ntf; i++)
        free(st->tfields[i]);
    free(st->bfields);
    free(st->tfields);
    free(st->bsorted);
    free(st->tsorted);
    free(st->total_row);
    free(st->uncounted);
    free(st->values);
    free(st);
}

static int store_stats_field_cmp(const void *a, const void *b)
{
    const store_stats_field_t *x = a, *y = b;
    int r = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
    return r != 0 ? r : x->len < y->len ? -1 : x->len > y->len;
}

static store_stats_field_t *store_stats_fields_sorted(char *const *names, size_t n)
{
    store_stats_field_t *f = calloc(n + 1, sizeof(*f));
    if (f == NULL) return NULL;
    for (size_t i = 0; i < n; i++)
        f[i] = (store_stats_field_t){names[i], strlen(names[i]), i};
    qsort(f, n, sizeof(*f), store_stats_field_cmp);
    return f;
}

/* A counter: decimal digits s[0..len), a number >= 0. */
static int store_parse_digits(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20) return -1;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || n > (UINT64_MAX - 9) / 10) return -1;
        n = n * 10 + (uint64_t)(s[i] - '0');
    }
    *out = n;
    return 0;
}

/* The first of f (n, sorted) named name[0..len), or n. */
static size_t store_stats_field_find(const store_stats_field_t *f, size_t n, const char *name,
                                     size_t len)
{
    store_stats_field_t key = {name, len, 0};
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (store_stats_field_cmp(&f[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && store_stats_field_cmp(&f[lo], &key) == 0 ? lo : n;
}

/* A field list of a stats reply (store.lua, PACKED ROWS): its id, and per
 * position the first of the query's bucket and total fields (sorted) of
 * that name, or nbf / ntf when the query does not read it. */
typedef struct store_stats_list {
    const char *id;
    size_t id_len, n;
    size_t *bucket, *total;
} store_stats_list_t;

static void store_stats_lists_free(store_stats_list_t *l, size_t n)
{
    for (size_t i = 0; l != NULL && i < n; i++) {
        free(l[i].bucket);
        free(l[i].total);
    }
    free(l);
}

/* The lists of a reply (flat: id, list, ...); NULL on a bad reply. */
static store_stats_list_t *store_stats_lists_read(const store_stats_state_t *st,
                                                  const redis_reply_t *flat, size_t *n_out)
{
    size_t n = redis_reply_count(flat) / 2;
    store_stats_list_t *l = calloc(n + 1, sizeof(*l));
    if (l == NULL || redis_reply_kind(flat) != REDIS_REPLY_KIND_ARRAY ||
        redis_reply_count(flat) % 2 != 0) {
        free(l);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = redis_reply_str(redis_reply_at(flat, 2 * i + 1), &len);
        l[i].id = redis_reply_str(redis_reply_at(flat, 2 * i), &l[i].id_len);
        size_t names = len > 0;
        for (size_t k = 0; s != NULL && k < len; k++)
            names += s[k] == '\n';
        l[i].bucket = malloc((names + 1) * sizeof(size_t));
        l[i].total = malloc((names + 1) * sizeof(size_t));
        if (l[i].id == NULL || s == NULL || l[i].bucket == NULL || l[i].total == NULL) {
            store_stats_lists_free(l, n);
            return NULL;
        }
        const char *end = s + len;
        for (const char *name = s; names > 0 && name <= end;) {
            const char *eol = memchr(name, '\n', (size_t)(end - name));
            if (eol == NULL) eol = end;
            l[i].bucket[l[i].n] =
                store_stats_field_find(st->bsorted, st->nbf, name, (size_t)(eol - name));
            l[i].total[l[i].n] =
                store_stats_field_find(st->tsorted, st->ntf, name, (size_t)(eol - name));
            l[i].n++;
            name = eol + 1;
        }
    }
    *n_out = n;
    return l;
}

/* A packed row (store.lua, PACKED ROWS: "<uniques>\n<list id>\n<values>"):
 * adds the value of each field of f (n, sorted) to out[place] (bucket: the
 * list's bucket fields, else its total fields), sets *uniques; a field
 * absent is 0. -1 when the row is not of that form or names no list given. */
static int store_packed_add(const redis_reply_t *v, const store_stats_list_t *lists, size_t n_lists,
                            int bucket, const store_stats_field_t *f, size_t n, uint64_t *out,
                            uint64_t *uniques)
{
    size_t len;
    const char *s = redis_reply_str(v, &len);
    if (redis_reply_kind(v) != REDIS_REPLY_KIND_STRING || s == NULL) return -1;
    const char *end = s + len, *nl = memchr(s, '\n', len);
    if (nl == NULL || store_parse_digits(s, (size_t)(nl - s), uniques) != 0) return -1;
    const char *id = nl + 1, *id_end = memchr(id, '\n', (size_t)(end - id));
    if (id_end == NULL) return -1;
    const store_stats_list_t *l = NULL;
    for (size_t i = 0; i < n_lists && l == NULL; i++)
        if (lists[i].id_len == (size_t)(id_end - id) &&
            memcmp(lists[i].id, id, lists[i].id_len) == 0)
            l = &lists[i];
    if (l == NULL) return -1;
    const size_t *at = bucket ? l->bucket : l->total;
    size_t k = 0;
    for (const char *p = id_end + 1; p < end; k++) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        if (sp == NULL) sp = end;
        if (k >= l->n) return -1;
        if (at[k] < n) {
            uint64_t x;
            if (store_parse_digits(p, (size_t)(sp - p), &x) != 0) return -1;
            for (size_t j = at[k]; j < n && store_stats_field_cmp(&f[j], &f[at[k]]) == 0; j++)
                out[f[j].place] += x;
        }
        p = sp + 1;
    }
    return k == l->n ? 0 : -1;
}

static store_stats_state_t *store_stats_state_new(const store_stats_query_t *q, size_t nb)
{
    store_stats_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL) return NULL;
    if (store_plan(q, nb, &st->plan) != 0) {
        store_stats_state_free(st);
        return NULL;
    }
    st->nb = nb;
    st->uniques = q->uniques;
    st->retention_ms = (int64_t)q->retention_days * STORE_MS_PER_DAY;
    st->single = st->plan.n <= STORE_STATS_ROWS_PER_CALL;
    /* A row that is also a unit of the totals gives its total fields as it
     * comes: it is not asked for again with the totals. */
    if ((st->total_row = calloc(st->plan.nrows + 1, 1)) == NULL ||
        (st->uncounted = calloc(st->plan.nrows + 1, sizeof(size_t))) == NULL) {
        store_stats_state_free(st);
        return NULL;
    }
    for (size_t i = 0; i < st->plan.ntot; i++)
        if (st->plan.totals[i] <= st->plan.nrows) st->total_row[st->plan.totals[i] - 1] = 1;
    st->bfields = calloc(q->n_bucket_fields + 1, sizeof(char *));
    st->tfields = calloc(q->n_total_fields + 1, sizeof(char *));
    st->values = calloc(nb * q->n_bucket_fields + q->n_total_fields + nb + 1, sizeof(uint64_t));
    if (st->bfields == NULL || st->tfields == NULL || st->values == NULL) {
        store_stats_state_free(st);
        return NULL;
    }
    for (; st->nbf < q->n_bucket_fields; st->nbf++)
        if ((st->bfields[st->nbf] = strdup(q->bucket_fields[st->nbf])) == NULL) break;
    for (; st->ntf < q->n_total_fields; st->ntf++)
        if ((st->tfields[st->ntf] = strdup(q->total_fields[st->ntf])) == NULL) break;
    if (st->nbf != q->n_bucket_fields || st->ntf != q->n_total_fields ||
        (st->bsorted = store_stats_fields_sorted(st->bfields, st->nbf)) == NULL ||
        (st->tsorted = store_stats_fields_sorted(st->tfields, st->ntf)) == NULL) {
        store_stats_state_free(st);
        return NULL;
    }
    return st;
}

/* A unit's n_days, expire_at_ms, first day (a rollup's; 0, 0, '' else)
 * and end (Unix ms): consentd_stats_packed's. */
static int store_stats_unit_spec(store_call_t *c, const store_unit_t *u, int64_t retention_ms)
{
    int64_t nd = u->kind == 'd' || u->kind == 'h' ? 0 : u->end - u->first;
    char first[CLOCK_TEXT_MAX] = "";
    if (nd > 0 && clock_format(u->first * STORE_MS_PER_DAY, CLOCK_DAY_KEY, first) == 0) return -1;
    return store_argf(c, "%" PRId64, nd) |
           store_argf(c, "%" PRId64,
                      nd == 0 ? (int64_t)0 : (int64_t)(u->end * STORE_MS_PER_DAY + retention_ms)) |
           store_arg_str(c, first) |
           store_argf(c, "%" PRId64,
                      (int64_t)(u->kind == 'h' ? u->end * 3600000 : u->end * STORE_MS_PER_DAY));
}

/* The next call of st: every unit at once (single), or the next rows, or
 * (rows done) the totals and the union. */
static int store_stats_send(store_call_t *c)
{
    store_stats_state_t *st = c->stats_state;
    const store_plan_t *p = &st->plan;
    c->argc = 0;
    c->used = 0;
    /* The plan's units this call names, in its order, and back: plan unit
     * (0-based) -> this call's (1-based, 0: not named). */
    size_t *order = malloc(p->n * sizeof(*order)), *local = calloc(p->n, sizeof(*local));
    size_t count = 0, nrows = 0;
    if (order == NULL || local == NULL) {
        free(order);
        free(local);
        return REDIS_E_BUSY;
    }
    st->call_final = st->single || st->next_row >= p->nrows;
    if (st->single) { /* every unit */
        nrows = p->nrows;
        st->call_row0 = 0;
        for (size_t u = 0; u < p->n; u++)
            order[count++] = u;
    } else if (!st->call_final) { /* the next rows */
        st->call_row0 = st->next_row;
        nrows = p->nrows - st->next_row < STORE_STATS_ROWS_PER_CALL ? p->nrows - st->next_row
                                                                    : STORE_STATS_ROWS_PER_CALL;
        for (size_t i = 0; i < nrows; i++)
            order[count++] = st->next_row + i;
    } else { /* the units the totals and the union name, once each */
        st->call_row0 = p->nrows;
        for (size_t i = 0; i < p->ntot + p->nuni; i++) {
            size_t u = (i < p->ntot ? p->totals[i] : p->unions[i - p->ntot]) - 1;
            if (i < p->ntot && u < p->nrows) continue; /* a row: summed as it came */
            if (local[u] == 0) {
                local[u] = 1;
                order[count++] = u;
            }
        }
    }
    for (size_t k = 0; k < count; k++)
        local[order[k]] = k + 1;
    st->call_rows = nrows;
    c->is_fcall = 1;
    int brc = store_arg_str(c, st->replica ? "FCALL_RO" : "FCALL") |
              store_arg_str(c, st->replica ? "consentd_stats_read" : "consentd_stats_packed") |
              store_argf(c, "%zu", 3 * count);
    for (size_t k = 0; k < count && brc == 0; k++)
        brc |= store_unit_args(c, &p->units[order[k]]);
    brc |= store_arg_str(c, st->uniques ? "1" : "0") | store_argf(c, "%zu", count) |
           store_argf(c, "%zu", nrows);
    for (size_t k = 0; k < count && brc == 0; k++)
        brc |= store_stats_unit_spec(c, &p->units[order[k]], st->retention_ms);
    if (!st->call_final) {
        brc |= store_arg_str(c, "0") | store_arg_str(c, "0");
    } else {
        size_t ntot = 0; /* the units of the totals that are not rows */
        for (size_t i = 0; i < p->ntot; i++)
            ntot += p->totals[i] > p->nrows;
        brc |= store_argf(c, "%zu", ntot);
        for (size_t i = 0; i < p->ntot && brc == 0; i++)
            if (p->totals[i] > p->nrows) brc |= store_argf(c, "%zu", local[p->totals[i] - 1]);
        brc |= store_argf(c, "%zu", p->nuni);
        for (size_t i = 0; i < p->nuni && brc == 0; i++)
            brc |= store_argf(c, "%zu", local[p->unions[i] - 1]);
    }
    free(order);
    free(local);
    if (brc != 0) return REDIS_E_ARGS;
    return store_call_send(c);
}

static int store_stats_on_replica(const store_call_t *c)
{
    return c->stats_state != NULL && c->stats_state->replica;
}

/* Read again from the start on the primary: the replica failed (down,
 * timed out, refused, an older library) or lacks what the read needs (a
 * closed unit not packed yet, a rollup not built yet). */
static void store_stats_fall_back(store_call_t *c)
{
    store_stats_state_t *st = c->stats_state;
    st->replica = 0;
    st->fell_back = 1;
    st->next_row = 0;
    st->n_uncounted = 0;
    st->pf_next = 0;
    st->unique_total = 0;
    memset(st->values, 0,
           (st->nb * st->nbf + st->ntf + st->nb + 1) * sizeof(*st->values)); /* as allocated */
    c->r = st->primary;
    c->retried = 0;
    int rc = store_stats_send(c);
    if (rc != REDIS_OK) store_call_fail(c, redis_error_of_rc(rc));
}

/* The HyperLogLog of plan unit u (a row: a day, week or month). */
static int store_unit_hll_arg(store_call_t *c, const store_unit_t *u)
{
    char kind = u->kind == 'w' ? 'W' : u->kind == 'm' ? 'M' : 'u';
    return store_arg_counter_key(c, kind, u->kind == 'h' ? u->first / 24 : u->first);
}

/* From a replica, after the calls: PFCOUNT of each uncounted row, then of
 * the union (consentd_stats_read cannot: store.lua). 0: sent, 1: none left. */
static int store_stats_pf_send(store_call_t *c, int *rc)
{
    store_stats_state_t *st = c->stats_state;
    const store_plan_t *p = &st->plan;
    size_t k = st->pf_next;
    int want_rows = st->uniques && c->stats.per_bucket;
    if (k < st->n_uncounted && !want_rows) k = st->n_uncounted;
    if (k > st->n_uncounted || (k == st->n_uncounted && (!st->uniques || p->nuni == 0))) return 1;
    c->argc = 0;
    c->used = 0;
    c->is_fcall = 0;
    int brc = store_arg_str(c, "PFCOUNT");
    if (k < st->n_uncounted) {
        brc |= store_unit_hll_arg(c, &p->units[st->uncounted[k]]);
    } else {
        for (size_t i = 0; i < p->nuni && brc == 0; i++)
            brc |= store_unit_hll_arg(c, &p->units[p->unions[i] - 1]);
    }
    st->pf_next = k;
    *rc = brc != 0 ? REDIS_E_ARGS : store_call_send(c);
    return 0;
}

static void store_stats_done(store_call_t *c)
{
    store_stats_state_t *st = c->stats_state;
    size_t nb = st->nb, nbf = st->nbf, ntf = st->ntf;
    store_stats_result_t res = {.n_buckets = nb,
                                .n_bucket_fields = nbf,
                                .n_total_fields = ntf,
                                .buckets = st->values,
                                .totals = st->values + nb * nbf,
                                .bucket_uniques =
                                    c->stats.per_bucket ? st->values + nb * nbf + ntf : NULL,
                                .unique_total = st->unique_total,
                                .from_replica = st->primary != NULL && !st->fell_back,
                                .fell_back = st->fell_back};
    c->cb.stats(c->data, &res, NULL);
    store_call_free(c);
}

/* The calls are done: the PFCOUNTs left (replica), or the answer. */
static void store_stats_next(store_call_t *c)
{
    int rc = REDIS_OK;
    if (c->stats_state->replica && store_stats_pf_send(c, &rc) == 0) {
        if (rc != REDIS_OK) store_stats_fall_back(c);
        return;
    }
    store_stats_done(c);
}

/* A PFCOUNT's reply (replica). */
static void store_on_stats_pfcount(store_call_t *c, const redis_reply_t *reply)
{
    store_stats_state_t *st = c->stats_state;
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_INTEGER || redis_reply_integer(reply) < 0) {
        store_stats_fall_back(c);
        return;
    }
    uint64_t n = (uint64_t)redis_reply_integer(reply);
    if (st->pf_next < st->n_uncounted)
        st->values[st->nb * st->nbf + st->ntf + st->uncounted[st->pf_next]] = n;
    else
        st->unique_total = n;
    st->pf_next++;
    store_stats_next(c);
}

/* A reply of one call of a stats read in several: {rows, totals,
 * unique_total, lists} (consentd_stats_packed), or {rows, totals, 0, lists,
 * missing, uncounted} (consentd_stats_read), rows and totals packed
 * (store_packed_add). */
static void store_on_stats_part(store_call_t *c, const redis_reply_t *reply)
{
    store_stats_state_t *st = c->stats_state;
    if (!c->is_fcall) {
        store_on_stats_pfcount(c, reply);
        return;
    }
    const redis_reply_t *rows = redis_reply_at(reply, 0), *totals = redis_reply_at(reply, 1),
                        *total = redis_reply_at(reply, 2);
    size_t nb = st->nb, nbf = st->nbf, ntf = st->ntf, nr = st->call_rows, r0 = st->call_row0;
    size_t nl = 0;
    if (st->replica) {
        const redis_reply_t *missing = redis_reply_at(reply, 4), *unc = redis_reply_at(reply, 5);
        if (redis_reply_count(reply) != 6 ||
            redis_reply_kind(missing) != REDIS_REPLY_KIND_INTEGER ||
            redis_reply_integer(missing) != 0 || redis_reply_kind(unc) != REDIS_REPLY_KIND_ARRAY) {
            store_stats_fall_back(c); /* something missing there: the primary packs it */
            return;
        }
        for (size_t i = 0; i < redis_reply_count(unc); i++) {
            const redis_reply_t *x = redis_reply_at(unc, i);
            long long k =
                redis_reply_kind(x) == REDIS_REPLY_KIND_INTEGER ? redis_reply_integer(x) : 0;
            if (k >= 1 && (size_t)k <= nr && st->n_uncounted < st->plan.nrows)
                st->uncounted[st->n_uncounted++] = r0 + (size_t)k - 1;
        }
    }
    store_stats_list_t *lists = redis_reply_count(reply) >= 4
                                    ? store_stats_lists_read(st, redis_reply_at(reply, 3), &nl)
                                    : NULL;
    int bad = lists == NULL || redis_reply_kind(rows) != REDIS_REPLY_KIND_ARRAY ||
              redis_reply_count(rows) != nr || redis_reply_kind(totals) != REDIS_REPLY_KIND_ARRAY ||
              redis_reply_kind(total) != REDIS_REPLY_KIND_INTEGER || redis_reply_integer(total) < 0;
    for (size_t i = 0; i < nr && !bad; i++) {
        uint64_t u = 0;
        const redis_reply_t *row = redis_reply_at(rows, i);
        bad = store_packed_add(row, lists, nl, 1, st->bsorted, nbf, &st->values[(r0 + i) * nbf],
                               &u) != 0;
        if (!bad && st->total_row[r0 + i])
            bad = store_packed_add(row, lists, nl, 0, st->tsorted, ntf, &st->values[nb * nbf],
                                   &u) != 0;
        if (c->stats.per_bucket && st->uniques) st->values[nb * nbf + ntf + r0 + i] = u;
    }
    if (st->call_final) {
        for (size_t t = 0; t < redis_reply_count(totals) && !bad; t++) {
            uint64_t u = 0;
            bad = store_packed_add(redis_reply_at(totals, t), lists, nl, 0, st->tsorted, ntf,
                                   &st->values[nb * nbf], &u) != 0;
        }
        st->unique_total = bad ? 0 : (uint64_t)redis_reply_integer(total);
    }
    store_stats_lists_free(lists, nl);
    if (bad) {
        if (st->replica)
            store_stats_fall_back(c);
        else
            store_call_fail(c, &store_error_unexpected);
        return;
    }
    if (!st->call_final) {
        st->next_row = r0 + nr;
        int rc = store_stats_send(c);
        if (rc != REDIS_OK) store_call_fail(c, redis_error_of_rc(rc));
        return;
    }
    store_stats_next(c);
}

int store_stats_read(redis_t *r, const store_stats_query_t *q, store_stats_cb cb, void *data)
{
    return store_stats_read_from(r, NULL, q, cb, data);
}

int store_stats_read_from(redis_t *r, redis_t *replica, const store_stats_query_t *q,
                          store_stats_cb cb, void *data)
{
    size_t nb = store_stats_buckets(q);
    if (r == NULL || cb == NULL || q == NULL || !store_site_id_ok(q->site_id) || nb == 0 ||
        q->n_bucket_fields == 0 || q->n_bucket_fields + q->n_total_fields > STORE_STATS_FIELDS_MAX)
        return REDIS_E_ARGS;
    /* consentd_stats_packed, in calls of at most STORE_STATS_ROWS_PER_CALL
     * rows, then one for the totals: Redis runs other clients' commands
     * (consent writes) between them. The fields are not sent: each row comes
     * back packed, whole, and is read here. */
    struct store_stats_state *st = store_stats_state_new(q, nb);
    if (st == NULL) return REDIS_E_BUSY;
    size_t most = st->plan.n < STORE_STATS_ROWS_PER_CALL ? st->plan.n : STORE_STATS_ROWS_PER_CALL;
    if (st->plan.ntot + st->plan.nuni > most) most = st->plan.ntot + st->plan.nuni;
    if (st->plan.n <= STORE_STATS_ROWS_PER_CALL) most = st->plan.n; /* one call */
    size_t nargs = 10 + 7 * most + 2 * most;
    store_call_t *c = store_call_new_args(STORE_CALL_STATS, r, data,
                                          3 * most * STORE_KEY_MAX + nargs * 24 + 128, nargs);
    if (c == NULL) {
        store_stats_state_free(st);
        return REDIS_E_BUSY;
    }
    store_stats_shape(c, q, nb);
    c->stats_state = st;
    c->cb.stats = cb;
    if (replica != NULL) {
        st->primary = r;
        if (redis_is_connected(replica)) {
            st->replica = 1;
            c->r = replica;
            c->retried = 1; /* a replica cannot load the library: the primary answers */
        } else {
            st->fell_back = 1;
        }
    }
    int rc = store_stats_send(c);
    if (rc != REDIS_OK && st->replica) {
        st->replica = 0;
        st->fell_back = 1;
        c->r = r;
        c->retried = 0;
        rc = store_stats_send(c);
    }
    if (rc != REDIS_OK) store_call_free(c);
    return rc;
}

/* ---- banner versions -------------------------------------------------------- */

static int store_banner_hash_ok(const char *hash)
{
    if (hash == NULL || strlen(hash) != 64) return 0;
    for (size_t i = 0; i < 64; i++)
        if (!((hash[i] >= '0' && hash[i] <= '9') || (hash[i] >= 'a' && hash[i] <= 'f'))) return 0;
    return 1;
}

static int64_t store_banner_keep_ms(const site_t *site)
{
    return store_retention_ms(site) + STORE_BANNER_GRACE_MS;
}

/* A call on keys tagged {<site>:<what>} ("banners", "scans"), with room for
 * n_keys key names and `extra` bytes of arguments. */
static store_call_t *store_site_call(store_call_kind_t kind, redis_t *r, const site_t *site,
                                     const char *what, size_t n_keys, void *data, size_t extra)
{
    store_call_t *c = store_call_new(kind, r, data, n_keys * STORE_KEY_MAX + extra);
    if (c == NULL) return NULL;
    int n = snprintf(c->tag, sizeof(c->tag), "%s:%s", site->id, what);
    c->tag_len = n > 0 && (size_t)n < sizeof(c->tag) ? (size_t)n : 0;
    return c;
}

/* A call on the site's banner keys. */
static store_call_t *store_banner_call(store_call_kind_t kind, redis_t *r, const site_t *site,
                                       void *data, size_t extra)
{
    return store_site_call(kind, r, site, "banners", 4, data, extra);
}

static int store_banner_arg_keys(store_call_t *c, const char *hash)
{
    return store_argf(c, "cd:{%.*s}:v:%s", (int)c->tag_len, c->tag, hash) |
           store_argf(c, "cd:{%.*s}:index", (int)c->tag_len, c->tag);
}

int store_banner_served(redis_t *r, const site_t *site, const store_banner_version_t *v,
                        const char *js, size_t js_len, store_found_cb cb, void *data)
{
    if (r == NULL || cb == NULL || v == NULL || !store_site_ok(site) ||
        !store_banner_hash_ok(v->hash) || site->log_retention_days == 0 ||
        !store_record_string_ok(v->policy_version, STORE_RECORD_STRING_MAX) ||
        !store_record_string_ok(v->languages, STORE_RECORD_STRING_MAX) ||
        !store_record_string_ok(v->variants, STORE_RECORD_STRING_MAX))
        return REDIS_E_ARGS;
    if (js == NULL) js_len = 0;
    store_call_t *c = store_banner_call(STORE_CALL_BANNER_FOUND, r, site, data,
                                        js_len + strlen(v->policy_version) + strlen(v->languages) +
                                            strlen(v->variants));
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.found = cb;
    c->is_fcall = 1;
    return store_call_start(
        c, store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_banner_served") |
               store_arg_str(c, "2") | store_banner_arg_keys(c, v->hash) |
               store_arg_str(c, v->hash) | store_arg(c, js_len > 0 ? js : "", js_len) |
               store_arg_str(c, v->policy_version) | store_arg_str(c, v->languages) |
               store_arg_str(c, v->variants) |
               store_argf(c, "%" PRId64, store_banner_keep_ms(site)));
}

int store_banner_named(redis_t *r, const site_t *site, const char *hash, store_found_cb cb,
                       void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || !store_banner_hash_ok(hash) ||
        site->log_retention_days == 0)
        return REDIS_E_ARGS;
    store_call_t *c = store_banner_call(STORE_CALL_BANNER_FOUND, r, site, data, 0);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.found = cb;
    c->is_fcall = 1;
    return store_call_start(
        c, store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_banner_named") |
               store_arg_str(c, "2") | store_banner_arg_keys(c, hash) | store_arg_str(c, hash) |
               store_argf(c, "%" PRId64, store_banner_keep_ms(site)));
}

int store_banner_list(redis_t *r, const site_t *site, store_banner_list_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site)) return REDIS_E_ARGS;
    store_call_t *c = store_banner_call(STORE_CALL_BANNER_LIST, r, site, data, 0);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.banner_list = cb;
    c->is_fcall = 1;
    return store_call_start(
        c, store_arg_str(c, "FCALL_RO") | store_arg_str(c, "consentd_banner_list") |
               store_arg_str(c, "1") | store_argf(c, "cd:{%.*s}:index", (int)c->tag_len, c->tag) |
               store_argf(c, "%d", STORE_BANNER_LIST_MAX));
}

int store_banner_get(redis_t *r, const site_t *site, const char *hash, store_bytes_cb cb,
                     void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || !store_banner_hash_ok(hash))
        return REDIS_E_ARGS;
    store_call_t *c = store_banner_call(STORE_CALL_BANNER_GET, r, site, data, 0);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.bytes = cb;
    return store_call_start(c, store_arg_str(c, "HGET") |
                                   store_argf(c, "cd:{%.*s}:v:%s", (int)c->tag_len, c->tag, hash) |
                                   store_arg_str(c, "js"));
}

/* A decimal integer reply string (Redis TIME based milliseconds). */
static int64_t store_reply_ms(const redis_reply_t *reply)
{
    size_t len;
    const char *s = redis_reply_str(reply, &len);
    int64_t v = 0;
    for (size_t i = 0; s != NULL && i < len && i < 19 && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static void store_banner_on_list(store_call_t *c, const redis_reply_t *reply)
{
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_ARRAY || redis_reply_count(reply) % 6 != 0) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    size_t n = redis_reply_count(reply) / 6, total = 1;
    if (n > STORE_BANNER_LIST_MAX) n = STORE_BANNER_LIST_MAX;
    for (size_t i = 0; i < 6 * n; i++) {
        size_t len = 0;
        redis_reply_str(redis_reply_at(reply, i), &len);
        total += len + 1;
    }
    store_banner_version_t *versions = calloc(n + 1, sizeof(*versions));
    char *arena = malloc(total);
    if (versions == NULL || arena == NULL) {
        free(versions);
        free(arena);
        store_call_fail(c, &store_error_oom);
        return;
    }
    store_record_strings_t out = {arena, total};
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const char *f[6];
        size_t len[6];
        int ok = 1;
        for (int k = 0; k < 6; k++) {
            const redis_reply_t *e = redis_reply_at(reply, 6 * i + (size_t)k);
            f[k] = e != NULL && redis_reply_kind(e) == REDIS_REPLY_KIND_STRING
                       ? redis_reply_str(e, &len[k])
                       : NULL;
            ok &= f[k] != NULL;
        }
        store_banner_version_t *v = &versions[kept];
        if (!ok || len[0] != 64 ||
            (v->hash = store_record_strings_copy(&out, f[0], 64, 64)) == NULL ||
            !store_banner_hash_ok(v->hash) ||
            (v->policy_version =
                 store_record_strings_copy(&out, f[3], len[3], STORE_RECORD_STRING_MAX)) == NULL ||
            (v->languages =
                 store_record_strings_copy(&out, f[4], len[4], STORE_RECORD_STRING_MAX)) == NULL ||
            (v->variants =
                 store_record_strings_copy(&out, f[5], len[5], STORE_RECORD_STRING_MAX)) == NULL)
            continue;
        v->first_served_ms = store_reply_ms(redis_reply_at(reply, 6 * i + 1));
        v->last_served_ms = store_reply_ms(redis_reply_at(reply, 6 * i + 2));
        kept++;
    }
    c->cb.banner_list(c->data, versions, kept, NULL);
    free(versions);
    free(arena);
    store_call_free(c);
}

static void store_banner_on_reply(store_call_t *c, const redis_reply_t *reply)
{
    redis_reply_kind_t kind = redis_reply_kind(reply);
    switch (c->kind) {
    case STORE_CALL_BANNER_FOUND:
        if (kind != REDIS_REPLY_KIND_INTEGER) {
            store_call_fail(c, &store_error_unexpected);
            return;
        }
        c->cb.found(c->data, redis_reply_integer(reply) == 1, NULL);
        break;
    case STORE_CALL_BANNER_LIST:
        store_banner_on_list(c, reply);
        return;
    default: /* STORE_CALL_BANNER_GET */
        if (kind == REDIS_REPLY_KIND_NIL) {
            c->cb.bytes(c->data, NULL, 0, NULL);
        } else if (kind == REDIS_REPLY_KIND_STRING) {
            size_t len;
            const char *js = redis_reply_str(reply, &len);
            c->cb.bytes(c->data, js, len, NULL);
        } else {
            store_call_fail(c, &store_error_unexpected);
            return;
        }
        break;
    }
    store_call_free(c);
}

/* ---- compressed banners (store.h: issue 22, item 4) ------------------------- */

static int store_blob_sha_ok(const char *sha_hex)
{
    return store_banner_hash_ok(sha_hex); /* 64 lower-case hex digits */
}

/* A call on cd:{<site>:bz}:<kind>:<sha>. */
static store_call_t *store_blob_call(store_call_kind_t kind, redis_t *r, const char *site_id,
                                     void *data, size_t extra)
{
    if (r == NULL || !store_site_id_ok(site_id)) return NULL;
    store_call_t *c = store_call_new(kind, r, data, 2 * STORE_KEY_MAX + 64 + extra);
    if (c == NULL) return NULL;
    int n = snprintf(c->tag, sizeof(c->tag), "%s:bz", site_id);
    c->tag_len = n > 0 && (size_t)n < sizeof(c->tag) ? (size_t)n : 0;
    return c;
}

int store_banner_blob_get(redis_t *r, const char *site_id, const char *sha_hex, store_bytes_cb cb,
                          void *data)
{
    if (cb == NULL || !store_blob_sha_ok(sha_hex)) return REDIS_E_ARGS;
    store_call_t *c = store_blob_call(STORE_CALL_BANNER_GET, r, site_id, data, 0);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.bytes = cb;
    return store_call_start(c,
                            store_arg_str(c, "GET") |
                                store_argf(c, "cd:{%.*s}:z:%s", (int)c->tag_len, c->tag, sha_hex));
}

/* SET's answer: +OK (written) or nil (NX: it was there). */
static void store_blob_on_set(store_call_t *c, const redis_reply_t *reply)
{
    redis_reply_kind_t kind = redis_reply_kind(reply);
    if (kind == REDIS_REPLY_KIND_STATUS || kind == REDIS_REPLY_KIND_NIL)
        c->cb.found(c->data, kind == REDIS_REPLY_KIND_STATUS, NULL);
    else
        c->cb.found(c->data, 0, &store_error_unexpected);
    store_call_free(c);
}

static void store_blob_on_set_fail(store_call_t *c, const redis_error_t *err)
{
    c->cb.found(c->data, 0, err);
}

static store_call_t *store_blob_set_call(redis_t *r, const char *site_id, size_t extra,
                                         store_found_cb cb, void *data)
{
    store_call_t *c = store_blob_call(STORE_CALL_RAW, r, site_id, data, extra);
    if (c == NULL) return NULL;
    c->raw_reply = store_blob_on_set;
    c->raw_fail = store_blob_on_set_fail;
    c->cb.found = cb;
    return c;
}

int store_banner_blob_put(redis_t *r, const char *site_id, const char *sha_hex, const char *blob,
                          size_t len, int replace, store_found_cb cb, void *data)
{
    if (cb == NULL || !store_blob_sha_ok(sha_hex) || blob == NULL || len == 0 ||
        len > STORE_BANNER_BLOB_MAX)
        return REDIS_E_ARGS;
    store_call_t *c = store_blob_set_call(r, site_id, len, cb, data);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(c,
                            store_arg_str(c, "SET") |
                                store_argf(c, "cd:{%.*s}:z:%s", (int)c->tag_len, c->tag, sha_hex) |
                                store_arg(c, blob, len) | store_arg_str(c, "PX") |
                                store_argf(c, "%lld", (long long)STORE_BANNER_BLOB_TTL_MS) |
                                (replace ? 0 : store_arg_str(c, "NX")));
}

int store_banner_blob_unlease(redis_t *r, const char *site_id, const char *sha_hex,
                              store_found_cb cb, void *data)
{
    if (cb == NULL || !store_blob_sha_ok(sha_hex)) return REDIS_E_ARGS;
    store_call_t *c = store_blob_call(STORE_CALL_BANNER_FOUND, r, site_id, data, 0);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.found = cb;
    return store_call_start(c,
                            store_arg_str(c, "DEL") |
                                store_argf(c, "cd:{%.*s}:l:%s", (int)c->tag_len, c->tag, sha_hex));
}

int store_banner_blob_lease(redis_t *r, const char *site_id, const char *sha_hex, store_found_cb cb,
                            void *data)
{
    if (cb == NULL || !store_blob_sha_ok(sha_hex)) return REDIS_E_ARGS;
    store_call_t *c = store_blob_set_call(r, site_id, 0, cb, data);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(
        c, store_arg_str(c, "SET") |
               store_argf(c, "cd:{%.*s}:l:%s", (int)c->tag_len, c->tag, sha_hex) |
               store_arg_str(c, "1") | store_arg_str(c, "NX") | store_arg_str(c, "PX") |
               store_argf(c, "%d", STORE_BANNER_LEASE_MS));
}

/* ---- scan summaries ----------------------------------------------------------
 *
 * The calls reuse the banner archive's reply kinds: an integer 1 (found)
 * for the push, a string or nil (bytes) for the read. */

static store_call_t *store_scan_call(store_call_kind_t kind, redis_t *r, const site_t *site,
                                     void *data, size_t extra)
{
    return store_site_call(kind, r, site, "scans", 2, data, extra);
}

int store_scan_add(redis_t *r, const site_t *site, const char *json, size_t len, store_found_cb cb,
                   void *data)
{
    if (r == NULL || cb == NULL || json == NULL || len == 0 || !store_site_ok(site))
        return REDIS_E_ARGS;
    store_call_t *c = store_scan_call(STORE_CALL_BANNER_FOUND, r, site, data, len);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.found = cb;
    c->is_fcall = 1;
    return store_call_start(c, store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_scan_add") |
                                   store_arg_str(c, "1") |
                                   store_argf(c, "cd:{%.*s}:list", (int)c->tag_len, c->tag) |
                                   store_arg(c, json, len) | store_argf(c, "%d", STORE_SCANS_KEEP));
}

int store_scan_latest(redis_t *r, const site_t *site, store_bytes_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site)) return REDIS_E_ARGS;
    store_call_t *c = store_scan_call(STORE_CALL_BANNER_GET, r, site, data, 0);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.bytes = cb;
    return store_call_start(c, store_arg_str(c, "LINDEX") |
                                   store_argf(c, "cd:{%.*s}:list", (int)c->tag_len, c->tag) |
                                   store_arg_str(c, "0"));
}

/* ---- site API keys -----------------------------------------------------------
 *
 * The calls reuse the banner archive's reply kinds: a string or nil (bytes)
 * for the read, the list and the add's outcome, an integer 1 (found) for the
 * delete. */

static int store_site_key_hash_ok(const char *sha_hex)
{
    return store_banner_hash_ok(sha_hex); /* 64 lower-case hex digits, as a banner's */
}

static store_call_t *store_site_key_call(store_call_kind_t kind, redis_t *r, const site_t *site,
                                         void *data, size_t extra)
{
    return store_site_call(kind, r, site, "keys", 2, data, extra);
}

int store_site_key_get(redis_t *r, const site_t *site, const char *sha_hex, store_bytes_cb cb,
                       void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || !store_site_key_hash_ok(sha_hex))
        return REDIS_E_ARGS;
    store_call_t *c = store_site_key_call(STORE_CALL_BANNER_GET, r, site, data, 64);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.bytes = cb;
    return store_call_start(c, store_arg_str(c, "HGET") |
                                   store_argf(c, "cd:{%.*s}:k", (int)c->tag_len, c->tag) |
                                   store_arg_str(c, sha_hex));
}

int store_site_key_list(redis_t *r, const site_t *site, store_bytes_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site)) return REDIS_E_ARGS;
    store_call_t *c = store_site_key_call(STORE_CALL_BANNER_GET, r, site, data, 0);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.bytes = cb;
    c->is_fcall = 1;
    return store_call_start(c, store_arg_str(c, "FCALL_RO") |
                                   store_arg_str(c, "consentd_key_list") | store_arg_str(c, "1") |
                                   store_argf(c, "cd:{%.*s}:k", (int)c->tag_len, c->tag));
}

int store_site_key_add(redis_t *r, const site_t *site, const char *sha_hex, const char *name,
                       const char *record, store_bytes_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || !store_site_key_hash_ok(sha_hex) ||
        name == NULL || name[0] == '\0' || record == NULL)
        return REDIS_E_ARGS;
    store_call_t *c = store_site_key_call(STORE_CALL_BANNER_GET, r, site, data,
                                          64 + strlen(name) + strlen(record) + 16);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.bytes = cb;
    c->is_fcall = 1;
    return store_call_start(
        c, store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_key_add") |
               store_arg_str(c, "1") | store_argf(c, "cd:{%.*s}:k", (int)c->tag_len, c->tag) |
               store_arg_str(c, sha_hex) | store_arg_str(c, name) | store_arg_str(c, record) |
               store_argf(c, "%d", STORE_SITE_KEYS_MAX));
}

int store_site_key_delete(redis_t *r, const site_t *site, const char *name, store_found_cb cb,
                          void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || name == NULL || name[0] == '\0')
        return REDIS_E_ARGS;
    store_call_t *c = store_site_key_call(STORE_CALL_BANNER_FOUND, r, site, data, strlen(name) + 1);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.found = cb;
    c->is_fcall = 1;
    return store_call_start(c, store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_key_delete") |
                                   store_arg_str(c, "1") |
                                   store_argf(c, "cd:{%.*s}:k", (int)c->tag_len, c->tag) |
                                   store_arg_str(c, name));
}

/* ---- the log's hash chains and checkpoints ---------------------------------- */

/* A raw call (STORE_CALL_RAW) with its reader and its error path. */
static store_call_t *store_raw_new(redis_t *r, void *data, size_t cap, size_t nargs,
                                   void (*on_reply)(store_call_t *, const redis_reply_t *),
                                   void (*on_fail)(store_call_t *, const redis_error_t *))
{
    store_call_t *c = store_call_new_args(STORE_CALL_RAW, r, data, cap, nargs);
    if (c == NULL) return NULL;
    c->raw_reply = on_reply;
    c->raw_fail = on_fail;
    return c;
}

/* "<site>:log": the tag of a site's checkpoints and their lease. */
static void store_call_log_tag(store_call_t *c, const char *site_id)
{
    int n = snprintf(c->tag, sizeof(c->tag), "%s:log", site_id);
    c->tag_len = n > 0 && (size_t)n < sizeof(c->tag) ? (size_t)n : 0;
}

/* A string reply's bytes (NUL-terminated, as hiredis keeps them), valid
 * during the callback; NULL when the reply is not a string. */
static const char *store_reply_text(const redis_reply_t *r, size_t *len)
{
    if (r == NULL || redis_reply_kind(r) != REDIS_REPLY_KIND_STRING) return NULL;
    return redis_reply_str(r, len);
}

/* Entries of an XRANGE-shaped array ([id, [field, value...]], or for
 * consentd_log_raw [id, [field, value...], h]) into out (n entries) and
 * fields (one array for all); -1 when the shape is wrong. *fields_out is
 * malloc'd (caller frees). */
static int store_entries_read(const redis_reply_t *a, unsigned partition, store_log_entry_t **out,
                              logchain_bytes_t **fields_out, size_t *n_out)
{
    size_t n = redis_reply_kind(a) == REDIS_REPLY_KIND_ARRAY ? redis_reply_count(a) : 0, nf = 0;
    *out = NULL;
    *fields_out = NULL;
    *n_out = 0;
    for (size_t i = 0; i < n; i++) {
        const redis_reply_t *e = redis_reply_at(a, i), *f;
        if (redis_reply_kind(e) != REDIS_REPLY_KIND_ARRAY || redis_reply_count(e) < 2 ||
            (f = redis_reply_at(e, 1)) == NULL || redis_reply_kind(f) != REDIS_REPLY_KIND_ARRAY)
            return -1;
        nf += redis_reply_count(f);
    }
    store_log_entry_t *entries = calloc(n + 1, sizeof(*entries));
    logchain_bytes_t *fields = calloc(nf + 1, sizeof(*fields));
    if (entries == NULL || fields == NULL) {
        free(entries);
        free(fields);
        return -1;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const redis_reply_t *e = redis_reply_at(a, i), *f = redis_reply_at(e, 1);
        store_log_entry_t *x = &entries[i];
        x->partition = partition;
        x->id = store_reply_text(redis_reply_at(e, 0), &x->id_len);
        size_t h_len = 0;
        x->h = redis_reply_count(e) > 2 ? store_reply_text(redis_reply_at(e, 2), &h_len) : NULL;
        if (x->h != NULL && h_len != LOGCHAIN_HEX_LEN) x->h = NULL;
        x->fields = fields + at;
        x->n_fields = redis_reply_count(f);
        int bad = x->id == NULL || x->id_len == 0 || x->id_len >= STORE_ID_MAX;
        for (size_t k = 0; k < x->n_fields && !bad; k++) {
            fields[at].p = store_reply_text(redis_reply_at(f, k), &fields[at].len);
            bad = fields[at].p == NULL;
            at++;
        }
        if (bad) {
            free(entries);
            free(fields);
            return -1;
        }
    }
    *out = entries;
    *fields_out = fields;
    *n_out = n;
    return 0;
}

static void store_chain_pending_fail(store_call_t *c, const redis_error_t *err)
{
    c->cb.chain_pending(c->data, NULL, NULL, 0, err);
}

static void store_chain_pending_reply(store_call_t *c, const redis_reply_t *reply)
{
    const redis_reply_t *head = redis_reply_at(reply, 0);
    store_chain_head_t h = {0};
    store_log_entry_t *entries;
    logchain_bytes_t *fields;
    size_t n, len[3];
    const char *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = store_reply_text(redis_reply_at(head, (size_t)i), &len[i]);
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_ARRAY || redis_reply_count(reply) != 2 ||
        redis_reply_kind(head) != REDIS_REPLY_KIND_ARRAY || redis_reply_count(head) != 3 ||
        t[0] == NULL || t[1] == NULL || t[2] == NULL ||
        (len[0] > 0 && len[2] != LOGCHAIN_HEX_LEN) ||
        store_entries_read(redis_reply_at(reply, 1), c->raw.partition, &entries, &fields, &n) !=
            0) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    if (len[0] > 0) {
        h.id = t[0];
        h.n = strtoull(t[1], NULL, 10);
        h.h = t[2];
    }
    c->cb.chain_pending(c->data, &h, entries, n, NULL);
    free(entries);
    free(fields);
    store_call_free(c);
}

int store_chain_pending(redis_t *r, const char *site_id, unsigned partition, size_t max,
                        store_chain_pending_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_id_ok(site_id) || partition >= STORE_PARTITIONS ||
        max == 0)
        return REDIS_E_ARGS;
    store_call_t *c = store_raw_new(r, data, 3 * STORE_KEY_MAX, STORE_ARGV_MAX,
                                    store_chain_pending_reply, store_chain_pending_fail);
    if (c == NULL) return REDIS_E_BUSY;
    c->cb.chain_pending = cb;
    c->is_fcall = 1;
    c->raw.partition = partition;
    store_call_tag(c, site_id, partition);
    return store_call_start(c, store_arg_str(c, "FCALL_RO") |
                                   store_arg_str(c, "consentd_chain_pending") |
                                   store_arg_str(c, "2") | store_arg_key(c, "chain", 5, "") |
                                   store_arg_key(c, "log", 3, "") | store_arg_i64(c, (int64_t)max));
}

static void store_chain_append_fail(store_call_t *c, const redis_error_t *err)
{
    c->cb.chain_append(c->data, 0, err);
}

static void store_chain_append_reply(store_call_t *c, const redis_reply_t *reply)
{
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_INTEGER || redis_reply_integer(reply) < -1) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    c->cb.chain_append(c->data, redis_reply_integer(reply), NULL);
    store_call_free(c);
}

int store_chain_append(redis_t *r, const char *site_id, unsigned partition, const char *expected_id,
                       int64_t retention_ms, const store_chain_link_t *links, size_t n,
                       store_chain_append_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_id_ok(site_id) || partition >= STORE_PARTITIONS ||
        n == 0 || n > STORE_CHAIN_BATCH_MAX || retention_ms < 1)
        return REDIS_E_ARGS;
    size_t nargs = 7 + 3 * n;
    store_call_t *c =
        store_raw_new(r, data, 3 * STORE_KEY_MAX + 64 + n * (STORE_ID_MAX + 24 + LOGCHAIN_HEX_LEN),
                      nargs, store_chain_append_reply, store_chain_append_fail);
    if (c == NULL) return REDIS_E_BUSY;
    c->cb.chain_append = cb;
    c->is_fcall = 1;
    c->durable = 1;
    store_call_tag(c, site_id, partition);
    int brc =
        store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_chain_append") |
        store_arg_str(c, "2") | store_arg_key(c, "chain", 5, "") | store_arg_key(c, "log", 3, "") |
        store_arg_str(c, expected_id != NULL ? expected_id : "") | store_arg_i64(c, retention_ms);
    for (size_t i = 0; i < n && brc == 0; i++)
        brc |= store_arg_str(c, links[i].id) | store_arg_i64(c, (int64_t)links[i].n) |
               store_arg_str(c, links[i].h);
    return store_call_start(c, brc);
}

static void store_lease_fail(store_call_t *c, const redis_error_t *err)
{
    c->cb.found(c->data, 0, err);
}

static void store_lease_reply(store_call_t *c, const redis_reply_t *reply)
{
    redis_reply_kind_t k = redis_reply_kind(reply);
    if (k != REDIS_REPLY_KIND_STATUS && k != REDIS_REPLY_KIND_NIL) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    c->cb.found(c->data, k == REDIS_REPLY_KIND_STATUS, NULL);
    store_call_free(c);
}

int store_checkpoint_lease(redis_t *r, const char *site_id, const char *token, int64_t ttl_ms,
                           store_found_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_id_ok(site_id) || token == NULL || ttl_ms < 1)
        return REDIS_E_ARGS;
    store_call_t *c = store_raw_new(r, data, 2 * STORE_KEY_MAX + strlen(token) + 64, STORE_ARGV_MAX,
                                    store_lease_reply, store_lease_fail);
    if (c == NULL) return REDIS_E_BUSY;
    c->cb.found = cb;
    store_call_log_tag(c, site_id);
    return store_call_start(c, store_arg_str(c, "SET") | store_arg_key(c, "lease", 5, "") |
                                   store_arg_str(c, token) | store_arg_str(c, "NX") |
                                   store_arg_str(c, "PX") | store_arg_i64(c, ttl_ms));
}

static void store_checkpoints_fail(store_call_t *c, const redis_error_t *err)
{
    c->cb.checkpoints(c->data, NULL, 0, NULL, err);
}

/* XRANGE / XREVRANGE of the checkpoints: [id, [jws, <jws>, root, <root>]]. */
static void store_checkpoints_reply(store_call_t *c, const redis_reply_t *reply)
{
    store_log_entry_t *entries;
    logchain_bytes_t *fields;
    size_t n;
    if (store_entries_read(reply, 0, &entries, &fields, &n) != 0) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    store_checkpoint_t *cps = calloc(n + 1, sizeof(*cps));
    if (cps == NULL) {
        free(entries);
        free(fields);
        store_call_fail(c, &store_error_oom);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        store_checkpoint_t cp = {entries[i].id, NULL, 0, ""};
        for (size_t f = 0; f + 1 < entries[i].n_fields; f += 2) {
            const logchain_bytes_t *name = &entries[i].fields[f], *v = &entries[i].fields[f + 1];
            if (name->len == 3 && memcmp(name->p, "jws", 3) == 0) {
                cp.jws = v->p;
                cp.jws_len = v->len;
            } else if (name->len == 4 && memcmp(name->p, "root", 4) == 0) {
                cp.root = v->p;
            }
        }
        if (cp.jws != NULL) cps[k++] = cp;
    }
    /* A full page may have more after it (the last page may then be empty). */
    const char *next = c->raw.limit > 0 && n == c->raw.limit ? entries[n - 1].id : NULL;
    c->cb.checkpoints(c->data, cps, k, next, NULL);
    free(cps);
    free(entries);
    free(fields);
    store_call_free(c);
}

int store_checkpoint_last(redis_t *r, const char *site_id, store_checkpoints_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_id_ok(site_id)) return REDIS_E_ARGS;
    store_call_t *c = store_raw_new(r, data, 2 * STORE_KEY_MAX, STORE_ARGV_MAX,
                                    store_checkpoints_reply, store_checkpoints_fail);
    if (c == NULL) return REDIS_E_BUSY;
    c->cb.checkpoints = cb;
    store_call_log_tag(c, site_id);
    return store_call_start(c, store_arg_str(c, "XREVRANGE") |
                                   store_arg_key(c, "checkpoints", 11, "") | store_arg_str(c, "+") |
                                   store_arg_str(c, "-") | store_arg_str(c, "COUNT") |
                                   store_arg_str(c, "1"));
}

/* 0 when s is a stream id "<ms>-<seq>" (digits), -1 otherwise. */
static int store_stream_id_ok(const char *s)
{
    size_t len = strlen(s), dash = 0, digits = 0;
    if (len == 0 || len >= STORE_ID_MAX) return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '-') {
            if (dash++ > 0 || digits == 0) return -1;
            digits = 0;
        } else if (s[i] >= '0' && s[i] <= '9') {
            digits++;
        } else {
            return -1;
        }
    }
    return dash == 1 && digits > 0 ? 0 : -1;
}

int store_checkpoint_page(redis_t *r, const site_t *site, const char *cursor, size_t limit,
                          store_checkpoints_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || limit == 0 ||
        limit > STORE_CHECKPOINT_PAGE_MAX || (cursor != NULL && store_stream_id_ok(cursor) != 0))
        return REDIS_E_ARGS;
    store_call_t *c = store_raw_new(r, data, 3 * STORE_KEY_MAX, STORE_ARGV_MAX,
                                    store_checkpoints_reply, store_checkpoints_fail);
    if (c == NULL) return REDIS_E_BUSY;
    c->cb.checkpoints = cb;
    c->raw.limit = limit;
    store_call_log_tag(c, site->id);
    int brc = store_arg_str(c, "XRANGE") | store_arg_key(c, "checkpoints", 11, "");
    if (cursor != NULL)
        brc |= store_argf(c, "(%s", cursor);
    else
        brc |= store_arg_str(c, "-");
    brc |= store_arg_str(c, "+") | store_arg_str(c, "COUNT") | store_arg_i64(c, (int64_t)limit);
    return store_call_start(c, brc);
}

static void store_checkpoint_add_fail(store_call_t *c, const redis_error_t *err)
{
    c->cb.checkpoint_added(c->data, NULL, err);
}

static void store_checkpoint_add_reply(store_call_t *c, const redis_reply_t *reply)
{
    size_t len;
    const char *id = store_reply_text(reply, &len);
    if (id == NULL) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    c->cb.checkpoint_added(c->data, len > 0 ? id : NULL, NULL);
    store_call_free(c);
}

int store_checkpoint_add(redis_t *r, const char *site_id, const char *expected_id, const char *jws,
                         size_t jws_len, const char *root, int64_t retention_ms,
                         store_checkpoint_added_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_id_ok(site_id) || jws == NULL || jws_len == 0 ||
        root == NULL || retention_ms < 1)
        return REDIS_E_ARGS;
    store_call_t *c =
        store_raw_new(r, data, 2 * STORE_KEY_MAX + jws_len + strlen(root) + 64, STORE_ARGV_MAX,
                      store_checkpoint_add_reply, store_checkpoint_add_fail);
    if (c == NULL) return REDIS_E_BUSY;
    c->cb.checkpoint_added = cb;
    c->is_fcall = 1;
    c->durable = 1;
    store_call_log_tag(c, site_id);
    return store_call_start(c, store_arg_str(c, "FCALL") |
                                   store_arg_str(c, "consentd_checkpoint_add") |
                                   store_arg_str(c, "1") | store_arg_key(c, "checkpoints", 11, "") |
                                   store_arg_str(c, expected_id != NULL ? expected_id : "") |
                                   store_arg(c, jws, jws_len) | store_arg_str(c, root) |
                                   store_arg_i64(c, retention_ms));
}

static int store_log_raw_send(store_call_t *c, const char *after);

static void store_log_raw_fail(store_call_t *c, const redis_error_t *err)
{
    c->cb.log_raw(c->data, NULL, 0, NULL, err);
}

static void store_log_raw_reply(store_call_t *c, const redis_reply_t *reply)
{
    store_log_entry_t *entries;
    logchain_bytes_t *fields;
    size_t n;
    if (store_entries_read(reply, c->raw.partition, &entries, &fields, &n) != 0) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    if (n == 0) {
        free(entries);
        free(fields);
        /* This partition is done: the next one with entries, or the end. */
        if (++c->raw.partition >= STORE_PARTITIONS) {
            c->cb.log_raw(c->data, NULL, 0, NULL, NULL);
            store_call_free(c);
            return;
        }
        int rc = store_log_raw_send(c, NULL);
        if (rc != REDIS_OK) store_call_fail(c, redis_error_of_rc(rc));
        return;
    }
    char cursor[STORE_CURSOR_MAX];
    const char *next = NULL;
    if (n == c->raw.limit) {
        snprintf(cursor, sizeof(cursor), "%u-%.*s", c->raw.partition, (int)entries[n - 1].id_len,
                 entries[n - 1].id);
        next = cursor;
    } else if (c->raw.partition + 1 < STORE_PARTITIONS) {
        snprintf(cursor, sizeof(cursor), "%u-0-0", c->raw.partition + 1);
        next = cursor;
    }
    c->cb.log_raw(c->data, entries, n, next, NULL);
    free(entries);
    free(fields);
    store_call_free(c);
}

static int store_log_raw_send(store_call_t *c, const char *after)
{
    store_call_tag(c, c->raw.site_id, c->raw.partition);
    c->argc = 0;
    c->used = 0;
    int brc = store_arg_str(c, "FCALL_RO") | store_arg_str(c, "consentd_log_raw") |
              store_arg_str(c, "2") | store_arg_key(c, "log", 3, "") |
              store_arg_key(c, "chain", 5, "");
    if (after != NULL)
        brc |= store_argf(c, "(%s", after);
    else
        brc |= store_arg_str(c, "-");
    brc |= store_arg_i64(c, (int64_t)c->raw.limit);
    if (brc != 0) return REDIS_E_ARGS;
    return store_call_send(c);
}

int store_log_raw_page(redis_t *r, const site_t *site, const char *cursor, size_t limit,
                       store_log_raw_cb cb, void *data)
{
    return store_log_raw_page_from(r, NULL, site, cursor, limit, cb, data);
}

int store_log_raw_page_from(redis_t *r, redis_t *replica, const site_t *site, const char *cursor,
                            size_t limit, store_log_raw_cb cb, void *data)
{
    store_cursor_t at = {0, 0, 0};
    if (r == NULL || cb == NULL || !store_site_ok(site) || limit == 0 ||
        (cursor != NULL && store_cursor_parse(cursor, &at) != 0))
        return REDIS_E_ARGS;
    if (limit > STORE_LOG_PAGE_MAX) limit = STORE_LOG_PAGE_MAX;
    store_call_t *c = store_raw_new(r, data, 4 * STORE_KEY_MAX, STORE_ARGV_MAX, store_log_raw_reply,
                                    store_log_raw_fail);
    if (c == NULL) return REDIS_E_BUSY;
    c->cb.log_raw = cb;
    c->is_fcall = 1;
    snprintf(c->raw.site_id, sizeof(c->raw.site_id), "%s", site->id);
    c->raw.partition = at.partition;
    c->raw.limit = limit;
    char after[STORE_ID_MAX];
    if (at.ms != 0 || at.seq != 0)
        snprintf(after, sizeof(after), "%llu-%llu", (unsigned long long)at.ms,
                 (unsigned long long)at.seq);
    store_call_read_from(c, replica);
    int rc = store_log_raw_send(c, at.ms != 0 || at.seq != 0 ? after : NULL);
    if (rc != REDIS_OK) store_call_free(c);
    return rc;
}

static void store_inclusion_fail(store_call_t *c, const redis_error_t *err)
{
    c->cb.inclusion(c->data, NULL, NULL, 0, NULL, 0, err);
}

static void store_inclusion_reply(store_call_t *c, const redis_reply_t *reply)
{
    const redis_reply_t *fields = redis_reply_at(reply, 0);
    size_t len[3];
    const char *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = store_reply_text(redis_reply_at(reply, (size_t)i + 1), &len[i]);
    store_log_entry_t *following = NULL;
    logchain_bytes_t *ffields = NULL, *efields = NULL;
    size_t n = 0;
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_ARRAY || redis_reply_count(reply) != 5 ||
        t[0] == NULL || t[1] == NULL || t[2] == NULL ||
        (redis_reply_kind(fields) != REDIS_REPLY_KIND_ARRAY &&
         redis_reply_kind(fields) != REDIS_REPLY_KIND_NIL &&
         redis_reply_kind(fields) != REDIS_REPLY_KIND_INTEGER) ||
        store_entries_read(redis_reply_at(reply, 4), c->raw.partition, &following, &ffields, &n) !=
            0) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    store_log_entry_t entry = {.partition = c->raw.partition, .id = c->raw.id};
    int found = redis_reply_kind(fields) == REDIS_REPLY_KIND_ARRAY;
    if (found) {
        size_t nf = redis_reply_count(fields);
        efields = calloc(nf + 1, sizeof(*efields));
        int bad = efields == NULL;
        for (size_t i = 0; i < nf && !bad; i++) {
            efields[i].p = store_reply_text(redis_reply_at(fields, i), &efields[i].len);
            bad = efields[i].p == NULL;
        }
        if (bad) {
            free(efields);
            free(following);
            free(ffields);
            store_call_fail(c, &store_error_unexpected);
            return;
        }
        entry.id_len = strlen(entry.id);
        entry.fields = efields;
        entry.n_fields = nf;
        entry.h = len[0] == LOGCHAIN_HEX_LEN ? t[0] : NULL;
    }
    c->cb.inclusion(c->data, found ? &entry : NULL, len[1] == LOGCHAIN_HEX_LEN ? t[1] : NULL,
                    strtoull(t[2], NULL, 10), following, n, NULL);
    free(efields);
    free(following);
    free(ffields);
    store_call_free(c);
}

int store_log_inclusion(redis_t *r, const site_t *site, unsigned partition, const char *id,
                        size_t max, store_inclusion_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || partition >= STORE_PARTITIONS ||
        id == NULL || store_stream_id_ok(id) != 0 || max == 0 ||
        max > STORE_INCLUSION_FOLLOWING_MAX)
        return REDIS_E_ARGS;
    store_call_t *c = store_raw_new(r, data, 4 * STORE_KEY_MAX, STORE_ARGV_MAX,
                                    store_inclusion_reply, store_inclusion_fail);
    if (c == NULL) return REDIS_E_BUSY;
    c->cb.inclusion = cb;
    c->is_fcall = 1;
    c->raw.partition = partition;
    store_call_tag(c, site->id, partition);
    snprintf(c->raw.id, sizeof(c->raw.id), "%s", id); /* < STORE_ID_MAX: checked above */
    return store_call_start(c, store_arg_str(c, "FCALL_RO") |
                                   store_arg_str(c, "consentd_log_inclusion") |
                                   store_arg_str(c, "2") | store_arg_key(c, "log", 3, "") |
                                   store_arg_key(c, "chain", 5, "") | store_arg_str(c, id) |
                                   store_arg_i64(c, (int64_t)max));
}

/* ---- compaction on disk after erasures (see the head) ------------------------- */

static store_call_t *store_compact_call(store_call_kind_t kind, redis_t *r, const char *site_id,
                                        unsigned partition, void *data)
{
    if (r == NULL || !store_site_id_ok(site_id) || partition >= STORE_PARTITIONS) return NULL;
    store_call_t *c = store_call_new(kind, r, data, 2 * STORE_KEY_MAX);
    if (c != NULL) store_call_tag(c, site_id, partition);
    return c;
}

int store_compact_server(redis_t *r, const char *site_id, unsigned partition)
{
    char tag[STORE_TAG_MAX]; /* as store_call_tag writes it */
    if (r == NULL || !store_site_id_ok(site_id) || partition >= STORE_PARTITIONS) return -1;
    int n = snprintf(tag, sizeof(tag), "%s:%u", site_id, partition);
    return n > 0 && (size_t)n < sizeof(tag) ? redis_server_of(r, tag, (size_t)n) : -1;
}

int store_compact_take(redis_t *r, const char *site_id, unsigned partition, int64_t due_ms,
                       store_compact_take_cb cb, void *data)
{
    if (cb == NULL) return REDIS_E_ARGS;
    store_call_t *c = store_compact_call(STORE_CALL_COMPACT_TAKE, r, site_id, partition, data);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.compact_take = cb;
    c->is_fcall = 1;
    return store_call_start(c, store_arg_str(c, "FCALL") |
                                   store_arg_str(c, "consentd_compact_take") |
                                   store_arg_str(c, "1") | store_arg_key(c, "compact", 7, "") |
                                   store_arg_i64(c, due_ms));
}

int store_compact_mark(redis_t *r, const char *site_id, unsigned partition, int64_t since_ms,
                       int64_t ttl_ms, store_done_cb cb, void *data)
{
    if (cb == NULL || since_ms < 1 || ttl_ms < 1) return REDIS_E_ARGS;
    store_call_t *c = store_compact_call(STORE_CALL_COMPACT, r, site_id, partition, data);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.done = cb;
    c->is_fcall = 1;
    c->compact_step = 1; /* one reply: done */
    return store_call_start(c, store_arg_str(c, "FCALL") |
                                   store_arg_str(c, "consentd_compact_mark") |
                                   store_arg_str(c, "1") | store_arg_key(c, "compact", 7, "") |
                                   store_arg_i64(c, since_ms) | store_arg_i64(c, ttl_ms));
}

int store_compact(redis_t *r, const char *site_id, unsigned partition, store_done_cb cb, void *data)
{
    if (cb == NULL) return REDIS_E_ARGS;
    store_call_t *c = store_compact_call(STORE_CALL_COMPACT, r, site_id, partition, data);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.done = cb;
    /* Routed by the partition's tag: the master that holds its keys. */
    return store_call_start(c, store_arg_str(c, "BGREWRITEAOF"));
}

static void store_compact_on_reply(store_call_t *c, const redis_reply_t *reply)
{
    redis_reply_kind_t kind = redis_reply_kind(reply);
    if (c->kind == STORE_CALL_COMPACT_TAKE) {
        if (kind != REDIS_REPLY_KIND_INTEGER || redis_reply_integer(reply) < 0) {
            store_call_fail(c, &store_error_unexpected);
            return;
        }
        c->cb.compact_take(c->data, redis_reply_integer(reply), NULL);
        store_call_free(c);
        return;
    }
    if (c->compact_step == 0) {
        /* The AOF rewrite started (or was scheduled after a running save):
         * then a snapshot, after it (SCHEDULE: not refused meanwhile). */
        c->compact_step = 1;
        c->argc = 0;
        c->used = 0;
        int rc = store_arg_str(c, "BGSAVE") | store_arg_str(c, "SCHEDULE");
        rc = rc != 0 ? REDIS_E_ARGS : store_call_send(c);
        if (rc != REDIS_OK) store_call_fail(c, redis_error_of_rc(rc));
        return;
    }
    c->cb.done(c->data, NULL);
    store_call_free(c);
}

/* ---- health ------------------------------------------------------------------ */

typedef struct store_ping_call {
    store_done_cb cb;
    void *data;
} store_ping_call_t;

static void store_on_pong(void *data, const redis_reply_t *reply, const redis_error_t *err)
{
    store_ping_call_t *c = data;
    size_t len = 0;
    const char *s = reply != NULL ? redis_reply_str(reply, &len) : NULL;
    char text[STORE_ERR_MAX];
    redis_error_t e;
    if (err == NULL && redis_reply_kind(reply) == REDIS_REPLY_KIND_ERROR) {
        e = redis_error_of_reply(reply, text, sizeof(text));
        err = &e;
    } else if (err == NULL && (redis_reply_kind(reply) != REDIS_REPLY_KIND_STATUS || len != 4 ||
                               memcmp(s, "PONG", 4) != 0)) {
        e = (redis_error_t){REDIS_ERROR_REPLY, "unexpected reply to PING"};
        err = &e;
    }
    c->cb(c->data, err);
    free(c);
}

int store_connected(redis_t *r, const char **why)
{
    int up = r != NULL && redis_is_connected(r);
    *why = up || r == NULL ? "" : redis_last_error(r);
    return up;
}

int store_ping(redis_t *r, store_done_cb cb, void *data)
{
    static const char *argv[] = {"PING"};
    static const size_t argvlen[] = {4};
    if (r == NULL || cb == NULL) return REDIS_E_ARGS;
    store_ping_call_t *c = malloc(sizeof(*c));
    if (c == NULL) return REDIS_E_BUSY;
    c->cb = cb;
    c->data = data;
    int rc = redis_command(r, NULL, 0, store_on_pong, c, 1, argv, argvlen);
    if (rc != REDIS_OK) free(c);
    return rc;
}

/* ---- identify: logged-in visitors (issue 20, item 7; keys at the head) ---- */

static int store_user_ok(const char *user)
{
    size_t n = user != NULL ? strlen(user) : 0;
    return n == IDENTIFY_USER_HEX && strspn(user, "0123456789abcdef") == n;
}

/* "<site>:u:<user>": the user's own tag (one slot per user). */
static void store_call_user_tag(store_call_t *c, const char *site_id, const char *user)
{
    int n = snprintf(c->tag, sizeof(c->tag), "%s:u:%s", site_id, user);
    c->tag_len = n > 0 && (size_t)n < sizeof(c->tag) ? (size_t)n : 0;
}

int store_identify_link(redis_t *r, const site_t *site, const char *visitor, const char *user,
                        store_record_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || !store_visitor_ok(visitor) ||
        !store_user_ok(user))
        return REDIS_E_ARGS;
    store_call_t *c = store_call_new(STORE_CALL_GET, r, data, 3 * STORE_KEY_MAX);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.record = cb; /* the answer is the visitor's state: store_on_get reads it */
    c->is_fcall = 1;
    c->durable = 1;
    store_call_tag(c, site->id, store_partition(visitor, strlen(visitor)));
    return store_call_start(
        c, store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_identify_link") |
               store_arg_str(c, "2") | store_arg_keys(c, visitor, 1) |
               store_arg_visitor_key(c, "u", visitor) | store_arg_str(c, user) |
               store_arg_i64(c, (int64_t)site->choice_lifetime_days * STORE_MS_PER_DAY));
}

static void store_user_choice_fail(store_call_t *c, const redis_error_t *err)
{
    c->cb.record(c->data, NULL, err);
}

/* HMGET r v: {record or nil, visitor or nil}. */
static void store_user_choice_reply(store_call_t *c, const redis_reply_t *reply)
{
    size_t len = 0;
    const char *s = store_reply_text(redis_reply_at(reply, 0), &len);
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_ARRAY || redis_reply_count(reply) != 2) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    store_record_t rec;
    char *strings = NULL;
    if (s != NULL && store_decode_alloc(s, len, 0, &rec, &strings) == 0) {
        c->cb.record(c->data, &rec, NULL);
        free(strings);
    } else {
        if (s != NULL)
            log_msg(LOG_WARN, "store: %.*s: undecodable user record ignored", (int)c->tag_len,
                    c->tag);
        c->cb.record(c->data, NULL, NULL);
    }
    store_call_free(c);
}

int store_user_choice(redis_t *r, const site_t *site, const char *user, const char *visitor,
                      const store_record_t *rec, store_record_cb cb, void *data)
{
    if (visitor == NULL && rec == NULL) visitor = ""; /* a read: the site's server, no visitor */
    if (r == NULL || cb == NULL || !store_site_ok(site) || visitor == NULL ||
        (visitor[0] != '\0' && !store_visitor_ok(visitor)) || !store_user_ok(user))
        return REDIS_E_ARGS;
    size_t enc_len = 0;
    char *enc = NULL;
    if (rec != NULL) {
        store_record_t bare = *rec;
        bare.log_id = NULL;
        if ((enc = store_record_encode(&bare, &enc_len)) == NULL) return REDIS_E_ARGS;
    }
    store_call_t *c = store_raw_new(r, data, 3 * STORE_KEY_MAX + enc_len + 64, STORE_ARGV_MAX,
                                    store_user_choice_reply, store_user_choice_fail);
    if (c == NULL) {
        free(enc);
        return REDIS_E_BUSY;
    }
    c->cb.record = cb;
    c->is_fcall = 1;
    c->durable = 1;
    store_call_user_tag(c, site->id, user);
    int brc = store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_user_choice") |
              store_arg_str(c, "1") | store_arg_key(c, "c", 1, "") | store_arg_str(c, visitor) |
              store_arg(c, enc != NULL ? enc : "", enc_len) |
              store_arg_i64(c, rec != NULL ? rec->issued_at_ms : 0) |
              store_arg_i64(c, rec != NULL ? rec->expires_at_ms : 0);
    free(enc);
    return store_call_start(c, brc);
}

static void store_identify_user_fail(store_call_t *c, const redis_error_t *err)
{
    c->cb.put_linked(c->data, NULL, err);
}

static void store_identify_user_reply(store_call_t *c, const redis_reply_t *reply)
{
    size_t len = 0;
    const char *user = store_reply_text(reply, &len);
    if (user == NULL && redis_reply_kind(reply) != REDIS_REPLY_KIND_NIL) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    c->cb.put_linked(c->data, user != NULL && len > 0 ? user : NULL, NULL);
    store_call_free(c);
}

int store_identify_user(redis_t *r, const site_t *site, const char *visitor, store_put_linked_cb cb,
                        void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || !store_visitor_ok(visitor))
        return REDIS_E_ARGS;
    store_call_t *c = store_raw_new(r, data, 2 * STORE_KEY_MAX, STORE_ARGV_MAX,
                                    store_identify_user_reply, store_identify_user_fail);
    if (c == NULL) return REDIS_E_BUSY;
    c->cb.put_linked = cb;
    store_call_tag(c, site->id, store_partition(visitor, strlen(visitor)));
    return store_call_start(c, store_arg_str(c, "GET") | store_arg_visitor_key(c, "u", visitor));
}

static void store_user_unlink_fail(store_call_t *c, const redis_error_t *err)
{
    c->cb.done(c->data, err);
}

static void store_user_unlink_reply(store_call_t *c, const redis_reply_t *reply)
{
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_INTEGER) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    c->cb.done(c->data, NULL);
    store_call_free(c);
}

int store_user_unlink(redis_t *r, const site_t *site, const char *user, const char *visitor,
                      store_done_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || !store_visitor_ok(visitor) ||
        !store_user_ok(user))
        return REDIS_E_ARGS;
    store_call_t *c = store_raw_new(r, data, 3 * STORE_KEY_MAX, STORE_ARGV_MAX,
                                    store_user_unlink_reply, store_user_unlink_fail);
    if (c == NULL) return REDIS_E_BUSY;
    c->cb.done = cb;
    c->is_fcall = 1;
    c->durable = 1;
    store_call_user_tag(c, site->id, user);
    return store_call_start(
        c, store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_user_unlink") |
               store_arg_str(c, "1") | store_arg_key(c, "c", 1, "") | store_arg_str(c, visitor));
}

/* ---- sites in Redis (issue 22, item 1; the layout: SITE CONFIGURATION above) --
 *
 * Every call is one FCALL whose reply is one JSON text (store.lua), passed up
 * as bytes (STORE_CALL_BANNER_GET's reply kind): the api parses it. */

static store_call_t *store_siteconf_call(redis_t *r, const char *site_id, void *data, size_t extra,
                                         store_bytes_cb cb)
{
    if (r == NULL || cb == NULL || !store_site_id_ok(site_id)) return NULL;
    store_call_t *c = store_call_new(STORE_CALL_BANNER_GET, r, data, STORE_KEY_MAX + 128 + extra);
    if (c == NULL) return NULL;
    int n = snprintf(c->tag, sizeof(c->tag), "%s:site", site_id);
    c->tag_len = n > 0 && (size_t)n < sizeof(c->tag) ? (size_t)n : 0;
    c->cb.bytes = cb;
    c->is_fcall = 1;
    return c;
}

static int store_siteconf_head(store_call_t *c, const char *fn, int ro)
{
    return store_arg_str(c, ro ? "FCALL_RO" : "FCALL") | store_arg_str(c, fn) |
           store_arg_str(c, "1") | store_argf(c, "cd:{%.*s}:head", (int)c->tag_len, c->tag);
}

static int store_siteconf_who_ok(const char *s)
{
    return s != NULL && strlen(s) <= STORE_SITE_WHO_MAX;
}

int store_site_commit(redis_t *r, const char *site_id, const char *json, size_t len,
                      const char *who, const char *message, uint64_t parent, int publish,
                      int64_t expect_published, store_bytes_cb cb, void *data)
{
    if (json == NULL || len == 0 || len > STORE_SITE_JSON_MAX || !store_siteconf_who_ok(who) ||
        message == NULL || strlen(message) > STORE_SITE_MESSAGE_MAX)
        return REDIS_E_ARGS;
    store_call_t *c =
        store_siteconf_call(r, site_id, data, len + strlen(who) + strlen(message), cb);
    if (c == NULL) return REDIS_E_ARGS;
    char parent_s[24] = "", expect_s[24] = "";
    if (parent > 0) snprintf(parent_s, sizeof(parent_s), "%" PRIu64, parent);
    if (expect_published >= 0) snprintf(expect_s, sizeof(expect_s), "%" PRId64, expect_published);
    return store_call_start(c, store_siteconf_head(c, "consentd_site_commit", 0) |
                                   store_arg(c, json, len) | store_arg_str(c, who) |
                                   store_arg_str(c, message) | store_arg_str(c, parent_s) |
                                   store_argf(c, "%d", publish) | store_arg_str(c, expect_s));
}

int store_site_publish(redis_t *r, const char *site_id, uint64_t version, const char *who,
                       int64_t expect_published, store_bytes_cb cb, void *data)
{
    if (version == 0 || !store_siteconf_who_ok(who)) return REDIS_E_ARGS;
    store_call_t *c = store_siteconf_call(r, site_id, data, strlen(who), cb);
    if (c == NULL) return REDIS_E_ARGS;
    char expect_s[24] = "";
    if (expect_published >= 0) snprintf(expect_s, sizeof(expect_s), "%" PRId64, expect_published);
    return store_call_start(c, store_siteconf_head(c, "consentd_site_publish", 0) |
                                   store_argf(c, "%" PRIu64, version) | store_arg_str(c, who) |
                                   store_arg_str(c, expect_s));
}

int store_site_draft_put(redis_t *r, const char *site_id, const char *json, size_t len,
                         const char *who, uint64_t revision, store_bytes_cb cb, void *data)
{
    if (json == NULL || len == 0 || len > STORE_SITE_JSON_MAX || !store_siteconf_who_ok(who))
        return REDIS_E_ARGS;
    store_call_t *c = store_siteconf_call(r, site_id, data, len + strlen(who), cb);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(c, store_siteconf_head(c, "consentd_site_draft_put", 0) |
                                   store_arg(c, json, len) | store_arg_str(c, who) |
                                   store_argf(c, "%" PRIu64, revision));
}

int store_site_draft_get(redis_t *r, const char *site_id, store_bytes_cb cb, void *data)
{
    store_call_t *c = store_siteconf_call(r, site_id, data, 0, cb);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(c, store_siteconf_head(c, "consentd_site_draft_get", 1));
}

int store_site_draft_revision(redis_t *r, const char *site_id, store_bytes_cb cb, void *data)
{
    store_call_t *c = store_siteconf_call(r, site_id, data, 0, cb);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(c, store_siteconf_head(c, "consentd_site_draft_get", 1) |
                                   store_arg_str(c, "revision"));
}

int store_site_versions(redis_t *r, const char *site_id, size_t limit, store_bytes_cb cb,
                        void *data)
{
    if (limit == 0 || limit > STORE_SITE_VERSIONS_MAX) return REDIS_E_ARGS;
    store_call_t *c = store_siteconf_call(r, site_id, data, 0, cb);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(c, store_siteconf_head(c, "consentd_site_versions", 1) |
                                   store_argf(c, "%zu", limit));
}

int store_site_version_get(redis_t *r, const char *site_id, uint64_t version, store_bytes_cb cb,
                           void *data)
{
    store_call_t *c = store_siteconf_call(r, site_id, data, 0, cb);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(
        c, store_siteconf_head(c, "consentd_site_version_get", 1) |
               (version == 0 ? store_arg_str(c, "published") : store_argf(c, "%" PRIu64, version)));
}

/* The registry's calls: tag {sites}, one key. */
static store_call_t *store_registry_call(redis_t *r, void *data, size_t extra, store_bytes_cb cb)
{
    if (r == NULL || cb == NULL) return NULL;
    store_call_t *c = store_call_new(STORE_CALL_BANNER_GET, r, data, STORE_KEY_MAX + 128 + extra);
    if (c == NULL) return NULL;
    memcpy(c->tag, "sites", 5);
    c->tag_len = 5;
    c->cb.bytes = cb;
    c->is_fcall = 1;
    return c;
}

int store_sites_list(redis_t *r, store_bytes_cb cb, void *data)
{
    store_call_t *c = store_registry_call(r, data, 0, cb);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(c, store_arg_str(c, "FCALL_RO") |
                                   store_arg_str(c, "consentd_sites_list") | store_arg_str(c, "1") |
                                   store_arg_str(c, "cd:{sites}:registry"));
}

int store_sites_announce(redis_t *r, const char *site_id, uint64_t version, store_bytes_cb cb,
                         void *data)
{
    if (!store_site_id_ok(site_id) || version == 0) return REDIS_E_ARGS;
    store_call_t *c = store_registry_call(r, data, strlen(site_id), cb);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(c, store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_sites_mark") |
                                   store_arg_str(c, "1") | store_arg_str(c, "cd:{sites}:registry") |
                                   store_arg_str(c, site_id) | store_argf(c, "%" PRIu64, version) |
                                   store_arg_str(c, STORE_SITES_CHANNEL));
}

/* ---- the console (library version 13) ----------------------------------------- */

static int store_preview_id_ok(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n != STORE_SITE_PREVIEW_ID_LEN) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

int store_site_preview_put(redis_t *r, const char *site_id, const char *preview_id,
                           const char *json, size_t len, store_bytes_cb cb, void *data)
{
    if (json == NULL || len == 0 || len > STORE_SITE_JSON_MAX || !store_preview_id_ok(preview_id))
        return REDIS_E_ARGS;
    store_call_t *c = store_siteconf_call(r, site_id, data, len + 64, cb);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(c, store_siteconf_head(c, "consentd_site_preview_put", 0) |
                                   store_arg(c, json, len) | store_arg_str(c, preview_id) |
                                   store_argf(c, "%d", STORE_SITE_PREVIEW_MS));
}

int store_site_preview_get(redis_t *r, const char *site_id, const char *preview_id,
                           store_bytes_cb cb, void *data)
{
    if (!store_preview_id_ok(preview_id)) return REDIS_E_ARGS;
    store_call_t *c = store_siteconf_call(r, site_id, data, 64, cb);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(c, store_siteconf_head(c, "consentd_site_preview_get", 1) |
                                   store_arg_str(c, preview_id));
}

int store_site_create(redis_t *r, const char *site_id, const char *json, size_t len,
                      const char *who, const char *message, store_bytes_cb cb, void *data)
{
    if (json == NULL || len == 0 || len > STORE_SITE_JSON_MAX || !store_siteconf_who_ok(who) ||
        message == NULL || strlen(message) > STORE_SITE_MESSAGE_MAX)
        return REDIS_E_ARGS;
    store_call_t *c =
        store_siteconf_call(r, site_id, data, len + strlen(who) + strlen(message), cb);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(c, store_siteconf_head(c, "consentd_site_create", 0) |
                                   store_arg(c, json, len) | store_arg_str(c, who) |
                                   store_arg_str(c, message));
}

int store_sites_mark(redis_t *r, const char *site_id, int64_t mark, store_bytes_cb cb, void *data)
{
    if (!store_site_id_ok(site_id) || mark == 0) return REDIS_E_ARGS;
    store_call_t *c = store_registry_call(r, data, strlen(site_id), cb);
    if (c == NULL) return REDIS_E_ARGS;
    return store_call_start(c, store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_sites_mark") |
                                   store_arg_str(c, "1") | store_arg_str(c, "cd:{sites}:registry") |
                                   store_arg_str(c, site_id) | store_argf(c, "%" PRId64, mark) |
                                   store_arg_str(c, STORE_SITES_CHANNEL));
}
