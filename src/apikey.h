/*
 * apikey.h - what an API key may do: the scopes, the names and secrets of a
 * site's keys, and their stored records. Pure functions, no I/O: safe from
 * any thread.
 *
 * A site has three kinds of callers with a key (docs/api.md, Keys and
 * scopes): its owner key (the SHA-256 in the site file, every scope), the
 * operator key (config admin.operator_key_sha256: APIKEY_OPERATOR_SCOPES on
 * every site, and it may issue keys of any scope), and the site's scoped
 * keys, created by POST /v1/sites/{site}/keys: "cd_" and 43 base64url
 * characters (32 random bytes), of which consentd keeps only the SHA-256
 * (store.h, store_site_key_*), with a record:
 *   {"name":"dashboard","scopes":["stats:read"],
 *    "created_at":"2026-12-05T06:00:00.000Z","created_by":"owner"}
 */
#ifndef CONSENTD_APIKEY_H
#define CONSENTD_APIKEY_H

#include <stddef.h>
#include <stdint.h>

/* One bit per scope; the order is the one of the names in apikey.c. */
typedef enum {
    SCOPE_STATS_READ = 1u << 0,     /* stats, CSV, scans/latest, banner versions */
    SCOPE_RIGHTS = 1u << 1,         /* access, erasure, export; the log and its proofs */
    SCOPE_CONSENT_SERVER = 1u << 2, /* consents, withdrawals, events, identify by key */
    SCOPE_SCANS_WRITE = 1u << 3,    /* POST scans */
    SCOPE_SITE_WRITE = 1u << 4,     /* a site's drafts (issue 22, item 1) */
    SCOPE_SITE_PUBLISH = 1u << 5,   /* publishing a site's version (issue 22, item 1) */
    SCOPE_KEYS_ADMIN = 1u << 6      /* the site's keys */
} apikey_scope_t;
#define APIKEY_SCOPES 7
#define APIKEY_SCOPES_ALL ((1u << APIKEY_SCOPES) - 1)
/* The operator key's scopes on every site: the site's configuration and its
 * keys, not its visitors' data (an operator who must read those issues
 * itself a key with the scope). */
#define APIKEY_OPERATOR_SCOPES (SCOPE_KEYS_ADMIN | SCOPE_SITE_WRITE | SCOPE_SITE_PUBLISH)

/* "stats:read", ... for one bit; NULL for anything else. */
const char *apikey_scope_name(unsigned scope);
/* The bit of a scope's name (len bytes), 0 when it is none. */
unsigned apikey_scope_parse(const char *name, size_t len);

/* A key's name: 1 to APIKEY_NAME_MAX of [a-z0-9_.-], starting with a
 * letter or digit. */
#define APIKEY_NAME_MAX 64
int apikey_name_ok(const char *name, size_t len);

/* A secret: APIKEY_PREFIX and base64url of APIKEY_SECRET_BYTES random bytes. */
#define APIKEY_PREFIX "cd_"
#define APIKEY_SECRET_BYTES 32
#define APIKEY_SECRET_LEN (sizeof(APIKEY_PREFIX) - 1 + 43)
/* A new secret into out (APIKEY_SECRET_LEN + 1 bytes, NUL-terminated). */
void apikey_secret_new(char out[APIKEY_SECRET_LEN + 1]);
/* 1 when key (len bytes) has the shape of a secret (prefix, length,
 * alphabet): only those are looked up in Redis. */
int apikey_secret_shape_ok(const char *key, size_t len);
/* SHA-256 of key, raw and as 64 lower-case hex digits (hex may be NULL). */
void apikey_hash(const char *key, size_t len, uint8_t sha[32], char hex[65]);

/* The record of a new key, JSON (malloc'd, NUL-terminated; NULL when out of
 * memory): name, scopes (in apikey.c's order), created_at (ISO, ms),
 * created_by. */
char *apikey_record_new(const char *name, unsigned scopes, int64_t created_ms,
                        const char *created_by);
/* The scopes and name of a stored record (name: at least APIKEY_NAME_MAX + 1
 * bytes); -1 when the record is not one consentd wrote. */
int apikey_record_read(const char *json, size_t len, unsigned *scopes, char *name);

#endif
