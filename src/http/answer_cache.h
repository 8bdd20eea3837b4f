/*
 * answer_cache.h - finished answers kept a short while, per worker thread,
 * so that identical reads do not make Redis work again (the stats API: a
 * few dashboards open on the same range, a script polling it).
 *
 * One per worker thread, touched only by that thread: no lock. An entry is
 * a whole answer (status 200, content type, an optional
 * content-disposition, the body) under a key the caller builds from
 * everything the answer depends on, the snapshot's generation included (a
 * reload never serves an answer made under the old sites). Entries expire
 * at the time the caller gives; the cache holds at most ANSWER_CACHE_MAX
 * entries and max_bytes of bodies, dropping expired entries first, then
 * the oldest. Nothing here talks to Redis.
 *
 * An entry also keeps its body gzipped, made once, at the first hit that
 * asks for it (answer_cache_gzip): a repeated 400-day stats answer (630 KB
 * of JSON, about 100 KB gzipped) then costs a copy of that, and a tenth of
 * the bytes through the kernel, where it cost rendering the whole answer.
 */
#ifndef CONSENTD_ANSWER_CACHE_H
#define CONSENTD_ANSWER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define ANSWER_CACHE_MAX 64
#define ANSWER_CACHE_KEY_MAX 256

typedef struct answer_cache answer_cache_t;

typedef struct answer_cached {
    const char *content_type;
    const char *disposition; /* NULL: none */
    const char *body;
    size_t len;
} answer_cached_t;

/* NULL when out of memory. max_bytes: bodies kept at most (0: keep none). */
answer_cache_t *answer_cache_create(size_t max_bytes);
void answer_cache_free(answer_cache_t *c);

/* The answer under key if it has not expired at now_ms: 1 and *out (valid
 * until the next call on c), else 0. */
int answer_cache_get(answer_cache_t *c, const char *key, uint64_t now_ms, answer_cached_t *out);

/* The gzip (RFC 1952) of the body under key, if it has not expired at
 * now_ms: made now if not yet (libdeflate, a fast level: about 2 ms for
 * 630 KB, once per entry), then kept with it (counted in max_bytes). 1 and
 * *gz, *len (valid until the next call on c), else 0 (absent, expired, or
 * out of memory: send the identity body). */
int answer_cache_gzip(answer_cache_t *c, const char *key, uint64_t now_ms, const char **gz,
                      size_t *len);

/* Keep a copy of the answer under key until expires_ms (replacing one under
 * the same key). Too big, or out of memory: not kept (nothing else
 * changes). */
void answer_cache_put(answer_cache_t *c, const char *key, const answer_cached_t *a,
                      uint64_t expires_ms, uint64_t now_ms);

#endif
