/*
 * stats.h - the acceptance statistics of a site, for its marketing team:
 *
 *   GET /v1/sites/{site}/stats?from=YYYY-MM-DD&to=YYYY-MM-DD&by=hour|day|week|month
 *                              [&variant=<id>][&purpose=<id>][&format=json|csv]
 *                              [&segment=device|browser|page]
 *
 * Site API key only. Counts, rates and the comparison of banner variants
 * (Newcombe's hybrid score interval for a difference of two proportions)
 * per bucket and over the range, as JSON or CSV (format=csv or
 * Accept: text/csv). One Redis round trip (store_stats_read). Weeks are
 * ISO weeks (from Monday) and months calendar months, UTC: by=week or
 * by=month widens the range to whole periods (the answer's from and to say
 * which).
 *
 * The range's total also has the segments (by_device, by_browser, and by_page for a site
 * with page_groups: banner
 * events and banner consents by the request's device class and browser
 * family) and time_to_decide (median and quartiles of the banner's time to
 * decide per outcome, for all and per variant); segment= makes the CSV the
 * table of that segment over the range instead of the buckets.
 *
 * The maths is exposed for the unit tests.
 */
#ifndef CONSENTD_STATS_H
#define CONSENTD_STATS_H

#include <stdint.h>

#include "http.h"

#define STATS_DAYS_MAX 400            /* by=day */
#define STATS_HOUR_DAYS_MAX 31        /* by=hour */
#define STATS_MONTH_DAYS_MAX 1096     /* by=month: three years (widened to whole months) */
#define STATS_DEFAULT_DAYS 30         /* the last 30 days, today included */
#define STATS_Z95 1.959963985         /* two-sided 95% normal quantile */
#define STATS_CACHE_BYTES (16u << 20) /* answers a worker thread keeps (stats.cache_seconds) */

void stats_get(http_request_t *rq);

/* num / den, or NAN when den is 0 (printed null). */
double stats_rate(uint64_t num, uint64_t den);

/* Wilson score interval of x successes in n trials at z. Returns 0, or -1
 * when n is 0 (or x > n). */
int stats_wilson(uint64_t x, uint64_t n, double z, double *low, double *high);

/* Newcombe's hybrid score interval (his method 10, Statistics in Medicine
 * 1998) for the difference of two proportions p1 - p2 = x1/n1 - x2/n2,
 * built from the Wilson intervals of each. Returns 0, or -1 when n1 or n2
 * is 0. */
int stats_newcombe(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, double z, double *diff,
                   double *low, double *high);

/* The q-quantile (0 < q < 1) of a time-to-decide histogram (bins of
 * counters_ttd_edges): the rank q * n found in its bin, interpolated there
 * (linearly in the first bin, [0, 250) ms; geometrically in the others,
 * whose edges double: as if the times were spread evenly in log scale).
 * Exact to the bin: the true quantile lies in the same bin, so the figure
 * is within a factor 2 of it (within 250 ms in the first bin). Returns 0,
 * or -1 when the histogram is empty. */
int stats_ttd_quantile(const uint64_t *bins, double q, double *ms);

#endif
