/*
 * demo.h - GET /demo/{file}: a demo page that embeds the demo site's banner
 * under a strict Content-Security-Policy, with sample "analytics" and "ads"
 * tags that stay blocked until their purpose is granted (web/demo/).
 */
#ifndef CONSENTD_DEMO_H
#define CONSENTD_DEMO_H

#include "http.h"

/* The endpoint: /demo/ is the page; /demo/analytics.js, /demo/ads.js and
 * /demo/ad.html its sample tags; anything else is a 404. */
void demo_get(http_request_t *rq);

#endif
