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

#include "counters.h"
#include "http.h"
#include "visitor.h"

#define EVENTS_MAX_BODY 1024 /* bytes of a POST body */

void events_post(http_request_t *rq);

/* A checked event body. */
typedef struct events_event {
    counters_metric_t metric;         /* COUNTERS_SHOWN, _DISMISSED or _PANEL_OPENED */
    const char *lang;                 /* the site's own string, NULL when none */
    const site_variant_t *variant;    /* NULL when none */
    char visitor[VISITOR_ID_MAX + 1]; /* "" when none */
    int page; /* "page": site_page_group_index (unknown names: other); -1 when none */
} events_event_t;

/* Why a body was refused (always a 400). */
typedef struct events_refusal {
    const char *code;
    char message[160];
} events_refusal_t;

/* Check the body of POST .../events (untrusted bytes) for site. Returns 0
 * and fills out, or -1 and fills why. Pure (no I/O, no h2o): tests and
 * fuzzers call it directly. */
int events_body_check(const char *body, size_t len, const site_t *site, events_event_t *out,
                      events_refusal_t *why);

#endif
