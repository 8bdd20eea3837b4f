/*
 * banner_share.c - the compressed banners shared through Redis
 * (banner_share.h).
 *
 * Callers queue work under `mutex` and wake the thread (an eventfd on its
 * loop); the thread takes the queues, runs each item as a small state
 * machine of store.h calls on its own redis_t, and signals `done` when a
 * fetch's last item is answered. An item of a fetch:
 *
 *   GET z:<sha> -- found --> answered (the blob)
 *        | none
 *   SET l:<sha> NX -- taken --> answered (owner: the caller builds it)
 *        | another node holds it
 *   every BANNER_SHARE_POLL_MS: GET z:<sha> -- found --> answered
 *        | none past BANNER_SHARE_WAIT_MS --> answered (not found)
 *
 * Any error (Redis down, a timeout) answers the item "not found": the
 * caller compresses it itself, as every node did before.
 */
#include "banner_share.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "redis.h"
#include "store.h"

typedef struct share_fetch {
    banner_share_item_t *items;
    size_t n;
    size_t remaining; /* under mutex: items not answered yet */
    struct share_fetch *next;
} share_fetch_t;

typedef struct share_put {
    struct share_put *next;
    char site[SITE_ID_MAX + 1];
    char sha[BANNER_SHARE_SHA_HEX + 1];
    int replace, owner; /* owner: give the lease back once stored */
    size_t len;
    char blob[];
} share_put_t;

/* One item of a fetch in progress on the thread. */
typedef struct share_op {
    banner_share_t *s;
    share_fetch_t *f;
    banner_share_item_t *item;
    uint64_t deadline_ms, next_poll_ms; /* polling: another node holds the lease */
    struct share_op *next;              /* the polling list */
} share_op_t;

struct banner_share {
    const config_t *cfg;
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t done;
    /* under mutex */
    int stopping, stopped;
    share_fetch_t *fetches; /* queued, not started */
    share_put_t *puts;      /* queued, not sent */
    size_t n_puts;          /* queued and in flight */
    /* the thread's own */
    int efd;
    h2o_loop_t *loop;
    h2o_socket_t *wake;
    redis_t *redis;
    share_op_t *polling;
    share_fetch_t *deferred; /* taken while the first connection was still being made */
    uint64_t connect_by_ms;  /* when that first connection is given up on */
};

static uint64_t share_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Under mutex: wake the thread (a write on its eventfd). */
static void share_wake_locked(banner_share_t *s)
{
    uint64_t one = 1;
    if (write(s->efd, &one, sizeof(one)) < 0) {
        /* the counter is full: the thread has wake-ups pending anyway */
    }
}

static void share_answer(share_op_t *op)
{
    banner_share_t *s = op->s;
    pthread_mutex_lock(&s->mutex);
    if (--op->f->remaining == 0) pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mutex);
    free(op);
}

static void share_get(share_op_t *op);

static void share_on_lease(void *data, int taken, const redis_error_t *err)
{
    share_op_t *op = data;
    if (err != NULL) op->item->failed = 1;
    if (err != NULL || taken) {
        op->item->owner = err == NULL;
        share_answer(op);
        return;
    }
    /* Another node compresses it: wait for its bytes. */
    uint64_t now = share_now_ms();
    op->deadline_ms = now + BANNER_SHARE_WAIT_MS;
    op->next_poll_ms = now + BANNER_SHARE_POLL_MS;
    op->next = op->s->polling;
    op->s->polling = op;
}

static void share_on_get(void *data, const char *blob, size_t len, const redis_error_t *err)
{
    share_op_t *op = data;
    banner_share_t *s = op->s;
    if (err == NULL && blob != NULL && len > 0 && len <= STORE_BANNER_BLOB_MAX) {
        if ((op->item->blob = malloc(len)) != NULL) {
            memcpy(op->item->blob, blob, len);
            op->item->len = len;
        }
        share_answer(op);
        return;
    }
    if (err != NULL) {
        op->item->failed = 1;
        share_answer(op);
    } else if (op->deadline_ms == 0) { /* the first look: none there, take the lease */
        if (store_banner_blob_lease(s->redis, op->item->site, op->item->sha, share_on_lease, op) !=
            REDIS_OK)
            share_answer(op);
    } else if (share_now_ms() >= op->deadline_ms) {
        share_answer(op); /* the other node did not make it in time */
    } else {
        op->next_poll_ms = share_now_ms() + BANNER_SHARE_POLL_MS;
        op->next = s->polling;
        s->polling = op;
    }
}

static void share_get(share_op_t *op)
{
    if (store_banner_blob_get(op->s->redis, op->item->site, op->item->sha, share_on_get, op) !=
        REDIS_OK)
        share_answer(op);
}

/* The fetch f lives on its caller's stack until its last item is answered:
 * once an answer may be the last, f is not touched again (n and the items'
 * place are read before; the replies come later, on this same thread). */
static void share_start_fetch(banner_share_t *s, share_fetch_t *f)
{
    int up = redis_is_connected(s->redis);
    size_t n = f->n;
    for (size_t i = 0; i < n; i++) {
        share_op_t *op = calloc(1, sizeof(*op));
        if (op == NULL) {
            pthread_mutex_lock(&s->mutex);
            if (--f->remaining == 0) pthread_cond_broadcast(&s->done);
            pthread_mutex_unlock(&s->mutex);
            continue;
        }
        *op = (share_op_t){.s = s, .f = f, .item = &f->items[i]};
        if (up) {
            share_get(op);
        } else {
            op->item->failed = 1;
            share_answer(op); /* Redis down: the caller compresses */
        }
    }
}

/* A put in flight, and the share whose count it holds. */
typedef struct share_put_ctx {
    banner_share_t *s;
    share_put_t *p;
} share_put_ctx_t;

static void share_on_unlease(void *data, int found, const redis_error_t *err)
{
    (void)data;
    (void)found;
    (void)err; /* not deleted: it expires (STORE_BANNER_LEASE_MS) */
}

static void share_on_put_ctx(void *data, int written, const redis_error_t *err)
{
    share_put_ctx_t *c = data;
    (void)written;
    /* not stored: the next node that needs it builds it */
    if (err == NULL && c->p->owner && c->s->redis != NULL)
        store_banner_blob_unlease(c->s->redis, c->p->site, c->p->sha, share_on_unlease, NULL);
    pthread_mutex_lock(&c->s->mutex);
    c->s->n_puts--;
    pthread_mutex_unlock(&c->s->mutex);
    free(c->p);
    free(c);
}

static void share_send_put(banner_share_t *s, share_put_t *p)
{
    share_put_ctx_t *c = malloc(sizeof(*c));
    if (c != NULL) {
        *c = (share_put_ctx_t){s, p};
        if (store_banner_blob_put(s->redis, p->site, p->sha, p->blob, p->len, p->replace,
                                  share_on_put_ctx, c) == REDIS_OK)
            return;
        free(c);
    }
    pthread_mutex_lock(&s->mutex);
    s->n_puts--;
    pthread_mutex_unlock(&s->mutex);
    free(p);
}

static void share_on_wake(h2o_socket_t *sock, const char *err)
{
    banner_share_t *s = sock->data;
    uint64_t n;
    (void)err;
    if (read(s->efd, &n, sizeof(n)) < 0) {
        /* nothing to read: a spurious wake-up */
    }
}

/* Take what callers queued and start it. */
static void share_take(banner_share_t *s)
{
    pthread_mutex_lock(&s->mutex);
    share_fetch_t *fetches = s->fetches;
    share_put_t *puts = s->puts;
    s->fetches = NULL;
    s->puts = NULL;
    pthread_mutex_unlock(&s->mutex);
    /* Until its first connection is made or fails (redis.connect_timeout_ms
     * from the start, which start-up waits for anyway: site_watch.h), a
     * fetch waits for it; then, connected or not, it starts. */
    int connecting = !redis_is_connected(s->redis) && redis_last_error(s->redis)[0] == '\0' &&
                     share_now_ms() < s->connect_by_ms;
    for (share_fetch_t *f = fetches, *next; f != NULL; f = next) {
        next = f->next;
        if (connecting) {
            f->next = s->deferred;
            s->deferred = f;
        } else {
            share_start_fetch(s, f);
        }
    }
    for (share_fetch_t *f = connecting ? NULL : s->deferred, *next; f != NULL; f = next) {
        next = f->next;
        share_start_fetch(s, f);
    }
    if (!connecting) s->deferred = NULL;
    for (share_put_t *p = puts, *next; p != NULL; p = next) {
        next = p->next;
        if (redis_is_connected(s->redis)) {
            share_send_put(s, p);
        } else {
            pthread_mutex_lock(&s->mutex);
            s->n_puts--;
            pthread_mutex_unlock(&s->mutex);
            free(p);
        }
    }
}

/* The items waiting for another node's bytes whose time to look has come. */
static void share_poll(banner_share_t *s, int stopping)
{
    uint64_t now = share_now_ms();
    share_op_t **at = &s->polling;
    while (*at != NULL) {
        share_op_t *op = *at;
        if (!stopping && op->next_poll_ms > now) {
            at = &op->next;
            continue;
        }
        *at = op->next;
        if (stopping)
            share_answer(op);
        else
            share_get(op);
    }
}

static void *share_main(void *arg)
{
    banner_share_t *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mutex);
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->mutex);
        if (stopping) break;
        h2o_evloop_run(s->loop,
                       s->polling != NULL || s->deferred != NULL ? BANNER_SHARE_POLL_MS : 1000);
        share_take(s);
        share_poll(s, 0);
    }
    /* Stop: fail what flies (its callbacks answer), what polls and what is
     * queued; later calls answer at once (stopped). */
    redis_destroy(s->redis);
    s->redis = NULL;
    share_poll(s, 1);
    pthread_mutex_lock(&s->mutex);
    s->stopped = 1;
    share_fetch_t *fetches = s->fetches;
    share_put_t *puts = s->puts;
    s->fetches = NULL;
    s->puts = NULL;
    for (share_fetch_t *f = fetches; f != NULL; f = f->next)
        f->remaining = 0;
    for (share_fetch_t *f = s->deferred; f != NULL; f = f->next)
        f->remaining = 0;
    s->deferred = NULL;
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mutex);
    for (share_put_t *p = puts, *next; p != NULL; p = next) {
        next = p->next;
        free(p);
    }
    h2o_socket_read_stop(s->wake);
    h2o_socket_close(s->wake); /* closes the eventfd */
    h2o_evloop_run(s->loop, 0);
    h2o_evloop_destroy(s->loop);
    return NULL;
}

banner_share_t *banner_share_start(const config_t *cfg)
{
    banner_share_t *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    s->cfg = cfg;
    pthread_mutex_init(&s->mutex, NULL);
    pthread_cond_init(&s->done, NULL);
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->loop = s->efd >= 0 ? h2o_evloop_create() : NULL;
    s->redis = s->loop != NULL ? redis_create(s->loop, &cfg->redis) : NULL;
    s->connect_by_ms = share_now_ms() + cfg->redis.connect_timeout_ms;
    if (s->redis == NULL) {
        log_msg(LOG_ERROR, "banners: cannot share compressed banners through Redis: out of "
                           "resources (each node compresses its own)");
        if (s->efd >= 0) close(s->efd);
        free(s);
        return NULL;
    }
    s->wake = h2o_evloop_socket_create(s->loop, s->efd, H2O_SOCKET_FLAG_DONT_READ);
    s->wake->data = s;
    h2o_socket_read_start(s->wake, share_on_wake);
    if (pthread_create(&s->thread, NULL, share_main, s) != 0) {
        log_msg(LOG_ERROR, "banners: cannot start the thread that shares compressed banners");
        redis_destroy(s->redis);
        h2o_socket_close(s->wake);
        free(s);
        return NULL;
    }
    return s;
}

void banner_share_fetch(banner_share_t *s, banner_share_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        items[i].blob = NULL;
        items[i].len = 0;
        items[i].owner = 0;
        items[i].failed = s == NULL;
    }
    if (s == NULL || n == 0) return;
    share_fetch_t f = {.items = items, .n = n, .remaining = n};
    pthread_mutex_lock(&s->mutex);
    if (s->stopped || s->stopping) {
        pthread_mutex_unlock(&s->mutex);
        for (size_t i = 0; i < n; i++)
            items[i].failed = 1;
        return;
    }
    f.next = s->fetches;
    s->fetches = &f;
    share_wake_locked(s);
    while (f.remaining > 0)
        pthread_cond_wait(&s->done, &s->mutex);
    pthread_mutex_unlock(&s->mutex);
}

void banner_share_put(banner_share_t *s, const char *site, const char *sha, const char *blob,
                      size_t len, int replace, int owner)
{
    if (s == NULL || len == 0 || len > STORE_BANNER_BLOB_MAX) return;
    share_put_t *p = malloc(sizeof(*p) + len);
    if (p == NULL) return;
    snprintf(p->site, sizeof(p->site), "%s", site);
    snprintf(p->sha, sizeof(p->sha), "%s", sha);
    p->replace = replace;
    p->owner = owner;
    p->len = len;
    memcpy(p->blob, blob, len);
    pthread_mutex_lock(&s->mutex);
    if (s->stopped || s->stopping || s->n_puts >= BANNER_SHARE_PUTS_MAX) {
        pthread_mutex_unlock(&s->mutex);
        free(p);
        return;
    }
    p->next = s->puts;
    s->puts = p;
    s->n_puts++;
    share_wake_locked(s);
    pthread_mutex_unlock(&s->mutex);
}

void banner_share_stop(banner_share_t *s)
{
    if (s == NULL) return;
    pthread_mutex_lock(&s->mutex);
    int running = !s->stopping;
    s->stopping = 1;
    if (running) share_wake_locked(s);
    pthread_mutex_unlock(&s->mutex);
    if (running) pthread_join(s->thread, NULL);
}
