/*
 * erasure.c - the compaction on disk after erasures: rounds of take, compact
 * once per master, put back on failure. The design: erasure.h.
 */
#include "erasure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

/* One partition of one site whose marker was taken this round. */
typedef struct erasure_taken {
    char site_id[SITE_ID_MAX + 1];
    unsigned partition;
    int64_t since_ms;
    int server;
} erasure_taken_t;

/* A compaction of one server: which taken markers it stands for. */
typedef struct erasure_compaction {
    erasure_t *e;
    int server;
} erasure_compaction_t;

struct erasure {
    redis_t *r;
    uint32_t within_s;
    int running;          /* a round is in progress */
    int freed;            /* erasure_free came while a round ran: the last callback frees */
    size_t takes_pending; /* phase 1: takes not yet answered (+1 while sending) */
    size_t calls_pending; /* phase 2: compactions and put-backs not yet answered (likewise) */
    size_t n_taken, cap;  /* markers taken this round */
    erasure_taken_t *taken;
    int64_t retention_ms; /* how long a marker put back lives */
};

erasure_t *erasure_create(redis_t *r, uint32_t within_s)
{
    if (r == NULL || within_s == 0) return NULL;
    erasure_t *e = calloc(1, sizeof(*e));
    if (e == NULL) return NULL;
    e->r = r;
    e->within_s = within_s;
    return e;
}

uint64_t erasure_interval_ms(const erasure_t *e)
{
    uint64_t ms = (uint64_t)e->within_s * 1000 / 4;
    return ms < 100 ? 100 : ms;
}

/* Phase 2: one compaction or put-back answered. */
static void erasure_call_done(erasure_t *e)
{
    if (--e->calls_pending > 0) return;
    e->running = 0;
    e->n_taken = 0;
    if (e->freed) {
        free(e->taken);
        free(e);
    }
}

static void erasure_on_marked(void *data, const redis_error_t *err)
{
    erasure_t *e = data;
    if (err != NULL)
        log_msg(LOG_ERROR,
                "erasure: a compaction marker could not be put back (%s): the erased bytes stay "
                "on disk until the next erasure of that partition, or an AOF rewrite",
                err->detail);
    erasure_call_done(e);
}

/* The compaction of server failed: put back its markers, each with its own
 * time, so that the next round tries again. */
static void erasure_compaction_failed(erasure_t *e, int server, const redis_error_t *err)
{
    log_msg(LOG_WARN, "erasure: compaction on disk refused (%s): trying again later", err->detail);
    for (size_t i = 0; i < e->n_taken; i++) {
        const erasure_taken_t *t = &e->taken[i];
        if (t->server != server) continue;
        e->calls_pending++;
        if (store_compact_mark(e->r, t->site_id, t->partition, t->since_ms, e->retention_ms,
                               erasure_on_marked, e) != REDIS_OK) {
            e->calls_pending--;
            log_msg(LOG_ERROR, "erasure: a compaction marker of %s could not be put back",
                    t->site_id);
        }
    }
}

static void erasure_on_compacted(void *data, const redis_error_t *err)
{
    erasure_compaction_t *cp = data;
    erasure_t *e = cp->e;
    int server = cp->server;
    free(cp);
    if (err == NULL)
        log_msg(LOG_INFO, "erasure: Redis rewrites its AOF and saves a snapshot (server %d)",
                server);
    else
        erasure_compaction_failed(e, server, err);
    erasure_call_done(e);
}

/* Phase 2: compact each server that had a marker, once. */
static void erasure_compact_all(erasure_t *e)
{
    e->calls_pending = 1; /* held until every compaction is sent */
    for (size_t i = 0; i < e->n_taken; i++) {
        int server = e->taken[i].server, seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = e->taken[j].server == server;
        if (seen) continue;
        erasure_compaction_t *cp = malloc(sizeof(*cp));
        int rc = REDIS_E_BUSY;
        if (cp != NULL) {
            cp->e = e;
            cp->server = server;
            e->calls_pending++;
            rc = store_compact(e->r, e->taken[i].site_id, e->taken[i].partition,
                               erasure_on_compacted, cp);
            if (rc != REDIS_OK) {
                e->calls_pending--;
                free(cp);
            }
        }
        if (rc != REDIS_OK) erasure_compaction_failed(e, server, redis_error_of_rc(rc));
    }
    erasure_call_done(e);
}

typedef struct erasure_take {
    erasure_t *e;
    char site_id[SITE_ID_MAX + 1];
    unsigned partition;
} erasure_take_t;

/* Phase 1: one take answered (or the hold released). */
static void erasure_take_done(erasure_t *e)
{
    if (--e->takes_pending == 0) erasure_compact_all(e);
}

static void erasure_on_taken(void *data, int64_t since_ms, const redis_error_t *err)
{
    erasure_take_t *t = data;
    erasure_t *e = t->e;
    if (err == NULL && since_ms > 0 && e->n_taken < e->cap) {
        erasure_taken_t *k = &e->taken[e->n_taken++];
        memcpy(k->site_id, t->site_id, sizeof(k->site_id));
        k->partition = t->partition;
        k->since_ms = since_ms;
        k->server = store_compact_server(e->r, t->site_id, t->partition);
    }
    free(t);
    erasure_take_done(e);
}

void erasure_tick(erasure_t *e, const site_set_t *sites, int64_t now_ms)
{
    if (e == NULL || e->running || sites == NULL) return;
    size_t n_sites = site_set_count(sites);
    size_t need = n_sites * STORE_PARTITIONS;
    if (need == 0 || !redis_is_connected(e->r)) return;
    if (need > e->cap) {
        erasure_taken_t *taken = realloc(e->taken, need * sizeof(*taken));
        if (taken == NULL) return;
        e->taken = taken;
        e->cap = need;
    }
    e->running = 1;
    e->n_taken = 0;
    e->takes_pending = 1; /* held until every take is sent */
    int64_t due = now_ms - (int64_t)e->within_s * 1000 / 2;
    for (size_t s = 0; s < n_sites; s++) {
        const site_t *site = site_set_at(sites, s);
        int64_t retention = (int64_t)site->log_retention_days * 86400000;
        if (retention > e->retention_ms) e->retention_ms = retention;
        for (unsigned p = 0; p < STORE_PARTITIONS; p++) {
            erasure_take_t *t = malloc(sizeof(*t));
            if (t == NULL) break;
            t->e = e;
            snprintf(t->site_id, sizeof(t->site_id), "%s", site->id);
            t->partition = p;
            e->takes_pending++;
            if (store_compact_take(e->r, site->id, p, due, erasure_on_taken, t) != REDIS_OK) {
                e->takes_pending--;
                free(t);
            }
        }
    }
    erasure_take_done(e);
}

void erasure_free(erasure_t *e)
{
    if (e == NULL) return;
    if (e->running) {
        e->freed = 1;
        return;
    }
    free(e->taken);
    free(e);
}
