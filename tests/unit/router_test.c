/*
 * router_test.c - the request target as the access log shows it
 * (router_log_target): the {visitor} segment of every route that names one
 * is masked whatever the method, the site or its percent-encoding, and a
 * preview's {id} (its secret) too; a path
 * that matches no route is kept to its fourth segment; other paths and
 * queries are kept; a cut never leaves half a marker.
 */
#include "check.h"
#include "router.h"

static const char *logged(const char *target, size_t cap)
{
    static char out[512];
    size_t n = router_log_target(target, strlen(target), out, cap);
    if (n != strlen(out) || n >= cap) return "(bad length)";
    return out;
}

static int visitor_segments_are_masked_on_every_route_that_names_one(void)
{
    CHECK_STR(logged("/v1/sites/demo/consents/visitor-0001", 512),
              "/v1/sites/demo/consents/{visitor}");
    CHECK_STR(logged("/v1/sites/demo/visitors/visitor-0001", 512),
              "/v1/sites/demo/visitors/{visitor}");
    /* Whatever the method or site: the pattern decides, not the answer. */
    CHECK_STR(logged("/v1/sites/no-such-site/visitors/visitor-0001?lang=fr", 512),
              "/v1/sites/no-such-site/visitors/{visitor}?lang=fr");
    /* A literal sent percent-encoded still names the route. */
    CHECK_STR(logged("/v1/sites/demo/%76isitors/visitor%2D0001", 512),
              "/v1/sites/demo/%76isitors/{visitor}");
    return 0;
}

/* A console preview's id is the only secret of its public banner
 * (site_preview.h): the log shows {id}. */
static int a_preview_id_is_masked(void)
{
    CHECK_STR(logged("/v1/sites/demo/previews/vbkrb55jw_AJMXXOOEGh8Oo7/banner.js?lang=en", 512),
              "/v1/sites/demo/previews/{id}/banner.js?lang=en");
    CHECK_STR(logged("/v1/sites/demo/previews", 512), "/v1/sites/demo/previews");
    return 0;
}

static int other_paths_and_queries_are_kept(void)
{
    CHECK_STR(logged("/healthz?probe=abc", 512), "/healthz?probe=abc");
    CHECK_STR(logged("/v1/sites/demo/banner.js", 512), "/v1/sites/demo/banner.js");
    CHECK_STR(logged("/v1/sites/demo/consents?from=2026-01-01&cursor=3-17-0", 512),
              "/v1/sites/demo/consents?from=2026-01-01&cursor=3-17-0");
    CHECK_STR(logged("/v1/sites/demo/banner-versions/abc123", 512),
              "/v1/sites/demo/banner-versions/abc123");
    CHECK_STR(logged("/nope-123", 512), "/nope-123");
    CHECK_STR(logged("", 512), "");
    return 0;
}

static int a_path_of_no_route_is_kept_to_its_fourth_segment(void)
{
    CHECK_STR(logged("/v1/sites/demo/visitors/visitor-0001/", 512),
              "/v1/sites/demo/visitors/{masked}/");
    CHECK_STR(logged("/v1/sites/demo/consents/visitor-0001/x?a=1", 512),
              "/v1/sites/demo/consents/{masked}/{masked}?a=1");
    CHECK_STR(logged("/a/b/c/d/e/f/g/h/i/j", 512),
              "/a/b/c/d/{masked}/{masked}/{masked}/{masked}/{masked}/{masked}");
    CHECK_STR(logged("/v1/sites/demo/consents/bad%zzescape", 512),
              "/v1/sites/demo/consents/{visitor}");
    CHECK_STR(logged("x/v1/sites/demo/consents/visitor-0001", 512),
              "x/v1/sites/demo/{masked}/{masked}");
    return 0;
}

static int a_cut_never_shows_half_a_marker_or_an_id(void)
{
    const char *t = "/v1/sites/demo/consents/visitor-0001?lang=fr";
    for (size_t cap = 1; cap < 64; cap++) {
        const char *got = logged(t, cap);
        CHECK(strstr(got, "visitor-") == NULL && strstr(got, "{vis") == strstr(got, "{visitor}"));
        CHECK(strstr(got, "lang") == NULL || strstr(got, "{visitor}") != NULL);
    }
    CHECK_STR(logged(t, 25), "/v1/sites/demo/consents/");
    CHECK_STR(logged(t, 34), "/v1/sites/demo/consents/{visitor}");
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    static h2o_globalconf_t conf;
    h2o_config_init(&conf);
    router_init(h2o_config_register_host(&conf, h2o_iovec_init(H2O_STRLIT("default")), 65535),
                65536);
    RUN(visitor_segments_are_masked_on_every_route_that_names_one);
    RUN(a_preview_id_is_masked);
    RUN(other_paths_and_queries_are_kept);
    RUN(a_path_of_no_route_is_kept_to_its_fourth_segment);
    RUN(a_cut_never_shows_half_a_marker_or_an_id);
    return check_summary();
}
