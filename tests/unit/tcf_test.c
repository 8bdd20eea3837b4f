/*
 * tcf_test.c - src/tcf.c: the TC string encoder against the example of the
 * IAB's "Consent string and vendor list formats v2" (v2.3), field by field
 * with a decoder of its own; the bit-field/range choice; every rule the
 * encoder enforces, word for word; the parser of the consent POST's `tcf`
 * member; and tcf_choice_apply's refusals and clamps.
 * (The same strings decoded by the IAB's own library: tests/http/tcf_encode.test.mjs.)
 */
#include <stdint.h>

#include "check.h"
#include "json_scan.h"
#include "tcf.h"

/* ---- a decoder for the checks ---- */

static int b64(char c)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = c ? strchr(A, c) : NULL;
    return p ? (int)(p - A) : -1;
}

typedef struct {
    uint8_t bit[1 << 16];
    size_t n, pos;
} seg_t;

static seg_t seg;

/* Load segment `index` (0-based) of a TC string into seg: 0, or -1. */
static int load(const char *tc, int index)
{
    while (index-- > 0) {
        tc = strchr(tc, '.');
        if (tc == NULL) return -1;
        tc++;
    }
    seg.n = seg.pos = 0;
    for (; *tc && *tc != '.'; tc++) {
        int v = b64(*tc);
        if (v < 0) return -1;
        for (int k = 5; k >= 0; k--)
            seg.bit[seg.n++] = (uint8_t)((v >> k) & 1);
    }
    return 0;
}

static uint64_t rd(unsigned width)
{
    uint64_t v = 0;
    while (width--)
        v = (v << 1) | (seg.pos < seg.n ? seg.bit[seg.pos++] : 0);
    return v;
}

/* A vendor section into ids[]: the count, or -1. */
static long rd_vendors(uint16_t *ids, int *was_range)
{
    unsigned max = (unsigned)rd(16);
    *was_range = (int)rd(1);
    long n = 0;
    if (*was_range) {
        unsigned entries = (unsigned)rd(12);
        for (unsigned e = 0; e < entries; e++) {
            int range = (int)rd(1);
            unsigned a = (unsigned)rd(16), b = range ? (unsigned)rd(16) : a;
            for (unsigned id = a; id <= b; id++)
                ids[n++] = (uint16_t)id;
        }
    } else {
        for (unsigned id = 1; id <= max; id++)
            if (rd(1)) ids[n++] = (uint16_t)id;
    }
    return n;
}

static uint16_t got[1 << 16];

/* ---- the spec's example ---- */

/* The example of the v2.3 spec (section "TC String Format"):
 *   CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA.YAAAAAAAAAAA
 * decodes (with @iabtechlabtcf/core 1.5.21) to: created = last updated =
 * 2025-06-03, CMP 880 version 0, screen 0, EN, vendor list 48, policy
 * version 2, service-specific, DE, vendor consents 1-4, disclosed vendors
 * 1-5, 100, 404, an empty publisher TC segment. Its policy version 2 is
 * below the minimum v2.2+ allows, so the encoder refuses it as is; with 5,
 * the string differs from the spec's in those 6 bits only. */
static const uint16_t ex_consents[] = {1, 2, 3, 4};
static const uint16_t ex_disclosed[] = {1, 2, 3, 4, 5, 100, 404};

static tcf_string_t example(void)
{
    uint64_t day = tcf_day_deciseconds(1748952000); /* 2025-06-03T12:00:00Z */
    return (tcf_string_t){
        .version = 2,
        .created_ds = day,
        .last_updated_ds = day,
        .cmp_id = 880,
        .consent_language = {'E', 'N'},
        .vendor_list_version = 48,
        .policy_version = TCF_POLICY_VERSION,
        .is_service_specific = true,
        .publisher_cc = {'D', 'E'},
        .vendor_consents = {ex_consents, 4},
        .disclosed_vendors = {ex_disclosed, 7},
        .publisher_tc = true,
    };
}

#define SPEC_EXAMPLE                                                                               \
    "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA.YAAAAAAAAAAA"

static int spec_example_is_encoded_bit_for_bit(void)
{
    tcf_string_t s = example();
    char out[256], err[TCF_ERR_MAX];
    tcf_status_t st;
    s.policy_version = 2;
    CHECK(tcf_encode(&s, out, sizeof(out), &st, err, sizeof(err)) == -1 && st == TCF_ERR_INPUT);
    CHECK_STR(err, "policy_version: 2, must be 4..63");
    s.policy_version = TCF_POLICY_VERSION;
    ssize_t n = tcf_encode(&s, out, sizeof(out), &st, err, sizeof(err));
    CHECK(n == (ssize_t)strlen(SPEC_EXAMPLE) && st == TCF_OK &&
          (size_t)n + 1 == tcf_encoded_max(&s));
    /* the disclosed-vendors and publisher TC segments: the spec's, exactly */
    CHECK_STR(strchr(out, '.'), strchr(SPEC_EXAMPLE, '.'));
    /* the core: the spec's but for TcfPolicyVersion (bits 132..137) */
    static uint8_t ours[512];
    CHECK(load(out, 0) == 0);
    size_t len = seg.n;
    memcpy(ours, seg.bit, len);
    CHECK(load(SPEC_EXAMPLE, 0) == 0 && seg.n == len && len == 44 * 6);
    for (size_t i = 0; i < len; i++)
        if (i < 132 || i >= 138) CHECK(ours[i] == seg.bit[i]);
    seg.pos = 132;
    CHECK(rd(6) == 2);
    memcpy(seg.bit, ours, len);
    seg.pos = 132;
    CHECK(rd(6) == TCF_POLICY_VERSION);
    return 0;
}

static int every_core_field_reads_back(void)
{
    static const uint16_t li[] = {2, 300};
    static const uint16_t disclosed[] = {2, 4, 300, 301};
    static const uint16_t rv1[] = {2, 3, 4, 9, 300};
    static const tcf_restriction_t r[] = {
        {.purpose = 2, .type = TCF_RESTRICT_REQUIRE_CONSENT, .vendors = {rv1, 5}},
        {.purpose = 7, .type = TCF_RESTRICT_NOT_ALLOWED, .vendors = {li, 1}},
    };
    tcf_string_t s = {
        .version = 2,
        .created_ds = tcf_day_deciseconds(1764892800 + 5000),
        .cmp_id = 4095,
        .cmp_version = 4095,
        .consent_screen = 63,
        .consent_language = {'f', 'r'},
        .vendor_list_version = 4095,
        .policy_version = 63,
        .is_service_specific = true,
        .use_non_standard_texts = true,
        .special_features = TCF_BIT(1) | TCF_BIT(12),
        .purposes_consent = TCF_BIT(1) | TCF_BIT(24),
        .purposes_li = TCF_BIT(2) | TCF_BIT(7),
        .purpose_one_treatment = true,
        .publisher_cc = {'z', 'a'},
        .vendor_consents = {disclosed, 4},
        .vendor_li = {li, 2},
        .restrictions = r,
        .restriction_count = 2,
        .disclosed_vendors = {disclosed, 4},
        .publisher_tc = true,
        .pub_purposes_consent = TCF_BIT(1),
        .pub_purposes_li = TCF_BIT(24),
        .custom_purpose_count = 63,
        .custom_consent = TCF_BIT64(1) | TCF_BIT64(63),
        .custom_li = TCF_BIT64(2),
    };
    s.last_updated_ds = s.created_ds;
    char out[512];
    tcf_status_t st;
    ssize_t n = tcf_encode(&s, out, sizeof(out), &st, NULL, 0);
    CHECK(n > 0 && (size_t)n + 1 == tcf_encoded_max(&s));
    CHECK(load(out, 0) == 0 && seg.n % 24 == 0);
    CHECK(rd(6) == 2 && rd(36) == 17648928000ULL && rd(36) == 17648928000ULL);
    CHECK(rd(12) == 4095 && rd(12) == 4095 && rd(6) == 63);
    CHECK(rd(6) == 'f' - 'a' && rd(6) == 'r' - 'a');
    CHECK(rd(12) == 4095 && rd(6) == 63 && rd(1) == 1 && rd(1) == 1);
    CHECK(rd(12) == 0x801);    /* special features 1 and 12 */
    CHECK(rd(24) == 0x800001); /* purposes 1 and 24 */
    CHECK(rd(24) == 0x420000); /* purposes 2 and 7 */
    CHECK(rd(1) == 1 && rd(6) == 'z' - 'a' && rd(6) == 'a' - 'a');
    int range;
    CHECK(rd_vendors(got, &range) == 4 && got[0] == 2 && got[1] == 4 && got[2] == 300 &&
          got[3] == 301 && range == 1);
    CHECK(rd_vendors(got, &range) == 2 && got[0] == 2 && got[1] == 300 && range == 1);
    CHECK(rd(12) == 2);
    CHECK(rd(6) == 2 && rd(2) == 1 && rd(12) == 3); /* 2-4, 9, 300 */
    CHECK(rd(1) == 1 && rd(16) == 2 && rd(16) == 4);
    CHECK(rd(1) == 0 && rd(16) == 9 && rd(1) == 0 && rd(16) == 300);
    CHECK(rd(6) == 7 && rd(2) == 0 && rd(12) == 1 && rd(1) == 0 && rd(16) == 2);
    while (seg.pos < seg.n)
        CHECK(rd(1) == 0); /* padding only */
    CHECK(load(out, 1) == 0 && rd(3) == 1 && rd_vendors(got, &range) == 4 && got[3] == 301);
    CHECK(load(out, 2) == 0 && rd(3) == 3 && rd(24) == 0x800000 && rd(24) == 1 && rd(6) == 63);
    CHECK(rd(1) == 1 && rd(61) == 0 && rd(1) == 1); /* custom consents 1, 63 */
    CHECK(rd(1) == 0 && rd(1) == 1 && rd(61) == 0); /* custom LI 2 */
    int dots = 0;
    for (const char *p = out; *p; p++)
        dots += *p == '.';
    CHECK(dots == 2);
    return 0;
}

/* The shorter of bit field and ranges; the bit field when they tie. */
static int vendor_sets_take_the_shorter_encoding(void)
{
    static uint16_t ids[2000];
    char out[8192];
    tcf_status_t st;
    int range;
    tcf_string_t s = example();
    s.publisher_tc = false;
    /* 1-4: 4 bits beat 12 + 33 */
    CHECK(tcf_encode(&s, out, sizeof(out), &st, NULL, 0) > 0);
    CHECK(load(out, 0) == 0);
    seg.pos = 213;
    CHECK(rd_vendors(got, &range) == 4 && range == 0);
    /* 1..2000: one range (45 bits) beats 2000 */
    for (int i = 0; i < 2000; i++)
        ids[i] = (uint16_t)(i + 1);
    s.vendor_consents = (tcf_ids_t){ids, 2000};
    s.disclosed_vendors = (tcf_ids_t){ids, 2000};
    CHECK(tcf_encode(&s, out, sizeof(out), &st, NULL, 0) > 0);
    CHECK(load(out, 0) == 0);
    seg.pos = 213;
    CHECK(rd_vendors(got, &range) == 2000 && range == 1 && got[1999] == 2000);
    /* {29}: ranges 12 + 17 = 29 bits tie with the 29-bit field: the field */
    static const uint16_t one29[] = {29}, one30[] = {30};
    s.vendor_consents = (tcf_ids_t){one29, 1};
    CHECK(tcf_encode(&s, out, sizeof(out), &st, NULL, 0) > 0);
    CHECK(load(out, 0) == 0);
    seg.pos = 213;
    CHECK(rd_vendors(got, &range) == 1 && got[0] == 29 && range == 0);
    s.vendor_consents = (tcf_ids_t){one30, 1};
    CHECK(tcf_encode(&s, out, sizeof(out), &st, NULL, 0) > 0);
    CHECK(load(out, 0) == 0);
    seg.pos = 213;
    CHECK(rd_vendors(got, &range) == 1 && got[0] == 30 && range == 1);
    /* every other ID up to 4000: 2000 singles (12 + 34000 bits) lose to 3999 bits */
    static uint16_t all[4000];
    for (int i = 0; i < 4000; i++)
        all[i] = (uint16_t)(i + 1);
    for (int i = 0; i < 2000; i++)
        ids[i] = (uint16_t)(2 * i + 1);
    s.vendor_consents = (tcf_ids_t){ids, 2000};
    s.disclosed_vendors = (tcf_ids_t){all, 4000};
    CHECK(tcf_encode(&s, out, sizeof(out), &st, NULL, 0) > 0);
    CHECK(load(out, 0) == 0);
    seg.pos = 213;
    CHECK(rd_vendors(got, &range) == 2000 && range == 0 && got[1999] == 3999);
    /* the largest ID */
    static const uint16_t top[] = {1, TCF_VENDOR_ID_MAX};
    s.vendor_consents = (tcf_ids_t){top, 2};
    s.disclosed_vendors = (tcf_ids_t){top, 2};
    CHECK(tcf_encode(&s, out, sizeof(out), &st, NULL, 0) > 0);
    CHECK(load(out, 1) == 0 && rd(3) == 1);
    CHECK(rd_vendors(got, &range) == 2 && got[1] == TCF_VENDOR_ID_MAX && range == 1);
    return 0;
}

static int encoder_refusals_name_the_field(void)
{
    char out[512], err[TCF_ERR_MAX];
    tcf_status_t st;
    tcf_string_t s;
#define REFUSED(change, msg)                                                                       \
    do {                                                                                           \
        s = example();                                                                             \
        change;                                                                                    \
        CHECK(tcf_encode(&s, out, sizeof(out), &st, err, sizeof(err)) == -1);                      \
        CHECK(st == TCF_ERR_INPUT);                                                                \
        CHECK_STR(err, msg);                                                                       \
    } while (0)
    static const uint16_t unsorted[] = {3, 2}, zero[] = {0}, v9[] = {9}, v2[] = {2};
    REFUSED(s.version = 1, "version: 1, must be 2");
    REFUSED(s.created_ds += 10, "created: not a whole UTC day in deciseconds (v2.2+)");
    REFUSED(s.last_updated_ds += 864000, "last_updated: must equal created (v2.2+)");
    REFUSED(s.cmp_id = 1, "cmp_id: 1, must be 2..4095");
    REFUSED(s.cmp_version = 4096, "cmp_version: 4096, must be 0..4095");
    REFUSED(s.consent_screen = 64, "consent_screen: 64, must be 0..63");
    REFUSED(s.consent_language[1] = '1', "consent_language: not two letters");
    REFUSED(s.vendor_list_version = 0, "vendor_list_version: 0, must be 1..4095");
    REFUSED(s.is_service_specific = false,
            "is_service_specific: must be true (global strings are invalid)");
    REFUSED(s.special_features = 1u << 12, "special_features: IDs above 12");
    REFUSED(s.purposes_li = TCF_BIT(3),
            "purposes_li: purposes 1, 3, 4, 5, 6 cannot rest on legitimate interest");
    REFUSED(s.publisher_cc[0] = ' ', "publisher_cc: not two letters");
    REFUSED(s.vendor_consents = ((tcf_ids_t){unsorted, 2}),
            "vendor_consents: IDs not ascending at 2");
    REFUSED(s.vendor_li = ((tcf_ids_t){zero, 1}), "vendor_li: vendor ID 0 (IDs start at 1)");
    REFUSED(s.vendor_li = ((tcf_ids_t){v9, 1}), "vendor_li: vendor 9 was not disclosed");
    tcf_restriction_t r[2] = {{.purpose = 2, .type = TCF_RESTRICT_NOT_ALLOWED, .vendors = {v2, 1}},
                              {.purpose = 2, .type = TCF_RESTRICT_REQUIRE_LI, .vendors = {v2, 1}}};
    REFUSED((s.restrictions = r, s.restriction_count = 2),
            "restrictions[1].vendors: vendor 2 under two types for purpose 2");
    r[1].type = TCF_RESTRICT_NOT_ALLOWED;
    REFUSED((s.restrictions = r, s.restriction_count = 2),
            "restrictions[1]: purpose 2 and type 0 twice");
    r[1].purpose = 25;
    REFUSED((s.restrictions = r, s.restriction_count = 2),
            "restrictions[1].purpose: 25, must be 1..24");
    r[1].purpose = 3;
    r[1].vendors.count = 0;
    REFUSED((s.restrictions = r, s.restriction_count = 2), "restrictions[1].vendors: empty");
    REFUSED((s.custom_purpose_count = 2, s.custom_li = TCF_BIT64(3)),
            "custom purposes: IDs above custom_purpose_count 2");
    /* too small a buffer: refused before a byte is written */
    s = example();
    memset(out, 'x', sizeof(out));
    CHECK(tcf_encode(&s, out, tcf_encoded_max(&s) - 1, &st, err, sizeof(err)) == -1);
    CHECK(st == TCF_ERR_SPACE && out[0] == 'x');
    CHECK(tcf_encode(&s, out, tcf_encoded_max(&s), &st, err, sizeof(err)) > 0);
    return 0;
}

/* ---- the choice ---- */

static tcf_status_t parse(const char *json, tcf_choice_t *c, char *err)
{
    json_scan_value_t root;
    const char *jerr;
    if (json_scan_parse(json, strlen(json), &root, &jerr) != 0) return (tcf_status_t)99;
    return tcf_choice_parse(&root, c, err, TCF_ERR_MAX);
}

static tcf_choice_t choice;

static int choice_is_parsed(void)
{
    char err[TCF_ERR_MAX];
    CHECK(parse("{\"purposes\":{\"consents\":[1, 3,24],\"legitimate_interests\":[2]},"
                "\"special_features\":[2],\"vendors\":{\"consents\":[755,1,\n91],"
                "\"legitimate_interests\":[]},\"publisher\":{\"consents\":[1],"
                "\"custom_consents\":[2],\"custom_legitimate_interests\":[63]}}",
                &choice, err) == TCF_OK);
    CHECK(choice.purposes_consent == (TCF_BIT(1) | TCF_BIT(3) | TCF_BIT(24)));
    CHECK(choice.purposes_li == TCF_BIT(2) && choice.special_features == TCF_BIT(2));
    CHECK(choice.vendor_consent_count == 3 && choice.vendor_consents[0] == 1 &&
          choice.vendor_consents[1] == 91 && choice.vendor_consents[2] == 755);
    CHECK(choice.vendor_li_count == 0 && choice.publisher);
    CHECK(choice.pub_purposes_consent == TCF_BIT(1) && choice.pub_purposes_li == 0);
    CHECK(choice.custom_consent == TCF_BIT64(2) && choice.custom_li == TCF_BIT64(63));
    CHECK(parse("{}", &choice, err) == TCF_OK && !choice.publisher &&
          choice.vendor_consent_count == 0 && choice.purposes_consent == 0);
    return 0;
}

static int choice_errors_name_field_and_reason(void)
{
    static const char *const cases[][2] = {
        {"[]", "tcf: not an object"},
        {"{\"purpose\":{}}", "tcf: unknown member \"purpose\""},
        {"{\"purposes\":[]}", "tcf.purposes: not an object"},
        {"{\"purposes\":{\"consents\":{}}}", "tcf.purposes.consents: not an array"},
        {"{\"purposes\":{\"consents\":[25]}}", "tcf.purposes.consents[0]: not an ID from 1 to 24"},
        {"{\"purposes\":{\"consents\":[1,0]}}", "tcf.purposes.consents[1]: not an ID from 1 to 24"},
        {"{\"purposes\":{\"legitimate_interests\":[2,2]}}",
         "tcf.purposes.legitimate_interests[1]: 2 twice"},
        {"{\"special_features\":[13]}", "tcf.special_features[0]: not an ID from 1 to 12"},
        {"{\"special_features\":[\"1\"]}", "tcf.special_features[0]: not an ID from 1 to 12"},
        {"{\"special_features\":[1.0]}", "tcf.special_features[0]: not an ID from 1 to 12"},
        {"{\"special_features\":[1e0]}", "tcf.special_features[0]: not an ID from 1 to 12"},
        {"{\"special_features\":[[1]]}", "tcf.special_features[0]: not an ID from 1 to 12"},
        {"{\"special_features\":[-1]}", "tcf.special_features[0]: not an ID from 1 to 12"},
        {"{\"vendors\":{\"consents\":[65536]}}",
         "tcf.vendors.consents[0]: not a vendor ID from 1 to 65535"},
        {"{\"vendors\":{\"consents\":[\"a, 1\"]}}",
         "tcf.vendors.consents[0]: not a vendor ID from 1 to 65535"},
        {"{\"vendors\":{\"legitimate_interests\":[7,3,7]}}",
         "tcf.vendors.legitimate_interests: vendor 7 twice"},
        {"{\"vendors\":{\"all\":true}}", "tcf.vendors: unknown member \"all\""},
        {"{\"publisher\":{\"custom_consents\":[64]}}",
         "tcf.publisher.custom_consents[0]: not an ID from 1 to 63"},
        {"{\"publisher\":1}", "tcf.publisher: not an object"},
    };
    char err[TCF_ERR_MAX];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        if (parse(cases[i][0], &choice, err) != TCF_ERR_INPUT) {
            printf("    accepted: %s\n", cases[i][0]);
            return -1;
        }
        CHECK_STR(err, cases[i][1]);
    }
    /* too many vendors */
    static char big[TCF_SITE_VENDORS_MAX * 6 + 64];
    size_t n = (size_t)snprintf(big, sizeof(big), "{\"vendors\":{\"consents\":[1");
    for (int i = 2; i <= TCF_SITE_VENDORS_MAX + 1; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, ",%d", i);
    snprintf(big + n, sizeof(big) - n, "]}}");
    CHECK(parse(big, &choice, err) == TCF_ERR_INPUT);
    CHECK_STR(err, "tcf.vendors.consents: more than 2048 vendors");
    return 0;
}

/* ---- the site's rules ---- */

/* Vendors 8 (consent 1-4, LI 2 and 7, flexible 2), 21 (LI 2 only, flexible
 * 2), 40 (special purposes only), 77 (consent 1 only). */
static const tcf_site_vendor_t site_vendors[] = {
    {.id = 8,
     .purposes = 0xf,
     .li_purposes = TCF_BIT(2) | TCF_BIT(7),
     .flexible_purposes = TCF_BIT(2)},
    {.id = 21, .li_purposes = TCF_BIT(2), .flexible_purposes = TCF_BIT(2)},
    {.id = 40, .special_purposes = 0x3},
    {.id = 77, .purposes = TCF_BIT(1), .special_purposes = 0x1},
};

static tcf_site_rules_t rules(void)
{
    return (tcf_site_rules_t){
        .cmp_id = 300,
        .cmp_version = 2,
        .vendor_list_version = 126,
        .policy_version = TCF_POLICY_VERSION,
        .publisher_cc = {'F', 'R'},
        .vendors = site_vendors,
        .vendor_count = 4,
        .purposes_consent = 0xf,
        .purposes_li = TCF_BIT(2) | TCF_BIT(7),
        .special_features = TCF_BIT(1),
    };
}

static int apply(const tcf_site_rules_t *r, const char *json, tcf_string_t *s, char *err)
{
    static uint16_t disclosed[TCF_SITE_VENDORS_MAX];
    tcf_status_t st = parse(json, &choice, err);
    if (st != TCF_OK) return (int)st;
    return (int)tcf_choice_apply(r, &choice, "fr", 1764936000, disclosed, s, err, TCF_ERR_MAX);
}

static int choice_held_to_the_site(void)
{
    tcf_site_rules_t r = rules();
    tcf_string_t s;
    char err[TCF_ERR_MAX], out[512];
    /* accept all: every vendor; 21 has no consent purpose (clamped), 77 no LI one */
    CHECK(apply(&r,
                "{\"purposes\":{\"consents\":[1,2,3,4],\"legitimate_interests\":[2,7]},"
                "\"special_features\":[1],\"vendors\":{\"consents\":[8,21,40,77],"
                "\"legitimate_interests\":[8,21,77]}}",
                &s, err) == TCF_OK);
    CHECK(s.vendor_consents.count == 2 && s.vendor_consents.ids[0] == 8 &&
          s.vendor_consents.ids[1] == 77);
    /* 77 keeps LI: it declares a special purpose; 40 gets it: special purposes only */
    CHECK(s.vendor_li.count == 4 && s.vendor_li.ids[0] == 8 && s.vendor_li.ids[1] == 21 &&
          s.vendor_li.ids[2] == 40 && s.vendor_li.ids[3] == 77);
    CHECK(s.disclosed_vendors.count == 4 && s.disclosed_vendors.ids[3] == 77);
    CHECK(s.created_ds == 17648928000ULL && s.last_updated_ds == s.created_ds);
    CHECK(s.cmp_id == 300 && s.consent_language[0] == 'f' && !s.publisher_tc);
    CHECK(tcf_encode(&s, out, sizeof(out), NULL, err, sizeof(err)) > 0);
    /* refuse all: nothing but the special-purpose-only vendor's LI */
    CHECK(apply(&r, "{}", &s, err) == TCF_OK);
    CHECK(s.vendor_consents.count == 0 && s.vendor_li.count == 1 && s.vendor_li.ids[0] == 40);
    CHECK(s.purposes_consent == 0 && s.purposes_li == 0 && s.special_features == 0);
    /* a restriction switching 21's flexible purpose 2 to consent keeps its consent */
    static const uint16_t v21[] = {21};
    tcf_restriction_t rc = {
        .purpose = 2, .type = TCF_RESTRICT_REQUIRE_CONSENT, .vendors = {v21, 1}};
    r.restrictions = &rc;
    r.restriction_count = 1;
    CHECK(apply(&r, "{\"vendors\":{\"consents\":[21]}}", &s, err) == TCF_OK);
    CHECK(s.vendor_consents.count == 1 && s.restriction_count == 1);
    /* without it, 21's consent is clamped; a restriction on another purpose does not help */
    rc.purpose = 3;
    CHECK(apply(&r, "{\"vendors\":{\"consents\":[21]}}", &s, err) == TCF_OK);
    CHECK(s.vendor_consents.count == 0);
    /* 77 declares consent for 1 only: no LI but through its special purpose; a
     * vendor with consent purposes only and no special purpose loses its LI bit,
     * unless a restriction switches a flexible purpose of it to LI */
    static const tcf_site_vendor_t flex[] = {
        {.id = 5, .purposes = TCF_BIT(2), .flexible_purposes = TCF_BIT(2)},
        {.id = 6, .purposes = TCF_BIT(2)},
    };
    static const uint16_t v5[] = {5};
    tcf_restriction_t rl = {.purpose = 2, .type = TCF_RESTRICT_REQUIRE_LI, .vendors = {v5, 1}};
    r.vendors = flex;
    r.vendor_count = 2;
    r.restriction_count = 0;
    CHECK(apply(&r, "{\"vendors\":{\"legitimate_interests\":[5,6]}}", &s, err) == TCF_OK);
    CHECK(s.vendor_li.count == 0);
    r.restrictions = &rl;
    r.restriction_count = 1;
    CHECK(apply(&r, "{\"vendors\":{\"legitimate_interests\":[5,6]}}", &s, err) == TCF_OK);
    CHECK(s.vendor_li.count == 1 && s.vendor_li.ids[0] == 5);
    r = rules();
    static const struct {
        const char *json, *want;
    } refused[] = {
        {"{\"vendors\":{\"consents\":[9]}}",
         "tcf.vendors.consents: vendor 9 is not a vendor of this site"},
        {"{\"vendors\":{\"legitimate_interests\":[8,1000]}}",
         "tcf.vendors.legitimate_interests: vendor 1000 is not a vendor of this site"},
        {"{\"purposes\":{\"consents\":[5]}}",
         "tcf.purposes.consents: purpose 5 is not asked for consent here"},
        {"{\"purposes\":{\"legitimate_interests\":[4]}}",
         "tcf.purposes.legitimate_interests: purpose 4 cannot rest on legitimate interest "
         "(TCF v2.2+)"},
        {"{\"purposes\":{\"legitimate_interests\":[8]}}",
         "tcf.purposes.legitimate_interests: purpose 8 is not shown under legitimate interest "
         "here"},
        {"{\"special_features\":[2]}",
         "tcf.special_features: special feature 2 is not offered here"},
        {"{\"publisher\":{}}", "tcf.publisher: this site has no publisher purposes"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        CHECK(apply(&r, refused[i].json, &s, err) == TCF_ERR_REFUSED);
        CHECK_STR(err, refused[i].want);
    }
    /* the publisher TC segment */
    r.publisher_tc = true;
    r.pub_purposes_consent = TCF_BIT(1);
    r.pub_purposes_li = TCF_BIT(7);
    r.custom_purpose_count = 2;
    r.custom_consent = TCF_BIT64(1);
    r.custom_li = TCF_BIT64(2);
    CHECK(apply(&r, "{\"publisher\":{\"consents\":[1],\"custom_legitimate_interests\":[2]}}", &s,
                err) == TCF_OK);
    CHECK(s.publisher_tc && s.pub_purposes_consent == TCF_BIT(1) && s.custom_purpose_count == 2 &&
          s.custom_li == TCF_BIT64(2) && s.custom_consent == 0);
    CHECK(apply(&r, "{\"publisher\":{\"legitimate_interests\":[1]}}", &s, err) == TCF_ERR_REFUSED);
    CHECK_STR(err, "tcf.publisher.legitimate_interests: purpose 1 is not under the publisher's "
                   "legitimate interest");
    CHECK(apply(&r, "{\"publisher\":{\"custom_consents\":[2]}}", &s, err) == TCF_ERR_REFUSED);
    CHECK_STR(err, "tcf.publisher.custom_consents: custom purpose 2 is not asked for consent");
    CHECK(tcf_choice_apply(&r, &choice, "f1", 0, NULL, &s, err, sizeof(err)) == TCF_ERR_INPUT);
    CHECK_STR(err, "lang: not two letters");
    return 0;
}

/* The fullest `tcf` member a site's choice can be (every member, every ID
 * of every purpose, special feature and publisher list, each of the site's
 * vendors in both vendor lists) fits tcf_choice_json_max: the consent
 * POST's body limit of a TCF site. */
static size_t ids_json(char *out, size_t cap, unsigned from, unsigned to)
{
    size_t n = 0;
    for (unsigned id = from; id <= to; id++)
        n += (size_t)snprintf(out + n, cap - n, "%s%u", id > from ? "," : "", id);
    return n;
}

static int choice_json_max_bounds_the_fullest_choice(void)
{
    static tcf_site_vendor_t vs[TCF_SITE_VENDORS_MAX];
    static char json[TCF_CHOICE_JSON_MAX + 1];
    static tcf_choice_t choice;
    char err[TCF_ERR_MAX], p24[128], p12[64], c63[256];
    ids_json(p24, sizeof(p24), 1, 24);
    ids_json(p12, sizeof(p12), 1, 12);
    ids_json(c63, sizeof(c63), 1, 63);
    tcf_site_rules_t r = {0};
    /* No vendor: what every site can send, within the fixed part. */
    size_t fixed = tcf_choice_json_max(&r);
    CHECK(fixed == TCF_CHOICE_JSON_FIXED);
    /* The largest site: 2048 vendors of 5 digits, then 600 of 1 to 4. */
    size_t counts[] = {TCF_SITE_VENDORS_MAX, 600};
    for (size_t c = 0; c < 2; c++) {
        r.vendor_count = counts[c];
        for (size_t i = 0; i < r.vendor_count; i++)
            vs[i] = (tcf_site_vendor_t){.id = (uint16_t)(c == 0 ? 63000 + i : 1 + 7 * i)};
        r.vendors = vs;
        char vendors[TCF_SITE_VENDORS_MAX * 6 + 1];
        size_t vn = 0, digits = 0;
        for (size_t i = 0; i < r.vendor_count; i++) {
            int w = snprintf(vendors + vn, sizeof(vendors) - vn, "%s%u", i > 0 ? "," : "",
                             (unsigned)vs[i].id);
            vn += (size_t)w;
            digits += (size_t)snprintf(NULL, 0, "%u", (unsigned)vs[i].id) + 1;
        }
        int n = snprintf(json, sizeof(json),
                         "{\"purposes\":{\"consents\":[%s],\"legitimate_interests\":[%s]},"
                         "\"special_features\":[%s],"
                         "\"vendors\":{\"consents\":[%s],\"legitimate_interests\":[%s]},"
                         "\"publisher\":{\"consents\":[%s],\"legitimate_interests\":[%s],"
                         "\"custom_consents\":[%s],\"custom_legitimate_interests\":[%s]}}",
                         p24, p24, p12, vendors, vendors, p24, p24, c63, c63);
        size_t max = tcf_choice_json_max(&r);
        CHECK(max == fixed + 2 * digits);
        CHECK(n > 0 && (size_t)n <= max && max <= TCF_CHOICE_JSON_MAX);
        CHECK((size_t)n > max - 256); /* a bound, not a guess */
        CHECK(parse(json, &choice, err) == TCF_OK);
        CHECK(choice.vendor_consent_count == r.vendor_count &&
              choice.vendor_li_count == r.vendor_count);
    }
    return 0;
}

int main(void)
{
    RUN(spec_example_is_encoded_bit_for_bit);
    RUN(every_core_field_reads_back);
    RUN(vendor_sets_take_the_shorter_encoding);
    RUN(encoder_refusals_name_the_field);
    RUN(choice_is_parsed);
    RUN(choice_errors_name_field_and_reason);
    RUN(choice_held_to_the_site);
    RUN(choice_json_max_bounds_the_fullest_choice);
    return check_summary();
}
