/*
 * audit_log.c - the consent log's checkpoints and its raw export
 * (audit_log.h).
 *
 * An export line (one log entry):
 *   {"p":<partition>,"id":"<log id>","n":<n or null>,
 *    "raw":"<base64url of the canonical encoding, logchain.h>",
 *    "h":"<chain value, 64 hex>" (absent while not yet chained)}
 * raw holds the id and every stored field: a verifier hashes it as is and
 * reads id and n from it rather than trusting p, id and n beside it.
 */
#include "audit_log.h"

#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "logchain.h"
#include "store.h"
#include "strbuf.h"

#define AUDIT_LOG_CURSOR_MAX 128

/* limit=1..max (default def); -1 after answering 400. */
static long audit_log_limit(http_request_t *rq, long def, long max)
{
    char s[16];
    if (http_query_param(rq, "limit", s, sizeof(s)) < 0) return def;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 1 || v > max) {
        char msg[64];
        snprintf(msg, sizeof(msg), "limit must be from 1 to %ld", max);
        http_error(rq, 400, "invalid_limit", msg);
        return -1;
    }
    return v;
}

static void audit_log_on_checkpoints(void *data, const store_checkpoint_t *cps, size_t n,
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
            strbuf_lit(&o, "{\"site\":");
            strbuf_json_str(&o, rq->site->id);
            strbuf_lit(&o, ",\"checkpoints\":[");
            for (size_t i = 0; i < n; i++) {
                strbuf_str(&o, i > 0 ? ",{\"id\":" : "{\"id\":");
                strbuf_json_str(&o, cps[i].id);
                strbuf_lit(&o, ",\"jws\":");
                strbuf_json(&o, cps[i].jws, cps[i].jws_len);
                strbuf_lit(&o, "}");
            }
            strbuf_lit(&o, "],\"next_cursor\":");
            if (next_cursor != NULL)
                strbuf_json_str(&o, next_cursor);
            else
                strbuf_lit(&o, "null");
            strbuf_lit(&o, "}");
            if (next_cursor != NULL)
                http_header(rq, "x-next-cursor", next_cursor, strlen(next_cursor));
            http_header(rq, "cache-control", H2O_STRLIT(AUDIT_LOG_CHECKPOINTS_CACHE));
            http_header(rq, "access-control-allow-origin", H2O_STRLIT("*"));
            if (strbuf_failed(&o))
                http_error(rq, 500, "internal", "out of memory");
            else
                http_send_static(rq, 200, "application/json", o.buf, o.len);
        }
    }
    http_pending_free(p);
}

void audit_log_checkpoints(http_request_t *rq)
{
    char cursor[AUDIT_LOG_CURSOR_MAX];
    long limit =
        audit_log_limit(rq, AUDIT_LOG_CHECKPOINTS_DEFAULT_LIMIT, STORE_CHECKPOINT_PAGE_MAX);
    if (limit < 0) return;
    ssize_t clen = http_query_param(rq, "cursor", cursor, sizeof(cursor));
    http_pending_t *p = http_pending_new(rq, 0);
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    int rc = store_checkpoint_page(rq->worker->redis, rq->site, clen > 0 ? cursor : NULL,
                                   (size_t)limit, audit_log_on_checkpoints, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        if (rc == REDIS_E_ARGS)
            http_error(rq, 400, "invalid_cursor", "cursor must be one given by next_cursor");
        else
            http_storage_error(rq, rc, NULL);
    }
}

/* The n field of an entry (digits), or NULL. */
static const logchain_bytes_t *audit_log_n(const store_log_entry_t *e)
{
    for (size_t f = 0; f + 1 < e->n_fields; f += 2) {
        const logchain_bytes_t *v = &e->fields[f + 1];
        if (e->fields[f].len != 1 || e->fields[f].p[0] != 'n' || v->len == 0 || v->len > 19)
            continue;
        size_t i = 0;
        while (i < v->len && v->p[i] >= '0' && v->p[i] <= '9')
            i++;
        if (i == v->len) return v;
    }
    return NULL;
}

static void audit_log_on_page(void *data, const store_log_entry_t *entries, size_t n,
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
            unsigned char *canon = NULL;
            char *b64 = NULL;
            size_t cap = 0;
            int oom = 0;
            for (size_t i = 0; i < n && !oom; i++) {
                const store_log_entry_t *e = &entries[i];
                size_t len = logchain_canonical_len(e->id, e->id_len, e->fields, e->n_fields);
                if (len > cap) {
                    free(canon);
                    free(b64);
                    canon = malloc(len);
                    b64 = malloc(BASE64URL_LEN(len) + 1);
                    cap = canon != NULL && b64 != NULL ? len : 0;
                }
                if (len == 0 || cap == 0) {
                    oom = 1;
                    break;
                }
                logchain_canonical(e->id, e->id_len, e->fields, e->n_fields, canon, cap);
                size_t blen = base64url_encode(b64, canon, len);
                const logchain_bytes_t *nv = audit_log_n(e);
                strbuf_lit(&o, "{\"p\":");
                strbuf_u64(&o, e->partition);
                strbuf_lit(&o, ",\"id\":");
                strbuf_json(&o, e->id, e->id_len);
                strbuf_lit(&o, ",\"n\":");
                if (nv != NULL)
                    strbuf_put(&o, nv->p, nv->len);
                else
                    strbuf_lit(&o, "null");
                strbuf_lit(&o, ",\"raw\":\"");
                strbuf_put(&o, b64, blen);
                strbuf_lit(&o, "\"");
                if (e->h != NULL) {
                    strbuf_lit(&o, ",\"h\":\"");
                    strbuf_str(&o, e->h);
                    strbuf_lit(&o, "\"");
                }
                strbuf_lit(&o, "}\n");
            }
            free(canon);
            free(b64);
            if (oom || strbuf_failed(&o)) {
                http_error(rq, 500, "internal", "out of memory");
            } else {
                if (next_cursor != NULL)
                    http_header(rq, "x-next-cursor", next_cursor, strlen(next_cursor));
                http_header(rq, "cache-control", H2O_STRLIT("no-store"));
                http_send_static(rq, 200, "application/x-ndjson", o.buf, o.len);
            }
        }
    }
    http_pending_free(p);
}

void audit_log_export(http_request_t *rq)
{
    http_caller_t caller = http_caller(rq);
    if (caller != HTTP_CALLER_SERVER) {
        http_caller_error(rq, caller == HTTP_CALLER_BROWSER ? HTTP_CALLER_NONE : caller);
        return;
    }
    char cursor[AUDIT_LOG_CURSOR_MAX];
    long limit = audit_log_limit(rq, AUDIT_LOG_DEFAULT_LIMIT, STORE_LOG_PAGE_MAX);
    if (limit < 0) return;
    ssize_t clen = http_query_param(rq, "cursor", cursor, sizeof(cursor));
    http_pending_t *p = http_pending_new(rq, 0);
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    int rc = store_log_raw_page(rq->worker->redis, rq->site, clen > 0 ? cursor : NULL,
                                (size_t)limit, audit_log_on_page, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        if (rc == REDIS_E_ARGS)
            http_error(rq, 400, "invalid_cursor", "cursor must be one given by x-next-cursor");
        else
            http_storage_error(rq, rc, NULL);
    }
}
