/*
 * dashboard.h - GET /dashboard: the marketing dashboard (web/dashboard/),
 * a static page that signs in with a site's API key and draws the stats
 * API's figures. Served from memory, precompressed, under a strict
 * Content-Security-Policy.
 */
#ifndef CONSENTD_DASHBOARD_H
#define CONSENTD_DASHBOARD_H

#include "http.h"

/* The endpoint: /dashboard and /dashboard/ are the page;
 * /dashboard/dashboard.js and /dashboard/dashboard.css its script and
 * stylesheet; anything else under /dashboard/ is a 404. */
void dashboard_get(http_request_t *rq);

#endif
