/*
 * router.c - path and method to handler.
 *
 * The table below is every route consentd serves. Matching splits the path
 * (before '?') into segments, percent-decodes each one (a bad escape is a
 * 400), and compares them with the route patterns, where "{site}" resolves
 * the site from the worker's snapshot (404 site_not_found when unknown) and
 * "{param}" captures a segment into rq->params. A path that matches a route
 * but not its method is a 405 with Allow; OPTIONS on a site route is a CORS
 * preflight answered here for the site's declared origins.
 *
 * With an operator listener (config metrics.listen) each listener has its
 * own h2o host and handler: the public one does not serve /metrics, the
 * operator one serves /metrics and /healthz (with the reason in words) and
 * nothing else. A route the listener does not serve is a 404, as if it did
 * not exist.
 *
 * docs/openapi.json describes every route of this table (served at
 * /openapi.json); tests/http/openapi.test.mjs reads this table and fails
 * when a route and the document disagree.
 */
#include "router.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "audit_log.h"
#include "auth.h"
#include "banner.h"
#include "clock.h"
#include "consent.h"
#include "console.h"
#include "dashboard.h"
#include "demo.h"
#include "events.h"
#include "openapi.h"
#include "identify.h"
#include "rights.h"
#include "scans.h"
#include "site_keys.h"
#include "site_config.h"
#include "site_preview.h"
#include "sites.h"
#include "stats.h"
#include "versions.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "prometheus.h"
#include "ratelimit.h"

#define ROUTER_MAX_SEGMENTS 8
#define ROUTER_PREFLIGHT_MAX_AGE "600"

typedef void (*router_fn)(http_request_t *rq);

/* Does the route serve a site's visitors (the banner's scripts, and what
 * its browsers call: consents, events, identify)? A site known but not
 * served (site_t.served 0: created and not yet published, or deleted) is a
 * 404 site_not_found there, and answers every other route of a site: its
 * configuration, its keys, its evidence (rights, log, checkpoints). */
static int router_serves_visitors(unsigned auth, void (*fn)(http_request_t *))
{
    return (auth & AUTH_BROWSER) || fn == banner_get || fn == banner_defaults_get ||
           fn == banner_tcf_stub_get;
}

/* Where a route is served when there is an operator listener (with one
 * listener, everywhere). */
typedef enum {
    ROUTE_PUBLIC = 0, /* the public listener only */
    ROUTE_OPERATOR,   /* the operator listener only */
    ROUTE_BOTH        /* both, with operator_fn on the operator one */
} route_where_t;

typedef enum {
    ROUTER_LISTENER_ONLY = 0, /* no operator listener: every route */
    ROUTER_LISTENER_PUBLIC,   /* beside an operator listener */
    ROUTER_LISTENER_OPERATOR,
    ROUTER_LISTENERS
} router_listener_t;

typedef struct route {
    const char *name;    /* metrics label */
    const char *method;  /* GET also answers HEAD */
    const char *pattern; /* "/v1/sites/{site}/banner.js" */
    router_fn fn;
    /* Who may call it (auth.h): AUTH_PUBLIC, or the scopes of which a key
     * needs one (apikey.h; usually one: SCOPE_SITE_WRITE | SCOPE_RIGHTS is
     * either), | AUTH_BROWSER when the site's origins may without a key,
     * | AUTH_OPERATOR for the operator key alone. http_auth() decides; a
     * route without a valid one stops the start. */
    unsigned auth;
    size_t max_body;       /* larger bodies get 413 */
    int cors;              /* answers browsers of the site's origins */
    int limit;             /* ratelimit_class_t, 0: not rate limited */
    route_where_t where;   /* ROUTE_PUBLIC unless said */
    router_fn operator_fn; /* on the operator listener (ROUTE_OPERATOR, ROUTE_BOTH) */
} route_t;

static const route_t routes[] = {
    {"healthz", "GET", "/healthz", health_get, AUTH_PUBLIC, 0, 0, 0, ROUTE_BOTH,
     health_get_detailed},
    {"metrics", "GET", "/metrics", prometheus_get, AUTH_PUBLIC, 0, 0, 0, ROUTE_OPERATOR,
     prometheus_get},
    {"banner_js", "GET", "/v1/sites/{site}/banner.js", banner_get, AUTH_PUBLIC, 0, 0},
    {"consentd_defaults_js", "GET", "/v1/sites/{site}/consentd-defaults.js", banner_defaults_get,
     AUTH_PUBLIC, 0, 0},
    {"tcf_stub_js", "GET", "/v1/sites/{site}/tcf-stub.js", banner_tcf_stub_get, AUTH_PUBLIC, 0, 0},
    {"consent_post", "POST", "/v1/sites/{site}/consents", consent_post,
     AUTH_BROWSER | SCOPE_CONSENT_SERVER, CONSENT_MAX_BODY_ANY_SITE, 1, RATELIMIT_CONSENTS},
    {"consent_get", "GET", "/v1/sites/{site}/consents/{visitor}", consent_get,
     AUTH_BROWSER | SCOPE_CONSENT_SERVER, 0, 1},
    {"consent_delete", "DELETE", "/v1/sites/{site}/consents/{visitor}", consent_delete,
     AUTH_BROWSER | SCOPE_CONSENT_SERVER, 0, 1, RATELIMIT_CONSENTS},
    {"events_post", "POST", "/v1/sites/{site}/events", events_post,
     AUTH_BROWSER | SCOPE_CONSENT_SERVER, EVENTS_MAX_BODY, 1, RATELIMIT_EVENTS},
    {"identify_post", "POST", "/v1/sites/{site}/identify", identify_post,
     AUTH_BROWSER | SCOPE_CONSENT_SERVER, IDENTIFY_MAX_BODY, 1, RATELIMIT_CONSENTS},
    {"consents_export", "GET", "/v1/sites/{site}/consents", rights_export, SCOPE_RIGHTS, 0, 0},
    {"log_export", "GET", "/v1/sites/{site}/log", audit_log_export, SCOPE_RIGHTS, 0, 0},
    {"log_checkpoints", "GET", "/v1/sites/{site}/log/checkpoints", audit_log_checkpoints,
     AUTH_PUBLIC, 0, 0},
    {"log_inclusion", "GET", "/v1/sites/{site}/log/inclusion", audit_log_inclusion, SCOPE_RIGHTS, 0,
     0},
    {"stats_get", "GET", "/v1/sites/{site}/stats", stats_get, SCOPE_STATS_READ, 0, 0},
    {"scans_post", "POST", "/v1/sites/{site}/scans", scans_post, SCOPE_SCANS_WRITE, SCANS_MAX_BODY,
     0},
    {"scans_latest", "GET", "/v1/sites/{site}/scans/latest", scans_latest, SCOPE_STATS_READ, 0, 0},
    {"site_draft_get", "GET", "/v1/sites/{site}/draft", site_config_draft_get, SCOPE_SITE_WRITE, 0,
     0},
    {"site_draft_put", "PUT", "/v1/sites/{site}/draft", site_config_draft_put, SCOPE_SITE_WRITE,
     SITE_CONFIG_MAX_BODY, 0},
    {"site_versions", "GET", "/v1/sites/{site}/versions", site_config_versions_list,
     SCOPE_SITE_WRITE, 0, 0},
    {"site_version_post", "POST", "/v1/sites/{site}/versions", site_config_versions_post,
     SCOPE_SITE_WRITE, 4096, 0},
    {"site_version_get", "GET", "/v1/sites/{site}/versions/{version}", site_config_version_get,
     SCOPE_SITE_WRITE | SCOPE_RIGHTS, 0, 0},
    {"site_diff", "GET", "/v1/sites/{site}/diff", site_config_diff, SCOPE_SITE_WRITE, 0, 0},
    {"site_publish", "POST", "/v1/sites/{site}/versions/{version}/publish", site_config_publish,
     SCOPE_SITE_PUBLISH, 1024, 0},
    {"sites_list", "GET", "/v1/sites", sites_list, SCOPE_SITE_WRITE, 0, 0},
    {"sites_post", "POST", "/v1/sites", sites_create, SCOPE_SITE_WRITE, SITES_MAX_BODY, 0},
    {"site_delete", "DELETE", "/v1/sites/{site}", sites_delete, AUTH_OPERATOR | SCOPE_SITE_PUBLISH,
     0, 0},
    {"site_draft_check", "POST", "/v1/sites/{site}/draft/check", site_preview_check,
     SCOPE_SITE_WRITE, SITE_CONFIG_MAX_BODY, 0},
    {"site_preview_post", "POST", "/v1/sites/{site}/previews", site_preview_post, SCOPE_SITE_WRITE,
     SITE_CONFIG_MAX_BODY, 0},
    {"site_preview_banner", "GET", "/v1/sites/{site}/previews/{id}/banner.js", site_preview_banner,
     AUTH_PUBLIC, 0, 0},
    {"visitor_get", "GET", "/v1/sites/{site}/visitors/{visitor}", rights_access, SCOPE_RIGHTS, 0,
     0},
    {"visitor_delete", "DELETE", "/v1/sites/{site}/visitors/{visitor}", rights_erase, SCOPE_RIGHTS,
     0, 0},
    {"banner_versions", "GET", "/v1/sites/{site}/banner-versions", versions_list, SCOPE_STATS_READ,
     0, 0},
    {"banner_version_get", "GET", "/v1/sites/{site}/banner-versions/{hash}", versions_get,
     SCOPE_STATS_READ, 0, 0},
    {"banner_versions_public", "GET", "/v1/sites/{site}/banner-versions.json", versions_public,
     AUTH_PUBLIC, 0, 0},
    {"keys_post", "POST", "/v1/sites/{site}/keys", site_keys_post, SCOPE_KEYS_ADMIN,
     SITE_KEYS_MAX_BODY, 0},
    {"keys_list", "GET", "/v1/sites/{site}/keys", site_keys_list, SCOPE_KEYS_ADMIN, 0, 0},
    {"keys_delete", "DELETE", "/v1/sites/{site}/keys/{name}", site_keys_delete, SCOPE_KEYS_ADMIN, 0,
     0},
    {"demo", "GET", "/demo/{file}", demo_get, AUTH_PUBLIC, 0, 0},
    {"dashboard", "GET", "/dashboard", dashboard_get, AUTH_PUBLIC, 0, 0},
    {"dashboard_file", "GET", "/dashboard/{file}", dashboard_get, AUTH_PUBLIC, 0, 0},
    {"console", "GET", "/console", console_get, AUTH_PUBLIC, 0, 0},
    {"console_file", "GET", "/console/{file}", console_get, AUTH_PUBLIC, 0, 0},
    {"jwks", "GET", "/.well-known/jwks.json", consent_jwks, AUTH_PUBLIC, 0, 0},
    {"openapi", "GET", "/openapi.json", openapi_get, AUTH_PUBLIC, 0, 0},
};
#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))
_Static_assert(ROUTE_COUNT < ROUTER_NO_ROUTE && ROUTE_COUNT <= 64,
               "router_target_t.matched has one bit per route");
enum { ROUTE_PREFLIGHT = ROUTE_COUNT, ROUTE_UNMATCHED, ROUTE_NAMES };
_Static_assert(ROUTE_NAMES <= METRICS_MAX_ROUTES,
               "metrics.c counts every route name: raise METRICS_MAX_ROUTES");

typedef struct route_pattern {
    h2o_iovec_t segments[ROUTER_MAX_SEGMENTS];
    size_t n;
} route_pattern_t;

/* Filled by router_init() before workers start; read-only afterwards. */
static route_pattern_t patterns[ROUTE_COUNT];
static const char *route_names[ROUTE_NAMES];
static uint64_t route_served[ROUTER_LISTENERS]; /* bit r: route r is served there */

/* h2o's handler, one per listener's host. */
typedef struct router_handler {
    h2o_handler_t super;
    router_listener_t listener;
} router_handler_t;

static size_t router_split(const char *path, size_t len, h2o_iovec_t *out, size_t max)
{
    size_t n = 0, i = 0;
    if (len > 0 && path[0] == '/') i = 1;
    while (i <= len && n < max + 1) {
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        if (n == max) return max + 1; /* too many segments: matches nothing */
        out[n++] = h2o_iovec_init(path + start, i - start);
        i++;
    }
    return n;
}

static void router_register(h2o_hostconf_t *host, router_listener_t listener, size_t max_body)
{
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    router_handler_t *handler = (router_handler_t *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = router_handle;
    handler->listener = listener;
    http_own_errors_register(&host->fallback_path, max_body, ROUTE_UNMATCHED);
    for (size_t r = 0; r < ROUTE_COUNT; r++) {
        /* Every route says who may call it (auth.h). */
        if (!http_auth_declaration_ok(routes[r].auth,
                                      strstr(routes[r].pattern, "{site}") != NULL)) {
            log_msg(LOG_ERROR, "router: route %s declares no valid scope (auth.h)", routes[r].name);
            abort();
        }
        patterns[r].n = router_split(routes[r].pattern, strlen(routes[r].pattern),
                                     patterns[r].segments, ROUTER_MAX_SEGMENTS);
        route_names[r] = routes[r].name;
        route_served[ROUTER_LISTENER_ONLY] |= (uint64_t)1 << r;
        if (routes[r].where != ROUTE_OPERATOR)
            route_served[ROUTER_LISTENER_PUBLIC] |= (uint64_t)1 << r;
        if (routes[r].where != ROUTE_PUBLIC)
            route_served[ROUTER_LISTENER_OPERATOR] |= (uint64_t)1 << r;
    }
    http_access_log_target(router_log_target);
    route_names[ROUTE_PREFLIGHT] = "cors_preflight";
    route_names[ROUTE_UNMATCHED] = "unmatched";
    metrics_set_routes(route_names, ROUTE_NAMES);
}

void router_init(h2o_hostconf_t *host, size_t max_body)
{
    router_register(host, ROUTER_LISTENER_ONLY, max_body);
}

void router_init_split(h2o_hostconf_t *public_host, h2o_hostconf_t *operator_host, size_t max_body)
{
    router_register(public_host, ROUTER_LISTENER_PUBLIC, max_body);
    router_register(operator_host, ROUTER_LISTENER_OPERATOR, max_body);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int router_is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Percent-decode seg in place into pool memory; -1 on a bad escape or a
 * control character (NUL included), raw or escaped. h2o's HTTP/1 parser
 * already refuses raw ones; HTTP/2 paths come from HPACK unchecked. */
static int router_decode(h2o_mem_pool_t *pool, h2o_iovec_t *seg)
{
    int escaped = 0;
    for (size_t i = 0; i < seg->len; i++) {
        if (router_is_control((unsigned char)seg->base[i])) return -1;
        escaped |= seg->base[i] == '%';
    }
    if (!escaped) return 0;
    char *out = h2o_mem_alloc_pool(pool, seg->len + 1);
    size_t o = 0;
    for (size_t i = 0; i < seg->len; i++) {
        if (seg->base[i] != '%') {
            out[o++] = seg->base[i];
            continue;
        }
        int hi, lo;
        if (i + 2 >= seg->len || (hi = hexval(seg->base[i + 1])) < 0 ||
            (lo = hexval(seg->base[i + 2])) < 0 || router_is_control((unsigned char)(hi << 4 | lo)))
            return -1;
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    seg->base = out;
    seg->len = o;
    return 0;
}

static int router_is_literal(const h2o_iovec_t *s)
{
    return !(s->len > 0 && s->base[0] == '{');
}

/* Does the decoded path match route r? Fills site id and params. */
static int router_match(size_t r, const h2o_iovec_t *segs, size_t n, h2o_iovec_t *site_id,
                        h2o_iovec_t *params)
{
    const route_pattern_t *p = &patterns[r];
    size_t np = 0;
    if (p->n != n) return 0;
    for (size_t i = 0; i < n; i++) {
        const h2o_iovec_t *ps = &p->segments[i];
        if (router_is_literal(ps)) {
            if (!h2o_memis(ps->base, ps->len, segs[i].base, segs[i].len)) return 0;
        } else if (h2o_memis(ps->base, ps->len, H2O_STRLIT("{site}"))) {
            *site_id = segs[i];
        } else if (np < HTTP_MAX_PARAMS) {
            params[np++] = segs[i];
        }
    }
    return 1;
}

static int router_method_is(const char *got, size_t got_len, const char *method)
{
    size_t len = strlen(method);
    if (h2o_memis(got, got_len, method, len)) return 1;
    return len == 3 && memcmp(method, "GET", 3) == 0 && h2o_memis(got, got_len, H2O_STRLIT("HEAD"));
}

/* ---- the request target as the access log shows it -------------------------- */

#define ROUTER_LOG_VISITOR "{visitor}"
#define ROUTER_LOG_MASKED "{masked}"
#define ROUTER_LOG_SECRET "{id}"   /* a preview's id: its only secret (site_preview.h) */
#define ROUTER_LOG_KEPT_SEGMENTS 4 /* of a path that matches no route */

/* Does raw segment seg (as sent, maybe percent-encoded) decode to lit? */
static int router_segment_is(const char *seg, size_t len, const h2o_iovec_t *lit)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++, o++) {
        char c = seg[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hexval(seg[i + 1])) < 0 || (lo = hexval(seg[i + 2])) < 0)
                return 0;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o >= lit->len || lit->base[o] != c) return 0;
    }
    return o == lit->len;
}

/* Bit i: segment i of the path (plen bytes, raw) is masked in the log, by
 * *marker: the {visitor} segments of the routes whose pattern the path
 * matches, or every segment past the fourth of a path that matches none.
 * *secrets: the {id} segments of the routes it matches (a preview's id),
 * masked as ROUTER_LOG_SECRET. */
static uint64_t router_log_mask(const char *path, size_t plen, const char **marker,
                                uint64_t *secrets)
{
    *secrets = 0;
    h2o_iovec_t segs[ROUTER_MAX_SEGMENTS];
    size_t n = router_split(path, plen, segs, ROUTER_MAX_SEGMENTS);
    uint64_t mask = 0;
    int matched = 0;
    for (size_t r = 0; r < ROUTE_COUNT && n <= ROUTER_MAX_SEGMENTS; r++) {
        const route_pattern_t *p = &patterns[r];
        if (p->n != n) continue;
        uint64_t visitors = 0, ids = 0;
        size_t i;
        for (i = 0; i < n; i++) {
            const h2o_iovec_t *ps = &p->segments[i];
            if (router_is_literal(ps)) {
                if (!router_segment_is(segs[i].base, segs[i].len, ps)) break;
            } else if (h2o_memis(ps->base, ps->len, H2O_STRLIT("{visitor}"))) {
                visitors |= (uint64_t)1 << i;
            } else if (h2o_memis(ps->base, ps->len, H2O_STRLIT("{id}"))) {
                ids |= (uint64_t)1 << i;
            }
        }
        if (i < n) continue;
        matched = 1;
        mask |= visitors;
        *secrets |= ids;
    }
    *marker = matched ? ROUTER_LOG_VISITOR : ROUTER_LOG_MASKED;
    /* A mistyped route (an extra segment, a trailing slash) may carry an id. */
    return matched ? mask : ~(uint64_t)0 << ROUTER_LOG_KEPT_SEGMENTS;
}

const char *router_route_pattern(unsigned route)
{
    return route < ROUTE_COUNT ? routes[route].pattern : NULL;
}

size_t router_log_target(const char *target, size_t len, char *out, size_t cap)
{
    if (cap == 0) return 0;
    const char *q = memchr(target, '?', len), *marker;
    size_t plen = q != NULL ? (size_t)(q - target) : len, o = 0, room = cap - 1;
    uint64_t secrets;
    uint64_t mask = router_log_mask(target, plen, &marker, &secrets);
    /* Segments as router_split() counts them: after a leading '/', each
     * up to the next '/'. An empty one stays empty. */
    size_t i = plen > 0 && target[0] == '/' ? 1 : 0, seg = 0;
    if (i == 1 && o < room) out[o++] = '/';
    while (i <= plen && o < room) {
        size_t end = i;
        while (end < plen && target[end] != '/')
            end++;
        unsigned bit = seg < 63 ? (unsigned)seg : 63;
        int secret = end > i && (secrets >> bit & 1);
        int masked = end > i && ((mask >> bit & 1) || secret);
        const char *mark = secret && !(mask >> bit & 1) ? ROUTER_LOG_SECRET : marker;
        const char *text = masked ? mark : target + i;
        size_t tlen = masked ? strlen(mark) : end - i;
        if (tlen > room - o) {
            if (masked) { /* never half a marker, nor a query after a cut */
                q = NULL;
                break;
            }
            tlen = room - o;
        }
        memcpy(out + o, text, tlen);
        o += tlen;
        if (end < plen && o < room) out[o++] = '/';
        i = end + 1;
        seg++;
    }
    /* The query as sent: no route takes a person's identifier there. */
    if (q != NULL && o < room) {
        size_t qlen = len - plen < room - o ? len - plen : room - o;
        memcpy(out + o, q, qlen);
        o += qlen;
    }
    out[o] = '\0';
    return o;
}

static void router_on_dispose(void *p)
{
    http_request_t *rq = p;
    worker_t *w = rq->worker;
    w->inflight--;
    metrics_gauge_set(w->metrics, METRICS_INFLIGHT, w->inflight);
    http_request_disposed(rq);
}

/* Allow: the methods of every route whose pattern matched. */
static void router_allow(uint64_t matched, int cors, char *allow, size_t cap)
{
    size_t o = 0;
    allow[0] = '\0';
    for (size_t r = 0; r < ROUTE_COUNT; r++) {
        if (!(matched >> r & 1)) continue;
        o += (size_t)snprintf(allow + o, cap - o, "%s%s", o ? ", " : "", routes[r].method);
        if (strcmp(routes[r].method, "GET") == 0)
            o += (size_t)snprintf(allow + o, cap - o, ", HEAD");
    }
    if (cors) snprintf(allow + o, cap - o, ", OPTIONS");
}

static void router_preflight(http_request_t *rq, const char *allow)
{
    const h2o_iovec_t *origin = http_req_header(rq, "origin");
    if (origin == NULL || !site_origin_allowed(rq->site, origin->base, origin->len)) {
        http_error(rq, 403, "origin_not_allowed",
                   "this origin is not one of the site's declared origins");
        return;
    }
    http_header(rq, "access-control-allow-origin", origin->base, origin->len);
    http_header(rq, "access-control-allow-methods", allow, strlen(allow));
    http_header(rq, "access-control-allow-headers", H2O_STRLIT("content-type, authorization"));
    http_header(rq, "access-control-max-age", H2O_STRLIT(ROUTER_PREFLIGHT_MAX_AGE));
    http_header(rq, "vary", H2O_STRLIT("origin"));
    http_send_static(rq, 204, NULL, NULL, 0);
}

/* The last line of header name, or NULL: each proxy appends its own line
 * or element, so the last line is the one the proxy nearest to us wrote. */
static const h2o_iovec_t *router_last_header(http_request_t *rq, const char *name)
{
    const h2o_headers_t *headers = &rq->req->headers;
    ssize_t i = -1, last = -1;
    while ((i = h2o_find_header_by_str(headers, name, strlen(name), i)) >= 0)
        last = i;
    return last < 0 ? NULL : &headers->entries[last].value;
}

/* Once per process: a forwarded value that is no address says the proxy is
 * not what the configuration says. The value is not logged (client bytes). */
static atomic_int router_forwarded_warned;

/* The key of the client for rate limiting (4 or 16 bytes, see
 * ratelimit_forwarded_key): the right-most address of the configured
 * forwarding header when there is one, else the peer's address (*loopback
 * set when that is 127.0.0.0/8 or ::1). */
static size_t router_client_key(http_request_t *rq, unsigned char out[16], int *loopback)
{
    *loopback = 0;
    const config_t *cfg = rq->worker->cfg;
    if (cfg->rl_client_header[0] != '\0') {
        const h2o_iovec_t *v = router_last_header(rq, cfg->rl_client_header);
        if (v != NULL) {
            size_t len = ratelimit_forwarded_key(v->base, v->len, out);
            if (len != 0) return len;
            if (atomic_exchange(&router_forwarded_warned, 1) == 0)
                log_msg(LOG_WARN,
                        "rate_limit.client_address_header: the last element of a request's %s is "
                        "not an IP address: that client is limited by the peer address instead "
                        "(logged once; check that the proxy appends the client address)",
                        cfg->rl_client_header);
        }
    }
    struct sockaddr_storage ss;
    socklen_t sl = rq->req->conn->callbacks->get_peername(rq->req->conn, (struct sockaddr *)&ss);
    return ratelimit_peer_key(&ss, sl, out, loopback);
}

/* 1 when the client may go on; else answers 429 with Retry-After. */
static int router_rate_ok(http_request_t *rq, int klass)
{
    const config_t *cfg = rq->worker->cfg;
    uint32_t rate =
        klass == RATELIMIT_EVENTS ? cfg->rl_events_per_second : cfg->rl_consents_per_second;
    uint32_t burst = klass == RATELIMIT_EVENTS ? cfg->rl_events_burst : cfg->rl_consents_burst;
    if (rate == 0 || rq->worker->ratelimit == NULL) return 1;
    unsigned char key[16];
    int loopback;
    size_t len = router_client_key(rq, key, &loopback);
    if (loopback && cfg->rl_exempt_loopback) return 1;
    uint32_t wait_ms = ratelimit_take(rq->worker->ratelimit, (ratelimit_class_t)klass, key, len,
                                      rate, burst, clock_mono_ns() / 1000000);
    if (wait_ms == 0) return 1;
    char secs[16];
    int n = snprintf(secs, sizeof(secs), "%u", (wait_ms + 999) / 1000);
    http_header(rq, "retry-after", secs, (size_t)n);
    http_error(rq, 429, "rate_limited",
               "too many requests from this address: retry after the delay in Retry-After");
    return 0;
}

int router_resolve(h2o_mem_pool_t *pool, const char *target, size_t len, const char *method,
                   size_t method_len, router_target_t *out)
{
    memset(out, 0, sizeof(*out));
    out->route = ROUTER_NO_ROUTE;
    size_t plen = len;
    const char *q = memchr(target, '?', len);
    if (q != NULL) plen = (size_t)(q - target);
    if (plen == 0 || target[0] != '/') return out->status = 400;
    h2o_iovec_t segs[ROUTER_MAX_SEGMENTS];
    size_t n = router_split(target, plen, segs, ROUTER_MAX_SEGMENTS);
    for (size_t i = 0; i < n && n <= ROUTER_MAX_SEGMENTS; i++)
        if (router_decode(pool, &segs[i]) != 0) return out->status = 400;
    h2o_iovec_t site_id = {NULL, 0};
    for (size_t r = 0; r < ROUTE_COUNT; r++) {
        h2o_iovec_t params[HTTP_MAX_PARAMS] = {{NULL, 0}};
        if (!router_match(r, segs, n, &site_id, params)) continue;
        out->matched |= (uint64_t)1 << r;
        out->cors |= routes[r].cors;
        if (!router_method_is(method, method_len, routes[r].method)) continue;
        out->route = (unsigned)r;
        memcpy(out->params, params, sizeof(params));
        break;
    }
    if (out->matched == 0) return out->status = 404;
    out->site_id = site_id;
    return 0;
}

int router_handle(h2o_handler_t *self, h2o_req_t *req)
{
    router_listener_t listener = ((router_handler_t *)self)->listener;
    worker_t *w = worker_of(req->conn->ctx);
    http_request_t *rq = h2o_mem_alloc_shared(&req->pool, sizeof(*rq), router_on_dispose);
    memset(rq, 0, sizeof(*rq));
    rq->req = req;
    rq->worker = w;
    rq->started_ns = clock_mono_ns();
    rq->route = ROUTE_UNMATCHED;
    w->inflight++;
    metrics_gauge_set(w->metrics, METRICS_INFLIGHT, w->inflight);

    router_target_t t;
    switch (router_resolve(&req->pool, req->path.base, req->path.len, req->method.base,
                           req->method.len, &t)) {
    case 0:
        /* Only the routes this listener serves exist here. */
        t.matched &= route_served[listener];
        if (t.matched == 0) {
            http_error(rq, 404, "not_found", "no such route");
            return 0;
        }
        if (t.route != ROUTER_NO_ROUTE && !(t.matched >> t.route & 1)) t.route = ROUTER_NO_ROUTE;
        break;
    case 404:
        http_error(rq, 404, "not_found", "no such route");
        return 0;
    default:
        http_error(rq, 400, "bad_request",
                   req->path.len == 0 || req->path.base[0] != '/'
                       ? "the request target must be an absolute path"
                       : "the path has a malformed percent-encoding or a control character");
        return 0;
    }
    if (t.route != ROUTER_NO_ROUTE) {
        rq->route = t.route;
        memcpy(rq->params, t.params, sizeof(rq->params));
    }
    if (t.site_id.base != NULL) {
        rq->site = site_find(w->snap->sites, t.site_id.base, t.site_id.len);
        if (rq->site == NULL) {
            http_error(rq, 404, "site_not_found", "no such site");
            return 0;
        }
    }
    if (rq->site != NULL && !rq->site->served &&
        (rq->route == ROUTE_UNMATCHED
             ? t.cors
             : router_serves_visitors(routes[rq->route].auth, routes[rq->route].fn))) {
        http_error(rq, 404, "site_not_found",
                   "this site is not served (created and not yet published, or deleted)");
        return 0;
    }
    if (rq->route == ROUTE_UNMATCHED) {
        char allow[128];
        router_allow(t.matched, t.cors, allow, sizeof(allow));
        if (t.cors && rq->site != NULL &&
            h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS"))) {
            rq->route = ROUTE_PREFLIGHT;
            router_preflight(rq, allow);
            return 0;
        }
        http_header(rq, "allow", allow, strlen(allow));
        http_error(rq, 405, "method_not_allowed", "this route does not answer this method");
        return 0;
    }
    const route_t *route = &routes[rq->route];
    if (route->cors) {
        /* Before any answer, errors included, so the banner can read them. */
        const h2o_iovec_t *origin = http_req_header(rq, "origin");
        if (origin != NULL && site_origin_allowed(rq->site, origin->base, origin->len))
            http_cors_headers(rq);
    }
    if (req->entity.base != NULL && req->entity.len > route->max_body) {
        http_error(rq, 413, "payload_too_large",
                   route->max_body == 0 ? "this route takes no body" : "the body is too large");
        return 0;
    }
    if (route->limit != 0 && !router_rate_ok(rq, route->limit)) return 0;
    http_auth(rq, route->auth,
              listener == ROUTER_LISTENER_OPERATOR ? route->operator_fn : route->fn);
    return 0;
}
