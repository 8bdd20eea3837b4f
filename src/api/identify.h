/*
 * identify.h - cross-device consent for logged-in visitors (issue 20, item 7):
 *
 *   POST /v1/sites/{site}/identify   {"token": "<JWS>", "visitor": "<id>"}
 *
 * The banner (its identify feature) or the site's server says that a
 * visitor is the site's user named by a token the site's server signed
 * (identify_token.h). consentd links the visitor to the user (first call,
 * the visitor's slot: answers the visitor's current choice), then keeps the
 * newer of that choice and the user's latest (second call, the user's slot),
 * and answers
 *
 *   {"visitor": "<id>", "choice": <the user's latest choice, as GET
 *    /consents/{visitor} shows it> | null}
 *
 * choice is there when the user has a current choice on the current policy
 * version that another visitor (another device or browser) made after the
 * visitor's own: the banner then applies it. Later writes of a linked
 * visitor reach the user's record too (consent.c). Errors: 404 when the
 * site declares no "identify", 401/403 for a token that does not hold
 * (identify_token.h), 413 over IDENTIFY_MAX_BODY, 503 when Redis is down.
 */
#ifndef CONSENTD_IDENTIFY_H
#define CONSENTD_IDENTIFY_H

#include "http.h"

#define IDENTIFY_MAX_BODY 4096 /* bytes of a POST body: a token is at most 2048 */

void identify_post(http_request_t *rq);

#endif
