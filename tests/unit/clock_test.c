/*
 * clock_test.c - the hand-written UTC dates of src/clock.c, checked against
 * the C library's gmtime_r and strftime over every day from 1970 to 9999
 * and random times of day, and at the edges.
 */
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "clock.h"

/* What strftime writes for ms in form: the oracle. */
static void oracle(int64_t ms, clock_form_t form, char *out, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    static const char *const fmts[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d",
                                       "%Y%m%d", "%Y%m%d%H"};
    size_t n = strftime(out, cap, fmts[form], &tm);
    if (form == CLOCK_ISO_MS) snprintf(out + n, cap - n, ".%03dZ", (int)(ms % 1000));
}

static int every_day_from_1970_to_9999_matches_gmtime(void)
{
    uint64_t seed = 0x9e3779b97f4a7c15u;
    int64_t days = 0;
    for (;; days++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        int64_t ms = days * 86400000 + (int64_t)(seed % 86400000);
        char got[CLOCK_TEXT_MAX], want[64];
        clock_utc_t t;
        if (clock_utc(ms, &t) != 0) break;
        for (int form = CLOCK_ISO_S; form <= CLOCK_HOUR_KEY; form++) {
            size_t n = clock_format(ms, (clock_form_t)form, got);
            oracle(ms, (clock_form_t)form, want, sizeof(want));
            if (n != strlen(want) || strcmp(got, want) != 0) {
                printf("    ms %lld form %d: \"%s\", expected \"%s\"\n", (long long)ms, form, got,
                       want);
                return -1;
            }
        }
    }
    CHECK(days == 2932897); /* 1970-01-01 to 9999-12-31, both included */
    return 0;
}

static int edges_are_exact(void)
{
    char out[CLOCK_TEXT_MAX];
    CHECK(clock_format(0, CLOCK_ISO_MS, out) == 24);
    CHECK_STR(out, "1970-01-01T00:00:00.000Z");
    CHECK(clock_format(951782400000, CLOCK_DAY, out) == 10); /* a leap day of a 400th year */
    CHECK_STR(out, "2000-02-29");
    CHECK(clock_format(4107542399999, CLOCK_ISO_MS, out) == 24); /* 2100 is no leap year */
    CHECK_STR(out, "2100-02-28T23:59:59.999Z");
    CHECK(clock_format(4107542400000, CLOCK_DAY_KEY, out) == 8);
    CHECK_STR(out, "21000301");
    CHECK(clock_format(253402300799999, CLOCK_ISO_S, out) == 20);
    CHECK_STR(out, "9999-12-31T23:59:59Z");
    return 0;
}

static int out_of_range_is_refused(void)
{
    char out[CLOCK_TEXT_MAX] = "x";
    clock_utc_t t = {0};
    CHECK(clock_utc(-1, &t) == -1 && t.year == 0);
    CHECK(clock_utc(253402300800000, &t) == -1);
    CHECK(clock_format(-1000, CLOCK_ISO_S, out) == 0 && out[0] == '\0');
    CHECK(clock_format(INT64_MAX, CLOCK_HOUR_KEY, out) == 0 && out[0] == '\0');
    return 0;
}

static int dates_parse_and_format_in_utc(void)
{
    int64_t day;
    char out[CLOCK_TEXT_MAX];
    CHECK(clock_parse_day("1970-01-01", &day) == 0 && day == 0);
    CHECK(clock_parse_day("2026-11-01", &day) == 0 && day == 20758);
    clock_format(day * 86400000, CLOCK_DAY, out);
    CHECK_STR(out, "2026-11-01");
    CHECK(clock_parse_day("2024-02-29", &day) == 0);
    clock_format((day + 1) * 86400000, CLOCK_DAY, out);
    CHECK_STR(out, "2024-03-01");
    CHECK(clock_parse_day("2000-02-29", &day) == 0);
    CHECK(clock_parse_day("2100-02-29", &day) == -1);
    CHECK(clock_parse_day("2026-02-29", &day) == -1);
    CHECK(clock_parse_day("2026-04-31", &day) == -1);
    CHECK(clock_parse_day("2026-13-01", &day) == -1);
    CHECK(clock_parse_day("2026-00-10", &day) == -1);
    CHECK(clock_parse_day("1969-12-31", &day) == -1);
    CHECK(clock_parse_day("2026-1-01", &day) == -1);
    CHECK(clock_parse_day("2026-11-01T", &day) == -1);
    CHECK(clock_parse_day("2026/11/01", &day) == -1);
    CHECK(clock_parse_day("", &day) == -1);
    return 0;
}

static int clocks_move_forward(void)
{
    uint64_t a = clock_mono_ns();
    int64_t r = clock_real_ms();
    uint64_t b = clock_mono_ns();
    CHECK(b >= a);
    CHECK(r > 1767225600000); /* after 2026-01-01 */
    /* A deadline 1.5 s ahead, the nanoseconds carried into the seconds. */
    struct timespec now, d;
    for (int i = 0; i < 2; i++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        clock_deadline(CLOCK_MONOTONIC, 1500, &d);
        CHECK(d.tv_nsec >= 0 && d.tv_nsec < 1000000000);
        int64_t ahead_ms =
            (int64_t)(d.tv_sec - now.tv_sec) * 1000 + (d.tv_nsec - now.tv_nsec) / 1000000;
        CHECK(ahead_ms >= 1500 && ahead_ms < 1600);
    }
    return 0;
}

static int weeks_and_months_start_where_the_calendar_says(void)
{
    int64_t d;
    /* 2026-12-04 is a Friday; its ISO week starts Monday 2026-11-30. */
    CHECK(clock_parse_day("2026-12-04", &d) == 0);
    int64_t monday, first, next;
    CHECK(clock_parse_day("2026-11-30", &monday) == 0 && clock_week_start(d) == monday);
    CHECK(clock_week_start(monday) == monday && clock_week_start(monday + 6) == monday);
    CHECK(clock_week_start(monday + 7) == monday + 7);
    CHECK(clock_week_start(0) == -3); /* 1970-01-01, a Thursday: its Monday is 1969-12-29 */
    CHECK(clock_parse_day("2026-12-01", &first) == 0 && clock_month_start(d) == first);
    CHECK(clock_parse_day("2027-01-01", &next) == 0 && clock_next_month(d) == next);
    CHECK(clock_next_month(first - 1) == first && clock_month_start(first - 1) == first - 30);
    /* February of a leap year, and of a century that is not one. */
    int64_t f24, m24, f00, m00;
    CHECK(clock_parse_day("2024-02-01", &f24) == 0 && clock_parse_day("2024-03-01", &m24) == 0);
    CHECK(clock_next_month(f24 + 28) == m24 && m24 - f24 == 29 &&
          clock_month_start(f24 + 28) == f24);
    CHECK(clock_parse_day("2100-02-01", &f00) == 0 && clock_parse_day("2100-03-01", &m00) == 0);
    CHECK(clock_next_month(f00) == m00 && m00 - f00 == 28);
    /* Every day of 1970..2100: a week is 7 days from a Monday, a month 28..31. */
    for (int64_t day = 4; day < 47482; day++) {
        int64_t w = clock_week_start(day), m = clock_month_start(day), n = clock_next_month(day);
        CHECK(w <= day && day - w < 7 && (w + 3) % 7 == 0);
        CHECK(m <= day && day < n && n - m >= 28 && n - m <= 31);
        CHECK(clock_month_start(n) == n && clock_month_start(n - 1) == m);
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(every_day_from_1970_to_9999_matches_gmtime);
    RUN(edges_are_exact);
    RUN(out_of_range_is_refused);
    RUN(dates_parse_and_format_in_utc);
    RUN(clocks_move_forward);
    RUN(weeks_and_months_start_where_the_calendar_says);
    return check_summary();
}
