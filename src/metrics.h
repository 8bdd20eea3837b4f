/*
 * metrics.h - Prometheus counters and histograms.
 *
 * Each worker thread owns one metrics_t and is its only writer, so counting
 * costs a few plain increments on the request path. GET /metrics (served by
 * any worker) sums every registered metrics_t with relaxed atomic loads.
 * Workers register their metrics_t before threads start; the registry is
 * read-only afterwards.
 */
#ifndef CONSENTD_METRICS_H
#define CONSENTD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_ROUTES 32
#define METRICS_MAX_WORKERS 256
/* Upper bounds of the latency buckets, in seconds (+Inf is implicit). */
#define METRICS_BUCKETS 14

/* The statuses counted one by one; anything else counts under "other". */
#define METRICS_STATUSES 20

typedef struct metrics {
    uint64_t requests[METRICS_MAX_ROUTES][METRICS_STATUSES];
    uint64_t latency_buckets[METRICS_MAX_ROUTES][METRICS_BUCKETS + 1];
    uint64_t latency_sum_ns[METRICS_MAX_ROUTES];
    uint64_t redis_buckets[METRICS_BUCKETS + 1];
    uint64_t redis_sum_ns;
    uint64_t redis_errors;           /* timeouts and disconnects seen by callers */
    uint64_t redis_connected;        /* gauge: 0 or 1 */
    uint64_t inflight;               /* gauge: requests accepted and not yet disposed */
    uint64_t counter_flushes;        /* counter batches Redis applied */
    uint64_t counter_flush_failures; /* batches dropped: outcome unknown or refused */
    uint64_t counter_dropped;        /* counts and visitor ids over the memory bound */
    uint64_t counter_pending;        /* gauge: counts and visitor ids waiting in memory */
    uint64_t connections_refused;    /* closed at accept: the client held its share */
} metrics_t;

/* Route names (index = route id), given once by the router before any
 * worker starts. */
void metrics_set_routes(const char *const *names, size_t n);
/* Called by each worker, before threads start. */
void metrics_register(metrics_t *m);

/* Writer side: only ever the thread that owns m. */
void metrics_observe_request(metrics_t *m, unsigned route, int status, uint64_t ns);
void metrics_observe_redis(metrics_t *m, uint64_t ns);
void metrics_gauge_set(uint64_t *gauge, uint64_t value);
/* Add n to one of m's counters. */
void metrics_count(uint64_t *counter, uint64_t n);

/* Render the Prometheus text exposition of all registered workers into a
 * malloc'd buffer (caller frees). */
char *metrics_render(size_t *len);

#endif
