/*
 * keys.h - the Ed25519 signing keys and the JWKS that publishes them.
 *
 * The key directory holds one PKCS#8 PEM file per key, `<kid>.pem`
 * (readable by `openssl pkey`), and a manifest `keys.json`:
 *
 *   {"active": "<kid>",
 *    "keys": [{"kid": "<kid>", "created_at": "<RFC 3339>",
 *              "retired_at": null | "<RFC 3339>"}]}
 *
 * Exactly one key is active: it signs new proofs. A key is retired when
 * another becomes active; it stays in the JWKS as long as a proof it signed
 * may be held anywhere (issue 19, item 3): retired_at, plus a reload grace
 * (servers keep signing with it until their next reload), plus hold_days,
 * the longest a proof may be held after it was signed: in a visitor's cookie
 * (the choice lifetime), in the history and the consent log (twice the log
 * retention: store_proof_hold_days), the longest over every site, as every
 * site signs with this one key directory. A proof from an access request or
 * an audit export of a site thus verifies from the JWKS for as long as Redis
 * can return it. Private keys never leave
 * this module (never logged, never in a response).
 *
 * A key_set_t is loaded off the event loop (start-up, SIGHUP), immutable,
 * and lives in the snapshot.
 */
#ifndef CONSENTD_KEYS_H
#define CONSENTD_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "site.h"

#define KEYS_KID_MAX 64
/* A retired key stays in the JWKS for the longest hold of a proof it signed
 * (at least SITE_CHOICE_LIFETIME_MAX_DAYS, a cookie's), plus a grace for
 * servers that keep signing with it until their next reload (SIGHUP) after a
 * rotation. */
#define KEYS_RELOAD_GRACE_DAYS 30
#define KEYS_HOLD_MIN_DAYS SITE_CHOICE_LIFETIME_MAX_DAYS
#define KEYS_LISTED_DAYS(hold_days)                                                                \
    (((hold_days) > KEYS_HOLD_MIN_DAYS ? (hold_days) : KEYS_HOLD_MIN_DAYS) + KEYS_RELOAD_GRACE_DAYS)
#define KEYS_ERR_MAX 512

typedef struct key_set key_set_t;

/* Load the manifest and every key it lists. Errors name the file and the
 * reason. A missing directory or manifest is an error ("run `consentd
 * keygen --keys DIR`"). `now` and hold_days (the longest a proof may be held
 * after it was signed, over every site: at least KEYS_HOLD_MIN_DAYS is used)
 * decide which retired keys are still listed: those retired at most
 * KEYS_LISTED_DAYS(hold_days) days before now. */
key_set_t *key_set_load(const char *dir, time_t now, uint32_t hold_days, char *err, size_t errlen);
void key_set_free(key_set_t *set);

/* The active key's id. */
const char *key_set_active_kid(const key_set_t *set);
/* The JWKS document ({"keys":[{"kty":"OKP","crv":"Ed25519","x":...,"kid":...,
 * "use":"sig","alg":"EdDSA"}]}), prebuilt at load; valid as long as set. */
const char *key_set_jwks(const key_set_t *set, size_t *len);

/* Sign msg with the active key (Ed25519, libsodium): 64 bytes into sig. */
void key_set_sign(const key_set_t *set, const unsigned char *msg, size_t len,
                  unsigned char sig[64]);
/* The compact-JWS protected header of the active key, already base64url:
 * base64url({"alg":"EdDSA","kid":"<kid>","typ":"JWT"}). */
const char *key_set_jws_header(const key_set_t *set, size_t *len);

/* `consentd keygen`: create a new key in dir (creating dir and manifest
 * when missing, mode 0700 / 0600), make it active when `activate` is set or
 * when there is no active key yet, retiring the previous active key.
 * Writes the new kid into kid (KEYS_KID_MAX). Blocking file I/O. */
int keys_generate(const char *dir, int activate, time_t now, char *kid, char *err, size_t errlen);

#endif
