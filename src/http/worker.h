/*
 * worker.h - what one worker thread owns: its h2o context and event loop,
 * its listener, its Redis connection, its view of the sites (a snapshot), its
 * counters.
 *
 * Created and run by server.c; read by the HTTP helpers and endpoints of the
 * requests that thread serves. Everything here is touched only by its own
 * thread, except what `metrics` points to (read by /metrics, see metrics.h).
 */
#ifndef CONSENTD_WORKER_H
#define CONSENTD_WORKER_H

#include <h2o.h>
#include "config.h"
#include "counters.h"
#include "metrics.h"
#include "snapshot.h"

#define WORKER_WAIT_POLL_MS 10

typedef struct worker {
    h2o_context_t ctx; /* first member: an h2o_context_t * is a worker_t * */
    unsigned id;
    const config_t *cfg;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    redis_t *redis;
    redis_t *redis_read;              /* redis.read_url's replica (stats), or NULL */
    struct ratelimit *ratelimit;      /* this thread's token buckets (ratelimit.h) */
    struct health *health;            /* this thread's Redis check for /healthz (api/health.h) */
    struct versions_cache *versions;  /* this thread's public lists of banner versions */
    struct answer_cache *stats_cache; /* this thread's recent stats answers (answer_cache.h) */
    struct http_auth_cache *auth;     /* this thread's keys read from Redis (auth.h) */
    counters_t *counters;             /* acceptance counts waiting for the next flush */
    snapshot_t *snap;                 /* this thread's current sites and banners (one reference) */
    /* This thread's metrics: written here only, read by /metrics (metrics.h). */
    metrics_t *metrics;
    /* WORKER_WAIT_POLL_MS: a request that waits until this thread serves a
     * change it made (a site created or deleted, api/sites.h) polls on it. */
    h2o_timeout_t wait_timeout;
    unsigned workers;  /* how many worker threads the node runs (snapshot_t.serving) */
    uint64_t inflight; /* requests accepted and not yet disposed */
    int stopping;
} worker_t;

static inline worker_t *worker_of(h2o_context_t *ctx)
{
    return (worker_t *)ctx;
}

#endif
