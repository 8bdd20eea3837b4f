/*
 * health.c - GET /healthz: one PING per worker at a time, its result
 * reused for HEALTH_REUSE_MS, public answers without addresses.
 */
#include "health.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "store.h"
#include "strbuf.h"

#define HEALTH_DETAIL_MAX 256

typedef enum {
    HEALTH_OK = 0,
    HEALTH_NOT_CONNECTED, /* the connection is down: no command sent */
    HEALTH_TIMEOUT,       /* no answer within redis.command_timeout_ms */
    HEALTH_DISCONNECTED,  /* the connection dropped before the answer */
    HEALTH_BUSY,          /* redis.max_pending commands in flight, or out of memory */
    HEALTH_ERROR          /* Redis answered an error, or not PONG */
} health_status_t;

/* The public words, in health_status_t order (health.h HEALTH_REASONS). */
static const char *const health_reasons[] = {"ok",           "not_connected", "timeout",
                                             "disconnected", "busy",          "error"};

/* A request waiting for the check in flight. */
typedef struct health_waiter {
    http_pending_t *next;
    int detailed;
} health_waiter_t;

struct health {
    worker_t *worker;
    health_status_t last; /* result of the last check */
    char detail[HEALTH_DETAIL_MAX];
    uint64_t checked_ms; /* h2o_now() when it ended; 0: no check yet */
    uint64_t errors;     /* worker's metrics.redis_errors then */
    int in_flight;
    http_pending_t *waiters; /* linked through health_waiter_t.next */
    size_t n_waiters;
};

health_t *health_create(worker_t *w)
{
    health_t *h = calloc(1, sizeof(*h));
    if (h != NULL) h->worker = w;
    return h;
}

void health_free(health_t *h)
{
    if (h == NULL) return;
    assert(h->waiters == NULL && !h->in_flight);
    free(h);
}

static void health_answer(http_request_t *rq, health_status_t status, const char *detail,
                          int detailed)
{
    if (status == HEALTH_OK) {
        static const char ok[] = "{\"status\":\"ok\",\"checks\":{\"redis\":{\"ok\":true}}}";
        http_send_json(rq, 200, ok, sizeof(ok) - 1);
        return;
    }
    strbuf_t o;
    strbuf_init_pool(&o, &rq->req->pool);
    strbuf_str(&o, "{\"status\":\"unavailable\",\"checks\":{\"redis\":{\"ok\":false,\"error\":\"");
    strbuf_str(&o, health_reasons[status]);
    strbuf_str(&o, "\"");
    if (detailed && detail != NULL && detail[0] != '\0') {
        strbuf_str(&o, ",\"detail\":");
        strbuf_json_str(&o, detail);
    }
    strbuf_str(&o, "}}}");
    http_header(rq, "retry-after", H2O_STRLIT("1"));
    http_send_json(rq, 503, o.buf, o.len);
}

/* Answer every waiting request with status; when the status comes from a
 * check that Redis (or its absence) answered, keep it for HEALTH_REUSE_MS. */
static void health_finish(health_t *h, health_status_t status, const char *detail, int keep)
{
    if (keep) {
        h->last = status;
        snprintf(h->detail, sizeof(h->detail), "%s", detail != NULL ? detail : "");
        h->checked_ms = h2o_now(h->worker->ctx.loop);
        h->errors = metrics_counter_value(h->worker->metrics, METRICS_REDIS_ERRORS);
    }
    http_pending_t *p = h->waiters;
    h->waiters = NULL;
    h->n_waiters = 0;
    while (p != NULL) {
        health_waiter_t *wt = http_pending_state(p);
        http_pending_t *next = wt->next;
        http_request_t *rq = http_pending_request(p);
        if (rq != NULL) health_answer(rq, status, detail, wt->detailed);
        http_pending_free(p);
        p = next;
    }
}

/* The public word of a storage error (redis.h's kinds). */
static health_status_t health_status_of(const redis_error_t *err)
{
    switch (err->kind) {
    case REDIS_ERROR_TIMEOUT:
        return HEALTH_TIMEOUT;
    case REDIS_ERROR_UNAVAILABLE: /* the connection dropped, or Redis cannot serve now */
        return HEALTH_DISCONNECTED;
    case REDIS_ERROR_BUSY:
        return HEALTH_BUSY;
    default:
        return HEALTH_ERROR;
    }
}

static void health_on_pong(void *data, const redis_error_t *err)
{
    health_t *h = data;
    h->in_flight = 0;
    health_status_t status = HEALTH_OK;
    if (err != NULL) {
        metrics_count(h->worker->metrics, METRICS_REDIS_ERRORS, 1);
        status = health_status_of(err);
        log_msg(LOG_WARN, "worker %u: health check: Redis did not answer PING: %s", h->worker->id,
                err->detail);
    }
    health_finish(h, status, err != NULL ? err->detail : NULL, 1);
}

static void health_check(http_request_t *rq, int detailed)
{
    health_t *h = rq->worker->health;
    redis_t *redis = rq->worker->redis;
    if (h == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    /* Down is known without asking Redis, and is answered fresh. */
    const char *why;
    if (!store_connected(redis, &why)) {
        char detail[HEALTH_DETAIL_MAX];
        snprintf(detail, sizeof(detail), "not connected%s%s", why[0] ? ": " : "", why);
        health_answer(rq, HEALTH_NOT_CONNECTED, detail, detailed);
        return;
    }
    /* A result is reused for HEALTH_REUSE_MS, unless a request of this
     * worker saw Redis fail since (a timeout, a lost connection): an "ok"
     * must not hide what the other routes already answer. */
    uint64_t now = h2o_now(rq->worker->ctx.loop);
    int fresh = h->checked_ms != 0 && now - h->checked_ms < HEALTH_REUSE_MS &&
                h->errors == metrics_counter_value(rq->worker->metrics, METRICS_REDIS_ERRORS);
    if (fresh || (h->in_flight && h->n_waiters >= HEALTH_WAITERS_MAX && h->checked_ms != 0)) {
        health_answer(rq, h->last, h->detail, detailed);
        return;
    }
    if (h->n_waiters >= HEALTH_WAITERS_MAX) {
        health_answer(rq, HEALTH_BUSY, "too many health checks waiting", detailed);
        return;
    }
    http_pending_t *p = http_pending_new(rq, sizeof(health_waiter_t));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    health_waiter_t *wt = http_pending_state(p);
    wt->next = h->waiters;
    wt->detailed = detailed;
    h->waiters = p;
    h->n_waiters++;
    if (h->in_flight) return;
    int rc = store_ping(redis, health_on_pong, h);
    if (rc == REDIS_OK) {
        h->in_flight = 1;
    } else {
        health_finish(h, rc == REDIS_E_DOWN ? HEALTH_NOT_CONNECTED : HEALTH_BUSY,
                      rc == REDIS_E_DOWN ? "not connected" : "too many commands in flight", 0);
    }
}

void health_get(http_request_t *rq)
{
    health_check(rq, 0);
}

void health_get_detailed(http_request_t *rq)
{
    health_check(rq, 1);
}
