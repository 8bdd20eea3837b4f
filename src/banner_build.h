/*
 * banner_build.h - each site's banner.js, with its settings and texts
 * inlined, built once per snapshot (off the event loop) and precompressed
 * (brotli, gzip) by a background thread of the set, or read from Redis when
 * another node of the fleet compressed the same bytes (banner_share.h,
 * checked before they are served); its version hash and the hashes of the
 * texts it shows.
 *
 * No HTTP here: api/banner.c serves the bodies, snapshot.c owns the set.
 * A built set is immutable and shared by every worker, except each banner's
 * `served` record and its compressed bodies (filled once, in the
 * background), which only atomics touch.
 */
#ifndef CONSENTD_BANNER_BUILD_H
#define CONSENTD_BANNER_BUILD_H

#include <stdint.h>

#include "site.h"

typedef struct banner_set banner_set_t;

/*
 * A banner VERSION is one banner.js body as served (all the site's languages
 * and variants inlined, uncompressed). Its hash, 64 lowercase hex, is the
 * SHA-256 of those exact bytes in which the 64 hex digits of its own field
 * "bv" (the first member of the inlined settings: ({"bv":"<hash>",...)
 * read as 64 '0': a body cannot hold its own hash, and this way anyone
 * recomputes it from the bytes alone:
 *   sed -E 's/"bv":"[0-9a-f]{64}"/"bv":"'"$(printf '%064d' 0)"'"/' banner.js | sha256sum
 */
#define BANNER_VERSION_BYTES 32
#define BANNER_VERSION_HEX 64

/* Build the bodies of every site of the set. Blocking CPU work (brotli at
 * its best quality): call it off the event loop. NULL with err on failure,
 * e.g. a variant overriding a text the banner does not have
 * ("sites/demo.json: variants[1].texts.fr.titel: is not one of ..."). */
banner_set_t *banner_set_build(const site_set_t *sites, char *err, size_t errlen);
/* The same, remembering the versions previous (the set being replaced, may
 * be NULL) served that the new set does not: for two days they are still
 * known versions (banner_version_known). A site whose document is the one
 * previous had (site_t.source_sha256) gets a copy of its banner, not a
 * build. */
banner_set_t *banner_set_build_after(const site_set_t *sites, const banner_set_t *previous,
                                     char *err, size_t errlen);
/* The same, with the IAB Global Vendor List store (gvl.h; NULL without
 * tcf.gvl_dir) whose newest list a TCF site's banner shows (its vendors,
 * purposes and texts) and whose stub script it serves (issue 24). */
struct gvl_store;
banner_set_t *banner_set_build_gvl(const site_set_t *sites, const struct gvl_store *gvl,
                                   const banner_set_t *previous, char *err, size_t errlen);
/* The same, with the compressed bytes shared through Redis (share may be
 * NULL: none; issue 22, item 4): a banner's gzip and brotli bytes, and its
 * consentd-defaults.js's, are read from Redis when another node built them
 * for the same bytes (checked: they must decompress to this node's body),
 * and stored there when built here. share must outlive the set's
 * compressing thread (banner_share.h: it lives until exit). The lookups
 * block the compressing thread, or the caller for a set compressed inline,
 * at most as banner_share_fetch says; Redis down costs no wait. Counted in
 * /metrics: consentd_banner_compressions_total{source="local"|"redis"}. */
struct banner_share;
banner_set_t *banner_set_build_shared(const site_set_t *sites, const struct gvl_store *gvl,
                                      const banner_set_t *previous, struct banner_share *share,
                                      char *err, size_t errlen);
/* What building site's banner would refuse, without building it: a
 * variant's text override that is not one of the banner's strings, or that
 * changes its {placeholders}. 0, or -1 with "<site->file>: <field>: why"
 * (the check banner_set_build makes; a draft is held to it before it is
 * stored, so that no published version fails on the nodes). */
int banner_site_check(const site_t *site, char *err, size_t errlen);
/* The identity body of one site's banner, built as banner_set_build builds
 * it (same features, texts, settings) but not compressed, archived nor kept
 * in any set: the console's preview of an unsaved document (api/site_preview.h),
 * after web/banner/preview.js (the banner in a sandboxed frame, whose cookie
 * and storages throw: kept in memory there; and whose consents and events
 * are answered in the page: a preview sends nothing).
 * Well under a millisecond for a usual site, so it may run on a worker's
 * loop. malloc'd (*len bytes), or NULL with err. */
char *banner_build_preview(const site_t *site, const struct gvl_store *gvl, size_t *len, char *err,
                           size_t errlen);
/* How many banners of the set were built; the others (a site whose document
 * is byte for byte the one previous had) were copied from previous: a
 * publish or a reload rebuilds only the sites that changed. */
size_t banner_set_rebuilt(const banner_set_t *set);
/* How many banners of the set have their gzip and brotli bytes. A set is
 * returned with identity bodies, versions and ETags only; one thread per set
 * then compresses its banners (maximum-level gzip and brotli) in the
 * background, and each is served compressed as soon as its bytes are built
 * (banner_encoding): a node with 10,000 sites answers within seconds of
 * start, not minutes. *took_ms (when not NULL): how long compressing them
 * all took, -1 while it runs. */
size_t banner_set_compressed(const banner_set_t *set, int64_t *took_ms);
/* Let the set go: its compressing thread, if still running, stops after
 * the banner it is compressing and frees the set (no waiting here). */
void banner_set_free(banner_set_t *set);

/* SHA-256 (64 hex) of the exact texts the banner shows for site in lang to
 * a visitor of variant (one of site->variants; NULL: no variant, the
 * banner's own texts): what a consent given there was given on. NULL when
 * the site has no such language. */
const char *banner_texts_hash(const banner_set_t *set, const site_t *site, const char *lang,
                              const site_variant_t *variant);

/* 64 lowercase hex digits into 32 bytes: 0, or -1 when malformed. */
int banner_version_parse(const char *hex, size_t len, unsigned char out[BANNER_VERSION_BYTES]);
/* 1 when version is the site's banner in this set, or one it served until
 * a reload less than two days ago (in this process): a version that needs
 * no look-up in the archive. */
int banner_version_known(const banner_set_t *set, const site_t *site,
                         const unsigned char version[BANNER_VERSION_BYTES]);
/* The hash of the site's current banner (64 hex), NULL for no such site. */
const char *banner_version_hex(const banner_set_t *set, const site_t *site);

/* One site's banner in a set, for serving it. */
typedef struct banner_encoding {
    char *body;
    size_t len;
    char etag[48]; /* "<hash>" or "<hash>-gz" or "<hash>-br", quotes included */
    size_t etag_len;
} banner_encoding_t;

enum { BANNER_IDENTITY = 0, BANNER_GZIP, BANNER_BROTLI, BANNER_ENCODINGS };

/* What the workers serving one snapshot share about one banner. */
enum { BANNER_ARCHIVE_NONE = 0, BANNER_ARCHIVE_SENDING, BANNER_ARCHIVE_DONE };
typedef struct banner_served {
    int archive;       /* atomic: BANNER_ARCHIVE_* */
    uint64_t noted_ms; /* atomic: when "last served" was last sent (loop clock) */
} banner_served_t;

typedef struct banner {
    const site_t *site;
    banner_encoding_t enc[BANNER_ENCODINGS];
    /* consentd-defaults.js: the site's Consent Mode default(s) and settings,
     * pushed synchronously before any Google tag (banner_consent_defaults). */
    banner_encoding_t defaults[BANNER_ENCODINGS];
    /* tcf-stub.js, only for a TCF site (else every body NULL): the IAB CMP
     * API stub that queues __tcfapi calls until the banner loads (issue 24). */
    banner_encoding_t tcf_stub[BANNER_ENCODINGS];
    unsigned char version[BANNER_VERSION_BYTES];
    char version_hex[BANNER_VERSION_HEX + 1];
    char *languages, *variants; /* comma-separated, for the archive */
    banner_served_t *served;    /* mutable, shared by the workers */
    /* [0]: no variant (the banner's own texts); [1 + i]: site->variants[i].
     * Then in site->languages order. */
    char texts_hash[1 + SITE_MAX_VARIANTS][SITE_MAX_LANGUAGES][65];
} banner_t;

/* The encoding *e of a script (encs: a banner's enc or defaults) if it is
 * built, else the best one that is (brotli, gzip, identity: always built),
 * *e changed to say which. The same bytes as a blocking build's, once
 * built; until then the identity body with its own ETag ("<hash>"). */
const banner_encoding_t *banner_encoding(const banner_encoding_t encs[BANNER_ENCODINGS], int *e);

/* The banner of site in set, NULL when the set has none. */
const banner_t *banner_find(const banner_set_t *set, const site_t *site);

#endif
