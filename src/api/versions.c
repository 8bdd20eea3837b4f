/*
 * versions.c - list and download the banner versions a site served.
 *
 * Answers are built from the archive in Redis (store_banner_list,
 * store_banner_get): what any node of the deployment served, for as long as
 * a proof may name it. The list marks the version this process serves now.
 * The public list (no key) is answered from each worker's memory
 * (versions_cache_t below), so that its callers cannot make Redis work.
 */
#include "versions.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banner_build.h"
#include "clock.h"
#include "json.h"
#include "store.h"
#include "strbuf.h"

#define VERSIONS_PUBLIC_CACHE "public, max-age=300"
#define VERSIONS_BYTES_CACHE "private, max-age=86400"
#define VERSIONS_URL_MAX 512

/* "2026-11-23T09:04:06.123Z" */
static void out_time(strbuf_t *o, int64_t ms)
{
    char t[CLOCK_TEXT_MAX];
    size_t n = clock_format(ms, CLOCK_ISO_MS, t);
    strbuf_char(o, '"');
    strbuf_put(o, t, n);
    strbuf_char(o, '"');
}

/* "a,b" as ["a","b"]; "" as []. */
static void out_list(strbuf_t *o, const char *csv)
{
    strbuf_put(o, "[", 1);
    for (const char *p = csv; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (p != csv) strbuf_put(o, ",", 1);
        strbuf_json(o, p, n);
        p += n + (end != NULL);
    }
    strbuf_put(o, "]", 1);
}

size_t versions_url(http_request_t *rq, const char *hash, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/v1/sites/%s/banner-versions/%s", rq->worker->cfg->public_url,
                     rq->site->id, hash);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static int versions_server_only(http_request_t *rq)
{
    http_caller_t caller = http_caller(rq);
    if (caller == HTTP_CALLER_SERVER) return 1;
    /* A browser of the site has no business here: it gets the 401 too. */
    http_caller_error(rq, caller == HTTP_CALLER_BROWSER ? HTTP_CALLER_NONE : caller);
    return 0;
}

/* ---- the list (API key), from the archive ------------------------------------ */

static void versions_on_list(void *data, const store_banner_version_t *v, size_t n,
                             const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    if (rq != NULL && err != NULL) {
        http_storage_error(rq, 0, err);
    } else if (rq != NULL) {
        strbuf_t o;
        strbuf_init_pool(&o, &rq->req->pool);
        /* The snapshot rq->site belongs to (a reload may have come meanwhile). */
        const char *current = banner_version_hex(http_pending_snapshot(p)->banners, rq->site);
        char url[VERSIONS_URL_MAX];
        strbuf_str(&o, "{\"site\":");
        strbuf_json(&o, rq->site->id, strlen(rq->site->id));
        strbuf_str(&o, ",\"versions\":[");
        for (size_t i = 0; i < n; i++) {
            strbuf_str(&o, i > 0 ? ",{\"hash\":\"" : "{\"hash\":\"");
            strbuf_str(&o, v[i].hash);
            strbuf_str(&o, "\",\"first_served\":");
            out_time(&o, v[i].first_served_ms);
            strbuf_str(&o, ",\"last_served\":");
            out_time(&o, v[i].last_served_ms);
            strbuf_str(&o, ",\"current\":");
            strbuf_str(&o, current != NULL && strcmp(current, v[i].hash) == 0 ? "true" : "false");
            strbuf_str(&o, ",\"policy_version\":");
            strbuf_json(&o, v[i].policy_version, strlen(v[i].policy_version));
            strbuf_str(&o, ",\"languages\":");
            out_list(&o, v[i].languages);
            strbuf_str(&o, ",\"variants\":");
            out_list(&o, v[i].variants);
            strbuf_str(&o, ",\"url\":");
            strbuf_json(&o, url, versions_url(rq, v[i].hash, url, sizeof(url)));
            strbuf_put(&o, "}", 1);
        }
        strbuf_str(&o, "]}");
        http_send_json(rq, 200, o.buf, o.len);
    }
    http_pending_free(p);
}

void versions_list(http_request_t *rq)
{
    if (!versions_server_only(rq)) return;
    http_pending_t *p = http_pending_new(rq, 0);
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    int rc = store_banner_list(rq->worker->redis, rq->site, versions_on_list, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- the public list, from memory --------------------------------------------
 *
 * Per worker thread, per site: the public answer as last read from the
 * archive, with the hashes it lists. A request reads Redis only when the
 * entry is stale, and then only if no read of that site is in flight on
 * this worker and the last one began at least VERSIONS_PUBLIC_RETRY_MS ago
 * (VERSIONS_PUBLIC_REFRESH_MS once the list has the version this process
 * serves now): at most one Redis call per worker per site and interval,
 * whatever the request rate. The version this process archives is always
 * its current one (banner.c, at its first serving), so "the list lacks the
 * current version" is when the archive changed under us, and is read again
 * within a second. Requests that find no answer yet wait for the read in
 * flight; a stale answer is served while the next read runs, or when it
 * failed. */

/* The public list: {"site":...,"versions":[{"hash":...,"first_served":...}]}. */
static void versions_public_json(strbuf_t *o, const char *site_id, const store_banner_version_t *v,
                                 size_t n)
{
    strbuf_str(o, "{\"site\":");
    strbuf_json(o, site_id, strlen(site_id));
    strbuf_str(o, ",\"versions\":[");
    for (size_t i = 0; i < n; i++) {
        strbuf_str(o, i > 0 ? ",{\"hash\":\"" : "{\"hash\":\"");
        strbuf_str(o, v[i].hash);
        strbuf_str(o, "\",\"first_served\":");
        out_time(o, v[i].first_served_ms);
        strbuf_put(o, "}", 1);
    }
    strbuf_str(o, "]}");
}

static void versions_send_public(http_request_t *rq, const char *body, size_t len)
{
    http_header(rq, "cache-control", H2O_STRLIT(VERSIONS_PUBLIC_CACHE));
    http_header(rq, "access-control-allow-origin", H2O_STRLIT("*"));
    http_send_copy(rq, 200, "application/json", body, len);
}

typedef struct versions_entry {
    struct versions_entry *next; /* same bucket */
    char site[SITE_ID_MAX + 1];
    char *body; /* malloc'd answer, NULL before the first read that worked */
    size_t len;
    char (*hashes)[BANNER_VERSION_HEX + 1]; /* the versions body lists */
    size_t n_hashes;
    uint64_t read_ms;  /* h2o_now() when the last read began; 0: never */
    uint64_t fresh_ms; /* when body was read */
    int in_flight;
    http_pending_t *waiters; /* linked through versions_waiter_t.next */
    size_t n_waiters;
} versions_entry_t;

typedef struct versions_waiter {
    http_pending_t *next;
} versions_waiter_t;

struct versions_cache {
    worker_t *worker;
    versions_entry_t *buckets[VERSIONS_CACHE_BUCKETS];
    size_t n_entries;
};

/* What a read in flight carries: the cache entry's site, looked up again
 * when Redis answers. */
typedef struct versions_read {
    versions_cache_t *cache;
    char site[SITE_ID_MAX + 1];
} versions_read_t;

versions_cache_t *versions_cache_create(worker_t *w)
{
    versions_cache_t *c = calloc(1, sizeof(*c));
    if (c != NULL) c->worker = w;
    return c;
}

static void versions_entry_free(versions_entry_t *e)
{
    assert(e->waiters == NULL && !e->in_flight);
    free(e->body);
    free(e->hashes);
    free(e);
}

void versions_cache_free(versions_cache_t *c)
{
    if (c == NULL) return;
    for (size_t b = 0; b < VERSIONS_CACHE_BUCKETS; b++) {
        for (versions_entry_t *e = c->buckets[b], *next; e != NULL; e = next) {
            next = e->next;
            versions_entry_free(e);
        }
    }
    free(c);
}

static size_t versions_bucket(const char *site)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)site; *p != '\0'; p++)
        h = (h ^ *p) * 16777619u;
    return h % VERSIONS_CACHE_BUCKETS;
}

static versions_entry_t *versions_entry_find(versions_cache_t *c, const char *site)
{
    for (versions_entry_t *e = c->buckets[versions_bucket(site)]; e != NULL; e = e->next)
        if (strcmp(e->site, site) == 0) return e;
    return NULL;
}

/* Make room: drop the entries that nothing waits on (sites removed by
 * reloads stay until then). */
static void versions_cache_trim(versions_cache_t *c)
{
    for (size_t b = 0; b < VERSIONS_CACHE_BUCKETS; b++) {
        versions_entry_t **link = &c->buckets[b];
        while (*link != NULL) {
            versions_entry_t *e = *link;
            if (e->in_flight) {
                link = &e->next;
                continue;
            }
            *link = e->next;
            versions_entry_free(e);
            c->n_entries--;
        }
    }
}

static versions_entry_t *versions_entry_get(versions_cache_t *c, const char *site)
{
    versions_entry_t *e = versions_entry_find(c, site);
    if (e != NULL) return e;
    if (c->n_entries >= VERSIONS_CACHE_MAX) versions_cache_trim(c);
    if (c->n_entries >= VERSIONS_CACHE_MAX || (e = calloc(1, sizeof(*e))) == NULL) return NULL;
    snprintf(e->site, sizeof(e->site), "%s", site);
    size_t b = versions_bucket(site);
    e->next = c->buckets[b];
    c->buckets[b] = e;
    c->n_entries++;
    return e;
}

static int versions_entry_lists(const versions_entry_t *e, const char *hash)
{
    for (size_t i = 0; hash != NULL && i < e->n_hashes; i++)
        if (strcmp(e->hashes[i], hash) == 0) return 1;
    return 0;
}

/* Keep what the archive answered: the public answer and its hashes. */
static void versions_entry_keep(versions_entry_t *e, const store_banner_version_t *v, size_t n,
                                uint64_t now)
{
    strbuf_t o;
    strbuf_init_heap(&o);
    versions_public_json(&o, e->site, v, n);
    size_t len;
    char *body = strbuf_take(&o, &len);
    char(*hashes)[BANNER_VERSION_HEX + 1] = malloc((n + 1) * sizeof(*hashes));
    if (body != NULL && hashes != NULL) {
        for (size_t i = 0; i < n; i++)
            snprintf(hashes[i], sizeof(hashes[i]), "%s", v[i].hash);
        free(e->body);
        free(e->hashes);
        e->body = body;
        e->len = len;
        e->hashes = hashes;
        e->n_hashes = n;
        e->fresh_ms = now;
    } else { /* out of memory: keep the previous answer */
        free(body);
        free(hashes);
    }
}

static void versions_on_public_read(void *data, const store_banner_version_t *v, size_t n,
                                    const redis_error_t *err)
{
    versions_read_t *r = data;
    versions_cache_t *c = r->cache;
    versions_entry_t *e = versions_entry_find(c, r->site);
    free(r);
    assert(e != NULL && e->in_flight); /* an entry with a read in flight is never dropped */
    e->in_flight = 0;
    if (err == NULL) versions_entry_keep(e, v, n, h2o_now(c->worker->ctx.loop));
    http_pending_t *p = e->waiters;
    e->waiters = NULL;
    e->n_waiters = 0;
    while (p != NULL) {
        http_pending_t *next = ((versions_waiter_t *)http_pending_state(p))->next;
        http_request_t *rq = http_pending_request(p);
        if (rq != NULL && e->body != NULL)
            versions_send_public(rq, e->body, e->len);
        else if (rq != NULL)
            http_storage_error(rq, err != NULL ? 0 : REDIS_E_BUSY, err); /* busy: out of memory */
        http_pending_free(p);
        p = next;
    }
}

/* Start a read of the site's archive for e; REDIS_OK or a REDIS_E_* code. */
static int versions_public_read(versions_cache_t *c, versions_entry_t *e, const site_t *site,
                                uint64_t now)
{
    versions_read_t *r = malloc(sizeof(*r));
    if (r == NULL) return REDIS_E_BUSY;
    r->cache = c;
    snprintf(r->site, sizeof(r->site), "%s", e->site);
    e->read_ms = now;
    int rc = store_banner_list(c->worker->redis, site, versions_on_public_read, r);
    if (rc != REDIS_OK)
        free(r);
    else
        e->in_flight = 1;
    return rc;
}

void versions_public(http_request_t *rq)
{
    versions_cache_t *c = rq->worker->versions;
    versions_entry_t *e = c != NULL ? versions_entry_get(c, rq->site->id) : NULL;
    if (e == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    uint64_t now = h2o_now(rq->worker->ctx.loop);
    const char *current = banner_version_hex(rq->worker->snap->banners, rq->site);
    uint64_t every =
        versions_entry_lists(e, current) ? VERSIONS_PUBLIC_REFRESH_MS : VERSIONS_PUBLIC_RETRY_MS;
    int stale = e->body == NULL || now - e->fresh_ms >= every;
    int rc = REDIS_OK;
    if (stale && !e->in_flight && (e->read_ms == 0 || now - e->read_ms >= every))
        rc = versions_public_read(c, e, rq->site, now);
    if (e->body != NULL) { /* fresh, or the read runs (or failed): serve what we have */
        versions_send_public(rq, e->body, e->len);
        return;
    }
    if (!e->in_flight) { /* never read: the read failed at once, or is not due yet */
        http_storage_error(rq, rc, NULL);
        return;
    }
    if (e->n_waiters >= VERSIONS_WAITERS_MAX) {
        http_storage_error(rq, REDIS_E_BUSY, NULL);
        return;
    }
    http_pending_t *p = http_pending_new(rq, sizeof(versions_waiter_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    ((versions_waiter_t *)http_pending_state(p))->next = e->waiters;
    e->waiters = p;
    e->n_waiters++;
}

/* ---- one version's bytes ---------------------------------------------------- */

static void versions_on_bytes(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    const char *hash = http_pending_state(p);
    if (rq != NULL && err != NULL) {
        http_storage_error(rq, 0, err);
    } else if (rq != NULL && js == NULL) {
        http_error(rq, 404, "banner_version_not_found",
                   "no archived banner version of this site has this hash");
    } else if (rq != NULL) {
        http_header(rq, "x-banner-version", hash, BANNER_VERSION_HEX);
        http_header(rq, "cache-control", H2O_STRLIT(VERSIONS_BYTES_CACHE));
        http_send_copy(rq, 200, "application/javascript; charset=utf-8", js, len);
    }
    http_pending_free(p);
}

void versions_get(http_request_t *rq)
{
    if (!versions_server_only(rq)) return;
    unsigned char version[BANNER_VERSION_BYTES];
    if (banner_version_parse(rq->params[0].base, rq->params[0].len, version) != 0) {
        http_error(rq, 400, "invalid_banner_version",
                   "a banner version is 64 lowercase hex digits");
        return;
    }
    http_pending_t *p = http_pending_new(rq, BANNER_VERSION_HEX + 1);
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    char *hash = http_pending_state(p);
    memcpy(hash, rq->params[0].base, BANNER_VERSION_HEX);
    hash[BANNER_VERSION_HEX] = '\0';
    int rc = store_banner_get(rq->worker->redis, rq->site, hash, versions_on_bytes, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}
