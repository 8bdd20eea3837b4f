/*
 * credentials_fuzz.c - what a caller presents: visitor ids in paths and
 * bodies (visitor_id_valid), the Authorization header
 * (http_bearer_parse) and its key against the demo site's hash
 * (site_api_key_matches), the Origin header (site_origin_allowed), and the
 * log partition of a visitor id (store_partition).
 *
 * Invariants: a valid visitor id is 8..64 of [A-Za-z0-9_-]; a parsed key
 * lies inside the header value; only the demo key matches; only a declared
 * origin is allowed; the partition is below STORE_PARTITIONS.
 */
#include <string.h>

#include "consent.h"
#include "fuzz.h"
#include "http.h"
#include "store.h"

#define DEMO_KEY "demo-key-change-me"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8 * 1024) return 0;
    const char *s = (const char *)data;
    const site_t *site = fuzz_demo_site();

    if (visitor_id_valid(s, size)) {
        FUZZ_ASSERT(size >= 8 && size <= 64);
        for (size_t i = 0; i < size; i++)
            FUZZ_ASSERT(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                               s[i]) != NULL &&
                        s[i] != '\0');
    }
    FUZZ_ASSERT(store_partition(s, size) < STORE_PARTITIONS);

    size_t klen = 0;
    const char *key = http_bearer_parse(s, size, &klen);
    if (key != NULL) {
        FUZZ_ASSERT(key >= s && key + klen <= s + size);
        int match = site_api_key_matches(site, key, klen);
        FUZZ_ASSERT(match == (klen == strlen(DEMO_KEY) && memcmp(key, DEMO_KEY, klen) == 0));
    }
    int match = site_api_key_matches(site, s, size);
    FUZZ_ASSERT(match == (size == strlen(DEMO_KEY) && memcmp(s, DEMO_KEY, size) == 0));

    if (site_origin_allowed(site, s, size)) {
        int declared = 0;
        for (size_t i = 0; i < site->n_origins; i++)
            declared |= strlen(site->origins[i]) == size && memcmp(site->origins[i], s, size) == 0;
        FUZZ_ASSERT(declared);
    }
    return 0;
}
