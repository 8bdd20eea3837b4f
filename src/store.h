/*
 * store.h - the consent records in Redis: key layout, the server-side
 * function that writes one consent in one round trip, msgpack records.
 *
 * Nothing but store.c knows a key name. The layout (every key, its type, its
 * msgpack shape and TTL) is documented in the block comment at the top of
 * store.c and in the README.
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

#include "redis.h"
#include "site.h"

#define STORE_PARTITIONS 64
#define STORE_HISTORY_MAX 200     /* entries kept per visitor (newest first) */
#define STORE_LOG_PAGE_MAX 1000   /* records per export page */

typedef struct store_record {
    const char *consent_id;     /* 22 chars base64url (128 random bits) */
    const char *visitor;        /* 22 chars base64url, or as given by the site */
    int64_t issued_at_ms;
    int64_t expires_at_ms;
    const char *policy_version;
    const char *texts_hash;     /* 64 hex */
    const char *source;         /* banner | form | call_center | api */
    const char *lang;
    const char *variant;        /* NULL when none */
    const char *action;         /* "consent" or "withdraw" */
    const char *proof;          /* the compact JWS, exactly as issued */
    size_t n_decisions;
    const char *purposes[SITE_MAX_PURPOSES];
    unsigned char granted[SITE_MAX_PURPOSES];
    const char *log_id;         /* reads only: the consent log entry id ("ms-seq") */
} store_record_t;

/* err: NULL on success, else a short reason ("timeout", "disconnected", or
 * the Redis error text). */
typedef void (*store_done_cb)(void *data, const char *err);
/* rec is NULL when there is none (or it expired). */
typedef void (*store_record_cb)(void *data, const store_record_t *rec, const char *err);
/* current: NULL when none; history newest first. */
typedef void (*store_visitor_cb)(void *data, const store_record_t *current,
                                 const store_record_t *history, size_t n_history, const char *err);
/* removed: keys and log entries deleted. */
typedef void (*store_erase_cb)(void *data, size_t removed, const char *err);
/* next_cursor: NULL at the end of the range. */
typedef void (*store_log_cb)(void *data, const store_record_t *records, size_t n,
                             const char *next_cursor, const char *err);

/* Which log partition a visitor belongs to (stable forever: it is part of
 * the key layout). */
unsigned store_partition(const char *visitor, size_t len);

/* Load the server-side function library (FUNCTION LOAD REPLACE). Call when a
 * connection becomes ready; calls that find it missing load it again and
 * retry once by themselves. */
void store_on_connect(redis_t *r);

/* Write one consent: the visitor's current state (TTL until
 * rec->expires_at_ms), an entry in the visitor's history and in the site's
 * consent log (both kept site->log_retention_days; the log trimmed with
 * XTRIM MINID). One FCALL, one round trip. */
int store_consent_put(redis_t *r, const site_t *site, const store_record_t *rec, store_done_cb cb,
                      void *data);
/* The visitor's current state. */
int store_consent_get(redis_t *r, const site_t *site, const char *visitor, store_record_cb cb,
                      void *data);
/* Everything held about the visitor: current state and full history. */
int store_visitor_get(redis_t *r, const site_t *site, const char *visitor, store_visitor_cb cb,
                      void *data);
/* Erase everything held about the visitor (state, history, and its entries
 * in the site's consent log) and count one anonymous erasure. */
int store_visitor_erase(redis_t *r, const site_t *site, const char *visitor, store_erase_cb cb,
                        void *data);
/* One page of the site's consent log between from_ms and to_ms inclusive,
 * at most limit records. cursor: NULL for the first page, else the
 * next_cursor of the previous page. Pages go partition by partition, each
 * in time order. */
int store_log_page(redis_t *r, const site_t *site, const char *cursor, int64_t from_ms,
                   int64_t to_ms, size_t limit, store_log_cb cb, void *data);

/* The msgpack encoding of a record, exposed for tests and fuzzers.
 * store_record_encode returns a malloc'd buffer (caller frees) or NULL.
 * store_record_decode parses untrusted bytes (they come from Redis) into
 * rec, with strings copied into the caller's buffer `strings` of `cap`
 * bytes; returns 0, or -1 on malformed or truncated input or when it does
 * not fit. */
char *store_record_encode(const store_record_t *rec, size_t *len);
int store_record_decode(const char *buf, size_t len, store_record_t *rec, char *strings,
                        size_t cap);

#endif
