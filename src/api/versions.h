/*
 * versions.h - the archive of banner versions, read back (banner.h says what
 * a version is, store.h how it is kept):
 *
 *   GET /v1/sites/{site}/banner-versions         API key: every archived version
 *   GET /v1/sites/{site}/banner-versions/{hash}  API key: its exact bytes
 *   GET /v1/sites/{site}/banner-versions.json    public, cacheable: hashes and first-served
 *                                                times, for a site to publish
 *
 * The two key routes read Redis on each request (their callers are known).
 * The public one is served from memory: each worker thread keeps, per site,
 * the answer it last read from the archive, and reads it again (one Redis
 * call, never two at once) when it is VERSIONS_PUBLIC_REFRESH_MS old, or
 * VERSIONS_PUBLIC_RETRY_MS old while it lacks the version this process
 * serves now (which this process archives at its first serving). So a
 * version appears within VERSIONS_PUBLIC_RETRY_MS when this process
 * archived it, within VERSIONS_PUBLIC_REFRESH_MS when another node did, and
 * a flood of requests costs Redis at most one call per worker and site per
 * VERSIONS_PUBLIC_RETRY_MS.
 *
 * Threads: one versions_cache_t per worker thread (worker_t.versions),
 * made and freed by that thread (server.c), touched by it only.
 */
#ifndef CONSENTD_VERSIONS_H
#define CONSENTD_VERSIONS_H

#include "http.h"

#define VERSIONS_PUBLIC_REFRESH_MS 5000
#define VERSIONS_PUBLIC_RETRY_MS 1000
#define VERSIONS_CACHE_BUCKETS 256
#define VERSIONS_CACHE_MAX 4096   /* sites per worker; beyond, idle entries are dropped */
#define VERSIONS_WAITERS_MAX 1024 /* requests waiting for a site's first read */

typedef struct versions_cache versions_cache_t;
/* NULL when out of memory (the public list then answers 500). */
versions_cache_t *versions_cache_create(worker_t *w);
/* Call after redis_destroy(): its callbacks still answer waiting requests. */
void versions_cache_free(versions_cache_t *c);

void versions_list(http_request_t *rq);
void versions_get(http_request_t *rq);
void versions_public(http_request_t *rq);

/* The address of a version: <public_url>/v1/sites/<site>/banner-versions/<hash>,
 * written into out (NUL-terminated, cut to fit). Returns its length. */
size_t versions_url(http_request_t *rq, const char *hash, char *out, size_t cap);

#endif
