/*
 * tcf_choice_fuzz.c - src/tcf.c's reading of the consent POST's `tcf`
 * member (tcf_choice_parse) held to a reading of the same rules written
 * here over jansson (docs/tcf.md): the same verdict on every input that is
 * JSON, and on acceptance the same purposes, special features, vendors and
 * publisher purposes; a refusal names a field under "tcf". Then every
 * accepted choice goes through tcf_choice_apply against a small site: an
 * applied choice never holds a vendor, purpose or feature the site does not
 * offer, and always encodes (tcf_encode) to exactly tcf_encoded_max - 1
 * characters.
 */
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "json_scan.h"
#include "tcf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

/* ---- the reference reading ---- */

typedef struct {
    uint64_t purposes_consent, purposes_li, special_features;
    uint64_t pub[4];
    int publisher;
    uint8_t vendors[2][65536];
    size_t vendor_count[2];
} ref_t;

static ref_t ref;

/* null stands for an absent member */
static int absent(const json_t *v)
{
    return v == NULL || json_is_null(v);
}

static int only_keys(const json_t *obj, const char *const *names, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(key, names[i]) != 0)
            i++;
        if (i == n) return 0;
    }
    return 1;
}

static int ref_mask(const json_t *arr, long max, uint64_t *mask)
{
    *mask = 0;
    if (absent(arr)) return 1;
    if (!json_is_array(arr)) return 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_integer(v)) return 0;
        json_int_t id = json_integer_value(v);
        if (id < 1 || id > max || (*mask & TCF_BIT64(id))) return 0;
        *mask |= TCF_BIT64(id);
    }
    return 1;
}

static int ref_vendors(const json_t *arr, int which)
{
    memset(ref.vendors[which], 0, sizeof(ref.vendors[which]));
    ref.vendor_count[which] = 0;
    if (absent(arr)) return 1;
    if (!json_is_array(arr) || json_array_size(arr) > TCF_SITE_VENDORS_MAX) return 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_integer(v)) return 0;
        json_int_t id = json_integer_value(v);
        if (id < 1 || id > TCF_VENDOR_ID_MAX || ref.vendors[which][id]) return 0;
        ref.vendors[which][id] = 1;
        ref.vendor_count[which]++;
    }
    return 1;
}

static int ref_parse(const json_t *tcf)
{
    static const char *const top[] = {"purposes", "special_features", "vendors", "publisher"};
    static const char *const pv[] = {"consents", "legitimate_interests"};
    static const char *const pub[] = {"consents", "legitimate_interests", "custom_consents",
                                      "custom_legitimate_interests"};
    memset(ref.pub, 0, sizeof(ref.pub));
    ref.publisher = 0;
    if (!json_is_object(tcf) || !only_keys(tcf, top, 4)) return 0;
    const json_t *p = json_object_get(tcf, "purposes");
    ref.purposes_consent = ref.purposes_li = 0;
    if (!absent(p) && (!json_is_object(p) || !only_keys(p, pv, 2) ||
                       !ref_mask(json_object_get(p, "consents"), 24, &ref.purposes_consent) ||
                       !ref_mask(json_object_get(p, "legitimate_interests"), 24, &ref.purposes_li)))
        return 0;
    if (!ref_mask(json_object_get(tcf, "special_features"), 12, &ref.special_features)) return 0;
    const json_t *v = json_object_get(tcf, "vendors");
    ref_vendors(NULL, 0);
    ref_vendors(NULL, 1);
    if (!absent(v) && (!json_is_object(v) || !only_keys(v, pv, 2) ||
                       !ref_vendors(json_object_get(v, "consents"), 0) ||
                       !ref_vendors(json_object_get(v, "legitimate_interests"), 1)))
        return 0;
    const json_t *u = json_object_get(tcf, "publisher");
    if (!absent(u)) {
        if (!json_is_object(u) || !only_keys(u, pub, 4)) return 0;
        static const long max[] = {24, 24, 63, 63};
        for (int i = 0; i < 4; i++)
            if (!ref_mask(json_object_get(u, pub[i]), max[i], &ref.pub[i])) return 0;
        ref.publisher = 1;
    }
    return 1;
}

/* ---- a small site ---- */

static const tcf_site_vendor_t vendors[] = {
    {.id = 1, .purposes = 0x3, .li_purposes = TCF_BIT(7)},
    {.id = 2, .li_purposes = TCF_BIT(2), .flexible_purposes = TCF_BIT(2)},
    {.id = 3, .special_purposes = 1},
    {.id = 10, .purposes = 0x1ff},
    {.id = 11, .purposes = 0x1},
    {.id = 12, .purposes = 0x1},
    {.id = 755, .purposes = 0x7, .li_purposes = TCF_BIT(10)},
    {.id = 65535, .purposes = 0x1},
};
static const uint16_t r1[] = {2}, r2[] = {10, 11, 12};
static const tcf_restriction_t restrictions[] = {
    {.purpose = 2, .type = TCF_RESTRICT_REQUIRE_CONSENT, .vendors = {r1, 1}},
    {.purpose = 1, .type = TCF_RESTRICT_NOT_ALLOWED, .vendors = {r2, 3}},
};

static tcf_choice_t choice;
static uint16_t disclosed[TCF_SITE_VENDORS_MAX];
static char out[4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_scan_value_t root;
    const char *jerr;
    if (json_scan_parse(text, size, &root, &jerr) != 0) return 0; /* json_scan's own harness */
    json_t *theirs = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_ASSERT(theirs != NULL);
    char err[TCF_ERR_MAX] = "";
    tcf_status_t st = tcf_choice_parse(&root, &choice, err, sizeof(err));
    int want = ref_parse(theirs);
    json_decref(theirs);
    if (st != TCF_OK) {
        FUZZ_ASSERT(st == TCF_ERR_INPUT && !want);
        FUZZ_ASSERT(strncmp(err, "tcf", 3) == 0);
        return 0;
    }
    FUZZ_ASSERT(want);
    FUZZ_ASSERT(choice.purposes_consent == ref.purposes_consent);
    FUZZ_ASSERT(choice.purposes_li == ref.purposes_li);
    FUZZ_ASSERT(choice.special_features == ref.special_features);
    FUZZ_ASSERT(choice.publisher == ref.publisher);
    FUZZ_ASSERT(choice.pub_purposes_consent == ref.pub[0] && choice.pub_purposes_li == ref.pub[1]);
    FUZZ_ASSERT(choice.custom_consent == ref.pub[2] && choice.custom_li == ref.pub[3]);
    FUZZ_ASSERT(choice.vendor_consent_count == ref.vendor_count[0]);
    FUZZ_ASSERT(choice.vendor_li_count == ref.vendor_count[1]);
    for (size_t i = 0; i < choice.vendor_consent_count; i++)
        FUZZ_ASSERT(ref.vendors[0][choice.vendor_consents[i]] &&
                    (i == 0 || choice.vendor_consents[i] > choice.vendor_consents[i - 1]));
    for (size_t i = 0; i < choice.vendor_li_count; i++)
        FUZZ_ASSERT(ref.vendors[1][choice.vendor_li[i]] &&
                    (i == 0 || choice.vendor_li[i] > choice.vendor_li[i - 1]));

    /* held to the site, then encoded */
    tcf_site_rules_t rules = {
        .cmp_id = 300,
        .cmp_version = 1,
        .vendor_list_version = 126,
        .policy_version = TCF_POLICY_VERSION,
        .publisher_cc = {'F', 'R'},
        .vendors = vendors,
        .vendor_count = sizeof(vendors) / sizeof(vendors[0]),
        .restrictions = restrictions,
        .restriction_count = 2,
        .purposes_consent = 0x1ff,
        .purposes_li = TCF_BIT(2) | TCF_BIT(7) | TCF_BIT(10),
        .special_features = 0x3,
        .publisher_tc = size % 2 == 0,
        .pub_purposes_consent = 0xff,
        .pub_purposes_li = TCF_BIT(7),
        .custom_purpose_count = 5,
        .custom_consent = 0x1f,
        .custom_li = 0x3,
    };
    tcf_string_t s;
    st = tcf_choice_apply(&rules, &choice, "fr", 1764936000, disclosed, &s, err, sizeof(err));
    if (st != TCF_OK) {
        FUZZ_ASSERT(st == TCF_ERR_REFUSED && strncmp(err, "tcf.", 4) == 0);
        return 0;
    }
    FUZZ_ASSERT((s.purposes_consent & ~rules.purposes_consent) == 0);
    FUZZ_ASSERT((s.purposes_li & ~rules.purposes_li) == 0);
    FUZZ_ASSERT((s.special_features & ~rules.special_features) == 0);
    FUZZ_ASSERT(s.disclosed_vendors.count == rules.vendor_count);
    size_t cap = tcf_encoded_max(&s);
    FUZZ_ASSERT(cap <= sizeof(out));
    ssize_t n = tcf_encode(&s, out, cap, &st, err, sizeof(err));
    if (n < 0) fprintf(stderr, "refused: %s\n", err);
    FUZZ_ASSERT(n >= 0 && (size_t)n == cap - 1 && strlen(out) == (size_t)n);
    return 0;
}
