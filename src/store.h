/*
 * store.h - the consent records and acceptance counters in Redis: key
 * layout, the server-side functions (one consent, one batch of counts, one
 * stats read: one round trip each; src/store.lua). The records' msgpack
 * encoding is store_record.h.
 *
 * Nothing but store.c knows a key name. The layout (every key, its type, its
 * msgpack shape and TTL) is documented in the block comment at the top of
 * store.c and in docs/data.md.
 *
 * Every key one consent touches carries the same hash tag, {<site>:<p>},
 * where p = store_partition(visitor) in 0..STORE_PARTITIONS-1, so the write
 * is one atomic function call on one Redis Cluster slot. The site's consent
 * log is therefore split into STORE_PARTITIONS streams; readers of the whole
 * log read every partition.
 *
 * All calls are asynchronous on the worker's redis_t: they return REDIS_OK
 * (the callback runs exactly once, later) or a REDIS_E_* code from redis.h
 * (the callback never runs). Records passed to callbacks, and every string
 * in them, are valid only during the callback.
 */
#ifndef CONSENTD_STORE_H
#define CONSENTD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "logchain.h"
#include "redis.h"
#include "site.h"
#include "store_record.h"

#define STORE_PARTITIONS 64
#define STORE_HISTORY_MAX 200 /* entries kept per visitor (newest first) */
/* Older writes (named by the visitor's log index) an access request shows
 * after the history: bounds its answer (about 1.2 KB each). */
#define STORE_ACCESS_OLDER_MAX 2000
#define STORE_LOG_PAGE_MAX 1000  /* records per export page */
#define STORE_PSEUDONYM_BYTES 16 /* a visitor's pseudonym in the log: random, hex */

/* store_record_t: one consent record (store_record.h). */

/* err: NULL on success, else why not (redis.h: a kind, which decides the
 * answer, and a detail for the log); valid during the callback. */
typedef void (*store_done_cb)(void *data, const redis_error_t *err);
/* rec is NULL when there is none (or it expired). */
typedef void (*store_record_cb)(void *data, const store_record_t *rec, const redis_error_t *err);
/* current: NULL when none; history newest first. */
typedef void (*store_visitor_cb)(void *data, const store_record_t *current,
                                 const store_record_t *history, size_t n_history,
                                 const redis_error_t *err);
/* removed: keys and log entries deleted. */
typedef void (*store_erase_cb)(void *data, size_t removed, const redis_error_t *err);
/* next_cursor: NULL at the end of the range. */
typedef void (*store_log_cb)(void *data, const store_record_t *records, size_t n,
                             const char *next_cursor, const redis_error_t *err);

/* Which log partition a visitor belongs to (stable forever: it is part of
 * the key layout). */
unsigned store_partition(const char *visitor, size_t len);

/* Load the server-side function library (FUNCTION LOAD REPLACE). Call when a
 * connection becomes ready; calls that find it missing load it again and
 * retry once by themselves. */
void store_on_connect(redis_t *r);

/* A visitor's write limit: at most per_minute writes in a minute and
 * per_day in a day (0: no bound), fixed windows that start at the
 * visitor's first write in each, counted in Redis in the write's own FCALL
 * (keys in the visitor's slot): exact across nodes and workers. */
typedef struct store_write_limit {
    uint32_t per_minute, per_day;
} store_write_limit_t;

/* Write one consent: the visitor's current state (TTL until
 * rec->expires_at_ms), an entry in the visitor's history and in the site's
 * consent log (both kept site->log_retention_days; the log trimmed with
 * XTRIM MINID). One FCALL, one round trip. limit: NULL for none; over it,
 * nothing is written and cb gets REDIS_ERROR_LIMITED with retry_after_ms
 * (when the window that is full ends). */
int store_consent_put(redis_t *r, const site_t *site, const store_record_t *rec,
                      const store_write_limit_t *limit, store_done_cb cb, void *data);
/* How long after it was signed a proof written for site may still be held
 * in Redis, in days (issue 19, item 3): the state lives the choice lifetime;
 * a history or log entry is dropped at the first write after it is older
 * than the retention, but the key of the history (and of the log partition)
 * lives a retention after its last write, so a write just before an entry
 * reaches the retention keeps it one more retention: 2 x log_retention_days
 * in all. Pure; keys.c keeps each retired key in the JWKS this long (the
 * longest over every site, as every site signs with the same keys). */
uint32_t store_proof_hold_days(const site_t *site);
/* The visitor's current state. */
int store_consent_get(redis_t *r, const site_t *site, const char *visitor, store_record_cb cb,
                      void *data);
/* Everything held about the visitor: current state, the history, then the
 * older writes still in the log (at most STORE_ACCESS_OLDER_MAX), newest
 * first: the history callback gets them as one list. */
int store_visitor_get(redis_t *r, const site_t *site, const char *visitor, store_visitor_cb cb,
                      void *data);
/* Erase everything held about the visitor (state, history, the keys that
 * open its sealed entries in the site's consent log, which stay as
 * ciphertext; its legacy entries themselves), count one anonymous erasure,
 * and mark its partition for compaction on disk (erasure.h). */
int store_visitor_erase(redis_t *r, const site_t *site, const char *visitor, store_erase_cb cb,
                        void *data);
/* A cursor of store_log_page, "<partition>-<ms>-<seq>": where the previous
 * page stopped (the last entry id read in that partition). */
typedef struct store_cursor {
    unsigned partition; /* < STORE_PARTITIONS */
    uint64_t ms, seq;
} store_cursor_t;
/* 0 and *out when s is a well-formed cursor (client bytes), -1 otherwise. */
int store_cursor_parse(const char *s, store_cursor_t *out);
/* One page of the site's consent log between from_ms and to_ms inclusive,
 * at most limit records (an erased visitor's entries with .erased set). cursor: NULL for the first
 * page, else the next_cursor of the previous page. Pages go partition by partition, each in time
 * order. */
int store_log_page(redis_t *r, const site_t *site, const char *cursor, int64_t from_ms,
                   int64_t to_ms, size_t limit, store_log_cb cb, void *data);
/* The same read from replica (redis.read_url; NULL: r alone) when it is
 * connected, from the primary r when it is not or when it fails: the
 * function is FCALL_RO, no-writes. A replica lags: a consent acknowledged a
 * moment ago may be missing from a page read there. */
int store_log_page_from(redis_t *r, redis_t *replica, const site_t *site, const char *cursor,
                        int64_t from_ms, int64_t to_ms, size_t limit, store_log_cb cb, void *data);

/* ---- compaction on disk after erasures (crypto-erasure, see store.c) ----
 *
 * An erasure notes in its partition's compaction marker when it happened
 * (the first not yet compacted). A timer (erasure.h) takes the markers that
 * are due and asks the Redis that holds that partition to rewrite its AOF
 * and then save a snapshot, so that the erased bytes leave the disk. */

/* since_ms: when the first erasure not yet compacted happened, if it is at
 * due_ms or before (the marker is then taken: deleted); 0 when none. */
typedef void (*store_compact_take_cb)(void *data, int64_t since_ms, const redis_error_t *err);
int store_compact_take(redis_t *r, const char *site_id, unsigned partition, int64_t due_ms,
                       store_compact_take_cb cb, void *data);
/* BGREWRITEAOF, then BGSAVE SCHEDULE, on the master of that partition. err:
 * NULL when both were accepted (started or scheduled). */
int store_compact(redis_t *r, const char *site_id, unsigned partition, store_done_cb cb,
                  void *data);
/* The server (redis_server_of) that holds the partition's keys: compact
 * each one once. */
int store_compact_server(redis_t *r, const char *site_id, unsigned partition);
/* Put a taken marker back (a compaction that failed), for ttl_ms; an older
 * marker there is kept. */
int store_compact_mark(redis_t *r, const char *site_id, unsigned partition, int64_t since_ms,
                       int64_t ttl_ms, store_done_cb cb, void *data);

/* ---- acceptance counters (keys tagged {<site>:stats}, see store.c) ---- */

/* One batch of counts for one site and one UTC hour: field increments for
 * the hour and day hashes, and visitor ids for the day's HyperLogLog. The
 * fields are "<dim>|<metric>" names (counters.h makes them); store.c only
 * carries them. */
typedef struct store_counts {
    const char *site_id;
    int64_t hour;            /* hours since the Unix epoch, UTC */
    uint32_t retention_days; /* keys expire this long after the end of their hour/day */
    size_t n_fields;
    const char *const *fields;
    const uint64_t *values; /* > 0 */
    size_t n_visitors;
    const char *const *visitors;
    /* The batch's identity, which makes sending it again safe: sender (16
     * lowercase hex, unique per counters_t) and seq (> 0, never reused by
     * that sender). Redis remembers the newest STORE_BATCH_WINDOW numbers
     * of each sender per site for an hour after its last batch. */
    const char *sender;
    uint64_t seq;
} store_counts_t;

#define STORE_BATCH_SENDER_LEN 16
#define STORE_BATCH_WINDOW 128 /* src/store.lua's BATCH_WINDOW */
#define STORE_BATCH_TTL_MS 3600000LL

/* What became of a batch: applied 1 (now) or 0 (a retry of a batch Redis
 * had applied already: nothing done); err non-NULL when not applied, or
 * when the outcome is unknown. */
typedef void (*store_counts_cb)(void *data, int applied, const redis_error_t *err);

/* Add one batch: one FCALL consentd_count (skip it when its (sender, seq)
 * was applied before; else HINCRBY into the hour and day hashes, PFADD
 * into the day's HyperLogLog, expiries set), one round trip; durable (WAIT)
 * when redis.wait_replicas is set, so that an acknowledged batch outlives a
 * failover. A batch sent again with the same (sender, seq) is applied at
 * most once, for STORE_BATCH_TTL_MS after the sender's last batch. */
int store_counts_add(redis_t *r, const store_counts_t *counts, store_counts_cb cb, void *data);

#define STORE_STATS_HOUR_DAYS_MAX 31    /* by hour: at most 31 days (744 buckets) */
#define STORE_STATS_DAYS_MAX 400        /* by day or week */
#define STORE_STATS_MONTH_DAYS_MAX 1160 /* by month: 38 months */
#define STORE_STATS_FIELDS_MAX 4096
/* By day, week or month, a read of more units than this is made of several
 * calls of at most this many rows, then one for the totals: each keeps
 * Redis well under a millisecond, and consent writes run between them. */
#define STORE_STATS_ROWS_PER_CALL 31

typedef enum { STORE_BY_HOUR, STORE_BY_DAY, STORE_BY_WEEK, STORE_BY_MONTH } store_by_t;

/* A stats read over the UTC days first_day..last_day (days since the Unix
 * epoch, inclusive), by hour, day, ISO week (from Monday) or calendar
 * month: by week or month, first_day starts a period and last_day ends
 * one (clock_week_start, clock_month_start). */
typedef struct store_stats_query {
    const char *site_id;
    store_by_t by;
    int64_t first_day, last_day;
    uint32_t retention_days; /* the site's stats_retention_days: rollups expire as their days */
    int uniques;             /* 1: unique visitors of the range, and of each bucket but hours */
    size_t n_bucket_fields;  /* read in every bucket */
    const char *const *bucket_fields;
    size_t n_total_fields; /* summed over the range */
    const char *const *total_fields;
} store_stats_query_t;

typedef struct store_stats_result {
    size_t n_buckets, n_bucket_fields, n_total_fields;
    const uint64_t *buckets;        /* n_buckets rows of n_bucket_fields values */
    const uint64_t *totals;         /* n_total_fields */
    const uint64_t *bucket_uniques; /* n_buckets (uniques, not by hour), else NULL */
    uint64_t unique_total;          /* visitors of the whole range (HyperLogLog union) */
    int from_replica;               /* store_stats_read_from: the replica answered */
    int fell_back; /* store_stats_read_from: a replica named, the primary answered */
} store_stats_result_t;

/* res is NULL exactly when err is not; valid only during the callback. */
typedef void (*store_stats_cb)(void *data, const store_stats_result_t *res,
                               const redis_error_t *err);

/* The buckets of q: hours, days, weeks or months in the range; 0 when the
 * range is empty, not aligned to q->by, or over its limit. */
size_t store_stats_buckets(const store_stats_query_t *q);

/* Every bucket's fields, the range's totals and unique visitors: FCALLs of
 * consentd_stats_packed (each row one packed string: store.c), one when
 * the range is small, else one per
 * STORE_STATS_ROWS_PER_CALL rows and one for the totals (the callback gets
 * one result, once). It reads week and month rollups (built from the days
 * the first time a query needs them, then kept exact by every flush) where
 * a whole period is asked for: the totals and unique visitors of a 400-day
 * range come from about 13 months and the days at its edges, not from 400
 * days; by hour, from the days (key layout: store.c). */
int store_stats_read(redis_t *r, const store_stats_query_t *q, store_stats_cb cb, void *data);

/* The same read from replica (redis.read_url; NULL: r alone) when it is
 * connected: consentd_stats_read with FCALL_RO, which writes nothing, then
 * PFCOUNT of the open rows and of the union (a read-only function cannot);
 * from the primary r, from the start, when the replica is down, fails,
 * times out, or lacks something only the primary makes (a closed unit not
 * packed yet, a rollup not built yet: consentd_stats_packed makes them and
 * replication brings them). A replica lags its primary: an answer from it
 * may miss the last flushes (a second or so). The result says which
 * answered (from_replica, fell_back). */
int store_stats_read_from(redis_t *r, redis_t *replica, const store_stats_query_t *q,
                          store_stats_cb cb, void *data);

/* ---- banner versions (the archive of every banner.js served) ----
 *
 * A version is named by its hash (64 lowercase hex, see banner.h). The
 * archive keeps the exact bytes served with when the version was first and
 * last served, its policy version, languages and variants, for the site's
 * log retention plus STORE_BANNER_GRACE_MS after it was last served or last
 * named by a consent: as long as any proof that names it. Nothing in it is
 * personal data. */
#define STORE_BANNER_LIST_MAX 1000
/* Past the retention: a banner stays in browsers' caches (a day), a choice
 * made on it may be recorded later (the banner retries), and "last served"
 * is noted about once an hour. */
#define STORE_BANNER_GRACE_MS (7 * 86400000LL)

typedef struct store_banner_version {
    const char *hash;        /* 64 hex */
    int64_t first_served_ms; /* Unix ms, Redis' clock */
    int64_t last_served_ms;
    const char *policy_version;
    const char *languages; /* comma-separated: "fr,en" */
    const char *variants;  /* comma-separated ids, "" when none */
} store_banner_version_t;

/* found: 1 when the version is archived, 0 when not (0 with err too). */
typedef void (*store_found_cb)(void *data, int found, const redis_error_t *err);
/* Newest first (by first served). */
typedef void (*store_banner_list_cb)(void *data, const store_banner_version_t *versions, size_t n,
                                     const redis_error_t *err);
/* js: NULL when there is no such version (never archived, or expired). */
typedef void (*store_bytes_cb)(void *data, const char *js, size_t len, const redis_error_t *err);

/* A banner version was served: with js (its exact bytes), archive it unless
 * it already is (never overwritten); without (js NULL), only note when it
 * was last served: found is 0 when it is not archived, and the caller sends
 * it again with js. Both keep it for the retention from now. */
int store_banner_served(redis_t *r, const site_t *site, const store_banner_version_t *v,
                        const char *js, size_t js_len, store_found_cb cb, void *data);
/* A consent names a version this process does not know: found when it is
 * archived for this site; then it is kept for the retention from now. */
int store_banner_named(redis_t *r, const site_t *site, const char *hash, store_found_cb cb,
                       void *data);
/* The site's archived versions, at most STORE_BANNER_LIST_MAX. */
int store_banner_list(redis_t *r, const site_t *site, store_banner_list_cb cb, void *data);
/* The exact bytes of one archived version. */
int store_banner_get(redis_t *r, const site_t *site, const char *hash, store_bytes_cb cb,
                     void *data);

/* ---- compressed banners, built once for the fleet (issue 22, item 4) ----
 *
 * The gzip and brotli bytes of a script consentd serves (a site's
 * banner.js, consentd-defaults.js), built by the first node that needs them
 * and read by the others instead of compressing (banner_share.h). Keyed by
 * the SHA-256 (64 lowercase hex) of the uncompressed bytes, under the tag
 * {<site>:bz} (cd:{<site>:bz}:z:<sha>, the lease cd:{<site>:bz}:l:<sha>); the value is opaque here
 * (banner_build.c's format, which the reader verifies before serving). Kept
 * STORE_BANNER_BLOB_TTL_MS from the write that made it: longer than any node's start-up or publish
 * needs it; a node that finds none (expired, never built) builds it and writes it again. The lease
 * is taken by the node that builds a missing one, so that the others wait for its bytes rather than
 * compress the same body. */
#define STORE_BANNER_BLOB_TTL_MS (30 * 86400000LL)
#define STORE_BANNER_LEASE_MS 5000
#define STORE_BANNER_BLOB_MAX (4 * 1024 * 1024)

/* js: the stored bytes, NULL when there are none. */
int store_banner_blob_get(redis_t *r, const char *site_id, const char *sha_hex, store_bytes_cb cb,
                          void *data);
/* Store the bytes (SET ... PX STORE_BANNER_BLOB_TTL_MS; NX unless replace:
 * a blob the reader refused is replaced). found: 1 when written. */
int store_banner_blob_put(redis_t *r, const char *site_id, const char *sha_hex, const char *blob,
                          size_t len, int replace, store_found_cb cb, void *data);
/* Give the lease back (DEL), once the blob is stored. found: 1 when it was
 * there. */
int store_banner_blob_unlease(redis_t *r, const char *site_id, const char *sha_hex,
                              store_found_cb cb, void *data);
/* Take the lease on building sha_hex (SET NX PX STORE_BANNER_LEASE_MS).
 * found: 1 when this caller holds it, 0 when another does. */
int store_banner_blob_lease(redis_t *r, const char *site_id, const char *sha_hex, store_found_cb cb,
                            void *data);

/* ---- scan summaries (POST /v1/sites/{site}/scans, scans.h) ----
 *
 * A site's newest STORE_SCANS_KEEP scan summaries, each the JSON text
 * consentd validated and wrote (nothing personal), newest first, in one
 * list under the tag {<site>:scans} (key layout: store.c), kept without
 * expiry. */
#define STORE_SCANS_KEEP 20

/* Push json (consentd_scan_add, library version 10) and drop the oldest
 * beyond STORE_SCANS_KEEP; found is 1 when stored. */
int store_scan_add(redis_t *r, const site_t *site, const char *json, size_t len, store_found_cb cb,
                   void *data);
/* The newest summary's JSON (LINDEX 0); js NULL when the site has none. */
int store_scan_latest(redis_t *r, const site_t *site, store_bytes_cb cb, void *data);

/* ---- sites in Redis (issue 22, item 1; key layout: store.c, SITE
 * CONFIGURATION) ----
 *
 * A site's configuration: immutable versions, a draft with a revision, the
 * published version, under the tag {<site>:site}; the registry of sites (id
 * -> published version) under {sites}. Each call is one FCALL; its reply is
 * one JSON text passed to a store_bytes_cb (js NULL never: always an object):
 *   commit        {"version", "created", "published"} or {"conflict", "published"}
 *   publish       {"published", "previous"}, {"missing", "published"} or
 *                 {"conflict", "published"}
 *   draft_put     {"revision"} or {"conflict", "revision"} (the current one)
 *   draft_get     {"json", "who", "at", "revision", "base"}, or {"revision": 0,
 *                 "published"} when there is no draft
 *   versions      {"last", "published", "published_at", "published_by",
 *                 "versions": [{"version", "who", "at", "message", "parent"}]}
 *                 newest first ("versions" is {} when there is none: cjson)
 *   version_get   {"version", "json", "who", "at", "message", "parent",
 *                 "published"} or {"missing", "published"}
 *   sites_list    {"sites": {"<id>": published version}}
 *   announce      {"heard": subscribers that got the message}
 * json is the site document canonicalised by the caller (site_canonical). */
#define STORE_SITE_JSON_MAX (1024 * 1024) /* as a site file */
#define STORE_SITE_WHO_MAX 128
#define STORE_SITE_MESSAGE_MAX 1024
#define STORE_SITE_VERSIONS_MAX 100
#define STORE_SITES_CHANNEL "consentd:sites" /* a message "<id> <version>" per publish */

/* A new version (parent: the version it derives from, 0: the newest one),
 * published too when publish is STORE_SITE_PUBLISH, if the published version
 * is still expect_published (-1: whatever it is); STORE_SITE_PUBLISH_NEW
 * publishes only a new version, or the newest when none is published (an
 * import: an unchanged file does not undo a roll back). Idempotent: json
 * equal to the newest version's makes no new version. */
enum { STORE_SITE_KEEP = 0, STORE_SITE_PUBLISH = 1, STORE_SITE_PUBLISH_NEW = 2 };
int store_site_commit(redis_t *r, const char *site_id, const char *json, size_t len,
                      const char *who, const char *message, uint64_t parent, int publish,
                      int64_t expect_published, store_bytes_cb cb, void *data);
/* Publish an existing version (a roll back is the publish of an older one). */
int store_site_publish(redis_t *r, const char *site_id, uint64_t version, const char *who,
                       int64_t expect_published, store_bytes_cb cb, void *data);
/* Replace the draft if its revision is still `revision` (0: none yet). */
int store_site_draft_put(redis_t *r, const char *site_id, const char *json, size_t len,
                         const char *who, uint64_t revision, store_bytes_cb cb, void *data);
int store_site_draft_get(redis_t *r, const char *site_id, store_bytes_cb cb, void *data);
/* The draft's revision only, {"revision": n} (0: no draft): a few bytes
 * whatever the document's size (the list of sites). */
int store_site_draft_revision(redis_t *r, const char *site_id, store_bytes_cb cb, void *data);
/* The newest `limit` (<= STORE_SITE_VERSIONS_MAX) versions, without json. */
int store_site_versions(redis_t *r, const char *site_id, size_t limit, store_bytes_cb cb,
                        void *data);
/* One version with its json; version 0: the published one. */
int store_site_version_get(redis_t *r, const char *site_id, uint64_t version, store_bytes_cb cb,
                           void *data);
/* The registry: every site in Redis and its published version. */
int store_sites_list(redis_t *r, store_bytes_cb cb, void *data);
/* After a publish: note it in the registry and PUBLISH "<id> <version>" on
 * STORE_SITES_CHANNEL (a second call, on the registry's slot; idempotent). */
int store_sites_announce(redis_t *r, const char *site_id, uint64_t version, store_bytes_cb cb,
                         void *data);
/* The console (library version 13, issue 22 items 2 and 3; one FCALL each,
 * replies as above):
 *   preview_put   {"stored": true|false}
 *   preview_get   {"json"} or {"missing": true} (expired, or never made)
 *   create        {"version": 1, "revision": 1} or {"exists": true}
 * A preview is an unsaved document kept STORE_SITE_PREVIEW_MS under the
 * site's tag; its id is STORE_SITE_PREVIEW_ID_LEN base64url characters. */
#define STORE_SITE_PREVIEW_MS (15 * 60 * 1000)
#define STORE_SITE_PREVIEW_ID_LEN 24 /* 18 random bytes, base64url: 144 bits */
int store_site_preview_put(redis_t *r, const char *site_id, const char *preview_id,
                           const char *json, size_t len, store_bytes_cb cb, void *data);
int store_site_preview_get(redis_t *r, const char *site_id, const char *preview_id,
                           store_bytes_cb cb, void *data);
/* A new site: version 1 and the draft (revision 1) hold json; nothing is
 * published. A site with a version or a draft is {"exists": true}. */
int store_site_create(redis_t *r, const char *site_id, const char *json, size_t len,
                      const char *who, const char *message, store_bytes_cb cb, void *data);
/* Note mark in the registry and PUBLISH "<id> <mark>" (as announce): a
 * version n > 0 published and served, -n known but not served (created and
 * not published yet, or deleted), its document version n. */
int store_sites_mark(redis_t *r, const char *site_id, int64_t mark, store_bytes_cb cb, void *data);
/* ---- site API keys (GET/POST/DELETE /v1/sites/{site}/keys, site_keys.h) ----
 *
 * A site's scoped API keys, in one hash under the tag {<site>:keys} (key
 * layout: store.c): field = the SHA-256 of the secret (64 hex digits), value
 * = the key's record, JSON text consentd wrote (name, scopes, created_at,
 * created_by; never the secret). No expiry: a key lives until deleted. */
#define STORE_SITE_KEYS_MAX 64

/* The record of the key whose secret hashes to sha_hex (HGET); js NULL when
 * the site has no such key. */
int store_site_key_get(redis_t *r, const site_t *site, const char *sha_hex, store_bytes_cb cb,
                       void *data);
/* Every record, as one JSON array (consentd_key_list, library version 11). */
int store_site_key_list(redis_t *r, const site_t *site, store_bytes_cb cb, void *data);
/* Add a key (consentd_key_add): js is "added", "exists" (a key of that name
 * or hash: nothing written) or "full" (STORE_SITE_KEYS_MAX keys). */
int store_site_key_add(redis_t *r, const site_t *site, const char *sha_hex, const char *name,
                       const char *record, store_bytes_cb cb, void *data);
/* Delete the key named name (consentd_key_delete); found 0 when none. */
int store_site_key_delete(redis_t *r, const site_t *site, const char *name, store_found_cb cb,
                          void *data);

/* The msgpack encoding of a record (store_record_encode,
 * store_record_decode): store_record.h. */

/* ---- the log's hash chains and signed checkpoints (keys in store.c) ----
 *
 * Each partition of a site's log has a hash chain (logchain.h) kept beside
 * it: one chain entry per log entry, with the same id, holding the entry's
 * number n and the chain value h. consentd (checkpoint.h) extends it from C,
 * since Redis' Lua has no SHA-256, with a compare-and-set on the chain's
 * last id. A site's signed checkpoints (JWS) are a stream of their own,
 * appended with a compare-and-set on the last one. Nothing here knows a
 * hash: the store carries hex strings and raw fields. */
#define STORE_CHAIN_BATCH_MAX 500 /* log entries hashed per chain append */
#define STORE_CHECKPOINT_PAGE_MAX 100

/* One log entry as stored: its id and its fields (name, value, name,
 * value...) in stored order; h: the chain value (64 hex) when chained, else
 * NULL. Valid during the callback. */
typedef struct store_log_entry {
    unsigned partition;
    const char *id;
    size_t id_len;
    const logchain_bytes_t *fields;
    size_t n_fields;
    const char *h;
} store_log_entry_t;

/* The last chain entry of a partition: id NULL when the chain is empty. */
typedef struct store_chain_head {
    const char *id;
    uint64_t n;
    const char *h;
} store_chain_head_t;

/* One chain entry to append: the log entry's id and n, and h (64 hex). */
typedef struct store_chain_link {
    const char *id;
    uint64_t n;
    const char *h;
} store_chain_link_t;

typedef struct store_checkpoint {
    const char *id; /* the stream id (Redis' time of the append) */
    const char *jws;
    size_t jws_len;
    const char *root; /* 64 hex: what the checkpoint covers (checkpoint.h) */
} store_checkpoint_t;

typedef void (*store_chain_pending_cb)(void *data, const store_chain_head_t *head,
                                       const store_log_entry_t *entries, size_t n,
                                       const redis_error_t *err);
/* appended: links appended, or -1 when the chain's last id was no longer
 * the expected one (another node extended it: nothing appended). */
typedef void (*store_chain_append_cb)(void *data, long long appended, const redis_error_t *err);
/* next_cursor: NULL at the end. */
typedef void (*store_checkpoints_cb)(void *data, const store_checkpoint_t *cps, size_t n,
                                     const char *next_cursor, const redis_error_t *err);
/* id: the new checkpoint's, or NULL when the last one was no longer the
 * expected one (nothing appended). */
typedef void (*store_checkpoint_added_cb)(void *data, const char *id, const redis_error_t *err);
typedef void (*store_log_raw_cb)(void *data, const store_log_entry_t *entries, size_t n,
                                 const char *next_cursor, const redis_error_t *err);

/* A partition's chain head and the log entries after it (at most max). One
 * FCALL_RO consentd_chain_pending. */
int store_chain_pending(redis_t *r, const char *site_id, unsigned partition, size_t max,
                        store_chain_pending_cb cb, void *data);
/* Append links (in id order, at most STORE_CHAIN_BATCH_MAX) to a
 * partition's chain if its last id is still expected_id (NULL: empty); the
 * chain is trimmed and kept like the log (retention_ms). */
int store_chain_append(redis_t *r, const char *site_id, unsigned partition, const char *expected_id,
                       int64_t retention_ms, const store_chain_link_t *links, size_t n,
                       store_chain_append_cb cb, void *data);
/* The lease of a site's checkpointer: SET NX PX ttl_ms. found: 1 when this
 * token took it. */
int store_checkpoint_lease(redis_t *r, const char *site_id, const char *token, int64_t ttl_ms,
                           store_found_cb cb, void *data);
/* The site's last checkpoint (n is 0 when there is none). */
int store_checkpoint_last(redis_t *r, const char *site_id, store_checkpoints_cb cb, void *data);
/* Append a checkpoint if the last one is still expected_id (NULL: none). */
int store_checkpoint_add(redis_t *r, const char *site_id, const char *expected_id, const char *jws,
                         size_t jws_len, const char *root, int64_t retention_ms,
                         store_checkpoint_added_cb cb, void *data);
/* The site's checkpoints, oldest first, after cursor (NULL: from the
 * first; else a next_cursor given before: a checkpoint id), at most limit
 * (<= STORE_CHECKPOINT_PAGE_MAX). REDIS_E_ARGS for a malformed cursor. */
int store_checkpoint_page(redis_t *r, const site_t *site, const char *cursor, size_t limit,
                          store_checkpoints_cb cb, void *data);
/* One page of the raw log, with chain values: entries of one partition in
 * id order after cursor (store_cursor_t's form; NULL: from the start of
 * partition 0), at most limit; a page never spans two partitions, empty
 * ones are skipped. REDIS_E_ARGS for a malformed cursor. */
int store_log_raw_page(redis_t *r, const site_t *site, const char *cursor, size_t limit,
                       store_log_raw_cb cb, void *data);
/* The same from replica, as store_log_page_from. */
int store_log_raw_page_from(redis_t *r, redis_t *replica, const site_t *site, const char *cursor,
                            size_t limit, store_log_raw_cb cb, void *data);

/* The material of an inclusion proof of log entry id in a partition: the
 * entry (NULL when there is none; its h NULL until chained), the chain
 * value before it and its n (prev_h NULL when the entry starts the chain),
 * and the log entries after it, at most max. */
typedef void (*store_inclusion_cb)(void *data, const store_log_entry_t *entry, const char *prev_h,
                                   uint64_t prev_n, const store_log_entry_t *following, size_t n,
                                   const redis_error_t *err);
#define STORE_INCLUSION_FOLLOWING_MAX 10000
/* One FCALL_RO consentd_log_inclusion. REDIS_E_ARGS for a malformed id. */
int store_log_inclusion(redis_t *r, const site_t *site, unsigned partition, const char *id,
                        size_t max, store_inclusion_cb cb, void *data);

/* ---- identify: logged-in visitors (issue 20, item 7) ----
 *
 * A site's user (identify_token.h: a token its server signed) is named by a
 * pseudonym, `user` (IDENTIFY_USER_HEX lowercase hex). The user's latest
 * choice lives in the user's own slot ({<site>:u:<user>}); the link from a
 * visitor to its user in the visitor's slot, so that erasure finds it. On a
 * Redis Cluster these are two slots: every call below touches one. */

/* user: the user the visitor is linked to (NULL: none). */
typedef void (*store_put_linked_cb)(void *data, const char *user, const redis_error_t *err);
/* store_consent_put, which also answers the visitor's link (same FCALL, same
 * round trip): the caller then carries the record to the user's
 * (store_user_choice). */
int store_consent_put_linked(redis_t *r, const site_t *site, const store_record_t *rec,
                             const store_write_limit_t *limit, store_put_linked_cb cb, void *data);
typedef void (*store_erase_linked_cb)(void *data, size_t removed, const char *user,
                                      const redis_error_t *err);
/* store_visitor_erase, which also deletes the visitor's link and answers
 * whose it was: the caller then unlinks the user's record
 * (store_user_unlink). */
int store_visitor_erase_linked(redis_t *r, const site_t *site, const char *visitor,
                               store_erase_linked_cb cb, void *data);
/* Link visitor to user (for the site's choice lifetime) and answer the
 * visitor's current state (rec NULL: none). One FCALL, the visitor's slot. */
int store_identify_link(redis_t *r, const site_t *site, const char *visitor, const char *user,
                        store_record_cb cb, void *data);
/* Keep rec (the visitor's record; NULL: none) as the user's latest choice if
 * it is newer (issued_at_ms) than the one kept, and answer the one kept
 * (NULL: none). visitor may be NULL when rec is (a read only). One FCALL,
 * the user's slot. */
int store_user_choice(redis_t *r, const site_t *site, const char *user, const char *visitor,
                      const store_record_t *rec, store_record_cb cb, void *data);
/* The user visitor is linked to (user NULL: none), for the access request.
 * One GET, the visitor's slot. */
int store_identify_user(redis_t *r, const site_t *site, const char *visitor, store_put_linked_cb cb,
                        void *data);
/* An erased visitor: delete the user's latest choice if that visitor made
 * it. One FCALL, the user's slot. */
int store_user_unlink(redis_t *r, const site_t *site, const char *user, const char *visitor,
                      store_done_cb cb, void *data);

/* ---- health ----
 *
 * One PING on the worker's connection (with a cluster: on any master), for
 * the health check: err NULL when Redis answered PONG, else its kind and a
 * detail (Redis' own error text may name hosts: not for public answers).
 * Touches no key. */
int store_ping(redis_t *r, store_done_cb cb, void *data);
/* 1 when the worker's connection is up (with a cluster: the slot map is
 * known and every master in it is connected); else 0, and *why the last connection error ("" when
 * none; it may name hosts: not for public answers). No command is sent. */
int store_connected(redis_t *r, const char **why);

#endif
