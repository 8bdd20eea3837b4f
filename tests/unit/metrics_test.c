/*
 * metrics_test.c - src/metrics.c: what the writers count is what /metrics
 * renders, summed over workers; a reader thread rendering while a writer
 * counts sees values that only go up and, once the writer is done, the exact
 * total (one writer per metrics_t: its load + store is an exact increment);
 * every family declared has a HELP, a TYPE, and a name Prometheus accepts.
 */
#include <pthread.h>

#include "metrics.h"

#include "check.h"

static const char *const test_routes[] = {"healthz", "consent_post"};
static metrics_t *one, *two;

/* The value of the sample line that starts with `name ` (no labels), or -1. */
static long long sample(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, name, n) == 0 && p[n] == ' ') return atoll(p + n + 1);
    return -1;
}

static int counts_and_gauges_are_summed_over_workers(void)
{
    metrics_count(one, METRICS_STATS_FLUSHES, 3);
    metrics_count(two, METRICS_STATS_FLUSHES, 4);
    metrics_count(one, METRICS_CONNECTIONS_REFUSED, 1);
    metrics_gauge_set(one, METRICS_REDIS_CONNECTED, 1);
    metrics_gauge_set(two, METRICS_REDIS_CONNECTED, 1);
    metrics_gauge_set(one, METRICS_STATS_PENDING, 9);
    metrics_gauge_set(one, METRICS_STATS_PENDING, 5); /* a gauge is set, not added */
    metrics_observe_request(one, 1, 201, 300000);
    metrics_observe_request(two, 1, 201, 2000000);
    metrics_observe_request(two, 1, 299, 1000);
    size_t len;
    char *text = metrics_render(&len);
    CHECK(text != NULL && strlen(text) == len);
    CHECK(sample(text, "consentd_stats_flushes_total") == 7);
    CHECK(sample(text, "consentd_connections_refused_total") == 1);
    CHECK(sample(text, "consentd_redis_connected") == 2);
    CHECK(sample(text, "consentd_redis_connections") == 2);
    CHECK(sample(text, "consentd_stats_pending") == 5);
    CHECK(sample(text, "consentd_http_answers_dropped_total") == 0);
    CHECK(sample(text, "consentd_http_requests_unanswered_total") == 0);
    CHECK_HAS(text, "consentd_http_requests_total{route=\"consent_post\",status=\"201\"} 2\n");
    CHECK_HAS(text, "consentd_http_requests_total{route=\"consent_post\",status=\"other\"} 1\n");
    CHECK_HAS(text, "consentd_http_request_duration_seconds_bucket{route=\"consent_post\","
                    "le=\"0.0005\"} 2\n");
    CHECK_HAS(text, "consentd_http_request_duration_seconds_count{route=\"consent_post\"} 3\n");
    CHECK(metrics_counter_value(one, METRICS_STATS_FLUSHES) == 3);
    free(text);
    return 0;
}

static int prometheus_name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

static int every_family_has_help_type_and_a_conventional_name(void)
{
    size_t len;
    char *text = metrics_render(&len);
    CHECK(text != NULL);
    char *copy = strdup(text);
    CHECK(copy != NULL);
    int families = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char name[128], type[32], help[160];
        if (sscanf(line, "# TYPE %127s %31s", name, type) != 2) continue;
        families++;
        for (size_t i = 0; name[i] != '\0'; i++)
            CHECK(prometheus_name_char(name[i], i == 0));
        CHECK(strncmp(name, "consentd_", 9) == 0);
        size_t n = strlen(name);
        int total = n > 6 && strcmp(name + n - 6, "_total") == 0;
        if (strcmp(type, "counter") == 0)
            CHECK(total);
        else
            CHECK(!total && (strcmp(type, "gauge") == 0 || strcmp(type, "histogram") == 0));
        CHECK(strstr(name, "_counter") == NULL && strstr(name, "_gauge") == NULL &&
              strstr(name, "_histogram") == NULL);
        snprintf(help, sizeof(help), "# HELP %s ", name);
        CHECK(strstr(copy, help) != NULL);
    }
    CHECK(families >= 14);
    free(copy);
    free(text);
    return 0;
}

#define WRITES 200000

static void *write_many(void *arg)
{
    metrics_t *m = arg;
    for (int i = 0; i < WRITES; i++) {
        metrics_count(m, METRICS_REDIS_ERRORS, 1);
        metrics_gauge_set(m, METRICS_INFLIGHT, (uint64_t)(i & 1));
    }
    return NULL;
}

static int a_reader_during_writes_sees_counts_only_grow_then_the_exact_total(void)
{
    size_t len;
    char *text = metrics_render(&len);
    CHECK(text != NULL);
    long long base = sample(text, "consentd_redis_errors_total"), last = base;
    free(text);
    pthread_t writer;
    CHECK(pthread_create(&writer, NULL, write_many, two) == 0);
    for (int i = 0; i < 200; i++) {
        text = metrics_render(&len);
        CHECK(text != NULL);
        long long now = sample(text, "consentd_redis_errors_total");
        long long inflight = sample(text, "consentd_http_requests_in_flight");
        free(text);
        CHECK(now >= last && now <= base + WRITES);
        CHECK(inflight == 0 || inflight == 1);
        last = now;
    }
    pthread_join(writer, NULL);
    text = metrics_render(&len);
    CHECK(text != NULL);
    CHECK(sample(text, "consentd_redis_errors_total") == base + WRITES);
    free(text);
    return 0;
}

int main(void)
{
    metrics_set_routes(test_routes, 2);
    one = metrics_create();
    two = metrics_create();
    if (one == NULL || two == NULL) return 1;
    RUN(counts_and_gauges_are_summed_over_workers);
    RUN(every_family_has_help_type_and_a_conventional_name);
    RUN(a_reader_during_writes_sees_counts_only_grow_then_the_exact_total);
    return check_summary();
}
