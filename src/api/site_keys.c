/*
 * site_keys.c - POST, GET /v1/sites/{site}/keys and DELETE .../keys/{name}
 * (site_keys.h).
 */
#include "site_keys.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "store.h"

int site_keys_body_check(const char *body, size_t len, char *name, unsigned *scopes,
                         const char **code, char *message, size_t cap)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    *code = "invalid_field";
    if (root == NULL || !json_is_object(root)) {
        *code = "malformed_json";
        snprintf(message, cap, "%s", root == NULL ? jerr.text : "the body must be a JSON object");
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "scopes") != 0) {
            snprintf(message, cap, "unknown field: %.64s", key);
            goto done;
        }
    }
    v = json_object_get(root, "name");
    if (!json_is_string(v) || !apikey_name_ok(json_string_value(v), json_string_length(v))) {
        snprintf(message, cap,
                 "name is required: 1 to %d of a-z, 0-9, '_', '.', '-', starting with a letter "
                 "or digit",
                 APIKEY_NAME_MAX);
        goto done;
    }
    memcpy(name, json_string_value(v), json_string_length(v) + 1);
    v = json_object_get(root, "scopes");
    *scopes = 0;
    size_t i;
    json_t *s;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        snprintf(message, cap, "scopes is required: a non-empty array of scope names");
        goto done;
    }
    json_array_foreach(v, i, s)
    {
        unsigned bit =
            json_is_string(s) ? apikey_scope_parse(json_string_value(s), json_string_length(s)) : 0;
        if (bit == 0 || (*scopes & bit)) {
            snprintf(message, cap,
                     "scopes[%zu]: %s: stats:read, rights, consent:server, scans:write, "
                     "site:write, site:publish or keys:admin",
                     i, bit == 0 ? "not a scope" : "given twice");
            goto done;
        }
        *scopes |= bit;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

/* ---- POST ---------------------------------------------------------------- */

typedef struct site_keys_post_state {
    char secret[APIKEY_SECRET_LEN + 1];
    char *record; /* malloc'd */
} site_keys_post_state_t;

static void site_keys_on_added(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    site_keys_post_state_t *st = http_pending_state(p);
    if (rq == NULL) {
        /* the client left: the key exists, nobody saw it; it can be deleted */
    } else if (err != NULL) {
        http_storage_error(rq, 0, err);
    } else if (js != NULL && len == 5 && memcmp(js, "added", 5) == 0) {
        /* The record with the secret, once: {...,"key":"cd_..."} */
        size_t rlen = strlen(st->record);
        size_t cap = rlen + sizeof(st->secret) + 16;
        char *out = h2o_mem_alloc_pool(&rq->req->pool, cap);
        int n = snprintf(out, cap, "%.*s,\"key\":\"%s\"}", (int)(rlen - 1), st->record, st->secret);
        http_send_json_static(rq, 201, out, (size_t)n);
    } else if (js != NULL && len == 6 && memcmp(js, "exists", 6) == 0) {
        http_error(rq, 409, "key_exists", "the site has a key of this name: delete it first");
    } else if (js != NULL && len == 4 && memcmp(js, "full", 4) == 0) {
        char message[96];
        snprintf(message, sizeof(message), "the site has %d keys, the most it may have",
                 STORE_SITE_KEYS_MAX);
        http_error(rq, 409, "too_many_keys", message);
    } else {
        http_error(rq, 500, "internal", "the key was not stored");
    }
    sodium_memzero(st->secret, sizeof(st->secret));
    free(st->record);
    http_pending_free(p);
}

void site_keys_post(http_request_t *rq)
{
    if (!http_body_is_json(rq)) {
        http_error(rq, 415, "unsupported_media_type", "send the body as application/json");
        return;
    }
    char name[APIKEY_NAME_MAX + 1], message[192];
    unsigned scopes;
    const char *code;
    if (site_keys_body_check(rq->req->entity.base, rq->req->entity.len, name, &scopes, &code,
                             message, sizeof(message)) != 0) {
        http_error(rq, 400, code, message);
        return;
    }
    if (!rq->operator&&(scopes & ~rq->scopes) != 0) {
        unsigned missing = scopes & ~rq->scopes;
        snprintf(message, sizeof(message),
                 "a key may grant only scopes it holds: this one lacks %s",
                 apikey_scope_name(missing & -missing));
        http_error(rq, 403, "insufficient_scope", message);
        return;
    }
    http_pending_t *p = http_pending_new(rq, sizeof(site_keys_post_state_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    site_keys_post_state_t *st = http_pending_state(p);
    st->record =
        apikey_record_new(name, scopes, clock_real_ms(), rq->key_who ? rq->key_who : "owner");
    if (st->record == NULL) {
        http_pending_free(p);
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    apikey_secret_new(st->secret);
    uint8_t sha[32];
    char hex[65];
    apikey_hash(st->secret, strlen(st->secret), sha, hex);
    int rc = store_site_key_add(rq->worker->redis, rq->site, hex, name, st->record,
                                site_keys_on_added, p);
    if (rc != REDIS_OK) {
        sodium_memzero(st->secret, sizeof(st->secret));
        free(st->record);
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- GET ----------------------------------------------------------------- */

static void site_keys_on_list(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    if (rq != NULL && err != NULL) {
        http_storage_error(rq, 0, err);
    } else if (rq != NULL) {
        if (js == NULL) js = "[]", len = 2;
        size_t cap = len + 16;
        char *out = h2o_mem_alloc_pool(&rq->req->pool, cap);
        int n = snprintf(out, cap, "{\"keys\":%.*s}", (int)len, js);
        http_send_json_static(rq, 200, out, (size_t)n);
    }
    http_pending_free(p);
}

void site_keys_list(http_request_t *rq)
{
    http_pending_t *p = http_pending_new(rq, 1);
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    int rc = store_site_key_list(rq->worker->redis, rq->site, site_keys_on_list, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- DELETE -------------------------------------------------------------- */

static void site_keys_on_deleted(void *data, int found, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    if (found) http_auth_forget(); /* this node's workers read it again */
    if (rq != NULL && err != NULL) {
        http_storage_error(rq, 0, err);
    } else if (rq != NULL && !found) {
        http_error(rq, 404, "key_not_found", "the site has no key of this name");
    } else if (rq != NULL) {
        http_send_static(rq, 204, NULL, NULL, 0);
    }
    http_pending_free(p);
}

void site_keys_delete(http_request_t *rq)
{
    char name[APIKEY_NAME_MAX + 1];
    const h2o_iovec_t *n = &rq->params[0];
    if (!apikey_name_ok(n->base, n->len)) {
        http_error(rq, 404, "key_not_found", "the site has no key of this name");
        return;
    }
    memcpy(name, n->base, n->len);
    name[n->len] = '\0';
    http_pending_t *p = http_pending_new(rq, 1);
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    int rc = store_site_key_delete(rq->worker->redis, rq->site, name, site_keys_on_deleted, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}
