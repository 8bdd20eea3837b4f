/*
 * metrics.c - per-thread counters, summed into the Prometheus text format.
 *
 * Writers are single-threaded (each worker writes only its own metrics_t),
 * so an observation is a relaxed atomic add on memory no other thread
 * writes: on x86-64 that is a plain add. The reader (GET /metrics, on any
 * worker) loads each counter with a relaxed atomic load; a scrape may see
 * one request counted in a bucket and not yet in the sum, which Prometheus
 * tolerates.
 */
#include "metrics.h"

#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Written before threads start, read-only afterwards. */
static const char *const *route_names;
static size_t route_count;
static metrics_t *workers[METRICS_MAX_WORKERS];
static size_t worker_count;

static const int counted_statuses[METRICS_STATUSES - 1] = {
    200, 201, 204, 301, 304, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 502, 503, 504};

/* Seconds, as the Prometheus "le" label and as nanoseconds for bucketing. */
static const char *const bucket_labels[METRICS_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025",  "0.05",    "0.1",    "0.25",  "0.5",    "1",     "5"};
static const uint64_t bucket_ns[METRICS_BUCKETS] = {
    100000,   250000,   500000,    1000000,   2500000,   5000000,    10000000,
    25000000, 50000000, 100000000, 250000000, 500000000, 1000000000, 5000000000ULL};

void metrics_set_routes(const char *const *names, size_t n)
{
    route_names = names;
    route_count = n < METRICS_MAX_ROUTES ? n : METRICS_MAX_ROUTES;
}

void metrics_register(metrics_t *m)
{
    if (worker_count < METRICS_MAX_WORKERS) workers[worker_count++] = m;
}

static inline void metrics_add(uint64_t *counter, uint64_t v)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline uint64_t metrics_load(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static size_t metrics_bucket(uint64_t ns)
{
    size_t i = 0;
    while (i < METRICS_BUCKETS && ns > bucket_ns[i])
        i++;
    return i; /* METRICS_BUCKETS is +Inf */
}

static size_t metrics_status_index(int status)
{
    for (size_t i = 0; i < METRICS_STATUSES - 1; i++)
        if (counted_statuses[i] == status) return i;
    return METRICS_STATUSES - 1;
}

void metrics_observe_request(metrics_t *m, unsigned route, int status, uint64_t ns)
{
    if (route >= METRICS_MAX_ROUTES) return;
    metrics_add(&m->requests[route][metrics_status_index(status)], 1);
    metrics_add(&m->latency_buckets[route][metrics_bucket(ns)], 1);
    metrics_add(&m->latency_sum_ns[route], ns);
}

void metrics_observe_redis(metrics_t *m, uint64_t ns)
{
    metrics_add(&m->redis_buckets[metrics_bucket(ns)], 1);
    metrics_add(&m->redis_sum_ns, ns);
}

void metrics_gauge_set(uint64_t *gauge, uint64_t value)
{
    __atomic_store_n(gauge, value, __ATOMIC_RELAXED);
}

void metrics_count(uint64_t *counter, uint64_t n)
{
    metrics_add(counter, n);
}

/* A growable output buffer; on allocation failure it stops growing and the
 * render returns NULL. */
typedef struct metrics_out {
    char *buf;
    size_t len, cap;
    int failed;
} metrics_out_t;

static void out_printf(metrics_out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void out_printf(metrics_out_t *o, const char *fmt, ...)
{
    if (o->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *nb = realloc(o->buf, cap);
        if (nb == NULL) {
            o->failed = 1;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
}

static void out_histogram(metrics_out_t *o, const char *name, const char *labels,
                          const uint64_t *buckets, uint64_t sum_ns)
{
    uint64_t cumulative = 0;
    const char *sep = labels[0] != '\0' ? "," : "";
    for (size_t b = 0; b <= METRICS_BUCKETS; b++) {
        cumulative += buckets[b];
        out_printf(o, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep,
                   b < METRICS_BUCKETS ? bucket_labels[b] : "+Inf", (unsigned long long)cumulative);
    }
    out_printf(o, "%s_sum%s%s%s %.9f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
               (double)sum_ns / 1e9);
    out_printf(o, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
               (unsigned long long)cumulative);
}

char *metrics_render(size_t *len)
{
    metrics_out_t o = {malloc(16384), 0, 16384, 0};
    if (o.buf == NULL) return NULL;

    out_printf(&o, "# HELP consentd_http_requests_total HTTP requests answered, by route and "
                   "status.\n# TYPE consentd_http_requests_total counter\n");
    for (size_t r = 0; r < route_count; r++) {
        for (size_t s = 0; s < METRICS_STATUSES; s++) {
            uint64_t n = 0;
            for (size_t w = 0; w < worker_count; w++)
                n += metrics_load(&workers[w]->requests[r][s]);
            if (n == 0) continue;
            char status[8];
            if (s < METRICS_STATUSES - 1)
                snprintf(status, sizeof(status), "%d", counted_statuses[s]);
            else
                strcpy(status, "other");
            out_printf(&o, "consentd_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                       route_names[r], status, (unsigned long long)n);
        }
    }

    out_printf(&o, "# HELP consentd_http_request_duration_seconds Time from request to answer, "
                   "by route.\n# TYPE consentd_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < route_count; r++) {
        uint64_t buckets[METRICS_BUCKETS + 1] = {0}, sum = 0, total = 0;
        for (size_t w = 0; w < worker_count; w++) {
            for (size_t b = 0; b <= METRICS_BUCKETS; b++)
                buckets[b] += metrics_load(&workers[w]->latency_buckets[r][b]);
            sum += metrics_load(&workers[w]->latency_sum_ns[r]);
        }
        for (size_t b = 0; b <= METRICS_BUCKETS; b++)
            total += buckets[b];
        if (total == 0) continue;
        char labels[96];
        snprintf(labels, sizeof(labels), "route=\"%s\"", route_names[r]);
        out_histogram(&o, "consentd_http_request_duration_seconds", labels, buckets, sum);
    }

    uint64_t rbuckets[METRICS_BUCKETS + 1] = {0}, rsum = 0, rerrors = 0, connected = 0,
                                        inflight = 0, flushes = 0, flush_failures = 0, dropped = 0,
                                        pending = 0, refused = 0;
    for (size_t w = 0; w < worker_count; w++) {
        for (size_t b = 0; b <= METRICS_BUCKETS; b++)
            rbuckets[b] += metrics_load(&workers[w]->redis_buckets[b]);
        rsum += metrics_load(&workers[w]->redis_sum_ns);
        rerrors += metrics_load(&workers[w]->redis_errors);
        connected += metrics_load(&workers[w]->redis_connected);
        inflight += metrics_load(&workers[w]->inflight);
        flushes += metrics_load(&workers[w]->counter_flushes);
        flush_failures += metrics_load(&workers[w]->counter_flush_failures);
        dropped += metrics_load(&workers[w]->counter_dropped);
        pending += metrics_load(&workers[w]->counter_pending);
        refused += metrics_load(&workers[w]->connections_refused);
    }
    out_printf(&o, "# HELP consentd_redis_roundtrip_seconds Time from sending a Redis command to "
                   "its reply.\n# TYPE consentd_redis_roundtrip_seconds histogram\n");
    out_histogram(&o, "consentd_redis_roundtrip_seconds", "", rbuckets, rsum);
    out_printf(&o,
               "# HELP consentd_redis_errors_total Redis commands that timed out or lost their "
               "connection.\n# TYPE consentd_redis_errors_total counter\n"
               "consentd_redis_errors_total %llu\n",
               (unsigned long long)rerrors);
    out_printf(&o,
               "# HELP consentd_redis_connected Worker connections to Redis that are up.\n"
               "# TYPE consentd_redis_connected gauge\nconsentd_redis_connected %llu\n"
               "# HELP consentd_redis_connections Worker connections to Redis, up or not.\n"
               "# TYPE consentd_redis_connections gauge\nconsentd_redis_connections %zu\n",
               (unsigned long long)connected, worker_count);
    out_printf(&o,
               "# HELP consentd_connections_refused_total Connections closed as they were "
               "accepted: their client held limits.max_connections_per_client already.\n"
               "# TYPE consentd_connections_refused_total counter\n"
               "consentd_connections_refused_total %llu\n",
               (unsigned long long)refused);
    out_printf(&o,
               "# HELP consentd_http_requests_in_flight Requests accepted and not yet done.\n"
               "# TYPE consentd_http_requests_in_flight gauge\n"
               "consentd_http_requests_in_flight %llu\n",
               (unsigned long long)inflight);
    out_printf(&o,
               "# HELP consentd_stats_flushes_total Batches of acceptance counts Redis "
               "applied.\n# TYPE consentd_stats_flushes_total counter\n"
               "consentd_stats_flushes_total %llu\n"
               "# HELP consentd_stats_flush_failures_total Batches of acceptance counts dropped: "
               "sent but timed out or lost with the connection (never sent twice), or refused by "
               "Redis.\n# TYPE consentd_stats_flush_failures_total counter\n"
               "consentd_stats_flush_failures_total %llu\n"
               "# HELP consentd_stats_dropped_total Counts and visitor ids dropped because the "
               "memory bound was reached while Redis could not take them.\n"
               "# TYPE consentd_stats_dropped_total counter\n"
               "consentd_stats_dropped_total %llu\n"
               "# HELP consentd_stats_pending Counts and visitor ids waiting in memory for the "
               "next flush.\n# TYPE consentd_stats_pending gauge\n"
               "consentd_stats_pending %llu\n",
               (unsigned long long)flushes, (unsigned long long)flush_failures,
               (unsigned long long)dropped, (unsigned long long)pending);

    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

void metrics_get(http_request_t *rq)
{
    size_t len;
    char *text = metrics_render(&len);
    if (text == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    http_header(rq, "cache-control", H2O_STRLIT("no-store"));
    http_send_copy(rq, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}
