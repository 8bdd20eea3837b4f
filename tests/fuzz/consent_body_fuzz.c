/*
 * consent_body_fuzz.c - the body of POST /v1/sites/{site}/consents
 * (consent_body_check): untrusted JSON checked against the demo site.
 *
 * Input: one flag byte (bit 0: the caller showed the site's API key, bit 1:
 * Sec-GPC: 1), then the body. Invariants: a refusal has a status and a code;
 * an accepted body resolves to a valid visitor (or none), one of the site's
 * languages, a known source, the texts hash of that language, and every
 * necessary purpose granted.
 */
#include <string.h>

#include "banner_build.h"
#include "consent.h"
#include "counters.h"
#include "fuzz.h"

static banner_set_t *banners;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    banners = banner_set_build(fuzz_demo_sites(), err, sizeof(err));
    if (banners == NULL) {
        fprintf(stderr, "fuzz: banner_set_build: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024) return 0;
    const site_t *site = fuzz_demo_site();
    int from_server = data[0] & 1, gpc = (data[0] >> 1) & 1;
    consent_choice_t c;
    consent_refusal_t why;
    memset(&why, 0, sizeof(why));
    if (consent_body_check((const char *)data + 1, size - 1, site, banners, from_server, gpc, &c,
                           &why) != 0) {
        FUZZ_ASSERT(why.status == 400 || why.status == 401 || why.status == 409);
        FUZZ_ASSERT(why.code != NULL && why.code[0] != '\0');
        FUZZ_ASSERT(memchr(why.message, '\0', sizeof(why.message)) != NULL);
        return 0;
    }
    FUZZ_ASSERT(c.visitor[0] == '\0' || visitor_id_valid(c.visitor, strlen(c.visitor)));
    int lang_ok = 0;
    for (size_t l = 0; l < site->n_languages; l++)
        lang_ok |= strcmp(site->languages[l], c.lang) == 0;
    FUZZ_ASSERT(lang_ok);
    FUZZ_ASSERT(
        strcmp(c.source, "banner") == 0 ||
        (from_server && (strcmp(c.source, "form") == 0 || strcmp(c.source, "call_center") == 0 ||
                         strcmp(c.source, "api") == 0)));
    FUZZ_ASSERT(c.texts_hash != NULL && strlen(c.texts_hash) == 64);
    FUZZ_ASSERT(c.texts_hash == banner_texts_hash(banners, site, c.lang, c.shown));
    FUZZ_ASSERT(c.shown == NULL || strcmp(c.shown->id, c.variant) == 0);
    /* How it was given: the action and control from their closed sets, api
     * only for the API key (and its default there), withdraw only for a
     * withdrawal, the header's GPC signal never lost. */
    FUZZ_ASSERT(strcmp(c.action, "consent") == 0 || strcmp(c.action, "withdrawal") == 0);
    static const char *const controls[] = {"accept_all", "reject_all", "custom",  "dismiss",
                                           "withdraw",   "api",        "identify"};
    int control_ok = c.control == NULL && !from_server;
    for (size_t k = 0; k < sizeof(controls) / sizeof(controls[0]); k++)
        control_ok |= c.control != NULL && strcmp(c.control, controls[k]) == 0;
    FUZZ_ASSERT(control_ok);
    FUZZ_ASSERT(from_server || c.control == NULL || strcmp(c.control, "api") != 0);
    FUZZ_ASSERT(c.control == NULL || strcmp(c.control, "withdraw") != 0 ||
                strcmp(c.action, "withdrawal") == 0);
    FUZZ_ASSERT(c.gpc >= gpc);
    /* Time to decide and page group (issue 21): bounded, whatever was sent;
     * the demo site declares no page groups, so a page is never counted. */
    FUZZ_ASSERT(c.decide_ms == -1 || (c.decide_ms >= 0 && c.decide_ms <= COUNTERS_TTD_MAX_MS));
    FUZZ_ASSERT(c.decide_ms == -1 || counters_ttd_bin(c.decide_ms) >= 0);
    FUZZ_ASSERT(c.page == -1);
    for (size_t i = 0; i < site->n_purposes; i++) {
        const site_purpose_t *p = &site->purposes[i];
        if (p->legal_basis != LEGAL_BASIS_CONSENT || c.control == NULL) continue;
        if (strcmp(c.control, "reject_all") == 0 || strcmp(c.control, "dismiss") == 0)
            FUZZ_ASSERT(c.granted[i] == 0);
        if (strcmp(c.control, "accept_all") == 0)
            FUZZ_ASSERT(c.granted[i] == 1 || (c.gpc && p->gpc));
    }
    for (size_t i = 0; i < site->n_purposes; i++) {
        FUZZ_ASSERT(c.granted[i] <= 1);
        if (site->purposes[i].legal_basis == LEGAL_BASIS_NECESSARY) FUZZ_ASSERT(c.granted[i] == 1);
    }
    return 0;
}
