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

#include <jansson.h>
#include <sodium.h>

#include "base64url.h"
#include "logchain.h"
#include "store.h"
#include "strbuf.h"
#include "visitor.h"

#define AUDIT_LOG_CURSOR_MAX 128

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
        http_query_limit(rq, AUDIT_LOG_CHECKPOINTS_DEFAULT_LIMIT, STORE_CHECKPOINT_PAGE_MAX);
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
    long limit = http_query_limit(rq, AUDIT_LOG_DEFAULT_LIMIT, STORE_LOG_PAGE_MAX);
    if (limit < 0) return;
    ssize_t clen = http_query_param(rq, "cursor", cursor, sizeof(cursor));
    http_pending_t *p = http_pending_new(rq, 0);
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    int rc = store_log_raw_page_from(rq->worker->redis, rq->worker->redis_read, rq->site,
                                     clen > 0 ? cursor : NULL, (size_t)limit, audit_log_on_page, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        if (rc == REDIS_E_ARGS)
            http_error(rq, 400, "invalid_cursor", "cursor must be one given by x-next-cursor");
        else
            http_storage_error(rq, rc, NULL);
    }
}

/* ---- inclusion proof -------------------------------------------------------- */

/* Checkpoints looked at after the entry: the first that covers it is
 * normally the first or second made after its write. */
#define AUDIT_LOG_INCLUSION_CHECKPOINTS 10

typedef struct audit_log_inclusion {
    unsigned partition;
    char id[64];
    size_t n_cps;
    struct {
        char *id, *jws; /* in the request's pool */
        size_t jws_len;
    } cps[AUDIT_LOG_INCLUSION_CHECKPOINTS];
} audit_log_inclusion_t;

/* "<ms>-<seq>" as two numbers; 0 when a <= b. */
static int audit_log_id_after(const char *a, size_t a_len, const char *b)
{
    unsigned long long am = 0, as = 0, bm = 0, bs = 0;
    char buf[64];
    snprintf(buf, sizeof(buf), "%.*s", (int)a_len, a);
    if (sscanf(buf, "%llu-%llu", &am, &as) != 2 || sscanf(b, "%llu-%llu", &bm, &bs) != 2) return 1;
    return am > bm || (am == bm && as > bs);
}

/* The head of partition p in a checkpoint's payload: 0 and its id, n, h
 * (copied, cap 64/65 bytes), -1 when it has none or is not readable. */
static int audit_log_head(const char *jws, size_t len, unsigned p, char *id, uint64_t *n, char *h)
{
    const char *dot1 = memchr(jws, '.', len), *dot2;
    if (dot1 == NULL || (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jws))) == NULL)
        return -1;
    size_t b64 = (size_t)(dot2 - dot1 - 1), plen;
    unsigned char *payload = malloc(b64 + 1);
    if (payload == NULL || sodium_base642bin(payload, b64 + 1, dot1 + 1, b64, NULL, &plen, NULL,
                                             sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
        free(payload);
        return -1;
    }
    json_t *root = json_loadb((const char *)payload, plen, 0, NULL);
    free(payload);
    int rc = -1;
    size_t i;
    json_t *head;
    json_array_foreach(json_object_get(root, "heads"), i, head)
    {
        json_t *hp = json_object_get(head, "p"), *hn = json_object_get(head, "n"),
               *hid = json_object_get(head, "id"), *hh = json_object_get(head, "h");
        if (!json_is_integer(hp) || json_integer_value(hp) != (json_int_t)p) continue;
        if (json_is_integer(hn) && json_is_string(hid) && json_is_string(hh) &&
            strlen(json_string_value(hid)) < 64 &&
            strlen(json_string_value(hh)) == LOGCHAIN_HEX_LEN) {
            *n = (uint64_t)json_integer_value(hn);
            snprintf(id, 64, "%s", json_string_value(hid));
            snprintf(h, LOGCHAIN_HEX_LEN + 1, "%s", json_string_value(hh));
            rc = 0;
        }
        break;
    }
    json_decref(root);
    return rc;
}

/* The leaf of an entry, hex; -1 when out of memory. */
static int audit_log_leaf_hex(const store_log_entry_t *e, char out[LOGCHAIN_HEX_LEN + 1])
{
    size_t len = logchain_canonical_len(e->id, e->id_len, e->fields, e->n_fields);
    unsigned char *canon = len > 0 ? malloc(len) : NULL, leaf[LOGCHAIN_HASH_BYTES];
    if (canon == NULL) return -1;
    logchain_canonical(e->id, e->id_len, e->fields, e->n_fields, canon, len);
    logchain_leaf(canon, len, leaf);
    free(canon);
    logchain_hex(leaf, out);
    return 0;
}

static void audit_log_on_inclusion(void *data, const store_log_entry_t *entry, const char *prev_h,
                                   uint64_t prev_n, const store_log_entry_t *following, size_t n,
                                   const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    audit_log_inclusion_t *st = http_pending_state(p);
    if (rq == NULL) goto done;
    if (err != NULL) {
        http_storage_error(rq, 0, err);
        goto done;
    }
    if (entry == NULL) {
        http_error(rq, 404, "log_entry_not_found", "no such entry in that partition of the log");
        goto done;
    }
    /* The first checkpoint whose head of the partition is at or after the entry. */
    char head_id[64], head_h[LOGCHAIN_HEX_LEN + 1];
    uint64_t head_n = 0;
    size_t k;
    for (k = 0; k < st->n_cps; k++)
        if (audit_log_head(st->cps[k].jws, st->cps[k].jws_len, st->partition, head_id, &head_n,
                           head_h) == 0 &&
            !audit_log_id_after(entry->id, entry->id_len, head_id))
            break;
    if (entry->h == NULL || k == st->n_cps) {
        http_error(rq, 409, "log_entry_not_covered",
                   "no checkpoint covers this entry yet: retry after log.checkpoint_seconds");
        goto done;
    }
    size_t upto = 0;
    while (upto < n && !audit_log_id_after(following[upto].id, following[upto].id_len, head_id))
        upto++;
    if (upto == n && n == STORE_INCLUSION_FOLLOWING_MAX) { /* the head is further still */
        http_error(rq, 500, "internal", "the checkpoint is too far after the entry");
        goto done;
    }
    strbuf_t o;
    strbuf_init_pool(&o, &rq->req->pool);
    size_t len = logchain_canonical_len(entry->id, entry->id_len, entry->fields, entry->n_fields);
    unsigned char *canon = len > 0 ? malloc(len) : NULL;
    char *b64 = canon != NULL ? malloc(BASE64URL_LEN(len) + 1) : NULL;
    if (b64 == NULL) {
        free(canon);
        http_error(rq, 500, "internal", "out of memory");
        goto done;
    }
    logchain_canonical(entry->id, entry->id_len, entry->fields, entry->n_fields, canon, len);
    size_t blen = base64url_encode(b64, canon, len);
    const logchain_bytes_t *nv = audit_log_n(entry);
    strbuf_lit(&o, "{\"site\":");
    strbuf_json_str(&o, rq->site->id);
    strbuf_lit(&o, ",\"partition\":");
    strbuf_u64(&o, st->partition);
    strbuf_lit(&o, ",\"id\":");
    strbuf_json(&o, entry->id, entry->id_len);
    strbuf_lit(&o, ",\"n\":");
    if (nv != NULL)
        strbuf_put(&o, nv->p, nv->len);
    else
        strbuf_lit(&o, "null");
    strbuf_lit(&o, ",\"raw\":\"");
    strbuf_put(&o, b64, blen);
    strbuf_lit(&o, "\",\"h\":\"");
    strbuf_str(&o, entry->h);
    strbuf_lit(&o, "\",\"prev\":");
    if (prev_h != NULL) {
        strbuf_lit(&o, "{\"n\":");
        strbuf_u64(&o, prev_n);
        strbuf_lit(&o, ",\"h\":\"");
        strbuf_str(&o, prev_h);
        strbuf_lit(&o, "\"}");
    } else {
        strbuf_lit(&o, "null");
    }
    free(canon);
    free(b64);
    strbuf_lit(&o, ",\"following\":[");
    for (size_t i = 0; i < upto; i++) {
        char leaf[LOGCHAIN_HEX_LEN + 1];
        if (audit_log_leaf_hex(&following[i], leaf) != 0) {
            http_error(rq, 500, "internal", "out of memory");
            goto done;
        }
        strbuf_str(&o, i > 0 ? ",{\"id\":" : "{\"id\":");
        strbuf_json(&o, following[i].id, following[i].id_len);
        strbuf_lit(&o, ",\"leaf\":\"");
        strbuf_str(&o, leaf);
        strbuf_lit(&o, "\"}");
    }
    strbuf_lit(&o, "],\"checkpoint\":{\"id\":");
    strbuf_json_str(&o, st->cps[k].id);
    strbuf_lit(&o, ",\"jws\":");
    strbuf_json(&o, st->cps[k].jws, st->cps[k].jws_len);
    strbuf_lit(&o, "}}");
    if (strbuf_failed(&o)) {
        http_error(rq, 500, "internal", "out of memory");
    } else {
        http_header(rq, "cache-control", H2O_STRLIT("no-store"));
        http_send_static(rq, 200, "application/json", o.buf, o.len);
    }
done:
    http_pending_free(p);
}

static void audit_log_on_covering(void *data, const store_checkpoint_t *cps, size_t n,
                                  const char *next_cursor, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    audit_log_inclusion_t *st = http_pending_state(p);
    if (rq == NULL || err != NULL) {
        if (rq != NULL) http_storage_error(rq, 0, err);
        http_pending_free(p);
        return;
    }
    for (size_t i = 0; i < n && st->n_cps < AUDIT_LOG_INCLUSION_CHECKPOINTS; i++) {
        st->cps[st->n_cps].id = h2o_mem_alloc_pool(&rq->req->pool, strlen(cps[i].id) + 1);
        memcpy(st->cps[st->n_cps].id, cps[i].id, strlen(cps[i].id) + 1);
        st->cps[st->n_cps].jws = h2o_mem_alloc_pool(&rq->req->pool, cps[i].jws_len);
        memcpy(st->cps[st->n_cps].jws, cps[i].jws, cps[i].jws_len);
        st->cps[st->n_cps].jws_len = cps[i].jws_len;
        st->n_cps++;
    }
    int rc = store_log_inclusion(rq->worker->redis, rq->site, st->partition, st->id,
                                 STORE_INCLUSION_FOLLOWING_MAX, audit_log_on_inclusion, p);
    if (rc != REDIS_OK) {
        http_storage_error(rq, rc, NULL);
        http_pending_free(p);
    }
}

void audit_log_inclusion(http_request_t *rq)
{
    http_caller_t caller = http_caller(rq);
    if (caller != HTTP_CALLER_SERVER) {
        http_caller_error(rq, caller == HTTP_CALLER_BROWSER ? HTTP_CALLER_NONE : caller);
        return;
    }
    char id[64], part[16], visitor[VISITOR_ID_MAX + 1];
    long partition = -1;
    if (http_query_param(rq, "partition", part, sizeof(part)) > 0) {
        char *end;
        partition = strtol(part, &end, 10);
        if (*end != '\0' || partition < 0 || partition >= STORE_PARTITIONS) partition = -1;
    } else {
        ssize_t vlen = http_query_param(rq, "visitor", visitor, sizeof(visitor));
        if (vlen > 0 && visitor_id_valid(visitor, (size_t)vlen))
            partition = (long)store_partition(visitor, (size_t)vlen);
    }
    if (partition < 0) {
        http_error(rq, 400, "invalid_partition",
                   "give partition (0 to 63) or visitor (the consent's visitor id)");
        return;
    }
    if (http_query_param(rq, "id", id, sizeof(id)) <= 0) {
        http_error(rq, 400, "invalid_id", "id must be a log entry id, <ms>-<seq>");
        return;
    }
    http_pending_t *p = http_pending_new(rq, sizeof(audit_log_inclusion_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    audit_log_inclusion_t *st = http_pending_state(p);
    memset(st, 0, sizeof(*st));
    st->partition = (unsigned)partition;
    snprintf(st->id, sizeof(st->id), "%s", id);
    /* The checkpoints made after the entry was written (ids are times). */
    int rc = store_checkpoint_page(rq->worker->redis, rq->site, id, AUDIT_LOG_INCLUSION_CHECKPOINTS,
                                   audit_log_on_covering, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        if (rc == REDIS_E_ARGS)
            http_error(rq, 400, "invalid_id", "id must be a log entry id, <ms>-<seq>");
        else
            http_storage_error(rq, rc, NULL);
    }
}
