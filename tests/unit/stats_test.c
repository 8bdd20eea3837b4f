/*
 * stats_test.c - the maths of the stats API (src/api/stats.c): rates, Wilson
 * score intervals and Newcombe's hybrid score interval for a difference of
 * two proportions, checked against the figures Newcombe published (Stat.
 * Med. 1998; 17: 857-872 Table I, method 3, and 873-890 Table II, method
 * 10), and by a worked example; the UTC date helpers; the names of the
 * counter fields (src/counters.c), which are part of the Redis layout.
 */
#include <math.h>

#include "counters.h"
#include "stats.h"

#include "check.h"

#define NEAR(got, want, eps) (fabs((got) - (want)) <= (eps))
/* Published figures have 4 decimals. */
#define CHECK4(got, want)                                                                          \
    do {                                                                                           \
        double g4_ = (got), w4_ = (want);                                                          \
        if (!NEAR(g4_, w4_, 0.00005)) {                                                            \
            printf("    %s:%d: %s is %.6f, expected %.4f\n", __FILE__, __LINE__, #got, g4_, w4_);  \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

static int rate_is_a_fraction_and_nan_without_denominator(void)
{
    CHECK(stats_rate(3, 4) == 0.75);
    CHECK(stats_rate(0, 4) == 0);
    CHECK(isnan(stats_rate(0, 0)));
    CHECK(isnan(stats_rate(5, 0)));
    return 0;
}

/* Worked by hand: x = 1, n = 2, z = 1.959963985 (z^2 = 3.841459):
 * centre = (0.5 + 3.841459/4) / (1 + 3.841459/2) = 1.460365 / 2.920729 = 0.5
 * half   = z * sqrt(0.25/2 + 3.841459/16) / 2.920729
 *        = 1.959964 * sqrt(0.365091) / 2.920729
 *        = 1.959964 * 0.604228 / 2.920729 = 1.184265 / 2.920729 = 0.405469
 * so 0.094531 .. 0.905469. */
static int wilson_matches_a_worked_example(void)
{
    double lo, hi;
    CHECK(stats_wilson(1, 2, STATS_Z95, &lo, &hi) == 0);
    CHECK(NEAR(lo, 0.094531, 0.000001));
    CHECK(NEAR(hi, 0.905469, 0.000001));
    return 0;
}

static int wilson_matches_newcombes_table(void)
{
    double lo, hi;
    CHECK(stats_wilson(81, 263, STATS_Z95, &lo, &hi) == 0);
    CHECK4(lo, 0.2553);
    CHECK4(hi, 0.3662);
    CHECK(stats_wilson(15, 148, STATS_Z95, &lo, &hi) == 0);
    CHECK4(lo, 0.0624);
    CHECK4(hi, 0.1605);
    CHECK(stats_wilson(0, 20, STATS_Z95, &lo, &hi) == 0);
    CHECK(lo == 0);
    CHECK4(hi, 0.1611);
    CHECK(stats_wilson(1, 29, STATS_Z95, &lo, &hi) == 0);
    CHECK4(lo, 0.0061);
    CHECK4(hi, 0.1718);
    CHECK(stats_wilson(29, 29, STATS_Z95, &lo, &hi) == 0);
    CHECK4(lo, 0.8830);
    CHECK(hi == 1);
    return 0;
}

static int wilson_is_undefined_without_trials(void)
{
    double lo = 7, hi = 7;
    CHECK(stats_wilson(0, 0, STATS_Z95, &lo, &hi) == -1);
    CHECK(stats_wilson(3, 2, STATS_Z95, &lo, &hi) == -1);
    CHECK(lo == 7 && hi == 7);
    return 0;
}

/* Newcombe's Table II, method 10 (score interval, no continuity correction). */
static int newcombe_matches_newcombes_table(void)
{
    static const struct {
        unsigned x1, n1, x2, n2;
        double diff, low, high;
    } cases[] = {
        {56, 70, 48, 80, 0.2000, 0.0524, 0.3339}, /* (a) */
        {9, 10, 3, 10, 0.6000, 0.1705, 0.8090},   /* (b) */
        {6, 7, 2, 7, 0.5714, 0.0582, 0.8062},     /* (c) */
        {5, 56, 0, 29, 0.0893, -0.0381, 0.1926},  /* (d) */
        {0, 10, 0, 20, 0.0000, -0.1611, 0.2775},  /* (e) */
        {10, 10, 0, 20, 1.0000, 0.6791, 1.0000},  /* (f) */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double d, lo, hi;
        CHECK(stats_newcombe(cases[i].x1, cases[i].n1, cases[i].x2, cases[i].n2, STATS_Z95, &d, &lo,
                             &hi) == 0);
        CHECK4(d, cases[i].diff);
        CHECK4(lo, cases[i].low);
        CHECK4(hi, cases[i].high);
    }
    return 0;
}

static int newcombe_is_antisymmetric_and_undefined_without_trials(void)
{
    double d1, lo1, hi1, d2, lo2, hi2;
    CHECK(stats_newcombe(48, 80, 56, 70, STATS_Z95, &d1, &lo1, &hi1) == 0);
    CHECK(stats_newcombe(56, 70, 48, 80, STATS_Z95, &d2, &lo2, &hi2) == 0);
    CHECK(NEAR(d1, -d2, 1e-12) && NEAR(lo1, -hi2, 1e-12) && NEAR(hi1, -lo2, 1e-12));
    CHECK(stats_newcombe(1, 2, 0, 0, STATS_Z95, &d1, &lo1, &hi1) == -1);
    CHECK(stats_newcombe(0, 0, 1, 2, STATS_Z95, &d1, &lo1, &hi1) == -1);
    return 0;
}

static int counter_field_names_follow_the_layout(void)
{
    char f[COUNTERS_FIELD_MAX];
    CHECK(counters_field(f, sizeof(f), COUNTERS_DIM_ALL, NULL, COUNTERS_SHOWN, NULL) == 9);
    CHECK_STR(f, "all|shown");
    counters_field(f, sizeof(f), COUNTERS_DIM_VARIANT, "b", 1, "audience");
    CHECK_STR(f, "v.b|g.audience");
    counters_field(f, sizeof(f), COUNTERS_DIM_LANG, "fr", COUNTERS_DECISIONS, NULL);
    CHECK_STR(f, "l.fr|decisions");
    counters_field(f, sizeof(f), COUNTERS_DIM_SOURCE, "call_center", 0, "advertising");
    CHECK_STR(f, "s.call_center|r.advertising");
    counters_field(f, sizeof(f), COUNTERS_DIM_ALL, NULL, COUNTERS_WITHDRAWN, NULL);
    CHECK_STR(f, "all|withdrawn");
    CHECK(counters_field(f, sizeof(f), COUNTERS_DIM_ALL, NULL, COUNTERS_METRICS, NULL) == 0);
    CHECK(counters_field(f, sizeof(f), COUNTERS_DIM_LANG, NULL, COUNTERS_SHOWN, NULL) == 0);
    CHECK(counters_field(f, 8, COUNTERS_DIM_ALL, NULL, COUNTERS_SHOWN, NULL) == 0);
    return 0;
}

static int time_to_decide_bins_double_and_quartiles_stay_in_their_bin(void)
{
    CHECK(counters_ttd_bin(0) == 0 && counters_ttd_bin(249) == 0 && counters_ttd_bin(250) == 1);
    CHECK(counters_ttd_bin(999) == 2 && counters_ttd_bin(1000) == 3);
    CHECK(counters_ttd_bin(256000) == COUNTERS_TTD_BINS - 1);
    CHECK(counters_ttd_bin(COUNTERS_TTD_MAX_MS) == COUNTERS_TTD_BINS - 1);
    CHECK(counters_ttd_bin(COUNTERS_TTD_MAX_MS + 1) == -1 && counters_ttd_bin(-1) == -1);
    for (int b = 2; b < COUNTERS_TTD_BINS - 1; b++)
        CHECK(counters_ttd_edges[b] == 2 * counters_ttd_edges[b - 1]);
    char f[COUNTERS_FIELD_MAX];
    CHECK(counters_ttd_field(f, sizeof(f), COUNTERS_DIM_ALL, NULL, COUNTERS_TTD_DISMISS, 3) > 0);
    CHECK_STR(f, "all|t.dismiss.3");
    CHECK(counters_ttd_field(f, sizeof(f), COUNTERS_DIM_VARIANT, "b", 1, 11) > 0);
    CHECK_STR(f, "v.b|t.reject_all.11");
    CHECK(counters_ttd_field(f, sizeof(f), COUNTERS_DIM_LANG, "fr", 0, 0) == 0);
    CHECK(counters_ttd_field(f, sizeof(f), COUNTERS_DIM_ALL, NULL, 0, COUNTERS_TTD_BINS) == 0);

    uint64_t bins[COUNTERS_TTD_BINS] = {0};
    double ms;
    CHECK(stats_ttd_quantile(bins, 0.5, &ms) == -1); /* empty */
    bins[3] = 4;                                     /* [1000, 2000) */
    CHECK(stats_ttd_quantile(bins, 0.5, &ms) == 0 && fabs(ms - 1000 * sqrt(2)) < 1e-6);
    CHECK(stats_ttd_quantile(bins, 0.25, &ms) == 0 && fabs(ms - 1000 * pow(2, 0.25)) < 1e-6);
    bins[0] = 4; /* [0, 250): linear there */
    CHECK(stats_ttd_quantile(bins, 0.25, &ms) == 0 && fabs(ms - 125) < 1e-6);
    CHECK(stats_ttd_quantile(bins, 0.5, &ms) == 0 && fabs(ms - 250) < 1e-6);
    /* Whatever the histogram, a quantile lies in the bin of its rank. */
    uint64_t seed = 7;
    for (int round = 0; round < 1000; round++) {
        uint64_t n = 0;
        for (int b = 0; b < COUNTERS_TTD_BINS; b++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            bins[b] = seed % 3 == 0 ? seed % 50 : 0;
            n += bins[b];
        }
        if (n == 0) continue;
        for (double q = 0.1; q < 0.95; q += 0.2) {
            CHECK(stats_ttd_quantile(bins, q, &ms) == 0);
            int b = counters_ttd_bin((int32_t)ms);
            double below = 0;
            for (int i = 0; i < b; i++)
                below += (double)bins[i];
            /* the rank is in bin b (or at its lower edge, the end of the one before) */
            CHECK(b >= 0 && below <= q * (double)n + 1e-9 &&
                  q * (double)n <= below + (double)bins[b] + 1e-9);
        }
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(rate_is_a_fraction_and_nan_without_denominator);
    RUN(wilson_matches_a_worked_example);
    RUN(wilson_matches_newcombes_table);
    RUN(wilson_is_undefined_without_trials);
    RUN(newcombe_matches_newcombes_table);
    RUN(newcombe_is_antisymmetric_and_undefined_without_trials);
    RUN(counter_field_names_follow_the_layout);
    RUN(time_to_decide_bins_double_and_quartiles_stay_in_their_bin);
    return check_summary();
}
