/*
 * tcf_encode_tool.c - a test tool, built for tests only (CMake target
 * tcf_encode_tool, never installed): reads one JSON object on stdin, a
 * site's TCF rules and a visitor's `tcf` choice, runs them through
 * src/tcf.c exactly as the consent POST will (tcf_choice_parse,
 * tcf_choice_apply, tcf_encode) and prints the TC string. It lets
 * tests/http/tcf_encode.test.mjs decode consentd's strings with the IAB's
 * own library before the site configuration carries TCF rules.
 *
 *   {"site": {"cmp_id": 300, "cmp_version": 2, "consent_screen": 1,
 *             "vendor_list_version": 126, "policy_version": 5,
 *             "publisher_cc": "FR", "purpose_one_treatment": false,
 *             "use_non_standard_texts": false,
 *             "vendors": [{"id": 8, "purposes": [1,2], "li_purposes": [7],
 *                          "flexible_purposes": [2], "special_purposes": [1]}],
 *             "restrictions": [{"purpose": 2, "type": 1, "vendors": [8]}],
 *             "purposes_consent": [1,2], "purposes_li": [7],
 *             "special_features": [1],
 *             "publisher": {"consents": [1], "legitimate_interests": [7],
 *                           "custom_purposes": 2, "custom_consents": [1],
 *                           "custom_legitimate_interests": [2]}},
 *    "tcf": { the consent POST's tcf member, docs/tcf.md },
 *    "lang": "fr", "time": 1764936000}
 *
 * Out: the TC string and a newline, exit 0; or "<status>: <message>" on
 * stderr, exit 1 (the input is malformed: exit 2).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_scan.h"
#include "tcf.h"

static tcf_site_vendor_t vendors[TCF_SITE_VENDORS_MAX];
static tcf_restriction_t restrictions[TCF_RESTRICTIONS_MAX];
static uint16_t restricted_ids[TCF_RESTRICTIONS_MAX][TCF_SITE_VENDORS_MAX];
static uint16_t disclosed[TCF_SITE_VENDORS_MAX];
static tcf_choice_t choice;

static void die(const char *what)
{
    fprintf(stderr, "tcf_encode_tool: bad input: %s\n", what);
    exit(2);
}

static uint64_t mask_of(const json_t *arr, const char *what)
{
    uint64_t m = 0;
    size_t i;
    json_t *v;
    if (arr == NULL) return 0;
    if (!json_is_array(arr)) die(what);
    json_array_foreach(arr, i, v)
    {
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 1 || id > 64) die(what);
        m |= TCF_BIT64(id);
    }
    return m;
}

static unsigned uint_of(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0) die(key);
    return (unsigned)json_integer_value(v);
}

int main(void)
{
    json_error_t jerr;
    json_t *in = json_loadf(stdin, 0, &jerr);
    if (in == NULL) die(jerr.text);
    json_t *site = json_object_get(in, "site");
    if (!json_is_object(site)) die("site");
    tcf_site_rules_t r = {
        .cmp_id = uint_of(site, "cmp_id"),
        .cmp_version = uint_of(site, "cmp_version"),
        .consent_screen = uint_of(site, "consent_screen"),
        .vendor_list_version = uint_of(site, "vendor_list_version"),
        .policy_version = uint_of(site, "policy_version"),
        .purpose_one_treatment = json_is_true(json_object_get(site, "purpose_one_treatment")),
        .use_non_standard_texts = json_is_true(json_object_get(site, "use_non_standard_texts")),
        .purposes_consent = (uint32_t)mask_of(json_object_get(site, "purposes_consent"), "p"),
        .purposes_li = (uint32_t)mask_of(json_object_get(site, "purposes_li"), "li"),
        .special_features = (uint16_t)mask_of(json_object_get(site, "special_features"), "sf"),
        .vendors = vendors,
        .restrictions = restrictions,
    };
    const char *cc = json_string_value(json_object_get(site, "publisher_cc"));
    if (cc == NULL || strlen(cc) != 2) die("publisher_cc");
    memcpy(r.publisher_cc, cc, 2);
    size_t i;
    json_t *v;
    json_t *vs = json_object_get(site, "vendors");
    if (!json_is_array(vs) || json_array_size(vs) > TCF_SITE_VENDORS_MAX) die("vendors");
    json_array_foreach(vs, i, v)
    {
        vendors[i] = (tcf_site_vendor_t){
            .id = (uint16_t)uint_of(v, "id"),
            .purposes = (uint32_t)mask_of(json_object_get(v, "purposes"), "purposes"),
            .li_purposes = (uint32_t)mask_of(json_object_get(v, "li_purposes"), "li"),
            .flexible_purposes = (uint32_t)mask_of(json_object_get(v, "flexible_purposes"), "fl"),
            .special_purposes = (uint32_t)mask_of(json_object_get(v, "special_purposes"), "sp"),
        };
    }
    r.vendor_count = json_array_size(vs);
    json_t *rs = json_object_get(site, "restrictions");
    if (rs != NULL) {
        if (!json_is_array(rs) || json_array_size(rs) > TCF_RESTRICTIONS_MAX) die("restrictions");
        json_array_foreach(rs, i, v)
        {
            json_t *ids = json_object_get(v, "vendors"), *id;
            size_t k;
            if (!json_is_array(ids) || json_array_size(ids) > TCF_SITE_VENDORS_MAX) die("vendors");
            json_array_foreach(ids, k, id) restricted_ids[i][k] = (uint16_t)json_integer_value(id);
            restrictions[i] = (tcf_restriction_t){
                .purpose = uint_of(v, "purpose"),
                .type = (tcf_restriction_type_t)uint_of(v, "type"),
                .vendors = {restricted_ids[i], json_array_size(ids)},
            };
        }
        r.restriction_count = json_array_size(rs);
    }
    json_t *pub = json_object_get(site, "publisher");
    if (pub != NULL) {
        r.publisher_tc = true;
        r.pub_purposes_consent = (uint32_t)mask_of(json_object_get(pub, "consents"), "pc");
        r.pub_purposes_li = (uint32_t)mask_of(json_object_get(pub, "legitimate_interests"), "pl");
        r.custom_purpose_count = uint_of(pub, "custom_purposes");
        r.custom_consent = mask_of(json_object_get(pub, "custom_consents"), "cc");
        r.custom_li = mask_of(json_object_get(pub, "custom_legitimate_interests"), "cl");
    }
    const char *lang = json_string_value(json_object_get(in, "lang"));
    if (lang == NULL || strlen(lang) != 2) die("lang");
    json_t *t = json_object_get(in, "time");
    if (!json_is_integer(t)) die("time");

    /* the choice, as the consent POST's body reader will give it */
    json_t *tcf = json_object_get(in, "tcf");
    if (tcf == NULL) die("tcf");
    char *text = json_dumps(tcf, JSON_COMPACT | JSON_ENCODE_ANY);
    json_scan_value_t root;
    const char *serr;
    if (text == NULL || json_scan_parse(text, strlen(text), &root, &serr) != 0) die("tcf json");
    char err[TCF_ERR_MAX];
    tcf_string_t s;
    tcf_status_t st = tcf_choice_parse(&root, &choice, err, sizeof(err));
    if (st == TCF_OK)
        st = tcf_choice_apply(&r, &choice, lang, (int64_t)json_integer_value(t), disclosed, &s, err,
                              sizeof(err));
    free(text);
    json_decref(in);
    if (st != TCF_OK) {
        fprintf(stderr, "%s: %s\n", st == TCF_ERR_REFUSED ? "refused" : "input", err);
        return 1;
    }
    size_t cap = tcf_encoded_max(&s);
    char *out = malloc(cap);
    if (out == NULL) die("memory");
    ssize_t n = tcf_encode(&s, out, cap, &st, err, sizeof(err));
    if (n >= 0) printf("%s\n", out);
    free(out);
    if (n < 0) {
        fprintf(stderr, "input: %s\n", err);
        return 1;
    }
    return 0;
}
