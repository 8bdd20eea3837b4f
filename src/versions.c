/*
 * versions.c - list and download the banner versions a site served.
 *
 * Answers are built from the archive in Redis (store_banner_list,
 * store_banner_get): what any node of the deployment served, for as long as
 * a proof may name it. The list marks the version this process serves now.
 */
#include "versions.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "banner.h"
#include "json.h"
#include "store.h"

#define VERSIONS_PUBLIC_CACHE "public, max-age=300"
#define VERSIONS_BYTES_CACHE "private, max-age=86400"
#define VERSIONS_URL_MAX 512

/* "2026-11-23T09:04:06.123Z" */
static void out_time(http_out_t *o, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char t[40];
    gmtime_r(&secs, &tm);
    size_t n = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(t + n, sizeof(t) - n, ".%03dZ\"", (int)(ms % 1000));
    http_out_put(o, "\"", 1);
    http_out_put(o, t, n);
}

/* "a,b" as ["a","b"]; "" as []. */
static void out_list(http_out_t *o, const char *csv)
{
    http_out_put(o, "[", 1);
    for (const char *p = csv; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (p != csv) http_out_put(o, ",", 1);
        http_out_json(o, p, n);
        p += n + (end != NULL);
    }
    http_out_put(o, "]", 1);
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

/* ---- the lists ------------------------------------------------------------ */

typedef struct versions_query {
    int public; /* hashes and first-served times only */
} versions_query_t;

static void versions_on_list(void *data, const store_banner_version_t *v, size_t n,
                             const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    const versions_query_t *q = http_pending_state(p);
    if (rq != NULL && err != NULL) {
        http_storage_error(rq, 0, err);
    } else if (rq != NULL) {
        http_out_t o = {&rq->req->pool, NULL, 0, 0};
        const char *current = banner_version_hex(rq->worker->snap->banners, rq->site);
        char url[VERSIONS_URL_MAX];
        http_out_str(&o, "{\"site\":");
        http_out_json(&o, rq->site->id, strlen(rq->site->id));
        http_out_str(&o, ",\"versions\":[");
        for (size_t i = 0; i < n; i++) {
            http_out_str(&o, i > 0 ? ",{\"hash\":\"" : "{\"hash\":\"");
            http_out_str(&o, v[i].hash);
            http_out_str(&o, "\",\"first_served\":");
            out_time(&o, v[i].first_served_ms);
            if (!q->public) {
                http_out_str(&o, ",\"last_served\":");
                out_time(&o, v[i].last_served_ms);
                http_out_str(&o, ",\"current\":");
                http_out_str(&o,
                             current != NULL && strcmp(current, v[i].hash) == 0 ? "true" : "false");
                http_out_str(&o, ",\"policy_version\":");
                http_out_json(&o, v[i].policy_version, strlen(v[i].policy_version));
                http_out_str(&o, ",\"languages\":");
                out_list(&o, v[i].languages);
                http_out_str(&o, ",\"variants\":");
                out_list(&o, v[i].variants);
                http_out_str(&o, ",\"url\":");
                http_out_json(&o, url, versions_url(rq, v[i].hash, url, sizeof(url)));
            }
            http_out_put(&o, "}", 1);
        }
        http_out_str(&o, "]}");
        if (q->public) {
            http_header(rq, "cache-control", H2O_STRLIT(VERSIONS_PUBLIC_CACHE));
            http_header(rq, "access-control-allow-origin", H2O_STRLIT("*"));
            http_send_static(rq, 200, "application/json", o.buf, o.len);
        } else {
            http_send_json(rq, 200, o.buf, o.len);
        }
    }
    http_pending_free(p);
}

static void versions_start_list(http_request_t *rq, int public)
{
    http_pending_t *p = http_pending_new(rq, sizeof(versions_query_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    ((versions_query_t *)http_pending_state(p))->public = public;
    int rc = store_banner_list(rq->worker->redis, rq->site, versions_on_list, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

void versions_list(http_request_t *rq)
{
    if (versions_server_only(rq)) versions_start_list(rq, 0);
}

void versions_public(http_request_t *rq)
{
    versions_start_list(rq, 1);
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
