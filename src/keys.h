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
 * another becomes active; it stays in the JWKS until retired_at plus the
 * longest possible proof lifetime (SITE_CHOICE_LIFETIME_MAX_DAYS) and a
 * reload grace (KEYS_LISTED_DAYS in all) has passed, so every live proof
 * keeps verifying. Private keys never leave
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
/* A retired key stays in the JWKS for the longest life of a proof it signed,
 * plus a grace for servers that keep signing with it until their next
 * reload (SIGHUP) after a rotation. */
#define KEYS_RELOAD_GRACE_DAYS 30
#define KEYS_LISTED_DAYS (SITE_CHOICE_LIFETIME_MAX_DAYS + KEYS_RELOAD_GRACE_DAYS)
#define KEYS_ERR_MAX 512

typedef struct key_set key_set_t;

/* Load the manifest and every key it lists. Errors name the file and the
 * reason. A missing directory or manifest is an error ("run `consentd
 * keygen --keys DIR`"). `now` decides which retired keys are still listed. */
key_set_t *key_set_load(const char *dir, time_t now, char *err, size_t errlen);
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
