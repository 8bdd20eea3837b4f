/*
 * http.c - answering a request: bodies, the JSON error shape, the access log
 * line and the request metrics, and the guard for late (Redis) answers.
 */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "json.h"
#include "log.h"

#define HTTP_ACCESS_PATH_MAX 256 /* longer paths are cut in the access log */

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

void http_pending_free(http_pending_t *p)
{
    if (p->guard != NULL) *p->guard = NULL;
    snapshot_release(p->snap);
    free(p);
}

uint64_t http_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

/* Copy s into out for a text log line: control characters and spaces are
 * percent-encoded so that a line stays one line of space-separated fields. */
static size_t http_log_text(char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f)
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return o;
}

/* Log-safe copy: JSON-escaped or text-escaped. */
static void http_log_escape(char *out, size_t cap, const char *s, size_t len, int json)
{
    if (json)
        json_escape(out, cap, s, len);
    else
        http_log_text(out, cap, s, len);
}

static void http_access_log(http_request_t *rq, int status, size_t bytes, uint64_t ns)
{
    const config_t *cfg = rq->worker->cfg;
    h2o_req_t *req = rq->req;
    char path[HTTP_ACCESS_PATH_MAX * 6 + 8], method[32], ip[INET6_ADDRSTRLEN + 8] = "";
    size_t plen = req->path.len < HTTP_ACCESS_PATH_MAX ? req->path.len : HTTP_ACCESS_PATH_MAX;
    int json = log_is_json();
    http_log_escape(path, sizeof(path), req->path.base, plen, json);
    http_log_escape(method, sizeof(method), req->method.base,
                    req->method.len < 16 ? req->method.len : 16, json);
    if (cfg->log_client_ip) {
        struct sockaddr_storage ss;
        socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
        if (sl != 0) h2o_socket_getnumerichost((struct sockaddr *)&ss, sl, ip);
    }
    char ts[40], line[sizeof(path) + 256];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03ldZ", now.tv_nsec / 1000000);
    int n;
    if (json)
        n = snprintf(line, sizeof(line),
                     "{\"ts\":\"%s\",\"type\":\"access\",\"method\":\"%s\",\"path\":\"%s\","
                     "\"status\":%d,\"bytes\":%zu,\"duration_ms\":%.3f%s%s%s}",
                     ts, method, path, status, bytes, (double)ns / 1e6,
                     ip[0] ? ",\"client_ip\":\"" : "", ip, ip[0] ? "\"" : "");
    else
        n = snprintf(line, sizeof(line), "%s access %s %s %d %zu %.3fms%s%s", ts, method, path,
                     status, bytes, (double)ns / 1e6, ip[0] ? " " : "", ip);
    if (n > 0) log_raw(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Bookkeeping common to every answer: metrics and the access log. */
static void http_finish(http_request_t *rq, int status, size_t bytes)
{
    uint64_t ns = http_now_ns() - rq->started_ns;
    rq->answered = 1;
    metrics_observe_request(&rq->worker->metrics, rq->route, status, ns);
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
    char *copy = h2o_mem_alloc_pool(&rq->req->pool, len + 1);
    memcpy(copy, body, len);
    http_send_static(rq, status, content_type, copy, len);
}

void http_send_json(http_request_t *rq, int status, const char *json, size_t len)
{
    http_json_headers(rq->req);
    http_send_copy(rq, status, "application/json", json, len);
}

void http_error(http_request_t *rq, int status, const char *code, const char *message)
{
    char body[1300];
    http_send_json(rq, status, body, http_error_body(body, sizeof(body), code, message));
}

/*
 * Storage errors: the one place where each kind of redis_error_t becomes an
 * answer (status, error code, message) and a log line. The README's
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
    case REDIS_ERROR_INTERNAL:
        break;
    }
    return &internal;
}

void http_storage_error(http_request_t *rq, int rc, const redis_error_t *err)
{
    if (err == NULL) err = redis_error_of_rc(rc);
    const http_storage_answer_t *a = http_storage_answer(err->kind);
    char msg[160];
    rq->worker->metrics.redis_errors++;
    snprintf(msg, sizeof(msg), a->message, (unsigned)rq->worker->cfg->redis.command_timeout_ms);
    if (log_enabled(a->log_level))
        log_msg(a->log_level, "redis: %s %.*s: %s (%s)", a->code, (int)rq->req->path.len,
                rq->req->path.base, err->detail, msg);
    if (a->status == 503) http_header(rq, "retry-after", H2O_STRLIT(HTTP_STORAGE_RETRY_AFTER));
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
        http_now_ns() -
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
        if (site_api_key_matches(rq->site, key, klen)) return HTTP_CALLER_SERVER;
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

void http_out_put(http_out_t *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap + n + 1) * 2;
        char *nb = h2o_mem_alloc_pool(o->pool, cap);
        if (o->len > 0) memcpy(nb, o->buf, o->len);
        o->buf = nb;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

void http_out_str(http_out_t *o, const char *s)
{
    http_out_put(o, s, strlen(s));
}

void http_out_printf(http_out_t *o, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0) http_out_put(o, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void http_out_json(http_out_t *o, const char *s, size_t len)
{
    char stack[512];
    size_t cap = len * 6 + 16; /* json_escape keeps 8 bytes spare */
    char *esc = cap <= sizeof(stack) ? stack : h2o_mem_alloc_pool(o->pool, cap);
    http_out_put(o, "\"", 1);
    http_out_put(o, esc, json_escape(esc, cap, s, len));
    http_out_put(o, "\"", 1);
}

void http_out_json_string(http_out_t *o, const char *s)
{
    http_out_json(o, s, strlen(s));
}
