/*
 * counters.c - acceptance counters summed per worker thread, flushed to
 * Redis in batches (what and why: counters.h).
 *
 * Layout in memory. A group holds the counts of one site for one UTC hour
 * in a dense array of n_dims x n_metrics uint32, indexed from the site's
 * own declarations, so that counting is a few array increments:
 *
 *   dim     0 all | 1..V variants | V+1..V+L languages | V+L+1..V+L+4 sources
 *           | then USERAGENT_DEVICES devices | then USERAGENT_BROWSERS browsers
 *           | then the site's page groups and other (none without page groups)
 *   metric  0..7 counters_metric_t | 8 + 2p: g.<purpose p> | 9 + 2p: r.<purpose p>
 *
 * followed by the time-to-decide histograms, (1 + V) x COUNTERS_TTD_OUTCOMES
 * x COUNTERS_TTD_BINS (dim all, then each variant; outcome; bin):
 * n_dims x n_metrics + n_ttd cells in all.
 *
 * (V, L: the site's variants and languages, p: index in site->purposes.)
 * Those indexes only mean something for that very site_t, so a group is
 * keyed by (site_t pointer, hour) and holds a reference on the site set the
 * site belongs to: the pointer stays valid (and unique) as long as the group
 * lives. After a reload the same site counts into a new group; both are
 * flushed to the same keys.
 *
 * Groups live in an array (for the flush) indexed by an open-addressing
 * table (for counting). A group is kept after a flush, its counts zeroed,
 * and freed at the first flush that finds it empty, or once its hour is
 * over: with steady traffic nothing is allocated per request. Visitor ids
 * go into fixed slots of the group, up to COUNTERS_VISITORS_MAX; a full
 * group is flushed at once.
 */
#include "counters.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "visitor.h"

#define COUNTERS_MS_PER_HOUR 3600000LL
#define COUNTERS_VISITOR_SLOT (VISITOR_ID_MAX + 1)
#define COUNTERS_VISITORS_INITIAL 16
#define COUNTERS_TABLE_MIN 64
#define COUNTERS_LOG_EVERY_MS 10000 /* at most one failure line per 10 s per thread */
/* A batch waits at most this long to be sent again: well within the hour
 * Redis remembers its number (STORE_BATCH_TTL_MS), so that a retry whose
 * first send ran is always recognised. */
#define COUNTERS_RETRY_MAX_AGE_MS (STORE_BATCH_TTL_MS / 2)
_Static_assert(COUNTERS_RETRY_MAX_AGE_MS < STORE_BATCH_TTL_MS, "retries within Redis' memory");

const char *const counters_metric_names[COUNTERS_METRICS] = {
    "shown",      "dismissed",  "panel_opened", "decisions",
    "accept_all", "reject_all", "custom",       "withdrawn"};

const char *const counters_source_names[COUNTERS_SOURCES] = {"banner", "form", "call_center",
                                                             "api"};

const char *const counters_ttd_outcome_names[COUNTERS_TTD_OUTCOMES] = {"accept_all", "reject_all",
                                                                       "custom", "dismiss"};
const int32_t counters_ttd_edges[COUNTERS_TTD_BINS] = {
    250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, COUNTERS_TTD_MAX_MS + 1};

int counters_ttd_bin(int32_t ms)
{
    if (ms < 0 || ms > COUNTERS_TTD_MAX_MS) return -1;
    int b = 0;
    while (ms >= counters_ttd_edges[b])
        b++;
    return b;
}

size_t counters_ttd_field(char *out, size_t cap, counters_dim_t dim, const char *variant,
                          int outcome, int bin)
{
    if (outcome < 0 || outcome >= COUNTERS_TTD_OUTCOMES || bin < 0 || bin >= COUNTERS_TTD_BINS ||
        (dim != COUNTERS_DIM_ALL && (dim != COUNTERS_DIM_VARIANT || variant == NULL)))
        return 0;
    int n =
        snprintf(out, cap, "%s%s|t.%s.%d", dim == COUNTERS_DIM_ALL ? "all" : "v.",
                 dim == COUNTERS_DIM_ALL ? "" : variant, counters_ttd_outcome_names[outcome], bin);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

typedef struct counters_group {
    site_set_t *sites; /* one reference: keeps site (and the indexes below) valid */
    const site_t *site;
    int64_t hour; /* hours since the Unix epoch, UTC */
    uint32_t n_dims, n_metrics;
    uint32_t n_ttd;   /* time-to-decide cells after the n_dims x n_metrics */
    uint64_t touched; /* increments since the last flush */
    uint32_t n_visitors, cap_visitors;
    char *visitors; /* cap_visitors slots of COUNTERS_VISITOR_SLOT bytes */
    uint32_t *tcf;  /* IAB TCF counts (counters_tcf), NULL until one; tcf_cells of them */
    uint32_t tcf_cells;
    uint32_t counts[]; /* n_dims * n_metrics + n_ttd */
} counters_group_t;

/* A batch sent to Redis, kept until Redis answers that it applied it (or
 * that it had already): its exact arguments, so that sending it again is
 * the same batch (sender, seq) that consentd_count applies at most once. */
typedef struct counters_batch {
    struct counters_batch *next; /* in the waiting queue */
    counters_t *c;
    char site_id[SITE_ID_MAX + 1];
    int64_t hour;
    uint32_t retention_days;
    uint64_t seq;
    int64_t first_ms; /* when it was first sent */
    uint64_t weight;  /* counts and visitor ids it holds */
    size_t bytes;     /* its allocation */
    size_t n_fields, n_visitors;
    const char **fields;
    uint64_t *values;
    const char **visitors;
} counters_batch_t;

struct counters {
    redis_t *redis;
    metrics_t *metrics;
    char sender[STORE_BATCH_SENDER_LEN + 1];  /* random, this counters_t's batches */
    uint64_t seq;                             /* the last batch number given */
    counters_batch_t *waiting, *waiting_tail; /* to send again, oldest first */
    size_t waiting_n, waiting_bytes;
    uint64_t waiting_weight;
    counters_group_t **groups;
    size_t n_groups, cap_groups;
    uint32_t *table; /* index + 1 into groups; 0: empty */
    size_t table_mask;
    counters_group_t *last; /* the group counted into last: most requests hit it again */
    /* Scratch of a flush, kept between flushes. */
    char *names;
    size_t names_cap;
    const char **fields;
    uint64_t *values;
    size_t fields_cap;
    const char **visitors;
    int64_t logged_ms;
};

size_t counters_field(char *out, size_t cap, counters_dim_t dim, const char *dim_name, int metric,
                      const char *purpose)
{
    static const char *const prefixes[] = {"all", "v.", "l.", "s.", "d.", "b.", "p."};
    const char *metric_prefix = purpose == NULL ? "" : metric ? "g." : "r.";
    const char *metric_name = purpose != NULL ? purpose
                              : metric >= 0 && metric < COUNTERS_METRICS
                                  ? counters_metric_names[metric]
                                  : NULL;
    if (metric_name == NULL || (dim != COUNTERS_DIM_ALL && dim_name == NULL) ||
        (unsigned)dim > COUNTERS_DIM_PAGE)
        return 0;
    int n = snprintf(out, cap, "%s%s|%s%s", prefixes[dim], dim == COUNTERS_DIM_ALL ? "" : dim_name,
                     metric_prefix, metric_name);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

counters_t *counters_create(redis_t *r, metrics_t *m)
{
    counters_t *c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    c->redis = r;
    c->metrics = m;
    c->table = calloc(COUNTERS_TABLE_MIN, sizeof(*c->table));
    if (c->table == NULL) {
        free(c);
        return NULL;
    }
    c->table_mask = COUNTERS_TABLE_MIN - 1;
    unsigned char id[STORE_BATCH_SENDER_LEN / 2];
    randombytes_buf(id, sizeof(id));
    for (size_t i = 0; i < sizeof(id); i++)
        snprintf(c->sender + 2 * i, 3, "%02x", id[i]);
    return c;
}

static void counters_group_free(counters_group_t *g)
{
    site_set_release(g->sites);
    free(g->visitors);
    free(g->tcf);
    free(g);
}

uint64_t counters_pending(const counters_t *c)
{
    uint64_t n = c != NULL ? c->waiting_weight : 0;
    for (size_t i = 0; c != NULL && i < c->n_groups; i++)
        n += c->groups[i]->touched + c->groups[i]->n_visitors;
    return n;
}

void counters_destroy(counters_t *c)
{
    if (c == NULL) return;
    uint64_t lost = counters_pending(c);
    if (lost > 0)
        log_msg(LOG_WARN,
                "counters: %llu counts and visitor ids could not be sent to Redis "
                "and are lost",
                (unsigned long long)lost);
    for (size_t i = 0; i < c->n_groups; i++)
        counters_group_free(c->groups[i]);
    while (c->waiting != NULL) {
        counters_batch_t *b = c->waiting;
        c->waiting = b->next;
        free(b);
    }
    free(c->groups);
    free(c->table);
    free(c->names);
    free(c->fields);
    free(c->values);
    free(c->visitors);
    free(c);
}

/* ---- the group table ------------------------------------------------------ */

static size_t counters_hash(const site_t *site, int64_t hour)
{
    uint64_t h = (uint64_t)(uintptr_t)site * 0x9e3779b97f4a7c15ull;
    h ^= (uint64_t)hour * 0xc2b2ae3d27d4eb4full;
    return (size_t)(h ^ (h >> 29));
}

static void counters_table_insert(counters_t *c, size_t index)
{
    const counters_group_t *g = c->groups[index];
    size_t slot = counters_hash(g->site, g->hour) & c->table_mask;
    while (c->table[slot] != 0)
        slot = (slot + 1) & c->table_mask;
    c->table[slot] = (uint32_t)index + 1;
}

/* Rebuild the table for the groups there are, at most half full. */
static int counters_table_rebuild(counters_t *c)
{
    size_t size = COUNTERS_TABLE_MIN;
    while (size < 2 * (c->n_groups + 1))
        size *= 2;
    if (size > c->table_mask + 1) { /* grows only: a rebuild after removals cannot fail */
        uint32_t *table = calloc(size, sizeof(*table));
        if (table == NULL) return -1;
        free(c->table);
        c->table = table;
        c->table_mask = size - 1;
    } else { /* every slot: the table keeps its size, and old slots name freed groups */
        memset(c->table, 0, (c->table_mask + 1) * sizeof(*c->table));
    }
    for (size_t i = 0; i < c->n_groups; i++)
        counters_table_insert(c, i);
    return 0;
}

static void counters_drop(counters_t *c, uint64_t n)
{
    metrics_count(c->metrics, METRICS_STATS_DROPPED, n);
}

/* The group of (site, hour), created when there is none; NULL when the
 * memory bound is reached (the caller drops its counts). */
static counters_group_t *counters_group(counters_t *c, site_set_t *sites, const site_t *site,
                                        int64_t hour)
{
    counters_group_t *g = c->last;
    if (g != NULL && g->site == site && g->hour == hour) return g;
    for (size_t slot = counters_hash(site, hour) & c->table_mask; c->table[slot] != 0;
         slot = (slot + 1) & c->table_mask) {
        g = c->groups[c->table[slot] - 1];
        if (g->site == site && g->hour == hour) return c->last = g;
    }
    if (c->n_groups >= COUNTERS_GROUPS_MAX) return NULL;
    if (c->n_groups == c->cap_groups) {
        size_t cap = c->cap_groups == 0 ? 16 : c->cap_groups * 2;
        counters_group_t **groups = realloc(c->groups, cap * sizeof(*groups));
        if (groups == NULL) return NULL;
        c->groups = groups;
        c->cap_groups = cap;
    }
    uint32_t n_dims = 1 + (uint32_t)site->n_variants + (uint32_t)site->n_languages +
                      COUNTERS_SOURCES + USERAGENT_DEVICES + USERAGENT_BROWSERS +
                      (site->n_page_groups > 0 ? (uint32_t)site->n_page_groups + 1 : 0);
    uint32_t n_metrics = COUNTERS_METRICS + 2 * (uint32_t)site->n_purposes;
    uint32_t n_ttd = (1 + (uint32_t)site->n_variants) * COUNTERS_TTD_OUTCOMES * COUNTERS_TTD_BINS;
    g = calloc(1, sizeof(*g) + ((size_t)n_dims * n_metrics + n_ttd) * sizeof(g->counts[0]));
    if (g == NULL) return NULL;
    g->sites = site_set_retain(sites);
    g->site = site;
    g->hour = hour;
    g->n_dims = n_dims;
    g->n_metrics = n_metrics;
    g->n_ttd = n_ttd;
    c->groups[c->n_groups++] = g;
    if (2 * (c->n_groups + 1) > c->table_mask + 1) {
        if (counters_table_rebuild(c) != 0) {
            c->n_groups--;
            counters_group_free(g);
            return NULL;
        }
    } else {
        counters_table_insert(c, c->n_groups - 1);
    }
    return c->last = g;
}

/* ---- counting ----------------------------------------------------------------- */

#define COUNTERS_DIMS_MAX 7 /* dims one count goes to */

/* The dims a count goes to: all, then v.<variant>, l.<lang>, s.<source>
 * when known to the site, then d.<device> and b.<browser> when seg is
 * given. Returns how many. */
static size_t counters_dims(const site_t *site, const char *variant, const char *lang,
                            const char *source, const counters_segment_t *seg,
                            uint32_t dims[COUNTERS_DIMS_MAX])
{
    size_t n = 0;
    uint32_t base = 1;
    dims[n++] = 0;
    if (variant != NULL)
        for (size_t i = 0; i < site->n_variants; i++)
            if (strcmp(site->variants[i].id, variant) == 0) {
                dims[n++] = base + (uint32_t)i;
                break;
            }
    base += (uint32_t)site->n_variants;
    if (lang != NULL)
        for (size_t i = 0; i < site->n_languages; i++)
            if (strcmp(site->languages[i], lang) == 0) {
                dims[n++] = base + (uint32_t)i;
                break;
            }
    base += (uint32_t)site->n_languages;
    if (source != NULL)
        for (uint32_t i = 0; i < COUNTERS_SOURCES; i++)
            if (strcmp(counters_source_names[i], source) == 0) {
                dims[n++] = base + i;
                break;
            }
    base += COUNTERS_SOURCES;
    if (seg != NULL && (unsigned)seg->ua.device < USERAGENT_DEVICES &&
        (unsigned)seg->ua.browser < USERAGENT_BROWSERS) {
        dims[n++] = base + (uint32_t)seg->ua.device;
        dims[n++] = base + USERAGENT_DEVICES + (uint32_t)seg->ua.browser;
    }
    base += USERAGENT_DEVICES + USERAGENT_BROWSERS;
    if (seg != NULL && site->n_page_groups > 0 && seg->page >= 0 &&
        (size_t)seg->page <= site->n_page_groups)
        dims[n++] = base + (uint32_t)seg->page;
    return n;
}

static void counters_add(counters_group_t *g, const uint32_t *dims, size_t n_dims, uint32_t metric)
{
    for (size_t d = 0; d < n_dims; d++)
        g->counts[dims[d] * g->n_metrics + metric]++;
    g->touched += n_dims;
}

static int counters_flush_group(counters_t *c, counters_group_t *g);
static size_t counters_tcf_cells_set(const counters_group_t *g);
static size_t counters_tcf_batch(counters_t *c, const counters_group_t *g, size_t k);

static void counters_visitor(counters_t *c, counters_group_t *g, const char *visitor)
{
    size_t len = strlen(visitor);
    if (len == 0 || len > VISITOR_ID_MAX) return;
    if (g->n_visitors == g->cap_visitors) {
        if (g->cap_visitors < COUNTERS_VISITORS_MAX) {
            uint32_t cap = g->cap_visitors == 0 ? COUNTERS_VISITORS_INITIAL : 2 * g->cap_visitors;
            char *slots = realloc(g->visitors, (size_t)cap * COUNTERS_VISITOR_SLOT);
            if (slots == NULL) {
                counters_drop(c, 1);
                return;
            }
            g->visitors = slots;
            g->cap_visitors = cap;
        } else if (counters_flush_group(c, g) != 0 || g->n_visitors == g->cap_visitors) {
            counters_drop(c, 1); /* full, and Redis cannot take them now */
            return;
        }
    }
    memcpy(g->visitors + (size_t)g->n_visitors * COUNTERS_VISITOR_SLOT, visitor, len + 1);
    g->n_visitors++;
}

void counters_event(counters_t *c, site_set_t *sites, const site_t *site, counters_metric_t metric,
                    const char *lang, const char *variant, const char *visitor,
                    const counters_segment_t *seg, int64_t now_ms)
{
    if (c == NULL || metric > COUNTERS_PANEL_OPENED || now_ms < 0) return;
    uint32_t dims[COUNTERS_DIMS_MAX];
    size_t n = counters_dims(site, variant, lang, "banner", seg, dims);
    counters_group_t *g = counters_group(c, sites, site, now_ms / COUNTERS_MS_PER_HOUR);
    if (g == NULL) {
        counters_drop(c, n + (visitor != NULL));
        return;
    }
    counters_add(g, dims, n, (uint32_t)metric);
    if (visitor != NULL) counters_visitor(c, g, visitor);
}

/* The index of rec's purpose i in site->purposes, or -1. consent.c fills
 * the record in the site's order with the site's own strings. */
static int counters_purpose_index(const site_t *site, const store_record_t *rec, size_t i)
{
    if (i < site->n_purposes && rec->purposes[i] == site->purposes[i].id) return (int)i;
    for (size_t j = 0; j < site->n_purposes; j++)
        if (strcmp(site->purposes[j].id, rec->purposes[i]) == 0) return (int)j;
    return -1;
}

/* The time-to-decide cell of (variant dim v: 0 all, 1 + variant index;
 * outcome; bin) in g. */
static uint32_t *counters_ttd_cell(counters_group_t *g, uint32_t v, int outcome, int bin)
{
    return &g->counts[(size_t)g->n_dims * g->n_metrics +
                      (v * COUNTERS_TTD_OUTCOMES + (uint32_t)outcome) * COUNTERS_TTD_BINS +
                      (uint32_t)bin];
}

void counters_consent(counters_t *c, site_set_t *sites, const site_t *site,
                      const store_record_t *rec, const counters_segment_t *seg)
{
    if (c == NULL || rec == NULL || rec->issued_at_ms < 0) return;
    /* A withdrawal counts as one whatever its channel: the API's DELETE, or
     * the banner's panel refusing what was granted (action withdrawal). */
    int withdraw = rec->action != NULL && strcmp(rec->action, STORE_ACTION_WITHDRAWAL) == 0;
    int banner = rec->source != NULL && strcmp(rec->source, "banner") == 0;
    if (!banner) seg = NULL;
    uint32_t dims[COUNTERS_DIMS_MAX];
    size_t n = counters_dims(site, rec->variant, rec->lang, rec->source, seg, dims);
    counters_group_t *g = counters_group(c, sites, site, rec->issued_at_ms / COUNTERS_MS_PER_HOUR);
    if (g == NULL) {
        counters_drop(c, n + 1);
        return;
    }
    if (withdraw) {
        counters_add(g, dims, n, COUNTERS_WITHDRAWN);
    } else {
        /* The kind of choice is judged on the purposes that need consent
         * (on the other non-necessary ones when a site has none): closing
         * the banner refuses them all and leaves legitimate interest as it
         * was, and is a refusal of everything asked, not a custom choice. */
        size_t granted[2] = {0, 0}, refused[2] = {0, 0}; /* [1]: consent basis */
        for (size_t i = 0; i < rec->n_decisions; i++) {
            int p = counters_purpose_index(site, rec, i);
            if (p < 0 || site->purposes[p].legal_basis == LEGAL_BASIS_NECESSARY) continue;
            counters_add(g, dims, n,
                         COUNTERS_METRICS + 2 * (uint32_t)p + (rec->granted[i] ? 0 : 1));
            int consent = site->purposes[p].legal_basis == LEGAL_BASIS_CONSENT;
            if (rec->granted[i])
                granted[consent]++;
            else
                refused[consent]++;
        }
        int k = granted[1] + refused[1] != 0;
        counters_metric_t kind = refused[k] == 0   ? COUNTERS_ACCEPT_ALL
                                 : granted[k] == 0 ? COUNTERS_REJECT_ALL
                                                   : COUNTERS_CUSTOM;
        counters_add(g, dims, n, COUNTERS_DECISIONS);
        counters_add(g, dims, n, kind);
        /* Time to decide: all, and the variant shown (dims[1] when it is
         * one: counters_dims puts the variant right after all). */
        int bin = seg != NULL ? counters_ttd_bin(seg->decide_ms) : -1;
        if (bin >= 0) {
            int outcome = rec->control != NULL && strcmp(rec->control, "dismiss") == 0
                              ? COUNTERS_TTD_DISMISS
                              : (int)(kind - COUNTERS_ACCEPT_ALL);
            (*counters_ttd_cell(g, 0, outcome, bin))++;
            g->touched++;
            if (n > 1 && dims[1] >= 1 && dims[1] <= site->n_variants) {
                (*counters_ttd_cell(g, dims[1], outcome, bin))++;
                g->touched++;
            }
        }
    }
    if (rec->visitor != NULL) counters_visitor(c, g, rec->visitor);
}

/* ---- flushing ------------------------------------------------------------------- */

/* Log a flush problem at most every COUNTERS_LOG_EVERY_MS. */
static void counters_log_failure(counters_t *c, const char *what, const char *why)
{
    int64_t now = clock_real_ms();
    if (now - c->logged_ms < COUNTERS_LOG_EVERY_MS) return;
    c->logged_ms = now;
    log_msg(LOG_WARN, "counters: %s: %s (see consentd_stats_flush_failures_total)", what, why);
}

/* A copy of what store_counts_add is given, in one allocation. NULL when
 * out of memory. */
static counters_batch_t *counters_batch_new(counters_t *c, const store_counts_t *k, uint64_t weight)
{
    size_t strings = 0;
    for (size_t i = 0; i < k->n_fields; i++)
        strings += strlen(k->fields[i]) + 1;
    for (size_t i = 0; i < k->n_visitors; i++)
        strings += strlen(k->visitors[i]) + 1;
    size_t bytes =
        sizeof(counters_batch_t) + (2 * k->n_fields + k->n_visitors) * sizeof(uint64_t) + strings;
    counters_batch_t *b = calloc(1, bytes);
    if (b == NULL) return NULL;
    b->c = c;
    snprintf(b->site_id, sizeof(b->site_id), "%s", k->site_id);
    b->hour = k->hour;
    b->retention_days = k->retention_days;
    b->seq = k->seq;
    b->first_ms = clock_real_ms();
    b->weight = weight;
    b->bytes = bytes;
    b->n_fields = k->n_fields;
    b->n_visitors = k->n_visitors;
    /* uint64_t and pointers are both 8 bytes here (checked below): the
     * arrays follow the header, 8-aligned, then the strings. */
    _Static_assert(sizeof(const char *) <= sizeof(uint64_t), "pointer slots");
    uint64_t *slots = (uint64_t *)(b + 1);
    b->values = slots;
    b->fields = (const char **)(slots + k->n_fields);
    b->visitors = (const char **)(slots + 2 * k->n_fields);
    char *at = (char *)(slots + 2 * k->n_fields + k->n_visitors);
    for (size_t i = 0; i < k->n_fields; i++) {
        size_t len = strlen(k->fields[i]) + 1;
        b->fields[i] = memcpy(at, k->fields[i], len);
        b->values[i] = k->values[i];
        at += len;
    }
    for (size_t i = 0; i < k->n_visitors; i++) {
        size_t len = strlen(k->visitors[i]) + 1;
        b->visitors[i] = memcpy(at, k->visitors[i], len);
        at += len;
    }
    return b;
}

static void counters_on_flushed(void *data, int applied, const redis_error_t *err);

/* Send b (first time or again). REDIS_OK: b now belongs to the callback. */
static int counters_batch_send(counters_t *c, counters_batch_t *b)
{
    store_counts_t k = {
        .site_id = b->site_id,
        .hour = b->hour,
        .retention_days = b->retention_days,
        .n_fields = b->n_fields,
        .fields = b->fields,
        .values = b->values,
        .n_visitors = b->n_visitors,
        .visitors = b->visitors,
        .sender = c->sender,
        .seq = b->seq,
    };
    return store_counts_add(c->redis, &k, counters_on_flushed, b);
}

static void counters_waiting_gauges(counters_t *c)
{
    metrics_gauge_set(c->metrics, METRICS_STATS_BATCHES_WAITING, c->waiting_n);
}

/* Drop b for good: its counts are lost (counted and logged). */
static void counters_batch_drop(counters_t *c, counters_batch_t *b, const char *why)
{
    metrics_count(c->metrics, METRICS_STATS_FLUSH_FAILURES, 1);
    counters_drop(c, b->weight);
    counters_log_failure(c, "a batch of counts was dropped", why);
    free(b);
}

/* Queue b to be sent again at the next flush, within the memory bound:
 * the oldest waiting batches make room. */
static void counters_batch_wait(counters_t *c, counters_batch_t *b)
{
    b->next = NULL;
    if (c->waiting_tail != NULL)
        c->waiting_tail->next = b;
    else
        c->waiting = b;
    c->waiting_tail = b;
    c->waiting_n++;
    c->waiting_bytes += b->bytes;
    c->waiting_weight += b->weight;
    while (c->waiting_bytes > COUNTERS_WAITING_BYTES_MAX && c->waiting != b) {
        counters_batch_t *old = c->waiting;
        c->waiting = old->next;
        c->waiting_n--;
        c->waiting_bytes -= old->bytes;
        c->waiting_weight -= old->weight;
        counters_batch_drop(c, old, "too many batches waiting to be sent again");
    }
    counters_waiting_gauges(c);
}

static void counters_on_flushed(void *data, int applied, const redis_error_t *err)
{
    counters_batch_t *b = data;
    counters_t *c = b->c;
    if (err == NULL) {
        metrics_count(c->metrics, METRICS_STATS_FLUSHES, 1);
        if (!applied) metrics_count(c->metrics, METRICS_STATS_FLUSH_DUPLICATES, 1);
        free(b);
        return;
    }
    switch (err->kind) {
    case REDIS_ERROR_TIMEOUT:        /* outcome unknown: the batch number makes a retry safe */
    case REDIS_ERROR_UNAVAILABLE:    /* not now (-TRYAGAIN, -CLUSTERDOWN, -NOREPLICAS, ...) */
    case REDIS_ERROR_NOT_REPLICATED: /* on the master alone: may vanish in a failover */
    case REDIS_ERROR_BUSY:
        counters_log_failure(c, "a batch of counts is kept to be sent again", err->detail);
        counters_batch_wait(c, b);
        break;
    default: /* refused (bad arguments, too old to tell): sending it again cannot help */
        counters_batch_drop(c, b, err->detail);
        break;
    }
}

/* Send the waiting batches again, oldest first, until Redis cannot take more. */
static void counters_resend(counters_t *c)
{
    int64_t now = clock_real_ms();
    while (c->waiting != NULL) {
        counters_batch_t *b = c->waiting;
        int too_old = now - b->first_ms > COUNTERS_RETRY_MAX_AGE_MS;
        int rc = too_old ? REDIS_E_ARGS : counters_batch_send(c, b);
        if (rc == REDIS_E_DOWN || rc == REDIS_E_BUSY) break;
        c->waiting = b->next;
        if (c->waiting == NULL) c->waiting_tail = NULL;
        c->waiting_n--;
        c->waiting_bytes -= b->bytes;
        c->waiting_weight -= b->weight;
        if (rc == REDIS_OK)
            metrics_count(c->metrics, METRICS_STATS_FLUSH_RETRIES, 1);
        else
            counters_batch_drop(c, b,
                                too_old ? "waited too long to be sent again" : "bad arguments");
    }
    counters_waiting_gauges(c);
}

/* The name of field (dim, metric) of group g into out. */
static size_t counters_group_field(const counters_group_t *g, uint32_t dim, uint32_t metric,
                                   char *out)
{
    const site_t *site = g->site;
    uint32_t nv = (uint32_t)site->n_variants, nl = (uint32_t)site->n_languages;
    counters_dim_t kind = COUNTERS_DIM_ALL;
    const char *name = NULL, *purpose = NULL;
    int m = (int)metric;
    if (dim >= 1 && dim <= nv) {
        kind = COUNTERS_DIM_VARIANT;
        name = site->variants[dim - 1].id;
    } else if (dim > nv && dim <= nv + nl) {
        kind = COUNTERS_DIM_LANG;
        name = site->languages[dim - 1 - nv];
    } else if (dim > nv + nl && dim <= nv + nl + COUNTERS_SOURCES) {
        kind = COUNTERS_DIM_SOURCE;
        name = counters_source_names[dim - 1 - nv - nl];
    } else if (dim > nv + nl + COUNTERS_SOURCES &&
               dim <= nv + nl + COUNTERS_SOURCES + USERAGENT_DEVICES) {
        kind = COUNTERS_DIM_DEVICE;
        name = useragent_device_names[dim - 1 - nv - nl - COUNTERS_SOURCES];
    } else if (dim > nv + nl + COUNTERS_SOURCES + USERAGENT_DEVICES &&
               dim <= nv + nl + COUNTERS_SOURCES + USERAGENT_DEVICES + USERAGENT_BROWSERS) {
        kind = COUNTERS_DIM_BROWSER;
        name = useragent_browser_names[dim - 1 - nv - nl - COUNTERS_SOURCES - USERAGENT_DEVICES];
    } else if (dim > nv + nl + COUNTERS_SOURCES + USERAGENT_DEVICES + USERAGENT_BROWSERS) {
        size_t page = dim - 1 - nv - nl - COUNTERS_SOURCES - USERAGENT_DEVICES - USERAGENT_BROWSERS;
        kind = COUNTERS_DIM_PAGE;
        name = page < site->n_page_groups ? site->page_groups[page].id : "other";
    }
    if (metric >= COUNTERS_METRICS) {
        purpose = site->purposes[(metric - COUNTERS_METRICS) / 2].id;
        m = (metric - COUNTERS_METRICS) % 2 == 0; /* granted */
    }
    return counters_field(out, COUNTERS_FIELD_MAX, kind, name, m, purpose);
}

/* Make room in the scratch for n fields (and their names) and the visitors. */
static int counters_scratch(counters_t *c, size_t n)
{
    size_t want = n > COUNTERS_VISITORS_MAX ? n : COUNTERS_VISITORS_MAX;
    if (want > c->fields_cap) {
        const char **fields = realloc(c->fields, want * sizeof(*fields));
        if (fields != NULL) c->fields = fields;
        uint64_t *values = realloc(c->values, want * sizeof(*values));
        if (values != NULL) c->values = values;
        const char **visitors = realloc(c->visitors, want * sizeof(*visitors));
        if (visitors != NULL) c->visitors = visitors;
        if (fields == NULL || values == NULL || visitors == NULL) return -1;
        c->fields_cap = want;
    }
    if (n * COUNTERS_FIELD_MAX > c->names_cap) {
        char *names = realloc(c->names, n * COUNTERS_FIELD_MAX);
        if (names == NULL) return -1;
        c->names = names;
        c->names_cap = n * COUNTERS_FIELD_MAX;
    }
    return 0;
}

/* Send what g holds. 0 when sent, or when there was nothing to send. */
static int counters_flush_group(counters_t *c, counters_group_t *g)
{
    if (g->touched == 0 && g->n_visitors == 0) return 0;
    size_t plain = (size_t)g->n_dims * g->n_metrics, cells = plain + g->n_ttd, n = 0;
    for (size_t i = 0; i < cells; i++)
        n += g->counts[i] != 0;
    n += counters_tcf_cells_set(g);
    if (counters_scratch(c, n) != 0) return -1; /* out of memory: try again at the next flush */
    size_t k = 0;
    for (size_t i = 0; i < cells; i++) {
        if (g->counts[i] == 0) continue;
        char *name = c->names + k * COUNTERS_FIELD_MAX;
        size_t t = i - plain, v = t / (COUNTERS_TTD_OUTCOMES * COUNTERS_TTD_BINS);
        size_t len = i < plain
                         ? counters_group_field(g, (uint32_t)(i / g->n_metrics),
                                                (uint32_t)(i % g->n_metrics), name)
                         : counters_ttd_field(name, COUNTERS_FIELD_MAX,
                                              v == 0 ? COUNTERS_DIM_ALL : COUNTERS_DIM_VARIANT,
                                              v == 0 ? NULL : g->site->variants[v - 1].id,
                                              (int)(t / COUNTERS_TTD_BINS % COUNTERS_TTD_OUTCOMES),
                                              (int)(t % COUNTERS_TTD_BINS));
        if (len == 0) {
            counters_drop(c, g->counts[i]); /* a name too long for the layout: never sent */
            continue;
        }
        c->fields[k] = name;
        c->values[k++] = g->counts[i];
    }
    k = counters_tcf_batch(c, g, k);
    for (uint32_t v = 0; v < g->n_visitors; v++)
        c->visitors[v] = g->visitors + (size_t)v * COUNTERS_VISITOR_SLOT;
    store_counts_t batch = {
        .site_id = g->site->id,
        .hour = g->hour,
        .retention_days = g->site->stats_retention_days,
        .n_fields = k,
        .fields = c->fields,
        .values = c->values,
        .n_visitors = g->n_visitors,
        .visitors = c->visitors,
        .sender = c->sender,
        .seq = c->seq + 1,
    };
    if (k > 0 || g->n_visitors > 0) {
        uint64_t weight = g->n_visitors;
        for (size_t i = 0; i < k; i++)
            weight += c->values[i];
        counters_batch_t *b = counters_batch_new(c, &batch, weight);
        if (b == NULL) return -1; /* out of memory: kept for the next flush */
        int rc = counters_batch_send(c, b);
        if (rc == REDIS_E_DOWN || rc == REDIS_E_BUSY) {
            free(b); /* not sent: the counts stay in the group for the next flush */
            return -1;
        }
        c->seq++; /* the number is b's now, even if the call was refused */
        if (rc != REDIS_OK) counters_batch_drop(c, b, "bad arguments");
    }
    memset(g->counts, 0, cells * sizeof(g->counts[0]));
    if (g->tcf != NULL) memset(g->tcf, 0, g->tcf_cells * sizeof(g->tcf[0]));
    g->touched = 0;
    g->n_visitors = 0;
    return 0;
}

void counters_flush(counters_t *c)
{
    if (c == NULL) return;
    counters_resend(c);
    int64_t hour_now = clock_real_ms() / COUNTERS_MS_PER_HOUR;
    size_t kept = 0;
    uint64_t pending = c->waiting_weight;
    for (size_t i = 0; i < c->n_groups; i++) {
        counters_group_t *g = c->groups[i];
        int had = g->touched != 0 || g->n_visitors != 0;
        if (had) counters_flush_group(c, g);
        int empty = g->touched == 0 && g->n_visitors == 0;
        /* Idle for a whole interval, or its hour is over: free it. */
        if (empty && (!had || g->hour < hour_now)) {
            counters_group_free(g);
            continue;
        }
        pending += g->touched + g->n_visitors;
        c->groups[kept++] = g;
    }
    if (kept != c->n_groups) {
        c->n_groups = kept;
        c->last = NULL;
        counters_table_rebuild(c); /* fewer groups: reuses the table */
    }
    metrics_gauge_set(c->metrics, METRICS_STATS_PENDING, pending);
}

/* ---- IAB TCF choices (issue 24, item 6) ------------------------------------- */

/* A group's TCF cells: per purpose 1..TCF_PURPOSES_MAX, then per vendor of
 * the site's rules (in their order), three counts: g, r, o. */
#define COUNTERS_TCF_WHAT 3
static const char counters_tcf_what[COUNTERS_TCF_WHAT] = {'g', 'r', 'o'};

size_t counters_tcf_field(char *out, size_t cap, char kind, unsigned id, char what)
{
    int n = snprintf(out, cap, "all|tcf.%c%u.%c", kind, id, what);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t counters_tcf_vendors(const site_t *site)
{
    size_t n = site->tcf.rules.vendor_count;
    return n < COUNTERS_TCF_VENDORS_MAX ? n : COUNTERS_TCF_VENDORS_MAX;
}

static void counters_tcf_add(counters_group_t *g, size_t item, size_t what)
{
    g->tcf[item * COUNTERS_TCF_WHAT + what]++;
    g->touched++;
}

void counters_tcf(counters_t *c, site_set_t *sites, const site_t *site, const store_record_t *rec,
                  uint32_t pc, uint32_t pli, const uint8_t *vendors)
{
    const tcf_site_rules_t *r = &site->tcf.rules;
    if (c == NULL || rec == NULL || vendors == NULL || !site->tcf.enabled ||
        rec->issued_at_ms < 0 || rec->action == NULL ||
        strcmp(rec->action, STORE_ACTION_CONSENT) != 0)
        return;
    counters_group_t *g = counters_group(c, sites, site, rec->issued_at_ms / COUNTERS_MS_PER_HOUR);
    if (g != NULL && g->tcf == NULL) {
        g->tcf_cells =
            (uint32_t)((TCF_PURPOSES_MAX + counters_tcf_vendors(site)) * COUNTERS_TCF_WHAT);
        g->tcf = calloc(g->tcf_cells, sizeof(*g->tcf));
    }
    if (g == NULL || g->tcf == NULL) {
        counters_drop(c, 1);
        return;
    }
    for (unsigned p = 1; p <= TCF_PURPOSES_MAX; p++) {
        if (r->purposes_consent & TCF_BIT(p)) counters_tcf_add(g, p - 1, (pc & TCF_BIT(p)) ? 0 : 1);
        if ((r->purposes_li & TCF_BIT(p)) && !(pli & TCF_BIT(p))) counters_tcf_add(g, p - 1, 2);
    }
    for (size_t i = 0; i < counters_tcf_vendors(site); i++) {
        const tcf_site_vendor_t *v = &r->vendors[i];
        size_t item = TCF_PURPOSES_MAX + i;
        if (v->purposes | v->flexible_purposes)
            counters_tcf_add(g, item, (vendors[i] & COUNTERS_TCF_CONSENT) ? 0 : 1);
        if ((v->li_purposes | v->flexible_purposes | v->special_purposes) &&
            !(vendors[i] & COUNTERS_TCF_LI))
            counters_tcf_add(g, item, 2);
    }
}

static size_t counters_tcf_cells_set(const counters_group_t *g)
{
    size_t n = 0;
    for (uint32_t i = 0; g->tcf != NULL && i < g->tcf_cells; i++)
        n += g->tcf[i] != 0;
    return n;
}

/* Add g's TCF counts to the batch in the scratch from field k; the new k. */
static size_t counters_tcf_batch(counters_t *c, const counters_group_t *g, size_t k)
{
    for (uint32_t i = 0; g->tcf != NULL && i < g->tcf_cells; i++) {
        if (g->tcf[i] == 0) continue;
        size_t item = i / COUNTERS_TCF_WHAT;
        char *name = c->names + k * COUNTERS_FIELD_MAX;
        unsigned id = item < TCF_PURPOSES_MAX
                          ? (unsigned)item + 1
                          : g->site->tcf.rules.vendors[item - TCF_PURPOSES_MAX].id;
        counters_tcf_field(name, COUNTERS_FIELD_MAX, item < TCF_PURPOSES_MAX ? 'p' : 'v', id,
                           counters_tcf_what[i % COUNTERS_TCF_WHAT]);
        c->fields[k] = name;
        c->values[k++] = g->tcf[i];
    }
    return k;
}
