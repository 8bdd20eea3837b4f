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
 *   metric  shown | dismissed | panel_opened        (banner events)
 *           decisions | accept_all | reject_all | custom   (consents, 201)
 *           withdrawn                               (withdrawals: DELETE, or
 *                                                    the banner's action
 *                                                    withdrawal)
 *           g.<purpose> | r.<purpose>               (granted / refused, per
 *                                                    non-necessary purpose)
 * IAB TCF sites add all|t.p<id>.<g|r|o> and all|t.v<id>.<g|r|o>
 * (counters_tcf, below). Events count as source banner. A consent is accept_all when every
 * non-necessary purpose is granted, reject_all when every one is refused,
 * custom otherwise.
 */
#ifndef CONSENTD_COUNTERS_H
#define CONSENTD_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "redis.h"
#include "site.h"
#include "store.h"

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
    COUNTERS_DIM_SOURCE
} counters_dim_t;

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
 * to: a group keeps a reference on it until it is flushed. */
void counters_event(counters_t *c, site_set_t *sites, const site_t *site, counters_metric_t metric,
                    const char *lang, const char *variant, const char *visitor, int64_t now_ms);
/* Count a recorded consent (action "consent") or withdrawal ("withdrawal"),
 * at rec->issued_at_ms. Call only once Redis has acknowledged the record. */
void counters_consent(counters_t *c, site_set_t *sites, const site_t *site,
                      const store_record_t *rec);

/* IAB TCF choices (issue 24, item 6), for a consent (action "consent") of
 * a TCF site once Redis has it, counted with the site's other counts (same
 * group, same batch, no extra round trip), in dim `all` only, bounded by the
 * site's own vendors. pc, pli: the TC string's purpose consents and
 * legitimate interests (masks, tcf.h); vendors: one byte per vendor of
 * site->tcf.rules, in its order, COUNTERS_TCF_CONSENT | COUNTERS_TCF_LI as
 * its bits in the string. Fields (COUNTERS_TCF_FIELD):
 *   t.p<id>.g | t.p<id>.r | t.p<id>.o    purpose id: consent given,
 *       consent refused (a purpose the site asks consent for), legitimate
 *       interest objected to (a purpose the site shows under LI)
 *   t.v<id>.g | t.v<id>.r | t.v<id>.o    vendor id: the same, for a vendor
 *       declaring consent purposes (g, r) or LI / special purposes (o) */
#define COUNTERS_TCF_CONSENT 1
#define COUNTERS_TCF_LI 2
void counters_tcf(counters_t *c, site_set_t *sites, const site_t *site, const store_record_t *rec,
                  uint32_t pc, uint32_t pli, const uint8_t *vendors);
/* The field of a TCF count: kind 'p' (purpose) or 'v' (vendor), its id,
 * what 'g', 'r' or 'o'; "all|t.<kind><id>.<what>" into out (cap >=
 * COUNTERS_FIELD_MAX); its length. */
size_t counters_tcf_field(char *out, size_t cap, char kind, unsigned id, char what);

/* Send every group that has something to send (one store call each). */
void counters_flush(counters_t *c);
/* Increments and visitor ids waiting in memory. */
uint64_t counters_pending(const counters_t *c);

#endif
