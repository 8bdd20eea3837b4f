/*
 * auth.c - the route's key check (auth.h).
 */
#include "auth.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store.h"

/* Bumped by http_auth_forget(); a cache that saw another value is dropped. */
static atomic_uint auth_generation;

typedef struct auth_entry {
    char site[SITE_ID_MAX + 1];
    uint8_t sha[32];
    unsigned scopes;
    char name[APIKEY_NAME_MAX + 1];
    uint64_t expires_ms; /* 0: free */
} auth_entry_t;

struct http_auth_cache {
    unsigned generation;
    auth_entry_t e[AUTH_CACHE_ENTRIES];
};

struct http_auth_cache *http_auth_cache_create(void)
{
    struct http_auth_cache *c = calloc(1, sizeof(*c));
    if (c != NULL) c->generation = atomic_load(&auth_generation);
    return c;
}

void http_auth_cache_free(struct http_auth_cache *c)
{
    if (c != NULL) sodium_memzero(c, sizeof(*c));
    free(c);
}

void http_auth_forget(void)
{
    atomic_fetch_add(&auth_generation, 1);
}

int http_auth_declaration_ok(unsigned need, int has_site)
{
    if (need == AUTH_PUBLIC) return 1;
    if (need & AUTH_OPERATOR) {
        if (!has_site) return 0; /* a route of no site is the operator's anyway */
        need &= ~AUTH_OPERATOR;
        has_site = 0; /* the same rule as a route of no site */
    }
    unsigned scope = need & ~AUTH_BROWSER;
    if (!has_site)
        return need == scope && (scope & APIKEY_OPERATOR_SCOPES) == scope && scope != 0 &&
               apikey_scope_name(scope) != NULL;
    return scope != 0 && (scope & ~APIKEY_SCOPES_ALL) == 0; /* one or more scopes */
}

/* The names of the scopes in set, joined by sep ("site:write rights"). */
static void auth_scope_names(unsigned set, const char *sep, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned bit = 0; bit < APIKEY_SCOPES && o < cap; bit++) {
        const char *name = (set >> bit & 1) ? apikey_scope_name(1u << bit) : NULL;
        if (name != NULL) o += (size_t)snprintf(out + o, cap - o, "%s%s", o > 0 ? sep : "", name);
    }
}

static struct http_auth_cache *auth_cache(http_request_t *rq)
{
    struct http_auth_cache *c = rq->worker->auth;
    if (c == NULL) return NULL;
    unsigned g = atomic_load(&auth_generation);
    if (c->generation != g) {
        memset(c->e, 0, sizeof(c->e));
        c->generation = g;
    }
    return c;
}

static const auth_entry_t *auth_cache_find(http_request_t *rq, const uint8_t sha[32])
{
    struct http_auth_cache *c = auth_cache(rq);
    uint64_t now = clock_mono_ns() / 1000000;
    for (size_t i = 0; c != NULL && i < AUTH_CACHE_ENTRIES; i++) {
        const auth_entry_t *e = &c->e[i];
        if (e->expires_ms > now && strcmp(e->site, rq->site->id) == 0 &&
            sodium_memcmp(e->sha, sha, 32) == 0)
            return e;
    }
    return NULL;
}

static void auth_cache_put(http_request_t *rq, const uint8_t sha[32], unsigned scopes,
                           const char *name)
{
    struct http_auth_cache *c = auth_cache(rq);
    if (c == NULL) return;
    uint64_t now = clock_mono_ns() / 1000000;
    auth_entry_t *slot = &c->e[0];
    for (size_t i = 0; i < AUTH_CACHE_ENTRIES; i++) {
        if (c->e[i].expires_ms <= now) {
            slot = &c->e[i];
            break;
        }
        if (c->e[i].expires_ms < slot->expires_ms) slot = &c->e[i]; /* the oldest */
    }
    snprintf(slot->site, sizeof(slot->site), "%s", rq->site->id);
    memcpy(slot->sha, sha, 32);
    slot->scopes = scopes;
    snprintf(slot->name, sizeof(slot->name), "%s", name);
    slot->expires_ms = now + AUTH_CACHE_MS;
}

static void auth_unauthorized(http_request_t *rq, const char *message)
{
    http_header(rq, "www-authenticate", H2O_STRLIT("Bearer realm=\"consentd\""));
    http_error(rq, 401, "unauthorized", message);
}

/* A key that is none of this site's: another site's owner key (403), or
 * nobody's (401). */
static void auth_refuse_unknown(http_request_t *rq, const uint8_t sha[32])
{
    const site_set_t *sites = rq->worker->snap->sites;
    for (size_t i = 0, n = site_set_count(sites); i < n; i++) {
        const site_t *s = site_set_at(sites, i);
        if (s != rq->site && sodium_memcmp(s->api_key_sha256, sha, 32) == 0) {
            http_error(rq, 403, "forbidden", "this API key belongs to another site");
            return;
        }
    }
    auth_unauthorized(rq, "the API key is not valid");
}

/* The key is known: its scopes decide. who is kept in the request's pool. */
static void auth_decide(http_request_t *rq, unsigned need, unsigned scopes, int operator,
                        const char * who, http_auth_next_fn next)
{
    unsigned scope = need & ~(AUTH_BROWSER | AUTH_OPERATOR);
    if (!(scopes & scope)) {
        /* Any one of the route's scopes would do: name them all. */
        char list[128], either[128], header[224], message[224];
        auth_scope_names(scope, " ", list, sizeof(list));
        auth_scope_names(scope, " or ", either, sizeof(either));
        int n =
            snprintf(header, sizeof(header),
                     "Bearer realm=\"consentd\", error=\"insufficient_scope\", scope=\"%s\"", list);
        http_header(rq, "www-authenticate", header, (size_t)n);
        snprintf(message, sizeof(message),
                 "this API key lacks the scope %s, which this route needs", either);
        http_error(rq, 403, "insufficient_scope", message);
        return;
    }
    rq->scopes = scopes;
    rq->operator= operator;
    size_t len = strlen(who);
    char *copy = h2o_mem_alloc_pool(&rq->req->pool, len + 1);
    memcpy(copy, who, len + 1);
    rq->key_who = copy;
    next(rq);
}

typedef struct auth_pending {
    http_auth_next_fn next;
    unsigned need;
    uint8_t sha[32];
} auth_pending_t;

static void auth_on_key(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    auth_pending_t *st = http_pending_state(p);
    unsigned scopes;
    char name[APIKEY_NAME_MAX + 1], who[APIKEY_NAME_MAX + 8];
    if (rq == NULL) {
        /* the client left */
    } else if (err != NULL) {
        http_storage_error(rq, 0, err);
    } else if (js == NULL || apikey_record_read(js, len, &scopes, name) != 0) {
        auth_refuse_unknown(rq, st->sha);
    } else {
        auth_cache_put(rq, st->sha, scopes, name);
        snprintf(who, sizeof(who), "key:%s", name);
        http_auth_next_fn next = st->next;
        unsigned need = st->need;
        http_pending_free(p);
        auth_decide(rq, need, scopes, 0, who, next);
        return;
    }
    http_pending_free(p);
}

void http_auth(http_request_t *rq, unsigned need, http_auth_next_fn next)
{
    if (need == AUTH_PUBLIC) {
        next(rq);
        return;
    }
    size_t klen = 0;
    const h2o_iovec_t *auth = http_req_header(rq, "authorization");
    const char *key = auth != NULL ? http_bearer_parse(auth->base, auth->len, &klen) : NULL;
    if (key == NULL) {
        if ((need & AUTH_BROWSER) && rq->site != NULL) {
            next(rq); /* the endpoint checks the Origin */
            return;
        }
        const h2o_iovec_t *origin = http_req_header(rq, "origin");
        if (origin != NULL && rq->site != NULL &&
            !site_origin_allowed(rq->site, origin->base, origin->len)) {
            http_error(rq, 403, "origin_not_allowed",
                       "this origin is not one of the site's declared origins");
            return;
        }
        auth_unauthorized(rq, "this route needs an API key (Authorization: Bearer)");
        return;
    }
    uint8_t sha[32];
    apikey_hash(key, klen, sha, NULL);
    const config_t *cfg = rq->worker->cfg;
    if (cfg->operator_key_set && sodium_memcmp(sha, cfg->operator_key_sha256, 32) == 0) {
        auth_decide(rq, need, APIKEY_OPERATOR_SCOPES, 1, "operator", next);
        return;
    }
    if (rq->site == NULL || (need & AUTH_OPERATOR)) {
        /* A route of no site (creating one), or of the operator (deleting
         * one): the operator key's alone. */
        auth_unauthorized(rq, "only the operator key may call this route");
        return;
    }
    if (sodium_memcmp(sha, rq->site->api_key_sha256, 32) == 0) {
        auth_decide(rq, need, APIKEY_SCOPES_ALL, 0, "owner", next);
        return;
    }
    if (!apikey_secret_shape_ok(key, klen)) {
        auth_refuse_unknown(rq, sha);
        return;
    }
    const auth_entry_t *e = auth_cache_find(rq, sha);
    if (e != NULL) {
        char who[APIKEY_NAME_MAX + 8];
        snprintf(who, sizeof(who), "key:%s", e->name);
        auth_decide(rq, need, e->scopes, 0, who, next);
        return;
    }
    /* Keep rq->site's snapshot until the request ends: the route runs later. */
    http_hold_snapshot(rq);
    http_pending_t *p = http_pending_new(rq, sizeof(auth_pending_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    auth_pending_t *st = http_pending_state(p);
    st->next = next;
    st->need = need;
    memcpy(st->sha, sha, 32);
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), sha, 32);
    int rc = store_site_key_get(rq->worker->redis, rq->site, hex, auth_on_key, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}
