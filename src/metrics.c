/*
 * metrics.c - per-thread counters, summed into the Prometheus text format.
 *
 * Writers are single-threaded (each worker writes only its own metrics_t),
 * so an observation is a relaxed atomic load and store on memory no other
 * thread writes: on x86-64 two plain moves. The reader (GET /metrics, on any
 * worker) loads each value with a relaxed atomic load; a scrape may see one
 * request counted in a bucket and not yet in the sum, which Prometheus
 * tolerates.
 *
 * Names follow Prometheus' conventions and pass `promtool check metrics`
 * (tests/http/metrics.test.mjs): counters end in _total, durations are in
 * seconds, no name contains its own type ("counter", "gauge"...). They are
 * an interface (dashboards, alerts): docs/operations.md lists them.
 */
#include "metrics.h"

#include "config.h"
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every field is written by one thread (metrics_add/metrics_set) and read by
 * any (metrics_load). Aligned on cache lines: two workers' metrics never
 * share one. */
struct metrics {
    uint64_t requests[METRICS_MAX_ROUTES][METRICS_STATUSES];
    uint64_t latency_buckets[METRICS_MAX_ROUTES][METRICS_BUCKETS + 1];
    uint64_t latency_sum_ns[METRICS_MAX_ROUTES];
    uint64_t redis_buckets[METRICS_BUCKETS + 1];
    uint64_t redis_sum_ns;
    uint64_t counters[METRICS_COUNTERS];
    uint64_t gauges[METRICS_GAUGES];
};

#define METRICS_ALIGN 64

/* The scalar families: name and HELP, by id. */
typedef struct {
    const char *name, *help;
} metrics_family_t;

static const metrics_family_t counter_families[METRICS_COUNTERS] = {
    [METRICS_REDIS_ERRORS] = {"consentd_redis_errors_total",
                              "Redis commands that timed out or lost their connection."},
    [METRICS_CONNECTIONS_REFUSED] = {"consentd_connections_refused_total",
                                     "Connections closed as they were accepted: their client held "
                                     "limits.max_connections_per_client already."},
    [METRICS_STATS_FLUSHES] = {"consentd_stats_flushes_total",
                               "Batches of acceptance counts Redis applied."},
    [METRICS_STATS_FLUSH_FAILURES] = {"consentd_stats_flush_failures_total",
                                      "Batches of acceptance counts dropped: refused by Redis, "
                                      "waiting too long to be sent again, or over the bound of "
                                      "batches waiting."},
    [METRICS_STATS_FLUSH_RETRIES] = {"consentd_stats_flush_retries_total",
                                     "Batches of acceptance counts sent again after a timeout, a "
                                     "lost connection or a refusal that said not now."},
    [METRICS_STATS_FLUSH_DUPLICATES] = {"consentd_stats_flush_duplicates_total",
                                        "Batches sent again that Redis had applied already: "
                                        "skipped, never counted twice."},
    [METRICS_STATS_DROPPED] = {"consentd_stats_dropped_total",
                               "Counts and visitor ids dropped because the memory bound was "
                               "reached while Redis could not take them."},
    [METRICS_ANSWERS_DROPPED] = {"consentd_http_answers_dropped_total",
                                 "Second answers to one request, dropped: a bug, logged once."},
    [METRICS_REQUESTS_UNANSWERED] = {"consentd_http_requests_unanswered_total",
                                     "Requests that ended without an answer while no Redis reply "
                                     "was awaited: a bug, logged once."},
    [METRICS_LOG_CHECKPOINTS] = {"consentd_log_checkpoints_total",
                                 "Signed consent log checkpoints this node appended."},
    [METRICS_LOG_CHECKPOINT_FAILURES] = {"consentd_log_checkpoint_failures_total",
                                         "Checkpointer runs that stopped on an error (Redis, "
                                         "signing): the next interval tries again."},
    [METRICS_READS_REPLICA] = {"consentd_redis_replica_reads_total",
                               "Stats queries the replica of redis.read_url answered."},
    [METRICS_READS_FALLBACK] = {"consentd_redis_replica_fallbacks_total",
                                "Stats queries meant for the replica of redis.read_url that the "
                                "primary answered: the replica down, failing, or missing packed "
                                "rows or rollups only the primary makes."},
};

static const metrics_family_t gauge_families[METRICS_GAUGES] = {
    [METRICS_REDIS_CONNECTED] = {"consentd_redis_connected",
                                 "Worker connections to Redis that are up."},
    [METRICS_INFLIGHT] = {"consentd_http_requests_in_flight",
                          "Requests accepted and not yet done."},
    [METRICS_STATS_PENDING] = {"consentd_stats_pending",
                               "Counts and visitor ids waiting in memory for the next flush."},
    [METRICS_STATS_BATCHES_WAITING] = {"consentd_stats_batches_waiting",
                                       "Batches of acceptance counts waiting to be sent again."},
    [METRICS_REDIS_READ_CONNECTED] = {"consentd_redis_replica_connected",
                                      "Worker connections to the replica of redis.read_url that "
                                      "are up."},
};

/* metrics_process_count's: atomic adds from any thread. */
static uint64_t process_counters[METRICS_PROCESS_COUNTERS];

void metrics_process_count(metrics_process_counter_t counter, uint64_t n)
{
    if ((unsigned)counter < METRICS_PROCESS_COUNTERS)
        __atomic_add_fetch(&process_counters[counter], n, __ATOMIC_RELAXED);
}

uint64_t metrics_process_value(metrics_process_counter_t counter)
{
    return (unsigned)counter < METRICS_PROCESS_COUNTERS
               ? __atomic_load_n(&process_counters[counter], __ATOMIC_RELAXED)
               : 0;
}

/* Written before threads start, read-only afterwards. */
static const char *const *route_names;
static size_t route_count;
_Static_assert(METRICS_MAX_WORKERS >= CONFIG_THREADS_MAX, "a metrics slot for every worker thread");
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

const char *metrics_route_name(unsigned route)
{
    return route < route_count ? route_names[route] : "?";
}

metrics_t *metrics_create(void)
{
    if (worker_count >= METRICS_MAX_WORKERS) return NULL;
    size_t size = (sizeof(metrics_t) + METRICS_ALIGN - 1) / METRICS_ALIGN * METRICS_ALIGN;
    metrics_t *m = aligned_alloc(METRICS_ALIGN, size);
    if (m == NULL) return NULL;
    memset(m, 0, size);
    workers[worker_count++] = m;
    return m;
}

/* The one way a field changes: its owner thread adds (or sets), exactly, and
 * a concurrent reader sees the old or the new value, never a torn one. */
static inline void metrics_add(uint64_t *field, uint64_t v)
{
    __atomic_store_n(field, __atomic_load_n(field, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline uint64_t metrics_load(const uint64_t *field)
{
    return __atomic_load_n(field, __ATOMIC_RELAXED);
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

void metrics_count(metrics_t *m, metrics_counter_t counter, uint64_t n)
{
    if ((unsigned)counter < METRICS_COUNTERS) metrics_add(&m->counters[counter], n);
}

void metrics_gauge_set(metrics_t *m, metrics_gauge_t gauge, uint64_t value)
{
    if ((unsigned)gauge < METRICS_GAUGES)
        __atomic_store_n(&m->gauges[gauge], value, __ATOMIC_RELAXED);
}

uint64_t metrics_counter_value(const metrics_t *m, metrics_counter_t counter)
{
    return (unsigned)counter < METRICS_COUNTERS ? metrics_load(&m->counters[counter]) : 0;
}

static void out_histogram(strbuf_t *o, const char *name, const char *labels,
                          const uint64_t *buckets, uint64_t sum_ns)
{
    uint64_t cumulative = 0;
    const char *sep = labels[0] != '\0' ? "," : "";
    for (size_t b = 0; b <= METRICS_BUCKETS; b++) {
        cumulative += buckets[b];
        strbuf_printf(o, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep,
                      b < METRICS_BUCKETS ? bucket_labels[b] : "+Inf",
                      (unsigned long long)cumulative);
    }
    strbuf_printf(o, "%s_sum%s%s%s %.9f\n", name, labels[0] ? "{" : "", labels,
                  labels[0] ? "}" : "", (double)sum_ns / 1e9);
    strbuf_printf(o, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
                  labels[0] ? "}" : "", (unsigned long long)cumulative);
}

char *metrics_render(size_t *len)
{
    strbuf_t o;
    strbuf_init_heap(&o);

    strbuf_printf(&o, "# HELP consentd_http_requests_total HTTP requests answered, by route and "
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
            strbuf_printf(&o, "consentd_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                          route_names[r], status, (unsigned long long)n);
        }
    }

    strbuf_printf(&o, "# HELP consentd_http_request_duration_seconds Time from request to answer, "
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

    uint64_t rbuckets[METRICS_BUCKETS + 1] = {0}, rsum = 0;
    uint64_t counters[METRICS_COUNTERS] = {0}, gauges[METRICS_GAUGES] = {0};
    for (size_t w = 0; w < worker_count; w++) {
        for (size_t b = 0; b <= METRICS_BUCKETS; b++)
            rbuckets[b] += metrics_load(&workers[w]->redis_buckets[b]);
        rsum += metrics_load(&workers[w]->redis_sum_ns);
        for (size_t c = 0; c < METRICS_COUNTERS; c++)
            counters[c] += metrics_load(&workers[w]->counters[c]);
        for (size_t g = 0; g < METRICS_GAUGES; g++)
            gauges[g] += metrics_load(&workers[w]->gauges[g]);
    }
    strbuf_printf(&o,
                  "# HELP consentd_redis_roundtrip_seconds Time from sending a Redis command to "
                  "its reply.\n# TYPE consentd_redis_roundtrip_seconds histogram\n");
    out_histogram(&o, "consentd_redis_roundtrip_seconds", "", rbuckets, rsum);
    for (size_t c = 0; c < METRICS_COUNTERS; c++)
        strbuf_printf(&o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counter_families[c].name,
                      counter_families[c].help, counter_families[c].name, counter_families[c].name,
                      (unsigned long long)counters[c]);
    for (size_t g = 0; g < METRICS_GAUGES; g++)
        strbuf_printf(&o, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", gauge_families[g].name,
                      gauge_families[g].help, gauge_families[g].name, gauge_families[g].name,
                      (unsigned long long)gauges[g]);
    strbuf_printf(
        &o,
        "# HELP consentd_banner_compressions_total Compressed encodings (gzip, brotli) of the "
        "scripts served (banner.js, consentd-defaults.js): compressed by this node (local), or "
        "read from Redis, compressed once by another node (redis).\n"
        "# TYPE consentd_banner_compressions_total counter\n"
        "consentd_banner_compressions_total{source=\"local\"} %llu\n"
        "consentd_banner_compressions_total{source=\"redis\"} %llu\n"
        "# HELP consentd_banner_blobs_refused_total Compressed scripts read from Redis that did "
        "not decompress to the bytes this node built: refused, compressed here and replaced.\n"
        "# TYPE consentd_banner_blobs_refused_total counter\n"
        "consentd_banner_blobs_refused_total %llu\n",
        (unsigned long long)metrics_process_value(METRICS_BANNER_COMPRESSED_LOCAL),
        (unsigned long long)metrics_process_value(METRICS_BANNER_COMPRESSED_REDIS),
        (unsigned long long)metrics_process_value(METRICS_BANNER_BLOBS_REFUSED));
    strbuf_printf(&o,
                  "# HELP consentd_redis_connections Worker connections to Redis, up or not.\n"
                  "# TYPE consentd_redis_connections gauge\nconsentd_redis_connections %zu\n",
                  worker_count);

    return strbuf_take(&o, len); /* NULL when out of memory */
}
