/*
 * site_preview.c - check and preview a site document (site_preview.h).
 *
 * Cold paths (an editor typing): jansson for the bodies. The preview's
 * banner is built on the worker's loop by banner_build_preview (identity
 * bytes only: no brotli, no gzip), well under a millisecond for a usual
 * site; the request's pending state holds nothing but the request.
 */
#include "site_preview.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banner_build.h"
#include "base64url.h"
#include "random.h"
#include "site_config.h"
#include "snapshot.h"
#include "store.h"

#define SP_PREVIEW_BYTES 18 /* random bytes of an id: 144 bits, 24 base64url characters */
_Static_assert(SP_PREVIEW_BYTES * 4 / 3 == STORE_SITE_PREVIEW_ID_LEN, "the id's length");

/* The body as a canonical document (the document itself, or {"site": {...}}
 * as PUT draft takes it), validated as a draft; NULL after answering. */
static char *sp_body_document(http_request_t *rq, size_t *len)
{
    if (!http_body_is_json(rq)) {
        http_error(rq, 415, "unsupported_media_type", "send the body as application/json");
        return NULL;
    }
    json_t *body =
        json_loadb(rq->req->entity.base, rq->req->entity.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        http_error(rq, 400, "malformed_json", "the body must be a JSON object");
        return NULL;
    }
    json_t *doc = json_object_get(body, "site");
    char *canon = site_config_canonical(rq, doc != NULL ? doc : body, len);
    json_decref(body);
    if (canon == NULL) return NULL;
    char source[SITE_ID_MAX + 32];
    snprintf(source, sizeof(source), "site %s draft", rq->site->id);
    if (site_config_validate(rq, rq->worker->snap, source, rq->site->id, canon, *len) != 0) {
        free(canon);
        return NULL;
    }
    return canon;
}

void site_preview_check(http_request_t *rq)
{
    size_t len;
    char *canon = sp_body_document(rq, &len);
    if (canon == NULL) return;
    free(canon);
    site_config_send(rq, 200, json_pack("{s:b}", "ok", 1));
}

/* ---- POST previews ---------------------------------------------------------- */

typedef struct sp_state {
    char id[STORE_SITE_PREVIEW_ID_LEN + 1];
    char *json;
    char lang[16], variant[SITE_VARIANT_ID_MAX + 1];
} sp_state_t;

static void sp_done(http_pending_t *p)
{
    sp_state_t *st = http_pending_state(p);
    free(st->json);
    http_pending_free(p);
}

static void sp_on_stored(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    sp_state_t *st = http_pending_state(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r != NULL) {
        if (!json_is_true(json_object_get(r, "stored"))) {
            http_error(rq, 500, "internal", "the preview could not be stored");
        } else {
            char url[SITE_ID_MAX + STORE_SITE_PREVIEW_ID_LEN + 64];
            snprintf(url, sizeof(url), "/v1/sites/%s/previews/%s/banner.js", rq->site->id, st->id);
            site_config_send(rq, 201,
                             json_pack("{s:s,s:i,s:s}", "id", st->id, "expires_in",
                                       STORE_SITE_PREVIEW_MS / 1000, "banner_url", url));
        }
        json_decref(r);
    }
    sp_done(p);
}

void site_preview_post(http_request_t *rq)
{
    size_t len;
    char *canon = sp_body_document(rq, &len);
    if (canon == NULL) return;
    http_pending_t *p = http_pending_new(rq, sizeof(sp_state_t));
    if (p == NULL) {
        free(canon);
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    sp_state_t *st = http_pending_state(p);
    memset(st, 0, sizeof(*st));
    st->json = canon;
    unsigned char raw[SP_PREVIEW_BYTES];
    random_bytes(raw, sizeof(raw));
    st->id[base64url_encode(st->id, raw, sizeof(raw))] = '\0';
    int rc = store_site_preview_put(rq->worker->redis, rq->site->id, st->id, st->json, len,
                                    sp_on_stored, p);
    if (rc != REDIS_OK) {
        sp_done(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- GET previews/{id}/banner.js ----------------------------------------------- */

/* Keep only lang's member of obj (an object of texts per language). */
static void sp_only_lang(json_t *obj, const char *lang)
{
    if (!json_is_object(obj)) return;
    json_t *keep = json_incref(json_object_get(obj, lang));
    json_object_clear(obj);
    if (keep != NULL) json_object_set_new(obj, lang, keep);
}

/* The document reduced to one language (lang when declared, else the
 * first) and to one variant (when variant names a declared one; else none):
 * the banner shows exactly those texts, whatever the browser's language. */
static void sp_reduce(json_t *doc, const char *lang, const char *variant)
{
    json_t *langs = json_object_get(doc, "languages");
    const char *use = NULL;
    for (size_t i = 0; i < json_array_size(langs); i++) {
        const char *l = json_string_value(json_array_get(langs, i));
        if (l != NULL && (use == NULL || strcmp(l, lang) == 0)) use = l;
        if (l != NULL && strcmp(l, lang) == 0) break;
    }
    if (use == NULL) return; /* validated: never */
    json_t *one = json_string(use);
    json_array_clear(langs);
    json_array_append_new(langs, one);
    use = json_string_value(one);
    json_t *purposes = json_object_get(doc, "purposes");
    for (size_t i = 0; i < json_array_size(purposes); i++)
        sp_only_lang(json_object_get(json_array_get(purposes, i), "texts"), use);
    json_t *variants = json_object_get(doc, "variants"), *chosen = NULL;
    for (size_t i = 0; i < json_array_size(variants) && chosen == NULL; i++) {
        json_t *v = json_array_get(variants, i);
        const char *id = json_string_value(json_object_get(v, "id"));
        if (id != NULL && variant[0] != '\0' && strcmp(id, variant) == 0) chosen = json_incref(v);
    }
    if (chosen != NULL) {
        sp_only_lang(json_object_get(chosen, "texts"), use);
        json_object_set_new(doc, "variants", json_pack("[o]", chosen));
    } else {
        json_object_del(doc, "variants");
    }
}

static void sp_on_preview(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    sp_state_t *st = http_pending_state(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r == NULL) {
        sp_done(p);
        return;
    }
    const json_t *stored = json_object_get(r, "json");
    json_t *doc = json_is_string(stored)
                      ? json_loadb(json_string_value(stored), json_string_length(stored), 0, NULL)
                      : NULL;
    json_decref(r);
    if (!json_is_object(doc)) {
        json_decref(doc);
        http_error(rq, 404, "unknown_preview", "no such preview: it expired, or never was");
        sp_done(p);
        return;
    }
    sp_reduce(doc, st->lang, st->variant);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    char source[SITE_ID_MAX + 32], errbuf[SITE_ERR_MAX];
    snprintf(source, sizeof(source), "site %s preview", rq->site->id);
    const snapshot_t *snap = http_pending_snapshot(p);
    site_set_t *set =
        text != NULL ? site_set_load_doc(source, rq->site->id, text, strlen(text),
                                         snap->gvl != NULL ? gvl_store_latest(snap->gvl) : NULL,
                                         errbuf, sizeof(errbuf), NULL, 0)
                     : NULL;
    free(text);
    size_t blen = 0;
    char *body = set != NULL ? banner_build_preview(site_set_at(set, 0), snap->gvl, &blen, errbuf,
                                                    sizeof(errbuf))
                             : NULL;
    site_set_release(set);
    if (body == NULL) {
        /* validated when stored; a node whose GVL differs may still refuse */
        http_error(rq, 422, "invalid_site", errbuf);
    } else {
        http_header(rq, "cache-control", H2O_STRLIT("no-store"));
        http_send_copy(rq, 200, "application/javascript; charset=utf-8", body, blen);
        free(body);
    }
    sp_done(p);
}

void site_preview_banner(http_request_t *rq)
{
    h2o_iovec_t id = rq->params[0];
    if (id.len != STORE_SITE_PREVIEW_ID_LEN) {
        http_error(rq, 404, "unknown_preview", "no such preview: it expired, or never was");
        return;
    }
    http_pending_t *p = http_pending_new(rq, sizeof(sp_state_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    sp_state_t *st = http_pending_state(p);
    memset(st, 0, sizeof(*st));
    memcpy(st->id, id.base, id.len);
    if (http_query_param(rq, "lang", st->lang, sizeof(st->lang)) < 0) st->lang[0] = '\0';
    if (http_query_param(rq, "variant", st->variant, sizeof(st->variant)) < 0)
        st->variant[0] = '\0';
    int rc = store_site_preview_get(rq->worker->redis, rq->site->id, st->id, sp_on_preview, p);
    if (rc == REDIS_E_ARGS) {
        sp_done(p);
        http_error(rq, 404, "unknown_preview", "no such preview: it expired, or never was");
    } else if (rc != REDIS_OK) {
        sp_done(p);
        http_storage_error(rq, rc, NULL);
    }
}
