/*
 * site_keys.h - a site's scoped API keys (apikey.h; docs/api.md, Keys and
 * scopes):
 *
 *   POST   /v1/sites/{site}/keys          {"name", "scopes": [...]}: 201 with the
 *                                         record and "key", the secret, shown
 *                                         this once (consentd keeps its SHA-256)
 *   GET    /v1/sites/{site}/keys          {"keys": [records]}: no secret
 *   DELETE /v1/sites/{site}/keys/{name}   204; the key stops working at once
 *                                         on this node, within AUTH_CACHE_MS
 *                                         on the others (auth.h)
 *
 * Every one needs the scope keys:admin (the router's declaration): the
 * site's owner key, the operator key, or a key with that scope. A key may
 * grant only scopes it holds itself, unless it is the operator's (which
 * issues the site's keys). Errors: 400 invalid_field (name, scopes), 415,
 * 409 key_exists (that name is taken), 409 too_many_keys
 * (STORE_SITE_KEYS_MAX), 404 key_not_found. One Redis call per request.
 *
 * site_keys_body_check is pure, for the tests; threads: the worker's.
 */
#ifndef CONSENTD_SITE_KEYS_H
#define CONSENTD_SITE_KEYS_H

#include <stddef.h>

#include "apikey.h"
#include "http.h"

#define SITE_KEYS_MAX_BODY 1024

/* body[0..len): 0 with the name (APIKEY_NAME_MAX + 1 bytes) and the scopes
 * (at least one, each known, none twice); -1 with the error's message
 * (code invalid_field or malformed_json in *code). */
int site_keys_body_check(const char *body, size_t len, char *name, unsigned *scopes,
                         const char **code, char *message, size_t cap);

void site_keys_post(http_request_t *rq);
void site_keys_list(http_request_t *rq);
void site_keys_delete(http_request_t *rq);

#endif
