/*
 * router.h - path and method to handler.
 *
 * The route table is in router.c. It answers 404 (unknown route or site),
 * 405 (with Allow), 413 (body over the route's limit) itself, resolves
 * {site}, answers CORS preflights for the site routes, and hands the rest to
 * the endpoint.
 */
#ifndef CONSENTD_ROUTER_H
#define CONSENTD_ROUTER_H

#include <h2o.h>
#include "worker.h"

#include <stdint.h>
#include "http.h"

#define ROUTER_NO_ROUTE 255u

/* What a request target and method name, before the site is looked up. */
typedef struct router_target {
    int status;                          /* 0, 400 (malformed path) or 404 (no route) */
    unsigned route;                      /* index of the route, ROUTER_NO_ROUTE: wrong method */
    uint64_t matched;                    /* bit r: route r's pattern matched the path */
    int cors;                            /* one of the matched routes answers browsers */
    h2o_iovec_t site_id;                 /* the {site} segment, decoded; base NULL when none */
    h2o_iovec_t params[HTTP_MAX_PARAMS]; /* the other {param} segments, decoded */
} router_target_t;

/* Split target (path and query, untrusted bytes) into segments, percent-
 * decode them into pool memory and match them with the route table.
 * Returns out->status. Pure but for the pool: tests and fuzzers call it. */
int router_resolve(h2o_mem_pool_t *pool, const char *target, size_t len, const char *method,
                   size_t method_len, router_target_t *out);

/* The request target (path and query, untrusted bytes) as the access log
 * shows it, into out (at most cap - 1 bytes and a NUL; returns the length):
 * no identifier of a person. A segment that a route's pattern names
 * {visitor} becomes "{visitor}", whatever the method and whether the site
 * exists; in a path that matches no route's pattern (a mistyped one may
 * carry an id), every segment past the fourth becomes "{masked}". A fixed
 * marker, not a hash: a hash of a known id would find its lines. The query
 * is kept as sent (no route takes a person's identifier there). Reads the
 * route table: call router_init() first. */
size_t router_log_target(const char *target, size_t len, char *out, size_t cap);

/* The pattern of route (router_target_t.route), "/v1/sites/{site}/..."; NULL
 * for ROUTER_NO_ROUTE or an index past the table. Static storage. */
const char *router_route_pattern(unsigned route);

/* Routes every request of host to router_handle, gives h2o's own error
 * answers there the JSON shape (max_body: h2o's body limit), and gives
 * metrics the route names; call once before workers start. Every route is
 * served there: the one listener. */
void router_init(h2o_hostconf_t *host, size_t max_body);
/* Instead of router_init when there is an operator listener (config
 * metrics.listen): public_host serves every route but /metrics (404 there),
 * operator_host only /metrics and /healthz, the latter with the reason in
 * words (health_get_detailed); everything else is a 404 there. */
void router_init_split(h2o_hostconf_t *public_host, h2o_hostconf_t *operator_host, size_t max_body);
/* h2o's on_req for every request. */
int router_handle(h2o_handler_t *self, h2o_req_t *req);

#endif
