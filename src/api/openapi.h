/*
 * openapi.h - GET /openapi.json: every route of the HTTP API as an OpenAPI
 * 3.1 document. The source is docs/openapi.json (hand-written, beside the
 * prose of docs/api.md); web/build.mjs embeds it precompressed, so it is
 * served from memory like the dashboard's files. tests/http/openapi.test.mjs
 * holds it to the router's table and to live answers.
 */
#ifndef CONSENTD_OPENAPI_H
#define CONSENTD_OPENAPI_H

#include "http.h"

/* The endpoint: the document, brotli or gzip, strong ETag, 304, cacheable,
 * readable from any origin (a public description, like the JWKS). */
void openapi_get(http_request_t *rq);

#endif
