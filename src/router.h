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

/* Give metrics the route names; call once before workers start. */
void router_init(void);
/* h2o's on_req for every request. */
int router_handle(h2o_handler_t *self, h2o_req_t *req);

#endif
