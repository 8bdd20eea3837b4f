/*
 * counters.h - acceptance counters: summed in memory per worker thread,
 * flushed to Redis in batches.
 *
 * Endpoints count with counters_event() (banner events) and
 * counters_consent() (consents acknowledged by Redis): a few increments in
 * a per-thread table, no Redis round trip, no allocation in the steady
 * state. Counts are kept per (site, UTC hour) group. server.c calls
 * counters_flush() every COUNTERS_FLUSH_INTERVAL_MS and once more during a
 * graceful stop, after the last request; each group with something to send
 * goes to Redis as one store_counts_add() call (one FCALL), which adds the
 * counts to the hour and day hashes and the visitor ids to the day's
 * HyperLogLog (key layout in store.c).
 *
 * Delivery, per batch. Every batch carries this counters_t's random sender
 * id and a number of its own; consentd_count applies a (sender, number) at
 * most once (Redis remembers the newest STORE_BATCH_WINDOW numbers of each
 * sender, per site, for an hour), so a batch can always be sent again:
 *  - not sent (Redis down, too many commands in flight): the counts stay in
 *    their group and go with the next flush;
 *  - sent, and Redis applied it (durably, with redis.wait_replicas): done
 *    (consentd_stats_flushes_total);
 *  - sent, and Redis said it had applied it before: done, not counted twice
 *    (consentd_stats_flush_duplicates_total);
 *  - sent, outcome unknown (timeout, connection lost before the reply, not
 *    replicated in time) or refused for now (-TRYAGAIN, -CLUSTERDOWN,
 *    -NOREPLICAS, -LOADING, -READONLY, ...): kept as is, and sent again at
 *    the next flushes, oldest first (consentd_stats_flush_retries_total,
 *    consentd_stats_batches_waiting), for at most COUNTERS_RETRY_MAX_AGE_MS;
 *  - refused for good (bad arguments, or too old for Redis to tell whether
 *    it ran): dropped (consentd_stats_flush_failures_total).
 * A failover therefore loses no count and counts none twice, as long as
 * acknowledged writes survive it (redis.wait_replicas >= 1 on a cluster
 * with replicas) and it is over within COUNTERS_RETRY_MAX_AGE_MS.
 * Memory is bounded: at most COUNTERS_GROUPS_MAX groups per thread and
 * COUNTERS_VISITORS_MAX visitor ids per group (a full group is flushed at
 * once), and COUNTERS_WAITING_BYTES_MAX of batches waiting to be sent again
 * (the oldest are dropped first); what does not fit is dropped and counted
 * in consentd_stats_dropped_total (and the batches in
 * consentd_stats_flush_failures_total).
 *
 * FIELDS of the counter hashes are "<dim>|<metric>":
 *   dim     all | v.<variant> | l.<lang> | s.<source>
 *           | d.<device> | b.<browser>       (segments, issue 21 item 4:
 *                                            useragent.h's classes of the
 *                                            request; banner events and
 *                                            banner consents only)
 *           | p.<page group>                 (the group the banner's pages
 *                                            feature names, or p.other; sites
 *                                            with page_groups only)
 *   metric  shown | dismissed | panel_opened        (banner events)
 *           decisions | accept_all | reject_all | custom   (consents, 201)
 *           withdrawn                               (withdrawals: DELETE, or
 *                                                    the banner's action
 *                                                    withdrawal)
 *           g.<purpose> | r.<purpose>               (granted / refused, per
 *                                                    non-necessary purpose)
 * IAB TCF sites add all|tcf.p<id>.<g|r|o> and all|tcf.v<id>.<g|r|o>
 * (counters_tcf, below). Events count as source banner. A consent is accept_all when every
 * non-necessary purpose is granted, reject_all when every one is refused,
 * custom otherwise.
 *
 * TIME TO DECIDE (issue 21, item 5): a banner consent that reports how
 * long the visitor took (decide_ms) adds 1 to the field
 *   <dim>|t.<outcome>.<bin>    dim all | v.<variant>
 *                              outcome accept_all | reject_all | custom |
 *                                      dismiss (the control dismiss; the
 *                                      others as the consent counts)
 *                              bin 0..COUNTERS_TTD_BINS-1 (counters_ttd_bin)
 * a histogram per outcome whose bins double in width (see counters_ttd_edges).
 */
#ifndef CONSENTD_COUNTERS_H
#define CONSENTD_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "redis.h"
#include "site.h"
#include "store.h"
#include "useragent.h"

#define COUNTERS_FLUSH_INTERVAL_MS 1000
#define COUNTERS_GROUPS_MAX 4096              /* (site, hour) groups per thread */
#define COUNTERS_VISITORS_MAX 512             /* visitor ids per group between flushes */
#define COUNTERS_FIELD_MAX 160                /* bytes of a field name, NUL included */
#define COUNTERS_WAITING_BYTES_MAX (8u << 20) /* batches waiting to be sent again, per thread */

typedef enum {
    COUNTERS_SHOWN = 0,
    COUNTERS_DISMISSED,
    COUNTERS_PANEL_OPENED,
    COUNTERS_DECISIONS,
    COUNTERS_ACCEPT_ALL,
    COUNTERS_REJECT_ALL,
    COUNTERS_CUSTOM,
    COUNTERS_WITHDRAWN,
    COUNTERS_METRICS
} counters_metric_t;

/* "shown", "dismissed", ... in counters_metric_t order. */
extern const char *const counters_metric_names[COUNTERS_METRICS];

/* The sources of a consent, in s.<source> order. */
#define COUNTERS_SOURCES 4
extern const char *const counters_source_names[COUNTERS_SOURCES];

typedef enum {
    COUNTERS_DIM_ALL,
    COUNTERS_DIM_VARIANT,
    COUNTERS_DIM_LANG,
    COUNTERS_DIM_SOURCE,
    COUNTERS_DIM_DEVICE,
    COUNTERS_DIM_BROWSER,
    COUNTERS_DIM_PAGE
} counters_dim_t;

/* Time to decide: the outcomes, and the histogram's bins. Bin b (b >= 1)
 * holds [counters_ttd_edges[b-1], counters_ttd_edges[b]) ms, bin 0 holds
 * [0, counters_ttd_edges[0]); each bin is twice as wide as the one before
 * (log-spaced: decision times spread over three orders of magnitude, from
 * a reflex click under a second to minutes of reading, and a quantile read
 * from such bins is off by the same factor at every scale). The last bin
 * ends at COUNTERS_TTD_MAX_MS: a longer report is ignored. */
typedef enum {
    COUNTERS_TTD_ACCEPT_ALL,
    COUNTERS_TTD_REJECT_ALL,
    COUNTERS_TTD_CUSTOM,
    COUNTERS_TTD_DISMISS,
    COUNTERS_TTD_OUTCOMES
} counters_ttd_outcome_t;
#define COUNTERS_TTD_BINS 12
#define COUNTERS_TTD_MAX_MS 3600000 /* an hour: beyond, the banner was forgotten in a tab */
extern const char *const counters_ttd_outcome_names[COUNTERS_TTD_OUTCOMES];
/* The upper edge (ms, exclusive) of each bin: 250, 500, 1000, ... 256000,
 * COUNTERS_TTD_MAX_MS + 1. */
extern const int32_t counters_ttd_edges[COUNTERS_TTD_BINS];
/* The bin of ms (0 <= ms <= COUNTERS_TTD_MAX_MS), -1 out of range. */
int counters_ttd_bin(int32_t ms);
/* The field "<dim>|t.<outcome>.<bin>" (dim: COUNTERS_DIM_ALL, or
 * COUNTERS_DIM_VARIANT with its id) into out. Returns the length, 0 when
 * it does not fit or is out of range. */
size_t counters_ttd_field(char *out, size_t cap, counters_dim_t dim, const char *variant,
                          int outcome, int bin);

/* What the request tells beside the body: its device class and browser
 * family (useragent_classify), and the time to decide a banner reported
 * with a consent (-1: none). */
typedef struct counters_segment {
    useragent_class_t ua;
    int page; /* site_page_group_index of the page the banner named; -1 none */
    int32_t decide_ms;
} counters_segment_t;

/* The field "<dim>|<metric>" into out (cap >= COUNTERS_FIELD_MAX): dim_name
 * is the variant, language or source (ignored for COUNTERS_DIM_ALL);
 * purpose NULL: metric is a counters_metric_t; else the field is
 * g.<purpose> (metric != 0) or r.<purpose> (metric == 0). Returns the
 * length, 0 when it does not fit. */
size_t counters_field(char *out, size_t cap, counters_dim_t dim, const char *dim_name, int metric,
                      const char *purpose);

typedef struct counters counters_t;

/* One per worker thread. Flushes go to r; outcomes are counted in m. */
counters_t *counters_create(redis_t *r, metrics_t *m);
/* Frees everything; what was not flushed is lost (logged). Call after
 * redis_destroy(), whose callbacks still use c. */
void counters_destroy(counters_t *c);

/* Count one banner event (metric: COUNTERS_SHOWN, _DISMISSED or
 * _PANEL_OPENED) at now_ms. lang, variant, visitor: NULL when absent; they
 * are already validated against the site. sites is the set site belongs
 * to: a group keeps a reference on it until it is flushed. seg: the
 * request's segments (its decide_ms is not used). */
void counters_event(counters_t *c, site_set_t *sites, const site_t *site, counters_metric_t metric,
                    const char *lang, const char *variant, const char *visitor,
                    const counters_segment_t *seg, int64_t now_ms);
/* Count a recorded consent (action "consent") or withdrawal ("withdrawal"),
 * at rec->issued_at_ms. Call only once Redis has acknowledged the record.
 * seg (NULL: none): counted for a consent of source banner only (a form's
 * or an API's request comes from the site's server, not the visitor's
 * device). */
void counters_consent(counters_t *c, site_set_t *sites, const site_t *site,
                      const store_record_t *rec, const counters_segment_t *seg);

/* IAB TCF choices (issue 24, item 6), for a consent (action "consent") of
 * a TCF site once Redis has it, counted with the site's other counts (same
 * group, same batch, no extra round trip), in dim `all` only, bounded by the
 * site's own vendors. pc, pli: the TC string's purpose consents and
 * legitimate interests (masks, tcf.h); vendors: one byte per vendor of
 * site->tcf.rules, in its order, COUNTERS_TCF_CONSENT | COUNTERS_TCF_LI as
 * its bits in the string (the first COUNTERS_TCF_VENDORS_MAX are counted).
 * Fields (counters_tcf_field):
 *   tcf.p<id>.g | tcf.p<id>.r | tcf.p<id>.o   purpose id: consent given,
 *       consent refused (a purpose the site asks consent for), legitimate
 *       interest objected to (a purpose the site shows under LI)
 *   tcf.v<id>.g | tcf.v<id>.r | tcf.v<id>.o   vendor id: the same, for a vendor
 *       declaring consent purposes (g, r) or LI / special purposes (o) */
#define COUNTERS_TCF_VENDORS_MAX 1000 /* vendors counted: the site's first by ID (a flush */
                                      /* stays under STORE_STATS_FIELDS_MAX fields) */
#define COUNTERS_TCF_CONSENT 1
#define COUNTERS_TCF_LI 2
void counters_tcf(counters_t *c, site_set_t *sites, const site_t *site, const store_record_t *rec,
                  uint32_t pc, uint32_t pli, const uint8_t *vendors);
/* The site's vendors counted: its first min(vendors, COUNTERS_TCF_VENDORS_MAX). */
size_t counters_tcf_vendors(const site_t *site);
/* The field of a TCF count: kind 'p' (purpose) or 'v' (vendor), its id,
 * what 'g', 'r' or 'o'; "all|t.<kind><id>.<what>" into out (cap >=
 * COUNTERS_FIELD_MAX); its length. */
size_t counters_tcf_field(char *out, size_t cap, char kind, unsigned id, char what);

/* Send every group that has something to send (one store call each). */
void counters_flush(counters_t *c);
/* Increments and visitor ids waiting in memory. */
uint64_t counters_pending(const counters_t *c);

#endif
