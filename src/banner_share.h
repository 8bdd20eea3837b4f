/*
 * banner_share.h - the compressed bytes of the banners, built once for the
 * whole fleet and shared through Redis (issue 22, item 4: a publish costs
 * one compression per encoding fleet-wide, a node starting after another
 * reads what that one compressed instead of spending minutes of CPU).
 *
 * What is shared is opaque here: a blob per script body, keyed by the site
 * and the SHA-256 of the body's uncompressed bytes (store.h, key layout in
 * store.c: cd:{<site>:bz}:z:<sha>). banner_build.c makes and checks the
 * blobs; this module only moves them.
 *
 * Threads: one thread of its own, with an h2o event loop and its own
 * redis_t (the cluster-aware client), woken through an eventfd. Callers are
 * the threads that compress banners (banner_build.c: a set's compressing
 * thread, or the thread building a set: main's, the site watcher's), never
 * a worker's loop: banner_share_fetch blocks, for a bounded time.
 *
 * Guarantees:
 *  - Redis down: a fetch answers "not found" at once. Only the first
 *    connection is waited for, until it is made or fails, and at most
 *    redis.connect_timeout_ms from banner_share_start: start-up waits that
 *    long for the site watcher's first read anyway (site_watch.h), so it
 *    waits no longer than before;
 *  - a fetch returns within BANNER_SHARE_WAIT_MS plus the configured
 *    redis.command_timeout_ms, twice: a body that another node is
 *    compressing (it holds the lease) is polled for every
 *    BANNER_SHARE_POLL_MS until its blob is there, then "not found";
 *  - a put is copied and sent later, never waited for; at most
 *    BANNER_SHARE_PUTS_MAX wait or fly at once (more are dropped: the next
 *    node that needs them builds them).
 *
 * Ownership: a fetched blob is malloc'd, the caller frees it. The share
 * lives until the process exits: banner_share_stop ends its thread, and
 * fetches and puts after it answer "not found" and do nothing (a set's
 * compressing thread may still run during a stop).
 */
#ifndef CONSENTD_BANNER_SHARE_H
#define CONSENTD_BANNER_SHARE_H

#include <stddef.h>

#include "config.h"
#include "site.h"

#define BANNER_SHARE_WAIT_MS 3000 /* how long a body another node compresses is waited for */
#define BANNER_SHARE_POLL_MS 20   /* how often it is looked for meanwhile */
#define BANNER_SHARE_PUTS_MAX 256 /* puts waiting or in flight */
#define BANNER_SHARE_SHA_HEX 64

typedef struct banner_share banner_share_t;

/* One body to look up: in, the site and the SHA-256 (hex) of its
 * uncompressed bytes; out, the blob stored for it, or NULL (none, Redis down
 * or slow: the caller builds it, and puts it). owner: 1 when this node took
 * the lease on building it (the others wait for its put). */
typedef struct banner_share_item {
    char site[SITE_ID_MAX + 1];
    char sha[BANNER_SHARE_SHA_HEX + 1];
    char *blob;
    size_t len;
    int owner;
    int failed; /* 1: Redis down, or an error (a timeout): not "none stored" */
} banner_share_item_t;

/* Start the thread; NULL on failure (logged: banners are then compressed
 * by each node). cfg must outlive it. */
banner_share_t *banner_share_start(const config_t *cfg);
/* Look up n items, blocking (see the guarantees above). */
void banner_share_fetch(banner_share_t *s, banner_share_item_t *items, size_t n);
/* Store blob for (site, sha): SET NX, or, with replace, over a blob the
 * caller refused; owner (the item's): then give the lease back. */
void banner_share_put(banner_share_t *s, const char *site, const char *sha, const char *blob,
                      size_t len, int replace, int owner);
/* End the thread (in-flight commands fail, waiting fetches answer). */
void banner_share_stop(banner_share_t *s);

#endif
