/*
 * rights.c - access, erasure and the audit export of the consent log.
 */
#include "rights.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "consent.h"
#include "identify_token.h"
#include "stats.h"
#include "store.h"
#include "strbuf.h"
#include "versions.h"

#define RIGHTS_CURSOR_MAX 128

static int rights_server_only(http_request_t *rq)
{
    http_caller_t caller = http_caller(rq);
    if (caller == HTTP_CALLER_SERVER) return 1;
    /* A browser of the site has no business here: it gets the 401 too. */
    http_caller_error(rq, caller == HTTP_CALLER_BROWSER ? HTTP_CALLER_NONE : caller);
    return 0;
}

static int rights_visitor(http_request_t *rq, char visitor[VISITOR_ID_MAX + 1])
{
    if (!visitor_id_valid(rq->params[0].base, rq->params[0].len)) {
        http_error(rq, 400, "invalid_visitor",
                   "visitor must be 8 to 64 characters of A-Z a-z 0-9 - _");
        return 0;
    }
    memcpy(visitor, rq->params[0].base, rq->params[0].len);
    visitor[rq->params[0].len] = '\0';
    return 1;
}

static void out_record(strbuf_t *o, const store_record_t *rec)
{
    if (rec->erased) {
        /* A log entry of an erased visitor: ciphertext nobody can open. What
         * is left is that it exists, and when Redis stored it. */
        char t[CLOCK_TEXT_MAX];
        size_t n = clock_format(rec->issued_at_ms, CLOCK_ISO_S, t);
        strbuf_lit(o, "{\"log_id\":");
        strbuf_json_str(o, rec->log_id);
        strbuf_lit(o, ",\"erased\":true,\"logged_at\":\"");
        strbuf_put(o, t, n);
        strbuf_lit(o, "\"}");
        return;
    }
    consent_record_json(o, rec, NULL);
}

/* ---- access -------------------------------------------------------------- */

/* A record of an access request: with the address of the banner version its
 * proof names, where the DPO downloads the exact bytes the visitor got, and
 * the address of the site version that produced it (issue 22, item 5: its
 * purposes, legal bases, recipients and texts, GET .../versions/{n}). */
static void out_record_linked(strbuf_t *o, http_request_t *rq, const store_record_t *rec)
{
    out_record(o, rec);
    if ((rec->banner_version == NULL && rec->site_version == 0) || o->len == 0 ||
        o->buf[o->len - 1] != '}')
        return;
    char url[512];
    o->len--; /* reopen the object */
    if (rec->banner_version != NULL) {
        size_t n = versions_url(rq, rec->banner_version, url, sizeof(url));
        strbuf_lit(o, ",\"banner_version_url\":");
        strbuf_json(o, url, n);
    }
    if (rec->site_version > 0) {
        int n = snprintf(url, sizeof(url), "%s/v1/sites/%s/versions/%" PRIu64,
                         rq->worker->cfg->public_url, rq->site->id, rec->site_version);
        strbuf_lit(o, ",\"site_version_url\":");
        strbuf_json(o, url, n < 0 ? 0 : (size_t)n < sizeof(url) ? (size_t)n : sizeof(url) - 1);
    }
    strbuf_char(o, '}');
}

/* An access request in progress: the visitor, and for a site with
 * identify the user it is linked to (read first). */
typedef struct rights_access {
    char visitor[VISITOR_ID_MAX + 1];
    char user[IDENTIFY_USER_HEX + 1]; /* "" when none */
} rights_access_t;

static void rights_on_visitor(void *data, const store_record_t *current,
                              const store_record_t *history, size_t n, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    const rights_access_t *a = http_pending_state(p);
    const char *visitor = a->visitor;
    if (rq != NULL) {
        if (err != NULL) {
            http_storage_error(rq, 0, err);
        } else {
            strbuf_t o;
            strbuf_init_pool(&o, &rq->req->pool);
            strbuf_lit(&o, "{\"site\":");
            strbuf_json_str(&o, rq->site->id);
            strbuf_lit(&o, ",\"visitor\":");
            strbuf_json_str(&o, visitor);
            strbuf_lit(&o, ",\"current\":");
            if (current != NULL)
                out_record_linked(&o, rq, current);
            else
                strbuf_put(&o, "null", 4);
            strbuf_put(&o, ",\"history\":[", 12);
            for (size_t i = 0; i < n; i++) {
                if (i > 0) strbuf_put(&o, ",", 1);
                out_record_linked(&o, rq, &history[i]);
            }
            strbuf_put(&o, "]", 1);
            if (rq->site->identify.enabled) {
                /* The site's user it is linked to, by its pseudonym (identify). */
                strbuf_lit(&o, ",\"user\":");
                if (a->user[0] != '\0')
                    strbuf_json_str(&o, a->user);
                else
                    strbuf_put(&o, "null", 4);
            }
            strbuf_put(&o, "}", 1);
            http_send_json(rq, 200, o.buf, o.len);
        }
    }
    http_pending_free(p);
}

/* A site with identify: the visitor's link read, then everything else. */
static void rights_on_user(void *data, const char *user, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    rights_access_t *a = http_pending_state(p);
    if (rq == NULL || err != NULL) {
        http_pending_free(p);
        if (rq != NULL) http_storage_error(rq, 0, err);
        return;
    }
    if (user != NULL && strlen(user) == IDENTIFY_USER_HEX) memcpy(a->user, user, sizeof(a->user));
    int rc = store_visitor_get(rq->worker->redis, rq->site, a->visitor, rights_on_visitor, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

void rights_access(http_request_t *rq)
{
    char visitor[VISITOR_ID_MAX + 1];
    if (!rights_server_only(rq) || !rights_visitor(rq, visitor)) return;
    http_pending_t *p = http_pending_new(rq, sizeof(rights_access_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    rights_access_t *a = http_pending_state(p);
    memcpy(a->visitor, visitor, sizeof(visitor));
    a->user[0] = '\0';
    int rc = rq->site->identify.enabled
                 ? store_identify_user(rq->worker->redis, rq->site, visitor, rights_on_user, p)
                 : store_visitor_get(rq->worker->redis, rq->site, visitor, rights_on_visitor, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- erasure ------------------------------------------------------------- */

static void rights_on_erased(void *data, size_t removed, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    if (rq != NULL) {
        if (err != NULL) {
            http_storage_error(rq, 0, err);
        } else {
            char body[160];
            int n = snprintf(body, sizeof(body), "{\"erased\":true,\"removed\":%zu}", removed);
            http_send_json(rq, 200, body, (size_t)n);
        }
    }
    http_pending_free(p);
}

/* What a linked erasure keeps until the user's record is unlinked. */
typedef struct rights_erasure {
    char visitor[VISITOR_ID_MAX + 1];
    size_t removed;
    /* The user's record is unlinked even if the client has gone (p keeps
     * the snapshot, hence site, alive). */
    redis_t *redis;
    const site_t *site;
} rights_erasure_t;

static void rights_on_unlinked(void *data, const redis_error_t *err)
{
    http_pending_t *p = data;
    rights_erasure_t *e = http_pending_state(p);
    rights_on_erased(p, e->removed, err);
}

static void rights_on_erased_linked(void *data, size_t removed, const char *user,
                                    const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    rights_erasure_t *e = http_pending_state(p);
    if (err != NULL || user == NULL) {
        rights_on_erased(p, removed, err);
        return;
    }
    e->removed = removed;
    int rc = store_user_unlink(e->redis, e->site, user, e->visitor, rights_on_unlinked, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        if (rq != NULL) http_storage_error(rq, rc, NULL);
    }
}

void rights_erase(http_request_t *rq)
{
    char visitor[VISITOR_ID_MAX + 1];
    if (!rights_server_only(rq) || !rights_visitor(rq, visitor)) return;
    http_pending_t *p = http_pending_new(rq, sizeof(rights_erasure_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    rights_erasure_t *e = http_pending_state(p);
    memcpy(e->visitor, visitor, sizeof(visitor));
    e->redis = rq->worker->redis;
    e->site = rq->site;
    /* A site with identify: the visitor's link goes in the same call, and
     * the user's record it made in a second one (the user's slot). */
    int rc = rq->site->identify.enabled
                 ? store_visitor_erase_linked(rq->worker->redis, rq->site, visitor,
                                              rights_on_erased_linked, p)
                 : store_visitor_erase(rq->worker->redis, rq->site, visitor, rights_on_erased, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- audit export -------------------------------------------------------- */

/* "YYYY-MM-DD" (a real UTC day, as the stats take it; its last millisecond
 * when end_of_day) or milliseconds since the epoch (digits only). -1 when
 * malformed. */
static int64_t rights_parse_time(const char *s, int end_of_day)
{
    int64_t day, v = 0;
    size_t n = strlen(s);
    if (n == 10 && s[4] == '-')
        return clock_parse_day(s, &day) != 0 ? -1
                                             : day * 86400000 + (end_of_day ? 86400000 - 1 : 0);
    if (n == 0 || n > 15) /* 15 digits: past the year 30000 */
        return -1;
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9') return -1;
        v = v * 10 + (s[k] - '0');
    }
    return v;
}

static void rights_on_page(void *data, const store_record_t *records, size_t n,
                           const char *next_cursor, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    if (rq != NULL) {
        if (err != NULL) {
            http_storage_error(rq, 0, err);
        } else {
            strbuf_t o;
            strbuf_init_pool(&o, &rq->req->pool);
            for (size_t i = 0; i < n; i++) {
                out_record(&o, &records[i]);
                strbuf_put(&o, "\n", 1);
            }
            if (next_cursor != NULL)
                http_header(rq, "x-next-cursor", next_cursor, strlen(next_cursor));
            http_header(rq, "cache-control", H2O_STRLIT("no-store"));
            http_send_static(rq, 200, "application/x-ndjson", o.buf, o.len);
        }
    }
    http_pending_free(p);
}

void rights_export(http_request_t *rq)
{
    if (!rights_server_only(rq)) return;
    char from_s[32], to_s[32], cursor[RIGHTS_CURSOR_MAX];
    int64_t from = 0, to = INT64_MAX;
    if (http_query_param(rq, "from", from_s, sizeof(from_s)) >= 0 &&
        (from = rights_parse_time(from_s, 0)) < 0) {
        http_error(rq, 400, "invalid_range", "from must be YYYY-MM-DD or milliseconds");
        return;
    }
    if (http_query_param(rq, "to", to_s, sizeof(to_s)) >= 0 &&
        (to = rights_parse_time(to_s, 1)) < 0) {
        http_error(rq, 400, "invalid_range", "to must be YYYY-MM-DD or milliseconds");
        return;
    }
    if (to < from) {
        http_error(rq, 400, "invalid_range", "to is before from");
        return;
    }
    long limit = http_query_limit(rq, RIGHTS_EXPORT_DEFAULT_LIMIT, STORE_LOG_PAGE_MAX);
    if (limit < 0) return;
    ssize_t clen = http_query_param(rq, "cursor", cursor, sizeof(cursor));
    http_pending_t *p = http_pending_new(rq, 0);
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    int rc =
        store_log_page_from(rq->worker->redis, rq->worker->redis_read, rq->site,
                            clen > 0 ? cursor : NULL, from, to, (size_t)limit, rights_on_page, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        if (rc == REDIS_E_ARGS)
            http_error(rq, 400, "invalid_cursor", "cursor must be one given by x-next-cursor");
        else
            http_storage_error(rq, rc, NULL);
    }
}
