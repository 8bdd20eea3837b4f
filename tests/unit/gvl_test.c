/*
 * gvl_test.c - the Global Vendor List (src/gvl.c, issue 24 items 1 and 2):
 * the real v3 fixture parses with every field a vendor declares; a
 * translation gives its language's names; the store indexes every archived
 * version by number and loads the newest; broken lists are refused with
 * "<file>: <JSON path>: <reason>", word for word.
 *
 * Fixtures: tests/fixtures/gvl/ (see its README: real lists, trimmed).
 */
#include "check.h"
#include "gvl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char source_dir[PATH_MAX];

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 4 << 20;
    char *buf = malloc(cap + 1);
    size_t n = buf != NULL ? fread(buf, 1, cap, f) : 0;
    fclose(f);
    if (buf != NULL) buf[n] = '\0';
    *len = n;
    return buf;
}

static gvl_t *load_fixture(const char *name, char *err, size_t errlen)
{
    char path[PATH_MAX];
    size_t len;
    FMT(path, "%s/tests/fixtures/gvl/%s", source_dir, name);
    char *json = read_file(path, &len);
    if (json == NULL) return NULL;
    gvl_t *g = gvl_parse(name, json, len, err, errlen);
    free(json);
    return g;
}

static int the_real_v17_list_parses_with_its_declarations(void)
{
    char err[GVL_ERR_MAX] = "";
    gvl_t *g = load_fixture("vendor-list-v17.json", err, sizeof(err));
    if (g == NULL) printf("    %s\n", err);
    CHECK(g != NULL);
    CHECK(g->spec_version == 3 && g->vendor_list_version == 17 && g->tcf_policy_version == 4);
    CHECK_STR(g->last_updated, "2023-09-07T16:07:28Z");
    CHECK(g->n_purposes == 11 && g->n_special_purposes == 2 && g->n_features == 3 &&
          g->n_special_features == 2 && g->n_stacks == 43 && g->n_data_categories == 11);
    CHECK(g->n_vendors == 130);
    CHECK_STR(gvl_purpose_find(g, 1)->name, "Store and/or access information on a device");
    CHECK(gvl_purpose_find(g, 1)->n_illustrations == 0 || gvl_purpose_find(g, 1)->illustrations);
    CHECK(gvl_purpose_find(g, 12) == NULL);
    /* Quantcast (11): consent 1,3,4; LI 2,7,8,9,10 all flexible. */
    const gvl_vendor_t *q = gvl_vendor_find(g, 11);
    CHECK(q != NULL);
    CHECK_STR(q->name, "Quantcast");
    CHECK(q->purposes.n == 3 && gvl_ids_has(q->purposes, 1) && gvl_ids_has(q->purposes, 4));
    CHECK(q->leg_int_purposes.n == 5 && gvl_ids_has(q->leg_int_purposes, 10));
    CHECK(q->flexible_purposes.n == 5 && gvl_ids_has(q->flexible_purposes, 2));
    CHECK(!gvl_ids_has(q->purposes, 2));
    CHECK(q->special_purposes.n == 2 && q->features.n == 3 && q->special_features.n == 0);
    CHECK(q->std_retention == 395);
    CHECK(q->data_declaration.n == 10 && !gvl_ids_has(q->data_declaration, 9));
    CHECK(q->n_urls == 1);
    CHECK_STR(q->urls[0].lang, "en");
    CHECK_STR(q->urls[0].privacy, "https://www.quantcast.com/privacy");
    CHECK_STR(q->device_storage_disclosure_url,
              "https://www.quantcast.com/.well-known/devicestorage.json");
    CHECK(q->uses_cookies == 1 && q->cookie_refresh == 1 && q->uses_non_cookie_access == 1);
    CHECK(q->has_cookie_max_age && q->cookie_max_age_seconds == 34214400);
    CHECK(q->deleted_date == NULL);
    /* Sorted by id, every one found. */
    for (size_t i = 0; i < g->n_vendors; i++) {
        CHECK(gvl_vendor_find(g, g->vendors[i].id) == &g->vendors[i]);
        if (i > 0) CHECK(g->vendors[i - 1].id < g->vendors[i].id);
    }
    CHECK(gvl_vendor_find(g, 3) == NULL); /* never in the list */
    const gvl_stack_t *s1 = gvl_stack_find(g, 1);
    CHECK(s1 != NULL && s1->purposes.n == 0 && s1->special_features.n == 2);
    gvl_free(g);
    return 0;
}

static int the_store_indexes_every_version_and_loads_the_newest(void)
{
    char dir[PATH_MAX], err[GVL_ERR_MAX] = "";
    FMT(dir, "%s/tests/fixtures/gvl", source_dir);
    gvl_store_t *s = gvl_store_load(dir, err, sizeof(err));
    if (s == NULL) printf("    %s\n", err);
    CHECK(s != NULL);
    CHECK(gvl_store_latest(s)->vendor_list_version == 17);
    CHECK(gvl_store_version_count(s) == 2);
    CHECK(gvl_store_version_at(s, 0) == 7 && gvl_store_version_at(s, 1) == 17);
    CHECK(gvl_store_has_version(s, 7) && gvl_store_has_version(s, 17));
    CHECK(!gvl_store_has_version(s, 8));
    gvl_t *old = gvl_store_load_version(s, 7, err, sizeof(err));
    CHECK(old != NULL && old->vendor_list_version == 7 && old->n_vendors == 74);
    gvl_free(old);
    CHECK(gvl_store_load_version(s, 8, err, sizeof(err)) == NULL);
    CHECK_HAS(err, "version 8 of the vendor list is not archived");
    const gvl_translation_t *fr = gvl_store_translation(s, "fr");
    CHECK(fr != NULL && gvl_store_translation_count(s) == 1);
    CHECK(fr->n_purposes == 10 && fr->n_stacks == 37);
    CHECK_STR(fr->purposes[0].name,
              "Stocker et/ou accéder à des informations stockées sur un terminal");
    CHECK(gvl_store_translation(s, "de") == NULL);
    gvl_store_free(s);
    return 0;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    size_t n = fwrite(text, 1, strlen(text), f);
    return fclose(f) == 0 && n == strlen(text) ? 0 : -1;
}

#define MINI_HEAD                                                                                  \
    "{\"gvlSpecificationVersion\":3,\"vendorListVersion\":%s,\"tcfPolicyVersion\":5,"              \
    "\"lastUpdated\":\"2025-01-01T00:00:00Z\","                                                    \
    "\"purposes\":{\"1\":{\"id\":1,\"name\":\"Store\",\"description\":\"d\",\"illustrations\":[]}" \
    ","                                                                                            \
    "\"2\":{\"id\":2,\"name\":\"Basic ads\",\"description\":\"d\",\"illustrations\":[]}},"         \
    "\"specialPurposes\":{},\"features\":{},\"specialFeatures\":{},\"stacks\":{},"                 \
    "\"dataCategories\":{},\"vendors\":{%s}}"

static int a_store_refuses_a_list_whose_number_is_not_its_name(void)
{
    char dir[] = "/tmp/gvl-test-XXXXXX", path[PATH_MAX], doc[2048], err[GVL_ERR_MAX] = "";
    CHECK(mkdtemp(dir) != NULL);
    FMT(doc, MINI_HEAD, "9", "");
    FMT(path, "%s/vendor-list-v8.json", dir);
    CHECK(write_file(path, doc) == 0);
    gvl_store_t *s = gvl_store_load(dir, err, sizeof(err));
    CHECK(s == NULL);
    char want[PATH_MAX + 100];
    FMT(want, "%s: vendorListVersion: is 9, the file name says 8", path);
    CHECK_STR(err, want);
    unlink(path);
    s = gvl_store_load(dir, err, sizeof(err));
    CHECK(s == NULL);
    CHECK_HAS(err, "no vendor list (vendor-list-v<N>.json) in the directory");
    rmdir(dir);
    return 0;
}

static int broken_lists_are_refused_naming_the_json_path(void)
{
    static const struct {
        const char *version, *vendors, *want;
    } cases[] = {
        {"0", "", "t.json: vendorListVersion: must be an integer from 1 to 4095"},
        {"5", "\"7\":{\"id\":7,\"name\":\"V\",\"purposes\":[1,2],\"legIntPurposes\":[2]}",
         "t.json: vendors.7.legIntPurposes: purpose 2 is also in purposes (consent): one legal "
         "basis"},
        {"5", "\"7\":{\"id\":7,\"name\":\"V\",\"purposes\":[1],\"flexiblePurposes\":[2]}",
         "t.json: vendors.7.flexiblePurposes: purpose 2 must also be in purposes or "
         "legIntPurposes"},
        {"5", "\"7\":{\"id\":7,\"name\":\"V\",\"purposes\":[1,3]}",
         "t.json: vendors.7.purposes[1]: must be the id of one of the GVL's purposes (3 is not)"},
        {"5", "\"7\":{\"id\":8,\"name\":\"V\",\"purposes\":[1]}",
         "t.json: vendors.7.id: must be 7, the entry's key"},
        {"5", "\"07\":{\"id\":7,\"name\":\"V\",\"purposes\":[1]}",
         "t.json: vendors.07: the key must be an id from 1 to 65535"},
        {"5", "\"7\":{\"id\":7,\"name\":\"V\",\"purposes\":[1,1]}",
         "t.json: vendors.7.purposes: lists 1 twice"},
        {"5", "\"7\":{\"id\":7,\"name\":\"V\"}",
         "t.json: vendors.7: declares no purpose and no special purpose"},
        {"5", "\"7\":{\"id\":7,\"name\":\"V\",\"purposes\":[1],\"overflow\":{\"httpGetLimit\":64}}",
         "t.json: vendors.7.overflow.httpGetLimit: must be 32 or 128"},
        {"5",
         "\"7\":{\"id\":7,\"name\":\"V\",\"purposes\":[1],\"dataRetention\":{\"purposes\":{\"4\":"
         "30}}}",
         "t.json: vendors.7.dataRetention.purposes.4: must be the id of one of the GVL's purposes"},
        {"5", "\"7\":{\"id\":7,\"name\":\"V\",\"purposes\":[1],\"urls\":[{\"privacy\":\"x\"}]}",
         "t.json: vendors.7.urls[0].langId: is required"},
        {"5", "\"7\":{\"id\":7,\"name\":\"V\",\"purposes\":[1],\"usesCookies\":1}",
         "t.json: vendors.7.usesCookies: must be true or false"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char doc[2048], err[GVL_ERR_MAX] = "";
        FMT(doc, MINI_HEAD, cases[i].version, cases[i].vendors);
        gvl_t *g = gvl_parse("t.json", doc, strlen(doc), err, sizeof(err));
        if (g != NULL) printf("    case %zu loaded\n", i);
        CHECK(g == NULL);
        CHECK_STR(err, cases[i].want);
    }
    char err[GVL_ERR_MAX];
    CHECK(gvl_parse("t.json", "{\"gvlSpecificationVersion\":2}", 29, err, sizeof(err)) == NULL);
    CHECK_STR(err, "t.json: gvlSpecificationVersion: must be 3 (the v3 list: "
                   "https://vendor-list.consensu.org/v3/vendor-list.json)");
    CHECK(gvl_parse("t.json", "[1", 2, err, sizeof(err)) == NULL);
    CHECK_HAS(err, "t.json: line 1, column");
    /* The minimal list loads, and a field the format does not name is ignored. */
    char doc[2048];
    FMT(doc, MINI_HEAD, "5",
        "\"7\":{\"id\":7,\"name\":\"V\",\"purposes\":[1],\"newField2030\":{\"x\":1}}");
    gvl_t *g = gvl_parse("t.json", doc, strlen(doc), err, sizeof(err));
    CHECK(g != NULL && g->n_vendors == 1 && g->vendors[0].uses_cookies == -1);
    gvl_free(g);
    /* A data category the list does not define is left out (the real v17
     * names 2008 for vendor 738), not a reason to refuse the list. */
    FMT(doc, MINI_HEAD, "5",
        "\"7\":{\"id\":7,\"name\":\"V\",\"purposes\":[1],\"dataDeclaration\":[2008,3]}");
    g = gvl_parse("t.json", doc, strlen(doc), err, sizeof(err));
    if (g == NULL) printf("    %s\n", err);
    CHECK(g != NULL && g->vendors[0].data_declaration.n == 0);
    gvl_free(g);
    return 0;
}

static int a_translation_needs_a_language_code(void)
{
    char err[GVL_ERR_MAX];
    const char *doc = "{\"purposes\":{\"1\":{\"id\":1,\"name\":\"Speichern\"}}}";
    CHECK(gvl_translation_parse("p.json", "FR", doc, strlen(doc), err, sizeof(err)) == NULL);
    CHECK_STR(err, "p.json: \"FR\" is not a language code (ISO 639-1, lower case)");
    gvl_translation_t *t =
        gvl_translation_parse("p.json", "de", doc, strlen(doc), err, sizeof(err));
    CHECK(t != NULL && t->n_purposes == 1);
    CHECK_STR(t->purposes[0].name, "Speichern");
    gvl_translation_free(t);
    CHECK(gvl_translation_parse("p.json", "de", "{}", 2, err, sizeof(err)) == NULL);
    CHECK_STR(err, "p.json: purposes: is required");
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_source_dir(source_dir, sizeof(source_dir));
    RUN(the_real_v17_list_parses_with_its_declarations);
    RUN(the_store_indexes_every_version_and_loads_the_newest);
    RUN(a_store_refuses_a_list_whose_number_is_not_its_name);
    RUN(broken_lists_are_refused_naming_the_json_path);
    RUN(a_translation_needs_a_language_code);
    return check_summary();
}
