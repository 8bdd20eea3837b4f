/*
 * metrics.h - Prometheus counters, gauges and histograms.
 *
 * Threads: each worker thread owns one metrics_t (metrics_create(), before
 * threads start) and is its only writer, through the functions below. GET
 * /metrics, served by any worker, sums every metrics_t with relaxed atomic
 * loads. With one writer, a relaxed atomic load plus a relaxed atomic store
 * is an exact increment and a race-free one by the C11 memory model; on
 * x86-64 both are plain moves (no lock prefix), as cheap as `++`.
 * The layout is private to metrics.c (metrics_t is opaque): no other file
 * can bump a field with a plain, racy `++`.
 *
 * Ownership: a metrics_t lives as long as the process (the registry keeps
 * it, /metrics may read it until exit).
 */
#ifndef CONSENTD_METRICS_H
#define CONSENTD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_ROUTES 64 /* route names: the router asserts it has no more */
#define METRICS_MAX_WORKERS 256
/* Upper bounds of the latency buckets, in seconds (+Inf is implicit). */
#define METRICS_BUCKETS 14

/* The statuses counted one by one; anything else counts under "other". */
#define METRICS_STATUSES 20

typedef struct metrics metrics_t;

/* Counters (only ever go up); their Prometheus names are in metrics.c. */
typedef enum metrics_counter {
    METRICS_REDIS_ERRORS = 0,        /* timeouts and disconnects seen by callers */
    METRICS_CONNECTIONS_REFUSED,     /* closed at accept: the client held its share */
    METRICS_STATS_FLUSHES,           /* acceptance-count batches Redis applied */
    METRICS_STATS_FLUSH_FAILURES,    /* batches dropped: refused, too old, over the bound */
    METRICS_STATS_FLUSH_RETRIES,     /* batches sent again (outcome unknown, or "not now") */
    METRICS_STATS_FLUSH_DUPLICATES,  /* batches sent again that Redis had applied: skipped */
    METRICS_STATS_DROPPED,           /* counts and visitor ids over the memory bound */
    METRICS_ANSWERS_DROPPED,         /* a second answer to one request (a bug) */
    METRICS_REQUESTS_UNANSWERED,     /* disposed without an answer (a bug) */
    METRICS_LOG_CHECKPOINTS,         /* signed log checkpoints this node appended */
    METRICS_LOG_CHECKPOINT_FAILURES, /* checkpointer runs that failed (Redis, signing) */
    METRICS_READS_REPLICA,           /* stats reads the replica (redis.read_url) answered */
    METRICS_READS_FALLBACK,          /* stats reads meant for the replica the primary answered */
    METRICS_COUNTERS                 /* how many */
} metrics_counter_t;

/* Gauges (set to the writer's current value). */
typedef enum metrics_gauge {
    METRICS_REDIS_CONNECTED = 0,   /* 0 or 1 */
    METRICS_INFLIGHT,              /* requests accepted and not yet disposed */
    METRICS_STATS_PENDING,         /* counts and visitor ids waiting in memory */
    METRICS_STATS_BATCHES_WAITING, /* batches waiting to be sent again */
    METRICS_REDIS_READ_CONNECTED,  /* 0 or 1: the connection to redis.read_url */
    METRICS_GAUGES                 /* how many */
} metrics_gauge_t;

/* Route names (index = route id), given once by the router before any
 * worker starts; metrics_route_name() is "?" for an unknown id. */
void metrics_set_routes(const char *const *names, size_t n);
const char *metrics_route_name(unsigned route);
/* A zeroed metrics_t, registered for /metrics: called for each worker
 * before threads start. NULL when out of memory or over
 * METRICS_MAX_WORKERS. */
metrics_t *metrics_create(void);

/* Writer side: only ever the thread that owns m. */
void metrics_observe_request(metrics_t *m, unsigned route, int status, uint64_t ns);
void metrics_observe_redis(metrics_t *m, uint64_t ns);
void metrics_count(metrics_t *m, metrics_counter_t counter, uint64_t n);
void metrics_gauge_set(metrics_t *m, metrics_gauge_t gauge, uint64_t value);
/* Reader side, any thread: one worker's current value (tests, logs). */
uint64_t metrics_counter_value(const metrics_t *m, metrics_counter_t counter);

/* Process-wide counters, for threads that own no metrics_t (the banners'
 * compressing threads): any thread, an atomic add. Rendered with the
 * workers' counters. */
typedef enum metrics_process_counter {
    METRICS_BANNER_COMPRESSED_LOCAL = 0, /* banner encodings this node compressed */
    METRICS_BANNER_COMPRESSED_REDIS,     /* banner encodings read from Redis instead */
    METRICS_BANNER_BLOBS_REFUSED,        /* shared blobs that did not match: refused */
    METRICS_PROCESS_COUNTERS             /* how many */
} metrics_process_counter_t;
void metrics_process_count(metrics_process_counter_t counter, uint64_t n);
uint64_t metrics_process_value(metrics_process_counter_t counter);

/* Render the Prometheus text exposition of all registered workers into a
 * malloc'd buffer (caller frees). */
char *metrics_render(size_t *len);

#endif
