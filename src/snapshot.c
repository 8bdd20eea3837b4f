/*
 * snapshot.c - build, share and free what a reload swaps.
 */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>

#include "banner_build.h"

snapshot_t *snapshot_create(site_set_t *sites, key_set_t *keys, gvl_store_t *gvl,
                            const snapshot_t *previous, char *err, size_t errlen)
{
    return snapshot_create_shared(sites, keys, gvl, previous, NULL, err, errlen);
}

snapshot_t *snapshot_create_shared(site_set_t *sites, key_set_t *keys, gvl_store_t *gvl,
                                   const snapshot_t *previous, struct banner_share *share,
                                   char *err, size_t errlen)
{
    snapshot_t *snap = calloc(1, sizeof(*snap));
    if (snap == NULL) {
        snprintf(err, errlen, "out of memory");
        site_set_release(sites);
        key_set_free(keys);
        gvl_store_free(gvl);
        return NULL;
    }
    snap->sites = sites;
    snap->keys = keys;
    snap->gvl = gvl;
    snap->refs = 1;
    static uint64_t generations;
    snap->generation = __atomic_add_fetch(&generations, 1, __ATOMIC_RELAXED);
    if ((snap->banners =
             banner_set_build_shared(sites, gvl, previous != NULL ? previous->banners : NULL, share,
                                     err, errlen)) == NULL) {
        site_set_release(sites);
        key_set_free(keys);
        gvl_store_free(gvl);
        free(snap);
        return NULL;
    }
    return snap;
}

snapshot_t *snapshot_retain(snapshot_t *snap)
{
    __atomic_add_fetch(&snap->refs, 1, __ATOMIC_RELAXED);
    return snap;
}

void snapshot_release(snapshot_t *snap)
{
    if (snap == NULL || __atomic_sub_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    banner_set_free(snap->banners);
    site_set_release(snap->sites);
    key_set_free(snap->keys);
    gvl_store_free(snap->gvl);
    free(snap);
}
