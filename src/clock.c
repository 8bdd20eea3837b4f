/*
 * clock.c - clocks, and UTC dates written by hand (see clock.h).
 */
#include "clock.h"

#include <string.h>
#include <time.h>

uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t clock_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_deadline(int clock, uint64_t ms, struct timespec *out)
{
    clock_gettime((clockid_t)clock, out);
    out->tv_sec += (time_t)(ms / 1000);
    out->tv_nsec += (long)(ms % 1000) * 1000000;
    if (out->tv_nsec >= 1000000000) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000;
    }
}

#define CLOCK_MS_MAX 253402300799999LL /* 9999-12-31T23:59:59.999Z */

int clock_utc(int64_t ms, clock_utc_t *out)
{
    if (ms < 0 || ms > CLOCK_MS_MAX) return -1;
    int64_t days = ms / 86400000, rest = ms % 86400000;
    /* Days since 1970-01-01 to a civil date, in eras of 400 years that start
     * on March 1st (so that the leap day is the last day of a year): the
     * algorithm of H. Hinnant's "chrono-Compatible Low-Level Date
     * Algorithms", for days >= 0 only. */
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11], March first */
    out->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    out->month = (int)(mp < 10 ? mp + 3 : mp - 9);
    out->year = (int)(yoe + era * 400 + (out->month <= 2));
    out->hour = (int)(rest / 3600000);
    out->minute = (int)(rest / 60000 % 60);
    out->second = (int)(rest / 1000 % 60);
    out->milli = (int)(rest % 1000);
    return 0;
}

static char *clock_digits(char *p, int v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

size_t clock_format(int64_t ms, clock_form_t form, char *out)
{
    clock_utc_t t;
    if (clock_utc(ms, &t) != 0) {
        out[0] = '\0';
        return 0;
    }
    int keyed = form == CLOCK_DAY_KEY || form == CLOCK_HOUR_KEY;
    char *p = clock_digits(out, t.year, 4);
    if (!keyed) *p++ = '-';
    p = clock_digits(p, t.month, 2);
    if (!keyed) *p++ = '-';
    p = clock_digits(p, t.day, 2);
    if (form == CLOCK_HOUR_KEY) p = clock_digits(p, t.hour, 2);
    if (form == CLOCK_ISO_S || form == CLOCK_ISO_MS) {
        *p++ = 'T';
        p = clock_digits(p, t.hour, 2);
        *p++ = ':';
        p = clock_digits(p, t.minute, 2);
        *p++ = ':';
        p = clock_digits(p, t.second, 2);
        if (form == CLOCK_ISO_MS) {
            *p++ = '.';
            p = clock_digits(p, t.milli, 3);
        }
        *p++ = 'Z';
    }
    *p = '\0';
    return (size_t)(p - out);
}

/* Days since 1970-01-01 of a proleptic Gregorian date, y >= 1970 (H.
 * Hinnant's days_from_civil, the inverse of clock_utc). */
static int64_t clock_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = y / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int clock_parse_day(const char *s, int64_t *day)
{
    static const unsigned char mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return -1;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    unsigned m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
    unsigned d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > (unsigned)(mdays[m - 1] + (m == 2 && leap)))
        return -1;
    *day = clock_days_from_civil(y, m, d);
    return 0;
}

int64_t clock_week_start(int64_t day)
{
    return day - (day + 3) % 7; /* 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays */
}

int64_t clock_month_start(int64_t day)
{
    clock_utc_t u;
    if (clock_utc(day * 86400000, &u) != 0) return day;
    return day - (u.day - 1);
}

int64_t clock_next_month(int64_t day)
{
    clock_utc_t u;
    if (clock_utc(day * 86400000, &u) != 0) return day + 1;
    return u.month == 12 ? clock_days_from_civil(u.year + 1, 1, 1)
                         : clock_days_from_civil(u.year, (unsigned)u.month + 1, 1);
}
