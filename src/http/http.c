/*
 * http.c - answering a request: bodies, the JSON error shape, the access log
 * line and the request metrics, and the guard for late (Redis) answers.
 */
#include "http.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "clock.h"
#include "json.h"
#include "log.h"
#include "strbuf.h"

#define HTTP_ACCESS_PATH_MAX 256 /* longer paths are cut in the access log */

/* Set by the router before workers start; read-only afterwards. */
static http_log_target_fn http_log_target;

void http_access_log_target(http_log_target_fn fn)
{
    http_log_target = fn;
}

struct http_pending {
    http_request_t *rq;     /* NULL once the request is gone */
    http_pending_t **guard; /* slot in the request pool that points back here */
    snapshot_t *snap;       /* kept alive for rq->site */
    max_align_t state[];
};

static void http_pending_on_dispose(void *slot)
{
    http_pending_t *p = *(http_pending_t **)slot;
    if (p != NULL) {
        p->rq = NULL;
        p->guard = NULL;
    }
}

http_pending_t *http_pending_new(http_request_t *rq, size_t state_size)
{
    http_pending_t *p = calloc(1, sizeof(*p) + state_size);
    if (p == NULL) return NULL;
    rq->pending++;
    p->guard = h2o_mem_alloc_shared(&rq->req->pool, sizeof(*p->guard), http_pending_on_dispose);
    *p->guard = p;
    p->rq = rq;
    p->snap = snapshot_retain(rq->worker->snap);
    return p;
}

void *http_pending_state(http_pending_t *p)
{
    return p->state;
}

http_request_t *http_pending_request(http_pending_t *p)
{
    return p->rq;
}

snapshot_t *http_pending_snapshot(http_pending_t *p)
{
    return p->snap;
}

void http_pending_free(http_pending_t *p)
{
    if (p->rq != NULL) p->rq->pending--;
    if (p->guard != NULL) *p->guard = NULL;
    snapshot_release(p->snap);
    free(p);
}

static const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

/* s for a text log line: control characters, spaces and DEL
 * percent-encoded, so that a line stays one line of space-separated fields. */
static void http_log_text(strbuf_t *line, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len;) {
        size_t run = 0;
        while (i + run < len && (unsigned char)s[i + run] > 0x20 && s[i + run] != 0x7f)
            run++;
        strbuf_put(line, s + i, run);
        i += run;
        if (i < len) {
            unsigned char c = (unsigned char)s[i++];
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            strbuf_put(line, esc, 3);
        }
    }
}

/* ns as milliseconds with three decimals (cut, not rounded). */
static void http_log_ms(strbuf_t *line, uint64_t ns)
{
    strbuf_u64(line, ns / 1000000);
    strbuf_char(line, '.');
    strbuf_digits(line, ns / 1000 % 1000, 3);
}

/* One line per answer, written by hand: no printf, no strftime on the
 * request path (issue 18, item 14). */
static void http_access_log(http_request_t *rq, int status, size_t bytes, uint64_t ns)
{
    const config_t *cfg = rq->worker->cfg;
    h2o_req_t *req = rq->req;
    char ip[INET6_ADDRSTRLEN + 8] = "";
    /* The whole target is masked first: a cut one may match no route. */
    char target[HTTP_ACCESS_PATH_MAX + 1];
    size_t plen = http_log_target != NULL
                      ? http_log_target(req->path.base, req->path.len, target, sizeof(target))
                      : 0;
    int json = log_is_json();
    if (cfg->log_client_ip) {
        struct sockaddr_storage ss;
        socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
        if (sl != 0) h2o_socket_getnumerichost((struct sockaddr *)&ss, sl, ip);
    }
    char ts[CLOCK_TEXT_MAX], buf[HTTP_ACCESS_PATH_MAX * 6 + 512];
    size_t tl = clock_format(clock_real_ms(), CLOCK_ISO_MS, ts);
    size_t mlen = req->method.len < 16 ? req->method.len : 16;
    strbuf_t line;
    strbuf_init_fixed(&line, buf, sizeof(buf));
    if (json) {
        strbuf_lit(&line, "{\"ts\":\"");
        strbuf_put(&line, ts, tl);
        strbuf_lit(&line, "\",\"type\":\"access\",\"method\":");
        strbuf_json(&line, req->method.base, mlen);
        strbuf_lit(&line, ",\"path\":");
        strbuf_json(&line, target, plen);
        strbuf_lit(&line, ",\"status\":");
        strbuf_i64(&line, status);
        strbuf_lit(&line, ",\"bytes\":");
        strbuf_u64(&line, bytes);
        strbuf_lit(&line, ",\"duration_ms\":");
        http_log_ms(&line, ns);
        if (ip[0]) {
            strbuf_lit(&line, ",\"client_ip\":\"");
            strbuf_str(&line, ip);
            strbuf_char(&line, '"');
        }
        strbuf_char(&line, '}');
    } else {
        strbuf_put(&line, ts, tl);
        strbuf_lit(&line, " access ");
        http_log_text(&line, req->method.base, mlen);
        strbuf_char(&line, ' ');
        http_log_text(&line, target, plen);
        strbuf_char(&line, ' ');
        strbuf_i64(&line, status);
        strbuf_char(&line, ' ');
        strbuf_u64(&line, bytes);
        strbuf_char(&line, ' ');
        http_log_ms(&line, ns);
        strbuf_lit(&line, "ms");
        if (ip[0]) {
            strbuf_char(&line, ' ');
            strbuf_str(&line, ip);
        }
    }
    if (!strbuf_failed(&line)) log_raw(line.buf, line.len); /* cannot fail: bounded above */
}

http_answer_check_t http_answer_check(const http_request_t *rq, int disposing)
{
    if (!disposing) return rq->answered == 0 ? HTTP_ANSWER_OK : HTTP_ANSWER_TWICE;
    if (rq->answered != 0) return HTTP_ANSWER_OK;
    return rq->pending != 0 ? HTTP_ANSWER_ABANDONED : HTTP_ANSWER_NONE;
}

/* A broken one-answer rule (TWICE or NONE): a bug in consentd. Debug builds
 * stop at once, so that a test catches it; Release builds count every case
 * and log the first of each kind (one line, not a flood), then carry on. */
static void http_answer_violated(http_request_t *rq, http_answer_check_t v)
{
    int twice = v == HTTP_ANSWER_TWICE;
    metrics_count(rq->worker->metrics,
                  twice ? METRICS_ANSWERS_DROPPED : METRICS_REQUESTS_UNANSWERED, 1);
#ifdef NDEBUG
    static int logged[HTTP_ANSWER_ABANDONED + 1]; /* by kind, process-wide */
    if (__atomic_exchange_n(&logged[v], 1, __ATOMIC_RELAXED)) return;
#endif
    log_msg(LOG_ERROR,
            "http: route %s: %s (a bug in consentd: every request gets exactly one answer)%s",
            metrics_route_name(rq->route),
            twice ? "a second answer to one request, dropped" : "a request ended without an answer",
#ifdef NDEBUG
            "; later cases are only counted in /metrics"
#else
            "; aborting (Debug build)"
#endif
    );
#ifndef NDEBUG
    abort();
#endif
}

/* 1 when rq may be answered now; else the answer is a second one: enforce
 * the rule and drop it. Every answering entry point starts here, before it
 * touches the response. */
static int http_may_answer(http_request_t *rq)
{
    http_answer_check_t v = http_answer_check(rq, 0);
    if (v == HTTP_ANSWER_OK) return 1;
    http_answer_violated(rq, v);
    return 0;
}

void http_request_disposed(http_request_t *rq)
{
    http_answer_check_t v = http_answer_check(rq, 1);
    if (v == HTTP_ANSWER_NONE) http_answer_violated(rq, v);
}

/* Bookkeeping common to every answer: metrics and the access log. */
static void http_finish(http_request_t *rq, int status, size_t bytes)
{
    uint64_t ns = clock_mono_ns() - rq->started_ns;
    rq->answered++;
    metrics_observe_request(rq->worker->metrics, rq->route, status, ns);
    if (rq->worker->cfg->access_log) http_access_log(rq, status, bytes, ns);
}

void http_header(http_request_t *rq, const char *name, const char *value, size_t len)
{
    h2o_req_t *req = rq->req;
    const h2o_token_t *token = h2o_lookup_token(name, strlen(name));
    h2o_iovec_t v = h2o_strdup(&req->pool, value, len);
    if (token != NULL)
        h2o_add_header(&req->pool, &req->res.headers, token, NULL, v.base, v.len);
    else
        h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, v.base,
                              v.len);
}

const h2o_iovec_t *http_req_header(http_request_t *rq, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&rq->req->headers, name, strlen(name), -1);
    return i < 0 ? NULL : &rq->req->headers.entries[i].value;
}

useragent_class_t http_useragent_class(http_request_t *rq)
{
    const h2o_iovec_t *ua = http_req_header(rq, "user-agent");
    const h2o_iovec_t *mobile = http_req_header(rq, "sec-ch-ua-mobile");
    return useragent_classify(ua != NULL ? ua->base : NULL, ua != NULL ? ua->len : 0,
                              mobile != NULL ? mobile->base : NULL,
                              mobile != NULL ? mobile->len : 0);
}

/* On every answer: never sniff a type (a JSON error must not run as a
 * script); over TLS, stay on TLS. */
static void http_every_answer_headers(h2o_req_t *req)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    if (req->scheme == &H2O_URL_SCHEME_HTTPS)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_STRICT_TRANSPORT_SECURITY, NULL,
                       H2O_STRLIT("max-age=31536000"));
}

/* On JSON: data, never a page: nothing loads from it, nothing frames it,
 * and no proxy or browser keeps a copy (it may hold a visitor's choice). */
static void http_json_headers(h2o_req_t *req)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0,
                          NULL, H2O_STRLIT("default-src 'none'; frame-ancestors 'none'"));
}

/* {"error":{"code":code,"message":message}} into out (cut to fit cap, which
 * must be at least 1); returns its length. */
static size_t http_error_body(char *out, size_t cap, const char *code, const char *message)
{
    /* code and message are ours (never client bytes), but escape anyway. */
    char ecode[128], emsg[1024];
    json_escape(ecode, sizeof(ecode), code, strlen(code));
    json_escape(emsg, sizeof(emsg), message, strlen(message));
    int n = snprintf(out, cap, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", ecode, emsg);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void http_send_static(http_request_t *rq, int status, const char *content_type, const void *body,
                      size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    if (!http_may_answer(rq)) return;
    h2o_req_t *req = rq->req;
    req->res.status = status;
    req->res.reason = http_reason(status);
    req->res.content_length = len;
    http_every_answer_headers(req);
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    http_finish(rq, status, len);
    h2o_start_response(req, &generator);
    /* HEAD: same headers (Content-Length included), no body. */
    int head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    h2o_iovec_t buf = h2o_iovec_init(body, len);
    h2o_send(req, &buf, len != 0 && !head ? 1 : 0, H2O_SEND_STATE_FINAL);
}

void http_send_copy(http_request_t *rq, int status, const char *content_type, const void *body,
                    size_t len)
{
    if (!http_may_answer(rq)) return;
    char *copy = h2o_mem_alloc_pool(&rq->req->pool, len + 1);
    memcpy(copy, body, len);
    http_send_static(rq, status, content_type, copy, len);
}

void http_send_json(http_request_t *rq, int status, const char *json, size_t len)
{
    if (!http_may_answer(rq)) return;
    http_json_headers(rq->req);
    http_send_copy(rq, status, "application/json", json, len);
}

void http_send_json_static(http_request_t *rq, int status, const char *json, size_t len)
{
    if (!http_may_answer(rq)) return;
    http_json_headers(rq->req);
    http_send_static(rq, status, "application/json", json, len);
}

void http_error(http_request_t *rq, int status, const char *code, const char *message)
{
    if (!http_may_answer(rq)) return;
    char body[1300];
    http_send_json(rq, status, body, http_error_body(body, sizeof(body), code, message));
}

/*
 * Storage errors: the one place where each kind of redis_error_t becomes an
 * answer (status, error code, message) and a log line. docs/api.md's
 * "Storage errors" table says the same. Outages (timeouts, a Redis down or
 * busy, replicas behind) are not logged per request: they show in /healthz,
 * consentd_redis_errors_total and redis.c's connection lines; a refusal by
 * Redis is the operator's to fix, and rare: logged with Redis' words.
 */
typedef struct http_storage_answer {
    int status;
    const char *code;
    const char *message;   /* "%u": redis.command_timeout_ms */
    log_level_t log_level; /* LOG_DEBUG: not logged by default */
} http_storage_answer_t;

static const http_storage_answer_t *http_storage_answer(redis_error_kind_t kind)
{
    static const http_storage_answer_t timeout = {
        503, "storage_timeout",
        "timeout: the consent store did not answer within %u ms, retry later", LOG_DEBUG};
    static const http_storage_answer_t unavailable = {
        503, "storage_unavailable", "the consent store is unreachable, retry later", LOG_DEBUG};
    static const http_storage_answer_t not_replicated = {
        503, "storage_not_replicated",
        "the consent store did not copy the write to its replicas in time, retry later", LOG_DEBUG};
    static const http_storage_answer_t busy = {
        503, "storage_busy", "too many Redis commands in flight, retry later", LOG_DEBUG};
    static const http_storage_answer_t refused = {
        500, "storage_error", "the consent store refused the command", LOG_WARN};
    static const http_storage_answer_t internal = {
        500, "internal", "the consent store call could not be made", LOG_ERROR};
    static const http_storage_answer_t limited = {
        429, "too_many_writes",
        "this visitor made too many choices recently; nothing was recorded, retry later",
        LOG_DEBUG};
    switch (kind) {
    case REDIS_ERROR_TIMEOUT:
        return &timeout;
    case REDIS_ERROR_UNAVAILABLE:
        return &unavailable;
    case REDIS_ERROR_NOT_REPLICATED:
        return &not_replicated;
    case REDIS_ERROR_BUSY:
        return &busy;
    case REDIS_ERROR_REPLY:
        return &refused;
    case REDIS_ERROR_LIMITED:
        return &limited;
    case REDIS_ERROR_INTERNAL:
        break;
    }
    return &internal;
}

void http_storage_error(http_request_t *rq, int rc, const redis_error_t *err)
{
    if (!http_may_answer(rq)) return;
    if (err == NULL) err = redis_error_of_rc(rc);
    const http_storage_answer_t *a = http_storage_answer(err->kind);
    char msg[160];
    /* A write over the visitor's limit is Redis working as asked, not an error of it. */
    if (err->kind != REDIS_ERROR_LIMITED)
        metrics_count(rq->worker->metrics, METRICS_REDIS_ERRORS, 1);
    snprintf(msg, sizeof(msg), a->message, (unsigned)rq->worker->cfg->redis.command_timeout_ms);
    if (log_enabled(a->log_level)) {
        /* The target as the access log shows it: no visitor id (item 11). */
        char target[HTTP_ACCESS_PATH_MAX + 1];
        size_t tlen =
            http_log_target != NULL
                ? http_log_target(rq->req->path.base, rq->req->path.len, target, sizeof(target))
                : 0;
        log_msg(a->log_level, "redis: %s %.*s: %s (%s)", a->code, (int)tlen, target, err->detail,
                msg);
    }
    if (a->status == 503) http_header(rq, "retry-after", H2O_STRLIT(HTTP_STORAGE_RETRY_AFTER));
    if (err->kind == REDIS_ERROR_LIMITED) {
        /* Whole seconds, rounded up: never before the window ends. */
        char secs[24];
        int n = snprintf(secs, sizeof(secs), "%" PRId64,
                         err->retry_after_ms > 0 ? (err->retry_after_ms + 999) / 1000 : 1);
        http_header(rq, "retry-after", secs, (size_t)n);
    }
    http_error(rq, a->status, a->code, msg);
}

/* ---- h2o's own error answers ----
 * h2o answers some requests before any handler runs: a body over
 * limits.max_body_bytes (413), a broken chunked body or Content-Length
 * (400), an Expect other than 100-continue (417). It sends them from the
 * host's fallback path in text/plain; this filter there gives them the
 * JSON error shape and headers of every other answer, and counts and logs
 * them as unmatched requests. (A request head h2o cannot parse, or over its
 * compile-time limits of 100 headers or about 417 KB, gets a fixed
 * "400 Bad Request" written straight to the socket: no filter sees it.) */
typedef struct {
    h2o_filter_t super;
    size_t max_body;
    unsigned route;
} http_own_errors_t;

typedef struct {
    h2o_ostream_t super;
    h2o_iovec_t body;
} http_own_error_body_t;

static void http_own_error_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs,
                                size_t bufcnt, h2o_send_state_t state)
{
    http_own_error_body_t *o = (http_own_error_body_t *)self;
    /* h2o's body (or none, for HEAD) becomes ours. */
    h2o_ostream_send_next(self, req, bufcnt != 0 ? &o->body : bufs, bufcnt != 0 ? 1 : 0, state);
}

static void http_own_errors_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    http_own_errors_t *f = (http_own_errors_t *)self;
    char msg[160];
    const char *code;
    switch (req->res.status) {
    case 413:
        code = "payload_too_large";
        snprintf(msg, sizeof(msg), "the body is over this server's limit of %zu bytes",
                 f->max_body);
        break;
    case 400:
        code = "bad_request";
        snprintf(msg, sizeof(msg), "the body is malformed (chunked encoding or Content-Length)");
        break;
    case 417:
        code = "expectation_failed";
        snprintf(msg, sizeof(msg), "the only Expect understood is 100-continue");
        break;
    default:
        h2o_setup_next_ostream(req, slot);
        return;
    }
    h2o_iovec_t body;
    body.base = h2o_mem_alloc_pool(&req->pool, sizeof(msg) + 64);
    body.len = http_error_body(body.base, sizeof(msg) + 64, code, msg);
    memset(&req->res.headers, 0, sizeof(req->res.headers));
    req->res.reason = http_reason(req->res.status);
    req->res.content_length = body.len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    http_every_answer_headers(req);
    http_json_headers(req);

    struct timeval now;
    gettimeofday(&now, NULL);
    int64_t us = (int64_t)(now.tv_sec - req->timestamps.request_begin_at.tv_sec) * 1000000 +
                 (now.tv_usec - req->timestamps.request_begin_at.tv_usec);
    http_request_t rq = {.req = req, .worker = worker_of(req->conn->ctx), .route = f->route};
    rq.started_ns =
        clock_mono_ns() -
        (us > 0 && req->timestamps.request_begin_at.tv_sec != 0 ? (uint64_t)us * 1000 : 0);
    http_finish(&rq, req->res.status, body.len);

    http_own_error_body_t *o = (http_own_error_body_t *)h2o_add_ostream(req, sizeof(*o), slot);
    o->super.do_send = http_own_error_send;
    o->body = body;
    h2o_setup_next_ostream(req, &o->super.next);
}

void http_own_errors_register(h2o_pathconf_t *fallback, size_t max_body, unsigned route)
{
    http_own_errors_t *f = (http_own_errors_t *)h2o_create_filter(fallback, sizeof(*f));
    f->super.on_setup_ostream = http_own_errors_setup;
    f->max_body = max_body;
    f->route = route;
}

const char *http_bearer_parse(const char *value, size_t len, size_t *key_len)
{
    if (value == NULL || len < 8 || strncasecmp(value, "Bearer ", 7) != 0) return NULL;
    const char *key = value + 7;
    size_t klen = len - 7;
    while (klen > 0 && *key == ' ')
        key++, klen--;
    while (klen > 0 && key[klen - 1] == ' ')
        klen--;
    *key_len = klen;
    return key;
}

http_caller_t http_caller(http_request_t *rq)
{
    size_t klen = 0;
    const h2o_iovec_t *auth = http_req_header(rq, "authorization");
    const char *key = auth != NULL ? http_bearer_parse(auth->base, auth->len, &klen) : NULL;
    if (key != NULL) {
        if (rq->scopes != 0 || site_api_key_matches(rq->site, key, klen)) return HTTP_CALLER_SERVER;
        const site_set_t *sites = rq->worker->snap->sites;
        for (size_t i = 0, n = site_set_count(sites); i < n; i++)
            if (site_set_at(sites, i) != rq->site &&
                site_api_key_matches(site_set_at(sites, i), key, klen))
                return HTTP_CALLER_OTHER_SITE;
        return HTTP_CALLER_BAD_KEY;
    }
    const h2o_iovec_t *origin = http_req_header(rq, "origin");
    if (origin == NULL) return HTTP_CALLER_NONE;
    return site_origin_allowed(rq->site, origin->base, origin->len) ? HTTP_CALLER_BROWSER
                                                                    : HTTP_CALLER_FOREIGN;
}

void http_caller_error(http_request_t *rq, http_caller_t caller)
{
    switch (caller) {
    case HTTP_CALLER_FOREIGN:
        http_error(rq, 403, "origin_not_allowed",
                   "this origin is not one of the site's declared origins");
        break;
    case HTTP_CALLER_OTHER_SITE:
        http_error(rq, 403, "forbidden", "this API key belongs to another site");
        break;
    case HTTP_CALLER_BAD_KEY:
        http_header(rq, "www-authenticate", H2O_STRLIT("Bearer realm=\"consentd\""));
        http_error(rq, 401, "unauthorized", "the API key is not valid");
        break;
    default:
        http_header(rq, "www-authenticate", H2O_STRLIT("Bearer realm=\"consentd\""));
        http_error(rq, 401, "unauthorized",
                   "call from one of the site's origins or with the site's API key");
        break;
    }
}

void http_cors_headers(http_request_t *rq)
{
    const h2o_iovec_t *origin = http_req_header(rq, "origin");
    if (origin == NULL) return;
    http_header(rq, "access-control-allow-origin", origin->base, origin->len);
    http_header(rq, "vary", H2O_STRLIT("origin"));
}

int http_body_is_json(http_request_t *rq)
{
    const h2o_iovec_t *ct = http_req_header(rq, "content-type");
    static const char json[] = "application/json";
    if (ct == NULL || ct->len < sizeof(json) - 1 ||
        strncasecmp(ct->base, json, sizeof(json) - 1) != 0)
        return 0;
    return ct->len == sizeof(json) - 1 || ct->base[sizeof(json) - 1] == ';' ||
           ct->base[sizeof(json) - 1] == ' ';
}

int http_body_is_json_or_text(http_request_t *rq)
{
    if (http_body_is_json(rq)) return 1;
    const h2o_iovec_t *ct = http_req_header(rq, "content-type");
    static const char text[] = "text/plain";
    size_t n = sizeof(text) - 1;
    return ct != NULL && ct->len >= n && strncasecmp(ct->base, text, n) == 0 &&
           (ct->len == n || ct->base[n] == ';' || ct->base[n] == ' ');
}

static void http_on_snapshot_dispose(void *slot)
{
    snapshot_release(*(snapshot_t **)slot);
}

void http_hold_snapshot(http_request_t *rq)
{
    snapshot_t **slot =
        h2o_mem_alloc_shared(&rq->req->pool, sizeof(*slot), http_on_snapshot_dispose);
    *slot = snapshot_retain(rq->worker->snap);
}

ssize_t http_query_param(http_request_t *rq, const char *name, char *out, size_t cap)
{
    return http_query_find(rq->req->path.base, rq->req->path.len, name, out, cap);
}

long http_query_limit(http_request_t *rq, long def, long max)
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

ssize_t http_query_find(const char *target, size_t len, const char *name, char *out, size_t cap)
{
    const char *path = target, *end = path + len;
    const char *p = memchr(path, '?', len);
    size_t nlen = strlen(name);
    if (p == NULL) return -1;
    for (p++; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = (size_t)(stop - p) - nlen - 1;
            if (vlen >= cap) return -1;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return (ssize_t)vlen;
        }
        p = stop + 1;
    }
    return -1;
}

int http_accepts_encoding(http_request_t *rq, const char *coding)
{
    const h2o_iovec_t *ae = http_req_header(rq, "accept-encoding");
    if (ae == NULL) return 0;
    size_t clen = strlen(coding);
    const char *p = ae->base, *end = ae->base + ae->len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *tok = p;
        while (p < end && *p != ',' && *p != ';' && *p != ' ')
            p++;
        size_t tlen = (size_t)(p - tok);
        int match =
            (tlen == clen && strncasecmp(tok, coding, clen) == 0) || (tlen == 1 && tok[0] == '*');
        int zero = 0;
        while (p < end && *p != ',') {
            if (*p == 'q' && p + 2 < end && p[1] == '=') {
                const char *q = p + 2;
                zero = q[0] == '0';
                for (q++; zero && q < end && *q != ',' && *q != ' '; q++)
                    if (*q != '.' && *q != '0') zero = 0;
            }
            p++;
        }
        if (match && !zero) return 1;
    }
    return 0;
}

int http_etag_matches(http_request_t *rq, const char *etag, size_t len)
{
    const h2o_iovec_t *inm = http_req_header(rq, "if-none-match");
    if (inm == NULL) return 0;
    const char *p = inm->base, *end = inm->base + inm->len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p < end && *p == '*') return 1;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') p += 2;
        const char *tok = p;
        while (p < end && *p != ',' && *p != ' ')
            p++;
        if ((size_t)(p - tok) == len && memcmp(tok, etag, len) == 0) return 1;
    }
    return 0;
}

void http_send_asset(http_request_t *rq, const http_asset_t *a)
{
    static const char *const names[HTTP_ASSET_ENCODINGS] = {NULL, "gzip", "br"};
    int e = http_accepts_encoding(rq, "br")     ? HTTP_ASSET_BROTLI
            : http_accepts_encoding(rq, "gzip") ? HTTP_ASSET_GZIP
                                                : HTTP_ASSET_IDENTITY;
    const http_asset_body_t *body = &a->enc[e];
    http_header(rq, "vary", H2O_STRLIT("accept-encoding"));
    http_header(rq, "etag", body->etag, strlen(body->etag));
    http_header(rq, "cache-control", a->cache_control, strlen(a->cache_control));
    if (http_etag_matches(rq, body->etag, strlen(body->etag))) {
        http_send_static(rq, 304, NULL, NULL, 0);
        return;
    }
    if (names[e] != NULL) http_header(rq, "content-encoding", names[e], strlen(names[e]));
    http_send_static(rq, 200, a->content_type, body->bytes, body->len);
}
