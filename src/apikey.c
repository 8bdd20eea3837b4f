/*
 * apikey.c - scopes, key names, secrets and key records (apikey.h).
 */
#include "apikey.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

#include "base64url.h"
#include "clock.h"
#include "random.h"

/* Bit i is the scope named scope_names[i]: part of the API (docs/api.md). */
static const char *const scope_names[APIKEY_SCOPES] = {
    "stats:read", "rights",       "consent:server", "scans:write",
    "site:write", "site:publish", "keys:admin"};

const char *apikey_scope_name(unsigned scope)
{
    for (unsigned i = 0; i < APIKEY_SCOPES; i++)
        if (scope == 1u << i) return scope_names[i];
    return NULL;
}

unsigned apikey_scope_parse(const char *name, size_t len)
{
    for (unsigned i = 0; i < APIKEY_SCOPES; i++)
        if (strlen(scope_names[i]) == len && memcmp(scope_names[i], name, len) == 0) return 1u << i;
    return 0;
}

int apikey_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > APIKEY_NAME_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return 0;
    }
    return 1;
}

void apikey_secret_new(char out[APIKEY_SECRET_LEN + 1])
{
    unsigned char raw[APIKEY_SECRET_BYTES];
    random_bytes(raw, sizeof(raw));
    size_t p = sizeof(APIKEY_PREFIX) - 1;
    memcpy(out, APIKEY_PREFIX, p);
    p += base64url_encode(out + p, raw, sizeof(raw));
    out[p] = '\0';
    sodium_memzero(raw, sizeof(raw));
}

int apikey_secret_shape_ok(const char *key, size_t len)
{
    size_t p = sizeof(APIKEY_PREFIX) - 1;
    if (len != APIKEY_SECRET_LEN || memcmp(key, APIKEY_PREFIX, p) != 0) return 0;
    for (size_t i = p; i < len; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

void apikey_hash(const char *key, size_t len, uint8_t sha[32], char hex[65])
{
    crypto_hash_sha256(sha, (const unsigned char *)key, len);
    if (hex != NULL) sodium_bin2hex(hex, 65, sha, 32);
}

char *apikey_record_new(const char *name, unsigned scopes, int64_t created_ms,
                        const char *created_by)
{
    char at[CLOCK_TEXT_MAX];
    clock_format(created_ms, CLOCK_ISO_MS, at);
    json_t *list = json_array();
    for (unsigned i = 0; i < APIKEY_SCOPES; i++)
        if (scopes & (1u << i)) json_array_append_new(list, json_string(scope_names[i]));
    json_t *rec = json_pack("{s:s, s:o, s:s, s:s}", "name", name, "scopes", list, "created_at", at,
                            "created_by", created_by);
    if (rec == NULL) return NULL;
    char *out = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(rec);
    return out;
}

int apikey_record_read(const char *json, size_t len, unsigned *scopes, char *name)
{
    json_t *rec = json_loadb(json, len, 0, NULL);
    json_t *n = json_object_get(rec, "name"), *list = json_object_get(rec, "scopes");
    int rc = -1;
    if (json_is_string(n) && apikey_name_ok(json_string_value(n), json_string_length(n)) &&
        json_is_array(list)) {
        unsigned got = 0;
        size_t i;
        json_t *s;
        json_array_foreach(list, i, s)
        {
            if (json_is_string(s))
                got |= apikey_scope_parse(json_string_value(s), json_string_length(s));
        }
        *scopes = got;
        memcpy(name, json_string_value(n), json_string_length(n) + 1);
        rc = 0;
    }
    json_decref(rec);
    return rc;
}
