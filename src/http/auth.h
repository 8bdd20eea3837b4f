/*
 * auth.h - the one decision of who may call a route: the router calls
 * http_auth() with what the route's entry declares (src/server/router.c),
 * and nothing else decides whether a key may call it.
 *
 * A route declares AUTH_PUBLIC (anyone, no key looked at), or the scopes of
 * which a key needs one (apikey.h: SCOPE_STATS_READ, ...; usually one, and a
 * set such as SCOPE_SITE_WRITE | SCOPE_RIGHTS when either suffices), with
 * AUTH_BROWSER added when the site's own origins may call it without a key
 * (the banner's routes: the endpoint checks the Origin). A route whose path names no site (e.g. one
 * that creates a site) may only declare a scope of APIKEY_OPERATOR_SCOPES:
 * the operator key alone calls it. With an Authorization: Bearer key:
 *  - the operator key (config admin.operator_key_sha256): APIKEY_OPERATOR_SCOPES;
 *  - the site's owner key (api_key_sha256 in its site file): every scope;
 *  - a key of the site (store_site_key_get): its scopes. A worker keeps what
 *    it read for at most AUTH_CACHE_MS, so a key deleted on another node
 *    stops working there within that bound; on the node that deletes it,
 *    at once (http_auth_forget: every worker thread's cache is dropped).
 * Keys are compared as SHA-256 digests, in constant time (sodium_memcmp).
 *
 * Answers (JSON errors, http.h): 401 unauthorized (no key where one is
 * needed, a key that is nobody's), 403 forbidden (another site's owner
 * key), 403 insufficient_scope naming the scopes the route takes, any one
 * of which would do (with WWW-Authenticate: Bearer
 * error="insufficient_scope", scope="site:write rights": RFC 6750's
 * space-separated list), 403
 * origin_not_allowed (no key, a foreign Origin), 503 when Redis cannot say
 * (http_storage_error). Exactly one of: next(rq) is called (now or once
 * Redis answered), or an error is answered.
 *
 * Threads: called on the request's worker thread; the cache is that
 * thread's (worker_t.auth), http_auth_forget() may be called from any.
 */
#ifndef CONSENTD_HTTP_AUTH_H
#define CONSENTD_HTTP_AUTH_H

#include "apikey.h"
#include "http.h"

/* Route declarations beside the scope bits (apikey_scope_t). */
#define AUTH_PUBLIC (1u << 16)  /* no key needed, none looked at */
#define AUTH_BROWSER (1u << 17) /* or no key: the site's origins (the endpoint checks) */
/* The operator key only, on a route of a site (deleting one, issue 22 item
 * 2): any other key is a 401, as on a route of no site. */
#define AUTH_OPERATOR (1u << 18)

/* How long a worker trusts a key it read from Redis. */
#define AUTH_CACHE_MS 2000
#define AUTH_CACHE_ENTRIES 256

typedef void (*http_auth_next_fn)(http_request_t *rq);

/* 1 when need is a valid route declaration: AUTH_PUBLIC alone, or one or
 * more scopes, maybe with AUTH_BROWSER; on a route of no site (has_site 0),
 * or with AUTH_OPERATOR, one of APIKEY_OPERATOR_SCOPES without AUTH_BROWSER.
 * The router refuses to start otherwise. */
int http_auth_declaration_ok(unsigned need, int has_site);

void http_auth(http_request_t *rq, unsigned need, http_auth_next_fn next);

/* Drop every worker's cached keys (a key was deleted on this node). */
void http_auth_forget(void);

/* A worker thread's cache (worker_t.auth). */
struct http_auth_cache *http_auth_cache_create(void);
void http_auth_cache_free(struct http_auth_cache *c);

#endif
