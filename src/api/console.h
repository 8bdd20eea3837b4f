/*
 * console.h - GET /console: the sites console (web/console/, issue 22,
 * item 3), a static page that signs in with a key and edits a site's draft
 * through the site configuration API, with a live preview of the banner in
 * a sandboxed frame (its own static page, preview.html). Served from
 * memory, precompressed, under a strict Content-Security-Policy.
 */
#ifndef CONSENTD_CONSOLE_H
#define CONSENTD_CONSOLE_H

#include "http.h"

/* The endpoint: /console and /console/ are the page; /console/console.js,
 * /console/console.css its script and stylesheet; /console/preview.html and
 * /console/preview.js the preview frame's page and script; anything else
 * under /console/ is a 404. */
void console_get(http_request_t *rq);

#endif
