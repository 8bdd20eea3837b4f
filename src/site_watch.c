/*
 * site_watch.c - follow the sites published in Redis (site_watch.h).
 *
 * The thread's state is its own (nothing shared but `first`, under mutex):
 * a cache of the published documents it applied, the read in progress
 * (reading: the registry asked, pending: documents still awaited) and what
 * that read found.
 */
#include "site_watch.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "redis.h"
#include "store.h"

/* mark: the registry's value, the version published (> 0) or -version
 * for a site known but not served (created, or deleted: store.h,
 * store_sites_mark); the document is that version's. */
typedef struct watch_doc {
    char id[SITE_ID_MAX + 1];
    int64_t mark;
    char *json;
    size_t len;
} watch_doc_t;

struct site_watch {
    const config_t *cfg;
    site_watch_apply_cb apply;
    void *data;
    pthread_t thread;
    int stop; /* atomic */
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int first; /* under mutex: the first read is done */
    h2o_loop_t *loop;
    redis_t *redis;
    redis_sub_t *sub;
    uint64_t sub_retry_at, next_read_at;
    int dirty; /* a message came: read now */
    /* the read in progress */
    int reading;
    size_t pending;
    int failed;
    watch_doc_t *fresh; /* documents read this time */
    size_t n_fresh;
    /* applied */
    watch_doc_t *docs;
    size_t n_docs;
};

typedef struct watch_fetch {
    site_watch_t *w;
    char id[SITE_ID_MAX + 1];
    int64_t mark;
} watch_fetch_t;

static uint64_t watch_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void watch_docs_free(watch_doc_t *docs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(docs[i].json);
    free(docs);
}

static const watch_doc_t *watch_find(const watch_doc_t *docs, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(docs[i].id, id) == 0) return &docs[i];
    return NULL;
}

static void watch_first_done(site_watch_t *w)
{
    pthread_mutex_lock(&w->mutex);
    if (!w->first) {
        w->first = 1;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->mutex);
}

static int watch_doc_cmp(const void *a, const void *b)
{
    return strcmp(((const watch_doc_t *)a)->id, ((const watch_doc_t *)b)->id);
}

/* The read is over: apply the cache with what changed, if anything did. */
static void watch_finish(site_watch_t *w)
{
    w->reading = 0;
    size_t changed = 0;
    for (size_t i = 0; i < w->n_fresh; i++) {
        const watch_doc_t *old = watch_find(w->docs, w->n_docs, w->fresh[i].id);
        if (old == NULL || old->mark != w->fresh[i].mark) changed++;
    }
    if (changed == 0 || w->failed) {
        watch_docs_free(w->fresh, w->n_fresh);
        w->fresh = NULL;
        w->n_fresh = 0;
        if (!w->failed) watch_first_done(w);
        w->failed = 0;
        return;
    }
    /* The new cache: the old documents, replaced by the fresh ones. */
    size_t cap = w->n_docs + w->n_fresh, n = 0;
    watch_doc_t *next = calloc(cap ? cap : 1, sizeof(*next));
    site_doc_t *view = calloc(cap ? cap : 1, sizeof(*view));
    if (next == NULL || view == NULL) {
        free(next);
        free(view);
        log_msg(LOG_ERROR, "sites: out of memory applying the published sites");
        return;
    }
    for (size_t i = 0; i < w->n_fresh; i++)
        next[n++] = w->fresh[i]; /* moved */
    free(w->fresh);
    w->fresh = NULL;
    w->n_fresh = 0;
    for (size_t i = 0; i < w->n_docs; i++) {
        if (watch_find(next, n, w->docs[i].id) != NULL) continue;
        next[n] = w->docs[i];
        if ((next[n].json = malloc(w->docs[i].len + 1)) == NULL) continue;
        memcpy(next[n].json, w->docs[i].json, w->docs[i].len + 1);
        n++;
    }
    qsort(next, n, sizeof(*next), watch_doc_cmp);
    for (size_t i = 0; i < n; i++)
        view[i] =
            (site_doc_t){next[i].id, (uint64_t)(next[i].mark > 0 ? next[i].mark : -next[i].mark),
                         next[i].json, next[i].len, next[i].mark < 0};
    if (w->apply(w->data, view, n) == 0) {
        watch_docs_free(w->docs, w->n_docs);
        w->docs = next;
        w->n_docs = n;
    } else {
        /* Refused (an invalid document: logged by apply): what is served
         * stays; the next read tries again. */
        watch_docs_free(next, n);
    }
    free(view);
    watch_first_done(w);
}

static void watch_on_doc(void *data, const char *js, size_t len, const redis_error_t *err)
{
    watch_fetch_t *f = data;
    site_watch_t *w = f->w;
    json_t *r = err == NULL && js != NULL ? json_loadb(js, len, 0, NULL) : NULL;
    const json_t *doc = json_object_get(r, "json"), *ver = json_object_get(r, "version");
    if (err != NULL) {
        w->failed = 1;
        log_msg(LOG_WARN, "sites: reading site %s: %s", f->id, err->detail);
    } else if (json_is_string(doc) && json_is_integer(ver) && json_integer_value(ver) > 0) {
        watch_doc_t *d = &w->fresh[w->n_fresh];
        snprintf(d->id, sizeof(d->id), "%s", f->id);
        /* published: the version read (a publish may have come since the
         * registry was read); not served: the one named */
        d->mark = f->mark > 0 ? (int64_t)json_integer_value(ver) : f->mark;
        d->len = json_string_length(doc);
        if ((d->json = malloc(d->len + 1)) != NULL) {
            memcpy(d->json, json_string_value(doc), d->len + 1);
            w->n_fresh++;
        } else {
            w->failed = 1;
        }
    }
    json_decref(r);
    free(f);
    if (--w->pending == 0) watch_finish(w);
}

static void watch_on_list(void *data, const char *js, size_t len, const redis_error_t *err)
{
    site_watch_t *w = data;
    json_t *r = err == NULL && js != NULL ? json_loadb(js, len, 0, NULL) : NULL;
    json_t *sites = json_object_get(r, "sites");
    if (err != NULL || !json_is_object(sites)) {
        log_msg(LOG_WARN, "sites: reading the registry: %s",
                err != NULL ? err->detail : "unexpected answer");
        json_decref(r);
        w->reading = 0;
        return;
    }
    size_t n = json_object_size(sites);
    if (n > SITE_WATCH_MAX_SITES) n = SITE_WATCH_MAX_SITES;
    w->fresh = calloc(n ? n : 1, sizeof(*w->fresh));
    w->n_fresh = 0;
    w->pending = 1; /* this function's own, dropped below */
    w->failed = w->fresh == NULL;
    const char *id;
    json_t *v;
    size_t asked = 0;
    json_object_foreach(sites, id, v)
    {
        if (w->fresh == NULL || asked == n) break;
        const watch_doc_t *old = watch_find(w->docs, w->n_docs, id);
        json_int_t mark = json_is_integer(v) ? json_integer_value(v) : 0;
        if (mark == 0 || mark < -((json_int_t)1 << 53) || strlen(id) > SITE_ID_MAX ||
            (old != NULL && old->mark == mark))
            continue;
        watch_fetch_t *f = calloc(1, sizeof(*f));
        if (f == NULL) break;
        f->w = w;
        snprintf(f->id, sizeof(f->id), "%s", id);
        f->mark = mark;
        w->pending++;
        asked++;
        /* the published document (0: as published now), or the version named */
        if (store_site_version_get(w->redis, id, mark > 0 ? 0 : (uint64_t)-mark, watch_on_doc, f) !=
            REDIS_OK) {
            w->pending--;
            w->failed = 1;
            free(f);
        }
    }
    json_decref(r);
    if (--w->pending == 0) watch_finish(w);
}

static void watch_read(site_watch_t *w)
{
    if (w->reading || !redis_is_connected(w->redis)) return;
    w->dirty = 0;
    w->reading = 1;
    if (store_sites_list(w->redis, watch_on_list, w) != REDIS_OK) w->reading = 0;
}

static void watch_on_redis(void *data, redis_t *r, int connected)
{
    (void)data;
    if (connected) store_on_connect(r);
}

static void watch_subscriber(site_watch_t *w, uint64_t now)
{
    if (w->sub == NULL) {
        if (now < w->sub_retry_at) return;
        char err[256];
        w->sub = redis_sub_open(&w->cfg->redis, STORE_SITES_CHANNEL, err, sizeof(err));
        if (w->sub == NULL) {
            w->sub_retry_at = now + SITE_WATCH_RETRY_MS;
            return;
        }
        w->dirty = 1; /* messages may have been missed meanwhile */
        return;
    }
    char msg[SITE_ID_MAX + 32];
    int rc = redis_sub_wait(w->sub, 10, msg, sizeof(msg));
    if (rc == 1) {
        log_msg(LOG_DEBUG, "sites: published: %s", msg);
        w->dirty = 1;
    } else if (rc < 0) {
        log_msg(LOG_WARN,
                "sites: the subscription to %s was lost: reading every %d ms until it "
                "is back",
                STORE_SITES_CHANNEL, SITE_WATCH_POLL_MS);
        redis_sub_close(w->sub);
        w->sub = NULL;
        w->sub_retry_at = now + SITE_WATCH_RETRY_MS;
    }
}

static void *watch_main(void *arg)
{
    site_watch_t *w = arg;
    w->loop = h2o_evloop_create();
    w->redis = redis_create(w->loop, &w->cfg->redis);
    if (w->redis == NULL) {
        log_msg(LOG_ERROR, "sites: out of memory: sites in Redis are not followed");
        watch_first_done(w);
        return NULL;
    }
    redis_set_state_cb(w->redis, watch_on_redis, w);
    w->dirty = 1;
    uint64_t started = watch_now_ms();
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        h2o_evloop_run(w->loop, w->sub != NULL ? 5 : 20);
        uint64_t now = watch_now_ms();
        /* Redis unreachable at start: the node serves its directory's sites
         * meanwhile, and Redis' once it is back. */
        if (!redis_is_connected(w->redis) && redis_last_error(w->redis)[0] != '\0' &&
            now >= started + SITE_WATCH_DOWN_MS)
            watch_first_done(w);
        watch_subscriber(w, now);
        if (w->dirty || now >= w->next_read_at) {
            if (!w->reading) w->next_read_at = now + SITE_WATCH_POLL_MS;
            watch_read(w);
        }
    }
    redis_destroy(w->redis); /* fails what is in flight: the callbacks run */
    redis_sub_close(w->sub);
    h2o_evloop_destroy(w->loop);
    return NULL;
}

site_watch_t *site_watch_start(const config_t *cfg, site_watch_apply_cb apply, void *data)
{
    site_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL) return NULL;
    w->cfg = cfg;
    w->apply = apply;
    w->data = data;
    pthread_mutex_init(&w->mutex, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        log_msg(LOG_ERROR, "sites: cannot start the thread that follows Redis");
        free(w);
        return NULL;
    }
    return w;
}

int site_watch_wait_first(site_watch_t *w, uint32_t timeout_ms)
{
    struct timespec deadline;
    clock_deadline(CLOCK_REALTIME, timeout_ms, &deadline);
    int rc = 0;
    pthread_mutex_lock(&w->mutex);
    while (!w->first && rc == 0)
        rc = pthread_cond_timedwait(&w->cond, &w->mutex, &deadline);
    int done = w->first;
    pthread_mutex_unlock(&w->mutex);
    return done;
}

void site_watch_stop(site_watch_t *w)
{
    if (w == NULL) return;
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
    pthread_join(w->thread, NULL);
    watch_docs_free(w->docs, w->n_docs);
    watch_docs_free(w->fresh, w->n_fresh);
    pthread_mutex_destroy(&w->mutex);
    pthread_cond_destroy(&w->cond);
    free(w);
}
