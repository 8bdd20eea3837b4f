/*
 * router_fuzz.c - the request target: path splitting, percent-decoding and
 * route matching (router_resolve), and query parameters (http_query_find).
 *
 * Input: one byte picks the method, the rest is the request target as a
 * client sent it. Invariants: a resolved target names a route whose pattern
 * matched, decoded segments hold no NUL and are no longer than the target,
 * and a query value fits the caller's buffer and holds none of '&' and '?';
 * a date the stats route accepts (clock_parse_day) prints back the same,
 * the access log's copy of a visitor route's target (router_log_target)
 * shows "{visitor}" instead of the id,
 * and an export cursor store_cursor_parse accepts, printed, parses to the
 * same place.
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"
#include "clock.h"
#include "router.h"
#include "stats.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static h2o_globalconf_t conf;
    h2o_config_init(&conf);
    router_init(h2o_config_register_host(&conf, h2o_iovec_init(H2O_STRLIT("default")), 65535),
                65536);
    return 0;
}

static const char *const methods[] = {"GET", "HEAD", "POST", "DELETE", "OPTIONS", "PUT", ""};

static void check_segment(h2o_iovec_t seg, size_t target_len)
{
    if (seg.base == NULL) return;
    FUZZ_ASSERT(seg.len <= target_len);
    FUZZ_ASSERT(memchr(seg.base, '\0', seg.len) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16 * 1024) return 0;
    const char *method = methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];
    const char *target = (const char *)data + 1;
    size_t len = size - 1;

    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    router_target_t t;
    int status = router_resolve(&pool, target, len, method, strlen(method), &t);
    FUZZ_ASSERT(status == t.status);
    FUZZ_ASSERT(status == 0 || status == 400 || status == 404);
    if (status == 0) {
        FUZZ_ASSERT(t.matched != 0);
        FUZZ_ASSERT(t.route == ROUTER_NO_ROUTE || (t.matched >> t.route & 1));
        check_segment(t.site_id, len);
        for (size_t i = 0; i < HTTP_MAX_PARAMS; i++)
            check_segment(t.params[i], len);
    } else {
        FUZZ_ASSERT(t.route == ROUTER_NO_ROUTE);
    }
    h2o_mem_clear_pool(&pool);

    /* The access log's target: bounded and NUL-terminated (a NUL byte of
     * the target is copied like any other: its readers take the length,
     * and escape it); a path the
     * router sends to a visitor route (GET or DELETE .../consents/{visitor}
     * or .../visitors/{visitor}) shows the marker instead of the segment. */
    char shown[96];
    size_t n = router_log_target(target, len, shown, sizeof(shown));
    FUZZ_ASSERT(n < sizeof(shown) && shown[n] == '\0');
    FUZZ_ASSERT(strlen(shown) == n || memchr(target, '\0', len) != NULL);
    /* Decided by the route the router chose, not by the path's words: a
     * site may be called "visitors" (GET /v1/sites/visitors/versions/f). */
    const char *pattern = status == 0 ? router_route_pattern(t.route) : NULL;
    int visitor_route =
        pattern != NULL && strstr(pattern, "{visitor}") != NULL && t.params[0].len > 0;
    if (visitor_route && len < 64) FUZZ_ASSERT(strstr(shown, "{visitor}") != NULL);

    /* The audit export's cursor: a well-formed one prints back the same
     * (without leading zeros) and parses again to the same place. */
    char cursor[128];
    if (http_query_find(target, len, "cursor", cursor, sizeof(cursor)) >= 0) {
        store_cursor_t at, again;
        if (store_cursor_parse(cursor, &at) == 0) {
            FUZZ_ASSERT(at.partition < STORE_PARTITIONS);
            char back[80];
            snprintf(back, sizeof(back), "%u-%llu-%llu", at.partition, (unsigned long long)at.ms,
                     (unsigned long long)at.seq);
            FUZZ_ASSERT(store_cursor_parse(back, &again) == 0);
            FUZZ_ASSERT(again.partition == at.partition && again.ms == at.ms &&
                        again.seq == at.seq);
        }
    }

    static const char *const names[] = {"from", "to", "limit", "cursor", "lang", "by", "format"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char out[32];
        ssize_t n = http_query_find(target, len, names[i], out, sizeof(out));
        FUZZ_ASSERT(n >= -1 && n < (ssize_t)sizeof(out));
        if (n >= 0) {
            FUZZ_ASSERT(out[n] == '\0');
            FUZZ_ASSERT(memchr(out, '&', (size_t)n) == NULL);
            FUZZ_ASSERT(memchr(target, '?', len) != NULL);
            int64_t day;
            if ((strcmp(names[i], "from") == 0 || strcmp(names[i], "to") == 0) &&
                clock_parse_day(out, &day) == 0) {
                char back[CLOCK_TEXT_MAX];
                clock_format(day * 86400000, CLOCK_DAY, back);
                FUZZ_ASSERT(strcmp(back, out) == 0);
            }
        }
    }
    return 0;
}
