/*
 * identify_token.h - the identify token of a logged-in visitor (issue 20, item
 * 7): how consentd knows that a browser speaks for a site's user, so that
 * the user's choice follows them to their other devices.
 *
 * The token is a compact JWS (RFC 7515), alg EdDSA (RFC 8037, Ed25519),
 * signed by the SITE's server with a private key that only the site holds;
 * the site file declares the public key ("identify".public_key, site.h).
 * consentd can verify a token but never mint one: a leak of its files, of
 * Redis or of the API key's hash lets nobody speak for another user.
 *
 *   header  {"alg":"EdDSA", ...}      other members (typ, kid) are ignored
 *   claims  {"sub": "<user id>",      1..IDENTIFY_SUB_MAX bytes (no U+0000), chosen by
 *            "site": "<site id>",     the site (an opaque id is best)
 *            "iat": <s>, "exp": <s>}  issued at, expiry (Unix seconds)
 *
 * Checks, in this order: the form (three base64url parts, JSON objects,
 * alg EdDSA, the claims' types), the signature, the site, then the times:
 * exp in the future, iat at most IDENTIFY_SKEW_S ahead, exp - iat at most
 * max_age_seconds (so a stolen token is short-lived).
 *
 * The user's pseudonym (what Redis keys carry, never sub itself) is
 * BLAKE2b-128 of "site\0sub" keyed with a fixed context string, in hex:
 * stable across consentd nodes, restarts and key rotations of the site,
 * different for the same sub on two sites. It is a pseudonym, not a secret
 * (whoever can guess sub can compute it): sites should put an opaque id in
 * sub, not an e-mail address (docs/identify.md).
 *
 * Pure functions: safe from any thread.
 */
#ifndef CONSENTD_IDENTIFY_TOKEN_H
#define CONSENTD_IDENTIFY_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "site.h"

#define IDENTIFY_TOKEN_MAX 2048 /* bytes of a token */
#define IDENTIFY_SUB_MAX 256    /* bytes of its sub */
#define IDENTIFY_SKEW_S 60      /* an iat this far in the future is still taken */
#define IDENTIFY_USER_BYTES 16
#define IDENTIFY_USER_HEX (2 * IDENTIFY_USER_BYTES) /* the pseudonym, hex */

typedef enum {
    IDENTIFY_OK = 0,
    IDENTIFY_MALFORMED, /* not a compact JWS with the claims above (401) */
    IDENTIFY_ALG,       /* alg is not EdDSA (401) */
    IDENTIFY_SIGNATURE, /* not signed by the site's key: forged or tampered (401) */
    IDENTIFY_SITE,      /* signed for another site (403) */
    IDENTIFY_EXPIRED,   /* exp is past (401) */
    IDENTIFY_TOO_LONG,  /* exp - iat over max_age_seconds, or iat in the future (401) */
} identify_token_status_t;

/* Verify token (len bytes) for site at now_s (Unix seconds). On
 * IDENTIFY_OK, user gets the user's pseudonym (IDENTIFY_USER_HEX hex + NUL). */
identify_token_status_t identify_token_verify(const site_t *site, const char *token, size_t len,
                                              int64_t now_s, char user[IDENTIFY_USER_HEX + 1]);

/* The error code and message of a status (for the JSON answer), and its
 * HTTP status. */
const char *identify_token_status_code(identify_token_status_t st);
const char *identify_token_status_message(identify_token_status_t st);
int identify_token_status_http(identify_token_status_t st);

#endif
