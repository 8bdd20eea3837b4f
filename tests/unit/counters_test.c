/*
 * counters_test.c - the per-thread table of acceptance counts
 * (src/counters.c): groups made, flushed, freed and made again.
 *
 * No Redis: a counters_t without a connection refuses every batch (counted
 * as a flush failure), which is all a flush needs to reset and free groups.
 */
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "counters.h"
#include "metrics.h"
#include "site.h"

/* More groups than half the table's minimum size: the table grows. */
#define TEST_SITES 40

static const char site_doc[] =
    "{\"id\":\"x\",\"origins\":[\"https://a.example\"],\"languages\":[\"en\"],"
    "\"policy_version\":\"1\",\"controller\":{\"name\":\"A\",\"contact\":\"b\"},"
    "\"api_key_sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
    "\"purposes\":[{\"id\":\"p\",\"legal_basis\":\"consent\",\"retention_days\":30,"
    "\"recipients\":[],\"texts\":{\"en\":{\"name\":\"P\",\"description\":\"D\"}}}]}";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Groups are keyed by site (pointer) and hour: after a flush freed many of
 * them, the table is rebuilt for fewer, and a later count must find no slot
 * of the freed ones (a slot left over named a freed group: ASan saw it read
 * under reloads, which make a group per site per snapshot). */
static int groups_freed_by_a_flush_leave_no_stale_slot(void)
{
    metrics_t *m = metrics_create();
    CHECK(m != NULL);
    site_set_t *sets[TEST_SITES];
    char err[SITE_ERR_MAX];
    for (size_t i = 0; i < TEST_SITES; i++) {
        sets[i] = site_set_load_one("x", site_doc, sizeof(site_doc) - 1, err, sizeof(err));
        if (sets[i] == NULL) {
            printf("    %s\n", err);
            return -1;
        }
    }
    counters_t *c = counters_create(NULL, m);
    CHECK(c != NULL);
    int64_t now = now_ms();
    for (size_t i = 0; i < TEST_SITES; i++)
        counters_event(c, sets[i], site_set_at(sets[i], 0), COUNTERS_SHOWN, NULL, NULL, NULL, NULL,
                       now);
    uint64_t one_round = counters_pending(c); /* increments (a few dims each) */
    CHECK(one_round >= TEST_SITES);
    counters_flush(c); /* refused (no Redis): the groups are reset, kept this hour */
    counters_flush(c); /* idle for an interval: freed */
    CHECK(counters_pending(c) == 0);
    /* Every site again: new groups, each found again by its next count. */
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < TEST_SITES; i++)
            counters_event(c, sets[i], site_set_at(sets[i], 0), COUNTERS_SHOWN, NULL, NULL, NULL,
                           NULL, now);
    CHECK(counters_pending(c) == 2 * one_round);
    counters_destroy(c);
    for (size_t i = 0; i < TEST_SITES; i++)
        site_set_release(sets[i]);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_run("groups_freed_by_a_flush_leave_no_stale_slot",
              groups_freed_by_a_flush_leave_no_stale_slot);
    return check_summary();
}
