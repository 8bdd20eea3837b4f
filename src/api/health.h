/*
 * health.h - GET /healthz: can this worker reach Redis?
 *
 *   200 {"status":"ok","checks":{"redis":{"ok":true}}}
 *   503 {"status":"unavailable","checks":{"redis":{"ok":false,"error":REASON}}}
 *       with Retry-After: 1, REASON one of HEALTH_REASONS below.
 *
 * Cost: the check is one store_ping() (a PING) per worker thread at a time,
 * and its result answers every /healthz of that worker for
 * HEALTH_REUSE_MS (unless a request of the worker saw Redis fail since):
 * a burst costs Redis at most one PING per worker per HEALTH_REUSE_MS
 * whatever the request rate. Requests that come while a
 * check is in flight wait for it (at most redis.command_timeout_ms; beyond
 * HEALTH_WAITERS_MAX waiting, a request gets the last result). A worker
 * whose connection is down answers 503 at once, without a command.
 *
 * Public answers name no host or address and carry no Redis error text
 * (both say where Redis is, or how it is set up): REASON is a word from a
 * fixed list. The reason in words (store_connected's, Redis' own error)
 * goes to the log, and into "detail" for health_get_detailed(), which is
 * for the operator only: the router serves it on the operator listener
 * (config.h metrics.listen), never on the public one.
 *
 * Threads: one health_t per worker thread (worker_t.health), created and
 * freed by that thread (server.c), touched by it only.
 */
#ifndef CONSENTD_HEALTH_H
#define CONSENTD_HEALTH_H

#include "http.h"

#define HEALTH_REUSE_MS 1000
#define HEALTH_WAITERS_MAX 1024
/* The public reasons, in health_status_t order after "ok". */
#define HEALTH_REASONS "not_connected, timeout, disconnected, busy, error"

typedef struct health health_t;

/* NULL when out of memory (health_get then answers 500). */
health_t *health_create(worker_t *w);
/* Call after redis_destroy(): its callbacks may still answer waiters. */
void health_free(health_t *h);

void health_get(http_request_t *rq);
/* The same, with "detail": the reason in words, for the operator. */
void health_get_detailed(http_request_t *rq);

#endif
