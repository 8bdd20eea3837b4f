/*
 * banner.h - GET /v1/sites/{site}/banner.js: the banner script of a site,
 * with its settings and texts inlined, built once per snapshot (off the
 * event loop), precompressed (brotli, gzip), served from memory with ETag.
 */
#ifndef CONSENTD_BANNER_H
#define CONSENTD_BANNER_H

#include "http.h"
#include "site.h"

typedef struct banner_set banner_set_t;

/* Build the bodies of every site of the set. Blocking CPU work (brotli at
 * its best quality): call it off the event loop. NULL with err on failure,
 * e.g. a variant overriding a text the banner does not have
 * ("sites/demo.json: variants[1].texts.fr.titel: is not one of ..."). */
banner_set_t *banner_set_build(const site_set_t *sites, char *err, size_t errlen);
void banner_set_free(banner_set_t *set);

/* SHA-256 (64 hex) of the exact texts the banner shows for site in lang to
 * a visitor of variant (one of site->variants; NULL: no variant, the
 * banner's own texts): what a consent given there was given on. NULL when
 * the site has no such language. */
const char *banner_texts_hash(const banner_set_t *set, const site_t *site, const char *lang,
                              const site_variant_t *variant);

/* The endpoint: rq->site is set by the router. */
void banner_get(http_request_t *rq);

#endif
