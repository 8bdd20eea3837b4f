/*
 * versions.h - the archive of banner versions, read back (banner.h says what
 * a version is, store.h how it is kept):
 *
 *   GET /v1/sites/{site}/banner-versions         API key: every archived version
 *   GET /v1/sites/{site}/banner-versions/{hash}  API key: its exact bytes
 *   GET /v1/sites/{site}/banner-versions.json    public, cacheable: hashes and first-served
 *                                                times, for a site to publish
 */
#ifndef CONSENTD_VERSIONS_H
#define CONSENTD_VERSIONS_H

#include "http.h"

void versions_list(http_request_t *rq);
void versions_get(http_request_t *rq);
void versions_public(http_request_t *rq);

/* The address of a version: <public_url>/v1/sites/<site>/banner-versions/<hash>,
 * written into out (NUL-terminated, cut to fit). Returns its length. */
size_t versions_url(http_request_t *rq, const char *hash, char *out, size_t cap);

#endif
