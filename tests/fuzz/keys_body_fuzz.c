/*
 * keys_body_fuzz.c - the body of POST /v1/sites/{site}/keys
 * (site_keys_body_check): untrusted JSON from a caller with keys:admin.
 * Invariants: a refusal has a code (invalid_field or malformed_json) and a
 * terminated message; an accepted body has a valid key name (NUL-terminated
 * within APIKEY_NAME_MAX) and at least one scope, every one known, and the
 * record made of them reads back with the same name and scopes.
 */
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "fuzz.h"
#include "site_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SITE_KEYS_MAX_BODY * 2) return 0;
    char name[APIKEY_NAME_MAX + 1], message[192];
    unsigned scopes = 0;
    const char *code = NULL;
    memset(message, 'x', sizeof(message));
    if (site_keys_body_check((const char *)data, size, name, &scopes, &code, message,
                             sizeof(message)) != 0) {
        FUZZ_ASSERT(code != NULL &&
                    (strcmp(code, "invalid_field") == 0 || strcmp(code, "malformed_json") == 0));
        FUZZ_ASSERT(memchr(message, '\0', sizeof(message)) != NULL);
        return 0;
    }
    FUZZ_ASSERT(memchr(name, '\0', sizeof(name)) != NULL);
    FUZZ_ASSERT(apikey_name_ok(name, strlen(name)));
    FUZZ_ASSERT(scopes != 0 && (scopes & ~APIKEY_SCOPES_ALL) == 0);
    char *rec = apikey_record_new(name, scopes, 1796427572622, "owner");
    FUZZ_ASSERT(rec != NULL);
    unsigned back = 0;
    char back_name[APIKEY_NAME_MAX + 1];
    FUZZ_ASSERT(apikey_record_read(rec, strlen(rec), &back, back_name) == 0);
    FUZZ_ASSERT(back == scopes && strcmp(back_name, name) == 0);
    free(rec);
    return 0;
}
