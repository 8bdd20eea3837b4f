/*
 * clock.h - the one place consentd reads clocks and writes dates.
 *
 * Two clocks: monotonic nanoseconds for durations and deadlines, and Unix
 * time in milliseconds for what is recorded and shown. Dates are written
 * by hand in UTC (proleptic Gregorian calendar, years 1970 to 9999), never
 * through strftime or the printf family: they are on the consent write path
 * and in every log line. Pure functions, safe from any thread.
 */
#ifndef CONSENTD_CLOCK_H
#define CONSENTD_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC, in nanoseconds. */
uint64_t clock_mono_ns(void);
/* CLOCK_REALTIME, in milliseconds since 1970-01-01T00:00:00Z. */
int64_t clock_real_ms(void);

/* The time ms milliseconds from now on clock (CLOCK_MONOTONIC or
 * CLOCK_REALTIME, the clock of the condition variable), as the absolute
 * deadline pthread_cond_timedwait takes. */
struct timespec;
void clock_deadline(int clock, uint64_t ms, struct timespec *out);

/* A day and time of day in UTC. */
typedef struct clock_utc {
    int year, month, day; /* 1970..9999, 1..12, 1..31 */
    int hour, minute, second, milli;
} clock_utc_t;

/* ms (Unix milliseconds, >= 0) as a UTC date. -1 (and out untouched) for a
 * time before 1970 or after 9999. */
int clock_utc(int64_t ms, clock_utc_t *out);

/* Room for the longest text below, NUL included. */
#define CLOCK_TEXT_MAX 25

/* How clock_format writes ms. Every form is fixed-width. */
typedef enum {
    CLOCK_ISO_S,   /* 2026-11-23T09:04:06Z */
    CLOCK_ISO_MS,  /* 2026-11-23T09:04:06.532Z */
    CLOCK_DAY,     /* 2026-11-23 */
    CLOCK_DAY_KEY, /* 20261123 */
    CLOCK_HOUR_KEY /* 2026112309 */
} clock_form_t;

/* Write ms in form into out (at least CLOCK_TEXT_MAX bytes), NUL-terminated;
 * returns the length, or 0 (out = "") when clock_utc refuses ms. */
size_t clock_format(int64_t ms, clock_form_t form, char *out);

/* "YYYY-MM-DD" (NUL-terminated; UTC, 1970..9999, a real date: no
 * 2026-02-29) to days since 1970-01-01; -1 when it is not one. */
int clock_parse_day(const char *s, int64_t *day);

/* Calendar periods of the acceptance counters, in days since 1970-01-01
 * (UTC): the Monday that starts day's ISO week, and the first day of
 * day's month and of the month after it. day >= 0. */
int64_t clock_week_start(int64_t day);
int64_t clock_month_start(int64_t day);
int64_t clock_next_month(int64_t day);

#endif
