/*
 * banner.c - GET /v1/sites/{site}/banner.js: serve the site's banner, built
 * by banner_build.c for the worker's snapshot, from memory: brotli, gzip or
 * identity as the client accepts, strong ETag and 304, Cache-Control, Vary.
 *
 * The first serving of a version in a snapshot archives it in Redis
 * (store.h, fire and forget); later servings note "last served" at most once
 * every BANNER_NOTE_EVERY_MS. The snapshot's workers share that state
 * through atomics on the banner's `served` record (banner_build.h).
 */
#include "banner.h"

#include <stdlib.h>
#include <string.h>

#include "banner_build.h"
#include "log.h"
#include "store.h"

#define BANNER_CACHE_CONTROL "public, max-age=300, stale-while-revalidate=86400"
#define BANNER_NOTE_EVERY_MS (3600 * 1000) /* "last served", per process and snapshot */

static const char *const encoding_names[BANNER_ENCODINGS] = {NULL, "gzip", "br"};

/* A serving noted in Redis: keeps the snapshot (and the banner) alive. */
typedef struct banner_note {
    snapshot_t *snap;
    const banner_t *banner;
    int archive; /* 1: the bytes were sent (first serving) */
} banner_note_t;

static void banner_on_noted(void *data, int found, const redis_error_t *err)
{
    banner_note_t *n = data;
    banner_served_t *s = n->banner->served;
    if (err != NULL) {
        log_msg(LOG_WARN,
                "banner: noting version %s of site %s in the archive: %s (again at a "
                "later serving)",
                n->banner->version_hex, n->banner->site->id, err->detail);
        if (n->archive)
            __atomic_store_n(&s->archive, BANNER_ARCHIVE_NONE, __ATOMIC_RELEASE);
        else
            __atomic_store_n(&s->noted_ms, 0, __ATOMIC_RELAXED);
    } else if (n->archive) {
        __atomic_store_n(&s->archive, BANNER_ARCHIVE_DONE, __ATOMIC_RELEASE);
    } else if (!found) { /* the archive lost it (expired, flushed): send it again */
        __atomic_store_n(&s->archive, BANNER_ARCHIVE_NONE, __ATOMIC_RELEASE);
    }
    snapshot_release(n->snap);
    free(n);
}

/* The first serving of a version in this snapshot archives it; later ones
 * note "last served" once every BANNER_NOTE_EVERY_MS. Never waits: the
 * common case is two atomic loads. */
static void banner_note_served(http_request_t *rq, const banner_t *b)
{
    banner_served_t *s = b->served;
    uint64_t now = h2o_now(rq->worker->ctx.loop);
    int archive = __atomic_load_n(&s->archive, __ATOMIC_ACQUIRE);
    if (archive == BANNER_ARCHIVE_SENDING) return;
    if (archive == BANNER_ARCHIVE_DONE) {
        uint64_t noted = __atomic_load_n(&s->noted_ms, __ATOMIC_RELAXED);
        if (now - noted < BANNER_NOTE_EVERY_MS ||
            !__atomic_compare_exchange_n(&s->noted_ms, &noted, now, 0, __ATOMIC_RELAXED,
                                         __ATOMIC_RELAXED))
            return;
    } else {
        int expected = BANNER_ARCHIVE_NONE;
        if (!__atomic_compare_exchange_n(&s->archive, &expected, BANNER_ARCHIVE_SENDING, 0,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return;
        __atomic_store_n(&s->noted_ms, now, __ATOMIC_RELAXED);
    }
    banner_note_t *n = malloc(sizeof(*n));
    const banner_encoding_t *id = &b->enc[BANNER_IDENTITY];
    store_banner_version_t v = {.hash = b->version_hex,
                                .policy_version = b->site->policy_version,
                                .languages = b->languages,
                                .variants = b->variants};
    int rc = REDIS_E_ARGS;
    if (n != NULL) {
        *n = (banner_note_t){snapshot_retain(rq->worker->snap), b, archive != BANNER_ARCHIVE_DONE};
        rc = store_banner_served(rq->worker->redis, b->site, &v, n->archive ? id->body : NULL,
                                 n->archive ? id->len : 0, banner_on_noted, n);
    }
    if (rc != REDIS_OK) { /* Redis down or busy: a later serving tries again */
        if (n != NULL) snapshot_release(n->snap);
        free(n);
        if (archive == BANNER_ARCHIVE_DONE)
            __atomic_store_n(&s->noted_ms, 0, __ATOMIC_RELAXED);
        else
            __atomic_store_n(&s->archive, BANNER_ARCHIVE_NONE, __ATOMIC_RELEASE);
    }
}

/* Answer with one of a script's encodings (encs: BANNER_ENCODINGS of them, as the client accepts
 * them), ETag and 304; b (the site's banner) noted as served when `note`. */
static void banner_send(http_request_t *rq, const banner_t *b, const banner_encoding_t *encs,
                        int note)
{
    int e = http_accepts_encoding(rq, "br")     ? BANNER_BROTLI
            : http_accepts_encoding(rq, "gzip") ? BANNER_GZIP
                                                : BANNER_IDENTITY;
    /* Not compressed yet (a node just started with many sites): the best
     * encoding built so far, with its own ETag. */
    const banner_encoding_t *enc = banner_encoding(encs, &e);
    http_header(rq, "vary", H2O_STRLIT("accept-encoding"));
    http_header(rq, "etag", enc->etag, enc->etag_len);
    http_header(rq, "cache-control", H2O_STRLIT(BANNER_CACHE_CONTROL));
    /* A 304 shows that version again too. */
    if (note && rq->worker->redis != NULL) banner_note_served(rq, b);
    if (http_etag_matches(rq, enc->etag, enc->etag_len)) {
        http_send_static(rq, 304, NULL, NULL, 0);
        return;
    }
    http_hold_snapshot(rq);
    if (encoding_names[e] != NULL)
        http_header(rq, "content-encoding", encoding_names[e], strlen(encoding_names[e]));
    http_send_static(rq, 200, "application/javascript; charset=utf-8", enc->body, enc->len);
}

void banner_get(http_request_t *rq)
{
    const banner_t *b = banner_find(rq->worker->snap->banners, rq->site);
    if (b == NULL) {
        http_error(rq, 404, "site_not_found", "no banner for this site");
        return;
    }
    banner_send(rq, b, b->enc, 1);
}

void banner_defaults_get(http_request_t *rq)
{
    const banner_t *b = banner_find(rq->worker->snap->banners, rq->site);
    if (b == NULL) {
        http_error(rq, 404, "site_not_found", "no banner for this site");
        return;
    }
    banner_send(rq, b, b->defaults, 0);
}

void banner_tcf_stub_get(http_request_t *rq)
{
    const banner_t *b = banner_find(rq->worker->snap->banners, rq->site);
    const banner_encoding_t *stub = b != NULL ? b->tcf_stub : NULL;
    if (stub == NULL || stub[BANNER_IDENTITY].body == NULL) {
        http_error(rq, 404, "site_not_found", "no TCF stub for this site (it has no tcf block)");
        return;
    }
    banner_send(rq, b, stub, 0);
}
