/*
 * snapshot.h - what a reload swaps: the site set and everything derived from
 * it (the prebuilt, precompressed banner bodies).
 *
 * Built off the event loop (at start-up and on SIGHUP, by main.c), then
 * immutable and shared by all workers. Each worker holds one reference to
 * its current snapshot; a request waiting on Redis holds another (see
 * http_pending_new), so a reload never frees what a request still uses.
 */
#ifndef CONSENTD_SNAPSHOT_H
#define CONSENTD_SNAPSHOT_H

#include <stddef.h>
#include "gvl.h"
#include "keys.h"
#include "site.h"

struct banner_set;

typedef struct snapshot {
    site_set_t *sites;
    gvl_store_t *gvl; /* the IAB Global Vendor List store (gvl.h), NULL without tcf.gvl_dir */
    struct banner_set *banners;
    key_set_t *keys;
    uint64_t generation; /* 1, 2, ...: a new one at each snapshot_create (caches key on it) */
    int refs;            /* atomic */
    /* atomic: the worker threads that serve it (server.c counts each switch
     * to it): all of them once it reaches worker_t.workers. A request that
     * waits for its own change to be served everywhere on the node reads it
     * (api/sites.h). */
    int serving;
} snapshot_t;

/* Takes over the caller's reference of sites and ownership of keys and gvl
 * (all released on failure too; gvl may be NULL). previous: the snapshot it replaces (NULL at
 * start-up), whose banner versions stay known a while (banner.h). Returns a
 * snapshot with one reference, or NULL with a reason in err. */
snapshot_t *snapshot_create(site_set_t *sites, key_set_t *keys, gvl_store_t *gvl,
                            const snapshot_t *previous, char *err, size_t errlen);
/* The same, the banners' compressed bytes shared through Redis (share may
 * be NULL; banner_build.h: banner_set_build_shared). */
struct banner_share;
snapshot_t *snapshot_create_shared(site_set_t *sites, key_set_t *keys, gvl_store_t *gvl,
                                   const snapshot_t *previous, struct banner_share *share,
                                   char *err, size_t errlen);
snapshot_t *snapshot_retain(snapshot_t *snap);
void snapshot_release(snapshot_t *snap);

#endif
