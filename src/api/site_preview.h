/*
 * site_preview.h - what the console asks before it saves (issue 22, item 3):
 * check a document, and preview the real banner built from it.
 *
 *   POST /v1/sites/{site}/draft/check                 validate, store nothing
 *   POST /v1/sites/{site}/previews                    keep the document 15 minutes
 *   GET  /v1/sites/{site}/previews/{id}/banner.js     its banner, one language, one variant
 *
 * Both POSTs take the document (or {"site": {...}}, as PUT draft) and
 * validate it exactly as PUT draft does (site_config_validate: the source
 * is "site <id> draft"): 422 invalid_site with {field, reason}. A preview is
 * stored canonical under the site's tag (store.h, store_site_preview_put)
 * for STORE_SITE_PREVIEW_MS; its id (STORE_SITE_PREVIEW_ID_LEN base64url
 * characters, 144 random bits) is the only secret of the public GET, which
 * any node answers from Redis: the banner built by banner_build_preview()
 * from a copy of the document reduced to the language ?lang (the site's
 * default when absent or not one of its languages) and to the variant
 * ?variant (when declared; else no variant: the banner's own texts),
 * uncompressed, Cache-Control: no-store. Expired or unknown: 404
 * unknown_preview.
 *
 * A preview never records anything: the banner sends its choices and events
 * to the URLs beside its script (web/banner/main.js: new URL('.', src)), i.e.
 * /v1/sites/{site}/previews/{id}/consents and .../events, which are no
 * routes (404); and the console frames it in <iframe sandbox="allow-scripts">
 * whose requests carry Origin: null, which is no site's declared origin
 * (site.c accepts only scheme://host[:port]): the consent and events routes
 * refuse it (403 origin_not_allowed) before anything is written.
 */
#ifndef CONSENTD_API_SITE_PREVIEW_H
#define CONSENTD_API_SITE_PREVIEW_H

#include "http.h"

void site_preview_check(http_request_t *rq);
void site_preview_post(http_request_t *rq);
void site_preview_banner(http_request_t *rq);

#endif
