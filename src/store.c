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
 *   cd:{site:p}:log                STREAM  log retention, from the   entries {v: visitor,
 *                                          last write; entries       r: record}; id = when
 *                                          trimmed by MINID          Redis stored it
 *   cd:{site:p}:x:<visitor>        LIST    log retention, from the   log entry ids of the
 *                                          last id pushed            visitor that left the
 *                                                                    history by its count,
 *                                                                    newest first (the index)
 *   cd:{site:p}:wm:<visitor>       STRING  60 s from the visitor's   integer: its writes in the
 *                                          first write in the window window (the write limit)
 *   cd:{site:p}:wd:<visitor>       STRING  a day, likewise           the same, per day
 *   cd:{site:p}:erasures           STRING  log retention, from the   integer: erasures done
 *                                          last erasure              (anonymous; sum the 64)
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
 *
 * (stats retention = site->stats_retention_days.) Fields: dims all,
 * v.<variant>, l.<lang>, s.<source>; metrics shown, dismissed,
 * panel_opened, decisions, accept_all, reject_all, custom, withdrawn,
 * g.<purpose>, r.<purpose> (counters.h says what each counts). Writes:
 * consentd_count (HINCRBY each field into the hour and the day hash, PFADD
 * the visitors, PEXPIREAT the three keys). Reads: consentd_stats (HMGET of
 * the asked fields from each bucket's hash, PFCOUNT of the days).
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
 * A RECORD (the value of a state, of a history entry, the `r` of a log
 * entry) is a msgpack map whose layout is specified in store_record.h.
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
 * log entries its history and its index name, the state, the history and
 * the index, and the write counters: nothing with the visitor id is left.
 * The erasure counter is the only trace, and it holds no id. The index
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
 * log, in one consistent snapshot).
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
 * THE LOG EXPORT reads the 64 streams with XRANGE ... COUNT, partition 0 to
 * 63, each in id order, chaining commands until the page holds `limit`
 * records or the last partition is done. from_ms/to_ms filter on the entry
 * ids, i.e. when Redis stored the record (the same millisecond as iat, give
 * or take the clocks). The cursor is "<p>-<ms>-<seq>": go on in partition p
 * after entry ms-seq ("<p>-0-0": from the start of p). Entries whose `r`
 * does not decode are skipped and counted in one log line per page.
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

#include "clock.h"
#include "log.h"
#include "strbuf.h"
#include "visitor.h"
#include "store_lua.h" /* generated from src/store.lua: STORE_LIBRARY_SOURCE, _VERSION */

#define STORE_TAG_MAX (SITE_ID_MAX + 16) /* "<site>:<p>", "<site>:banners" */
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
    STORE_CALL_BANNER_GET
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

        store_found_cb found;
        store_banner_list_cb banner_list;
        store_bytes_cb bytes;
    } cb;
    int is_fcall;
    int durable; /* a write that must outlive a failover: redis_command_durable */
    int retried;
    char tag[STORE_TAG_MAX];
    size_t tag_len;
    int argc, argv_max;
    const char **argv; /* argv_fixed, or after bytes[] for the long calls */
    size_t *argvlen;
    const char *argv_fixed[STORE_ARGV_MAX];
    size_t argvlen_fixed[STORE_ARGV_MAX];
    store_log_state_t *log;
    struct { /* STORE_CALL_STATS: the shape of the answer */
        size_t n_buckets, n_bucket_fields, n_total_fields, n_days;
        int per_day;
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

static void store_call_free(store_call_t *c)
{
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

static int store_arg_end(store_call_t *c, const strbuf_t *b)
{
    if (strbuf_failed(b) || c->argc >= c->argv_max) return -1;
    c->argv[c->argc] = (char *)c->bytes + c->used;
    c->argvlen[c->argc] = b->len;
    c->argc++;
    c->used += b->len;
    return 0;
}

static int store_arg_i64(store_call_t *c, int64_t v)
{
    strbuf_t b;
    store_arg_begin(c, &b);
    strbuf_i64(&b, v);
    return store_arg_end(c, &b);
}

/* The key cd:{<tag>}:<name><suffix>. */
static int store_arg_key(store_call_t *c, const char *name, size_t name_len, const char *suffix)
{
    strbuf_t b;
    store_arg_begin(c, &b);
    strbuf_lit(&b, "cd:{");
    strbuf_put(&b, c->tag, c->tag_len);
    strbuf_lit(&b, "}:");
    strbuf_put(&b, name, name_len);
    strbuf_str(&b, suffix);
    return store_arg_end(c, &b);
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

static void store_log_finish(store_call_t *c, const redis_error_t *err);

/* Run the user's callback with an error, then free the call. */
static void store_call_fail(store_call_t *c, const redis_error_t *err)
{
    switch (c->kind) {
    case STORE_CALL_PUT:
        c->cb.done(c->data, err);
        break;
    case STORE_CALL_GET:
        c->cb.record(c->data, NULL, err);
        break;
    case STORE_CALL_VISITOR:
        c->cb.visitor(c->data, NULL, NULL, 0, err);
        break;
    case STORE_CALL_ERASE:
        c->cb.erase(c->data, 0, err);
        break;
    case STORE_CALL_LOG:
        store_log_finish(c, err);
        return;
    case STORE_CALL_COUNT:
        c->cb.done(c->data, err);
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
    }
    store_call_free(c);
}

static void store_on_reply(void *data, const redis_reply_t *reply, const redis_error_t *err);
static void store_banner_on_reply(store_call_t *c, const redis_reply_t *reply);

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

static void store_on_put(store_call_t *c, const redis_reply_t *reply)
{
    if (redis_reply_kind(reply) == REDIS_REPLY_KIND_INTEGER && redis_reply_integer(reply) > 0) {
        /* Over the visitor's write limit: nothing written, the ms to wait. */
        redis_error_t e = {REDIS_ERROR_LIMITED, "over the visitor's write limit",
                           redis_reply_integer(reply)};
        store_call_fail(c, &e);
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
    for (size_t i = 0; i < n; i++) {
        const redis_reply_t *e = store_visitor_entry(history, n_h, older, i);
        if (e != NULL && redis_reply_kind(e) == REDIS_REPLY_KIND_STRING) {
            redis_reply_str(e, &len);
            total += len + 1;
        }
    }
    char *arena = malloc(total);
    store_record_t *records = malloc((n + 1) * sizeof(*records));
    if (arena == NULL || records == NULL) {
        free(arena);
        free(records);
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
    store_call_free(c);
}

static void store_on_erase(store_call_t *c, const redis_reply_t *reply)
{
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
    int rc = store_arg_str(c, "XRANGE") | store_argf(c, "cd:{%.*s}:log", (int)c->tag_len, c->tag);
    /* Resume after the last entry read, or start at from_ms. */
    if (st->last_id[0] != '\0' && st->last_ms >= (uint64_t)st->from_ms)
        rc |= store_argf(c, "(%s", st->last_id);
    else
        rc |= store_argf(c, "%" PRId64, st->from_ms);
    rc |= store_argf(c, "%" PRId64, st->to_ms);
    rc |= store_arg_str(c, "COUNT");
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

/* Decode one XRANGE entry [id, [field, value, ...]] into the page. */
static void store_log_add(store_log_state_t *st, const char *id, size_t id_len,
                          const redis_reply_t *fields)
{
    const char *rec_bytes = NULL;
    size_t rec_len = 0;
    if (fields != NULL && redis_reply_kind(fields) == REDIS_REPLY_KIND_ARRAY) {
        size_t nf = redis_reply_count(fields);
        for (size_t i = 0; i + 1 < nf; i += 2) {
            size_t flen;
            const char *f = redis_reply_str(redis_reply_at(fields, i), &flen);
            const redis_reply_t *v = redis_reply_at(fields, i + 1);
            if (f != NULL && flen == 1 && f[0] == 'r' &&
                redis_reply_kind(v) == REDIS_REPLY_KIND_STRING)
                rec_bytes = redis_reply_str(v, &rec_len);
        }
    }
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
    char *strings;
    if (rec_bytes == NULL || id_len >= STORE_ID_MAX ||
        store_decode_alloc(rec_bytes, rec_len, id_len + 1, rec, &strings) != 0) {
        st->skipped++;
        return;
    }
    /* The entry id goes after the record's strings, which take <= rec_len + 1. */
    char *log_id = strings + rec_len + 1;
    memcpy(log_id, id, id_len);
    log_id[id_len] = '\0';
    rec->log_id = log_id;
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
        if (e != NULL && redis_reply_kind(e) == REDIS_REPLY_KIND_ARRAY && redis_reply_count(e) == 2)
            id = redis_reply_str(redis_reply_at(e, 0), &id_len);
        if (id == NULL || id_len == 0 || id_len >= STORE_ID_MAX) {
            st->skipped++;
            continue;
        }
        store_log_add(st, id, id_len, redis_reply_at(e, 1));
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
    c->cb.done(c->data, NULL);
    store_call_free(c);
}

/* Parse "v1,v2,..." into exactly n values ("" is n zeros). Lua prints its
 * numbers with %.14g: integers below 1e14 exactly, larger ones in exponent
 * form, hence strtod. */
static int store_parse_values(const char *s, size_t len, uint64_t *out, size_t n)
{
    if (len == 0) {
        memset(out, 0, n * sizeof(*out));
        return 0;
    }
    char buf[32];
    size_t i = 0, at = 0;
    while (at <= len) {
        size_t end = at;
        while (end < len && s[end] != ',')
            end++;
        if (i >= n || end - at == 0 || end - at >= sizeof(buf)) return -1;
        memcpy(buf, s + at, end - at);
        buf[end - at] = '\0';
        char *stop;
        double v = strtod(buf, &stop);
        if (*stop != '\0' || !(v >= 0) || v > 1.8e19) return -1;
        out[i++] = (uint64_t)llround(v);
        at = end + 1;
    }
    return i == n ? 0 : -1;
}

static void store_on_stats(store_call_t *c, const redis_reply_t *reply)
{
    const redis_reply_t *rows = redis_reply_at(reply, 0), *totals = redis_reply_at(reply, 1),
                        *uniques = redis_reply_at(reply, 2), *total = redis_reply_at(reply, 3);
    size_t nb = c->stats.n_buckets, nbf = c->stats.n_bucket_fields, ntf = c->stats.n_total_fields,
           nd = c->stats.per_day ? c->stats.n_days : 0;
    if (redis_reply_count(reply) != 4 || redis_reply_kind(rows) != REDIS_REPLY_KIND_ARRAY ||
        redis_reply_count(rows) != nb || redis_reply_kind(totals) != REDIS_REPLY_KIND_STRING ||
        redis_reply_kind(uniques) != REDIS_REPLY_KIND_ARRAY || redis_reply_count(uniques) != nd ||
        redis_reply_kind(total) != REDIS_REPLY_KIND_INTEGER) {
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    uint64_t *values = malloc((nb * nbf + ntf + nd + 1) * sizeof(*values));
    if (values == NULL) {
        store_call_fail(c, &store_error_oom);
        return;
    }
    store_stats_result_t res = {.n_buckets = nb,
                                .n_bucket_fields = nbf,
                                .n_total_fields = ntf,
                                .n_days = c->stats.n_days,
                                .buckets = values,
                                .totals = values + nb * nbf,
                                .day_uniques = c->stats.per_day ? values + nb * nbf + ntf : NULL,
                                .unique_total = (uint64_t)redis_reply_integer(total)};
    int bad = redis_reply_integer(total) < 0;
    size_t len;
    const char *s;
    for (size_t i = 0; i < nb && !bad; i++) {
        s = redis_reply_str(redis_reply_at(rows, i), &len);
        bad = s == NULL || store_parse_values(s, len, values + i * nbf, nbf) != 0;
    }
    s = redis_reply_str(totals, &len);
    bad = bad || (ntf > 0 ? store_parse_values(s, len, values + nb * nbf, ntf) != 0 : len != 0);
    for (size_t d = 0; d < nd && !bad; d++) {
        const redis_reply_t *u = redis_reply_at(uniques, d);
        bad = redis_reply_kind(u) != REDIS_REPLY_KIND_INTEGER || redis_reply_integer(u) < 0;
        values[nb * nbf + ntf + d] = (uint64_t)redis_reply_integer(u);
    }
    if (bad) {
        free(values);
        store_call_fail(c, &store_error_unexpected);
        return;
    }
    c->cb.stats(c->data, &res, NULL);
    free(values);
    store_call_free(c);
}

/* "{<site>:stats}": the tag of every counter key of a site. */
static void store_call_stats_tag(store_call_t *c, const char *site_id)
{
    int n = snprintf(c->tag, sizeof(c->tag), "%s:stats", site_id);
    c->tag_len = n > 0 && (size_t)n < sizeof(c->tag) ? (size_t)n : 0;
}

/* Counter keys: kind 'h' (hour hash, t in hours), 'd' (day hash) or 'u' (day
 * HyperLogLog), t in days since the Unix epoch, as UTC YYYYMMDD[HH]. */
static int store_arg_counter_key(store_call_t *c, char kind, int64_t t)
{
    char stamp[CLOCK_TEXT_MAX], name[2] = {kind, ':'};
    if (t < 0 || clock_format(kind == 'h' ? t * 3600000 : t * 86400000,
                              kind == 'h' ? CLOCK_HOUR_KEY : CLOCK_DAY_KEY, stamp) == 0)
        return -1;
    return store_arg_key(c, name, 2, stamp);
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
        store_on_stats(c, reply);
        break;
    case STORE_CALL_BANNER_FOUND:
    case STORE_CALL_BANNER_LIST:
    case STORE_CALL_BANNER_GET:
        store_banner_on_reply(c, reply);
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

int store_consent_put(redis_t *r, const site_t *site, const store_record_t *rec,
                      const store_write_limit_t *limit, store_done_cb cb, void *data)
{
    static const store_write_limit_t unlimited = {0, 0};
    if (limit == NULL) limit = &unlimited;
    if (r == NULL || cb == NULL || rec == NULL || !store_site_ok(site) ||
        !store_visitor_ok(rec->visitor) || rec->expires_at_ms <= 0 || site->log_retention_days == 0)
        return REDIS_E_ARGS;
    size_t enc_len;
    store_record_t bare = *rec;
    bare.log_id = NULL; /* consentd_put appends the `log` key itself */
    char *enc = store_record_encode(&bare, &enc_len);
    if (enc == NULL) return REDIS_E_ARGS;
    store_call_t *c = store_call_new(STORE_CALL_PUT, r, data, 8 * STORE_KEY_MAX + enc_len);
    if (c == NULL) {
        free(enc);
        return REDIS_E_ARGS;
    }
    c->cb.done = cb;
    c->is_fcall = 1;
    c->durable = 1;
    store_call_tag(c, site->id, store_partition(rec->visitor, strlen(rec->visitor)));
    int brc = store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_put") | store_arg_str(c, "6") |
              store_arg_keys(c, rec->visitor, 3) | store_arg_visitor_key(c, "x", rec->visitor) |
              store_arg_visitor_key(c, "wm", rec->visitor) |
              store_arg_visitor_key(c, "wd", rec->visitor) | store_arg_str(c, rec->visitor) |
              store_arg(c, enc, enc_len) | store_arg_i64(c, rec->expires_at_ms) |
              store_arg_i64(c, store_retention_ms(site)) | store_arg_i64(c, STORE_HISTORY_MAX) |
              store_arg_i64(c, limit->per_minute) | store_arg_i64(c, limit->per_day);
    free(enc);
    return store_call_start(c, brc);
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
                                   store_arg_str(c, "4") | store_arg_keys(c, visitor, 2) |
                                   store_arg_visitor_key(c, "x", visitor) |
                                   store_argf(c, "cd:{%.*s}:log", (int)c->tag_len, c->tag) |
                                   store_argf(c, "%d", STORE_HISTORY_MAX) |
                                   store_argf(c, "%d", STORE_ACCESS_OLDER_MAX));
}

int store_visitor_erase(redis_t *r, const site_t *site, const char *visitor, store_erase_cb cb,
                        void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || !store_visitor_ok(visitor) ||
        site->log_retention_days == 0)
        return REDIS_E_ARGS;
    store_call_t *c = store_call_new(STORE_CALL_ERASE, r, data, 8 * STORE_KEY_MAX);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.erase = cb;
    c->is_fcall = 1;
    c->durable = 1;
    store_call_tag(c, site->id, store_partition(visitor, strlen(visitor)));
    return store_call_start(
        c, store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_erase") | store_arg_str(c, "7") |
               store_arg_keys(c, visitor, 4) | store_arg_visitor_key(c, "x", visitor) |
               store_arg_visitor_key(c, "wm", visitor) | store_arg_visitor_key(c, "wd", visitor) |
               store_argf(c, "%" PRId64, store_retention_ms(site)));
}

int store_log_page(redis_t *r, const site_t *site, const char *cursor, int64_t from_ms,
                   int64_t to_ms, size_t limit, store_log_cb cb, void *data)
{
    if (r == NULL || cb == NULL || !store_site_ok(site) || limit == 0) return REDIS_E_ARGS;
    if (from_ms < 0) from_ms = 0;
    if (to_ms < from_ms) return REDIS_E_ARGS;
    if (limit > STORE_LOG_PAGE_MAX) limit = STORE_LOG_PAGE_MAX;
    store_call_t *c = store_call_new(STORE_CALL_LOG, r, data, 4 * STORE_KEY_MAX);
    if (c == NULL) return REDIS_E_ARGS;
    c->cb.log = cb;
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
    int rc = store_log_send(c);
    if (rc != REDIS_OK) store_call_free(c);
    return rc;
}

int store_counts_add(redis_t *r, const store_counts_t *counts, store_done_cb cb, void *data)
{
    const store_counts_t *k = counts;
    if (r == NULL || cb == NULL || k == NULL || !store_site_id_ok(k->site_id) || k->hour < 0 ||
        k->retention_days == 0 || (k->n_fields == 0 && k->n_visitors == 0) ||
        k->n_fields > STORE_STATS_FIELDS_MAX || k->n_visitors > STORE_STATS_FIELDS_MAX)
        return REDIS_E_ARGS;
    size_t nargs = 9 + 2 * k->n_fields + k->n_visitors, cap = 3 * STORE_KEY_MAX + 64;
    for (size_t i = 0; i < k->n_fields; i++)
        cap += strlen(k->fields[i]) + 20;
    for (size_t i = 0; i < k->n_visitors; i++)
        cap += strlen(k->visitors[i]);
    store_call_t *c = store_call_new_args(STORE_CALL_COUNT, r, data, cap, nargs);
    if (c == NULL) return REDIS_E_BUSY; /* out of memory: keep the counts for the next flush */
    c->cb.done = cb;
    c->is_fcall = 1;
    store_call_stats_tag(c, k->site_id);
    int64_t day = k->hour / 24;
    int64_t retention_ms = (int64_t)k->retention_days * STORE_MS_PER_DAY;
    int brc = store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_count") |
              store_arg_str(c, "3") | store_arg_counter_key(c, 'h', k->hour) |
              store_arg_counter_key(c, 'd', day) | store_arg_counter_key(c, 'u', day) |
              store_argf(c, "%" PRId64, (k->hour + 1) * 3600000 + retention_ms) |
              store_argf(c, "%" PRId64, (int64_t)((day + 1) * STORE_MS_PER_DAY + retention_ms)) |
              store_argf(c, "%zu", k->n_fields);
    for (size_t i = 0; i < k->n_fields && brc == 0; i++)
        brc |= store_arg_str(c, k->fields[i]) | store_argf(c, "%" PRIu64, k->values[i]);
    for (size_t i = 0; i < k->n_visitors && brc == 0; i++)
        brc |= store_arg_str(c, k->visitors[i]);
    return store_call_start(c, brc);
}

int store_stats_read(redis_t *r, const store_stats_query_t *q, store_stats_cb cb, void *data)
{
    if (r == NULL || cb == NULL || q == NULL || !store_site_id_ok(q->site_id) ||
        q->first_bucket < 0 || q->first_day < 0 || q->n_buckets == 0 ||
        q->n_buckets > (q->by_hour ? STORE_STATS_BUCKETS_MAX : STORE_STATS_DAYS_MAX) ||
        q->n_days > STORE_STATS_DAYS_MAX || q->n_bucket_fields == 0 ||
        q->n_bucket_fields + q->n_total_fields > STORE_STATS_FIELDS_MAX)
        return REDIS_E_ARGS;
    size_t nf = q->n_bucket_fields + q->n_total_fields;
    size_t nargs = 7 + q->n_buckets + q->n_days + nf;
    size_t cap = (q->n_buckets + q->n_days) * STORE_KEY_MAX + 128;
    for (size_t i = 0; i < nf; i++)
        cap += strlen(i < q->n_bucket_fields ? q->bucket_fields[i]
                                             : q->total_fields[i - q->n_bucket_fields]);
    store_call_t *c = store_call_new_args(STORE_CALL_STATS, r, data, cap, nargs);
    if (c == NULL) return REDIS_E_BUSY;
    c->cb.stats = cb;
    c->is_fcall = 1;
    c->stats.n_buckets = q->n_buckets;
    c->stats.n_bucket_fields = q->n_bucket_fields;
    c->stats.n_total_fields = q->n_total_fields;
    c->stats.n_days = q->n_days;
    c->stats.per_day = q->per_day_uniques && q->n_days > 0;
    store_call_stats_tag(c, q->site_id);
    int brc = store_arg_str(c, "FCALL") | store_arg_str(c, "consentd_stats") |
              store_argf(c, "%zu", q->n_buckets + q->n_days);
    for (size_t i = 0; i < q->n_buckets && brc == 0; i++)
        brc |= store_arg_counter_key(c, q->by_hour ? 'h' : 'd', q->first_bucket + (int64_t)i);
    for (size_t i = 0; i < q->n_days && brc == 0; i++)
        brc |= store_arg_counter_key(c, 'u', q->first_day + (int64_t)i);
    brc |= store_argf(c, "%zu", q->n_buckets) | store_argf(c, "%zu", q->n_bucket_fields) |
           store_argf(c, "%zu", q->n_total_fields) | store_arg_str(c, c->stats.per_day ? "1" : "0");
    for (size_t i = 0; i < nf && brc == 0; i++)
        brc |= store_arg_str(c, i < q->n_bucket_fields ? q->bucket_fields[i]
                                                       : q->total_fields[i - q->n_bucket_fields]);
    return store_call_start(c, brc);
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

/* A call on the site's banner keys; hash: the version key's, or NULL. */
static store_call_t *store_banner_call(store_call_kind_t kind, redis_t *r, const site_t *site,
                                       void *data, size_t extra)
{
    store_call_t *c = store_call_new(kind, r, data, 4 * STORE_KEY_MAX + extra);
    if (c == NULL) return NULL;
    int n = snprintf(c->tag, sizeof(c->tag), "%s:banners", site->id);
    c->tag_len = n > 0 && (size_t)n < sizeof(c->tag) ? (size_t)n : 0;
    return c;
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
