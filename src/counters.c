/*
 * counters.c - acceptance counters summed per worker thread, flushed to
 * Redis in batches (what and why: counters.h).
 *
 * Layout in memory. A group holds the counts of one site for one UTC hour
 * in a dense array of n_dims x n_metrics uint32, indexed from the site's
 * own declarations, so that counting is a few array increments:
 *
 *   dim     0 all | 1..V variants | V+1..V+L languages | V+L+1..V+L+4 sources
 *   metric  0..7 counters_metric_t | 8 + 2p: g.<purpose p> | 9 + 2p: r.<purpose p>
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

const char *const counters_metric_names[COUNTERS_METRICS] = {
    "shown",      "dismissed",  "panel_opened", "decisions",
    "accept_all", "reject_all", "custom",       "withdrawn"};

const char *const counters_source_names[COUNTERS_SOURCES] = {"banner", "form", "call_center",
                                                             "api"};

typedef struct counters_group {
    site_set_t *sites; /* one reference: keeps site (and the indexes below) valid */
    const site_t *site;
    int64_t hour; /* hours since the Unix epoch, UTC */
    uint32_t n_dims, n_metrics;
    uint64_t touched; /* increments since the last flush */
    uint32_t n_visitors, cap_visitors;
    char *visitors;    /* cap_visitors slots of COUNTERS_VISITOR_SLOT bytes */
    uint32_t counts[]; /* n_dims * n_metrics */
} counters_group_t;

struct counters {
    redis_t *redis;
    metrics_t *metrics;
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
    static const char *const prefixes[] = {"all", "v.", "l.", "s."};
    const char *metric_prefix = purpose == NULL ? "" : metric ? "g." : "r.";
    const char *metric_name = purpose != NULL ? purpose
                              : metric >= 0 && metric < COUNTERS_METRICS
                                  ? counters_metric_names[metric]
                                  : NULL;
    if (metric_name == NULL || (dim != COUNTERS_DIM_ALL && dim_name == NULL) ||
        (unsigned)dim > COUNTERS_DIM_SOURCE)
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
    return c;
}

static void counters_group_free(counters_group_t *g)
{
    site_set_release(g->sites);
    free(g->visitors);
    free(g);
}

uint64_t counters_pending(const counters_t *c)
{
    uint64_t n = 0;
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
    uint32_t n_dims =
        1 + (uint32_t)site->n_variants + (uint32_t)site->n_languages + COUNTERS_SOURCES;
    uint32_t n_metrics = COUNTERS_METRICS + 2 * (uint32_t)site->n_purposes;
    g = calloc(1, sizeof(*g) + (size_t)n_dims * n_metrics * sizeof(g->counts[0]));
    if (g == NULL) return NULL;
    g->sites = site_set_retain(sites);
    g->site = site;
    g->hour = hour;
    g->n_dims = n_dims;
    g->n_metrics = n_metrics;
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

/* The dims a count goes to: all, then v.<variant>, l.<lang>, s.<source>
 * when known to the site. Returns how many. */
static size_t counters_dims(const site_t *site, const char *variant, const char *lang,
                            const char *source, uint32_t dims[4])
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
    return n;
}

static void counters_add(counters_group_t *g, const uint32_t *dims, size_t n_dims, uint32_t metric)
{
    for (size_t d = 0; d < n_dims; d++)
        g->counts[dims[d] * g->n_metrics + metric]++;
    g->touched += n_dims;
}

static int counters_flush_group(counters_t *c, counters_group_t *g);

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
                    const char *lang, const char *variant, const char *visitor, int64_t now_ms)
{
    if (c == NULL || metric > COUNTERS_PANEL_OPENED || now_ms < 0) return;
    uint32_t dims[4];
    size_t n = counters_dims(site, variant, lang, "banner", dims);
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

void counters_consent(counters_t *c, site_set_t *sites, const site_t *site,
                      const store_record_t *rec)
{
    if (c == NULL || rec == NULL || rec->issued_at_ms < 0) return;
    /* A withdrawal counts as one whatever its channel: the API's DELETE, or
     * the banner's panel refusing what was granted (action withdrawal). */
    int withdraw = rec->action != NULL && strcmp(rec->action, STORE_ACTION_WITHDRAWAL) == 0;
    uint32_t dims[4];
    size_t n = counters_dims(site, rec->variant, rec->lang, rec->source, dims);
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
        counters_add(g, dims, n, COUNTERS_DECISIONS);
        counters_add(g, dims, n,
                     refused[k] == 0   ? COUNTERS_ACCEPT_ALL
                     : granted[k] == 0 ? COUNTERS_REJECT_ALL
                                       : COUNTERS_CUSTOM);
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

static void counters_on_flushed(void *data, const redis_error_t *err)
{
    counters_t *c = data;
    if (err == NULL) {
        metrics_count(c->metrics, METRICS_STATS_FLUSHES, 1);
        return;
    }
    metrics_count(c->metrics, METRICS_STATS_FLUSH_FAILURES, 1);
    counters_log_failure(c, "a batch of counts was dropped (outcome unknown, never sent twice)",
                         err->detail);
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
    } else if (dim > nv + nl) {
        kind = COUNTERS_DIM_SOURCE;
        name = counters_source_names[dim - 1 - nv - nl];
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
    size_t cells = (size_t)g->n_dims * g->n_metrics, n = 0;
    for (size_t i = 0; i < cells; i++)
        n += g->counts[i] != 0;
    if (counters_scratch(c, n) != 0) return -1; /* out of memory: try again at the next flush */
    size_t k = 0;
    for (size_t i = 0; i < cells; i++) {
        if (g->counts[i] == 0) continue;
        char *name = c->names + k * COUNTERS_FIELD_MAX;
        if (counters_group_field(g, (uint32_t)(i / g->n_metrics), (uint32_t)(i % g->n_metrics),
                                 name) == 0) {
            counters_drop(c, g->counts[i]); /* a name too long for the layout: never sent */
            continue;
        }
        c->fields[k] = name;
        c->values[k++] = g->counts[i];
    }
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
    };
    int rc = k == 0 && g->n_visitors == 0
                 ? REDIS_OK
                 : store_counts_add(c->redis, &batch, counters_on_flushed, c);
    if (rc == REDIS_E_DOWN || rc == REDIS_E_BUSY) return -1; /* kept for the next flush */
    if (rc != REDIS_OK) {
        metrics_count(c->metrics, METRICS_STATS_FLUSH_FAILURES, 1);
        counters_log_failure(c, "a batch of counts was refused", "bad arguments");
    }
    memset(g->counts, 0, cells * sizeof(g->counts[0]));
    g->touched = 0;
    g->n_visitors = 0;
    return 0;
}

void counters_flush(counters_t *c)
{
    if (c == NULL) return;
    int64_t hour_now = clock_real_ms() / COUNTERS_MS_PER_HOUR;
    size_t kept = 0;
    uint64_t pending = 0;
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
