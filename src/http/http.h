/*
 * http.h - what endpoints use to answer: the per-request context, JSON and
 * byte responses, the one JSON error shape, and the guard for answers that
 * come back later (Redis replies).
 *
 * Error bodies are always {"error":{"code":"...","message":"..."}}.
 *
 * Every request ends in exactly one http_send_* / http_error call. The call
 * records the status and latency in the worker's metrics and writes the
 * access-log line. The rule is enforced, not just stated:
 *  - a second answer to one request aborts in Debug (and sanitized) builds;
 *    in Release (NDEBUG) it is dropped, counted in
 *    consentd_http_answers_dropped_total and logged once per process;
 *  - a request h2o disposes without an answer (the router calls
 *    http_request_disposed()) is the same kind of bug, caught the same way
 *    (consentd_http_requests_unanswered_total), unless a late answer was
 *    still awaited (an http_pending_t): then the client left first, which is
 *    no bug (an HTTP/2 stream reset, connections closed at shutdown).
 */
#ifndef CONSENTD_HTTP_H
#define CONSENTD_HTTP_H

#include <h2o.h>
#include "site.h"
#include "useragent.h"
#include "worker.h"

#define HTTP_MAX_PARAMS 2

typedef struct http_request {
    h2o_req_t *req;
    worker_t *worker;
    unsigned route;                      /* index in the router's table */
    const site_t *site;                  /* set when the path names a site */
    h2o_iovec_t params[HTTP_MAX_PARAMS]; /* path parameters after {site} */
    uint64_t started_ns;
    unsigned answered; /* answers sent: 0, then 1 (a second one is dropped) */
    unsigned pending;  /* http_pending_t records alive for this request */
    /* Set by http_auth (auth.h) when it accepted the request's key: the
     * key's scopes (apikey.h; 0: no key), whether it is the operator key, and
     * who it is ("owner", "operator", "key:<name>", in the request pool). */
    unsigned scopes;
    int operator;
    const char *key_who;
} http_request_t;

/* What the one-answer rule makes of a request (http_answer_check()). */
typedef enum {
    HTTP_ANSWER_OK = 0,   /* may answer now / was answered once */
    HTTP_ANSWER_TWICE,    /* answering again: a bug, the answer is dropped */
    HTTP_ANSWER_NONE,     /* disposed unanswered, no late answer awaited: a bug */
    HTTP_ANSWER_ABANDONED /* disposed unanswered while a late answer was awaited */
} http_answer_check_t;
/* The rule as a pure function of rq's bookkeeping: about to answer
 * (disposing 0) or being disposed (disposing 1). */
http_answer_check_t http_answer_check(const http_request_t *rq, int disposing);
/* The router's dispose callback calls this: it enforces the rule (abort in
 * Debug builds, log once and count in Release). */
void http_request_disposed(http_request_t *rq);

/* A later answer: a heap record that outlives the request if the client
 * goes away first. Create it before sending the Redis command; in the reply
 * callback, http_pending_request() is NULL when the request is gone (do not
 * answer then); always end with http_pending_free(). The pending record
 * keeps the request's snapshot alive, so the site it resolved stays valid
 * until http_pending_free() even across a reload. */
typedef struct http_pending http_pending_t;
http_pending_t *http_pending_new(http_request_t *rq, size_t state_size);
void *http_pending_state(http_pending_t *p);
http_request_t *http_pending_request(http_pending_t *p);
/* The snapshot the request was routed on (rq->site belongs to it). After an
 * asynchronous step, take sites, banners and keys from here, never from
 * rq->worker->snap: a reload may have swapped that one meanwhile. */
snapshot_t *http_pending_snapshot(http_pending_t *p);
void http_pending_free(http_pending_t *p);

/* Bodies passed to http_send_static must outlive the send (static data, or
 * memory from req->pool). http_send_copy copies into the request pool. */
void http_send_static(http_request_t *rq, int status, const char *content_type, const void *body,
                      size_t len);
void http_send_copy(http_request_t *rq, int status, const char *content_type, const void *body,
                    size_t len);
void http_send_json(http_request_t *rq, int status, const char *json, size_t len);
/* The same without the copy: json must outlive the send (request pool). */
void http_send_json_static(http_request_t *rq, int status, const char *json, size_t len);
/* {"error":{"code":code,"message":message}} */
void http_error(http_request_t *rq, int status, const char *code, const char *message);
/* The answer to a store call that failed: err the error its callback got,
 * or NULL and rc the REDIS_E_* code it returned (the call never started).
 * Each kind has its status and code (503 storage_timeout,
 * storage_unavailable, storage_not_replicated, storage_busy, with
 * Retry-After; 500 storage_error, internal) and log line, in http.c alone. */
#define HTTP_STORAGE_RETRY_AFTER "2"
void http_storage_error(http_request_t *rq, int rc, const redis_error_t *err);
/* How the access log shows a request target (see router_log_target): out
 * gets at most cap - 1 bytes and a NUL; returns the length. Set once before
 * workers start; until then the log shows no path at all. */
typedef size_t (*http_log_target_fn)(const char *target, size_t len, char *out, size_t cap);
void http_access_log_target(http_log_target_fn fn);
/* Add a response header (name lower-case, value copied into the pool). */
void http_header(http_request_t *rq, const char *name, const char *value, size_t len);

/* Request header value by lower-case name, or NULL when absent. */
const h2o_iovec_t *http_req_header(http_request_t *rq, const char *name);
/* The device class and browser family of the request (useragent.h): from
 * its Sec-CH-UA-Mobile and User-Agent headers. */
useragent_class_t http_useragent_class(http_request_t *rq);

/* Who is calling a site route. */
typedef enum {
    HTTP_CALLER_NONE = 0,  /* no Origin, no key */
    HTTP_CALLER_BROWSER,   /* Origin is one of the site's origins */
    HTTP_CALLER_SERVER,    /* Authorization: Bearer <a key http_auth accepted, or the owner key> */
    HTTP_CALLER_FOREIGN,   /* Origin not declared by the site */
    HTTP_CALLER_BAD_KEY,   /* a key that is no site's key */
    HTTP_CALLER_OTHER_SITE /* another site's key */
} http_caller_t;

/* Gives h2o's own error answers (413 over limits.max_body_bytes, 400 for a
 * broken body, 417), sent from the host's fallback path, the JSON error
 * shape; they count under the given route in the metrics. */
void http_own_errors_register(h2o_pathconf_t *fallback, size_t max_body, unsigned route);

/* Classify the caller of a site route (rq->site set). A valid key wins over
 * an Origin. */
http_caller_t http_caller(http_request_t *rq);
/* Answer the error that goes with a caller that is not allowed: 401
 * (none, bad key), 403 (foreign origin, other site's key). */
void http_caller_error(http_request_t *rq, http_caller_t caller);
/* For browser callers: Access-Control-Allow-Origin and Vary: Origin (the
 * router adds them on CORS routes when the Origin is the site's). */
void http_cors_headers(http_request_t *rq);
/* Keep the worker's current snapshot alive until the request is disposed:
 * call before sending a body that lives in the snapshot (banner bytes, the
 * JWKS), since h2o may still be writing it after a reload swapped it out. */
void http_hold_snapshot(http_request_t *rq);
/* Copy the (not decoded) value of query parameter name into out; returns its
 * length, or -1 when absent or longer than cap - 1. */
ssize_t http_query_param(http_request_t *rq, const char *name, char *out, size_t cap);
/* The page size of a listing: query parameter limit, an integer from 1 to
 * max; def when absent. -1 after answering 400 invalid_limit ("limit must
 * be from 1 to <max>"). */
long http_query_limit(http_request_t *rq, long def, long max);
/* The same on a request target (path and query, untrusted bytes). */
ssize_t http_query_find(const char *target, size_t len, const char *name, char *out, size_t cap);
/* The key of an Authorization header value "Bearer <key>" (spaces around
 * the key dropped; may be empty), or NULL when it is not one. */
const char *http_bearer_parse(const char *value, size_t len, size_t *key_len);
/* Answers of unknown size: a strbuf_t in the request's pool
 * (strbuf_init_pool(&b, &rq->req->pool), strbuf.h); b.buf/b.len then go to
 * http_send_static. */

/* 1 when the body's Content-Type is application/json (any parameters). */
int http_body_is_json(http_request_t *rq);
/* 1 for application/json or text/plain (any parameters): what a browser's
 * fetch() or sendBeacon() sends a string as when it sets no type, which
 * needs no CORS preflight. The JSON is parsed the same either way; a
 * foreign page is still refused by its Origin (http_caller). */
int http_body_is_json_or_text(http_request_t *rq);

/* For bodies kept in memory in several encodings: 1 when Accept-Encoding
 * takes coding ("br", "gzip"), by name or "*", with a q-value above 0. */
int http_accepts_encoding(http_request_t *rq, const char *coding);
/* 1 when If-None-Match lists etag (quotes included) or "*", weak or strong:
 * answer 304 then. */
int http_etag_matches(http_request_t *rq, const char *etag, size_t len);

/* A file built into the binary by web/build.mjs (the dashboard's, the
 * OpenAPI document): its bytes in identity, gzip and brotli, each with its
 * strong ETag, all static. */
enum { HTTP_ASSET_IDENTITY = 0, HTTP_ASSET_GZIP, HTTP_ASSET_BROTLI, HTTP_ASSET_ENCODINGS };
typedef struct http_asset_body {
    const char *bytes;
    size_t len;
    const char *etag;
} http_asset_body_t;
typedef struct http_asset {
    const char *content_type;
    const char *cache_control;
    http_asset_body_t enc[HTTP_ASSET_ENCODINGS];
} http_asset_t;
/* The asset from build.mjs's NAME, NAME_GZ, NAME_BR and their _ETAG. */
#define HTTP_ASSET_BODY(NAME)                                                                      \
    {                                                                                              \
        NAME, sizeof(NAME) - 1, NAME##_ETAG                                                        \
    }
#define HTTP_ASSET(type, cache, NAME)                                                              \
    {                                                                                              \
        type, cache,                                                                               \
        {                                                                                          \
            HTTP_ASSET_BODY(NAME), HTTP_ASSET_BODY(NAME##_GZ), HTTP_ASSET_BODY(NAME##_BR)          \
        }                                                                                          \
    }
/* Answer GET a: brotli, else gzip, else identity, as Accept-Encoding takes
 * them; Vary, ETag and Cache-Control; 304 when If-None-Match names the
 * chosen encoding's ETag. Headers set before the call (a page's CSP) stay. */
void http_send_asset(http_request_t *rq, const http_asset_t *a);

#endif
