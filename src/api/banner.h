/*
 * banner.h - GET /v1/sites/{site}/banner.js: the banner script of a site
 * (built by banner_build.h), and its consentd-defaults.js, served from memory
 * with ETag.
 */
#ifndef CONSENTD_BANNER_H
#define CONSENTD_BANNER_H

#include "http.h"

/* The endpoint: rq->site is set by the router. Archives the version the
 * first time it serves it (store.h), without waiting. */
void banner_get(http_request_t *rq);
/* GET /v1/sites/{site}/consentd-defaults.js: the site's Google Consent Mode
 * defaults, a synchronous script for the top of the page (banner_build.c). */
void banner_defaults_get(http_request_t *rq);
/* GET /v1/sites/{site}/tcf-stub.js: the IAB TCF CMP API stub of a TCF site
 * (issue 24, item 5; banner_build.c), 404 for other sites. */
void banner_tcf_stub_get(http_request_t *rq);

#endif
