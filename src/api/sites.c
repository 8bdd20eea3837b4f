/*
 * sites.c - list, create and delete sites (sites.h).
 *
 * Cold paths (an operator's clicks): jansson for bodies and answers. The
 * list asks Redis for the registry, then each site's draft (one FCALL_RO a
 * site, sent together: pipelined); its pending state holds the entries and
 * counts the replies still awaited, and only the last one frees it.
 */
#include "sites.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "clock.h"
#include "random.h"
#include "site_config.h"
#include "snapshot.h"
#include "store.h"

/* ---- GET /v1/sites ------------------------------------------------------------ */

typedef struct list_state list_state_t;
typedef struct list_call {
    http_pending_t *p;
    size_t index;
} list_call_t;
struct list_state {
    json_t *sites; /* the answer's array, in id order */
    list_call_t *calls;
    size_t waiting;               /* replies still awaited */
    size_t limit;                 /* the page's size */
    size_t total;                 /* the ids that match q, on every page */
    char q[SITE_ID_MAX + 1];      /* ids holding this ("": all) */
    char cursor[SITE_ID_MAX + 1]; /* the ids after this one ("": from the first) */
    char next[SITE_ID_MAX + 1];   /* the next page's cursor ("": no next page) */
};

static int list_id_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void list_done(http_pending_t *p)
{
    list_state_t *st = http_pending_state(p);
    http_request_t *rq = http_pending_request(p);
    if (rq != NULL && !rq->answered)
        site_config_send(rq, 200,
                         json_pack("{s:O,s:I,s:o}", "sites", st->sites, "total",
                                   (json_int_t)st->total, "next_cursor",
                                   st->next[0] ? json_string(st->next) : json_null()));
    json_decref(st->sites);
    free(st->calls);
    http_pending_free(p);
}

static void list_on_draft(void *data, const char *js, size_t len, const redis_error_t *err)
{
    list_call_t *c = data;
    http_pending_t *p = c->p;
    list_state_t *st = http_pending_state(p);
    http_request_t *rq = http_pending_request(p);
    if (rq != NULL && !rq->answered) {
        json_t *r = site_config_reply(rq, js, len, err);
        json_t *rev = json_object_get(r, "revision");
        if (json_is_integer(rev))
            json_object_set(json_array_get(st->sites, c->index), "draft_revision", rev);
        json_decref(r);
    }
    if (--st->waiting == 0) list_done(p);
}

static void list_on_registry(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    list_state_t *st = http_pending_state(p);
    http_request_t *rq = http_pending_request(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    json_t *registry = json_object_get(r, "sites");
    if (!json_is_object(registry)) {
        json_decref(r);
        list_done(p);
        return;
    }
    /* The ids: this node's sites and the registry's, sorted, each once. */
    const site_set_t *set = http_pending_snapshot(p)->sites;
    size_t n_set = site_set_count(set), cap = n_set + json_object_size(registry), n = 0;
    const char **ids = malloc((cap ? cap : 1) * sizeof(*ids));
    st->sites = json_array();
    if (ids == NULL || st->sites == NULL) {
        free(ids);
        json_decref(r);
        http_error(rq, 500, "internal", "out of memory");
        list_done(p);
        return;
    }
    for (size_t i = 0; i < n_set; i++)
        ids[n++] = site_set_at(set, i)->id;
    const char *key;
    json_t *v;
    json_object_foreach(registry, key, v)
    {
        if (site_find(set, key, strlen(key)) == NULL && site_id_ok(key, strlen(key)))
            ids[n++] = key;
    }
    qsort(ids, n, sizeof(*ids), list_id_cmp);
    /* The page: the ids holding q, after the cursor, at most limit of them
     * (moved to the front of ids); total counts every page's. */
    size_t page = 0;
    for (size_t i = 0; i < n; i++) {
        if (st->q[0] && strstr(ids[i], st->q) == NULL) continue;
        st->total++;
        if (strcmp(ids[i], st->cursor) <= 0) continue;
        if (page == st->limit) {
            snprintf(st->next, sizeof(st->next), "%s", ids[page - 1]);
            continue;
        }
        ids[page++] = ids[i];
    }
    n = page;
    for (size_t i = 0; i < n; i++) {
        const site_t *s = site_find(set, ids[i], strlen(ids[i]));
        json_t *mark = json_object_get(registry, ids[i]);
        json_int_t m = json_is_integer(mark) ? json_integer_value(mark) : 0;
        unsigned from = (s != NULL ? s->from : 0) | (mark != NULL ? SITE_FROM_REDIS : 0);
        const char *source = from == (SITE_FROM_FILE | SITE_FROM_REDIS) ? "both"
                             : from == SITE_FROM_FILE                   ? "file"
                                                                        : "redis";
        json_array_append_new(st->sites,
                              json_pack("{s:s,s:o,s:i,s:s,s:b}", "id", ids[i], "published",
                                        m > 0 ? json_integer(m) : json_null(), "draft_revision", 0,
                                        "source", source, "served", s != NULL && s->served));
    }
    /* Each site's draft revision (not its document): sent together, answered
     * in any order. */
    st->calls = calloc(n ? n : 1, sizeof(*st->calls));
    st->waiting = 1; /* this function's own, dropped below */
    for (size_t i = 0; i < n && st->calls != NULL && !rq->answered; i++) {
        st->calls[i] = (list_call_t){p, i};
        st->waiting++;
        int rc = store_site_draft_revision(rq->worker->redis, ids[i], list_on_draft, &st->calls[i]);
        if (rc != REDIS_OK) {
            st->waiting--;
            http_storage_error(rq, rc, NULL);
        }
    }
    if (st->calls == NULL) http_error(rq, 500, "internal", "out of memory");
    free(ids);
    json_decref(r); /* after the ids, which point into it */
    if (--st->waiting == 0) list_done(p);
}

/* Query parameter name, which must be part of a site id, into out ("" when
 * absent or empty): 0, or -1 after answering 400 code. */
static int list_id_param(http_request_t *rq, const char *name, const char *code,
                         const char *message, char *out)
{
    size_t cap = rq->req->path.len + 1; /* room for any value: absent is -1 */
    char *v = h2o_mem_alloc_pool(&rq->req->pool, cap);
    ssize_t len = http_query_param(rq, name, v, cap);
    out[0] = '\0';
    if (len <= 0) return 0;
    if ((size_t)len > SITE_ID_MAX ||
        strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") != (size_t)len) {
        http_error(rq, 400, code, message);
        return -1;
    }
    memcpy(out, v, (size_t)len + 1);
    return 0;
}

void sites_list(http_request_t *rq)
{
    char q[SITE_ID_MAX + 1], cursor[SITE_ID_MAX + 1];
    long limit = http_query_limit(rq, SITES_LIST_DEFAULT_LIMIT, SITES_LIST_MAX_LIMIT);
    if (limit < 0 ||
        list_id_param(rq, "q", "invalid_q", "q must be part of a site id: a-z, 0-9, _ and -", q) ||
        list_id_param(rq, "cursor", "invalid_cursor", "cursor must be one given by next_cursor",
                      cursor))
        return; /* answered */
    http_pending_t *p = http_pending_new(rq, sizeof(list_state_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    list_state_t *st = http_pending_state(p);
    memset(st, 0, sizeof(*st));
    st->limit = (size_t)limit;
    memcpy(st->q, q, sizeof(q));
    memcpy(st->cursor, cursor, sizeof(cursor));
    int rc = store_sites_list(rq->worker->redis, list_on_registry, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- create and delete: the calls, then the wait ---------------------------------- */

typedef struct change_state {
    http_pending_t *p;
    char id[SITE_ID_MAX + 1];
    char *json; /* create: the canonical document */
    size_t len;
    int deleting;
    int64_t mark;
    json_t *answer;
    uint64_t deadline_ms;
    h2o_timeout_entry_t wait;
} change_state_t;

static void change_done(http_pending_t *p)
{
    change_state_t *st = http_pending_state(p);
    free(st->json);
    json_decref(st->answer);
    http_pending_free(p);
}

static change_state_t *change_new(http_request_t *rq, const char *id)
{
    http_pending_t *p = http_pending_new(rq, sizeof(change_state_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return NULL;
    }
    change_state_t *st = http_pending_state(p);
    memset(st, 0, sizeof(*st));
    st->p = p;
    snprintf(st->id, sizeof(st->id), "%s", id);
    return st;
}

static uint64_t change_now_ms(void)
{
    return clock_mono_ns() / 1000000;
}

/* Does this node serve the change yet: this worker's snapshot has it, and
 * every worker serves that snapshot (a next request may go to another)? */
static int change_seen(http_request_t *rq, const change_state_t *st)
{
    snapshot_t *snap = rq->worker->snap;
    const site_t *s = site_find(snap->sites, st->id, strlen(st->id));
    if (st->deleting ? s != NULL && s->served : s == NULL) return 0;
    return __atomic_load_n(&snap->serving, __ATOMIC_ACQUIRE) >= (int)rq->worker->workers;
}

static void change_on_wait(h2o_timeout_entry_t *entry)
{
    change_state_t *st = H2O_STRUCT_FROM_MEMBER(change_state_t, wait, entry);
    http_pending_t *p = st->p;
    http_request_t *rq = http_pending_request(p);
    if (rq != NULL && !change_seen(rq, st) && change_now_ms() < st->deadline_ms) {
        h2o_timeout_link(rq->worker->ctx.loop, &rq->worker->wait_timeout, &st->wait);
        return;
    }
    /* Seen, or past the wait: the registry has it, every node converges
     * (site_watch.h) whatever this one shows now. */
    if (rq != NULL) site_config_send(rq, st->deleting ? 200 : 201, json_incref(st->answer));
    change_done(p);
}

static void change_on_marked(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    change_state_t *st = http_pending_state(p);
    http_request_t *rq = http_pending_request(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r == NULL) {
        change_done(p);
        return;
    }
    json_decref(r);
    st->deadline_ms = change_now_ms() + SITES_WAIT_MS;
    st->wait.cb = change_on_wait;
    if (change_seen(rq, st)) {
        change_on_wait(&st->wait);
        return;
    }
    h2o_timeout_link(rq->worker->ctx.loop, &rq->worker->wait_timeout, &st->wait);
}

static void change_mark(http_request_t *rq, change_state_t *st)
{
    int rc = store_sites_mark(rq->worker->redis, st->id, st->mark, change_on_marked, st->p);
    if (rc != REDIS_OK) {
        http_storage_error(rq, rc, NULL);
        change_done(st->p);
    }
}

/* ---- POST /v1/sites -------------------------------------------------------------- */

/* A new site's first document: valid as soon as origins holds one origin. */
static json_t *sites_starter(const char *id, json_t *origins)
{
    /* No owner key: the SHA-256 of 32 random bytes nobody keeps. The
     * operator issues the site's keys (POST /v1/sites/{site}/keys). */
    unsigned char secret[32];
    uint8_t sha[32];
    char hex[65];
    random_bytes(secret, sizeof(secret));
    apikey_hash((const char *)secret, sizeof(secret), sha, hex);
    /* The controller's contact: the privacy address at the first origin's
     * host, to be completed in the console before the first publish. */
    char contact[300] = "privacy@example.invalid";
    const char *o = json_string_value(json_array_get(origins, 0));
    const char *host = o != NULL ? strstr(o, "://") : NULL;
    if (host != NULL) {
        host += 3;
        size_t hl = strcspn(host, ":/");
        if (hl > 0 && hl < 200) snprintf(contact, sizeof(contact), "privacy@%.*s", (int)hl, host);
    }
    return json_pack(
        "{s:s,s:O,s:[s],s:s,s:{s:s,s:s},s:s,s:["
        "{s:s,s:s,s:i,s:[s],s:{s:{s:s,s:s}}},"
        "{s:s,s:s,s:i,s:[s],s:{s:{s:s,s:s}}}]}",
        "id", id, "origins", origins, "languages", "en", "policy_version", "1", "controller",
        "name", id, "contact", contact, "api_key_sha256", hex, "purposes",
        /* necessary */
        "id", "necessary", "legal_basis", "necessary", "retention_days", 395, "recipients", id,
        "texts", "en", "name", "Site operation", "description",
        "Trackers the site cannot work without: keeping your session, security and remembering "
        "your choices on this banner. They cannot be switched off.",
        /* consent */
        "id", "audience", "legal_basis", "consent", "retention_days", 395, "recipients", id,
        "texts", "en", "name", "Audience measurement", "description",
        "Measuring visits to the site and how its pages are used, in order to improve it. The "
        "results are only used as aggregated statistics.");
}

static void create_on_created(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    change_state_t *st = http_pending_state(p);
    http_request_t *rq = http_pending_request(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r == NULL) {
        change_done(p);
        return;
    }
    if (json_is_true(json_object_get(r, "exists"))) {
        http_error(rq, 409, "site_exists", "a site with this id exists already (in Redis)");
        json_decref(r);
        change_done(p);
        return;
    }
    st->answer = json_pack("{s:s,s:i,s:O}", "id", st->id, "version", 1, "draft_revision",
                           json_object_get(r, "revision"));
    json_decref(r);
    st->mark = -1; /* known, not served: version 1 */
    change_mark(rq, st);
}

void sites_create(http_request_t *rq)
{
    if (!http_body_is_json(rq)) {
        http_error(rq, 415, "unsupported_media_type", "send the body as application/json");
        return;
    }
    json_t *body =
        json_loadb(rq->req->entity.base, rq->req->entity.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        http_error(rq, 400, "malformed_json", "the body must be a JSON object");
        return;
    }
    json_t *idv = json_object_get(body, "id"), *site = json_object_get(body, "site"),
           *origins = json_object_get(body, "origins");
    const char *id = json_string_value(idv);
    if (id == NULL || !site_id_ok(id, strlen(id))) {
        json_decref(body);
        http_error(rq, 400, "invalid_field",
                   "id: 1 to 64 of a-z 0-9 _ -, starting with a letter or a digit (a site file's "
                   "name without .json)");
        return;
    }
    if ((site != NULL && !json_is_object(site)) || (origins != NULL && !json_is_array(origins))) {
        json_decref(body);
        http_error(rq, 400, "invalid_field",
                   "site: a site document (object); origins: an array of origins");
        return;
    }
    if (site_find(rq->worker->snap->sites, id, strlen(id)) != NULL) {
        json_decref(body);
        http_error(rq, 409, "site_exists",
                   "a site with this id exists already (a file of the sites directory, or Redis)");
        return;
    }
    json_t *given = origins != NULL ? json_incref(origins) : json_array();
    json_t *doc = site != NULL ? json_incref(site) : sites_starter(id, given);
    json_decref(given);
    size_t len = 0;
    char *canon = doc != NULL ? site_config_canonical(rq, doc, &len) : NULL;
    json_decref(doc);
    if (canon == NULL) {
        json_decref(body);
        if (!rq->answered) http_error(rq, 500, "internal", "out of memory");
        return;
    }
    char source[SITE_ID_MAX + 32];
    snprintf(source, sizeof(source), "site %s draft 1", id);
    if (site_config_validate(rq, rq->worker->snap, source, id, canon, len) != 0) {
        free(canon);
        json_decref(body);
        return;
    }
    change_state_t *st = change_new(rq, id);
    json_decref(body);
    if (st == NULL) {
        free(canon);
        return;
    }
    st->json = canon;
    st->len = len;
    int rc = store_site_create(rq->worker->redis, st->id, st->json, st->len,
                               rq->key_who != NULL ? rq->key_who : "operator", "created",
                               create_on_created, st->p);
    if (rc != REDIS_OK) {
        change_done(st->p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- DELETE /v1/sites/{site} ------------------------------------------------------- */

static void delete_on_versions(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    change_state_t *st = http_pending_state(p);
    http_request_t *rq = http_pending_request(p);
    json_t *r = rq != NULL ? site_config_reply(rq, js, len, err) : NULL;
    if (r == NULL) {
        change_done(p);
        return;
    }
    json_t *pub = json_object_get(r, "published"), *last = json_object_get(r, "last");
    json_int_t v = json_is_integer(pub) && json_integer_value(pub) > 0 ? json_integer_value(pub)
                   : json_is_integer(last)                             ? json_integer_value(last)
                                                                       : 0;
    json_decref(r);
    if (v <= 0) {
        http_error(rq, 404, "site_not_found", "this site has no version in Redis");
        change_done(p);
        return;
    }
    st->mark = -(int64_t)v;
    st->answer = json_pack("{s:s,s:b}", "id", st->id, "deleted", 1);
    change_mark(rq, st);
}

void sites_delete(http_request_t *rq)
{
    if (rq->site->from & SITE_FROM_FILE) {
        http_error(rq, 409, "site_from_file",
                   "this site is a file of the sites directory: remove the file (and reload) to "
                   "stop serving it");
        return;
    }
    change_state_t *st = change_new(rq, rq->site->id);
    if (st == NULL) return;
    st->deleting = 1;
    int rc = store_site_versions(rq->worker->redis, st->id, 1, delete_on_versions, st->p);
    if (rc != REDIS_OK) {
        change_done(st->p);
        http_storage_error(rq, rc, NULL);
    }
}
