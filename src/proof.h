/*
 * proof.h - the signed proof of a consent: a compact JWS (RFC 7515) with
 * alg EdDSA (RFC 8037, Ed25519), verifiable by any JOSE library with
 * nothing but the JWKS.
 *
 * Header: {"alg":"EdDSA","kid":"<kid>","typ":"JWT"}
 * Claims (JSON object, in this order):
 *   iss   issuer: the server's public URL
 *   aud   the site id
 *   sub   the pseudonymous visitor id
 *   jti   the consent id
 *   iat   issued at (seconds since the epoch)
 *   exp   expiry (seconds): the choice lifetime
 *   pv    policy version the visitor answered
 *   th    SHA-256 (hex) of the exact texts shown
 *   bv    the banner version shown (64 hex, banner.h; omitted when none)
 *   sv    the site's published version in Redis that produced the proof
 *         (GET /v1/sites/{site}/versions/{sv}; omitted for a site served
 *         from a file, and in proofs from before issue 22, item 5)
 *   sd    SHA-256 (64 hex) of that site version's canonical document (site.h
 *         doc_sha256; for a file, the file canonicalised; omitted before
 *         issue 22, item 5)
 *   src   banner | form | call_center | api
 *   lang  language of the texts shown
 *   var   banner variant (omitted when none)
 *   act   consent | withdrawal: what the visitor did (GDPR art. 7(1), 7(3))
 *   ctl   the control used: accept_all | reject_all | custom | dismiss |
 *         withdraw | api | identify (the identified user's choice, carried
 *         over: api/identify.h) (omitted when the banner did not say: an old one)
 *   gpc   true when a Global Privacy Control signal came with the choice
 *         (omitted when none)
 *   dec   {"<purpose>": true|false, ...} for every purpose of the site
 *   tcf   {"tc_string": "<TC string>", "vendor_list_version": N}: on an IAB
 *         TCF site, the TC string consentd encoded for the choice and the
 *         Global Vendor List version it was given under (issue 24, item 4;
 *         omitted elsewhere)
 */
#ifndef CONSENTD_PROOF_H
#define CONSENTD_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define PROOF_MAX 4096 /* a proof never exceeds this many bytes */

typedef struct proof_claims {
    const char *iss;
    const char *aud;
    const char *sub;
    const char *jti;
    int64_t iat;
    int64_t exp;
    const char *pv;
    const char *th;
    const char *bv; /* NULL: omitted */
    uint64_t sv;    /* 0: omitted */
    const char *sd; /* NULL: omitted */
    const char *src;
    const char *lang;
    const char *var; /* NULL: omitted */
    const char *act;
    const char *ctl; /* NULL: omitted */
    int gpc;         /* 0: omitted */
    size_t n_decisions;
    const char *const *purposes;  /* n_decisions purpose ids */
    const unsigned char *granted; /* n_decisions booleans */
    const char *tc_string;        /* NULL: no tcf claim */
    uint32_t vendor_list_version; /* with tc_string */
} proof_claims_t;

/* Sign the claims with the set's active key into out (cap >= PROOF_MAX).
 * Returns the JWS length (out is NUL-terminated; length < PROOF_MAX), or 0
 * when it does not fit or a claim other than var, bv, sd and ctl is NULL. Strings are
 * JSON-escaped. No allocation; safe on the event loop (one Ed25519
 * signature, about 17 µs here). */
size_t proof_sign(const key_set_t *keys, const proof_claims_t *claims, char *out, size_t cap);

#endif
