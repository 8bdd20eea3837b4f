/*
 * gvl_fuzz.c - vendor lists (gvl_parse) and their translations
 * (gvl_translation_parse): any bytes are refused with a message naming the
 * document, or give a list that holds what gvl.h promises: ids in range,
 * sorted and distinct, found again by their lookups; a vendor's purposes
 * never both on consent and on legitimate interest, every flexible purpose
 * declared in one of them, every declared id one of the list's.
 *
 * The first byte chooses: even, a vendor list; odd, a translation.
 */
#include <string.h>

#include "fuzz.h"
#include "gvl.h"

static void check_ids(gvl_ids_t ids, unsigned max)
{
    for (size_t i = 0; i < ids.n; i++) {
        FUZZ_ASSERT(ids.ids[i] >= 1 && ids.ids[i] <= max);
        FUZZ_ASSERT(i == 0 || ids.ids[i - 1] < ids.ids[i]);
        FUZZ_ASSERT(gvl_ids_has(ids, ids.ids[i]));
    }
}

static void check_entries(const gvl_entry_t *e, size_t n, unsigned max)
{
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(e[i].id >= 1 && e[i].id <= max);
        FUZZ_ASSERT(i == 0 || e[i - 1].id < e[i].id);
        FUZZ_ASSERT(e[i].name != NULL && e[i].name[0] != '\0');
        FUZZ_ASSERT(e[i].n_illustrations <= GVL_ILLUSTRATIONS_MAX);
    }
}

static void check_list(const gvl_t *g)
{
    FUZZ_ASSERT(g->spec_version == GVL_SPEC_VERSION);
    FUZZ_ASSERT(g->vendor_list_version >= 1 && g->vendor_list_version <= 4095);
    FUZZ_ASSERT(g->n_purposes >= 1);
    check_entries(g->purposes, g->n_purposes, GVL_PURPOSE_ID_MAX);
    check_entries(g->special_purposes, g->n_special_purposes, GVL_SPECIAL_PURPOSE_ID_MAX);
    check_entries(g->features, g->n_features, GVL_FEATURE_ID_MAX);
    check_entries(g->special_features, g->n_special_features, GVL_SPECIAL_FEATURE_ID_MAX);
    check_entries(g->data_categories, g->n_data_categories, GVL_DATA_CATEGORY_ID_MAX);
    for (size_t i = 0; i < g->n_purposes; i++)
        FUZZ_ASSERT(gvl_purpose_find(g, g->purposes[i].id) == &g->purposes[i]);
    for (size_t i = 0; i < g->n_stacks; i++) {
        const gvl_stack_t *s = &g->stacks[i];
        FUZZ_ASSERT(gvl_stack_find(g, s->id) == s);
        check_ids(s->purposes, GVL_PURPOSE_ID_MAX);
        for (size_t j = 0; j < s->purposes.n; j++)
            FUZZ_ASSERT(gvl_purpose_find(g, s->purposes.ids[j]) != NULL);
        for (size_t j = 0; j < s->special_features.n; j++)
            FUZZ_ASSERT(gvl_special_feature_find(g, s->special_features.ids[j]) != NULL);
    }
    FUZZ_ASSERT(g->n_vendors <= GVL_VENDORS_MAX);
    for (size_t i = 0; i < g->n_vendors; i++) {
        const gvl_vendor_t *v = &g->vendors[i];
        FUZZ_ASSERT(v->id >= 1 && (i == 0 || g->vendors[i - 1].id < v->id));
        FUZZ_ASSERT(gvl_vendor_find(g, v->id) == v);
        FUZZ_ASSERT(v->name != NULL && v->name[0] != '\0');
        check_ids(v->purposes, GVL_PURPOSE_ID_MAX);
        check_ids(v->leg_int_purposes, GVL_PURPOSE_ID_MAX);
        check_ids(v->flexible_purposes, GVL_PURPOSE_ID_MAX);
        check_ids(v->data_declaration, GVL_DATA_CATEGORY_ID_MAX);
        FUZZ_ASSERT(v->purposes.n + v->leg_int_purposes.n + v->special_purposes.n > 0);
        for (size_t j = 0; j < v->purposes.n; j++) {
            FUZZ_ASSERT(!gvl_ids_has(v->leg_int_purposes, v->purposes.ids[j]));
            FUZZ_ASSERT(gvl_purpose_find(g, v->purposes.ids[j]) != NULL);
        }
        for (size_t j = 0; j < v->leg_int_purposes.n; j++)
            FUZZ_ASSERT(gvl_purpose_find(g, v->leg_int_purposes.ids[j]) != NULL);
        for (size_t j = 0; j < v->flexible_purposes.n; j++)
            FUZZ_ASSERT(gvl_ids_has(v->purposes, v->flexible_purposes.ids[j]) ||
                        gvl_ids_has(v->leg_int_purposes, v->flexible_purposes.ids[j]));
        for (size_t j = 0; j < v->special_features.n; j++)
            FUZZ_ASSERT(gvl_special_feature_find(g, v->special_features.ids[j]) != NULL);
        FUZZ_ASSERT(v->n_urls <= GVL_URLS_MAX);
        for (size_t j = 0; j < v->n_urls; j++)
            FUZZ_ASSERT(v->urls[j].lang != NULL && strlen(v->urls[j].lang) <= GVL_LANG_MAX);
        FUZZ_ASSERT(v->overflow_http_get_limit == 0 || v->overflow_http_get_limit == 32 ||
                    v->overflow_http_get_limit == 128);
        FUZZ_ASSERT(v->uses_cookies >= -1 && v->uses_cookies <= 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1024 * 1024) return 0;
    char err[GVL_ERR_MAX];
    err[0] = '\0';
    const char *json = (const char *)data + 1;
    if ((data[0] & 1) == 0) {
        gvl_t *g = gvl_parse("vl.json", json, size - 1, err, sizeof(err));
        if (g == NULL) {
            FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
            FUZZ_ASSERT(strncmp(err, "vl.json: ", 9) == 0);
            return 0;
        }
        check_list(g);
        gvl_free(g);
        return 0;
    }
    gvl_translation_t *t = gvl_translation_parse("p.json", "fr", json, size - 1, err, sizeof(err));
    if (t == NULL) {
        FUZZ_ASSERT(strncmp(err, "p.json: ", 8) == 0);
        return 0;
    }
    FUZZ_ASSERT(strcmp(t->lang, "fr") == 0 && t->n_purposes >= 1);
    check_entries(t->purposes, t->n_purposes, GVL_PURPOSE_ID_MAX);
    check_entries(t->data_categories, t->n_data_categories, GVL_DATA_CATEGORY_ID_MAX);
    gvl_translation_free(t);
    return 0;
}
