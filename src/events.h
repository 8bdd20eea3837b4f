/*
 * events.h - banner events, the denominators of the acceptance rates:
 *
 *   POST /v1/sites/{site}/events   {"type": "shown" | "dismissed" | "panel_opened",
 *                                   "lang", "variant", "visitor", "policy_version"}
 *
 * Called by the banner (the site's origins, CORS) or with the site's API
 * key. Counted in memory (counters.h) and answered 204 at once: no Redis
 * round trip, and the answer is the same while Redis is down.
 */
#ifndef CONSENTD_EVENTS_H
#define CONSENTD_EVENTS_H

#include "http.h"

#define EVENTS_MAX_BODY 1024 /* bytes of a POST body */

void events_post(http_request_t *rq);

#endif
