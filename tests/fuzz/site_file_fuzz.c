/*
 * site_file_fuzz.c - site files (site_set_load_one): any bytes are either
 * refused with a message that names the file, or give a site whose fields
 * hold the bounds site.h promises. Every input is loaded as demo.json (a
 * site's id must be its file name).
 */
#include <string.h>

#include "fuzz.h"
#include "gvl.h"

/* The fixture Global Vendor List (tests/fixtures/gvl/, version 17), loaded
 * once: a "tcf" block is checked against it (issue 24, item 2). */
static const gvl_t *fuzz_gvl(void)
{
    static gvl_t *gvl;
    if (gvl != NULL) return gvl;
    const char *path = CONSENTD_SOURCE_DIR "/tests/fixtures/gvl/vendor-list-v17.json";
    FILE *f = fopen(path, "rb");
    static char buf[1 << 20];
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f != NULL) fclose(f);
    char err[GVL_ERR_MAX];
    gvl = n > 0 ? gvl_parse(path, buf, n, err, sizeof(err)) : NULL;
    if (gvl == NULL) {
        fprintf(stderr, "fuzz: cannot load %s: %s\n", path, n > 0 ? err : "cannot read");
        abort();
    }
    return gvl;
}

/* A loaded "tcf" block holds only what the list allows (site.h). */
static void check_tcf(const site_t *site, const gvl_t *gvl)
{
    const site_tcf_t *t = &site->tcf;
    if (!t->enabled) {
        FUZZ_ASSERT(t->n_vendors == 0 && t->n_restrictions == 0 && t->n_stacks == 0);
        return;
    }
    FUZZ_ASSERT(t->gvl_version == gvl->vendor_list_version);
    FUZZ_ASSERT(t->cmp_id >= 1 && t->cmp_id <= SITE_TCF_CMP_MAX);
    FUZZ_ASSERT(t->cmp_version >= 1 && t->cmp_version <= SITE_TCF_CMP_MAX);
    FUZZ_ASSERT(strlen(t->publisher_cc) == 2 &&
                strspn(t->publisher_cc, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 2);
    FUZZ_ASSERT(t->n_vendors >= 1 && t->n_vendors <= SITE_TCF_VENDORS_MAX);
    for (size_t i = 0; i < t->n_vendors; i++) {
        const gvl_vendor_t *v = gvl_vendor_find(gvl, t->vendors[i]);
        FUZZ_ASSERT(v != NULL && v->deleted_date == NULL);
        FUZZ_ASSERT(i == 0 || t->vendors[i - 1] < t->vendors[i]);
    }
    for (size_t i = 0; i < t->n_stacks; i++)
        FUZZ_ASSERT(gvl_stack_find(gvl, t->stacks[i]) != NULL);
    for (size_t i = 0; i < t->n_restrictions; i++) {
        const site_tcf_restriction_t *r = &t->restrictions[i];
        FUZZ_ASSERT(gvl_purpose_find(gvl, r->purpose) != NULL && r->type <= SITE_TCF_REQUIRE_LI);
        for (size_t k = 0; k < r->n_vendors; k++) {
            const gvl_vendor_t *v = gvl_vendor_find(gvl, r->vendors[k]);
            FUZZ_ASSERT(v != NULL);
            int consent = gvl_ids_has(v->purposes, r->purpose);
            int li = gvl_ids_has(v->leg_int_purposes, r->purpose);
            int flexible = gvl_ids_has(v->flexible_purposes, r->purpose);
            FUZZ_ASSERT(consent || li);
            FUZZ_ASSERT(r->type != SITE_TCF_REQUIRE_CONSENT || !li || flexible);
            FUZZ_ASSERT(r->type != SITE_TCF_REQUIRE_LI || !consent || flexible);
        }
    }
    for (size_t i = 0; i < t->n_publisher_li; i++)
        FUZZ_ASSERT(t->publisher_li[i] == 2 || t->publisher_li[i] >= 7);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024) return 0;
    char err[SITE_ERR_MAX];
    err[0] = '\0';
    const gvl_t *gvl = fuzz_gvl();
    site_set_t *set =
        site_set_load_one_gvl("demo.json", (const char *)data, size, gvl, err, sizeof(err));
    if (set == NULL) {
        FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_ASSERT(strncmp(err, "demo.json", 9) == 0);
        return 0;
    }
    FUZZ_ASSERT(site_set_count(set) == 1);
    const site_t *site = site_set_at(set, 0);
    FUZZ_ASSERT(site->id != NULL && strlen(site->id) >= 1 && strlen(site->id) <= SITE_ID_MAX);
    FUZZ_ASSERT(strpbrk(site->id, "{}/") == NULL);
    FUZZ_ASSERT(site_find(set, site->id, strlen(site->id)) == site);
    FUZZ_ASSERT(site->n_languages >= 1 && site->n_languages <= SITE_MAX_LANGUAGES);
    FUZZ_ASSERT(site->n_purposes <= SITE_MAX_PURPOSES);
    FUZZ_ASSERT(site->n_origins <= SITE_MAX_ORIGINS);
    FUZZ_ASSERT(site->n_variants <= SITE_MAX_VARIANTS);
    FUZZ_ASSERT(site->choice_lifetime_days >= 1 &&
                site->choice_lifetime_days <= SITE_CHOICE_LIFETIME_MAX_DAYS);
    for (size_t i = 0; i < site->n_purposes; i++) {
        const site_purpose_t *p = &site->purposes[i];
        FUZZ_ASSERT(site_purpose_find(site, p->id, strlen(p->id)) == p);
        FUZZ_ASSERT(p->n_texts == site->n_languages);
        /* Issue 19, item 5: no site loads with trackers on legitimate
         * interest, nor a Consent Mode storage type on a purpose without. */
        FUZZ_ASSERT(p->trackers == 0 || p->trackers == 1);
        FUZZ_ASSERT(p->legal_basis != LEGAL_BASIS_LEGITIMATE_INTEREST || !p->trackers);
        for (size_t t = 0; !p->trackers && t < p->n_consent_mode; t++)
            FUZZ_ASSERT(strstr(p->consent_mode[t], "_storage") == NULL);
        for (size_t l = 0; l < site->n_languages; l++)
            FUZZ_ASSERT(site_purpose_text(site, p, site->languages[l]) != NULL);
        /* Issue 20, item 1: only a purpose the visitor can refuse, with
         * trackers, declares what the banner deletes; names are bounded, never
         * only '*', and never the banner's own cookie; a domain has two labels. */
        FUZZ_ASSERT(p->n_cookies <= SITE_MAX_COOKIES && p->n_storage <= SITE_MAX_STORAGE_KEYS);
        FUZZ_ASSERT((p->n_cookies == 0 && p->n_storage == 0) ||
                    (p->legal_basis != LEGAL_BASIS_NECESSARY && p->trackers));
        for (size_t c = 0; c < p->n_cookies; c++) {
            const char *name = p->cookies[c].name, *domain = p->cookies[c].domain;
            FUZZ_ASSERT(strlen(name) >= 1 && strlen(name) <= SITE_COOKIE_NAME_MAX);
            FUZZ_ASSERT(strspn(name, "*") < strlen(name) && strcmp(name, "consentd") != 0);
            FUZZ_ASSERT(strpbrk(name, " ;=,\"") == NULL);
            FUZZ_ASSERT(domain == NULL || (domain[0] != '.' && strchr(domain, '.') != NULL));
        }
        for (size_t k = 0; k < p->n_storage; k++)
            FUZZ_ASSERT(strlen(p->storage[k]) >= 1 &&
                        strlen(p->storage[k]) <= SITE_COOKIE_NAME_MAX &&
                        strspn(p->storage[k], "*") < strlen(p->storage[k]) &&
                        strcmp(p->storage[k], "consentd") != 0);
    }
    FUZZ_ASSERT(site->reload_on_withdrawal == 0 || site->reload_on_withdrawal == 1);
    for (size_t i = 0; i < site->n_variants; i++)
        FUZZ_ASSERT(site_variant_find(site, site->variants[i].id, strlen(site->variants[i].id)) ==
                    &site->variants[i]);
    if (site->n_variants > 0) FUZZ_ASSERT(site_variant_assign(site, "fuzzvisitor", 11) != NULL);
    /* embeds: at most SITE_MAX_EMBEDS distinct lower-case host names, each
     * with a provider name; listed ones only where declared. */
    FUZZ_ASSERT(site->n_embeds <= SITE_MAX_EMBEDS && (site->has_embeds || site->n_embeds == 0));
    for (size_t i = 0; i < site->n_embeds; i++) {
        const site_embed_t *e = &site->embeds[i];
        FUZZ_ASSERT(e->host[0] != '\0' &&
                    strspn(e->host, "abcdefghijklmnopqrstuvwxyz0123456789.-") == strlen(e->host));
        FUZZ_ASSERT(e->provider != NULL && e->provider[0] != '\0');
        for (size_t j = 0; j < i; j++)
            FUZZ_ASSERT(strcmp(site->embeds[j].host, e->host) != 0);
    }
    check_tcf(site, gvl);
    site_set_release(set);
    return 0;
}
