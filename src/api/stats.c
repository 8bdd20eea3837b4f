/*
 * stats.c - GET /v1/sites/{site}/stats: counts, rates and the comparison of
 * banner variants over a range of UTC days, by day or by hour.
 *
 * One store_stats_read() call (one FCALL) returns, per bucket, the fields of
 * the dimension asked for (all, or v.<variant>), and the range's totals of
 * the fields the answer needs from the other dimensions (languages,
 * sources, every variant), plus the unique visitors; the rates and
 * intervals are computed here. The field list is derived from the site and
 * the query by stats_layout(), before the call and again in the reply
 * callback, so the pending state only keeps the query.
 *
 * Rates are fractions, null when the denominator is 0: interaction_rate =
 * banner decisions / shown (for all: s.banner|decisions, since consents
 * from forms, call centres or the API were never shown a banner; for a
 * variant: its decisions, which are all banner ones), accept_all_share =
 * accept_all / decisions (and reject_all, custom alike), acceptance_rate =
 * granted / (granted + refused) per purpose.
 */
#include "stats.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "answer_cache.h"
#include "counters.h"
#include "clock.h"
#include "json.h"
#include "store.h"
#include "strbuf.h"

#define STATS_PARAM_MAX 64
#define STATS_METHOD "Newcombe hybrid score interval (Wilson score intervals), 95%"

/* ---- maths ---------------------------------------------------------------- */

double stats_rate(uint64_t num, uint64_t den)
{
    return den == 0 ? NAN : (double)num / (double)den;
}

int stats_wilson(uint64_t x, uint64_t n, double z, double *low, double *high)
{
    if (n == 0 || x > n) return -1;
    double nn = (double)n, p = (double)x / nn, z2 = z * z;
    double denom = 1 + z2 / nn;
    double centre = (p + z2 / (2 * nn)) / denom;
    double half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
    /* Exact at the ends (x = 0: low is 0; x = n: high is 1), where rounding
     * would leave a hair off. */
    *low = x == 0 || centre - half < 0 ? 0 : centre - half;
    *high = x == n || centre + half > 1 ? 1 : centre + half;
    return 0;
}

int stats_newcombe(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, double z, double *diff,
                   double *low, double *high)
{
    double l1, u1, l2, u2;
    if (stats_wilson(x1, n1, z, &l1, &u1) != 0 || stats_wilson(x2, n2, z, &l2, &u2) != 0) return -1;
    double p1 = (double)x1 / (double)n1, p2 = (double)x2 / (double)n2;
    *diff = p1 - p2;
    *low = *diff - sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
    *high = *diff + sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
    return 0;
}

/* ---- the query --------------------------------------------------------------- */

/* What the pending call keeps: the query, resolved against the site. */
typedef struct stats_query {
    int64_t from_day, to_day; /* by week or month: widened to whole periods */
    store_by_t by;
    int csv;
    int variant;                          /* index in site->variants, -1: all */
    int purpose;                          /* index in site->purposes, -1: every counted one */
    int segment;                          /* CSV of a segment: counters_dim_t, 0: the buckets */
    char cache_key[ANSWER_CACHE_KEY_MAX]; /* "" when the answer is not to be kept */
    uint64_t cache_until_ms;              /* h2o_now() until which it may be served */
    metrics_t *metrics;                   /* the worker's: which Redis answered */
} stats_query_t;

/*
 * The fields asked for, in order. Bucket fields (dim D = all or v.<variant>):
 *   [0, 8)            D|<metric> in counters_metric_t order
 *   8                 the interaction numerator: s.banner|decisions (all) or
 *                     v.<variant>|decisions
 *   9 + 2k, 10 + 2k   D|g.<purpose k>, D|r.<purpose k>
 * Total fields, summed over the range:
 *   lang_at           per language: shown, decisions, accept_all, reject_all, custom
 *   source_at         per source: decisions, accept_all, reject_all, custom
 *   variants_at       per variant (when comparing): shown, decisions,
 *                     accept_all, then g./r. per purpose k
 *   device_at         per device class: shown, decisions, accept_all, reject_all, custom
 *   browser_at        per browser family: the same
 *   page_at           per page group, then other (sites with page_groups): the same
 *   ttd_at            time to decide: for all, then per variant: per outcome,
 *                     COUNTERS_TTD_BINS bins
 * Languages, sources and segments are not split by variant in the
 * counters: under a variant filter they are not asked for (null in the
 * answer).
 */
#define STATS_BF_PURPOSES 9
#define STATS_LANG_FIELDS 5
#define STATS_SOURCE_FIELDS 4
#define STATS_VARIANT_FIELDS 3

typedef struct stats_layout {
    size_t n_purposes;
    uint8_t purposes[SITE_MAX_PURPOSES]; /* indexes in site->purposes */
    size_t n_bucket_fields;
    size_t n_langs, lang_at;
    size_t n_sources, source_at;
    size_t n_variants, variants_at, variant_fields;
    size_t n_devices, device_at, n_browsers, browser_at, n_pages, page_at;
    size_t n_ttd_dims, ttd_at;
    size_t tcf_at, n_tcf_vendors; /* IAB TCF totals (stats_tcf_layout); tcf_at 0: none */
    size_t n_total_fields;
    /* JSON keys written once per answer (stats_layout_keys), not escaped
     * again for each of up to 744 buckets: "<purpose>":{"granted": and
     * "<metric>": (",": before all but the first). */
    h2o_iovec_t purpose_key[SITE_MAX_PURPOSES];
    h2o_iovec_t metric_key[COUNTERS_METRICS];
} stats_layout_t;

static void stats_tcf_layout(const site_t *site, const stats_query_t *q, stats_layout_t *l);

static const counters_metric_t stats_lang_metrics[STATS_LANG_FIELDS] = {
    COUNTERS_SHOWN, COUNTERS_DECISIONS, COUNTERS_ACCEPT_ALL, COUNTERS_REJECT_ALL, COUNTERS_CUSTOM};
static const counters_metric_t stats_source_metrics[STATS_SOURCE_FIELDS] = {
    COUNTERS_DECISIONS, COUNTERS_ACCEPT_ALL, COUNTERS_REJECT_ALL, COUNTERS_CUSTOM};
static const counters_metric_t stats_variant_metrics[STATS_VARIANT_FIELDS] = {
    COUNTERS_SHOWN, COUNTERS_DECISIONS, COUNTERS_ACCEPT_ALL};

static void stats_layout(const site_t *site, const stats_query_t *q, stats_layout_t *l)
{
    memset(l, 0, sizeof(*l));
    for (size_t i = 0; i < site->n_purposes; i++)
        if (site->purposes[i].legal_basis != LEGAL_BASIS_NECESSARY &&
            (q->purpose < 0 || (size_t)q->purpose == i))
            l->purposes[l->n_purposes++] = (uint8_t)i;
    l->n_bucket_fields = STATS_BF_PURPOSES + 2 * l->n_purposes;
    l->n_langs = q->variant < 0 ? site->n_languages : 0;
    l->n_sources = q->variant < 0 ? COUNTERS_SOURCES : 0;
    l->n_variants = site->n_variants >= 2 ? site->n_variants : 0;
    l->variant_fields = STATS_VARIANT_FIELDS + 2 * l->n_purposes;
    l->lang_at = 0;
    l->source_at = l->lang_at + l->n_langs * STATS_LANG_FIELDS;
    l->variants_at = l->source_at + l->n_sources * STATS_SOURCE_FIELDS;
    l->n_devices = q->variant < 0 ? USERAGENT_DEVICES : 0;
    l->n_browsers = q->variant < 0 ? USERAGENT_BROWSERS : 0;
    l->device_at = l->variants_at + l->n_variants * l->variant_fields;
    l->browser_at = l->device_at + l->n_devices * STATS_LANG_FIELDS;
    l->n_pages = q->variant < 0 && site->n_page_groups > 0 ? site->n_page_groups + 1 : 0;
    l->page_at = l->browser_at + l->n_browsers * STATS_LANG_FIELDS;
    l->n_ttd_dims = 1 + site->n_variants;
    l->ttd_at = l->page_at + l->n_pages * STATS_LANG_FIELDS;
    l->n_total_fields = l->ttd_at + l->n_ttd_dims * COUNTERS_TTD_OUTCOMES * COUNTERS_TTD_BINS;
    stats_tcf_layout(site, q, l);
}

/* The layout's JSON keys, in pool memory (stats_layout_t). */
static void stats_layout_keys(stats_layout_t *l, const site_t *site, h2o_mem_pool_t *pool)
{
    strbuf_t b;
    for (size_t k = 0; k < l->n_purposes; k++) {
        strbuf_init_pool(&b, pool);
        strbuf_json_str(&b, site->purposes[l->purposes[k]].id);
        strbuf_lit(&b, ":{\"granted\":");
        l->purpose_key[k] = h2o_iovec_init(b.buf, b.len);
    }
    for (int m = 0; m < COUNTERS_METRICS; m++) {
        strbuf_init_pool(&b, pool);
        strbuf_lit(&b, ",\"");
        strbuf_str(&b, counters_metric_names[m]);
        strbuf_lit(&b, "\":");
        l->metric_key[m] = h2o_iovec_init(b.buf, b.len);
    }
}

static int stats_tcf_field_names(const site_t *site, const stats_layout_t *l, const char **names,
                                 char *buf, size_t k);

/* The field names of the layout, in pool memory: bucket fields then totals. */
static const char **stats_field_names(h2o_mem_pool_t *pool, const site_t *site,
                                      const stats_query_t *q, const stats_layout_t *l)
{
    size_t n = l->n_bucket_fields + l->n_total_fields, k = 0;
    const char **names = h2o_mem_alloc_pool(pool, n * sizeof(*names));
    char *buf = h2o_mem_alloc_pool(pool, n * COUNTERS_FIELD_MAX);
    counters_dim_t dim = q->variant < 0 ? COUNTERS_DIM_ALL : COUNTERS_DIM_VARIANT;
    const char *dim_name = q->variant < 0 ? NULL : site->variants[q->variant].id;
#define STATS_FIELD(d, dn, m, p)                                                                   \
    do {                                                                                           \
        names[k] = buf + k * COUNTERS_FIELD_MAX;                                                   \
        if (counters_field(buf + k * COUNTERS_FIELD_MAX, COUNTERS_FIELD_MAX, d, dn, m, p) == 0)    \
            return NULL;                                                                           \
        k++;                                                                                       \
    } while (0)
    for (int m = 0; m < COUNTERS_METRICS; m++)
        STATS_FIELD(dim, dim_name, m, NULL);
    if (q->variant < 0)
        STATS_FIELD(COUNTERS_DIM_SOURCE, "banner", COUNTERS_DECISIONS, NULL);
    else
        STATS_FIELD(dim, dim_name, COUNTERS_DECISIONS, NULL);
    for (size_t i = 0; i < l->n_purposes; i++) {
        STATS_FIELD(dim, dim_name, 1, site->purposes[l->purposes[i]].id);
        STATS_FIELD(dim, dim_name, 0, site->purposes[l->purposes[i]].id);
    }
    for (size_t i = 0; i < l->n_langs; i++)
        for (size_t m = 0; m < STATS_LANG_FIELDS; m++)
            STATS_FIELD(COUNTERS_DIM_LANG, site->languages[i], stats_lang_metrics[m], NULL);
    for (size_t s = 0; s < l->n_sources; s++)
        for (size_t m = 0; m < STATS_SOURCE_FIELDS; m++)
            STATS_FIELD(COUNTERS_DIM_SOURCE, counters_source_names[s], stats_source_metrics[m],
                        NULL);
    for (size_t v = 0; v < l->n_variants; v++) {
        const char *id = site->variants[v].id;
        for (size_t m = 0; m < STATS_VARIANT_FIELDS; m++)
            STATS_FIELD(COUNTERS_DIM_VARIANT, id, stats_variant_metrics[m], NULL);
        for (size_t i = 0; i < l->n_purposes; i++) {
            STATS_FIELD(COUNTERS_DIM_VARIANT, id, 1, site->purposes[l->purposes[i]].id);
            STATS_FIELD(COUNTERS_DIM_VARIANT, id, 0, site->purposes[l->purposes[i]].id);
        }
    }
    for (size_t i = 0; i < l->n_devices; i++)
        for (size_t m = 0; m < STATS_LANG_FIELDS; m++)
            STATS_FIELD(COUNTERS_DIM_DEVICE, useragent_device_names[i], stats_lang_metrics[m],
                        NULL);
    for (size_t i = 0; i < l->n_browsers; i++)
        for (size_t m = 0; m < STATS_LANG_FIELDS; m++)
            STATS_FIELD(COUNTERS_DIM_BROWSER, useragent_browser_names[i], stats_lang_metrics[m],
                        NULL);
    for (size_t i = 0; i < l->n_pages; i++)
        for (size_t m = 0; m < STATS_LANG_FIELDS; m++)
            STATS_FIELD(COUNTERS_DIM_PAGE,
                        i < site->n_page_groups ? site->page_groups[i].id : "other",
                        stats_lang_metrics[m], NULL);
#undef STATS_FIELD
    for (size_t v = 0; v < l->n_ttd_dims; v++)
        for (int o = 0; o < COUNTERS_TTD_OUTCOMES; o++)
            for (int b = 0; b < COUNTERS_TTD_BINS; b++) {
                names[k] = buf + k * COUNTERS_FIELD_MAX;
                if (counters_ttd_field(buf + k * COUNTERS_FIELD_MAX, COUNTERS_FIELD_MAX,
                                       v == 0 ? COUNTERS_DIM_ALL : COUNTERS_DIM_VARIANT,
                                       v == 0 ? NULL : site->variants[v - 1].id, o, b) == 0)
                    return NULL;
                k++;
            }
    if (l->tcf_at != 0 && stats_tcf_field_names(site, l, names, buf, k) != 0) return NULL;
    return names;
}

/* ---- output ------------------------------------------------------------------ */

/* A rate: %.6g, or null (JSON) / nothing (CSV) when undefined. An answer
 * of 400 days has some 10 000 of them, and as many counts: numbers are
 * written by hand (strbuf.h), never by printf, so that rendering one does
 * not hold the worker (and the consent writes it also serves) for long. */
static void out_rate(strbuf_t *o, double r, int csv)
{
    if (isnan(r)) {
        if (!csv) strbuf_lit(o, "null");
        return;
    }
    strbuf_g6(o, r);
}

/* One bucket's (or the total's) numbers, from the layout's bucket fields. */
typedef struct stats_numbers {
    uint64_t m[COUNTERS_METRICS];
    uint64_t banner_decisions;
    uint64_t granted[SITE_MAX_PURPOSES], refused[SITE_MAX_PURPOSES]; /* per layout purpose */
    int has_unique; /* unique_visitors: 1 a number, -1 null, 0 absent */
    uint64_t unique;
} stats_numbers_t;

static void stats_numbers(const stats_layout_t *l, const uint64_t *row, stats_numbers_t *n)
{
    for (int m = 0; m < COUNTERS_METRICS; m++)
        n->m[m] = row[m];
    n->banner_decisions = row[COUNTERS_METRICS];
    for (size_t k = 0; k < l->n_purposes; k++) {
        n->granted[k] = row[STATS_BF_PURPOSES + 2 * k];
        n->refused[k] = row[STATS_BF_PURPOSES + 2 * k + 1];
    }
}

static void stats_numbers_add(const stats_layout_t *l, stats_numbers_t *sum,
                              const stats_numbers_t *n)
{
    for (int m = 0; m < COUNTERS_METRICS; m++)
        sum->m[m] += n->m[m];
    sum->banner_decisions += n->banner_decisions;
    for (size_t k = 0; k < l->n_purposes; k++) {
        sum->granted[k] += n->granted[k];
        sum->refused[k] += n->refused[k];
    }
}

static void out_purposes_json(strbuf_t *o, const stats_layout_t *l, const uint64_t *granted,
                              size_t g_step, const uint64_t *refused)
{
    strbuf_str(o, "\"purposes\":{");
    for (size_t k = 0; k < l->n_purposes; k++) {
        uint64_t g = granted[k * g_step], r = refused[k * g_step];
        if (k > 0) strbuf_put(o, ",", 1);
        strbuf_put(o, l->purpose_key[k].base, l->purpose_key[k].len);
        strbuf_u64(o, g);
        strbuf_lit(o, ",\"refused\":");
        strbuf_u64(o, r);
        strbuf_lit(o, ",\"acceptance_rate\":");
        out_rate(o, stats_rate(g, g + r), 0);
        strbuf_put(o, "}", 1);
    }
    strbuf_put(o, "}", 1);
}

/* The fields of a bucket or of the total, without the braces. */
static void out_numbers_json(strbuf_t *o, const stats_layout_t *l, const stats_numbers_t *n)
{
    for (int m = 0; m < COUNTERS_METRICS; m++) {
        strbuf_put(o, l->metric_key[m].base + (m == 0), l->metric_key[m].len - (m == 0));
        strbuf_u64(o, n->m[m]);
    }
    if (n->has_unique > 0) {
        strbuf_lit(o, ",\"unique_visitors\":");
        strbuf_u64(o, n->unique);
    } else if (n->has_unique < 0)
        strbuf_str(o, ",\"unique_visitors\":null");
    uint64_t d = n->m[COUNTERS_DECISIONS];
    strbuf_str(o, ",\"interaction_rate\":");
    out_rate(o, stats_rate(n->banner_decisions, n->m[COUNTERS_SHOWN]), 0);
    strbuf_str(o, ",\"accept_all_share\":");
    out_rate(o, stats_rate(n->m[COUNTERS_ACCEPT_ALL], d), 0);
    strbuf_str(o, ",\"reject_all_share\":");
    out_rate(o, stats_rate(n->m[COUNTERS_REJECT_ALL], d), 0);
    strbuf_str(o, ",\"custom_share\":");
    out_rate(o, stats_rate(n->m[COUNTERS_CUSTOM], d), 0);
    strbuf_put(o, ",", 1);
    out_purposes_json(o, l, n->granted, 1, n->refused);
}

static void out_numbers_csv(strbuf_t *o, const stats_layout_t *l, const stats_numbers_t *n)
{
    for (int m = 0; m < COUNTERS_METRICS; m++) {
        strbuf_char(o, ',');
        strbuf_u64(o, n->m[m]);
    }
    strbuf_put(o, ",", 1);
    if (n->has_unique > 0) strbuf_u64(o, n->unique);
    uint64_t d = n->m[COUNTERS_DECISIONS];
    strbuf_put(o, ",", 1);
    out_rate(o, stats_rate(n->banner_decisions, n->m[COUNTERS_SHOWN]), 1);
    strbuf_put(o, ",", 1);
    out_rate(o, stats_rate(n->m[COUNTERS_ACCEPT_ALL], d), 1);
    strbuf_put(o, ",", 1);
    out_rate(o, stats_rate(n->m[COUNTERS_REJECT_ALL], d), 1);
    strbuf_put(o, ",", 1);
    out_rate(o, stats_rate(n->m[COUNTERS_CUSTOM], d), 1);
    for (size_t k = 0; k < l->n_purposes; k++) {
        strbuf_char(o, ',');
        strbuf_u64(o, n->granted[k]);
        strbuf_char(o, ',');
        strbuf_u64(o, n->refused[k]);
        strbuf_char(o, ',');
        out_rate(o, stats_rate(n->granted[k], n->granted[k] + n->refused[k]), 1);
    }
    strbuf_put(o, "\n", 1);
}

static const char *const stats_by_names[] = {"hour", "day", "week", "month"};

/* When the next bucket starts, in hours since the Unix epoch. */
static int64_t stats_next_bucket(const stats_query_t *q, int64_t hour)
{
    switch (q->by) {
    case STORE_BY_HOUR:
        return hour + 1;
    case STORE_BY_DAY:
        return hour + 24;
    case STORE_BY_WEEK:
        return hour + 7 * 24;
    default:
        return clock_next_month(hour / 24) * 24;
    }
}

static void out_comparison(strbuf_t *o, const char *variant, const char *metric, uint64_t bx,
                           uint64_t bn, uint64_t x, uint64_t n, int *first)
{
    double diff, low, high;
    int ok = stats_newcombe(x, n, bx, bn, STATS_Z95, &diff, &low, &high) == 0;
    strbuf_str(o, *first ? "{\"variant\":" : ",{\"variant\":");
    *first = 0;
    strbuf_json_str(o, variant);
    strbuf_str(o, ",\"metric\":");
    strbuf_json_str(o, metric);
    strbuf_str(o, ",\"baseline_rate\":");
    out_rate(o, stats_rate(bx, bn), 0);
    strbuf_str(o, ",\"rate\":");
    out_rate(o, stats_rate(x, n), 0);
    strbuf_str(o, ",\"difference\":");
    out_rate(o, ok ? diff : NAN, 0);
    strbuf_str(o, ",\"ci_low\":");
    out_rate(o, ok ? low : NAN, 0);
    strbuf_str(o, ",\"ci_high\":");
    out_rate(o, ok ? high : NAN, 0);
    strbuf_str(o, ",\"excludes_zero\":");
    strbuf_str(o, !ok ? "null" : low > 0 || high < 0 ? "true" : "false");
    strbuf_put(o, "}", 1);
}

static void out_variants_comparison(strbuf_t *o, const site_t *site, const stats_layout_t *l,
                                    const uint64_t *totals)
{
    const uint64_t *base = totals + l->variants_at;
    strbuf_str(o, ",\"variants_comparison\":{\"method\":\"" STATS_METHOD "\",\"baseline\":");
    strbuf_json_str(o, site->variants[0].id);
    strbuf_str(o, ",\"variants\":{");
    for (size_t v = 0; v < l->n_variants; v++) {
        const uint64_t *t = base + v * l->variant_fields;
        if (v > 0) strbuf_put(o, ",", 1);
        strbuf_json_str(o, site->variants[v].id);
        strbuf_printf(o, ":{\"shown\":%llu,\"decisions\":%llu,\"accept_all\":%llu,",
                      (unsigned long long)t[0], (unsigned long long)t[1], (unsigned long long)t[2]);
        strbuf_str(o, "\"accept_all_rate\":");
        out_rate(o, stats_rate(t[2], t[1]), 0);
        strbuf_str(o, ",\"interaction_rate\":");
        out_rate(o, stats_rate(t[1], t[0]), 0);
        strbuf_put(o, ",", 1);
        out_purposes_json(o, l, t + STATS_VARIANT_FIELDS, 2, t + STATS_VARIANT_FIELDS + 1);
        strbuf_put(o, "}", 1);
    }
    strbuf_str(o, "},\"comparisons\":[");
    int first = 1;
    char metric[COUNTERS_FIELD_MAX];
    for (size_t v = 1; v < l->n_variants; v++) {
        const uint64_t *t = base + v * l->variant_fields;
        const char *id = site->variants[v].id;
        out_comparison(o, id, "accept_all_rate", base[2], base[1], t[2], t[1], &first);
        for (size_t k = 0; k < l->n_purposes; k++) {
            const uint64_t *bp = base + STATS_VARIANT_FIELDS + 2 * k;
            const uint64_t *vp = t + STATS_VARIANT_FIELDS + 2 * k;
            snprintf(metric, sizeof(metric), "acceptance_rate:%s",
                     site->purposes[l->purposes[k]].id);
            out_comparison(o, id, metric, bp[0], bp[0] + bp[1], vp[0], vp[0] + vp[1], &first);
        }
    }
    strbuf_str(o, "]}");
}

static void out_breakdowns(strbuf_t *o, const site_t *site, const stats_layout_t *l,
                           const uint64_t *totals, int filtered)
{
    if (filtered) {
        strbuf_str(o, ",\"by_language\":null,\"by_source\":null");
        return;
    }
    strbuf_str(o, ",\"by_language\":{");
    for (size_t i = 0; i < l->n_langs; i++) {
        const uint64_t *t = totals + l->lang_at + i * STATS_LANG_FIELDS;
        if (i > 0) strbuf_put(o, ",", 1);
        strbuf_json_str(o, site->languages[i]);
        strbuf_printf(o,
                      ":{\"shown\":%llu,\"decisions\":%llu,\"accept_all\":%llu,\"reject_all\":%llu,"
                      "\"custom\":%llu}",
                      (unsigned long long)t[0], (unsigned long long)t[1], (unsigned long long)t[2],
                      (unsigned long long)t[3], (unsigned long long)t[4]);
    }
    strbuf_str(o, "},\"by_source\":{");
    for (size_t s = 0; s < l->n_sources; s++) {
        const uint64_t *t = totals + l->source_at + s * STATS_SOURCE_FIELDS;
        strbuf_printf(o,
                      "%s\"%s\":{\"decisions\":%llu,\"accept_all\":%llu,\"reject_all\":%llu,"
                      "\"custom\":%llu}",
                      s > 0 ? "," : "", counters_source_names[s], (unsigned long long)t[0],
                      (unsigned long long)t[1], (unsigned long long)t[2], (unsigned long long)t[3]);
    }
    strbuf_put(o, "}", 1);
}

int stats_ttd_quantile(const uint64_t *bins, double q, double *ms)
{
    uint64_t n = 0;
    for (int b = 0; b < COUNTERS_TTD_BINS; b++)
        n += bins[b];
    if (n == 0 || !(q > 0 && q < 1)) return -1;
    double rank = q * (double)n, below = 0;
    for (int b = 0; b < COUNTERS_TTD_BINS; b++) {
        if (bins[b] == 0 || below + (double)bins[b] < rank) {
            below += (double)bins[b];
            continue;
        }
        double f = (rank - below) / (double)bins[b];
        double hi = counters_ttd_edges[b], lo = b == 0 ? 0 : counters_ttd_edges[b - 1];
        *ms = b == 0 ? lo + f * (hi - lo) : lo * pow(hi / lo, f);
        return 0;
    }
    return -1; /* not reached: rank <= n */
}

/* {"accept_all":{"n":..,"p25":..,"median":..,"p75":..},...} of the
 * histograms at t (per outcome, COUNTERS_TTD_BINS each). */
static void out_ttd_outcomes(strbuf_t *o, const uint64_t *t)
{
    static const double qs[3] = {0.25, 0.5, 0.75};
    static const char *const names[3] = {"p25", "median", "p75"};
    strbuf_put(o, "{", 1);
    for (int k = 0; k < COUNTERS_TTD_OUTCOMES; k++) {
        const uint64_t *bins = t + k * COUNTERS_TTD_BINS;
        uint64_t n = 0;
        for (int b = 0; b < COUNTERS_TTD_BINS; b++)
            n += bins[b];
        strbuf_printf(o, "%s\"%s\":{\"n\":%llu", k > 0 ? "," : "", counters_ttd_outcome_names[k],
                      (unsigned long long)n);
        for (int i = 0; i < 3; i++) {
            double ms;
            if (stats_ttd_quantile(bins, qs[i], &ms) == 0)
                strbuf_printf(o, ",\"%s\":%.0f", names[i], ms);
            else
                strbuf_printf(o, ",\"%s\":null", names[i]);
        }
        strbuf_put(o, "}", 1);
    }
    strbuf_put(o, "}", 1);
}

/* "time_to_decide": median and quartiles (ms) per outcome, for all and per
 * variant: a refusal much slower than an acceptance is the signature of an
 * asymmetric banner. */
static void out_time_to_decide(strbuf_t *o, const site_t *site, const stats_layout_t *l,
                               const uint64_t *totals)
{
    const size_t per = COUNTERS_TTD_OUTCOMES * COUNTERS_TTD_BINS;
    strbuf_str(o, ",\"time_to_decide\":{\"unit\":\"ms\",\"bins_ms\":[");
    for (int b = 0; b < COUNTERS_TTD_BINS; b++)
        strbuf_printf(o, "%s%d", b > 0 ? "," : "", counters_ttd_edges[b]);
    strbuf_str(o, "],\"all\":");
    out_ttd_outcomes(o, totals + l->ttd_at);
    strbuf_str(o, ",\"variants\":{");
    for (size_t v = 1; v < l->n_ttd_dims; v++) {
        if (v > 1) strbuf_put(o, ",", 1);
        strbuf_json_str(o, site->variants[v - 1].id);
        strbuf_put(o, ":", 1);
        out_ttd_outcomes(o, totals + l->ttd_at + v * per);
    }
    strbuf_str(o, "}}");
}

/* A segment's table (by_device, by_browser): n entries of STATS_LANG_FIELDS
 * at t, named names[i]. */
static void out_segment_json(strbuf_t *o, const char *key, const char *const *names, size_t n,
                             const uint64_t *t, int filtered)
{
    strbuf_printf(o, ",\"%s\":", key);
    if (filtered) {
        strbuf_str(o, "null");
        return;
    }
    strbuf_put(o, "{", 1);
    for (size_t i = 0; i < n; i++, t += STATS_LANG_FIELDS) {
        strbuf_printf(o,
                      "%s\"%s\":{\"shown\":%llu,\"decisions\":%llu,\"accept_all\":%llu,"
                      "\"reject_all\":%llu,\"custom\":%llu,\"interaction_rate\":",
                      i > 0 ? "," : "", names[i], (unsigned long long)t[0],
                      (unsigned long long)t[1], (unsigned long long)t[2], (unsigned long long)t[3],
                      (unsigned long long)t[4]);
        out_rate(o, stats_rate(t[1], t[0]), 0);
        strbuf_str(o, ",\"accept_all_share\":");
        out_rate(o, stats_rate(t[2], t[1]), 0);
        strbuf_str(o, ",\"reject_all_share\":");
        out_rate(o, stats_rate(t[3], t[1]), 0);
        strbuf_put(o, "}", 1);
    }
    strbuf_put(o, "}", 1);
}

/* The names of the site's page segment (its groups, then other) into names. */
static void stats_page_names(const site_t *site, const char *names[SITE_MAX_PAGE_GROUPS + 1])
{
    size_t n =
        site->n_page_groups < SITE_MAX_PAGE_GROUPS ? site->n_page_groups : SITE_MAX_PAGE_GROUPS;
    for (size_t i = 0; i < n; i++)
        names[i] = site->page_groups[i].id;
    names[n] = "other";
}

/* The CSV of one segment over the range. */
static void out_segment_csv(strbuf_t *o, const site_t *site, const stats_layout_t *l, int segment,
                            const uint64_t *totals)
{
    const char *pages[SITE_MAX_PAGE_GROUPS + 1];
    stats_page_names(site, pages);
    const char *const *names = segment == COUNTERS_DIM_DEVICE    ? useragent_device_names
                               : segment == COUNTERS_DIM_BROWSER ? useragent_browser_names
                                                                 : pages;
    size_t n = segment == COUNTERS_DIM_DEVICE    ? l->n_devices
               : segment == COUNTERS_DIM_BROWSER ? l->n_browsers
                                                 : l->n_pages;
    const uint64_t *t = totals + (segment == COUNTERS_DIM_DEVICE    ? l->device_at
                                  : segment == COUNTERS_DIM_BROWSER ? l->browser_at
                                                                    : l->page_at);
    strbuf_printf(o,
                  "%s,shown,decisions,accept_all,reject_all,custom,interaction_rate,"
                  "accept_all_share,reject_all_share,custom_share\n",
                  segment == COUNTERS_DIM_DEVICE    ? "device"
                  : segment == COUNTERS_DIM_BROWSER ? "browser"
                                                    : "page");
    for (size_t i = 0; i < n; i++, t += STATS_LANG_FIELDS) {
        strbuf_printf(o, "%s,%llu,%llu,%llu,%llu,%llu,", names[i], (unsigned long long)t[0],
                      (unsigned long long)t[1], (unsigned long long)t[2], (unsigned long long)t[3],
                      (unsigned long long)t[4]);
        out_rate(o, stats_rate(t[1], t[0]), 1);
        for (int k = 2; k <= 4; k++) {
            strbuf_put(o, ",", 1);
            out_rate(o, stats_rate(t[k], t[1]), 1);
        }
        strbuf_put(o, "\n", 1);
    }
}

#define STATS_JSON "application/json"
#define STATS_CSV "text/csv; charset=utf-8"

/* Send a: its body in the request pool already, or to be copied (a cached one). */
static void stats_send(http_request_t *rq, const answer_cached_t *a, int copy)
{
    http_header(rq, "vary", H2O_STRLIT("accept-encoding")); /* a kept answer may be gzipped */
    if (strcmp(a->content_type, STATS_JSON) == 0) {
        if (copy)
            http_send_json(rq, 200, a->body, a->len);
        else
            http_send_json_static(rq, 200, a->body, a->len);
        return;
    }
    if (a->disposition != NULL)
        http_header(rq, "content-disposition", a->disposition, strlen(a->disposition));
    http_header(rq, "cache-control", H2O_STRLIT("no-store"));
    (copy ? http_send_copy : http_send_static)(rq, 200, a->content_type, a->body, a->len);
}

static void out_tcf(strbuf_t *o, const site_t *site, const stats_layout_t *l,
                    const uint64_t *totals);

/*
 * The answer is rendered in slices of STATS_SLICE_BUCKETS buckets, one per
 * turn of the worker's event loop (h2o's zero timeout), so that the consent
 * writes this worker also serves are read and answered between slices: a
 * 400-day answer (630 KB, some 8 M instructions) would otherwise hold the
 * loop for a millisecond or more, and a dashboard looping on it would put
 * that on the writes' tail latency (issue 21, budget 2). The result is
 * copied out of the store's callback; the text grows in the request's pool,
 * touched only while the request is alive (http_pending_request).
 */
#define STATS_SLICE_BUCKETS 48

typedef struct stats_render {
    http_pending_t *p; /* owned: freed when the render ends */
    h2o_timeout_entry_t entry;
    stats_layout_t l;
    strbuf_t o;
    stats_numbers_t total;
    size_t n_buckets, n_bucket_fields, n_total_fields, next;
    int64_t hour;
    uint64_t *rows;    /* n_buckets x n_bucket_fields */
    uint64_t *uniques; /* n_buckets, or NULL */
    uint64_t *totals;  /* n_total_fields */
} stats_render_t;

static void stats_render_free(stats_render_t *r)
{
    http_pending_free(r->p);
    free(r->rows);
    free(r->uniques);
    free(r->totals);
    free(r);
}

static void stats_render_head(http_request_t *rq, const stats_query_t *q, stats_render_t *r)
{
    const site_t *site = rq->site;
    strbuf_t *o = &r->o;
    char from[CLOCK_TEXT_MAX], to[CLOCK_TEXT_MAX];
    clock_format(q->from_day * 86400000, CLOCK_DAY, from);
    clock_format(q->to_day * 86400000, CLOCK_DAY, to);
    if (q->csv && q->segment != 0) return; /* the segment's table, in the tail */
    if (q->csv) {
        strbuf_str(o, "start,shown,dismissed,panel_opened,decisions,accept_all,reject_all,custom,"
                      "withdrawn,unique_visitors,interaction_rate,accept_all_share,"
                      "reject_all_share,custom_share");
        for (size_t k = 0; k < r->l.n_purposes; k++) {
            const char *p = site->purposes[r->l.purposes[k]].id;
            strbuf_printf(o, ",%s_granted,%s_refused,%s_acceptance_rate", p, p, p);
        }
        strbuf_put(o, "\n", 1);
        return;
    }
    strbuf_str(o, "{\"site\":");
    strbuf_json_str(o, site->id);
    strbuf_printf(o, ",\"from\":\"%s\",\"to\":\"%s\",\"by\":\"%s\",\"variant\":", from, to,
                  stats_by_names[q->by]);
    if (q->variant >= 0)
        strbuf_json_str(o, site->variants[q->variant].id);
    else
        strbuf_str(o, "null");
    strbuf_str(o, ",\"purpose\":");
    if (q->purpose >= 0)
        strbuf_json_str(o, site->purposes[q->purpose].id);
    else
        strbuf_str(o, "null");
    strbuf_str(o, ",\"purposes\":[");
    for (size_t k = 0; k < r->l.n_purposes; k++) {
        if (k > 0) strbuf_put(o, ",", 1);
        strbuf_json_str(o, site->purposes[r->l.purposes[k]].id);
    }
    strbuf_str(o, "],\"variants\":[");
    for (size_t v = 0; v < site->n_variants; v++) {
        if (v > 0) strbuf_put(o, ",", 1);
        strbuf_json_str(o, site->variants[v].id);
    }
    strbuf_str(o, "],\"buckets\":[");
}

/* Buckets next.. up to n more. */
static void stats_render_rows(const stats_query_t *q, stats_render_t *r, size_t n)
{
    char start[CLOCK_TEXT_MAX];
    strbuf_t *o = &r->o;
    for (size_t end = r->next + n < r->n_buckets ? r->next + n : r->n_buckets; r->next < end;
         r->next++, r->hour = stats_next_bucket(q, r->hour)) {
        size_t i = r->next;
        stats_numbers_t num = {0};
        stats_numbers(&r->l, r->rows + i * r->n_bucket_fields, &num);
        stats_numbers_add(&r->l, &r->total, &num);
        if (q->by != STORE_BY_HOUR) {
            num.has_unique = q->variant >= 0 || r->uniques == NULL ? -1 : 1;
            num.unique = r->uniques != NULL ? r->uniques[i] : 0;
        }
        clock_format(r->hour * 3600000, CLOCK_ISO_S, start);
        if (q->csv) {
            strbuf_str(o, start);
            out_numbers_csv(o, &r->l, &num);
            continue;
        }
        if (i > 0) strbuf_char(o, ',');
        strbuf_lit(o, "{\"start\":\"");
        strbuf_str(o, start);
        strbuf_lit(o, "\",");
        out_numbers_json(o, &r->l, &num);
        strbuf_put(o, "}", 1);
    }
}

/* The totals, then the answer: kept (stats cache) and sent. */
static void stats_render_tail(http_request_t *rq, const stats_query_t *q, stats_render_t *r)
{
    const site_t *site = rq->site;
    strbuf_t *o = &r->o;
    answer_cached_t a = {.content_type = STATS_JSON};
    char disposition[160], from[CLOCK_TEXT_MAX], to[CLOCK_TEXT_MAX];
    if (q->csv) {
        clock_format(q->from_day * 86400000, CLOCK_DAY, from);
        clock_format(q->to_day * 86400000, CLOCK_DAY, to);
        if (q->segment != 0) {
            out_segment_csv(o, site, &r->l, q->segment, r->totals);
        } else {
            strbuf_str(o, "total");
            out_numbers_csv(o, &r->l, &r->total);
        }
        snprintf(disposition, sizeof(disposition),
                 "attachment; filename=\"consentd-%s-%s-%s%s%s.csv\"", site->id, from, to,
                 q->segment != 0 ? "-" : "",
                 q->segment == COUNTERS_DIM_DEVICE    ? "device"
                 : q->segment == COUNTERS_DIM_BROWSER ? "browser"
                 : q->segment == COUNTERS_DIM_PAGE    ? "page"
                                                      : "");
        a.content_type = STATS_CSV;
        a.disposition = disposition;
    } else {
        strbuf_str(o, "],\"total\":{");
        out_numbers_json(o, &r->l, &r->total);
        out_breakdowns(o, site, &r->l, r->totals, q->variant >= 0);
        out_segment_json(o, "by_device", useragent_device_names, r->l.n_devices,
                         r->totals + r->l.device_at, q->variant >= 0);
        out_segment_json(o, "by_browser", useragent_browser_names, r->l.n_browsers,
                         r->totals + r->l.browser_at, q->variant >= 0);
        const char *pages[SITE_MAX_PAGE_GROUPS + 1];
        stats_page_names(site, pages);
        out_segment_json(o, "by_page", pages, r->l.n_pages, r->totals + r->l.page_at,
                         q->variant >= 0 || site->n_page_groups == 0);
        strbuf_put(o, "}", 1);
        if (r->l.n_variants >= 2) out_variants_comparison(o, site, &r->l, r->totals);
        out_time_to_decide(o, site, &r->l, r->totals);
        if (r->l.tcf_at != 0) out_tcf(o, site, &r->l, r->totals);
        strbuf_put(o, "}", 1);
    }
    if (strbuf_failed(o)) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    a.body = o->buf;
    a.len = o->len;
    if (q->cache_key[0] != '\0')
        answer_cache_put(rq->worker->stats_cache, q->cache_key, &a, q->cache_until_ms,
                         h2o_now(rq->worker->ctx.loop));
    stats_send(rq, &a, 0);
}

/* One slice per loop turn; the last one answers. */
static void stats_render_on_turn(h2o_timeout_entry_t *entry)
{
    stats_render_t *r = H2O_STRUCT_FROM_MEMBER(stats_render_t, entry, entry);
    http_request_t *rq = http_pending_request(r->p);
    const stats_query_t *q = http_pending_state(r->p);
    if (rq == NULL) { /* the client has gone: its pool (and r->o) with it */
        stats_render_free(r);
        return;
    }
    stats_render_rows(q, r, STATS_SLICE_BUCKETS);
    if (r->next < r->n_buckets) {
        h2o_timeout_link(rq->worker->ctx.loop, &rq->worker->ctx.zero_timeout, &r->entry);
        return;
    }
    stats_render_tail(rq, q, r);
    stats_render_free(r);
}

static uint64_t *stats_copy(const uint64_t *v, size_t n)
{
    uint64_t *c = malloc((n > 0 ? n : 1) * sizeof(*c));
    if (c != NULL && n > 0) memcpy(c, v, n * sizeof(*c));
    return c;
}

/* Answer res: at once when it is small, else in slices (the render takes
 * p over). 0, or -1 when out of memory (p is still the caller's). */
static int stats_answer(http_request_t *rq, http_pending_t *p, const store_stats_result_t *res)
{
    const stats_query_t *q = http_pending_state(p);
    stats_render_t *r = calloc(1, sizeof(*r));
    if (r == NULL) return -1;
    stats_layout(rq->site, q, &r->l);
    stats_layout_keys(&r->l, rq->site, &rq->req->pool);
    strbuf_init_pool(&r->o, &rq->req->pool);
    r->total.has_unique = q->variant >= 0 ? -1 : 1;
    r->total.unique = res->unique_total;
    /* A segment's CSV is its table over the range: no bucket rows. */
    size_t n_buckets = q->csv && q->segment != 0 ? 0 : res->n_buckets;
    r->n_buckets = n_buckets;
    r->n_bucket_fields = res->n_bucket_fields;
    r->n_total_fields = res->n_total_fields;
    r->hour = q->from_day * 24;
    stats_render_head(rq, q, r);
    if (n_buckets <= STATS_SLICE_BUCKETS) { /* from the store's buffers, in one go */
        r->rows = (uint64_t *)res->buckets;
        r->uniques = (uint64_t *)res->bucket_uniques;
        r->totals = (uint64_t *)res->totals;
        stats_render_rows(q, r, n_buckets);
        stats_render_tail(rq, q, r);
        free(r);
        return 0;
    }
    r->rows = stats_copy(res->buckets, res->n_buckets * res->n_bucket_fields);
    r->uniques =
        res->bucket_uniques != NULL ? stats_copy(res->bucket_uniques, res->n_buckets) : NULL;
    r->totals = stats_copy(res->totals, res->n_total_fields);
    if (r->rows == NULL || r->totals == NULL ||
        (res->bucket_uniques != NULL && r->uniques == NULL)) {
        free(r->rows);
        free(r->uniques);
        free(r->totals);
        free(r);
        return -1;
    }
    r->p = p;
    stats_render_rows(q, r, STATS_SLICE_BUCKETS);
    r->entry.cb = stats_render_on_turn;
    h2o_timeout_link(rq->worker->ctx.loop, &rq->worker->ctx.zero_timeout, &r->entry);
    return 0;
}

static void stats_on_read(void *data, const store_stats_result_t *res, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    const stats_query_t *q = http_pending_state(p);
    if (res != NULL && (res->from_replica || res->fell_back))
        metrics_count(q->metrics,
                      res->from_replica ? METRICS_READS_REPLICA : METRICS_READS_FALLBACK, 1);
    if (rq != NULL) {
        if (err != NULL) {
            http_storage_error(rq, 0, err);
        } else if (res->n_buckets > STATS_SLICE_BUCKETS) {
            if (stats_answer(rq, p, res) == 0) return; /* the render frees p */
            http_error(rq, 500, "internal", "out of memory");
        } else if (stats_answer(rq, p, res) != 0) {
            http_error(rq, 500, "internal", "out of memory");
        }
    }
    http_pending_free(p);
}

/* ---- the endpoint ---------------------------------------------------------------- */

/* The raw value of query parameter name into out: its length, -1 when
 * absent, -2 when longer than cap - 1. */
static ssize_t stats_param(http_request_t *rq, const char *name, char *out, size_t cap)
{
    const char *path = rq->req->path.base, *end = path + rq->req->path.len;
    const char *p = memchr(path, '?', rq->req->path.len);
    size_t nlen = strlen(name);
    for (p = p != NULL ? p + 1 : end; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = (size_t)(stop - p) - nlen - 1;
            if (vlen >= cap) return -2;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return (ssize_t)vlen;
        }
        p = stop + 1;
    }
    return -1;
}

/* Does the Accept header ask for text/csv? */
static int stats_accepts_csv(http_request_t *rq)
{
    const h2o_iovec_t *accept = http_req_header(rq, "accept");
    static const char csv[] = "text/csv";
    size_t n = sizeof(csv) - 1;
    for (size_t i = 0; accept != NULL && i + n <= accept->len; i++)
        if (strncasecmp(accept->base + i, csv, n) == 0) return 1;
    return 0;
}

/* A date parameter: 0 absent, 1 set, -1 answered (400). */
static int stats_date_param(http_request_t *rq, const char *name, int64_t *day)
{
    char v[STATS_PARAM_MAX], msg[96];
    ssize_t n = stats_param(rq, name, v, sizeof(v));
    if (n == -1) return 0;
    if (n >= 0 && clock_parse_day(v, day) == 0) return 1;
    snprintf(msg, sizeof(msg), "%s must be a date YYYY-MM-DD (UTC)", name);
    http_error(rq, 400, "invalid_range", msg);
    return -1;
}

void stats_get(http_request_t *rq)
{
    const site_t *site = rq->site;
    http_caller_t caller = http_caller(rq);
    if (caller != HTTP_CALLER_SERVER) {
        /* A browser of the site has no business here: it gets the 401 too. */
        http_caller_error(rq, caller == HTTP_CALLER_BROWSER ? HTTP_CALLER_NONE : caller);
        return;
    }
    stats_query_t q = {.by = STORE_BY_DAY, .variant = -1, .purpose = -1};
    char v[STATS_PARAM_MAX], msg[160];
    ssize_t n;
    if ((n = stats_param(rq, "by", v, sizeof(v))) != -1) {
        size_t b = 0;
        while (b < 4 && strcmp(v, stats_by_names[b]) != 0)
            b++;
        if (b == 4) {
            http_error(rq, 400, "invalid_parameter", "by must be hour, day, week or month");
            return;
        }
        q.by = (store_by_t)b;
    }
    q.csv = stats_accepts_csv(rq);
    if ((n = stats_param(rq, "format", v, sizeof(v))) != -1) {
        if (n == 3 && strcmp(v, "csv") == 0) {
            q.csv = 1;
        } else if (n == 4 && strcmp(v, "json") == 0) {
            q.csv = 0;
        } else {
            http_error(rq, 400, "invalid_parameter", "format must be json or csv");
            return;
        }
    }
    int64_t today = (int64_t)time(NULL) / 86400;
    int has_from = stats_date_param(rq, "from", &q.from_day);
    if (has_from < 0) return;
    int has_to = stats_date_param(rq, "to", &q.to_day);
    if (has_to < 0) return;
    if (!has_to) q.to_day = has_from ? (today > q.from_day ? today : q.from_day) : today;
    if (!has_from) q.from_day = q.to_day - (STATS_DEFAULT_DAYS - 1);
    if (q.from_day < 0) q.from_day = 0;
    int64_t days = q.to_day - q.from_day + 1;
    if (q.from_day > q.to_day) {
        http_error(rq, 400, "invalid_range", "from is after to");
        return;
    }
    int max_days = q.by == STORE_BY_HOUR    ? STATS_HOUR_DAYS_MAX
                   : q.by == STORE_BY_MONTH ? STATS_MONTH_DAYS_MAX
                                            : STATS_DAYS_MAX;
    if (days > max_days) {
        snprintf(msg, sizeof(msg), "by=%s covers at most %d days; this range has %lld",
                 stats_by_names[q.by], max_days, (long long)days);
        http_error(rq, 400, "invalid_range", msg);
        return;
    }
    /* Weeks (ISO, from Monday) and months are whole: the range widens to them. */
    if (q.by == STORE_BY_WEEK) {
        q.from_day = clock_week_start(q.from_day);
        q.to_day = clock_week_start(q.to_day) + 6;
    } else if (q.by == STORE_BY_MONTH) {
        q.from_day = clock_month_start(q.from_day);
        q.to_day = clock_next_month(q.to_day) - 1;
    }
    if (q.from_day < 0) { /* the week of 1970-01-01 began in 1969: start at the next */
        q.from_day += 7;
    }
    if ((n = stats_param(rq, "variant", v, sizeof(v))) != -1) {
        const site_variant_t *var = n > 0 ? site_variant_find(site, v, (size_t)n) : NULL;
        if (var == NULL) {
            http_error(rq, 400, "unknown_variant", "this site declares no such banner variant");
            return;
        }
        q.variant = (int)(var - site->variants);
    }
    if ((n = stats_param(rq, "segment", v, sizeof(v))) != -1) {
        if (strcmp(v, "device") == 0) {
            q.segment = COUNTERS_DIM_DEVICE;
        } else if (strcmp(v, "browser") == 0) {
            q.segment = COUNTERS_DIM_BROWSER;
        } else if (strcmp(v, "page") == 0 && site->n_page_groups > 0) {
            q.segment = COUNTERS_DIM_PAGE;
        } else {
            http_error(rq, 400, "invalid_parameter",
                       site->n_page_groups > 0
                           ? "segment must be device, browser or page"
                           : "segment must be device or browser (page: the site declares no "
                             "page_groups)");
            return;
        }
        if (q.variant >= 0) {
            http_error(rq, 400, "invalid_parameter",
                       "segments are not split by variant: segment and variant do not go together");
            return;
        }
    }
    if ((n = stats_param(rq, "purpose", v, sizeof(v))) != -1) {
        const site_purpose_t *p = n > 0 ? site_purpose_find(site, v, (size_t)n) : NULL;
        if (p == NULL || p->legal_basis == LEGAL_BASIS_NECESSARY) {
            http_error(rq, 400, "unknown_purpose",
                       p == NULL ? "this site has no such purpose"
                                 : "a necessary purpose is always granted: it is not counted");
            return;
        }
        q.purpose = (int)(p - site->purposes);
    }

    /* The same query, answered a moment ago by this thread: its answer.
     * Counts of a range that ends today or yesterday may still arrive (a
     * flush, a batch sent again): kept stats.cache_seconds; a range that
     * ended before: stats.cache_closed_seconds. */
    uint64_t now = h2o_now(rq->worker->ctx.loop);
    int64_t closed_at = (q.to_day + 1) * 86400000 + 3600000; /* its last flushes are in */
    uint32_t keep_ms = clock_real_ms() >= closed_at ? rq->worker->cfg->stats_cache_closed_ms
                                                    : rq->worker->cfg->stats_cache_ms;
    if (keep_ms > 0 && rq->worker->stats_cache != NULL) {
        snprintf(q.cache_key, sizeof(q.cache_key), "%llu|%s|%lld|%lld|%d|%d|%d|%d|%d",
                 (unsigned long long)rq->worker->snap->generation, site->id, (long long)q.from_day,
                 (long long)q.to_day, (int)q.by, q.variant, q.purpose, q.csv, q.segment);
        q.cache_until_ms = now + keep_ms;
        answer_cached_t hit;
        if (answer_cache_get(rq->worker->stats_cache, q.cache_key, now, &hit)) {
            /* Asked again: gzipped once for all the hits that accept it. */
            const char *gz;
            size_t gz_len;
            if (http_accepts_encoding(rq, "gzip") &&
                answer_cache_gzip(rq->worker->stats_cache, q.cache_key, now, &gz, &gz_len)) {
                hit.body = gz;
                hit.len = gz_len;
                http_header(rq, "content-encoding", H2O_STRLIT("gzip"));
            }
            stats_send(rq, &hit, 1);
            return;
        }
    }

    stats_layout_t l;
    stats_layout(site, &q, &l);
    const char **fields = stats_field_names(&rq->req->pool, site, &q, &l);
    if (fields == NULL) {
        http_error(rq, 500, "internal", "a counter field name does not fit");
        return;
    }
    store_stats_query_t sq = {
        .site_id = site->id,
        .by = q.by,
        .first_day = q.from_day,
        .last_day = q.to_day,
        .retention_days = site->stats_retention_days,
        .uniques = q.variant < 0, /* no unique visitors per variant */
        .n_bucket_fields = l.n_bucket_fields,
        .bucket_fields = fields,
        .n_total_fields = l.n_total_fields,
        .total_fields = fields + l.n_bucket_fields,
    };
    http_pending_t *p = http_pending_new(rq, sizeof(q));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    q.metrics = rq->worker->metrics;
    memcpy(http_pending_state(p), &q, sizeof(q));
    int rc =
        store_stats_read_from(rq->worker->redis, rq->worker->redis_read, &sq, stats_on_read, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- IAB TCF choices (issue 24, item 6) ------------------------------------- */

/* Totals per TCF purpose and per vendor of a TCF site (counters_tcf): three
 * fields each (g, r, o), after every other total; the JSON answer of the
 * whole site only (no variant filter, not the CSV). Vendors: those counted
 * (counters_tcf_vendors), as many as fit in one query
 * (STORE_STATS_FIELDS_MAX), the site's first by ID. */
#define STATS_TCF_TOP 20

static void stats_tcf_layout(const site_t *site, const stats_query_t *q, stats_layout_t *l)
{
    if (!site->tcf.enabled || q->variant >= 0 || q->csv) return;
    size_t used = l->n_bucket_fields + l->n_total_fields + 3 * TCF_PURPOSES_MAX;
    size_t room = used < STORE_STATS_FIELDS_MAX ? (STORE_STATS_FIELDS_MAX - used) / 3 : 0;
    l->tcf_at = l->n_total_fields;
    l->n_tcf_vendors = counters_tcf_vendors(site) < room ? counters_tcf_vendors(site) : room;
    l->n_total_fields += 3 * (TCF_PURPOSES_MAX + l->n_tcf_vendors);
}

static int stats_tcf_field_names(const site_t *site, const stats_layout_t *l, const char **names,
                                 char *buf, size_t k)
{
    static const char what[3] = {'g', 'r', 'o'};
    for (size_t i = 0; i < TCF_PURPOSES_MAX + l->n_tcf_vendors; i++)
        for (size_t w = 0; w < 3; w++, k++) {
            names[k] = buf + k * COUNTERS_FIELD_MAX;
            unsigned id = i < TCF_PURPOSES_MAX ? (unsigned)i + 1
                                               : site->tcf.rules.vendors[i - TCF_PURPOSES_MAX].id;
            if (counters_tcf_field(buf + k * COUNTERS_FIELD_MAX, COUNTERS_FIELD_MAX,
                                   i < TCF_PURPOSES_MAX ? 'p' : 'v', id, what[w]) == 0)
                return -1;
        }
    return 0;
}

static void out_tcf_counts(strbuf_t *o, const char *key, unsigned id, const uint64_t *t)
{
    strbuf_printf(o, "{\"%s\":%u,\"granted\":%llu,\"refused\":%llu,\"objected\":%llu,", key, id,
                  (unsigned long long)t[0], (unsigned long long)t[1], (unsigned long long)t[2]);
    strbuf_str(o, "\"refusal_rate\":");
    out_rate(o, stats_rate(t[1], t[0] + t[1]), 0);
    strbuf_put(o, "}", 1);
}

/* "tcf": {"purposes": [...], "top_vendors_by_refusal": [...], "vendors_counted": N} */
static void out_tcf(strbuf_t *o, const site_t *site, const stats_layout_t *l,
                    const uint64_t *totals)
{
    const uint64_t *t = totals + l->tcf_at;
    const tcf_site_rules_t *r = &site->tcf.rules;
    strbuf_str(o, ",\"tcf\":{\"purposes\":[");
    int first = 1;
    for (unsigned p = 1; p <= TCF_PURPOSES_MAX; p++) {
        if (!((r->purposes_consent | r->purposes_li) & TCF_BIT(p))) continue;
        if (!first) strbuf_put(o, ",", 1);
        first = 0;
        out_tcf_counts(o, "purpose", p, t + 3 * (p - 1));
    }
    /* The top STATS_TCF_TOP vendors by refusals (then by ID), by selection:
     * at most STATS_TCF_TOP passes over the site's vendors. */
    const uint64_t *v = t + 3 * TCF_PURPOSES_MAX;
    strbuf_str(o, "],\"top_vendors_by_refusal\":[");
    uint64_t last = UINT64_MAX;
    size_t last_i = SIZE_MAX;
    for (size_t n = 0; n < STATS_TCF_TOP; n++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < l->n_tcf_vendors; i++) {
            uint64_t ref = v[3 * i + 1];
            /* after (last, last_i) in the order: refusals down, then index up */
            if (ref == 0 || ref > last || (ref == last && i <= last_i)) continue;
            if (best == SIZE_MAX || ref > v[3 * best + 1]) best = i;
        }
        if (best == SIZE_MAX) break;
        if (n > 0) strbuf_put(o, ",", 1);
        out_tcf_counts(o, "vendor", r->vendors[best].id, v + 3 * best);
        last = v[3 * best + 1];
        last_i = best;
    }
    strbuf_printf(o, "],\"vendors_counted\":%zu}", l->n_tcf_vendors);
}
