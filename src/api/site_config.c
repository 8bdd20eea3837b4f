/*
 * site_config.c - drafts, versions, diff and publish of a site (site_config.h).
 *
 * Cold paths (an editor's clicks): bodies and answers are built with
 * jansson. A call that takes several Redis round trips (the publish: read the
 * version, read the published one, commit or publish, announce) keeps its
 * steps in the pending state; every string it holds is malloc'd and freed by
 * sc_done, the one way out.
 */
#include "site_config.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banner_build.h"
#include "gvl.h"
#include "site_doc.h"
#include "snapshot.h"
#include "store.h"

#define SC_WHO_MAX 64

/* ---- who --------------------------------------------------------------------
 *
 * The router has already checked the key's scope (auth.h: site:write for the
 * draft and the versions, site:publish to publish); what is left is who it
 * is, stored with a draft or a version: "owner", "operator" or "key:<name>". */
static int api_auth_site_scope(http_request_t *rq, const char *scope, char *who, size_t cap)
{
    (void)scope; /* declared in the route table (router.c), checked by http_auth */
    snprintf(who, cap, "%s", rq->key_who != NULL ? rq->key_who : "owner");
    return 1;
}

/* ---- shared ---------------------------------------------------------------- */

typedef struct sc_state {
    int step;
    char who[SC_WHO_MAX];
    uint64_t version, other; /* the version asked for; diff: the other one */
    int64_t published;       /* the published version read (-1: not read) */
    int bump;                /* publish: -1 not said (bump when needed), 0 no, 1 yes */
    uint64_t revision;       /* draft put / commit: the revision the writer read */
    char *json, *json2;      /* malloc'd documents */
    size_t len, len2;
    char message[STORE_SITE_MESSAGE_MAX + 1];
    json_t *answer; /* publish: what it answers */
} sc_state_t;

static void sc_done(http_pending_t *p)
{
    sc_state_t *st = http_pending_state(p);
    free(st->json);
    free(st->json2);
    json_decref(st->answer);
    http_pending_free(p);
}

static http_pending_t *sc_pending(http_request_t *rq, const char *who)
{
    http_pending_t *p = http_pending_new(rq, sizeof(sc_state_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return NULL;
    }
    sc_state_t *st = http_pending_state(p);
    memset(st, 0, sizeof(*st));
    st->published = -1;
    st->bump = -1;
    snprintf(st->who, sizeof(st->who), "%s", who);
    return p;
}

void site_config_send(http_request_t *rq, int status, json_t *root)
{
    char *s = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (s == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    http_header(rq, "cache-control", H2O_STRLIT("no-store"));
    http_send_copy(rq, status, "application/json", s, strlen(s));
    free(s);
}

/* An error with more members beside code and message (taken). */
static void sc_error(http_request_t *rq, int status, const char *code, const char *message,
                     json_t *more)
{
    json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message);
    if (more != NULL) json_object_update(e, more);
    json_decref(more);
    site_config_send(rq, status, json_pack("{s:o}", "error", e));
}

json_t *site_config_reply(http_request_t *rq, const char *js, size_t len, const redis_error_t *err)
{
    if (err != NULL) {
        http_storage_error(rq, 0, err);
        return NULL;
    }
    json_t *r = js != NULL ? json_loadb(js, len, 0, NULL) : NULL;
    if (!json_is_object(r)) {
        json_decref(r);
        http_error(rq, 500, "internal", "unexpected answer from the store");
        return NULL;
    }
    return r;
}

static uint64_t sc_uint(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* A path parameter or query value as a version number (1..2^53); 0 when not. */
static uint64_t sc_parse_version(const char *s, size_t len)
{
    if (len == 0 || len > 15) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v;
}

int site_config_validate(http_request_t *rq, const snapshot_t *snap, const char *source,
                         const char *id, const char *json, size_t len)
{
    char err[SITE_ERR_MAX], field[256];
    /* a "tcf" block is checked against the newest Global Vendor List the
     * node serves with, as a file is */
    const gvl_t *gvl = snap->gvl != NULL ? gvl_store_latest(snap->gvl) : NULL;
    site_set_t *set =
        site_set_load_doc(source, id, json, len, gvl, err, sizeof(err), field, sizeof(field));
    if (set != NULL) {
        /* and what the banner's build checks (a variant's texts) */
        int rc = banner_site_check(site_set_at(set, 0), err, sizeof(err));
        site_set_release(set);
        if (rc == 0) return 0;
        /* "<source>: <field>: <reason>": the field is up to the next ": " */
        const char *f = strncmp(err, source, strlen(source)) == 0 ? err + strlen(source) + 2 : err;
        const char *end = strstr(f, ": ");
        snprintf(field, sizeof(field), "%.*s", end != NULL ? (int)(end - f) : 0, f);
    }
    /* err is "<source>: [<field>: ]<reason>". */
    const char *reason = err;
    size_t sl = strlen(source), fl = strlen(field);
    if (strncmp(reason, source, sl) == 0 && strncmp(reason + sl, ": ", 2) == 0) reason += sl + 2;
    if (fl > 0 && strncmp(reason, field, fl) == 0 && strncmp(reason + fl, ": ", 2) == 0)
        reason += fl + 2;
    sc_error(rq, 422, "invalid_site", err,
             json_pack("{s:[{s:s,s:s}]}", "errors", "field", field, "reason", reason));
    return -1;
}

char *site_config_canonical(http_request_t *rq, const json_t *doc, size_t *len)
{
    char *text = json_is_object(doc) ? json_dumps(doc, JSON_COMPACT) : NULL;
    char *canon = text != NULL ? site_doc_canonical(text, strlen(text), len) : NULL;
    free(text);
    if (canon == NULL) http_error(rq, 422, "invalid_site", "the site must be a JSON object");
    return canon;
}

/* A document in an answer: the stored text as JSON (null when not). */
static json_t *sc_doc(const json_t *reply, const char *key)
{
    const json_t *s = json_object_get(reply, key);
    return json_is_string(s) ? json_loadb(json_string_value(s), json_string_length(s), 0, NULL)
                             : json_null();
}

/* ---- the draft --------------------------------------------------------------- */

static void sc_on_draft(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r != NULL) {
        uint64_t rev = sc_uint(r, "revision");
        char etag[32];
        int n = snprintf(etag, sizeof(etag), "\"%" PRIu64 "\"", rev);
        http_header(rq, "etag", etag, (size_t)n);
        site_config_send(rq, 200,
                         json_pack("{s:I,s:o,s:s,s:I,s:I}", "revision", (json_int_t)rev, "site",
                                   sc_doc(r, "json"), "who",
                                   json_is_string(json_object_get(r, "who"))
                                       ? json_string_value(json_object_get(r, "who"))
                                       : "",
                                   "at", (json_int_t)sc_uint(r, "at"), "base",
                                   (json_int_t)(sc_uint(r, "base") + sc_uint(r, "published"))));
        json_decref(r);
    }
    sc_done(p);
}

void site_config_draft_get(http_request_t *rq)
{
    char who[SC_WHO_MAX];
    if (!api_auth_site_scope(rq, "site:write", who, sizeof(who))) return;
    http_pending_t *p = sc_pending(rq, who);
    if (p == NULL) return;
    int rc = store_site_draft_get(rq->worker->redis, rq->site->id, sc_on_draft, p);
    if (rc != REDIS_OK) {
        sc_done(p);
        http_storage_error(rq, rc, NULL);
    }
}

static void sc_on_draft_put(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r != NULL) {
        uint64_t rev = sc_uint(r, "revision");
        if (json_is_true(json_object_get(r, "conflict")))
            sc_error(rq, 409, "conflict",
                     "the draft was changed since that revision: read it again",
                     json_pack("{s:I}", "revision", (json_int_t)rev));
        else
            site_config_send(rq, 200, json_pack("{s:I}", "revision", (json_int_t)rev));
        json_decref(r);
    }
    sc_done(p);
}

/* The revision a writer read: If-Match ("7" or 7) or the body's "revision";
 * -1 when neither, -2 when malformed. */
static int64_t sc_if_match(http_request_t *rq, const json_t *body_rev)
{
    const h2o_iovec_t *h = http_req_header(rq, "if-match");
    if (h != NULL) {
        const char *s = h->base;
        size_t n = h->len;
        if (n >= 2 && s[0] == '"' && s[n - 1] == '"') s++, n -= 2;
        uint64_t v = sc_parse_version(s, n);
        if (v == 0 && !(n == 1 && s[0] == '0')) return -2;
        return (int64_t)v;
    }
    if (body_rev == NULL) return -1;
    if (!json_is_integer(body_rev) || json_integer_value(body_rev) < 0) return -2;
    return json_integer_value(body_rev);
}

void site_config_draft_put(http_request_t *rq)
{
    char who[SC_WHO_MAX];
    if (!api_auth_site_scope(rq, "site:write", who, sizeof(who))) return;
    if (!http_body_is_json(rq)) {
        http_error(rq, 415, "unsupported_media_type", "send the body as application/json");
        return;
    }
    json_error_t jerr;
    json_t *body =
        json_loadb(rq->req->entity.base, rq->req->entity.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        http_error(rq, 400, "malformed_json", "the body must be a JSON object");
        return;
    }
    /* {"revision": n, "site": {...}}, or the document itself with If-Match
     * (a site document has no "site" member). */
    json_t *doc = json_object_get(body, "site");
    int64_t rev = sc_if_match(rq, doc != NULL ? json_object_get(body, "revision") : NULL);
    if (doc == NULL) doc = body;
    if (rev == -2) {
        json_decref(body);
        http_error(rq, 400, "invalid_field", "revision (or If-Match) must be an integer >= 0");
        return;
    }
    if (rev < 0) {
        json_decref(body);
        http_error(rq, 428, "revision_required",
                   "say which revision of the draft you edited: If-Match or \"revision\" (0 when "
                   "there is no draft yet)");
        return;
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(body);
    size_t len = 0;
    char *canon = text != NULL ? site_doc_canonical(text, strlen(text), &len) : NULL;
    free(text);
    if (canon == NULL) {
        http_error(rq, 422, "invalid_site", "the site must be a JSON object");
        return;
    }
    char source[SITE_ID_MAX + 48];
    snprintf(source, sizeof(source), "site %s draft %" PRId64, rq->site->id, rev + 1);
    if (site_config_validate(rq, rq->worker->snap, source, rq->site->id, canon, len) != 0) {
        free(canon);
        return;
    }
    http_pending_t *p = sc_pending(rq, who);
    if (p == NULL) {
        free(canon);
        return;
    }
    sc_state_t *st = http_pending_state(p);
    st->json = canon;
    st->len = len;
    int rc = store_site_draft_put(rq->worker->redis, rq->site->id, st->json, st->len, st->who,
                                  (uint64_t)rev, sc_on_draft_put, p);
    if (rc != REDIS_OK) {
        sc_done(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- versions ------------------------------------------------------------------ */

static void sc_on_versions(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r != NULL) {
        json_t *list = json_object_get(r, "versions");
        if (!json_is_array(list)) json_object_set_new(r, "versions", json_array()); /* cjson {} */
        site_config_send(rq, 200, r);
    }
    sc_done(p);
}

void site_config_versions_list(http_request_t *rq)
{
    char who[SC_WHO_MAX];
    if (!api_auth_site_scope(rq, "site:write", who, sizeof(who))) return;
    long limit = http_query_limit(rq, 50, STORE_SITE_VERSIONS_MAX);
    if (limit < 0) return; /* answered */
    http_pending_t *p = sc_pending(rq, who);
    if (p == NULL) return;
    int rc = store_site_versions(rq->worker->redis, rq->site->id, (size_t)limit, sc_on_versions, p);
    if (rc != REDIS_OK) {
        sc_done(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* A version as answered: its members, "site" the document. */
static json_t *sc_version_answer(json_t *r)
{
    json_t *out = json_object();
    json_object_set(out, "version", json_object_get(r, "version"));
    json_object_set(out, "who", json_object_get(r, "who"));
    json_object_set(out, "at", json_object_get(r, "at"));
    json_object_set(out, "message", json_object_get(r, "message"));
    json_object_set(out, "parent", json_object_get(r, "parent"));
    json_object_set_new(out, "published",
                        json_boolean(sc_uint(r, "published") == sc_uint(r, "version")));
    json_object_set_new(out, "site", sc_doc(r, "json"));
    return out;
}

static void sc_on_version(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r != NULL) {
        if (json_is_true(json_object_get(r, "missing")))
            http_error(rq, 404, "no_version", "this site has no such version");
        else
            site_config_send(rq, 200, sc_version_answer(r));
        json_decref(r);
    }
    sc_done(p);
}

/* The {version} path parameter: a number, or "published". 0 and answered
 * 400 (-1) when neither. */
static int sc_version_param(http_request_t *rq, uint64_t *out)
{
    h2o_iovec_t v = rq->params[0];
    *out = 0;
    if (h2o_memis(v.base, v.len, H2O_STRLIT("published"))) return 0;
    if ((*out = sc_parse_version(v.base, v.len)) == 0) {
        http_error(rq, 400, "invalid_version", "a version is a number from 1, or \"published\"");
        return -1;
    }
    return 0;
}

void site_config_version_get(http_request_t *rq)
{
    char who[SC_WHO_MAX];
    uint64_t v;
    if (!api_auth_site_scope(rq, "site:write", who, sizeof(who)) || sc_version_param(rq, &v) != 0)
        return;
    http_pending_t *p = sc_pending(rq, who);
    if (p == NULL) return;
    int rc = store_site_version_get(rq->worker->redis, rq->site->id, v, sc_on_version, p);
    if (rc != REDIS_OK) {
        sc_done(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* POST versions: the draft (at the revision given, if any) becomes a version. */
static void sc_on_committed(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r != NULL) {
        site_config_send(rq, json_is_true(json_object_get(r, "created")) ? 201 : 200,
                         json_pack("{s:I,s:O,s:I}", "version", (json_int_t)sc_uint(r, "version"),
                                   "created", json_object_get(r, "created"), "published",
                                   (json_int_t)sc_uint(r, "published")));
        json_decref(r);
    }
    sc_done(p);
}

static void sc_on_commit_draft(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    sc_state_t *st = http_pending_state(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r == NULL) {
        sc_done(p);
        return;
    }
    uint64_t rev = sc_uint(r, "revision");
    const json_t *doc = json_object_get(r, "json");
    if (rev == 0 || !json_is_string(doc)) {
        http_error(rq, 404, "no_draft", "this site has no draft: PUT one first");
    } else if (st->revision != 0 && st->revision != rev) {
        sc_error(rq, 409, "conflict", "the draft was changed since that revision: read it again",
                 json_pack("{s:I}", "revision", (json_int_t)rev));
    } else {
        char source[SITE_ID_MAX + 48];
        snprintf(source, sizeof(source), "site %s draft %" PRIu64, rq->site->id, rev);
        if (site_config_validate(rq, http_pending_snapshot(p), source, rq->site->id,
                                 json_string_value(doc), json_string_length(doc)) == 0 &&
            (st->json = strdup(json_string_value(doc))) != NULL) {
            int rc =
                store_site_commit(rq->worker->redis, rq->site->id, st->json, strlen(st->json),
                                  st->who, st->message, 0, STORE_SITE_KEEP, -1, sc_on_committed, p);
            if (rc == REDIS_OK) {
                json_decref(r);
                return;
            }
            http_storage_error(rq, rc, NULL);
        } else if (st->json == NULL && !rq->answered) {
            http_error(rq, 500, "internal", "out of memory");
        }
    }
    json_decref(r);
    sc_done(p);
}

void site_config_versions_post(http_request_t *rq)
{
    char who[SC_WHO_MAX];
    if (!api_auth_site_scope(rq, "site:write", who, sizeof(who))) return;
    json_t *body = NULL;
    if (rq->req->entity.len > 0) {
        body = json_loadb(rq->req->entity.base, rq->req->entity.len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(body)) {
            json_decref(body);
            http_error(rq, 400, "malformed_json", "the body must be a JSON object");
            return;
        }
    }
    json_t *msg = json_object_get(body, "message"), *rev = json_object_get(body, "revision");
    if ((msg != NULL &&
         (!json_is_string(msg) || json_string_length(msg) > STORE_SITE_MESSAGE_MAX)) ||
        (rev != NULL && (!json_is_integer(rev) || json_integer_value(rev) < 1))) {
        json_decref(body);
        http_error(rq, 400, "invalid_field",
                   "message: a string of at most 1024 bytes; revision: the draft's, from 1");
        return;
    }
    http_pending_t *p = sc_pending(rq, who);
    if (p == NULL) {
        json_decref(body);
        return;
    }
    sc_state_t *st = http_pending_state(p);
    snprintf(st->message, sizeof(st->message), "%s", msg != NULL ? json_string_value(msg) : "");
    st->revision = rev != NULL ? (uint64_t)json_integer_value(rev) : 0;
    json_decref(body);
    int rc = store_site_draft_get(rq->worker->redis, rq->site->id, sc_on_commit_draft, p);
    if (rc != REDIS_OK) {
        sc_done(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- diff ---------------------------------------------------------------------- */

static void sc_on_diff_part(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    sc_state_t *st = http_pending_state(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r == NULL) {
        sc_done(p);
        return;
    }
    const json_t *doc = json_object_get(r, "json");
    if (!json_is_string(doc)) {
        json_decref(r);
        http_error(rq, 404, "no_version", "this site has no such version");
        sc_done(p);
        return;
    }
    char **slot = st->step == 0 ? &st->json : &st->json2;
    *slot = strdup(json_string_value(doc));
    json_decref(r);
    if (*slot == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        sc_done(p);
        return;
    }
    if (st->step++ == 0) {
        int rc =
            store_site_version_get(rq->worker->redis, rq->site->id, st->other, sc_on_diff_part, p);
        if (rc != REDIS_OK) {
            http_storage_error(rq, rc, NULL);
            sc_done(p);
        }
        return;
    }
    char *diff = site_doc_diff(st->json, strlen(st->json), st->json2, strlen(st->json2));
    json_t *d = diff != NULL ? json_loads(diff, 0, NULL) : NULL;
    free(diff);
    if (d == NULL) {
        http_error(rq, 500, "internal", "out of memory");
    } else {
        json_object_set_new(d, "from", json_integer((json_int_t)st->version));
        json_object_set_new(d, "to", json_integer((json_int_t)st->other));
        site_config_send(rq, 200, d);
    }
    sc_done(p);
}

void site_config_diff(http_request_t *rq)
{
    char who[SC_WHO_MAX], from[24], to[24];
    if (!api_auth_site_scope(rq, "site:write", who, sizeof(who))) return;
    ssize_t nf = http_query_param(rq, "from", from, sizeof(from));
    ssize_t nt = http_query_param(rq, "to", to, sizeof(to));
    uint64_t a = nf > 0 ? sc_parse_version(from, (size_t)nf) : 0;
    uint64_t b = nt > 0 ? sc_parse_version(to, (size_t)nt) : 0;
    if (a == 0 || b == 0) {
        http_error(rq, 400, "invalid_version", "from and to: version numbers, from 1");
        return;
    }
    http_pending_t *p = sc_pending(rq, who);
    if (p == NULL) return;
    sc_state_t *st = http_pending_state(p);
    st->version = a;
    st->other = b;
    int rc = store_site_version_get(rq->worker->redis, rq->site->id, a, sc_on_diff_part, p);
    if (rc != REDIS_OK) {
        sc_done(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- publish ---------------------------------------------------------------------
 *
 * Steps: 0 read the version; 1 read the published one; 2 publish (or commit
 * the bumped copy and publish it); 3 announce. */

static void sc_publish_step(http_pending_t *p, const char *js, size_t len,
                            const redis_error_t *err);

static void sc_on_publish(void *data, const char *js, size_t len, const redis_error_t *err)
{
    sc_publish_step(data, js, len, err);
}

static void sc_publish_send(http_pending_t *p, http_request_t *rq, int rc)
{
    if (rc != REDIS_OK) {
        http_storage_error(rq, rc, NULL);
        sc_done(p);
    }
}

static void sc_publish_step(http_pending_t *p, const char *js, size_t len, const redis_error_t *err)
{
    http_request_t *rq = http_pending_request(p);
    sc_state_t *st = http_pending_state(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r == NULL) {
        sc_done(p);
        return;
    }
    redis_t *redis = rq->worker->redis;
    const char *id = rq->site->id;
    int step = st->step++;
    if (step == 0 || step == 1) {
        const json_t *doc = json_object_get(r, "json");
        if (step == 0 && !json_is_string(doc)) {
            http_error(rq, 404, "no_version", "this site has no such version");
            json_decref(r);
            sc_done(p);
            return;
        }
        if (step == 0) {
            st->json = strdup(json_string_value(doc));
            st->len = st->json != NULL ? strlen(st->json) : 0;
            st->published = (int64_t)sc_uint(r, "published");
            json_decref(r);
            if (st->json == NULL) {
                http_error(rq, 500, "internal", "out of memory");
                sc_done(p);
            } else if (st->published == 0 || (uint64_t)st->published == st->version) {
                st->step = 2; /* nothing to compare with */
                sc_publish_send(p, rq,
                                store_site_publish(redis, id, st->version, st->who, st->published,
                                                   sc_on_publish, p));
            } else {
                sc_publish_send(
                    p, rq,
                    store_site_version_get(redis, id, (uint64_t)st->published, sc_on_publish, p));
            }
            return;
        }
        /* step 1: the published document; the bump rule. */
        const char *pub = json_is_string(doc) ? json_string_value(doc) : "{}";
        size_t pub_len = strlen(pub);
        int changed = site_doc_policy_changed(pub, pub_len, st->json, st->len) == 1;
        json_t *pa = json_loads(pub, 0, NULL), *pb = json_loads(st->json, 0, NULL);
        int same_pv = json_equal(json_object_get(pa, "policy_version"),
                                 json_object_get(pb, "policy_version"));
        json_decref(pa);
        json_decref(pb);
        json_decref(r);
        st->answer = json_pack("{s:b}", "policy_changed", changed);
        if (same_pv && ((changed && st->bump != 0) || st->bump == 1)) {
            size_t blen;
            char *bumped = site_doc_bump_policy(st->json, st->len, st->version, &blen);
            if (bumped == NULL) {
                http_error(rq, 500, "internal", "out of memory");
                sc_done(p);
                return;
            }
            free(st->json2);
            st->json2 = bumped;
            st->len2 = blen;
            json_object_set_new(st->answer, "policy_bumped", json_true());
            snprintf(st->message, sizeof(st->message),
                     "version %" PRIu64 " published with policy_version bumped", st->version);
            sc_publish_send(p, rq,
                            store_site_commit(redis, id, st->json2, st->len2, st->who, st->message,
                                              st->version, STORE_SITE_PUBLISH, st->published,
                                              sc_on_publish, p));
        } else {
            json_object_set_new(st->answer, "policy_bumped", json_false());
            sc_publish_send(p, rq,
                            store_site_publish(redis, id, st->version, st->who, st->published,
                                               sc_on_publish, p));
        }
        return;
    }
    if (step == 2) {
        if (json_is_true(json_object_get(r, "conflict"))) {
            sc_error(rq, 409, "conflict",
                     "another publish came first: read the published version again",
                     json_pack("{s:I}", "published", (json_int_t)sc_uint(r, "published")));
            json_decref(r);
            sc_done(p);
            return;
        }
        if (json_is_true(json_object_get(r, "missing"))) {
            http_error(rq, 404, "no_version", "this site has no such version");
            json_decref(r);
            sc_done(p);
            return;
        }
        uint64_t published = sc_uint(r, "published");
        json_decref(r);
        if (st->answer == NULL)
            st->answer = json_pack("{s:b,s:b}", "policy_changed", 0, "policy_bumped", 0);
        json_object_set_new(st->answer, "version", json_integer((json_int_t)st->version));
        json_object_set_new(st->answer, "published", json_integer((json_int_t)published));
        json_object_set_new(st->answer, "previous", json_integer((json_int_t)st->published));
        st->other = published;
        sc_publish_send(p, rq, store_sites_announce(redis, id, published, sc_on_publish, p));
        return;
    }
    /* step 3: announced. */
    json_object_set(st->answer, "heard", json_object_get(r, "heard"));
    json_decref(r);
    site_config_send(rq, 200, json_incref(st->answer));
    sc_done(p);
}

void site_config_publish(http_request_t *rq)
{
    char who[SC_WHO_MAX];
    uint64_t v;
    if (!api_auth_site_scope(rq, "site:publish", who, sizeof(who)) || sc_version_param(rq, &v) != 0)
        return;
    if (v == 0) {
        http_error(rq, 400, "invalid_version", "publish a version by its number");
        return;
    }
    int bump = -1;
    if (rq->req->entity.len > 0) {
        json_t *body =
            json_loadb(rq->req->entity.base, rq->req->entity.len, JSON_REJECT_DUPLICATES, NULL);
        json_t *b = json_object_get(body, "bump_policy");
        if (!json_is_object(body) || (b != NULL && !json_is_boolean(b))) {
            json_decref(body);
            http_error(rq, 400, "invalid_field",
                       "the body is optional: {\"bump_policy\": true|false}");
            return;
        }
        if (b != NULL) bump = json_is_true(b);
        json_decref(body);
    }
    http_pending_t *p = sc_pending(rq, who);
    if (p == NULL) return;
    sc_state_t *st = http_pending_state(p);
    st->version = v;
    st->bump = bump;
    int rc = store_site_version_get(rq->worker->redis, rq->site->id, v, sc_on_publish, p);
    if (rc != REDIS_OK) {
        sc_done(p);
        http_storage_error(rq, rc, NULL);
    }
}
