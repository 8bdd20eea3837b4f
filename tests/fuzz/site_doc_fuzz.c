/*
 * site_doc_fuzz.c - a site document as text (site_doc.h), from a draft's
 * body (any bytes an editor sends): the input is two documents, a and b,
 * split at its first NUL byte (b empty when there is none). Sense checks:
 * the canonical form is a fixed point; a document differs from itself in
 * nothing (diff empty, policy unchanged); the diff exists exactly when both
 * are JSON objects; a bumped policy_version ends with "+v<version>", fits 64
 * bytes, and is bumped again to the same base.
 */
#include <string.h>

#include "fuzz.h"
#include "site_doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024) return 0;
    const char *a = (const char *)data;
    const char *nul = memchr(a, '\0', size);
    size_t alen = nul != NULL ? (size_t)(nul - a) : size;
    const char *b = nul != NULL ? nul + 1 : "";
    size_t blen = nul != NULL ? size - alen - 1 : 0;

    size_t clen = 0;
    char *ca = site_doc_canonical(a, alen, &clen);
    char *cb = site_doc_canonical(b, blen, NULL);
    if (ca != NULL) {
        FUZZ_ASSERT(clen == strlen(ca));
        char *again = site_doc_canonical(ca, clen, NULL);
        FUZZ_ASSERT(again != NULL && strcmp(again, ca) == 0);
        free(again);
        FUZZ_ASSERT(site_doc_policy_changed(ca, clen, ca, clen) == 0);
        char *self = site_doc_diff(ca, clen, ca, clen);
        FUZZ_ASSERT(self != NULL &&
                    strcmp(self, "{\"added\":[],\"removed\":[],\"changed\":[]}") == 0);
        free(self);
        size_t blen2 = 0;
        char *bumped = site_doc_bump_policy(ca, clen, 42, &blen2);
        if (bumped != NULL) {
            FUZZ_ASSERT(blen2 == strlen(bumped));
            char *twice = site_doc_bump_policy(bumped, blen2, 42, NULL);
            FUZZ_ASSERT(twice != NULL && strcmp(twice, bumped) == 0); /* no growing suffix */
            free(twice);
            FUZZ_ASSERT(strstr(bumped, "+v42\"") != NULL);
            free(bumped);
        }
    } else {
        FUZZ_ASSERT(site_doc_diff(a, alen, "{}", 2) == NULL);
        FUZZ_ASSERT(site_doc_policy_changed(a, alen, "{}", 2) == -1);
    }
    char *d = site_doc_diff(a, alen, b, blen);
    FUZZ_ASSERT((d != NULL) == (ca != NULL && cb != NULL));
    free(d);
    free(ca);
    free(cb);
    return 0;
}
