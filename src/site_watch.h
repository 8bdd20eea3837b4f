/*
 * site_watch.h - the sites published in Redis, followed live (issue 22,
 * item 1: every node serves a published version within a second).
 *
 * One thread of its own (no worker's loop waits on it): an h2o event loop
 * with its own redis_t (the cluster-aware client) for the reads, and a
 * subscriber (redis_sub_t) on STORE_SITES_CHANNEL. A message ("<id>
 * <version>", one per publish) makes it read the registry at once; it also
 * reads it every SITE_WATCH_POLL_MS, the fallback for a lost message or a
 * subscriber that is down. A site whose published version changed is read
 * (its document only); when any did, apply() gets every site of the
 * registry (sorted by id) on this thread, and builds and swaps the snapshot
 * (main.c). The subscriber reconnects by itself (every SITE_WATCH_RETRY_MS).
 * A site the registry marks not served (-<version>: created and not yet
 * published, or deleted; store.h, store_sites_mark) is passed with that
 * version's document and served 0: the node knows it (its configuration and
 * evidence routes answer) and serves no banner for it.
 *
 * Ownership: the documents passed to apply() live until apply() returns.
 */
#ifndef CONSENTD_SITE_WATCH_H
#define CONSENTD_SITE_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "site.h"

#define SITE_WATCH_POLL_MS 2000 /* the registry read again (fallback for lost messages) */
#define SITE_WATCH_RETRY_MS 500 /* a lost subscriber opened again */
/* Start-up: Redis failing for this long (a refused connection, a cluster
 * without its slot map) is down: the node serves its directory meanwhile. */
#define SITE_WATCH_DOWN_MS 300
#define SITE_WATCH_MAX_SITES 10000 /* as many as a sites directory holds */

typedef struct site_watch site_watch_t;

/* 0: applied (the watcher keeps these versions); -1: refused (logged by
 * the callee; the watcher tries again at its next read). */
typedef int (*site_watch_apply_cb)(void *data, const site_doc_t *docs, size_t n);

/* Start the thread; NULL on failure (logged). cfg must outlive it. */
site_watch_t *site_watch_start(const config_t *cfg, site_watch_apply_cb apply, void *data);
/* Wait until the first read of Redis is done (applied, or Redis had no
 * site) or timeout_ms passed: 1 when done. Start-up calls it before it
 * serves. */
int site_watch_wait_first(site_watch_t *w, uint32_t timeout_ms);
void site_watch_stop(site_watch_t *w);

#endif
