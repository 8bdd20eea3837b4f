/*
 * consent.h - the consent API a banner (or a site's server) calls:
 *
 *   POST   /v1/sites/{site}/consents            record a choice, 201 + signed proof
 *   GET    /v1/sites/{site}/consents/{visitor}  the current choice and its proof
 *   DELETE /v1/sites/{site}/consents/{visitor}  withdraw: every non-necessary purpose refused
 *   GET    /.well-known/jwks.json               the keys that verify every live proof
 */
#ifndef CONSENTD_CONSENT_H
#define CONSENTD_CONSENT_H

#include "http.h"

#define CONSENT_MAX_BODY 4096 /* bytes of a POST body */

void consent_post(http_request_t *rq);
void consent_get(http_request_t *rq);
void consent_delete(http_request_t *rq);
void consent_jwks(http_request_t *rq);

struct store_record;
/* The JSON of one record (POST, GET, DELETE answers, access requests, the
 * audit export): policy_outdated is added when policy_version_now differs
 * (NULL: not checked), log_id when the record has one. Returns the length
 * written into out (cap >= CONSENT_ANSWER_MAX). */
#define CONSENT_ANSWER_MAX 8192
size_t consent_record_json(const struct store_record *rec, const char *policy_version_now,
                           char *out, size_t cap);

/* Visitor ids: [A-Za-z0-9_-]{8,64} (ours are 22 chars: 128 bits base64url). */
int consent_visitor_valid(const char *s, size_t len);

#endif
