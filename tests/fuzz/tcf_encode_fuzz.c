/*
 * tcf_encode_fuzz.c - src/tcf.c's tcf_encode on TC strings the input
 * describes, read back by a decoder of this harness's own, written from the
 * spec (not from tcf.c): every string tcf_encode writes decodes to exactly
 * the fields it was given, is exactly tcf_encoded_max - 1 characters long,
 * of base64url in whole 4-character quanta per segment, with the vendor
 * sets in the shorter of bit field and ranges. An input built valid is
 * always encoded; one spoiled on purpose (a flag byte) is refused with a
 * message, and nothing is written past the buffer.
 *
 * Input: 24 bytes of fields, a flag byte, then vendor IDs as 16-bit pairs
 * split into the sets by the fields' counts.
 */
#include <string.h>

#include "fuzz.h"
#include "tcf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

typedef struct {
    const uint8_t *p;
    size_t n, pos;
} in_t;

static unsigned take(in_t *in, unsigned bytes)
{
    unsigned v = 0;
    while (bytes--)
        v = (v << 8) | (in->pos < in->n ? in->p[in->pos++] : 0);
    return v;
}

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* count IDs from the input, sorted, no duplicates, none 0; wide: any 16-bit
 * ID, else small ones (dense sets, long ranges). */
static size_t ids_from(in_t *in, uint16_t *ids, size_t count, int wide)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        unsigned id = take(in, 2);
        id = wide ? id : id % 300;
        if (id == 0) id = 1;
        ids[n++] = (uint16_t)id;
    }
    qsort(ids, n, sizeof(ids[0]), cmp_u16);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || ids[i] != ids[k - 1]) ids[k++] = ids[i];
    return k;
}

/* ---- the harness's decoder ---- */

static const char *tc;
static size_t bitpos, bitend;

static int b64(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

static uint64_t rd(unsigned width)
{
    uint64_t v = 0;
    while (width--) {
        FUZZ_ASSERT(bitpos < bitend);
        int c = b64(tc[bitpos / 6]);
        FUZZ_ASSERT(c >= 0);
        v = (v << 1) | (uint64_t)((c >> (5 - bitpos % 6)) & 1);
        bitpos++;
    }
    return v;
}

/* Start segment `index`: bits from its first character to its end. */
static void segment(const char *s, int index)
{
    const char *p = s;
    while (index-- > 0) {
        p = strchr(p, '.');
        FUZZ_ASSERT(p != NULL);
        p++;
    }
    const char *end = strchr(p, '.');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    FUZZ_ASSERT(len > 0 && len % 4 == 0);
    tc = p;
    bitpos = 0;
    bitend = len * 6;
}

/* The rest of the segment is padding: zeros, fewer than 24 bits. */
static void segment_done(void)
{
    FUZZ_ASSERT(bitend - bitpos < 24);
    while (bitpos < bitend)
        FUZZ_ASSERT(rd(1) == 0);
}

static size_t runs(const tcf_ids_t *v)
{
    size_t r = 0;
    for (size_t i = 0; i < v->count; i++)
        if (i == 0 || v->ids[i] != v->ids[i - 1] + 1) r++;
    return r;
}

static size_t range_bits(const tcf_ids_t *v)
{
    size_t b = 12;
    for (size_t i = 0; i < v->count;) {
        size_t j = i;
        while (j + 1 < v->count && v->ids[j + 1] == v->ids[j] + 1)
            j++;
        b += j > i ? 33 : 17;
        i = j + 1;
    }
    return b;
}

static void expect_runs(const tcf_ids_t *v)
{
    FUZZ_ASSERT(rd(12) == runs(v));
    size_t k = 0;
    while (k < v->count) {
        int range = (int)rd(1);
        unsigned a = (unsigned)rd(16), b = range ? (unsigned)rd(16) : a;
        FUZZ_ASSERT(!range || b > a);
        for (unsigned id = a; id <= b; id++)
            FUZZ_ASSERT(k < v->count && v->ids[k++] == id);
    }
}

static void expect_vendors(const tcf_ids_t *v)
{
    unsigned max = v->count ? v->ids[v->count - 1] : 0;
    FUZZ_ASSERT(rd(16) == max);
    int range = (int)rd(1);
    /* the shorter: ranges only when strictly shorter than the field */
    int want_range = runs(v) <= 4095 && range_bits(v) < max;
    FUZZ_ASSERT(range == want_range);
    if (range) {
        expect_runs(v);
        return;
    }
    size_t k = 0;
    for (unsigned id = 1; id <= max; id++) {
        int set = k < v->count && v->ids[k] == id;
        if (set) k++;
        FUZZ_ASSERT((int)rd(1) == set);
    }
}

static void expect_mask(uint64_t mask, unsigned n)
{
    for (unsigned id = 1; id <= n; id++)
        FUZZ_ASSERT(rd(1) == ((mask >> (id - 1)) & 1));
}

static void expect_letters(const char c[2])
{
    for (int i = 0; i < 2; i++)
        FUZZ_ASSERT(rd(6) == (uint64_t)((c[i] | 0x20) - 'a'));
}

static uint16_t consents[2048], li[2048], disclosed[4096], rids[4][512];
static char out[1 << 17];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    in_t in = {data, size, 0};
    tcf_string_t s = {0};
    s.version = 2;
    s.created_ds = s.last_updated_ds = tcf_day_deciseconds((int64_t)take(&in, 4));
    s.cmp_id = 2 + take(&in, 2) % 4094;
    s.cmp_version = take(&in, 2) % 4096;
    s.consent_screen = take(&in, 1) % 64;
    s.consent_language[0] = (char)('a' + take(&in, 1) % 26);
    s.consent_language[1] = (char)('A' + take(&in, 1) % 26);
    s.vendor_list_version = 1 + take(&in, 2) % 4095;
    s.policy_version = TCF_POLICY_VERSION_MIN + take(&in, 1) % 60;
    s.is_service_specific = true;
    unsigned flags = take(&in, 1);
    s.use_non_standard_texts = flags & 1;
    s.purpose_one_treatment = flags & 2;
    s.publisher_tc = flags & 4;
    int wide = flags & 8;
    s.special_features = (uint16_t)(take(&in, 2) & 0xfff);
    s.purposes_consent = take(&in, 3) & 0xffffff;
    s.purposes_li = take(&in, 3) & 0xffffff & ~TCF_PURPOSES_NO_LI;
    s.publisher_cc[0] = (char)('A' + take(&in, 1) % 26);
    s.publisher_cc[1] = (char)('a' + take(&in, 1) % 26);
    unsigned counts = take(&in, 2);
    unsigned spoil = take(&in, 1);
    /* the sets: disclosed, then consents and LI as subsets of it */
    size_t nd = ids_from(&in, disclosed, (counts & 0x3ff) % 600, wide);
    size_t nc = 0, nl = 0;
    for (size_t i = 0; i < nd; i++) {
        unsigned pick = take(&in, 1);
        if (pick & 1) consents[nc++] = disclosed[i];
        if (pick & 2) li[nl++] = disclosed[i];
    }
    s.disclosed_vendors = (tcf_ids_t){disclosed, nd};
    s.vendor_consents = (tcf_ids_t){consents, nc};
    s.vendor_li = (tcf_ids_t){li, nl};
    tcf_restriction_t r[4];
    size_t nr = (counts >> 10) % 5;
    for (size_t i = 0; i < nr; i++) {
        size_t n = ids_from(&in, rids[i], 1 + take(&in, 1) % 40, wide);
        /* distinct purposes, so that no two restrictions collide */
        r[i] = (tcf_restriction_t){.purpose = (unsigned)(1 + i * 6 + take(&in, 1) % 6),
                                   .type = (tcf_restriction_type_t)(take(&in, 1) % 3),
                                   .vendors = {rids[i], n}};
    }
    s.restrictions = r;
    s.restriction_count = nr;
    if (s.publisher_tc) {
        s.pub_purposes_consent = take(&in, 3) & 0xffffff;
        s.pub_purposes_li = take(&in, 3) & 0xffffff;
        s.custom_purpose_count = take(&in, 1) % 64;
        uint64_t all = s.custom_purpose_count ? UINT64_MAX >> (64 - s.custom_purpose_count) : 0;
        s.custom_consent = ((uint64_t)take(&in, 4) << 32 | take(&in, 4)) & all;
        s.custom_li = ((uint64_t)take(&in, 4) << 32 | take(&in, 4)) & all;
    }
    /* spoil one rule on purpose: refused, with a message */
    switch (spoil % 16) {
    case 1:
        s.version = 1;
        break;
    case 2:
        s.created_ds += 1;
        break;
    case 3:
        s.cmp_id = 1;
        break;
    case 4:
        s.purposes_li |= TCF_BIT(3);
        break;
    case 5:
        s.is_service_specific = false;
        break;
    case 6:
        if (nc > 0)
            consents[nc - 1] = 0;
        else
            s.version = 3;
        break;
    case 7:
        s.policy_version = 3;
        break;
    case 8:
        if (nd > 1) {
            disclosed[0] = disclosed[1];
        } else
            s.consent_language[0] = '.';
        break;
    default:
        spoil = 0;
        break;
    }
    char err[TCF_ERR_MAX] = "";
    tcf_status_t st;
    size_t cap = tcf_encoded_max(&s);
    FUZZ_ASSERT(cap <= sizeof(out));
    memset(out, '#', cap + 1);
    ssize_t n = tcf_encode(&s, out, cap, &st, err, sizeof(err));
    FUZZ_ASSERT(out[cap] == '#'); /* nothing past the buffer */
    if (spoil != 0) {
        FUZZ_ASSERT(n == -1 && st == TCF_ERR_INPUT && err[0] != '\0');
        return 0;
    }
    if (n < 0) fprintf(stderr, "refused: %s\n", err);
    FUZZ_ASSERT(n >= 0 && st == TCF_OK && (size_t)n == cap - 1 && out[n] == '\0');
    /* a buffer one byte short: refused */
    FUZZ_ASSERT(tcf_encode(&s, out, cap - 1, &st, NULL, 0) == -1 && st == TCF_ERR_SPACE);
    n = tcf_encode(&s, out, cap, &st, NULL, 0);

    /* read it all back */
    segment(out, 0);
    FUZZ_ASSERT(rd(6) == 2 && rd(36) == s.created_ds && rd(36) == s.last_updated_ds);
    FUZZ_ASSERT(rd(12) == s.cmp_id && rd(12) == s.cmp_version && rd(6) == s.consent_screen);
    expect_letters(s.consent_language);
    FUZZ_ASSERT(rd(12) == s.vendor_list_version && rd(6) == s.policy_version);
    FUZZ_ASSERT(rd(1) == 1 && rd(1) == s.use_non_standard_texts);
    expect_mask(s.special_features, 12);
    expect_mask(s.purposes_consent, 24);
    expect_mask(s.purposes_li, 24);
    FUZZ_ASSERT(rd(1) == s.purpose_one_treatment);
    expect_letters(s.publisher_cc);
    expect_vendors(&s.vendor_consents);
    expect_vendors(&s.vendor_li);
    FUZZ_ASSERT(rd(12) == nr);
    for (size_t i = 0; i < nr; i++) {
        FUZZ_ASSERT(rd(6) == r[i].purpose && rd(2) == (uint64_t)r[i].type);
        expect_runs(&r[i].vendors);
    }
    segment_done();
    segment(out, 1);
    FUZZ_ASSERT(rd(3) == 1);
    expect_vendors(&s.disclosed_vendors);
    segment_done();
    if (s.publisher_tc) {
        segment(out, 2);
        FUZZ_ASSERT(rd(3) == 3);
        expect_mask(s.pub_purposes_consent, 24);
        expect_mask(s.pub_purposes_li, 24);
        FUZZ_ASSERT(rd(6) == s.custom_purpose_count);
        expect_mask(s.custom_consent, s.custom_purpose_count);
        expect_mask(s.custom_li, s.custom_purpose_count);
        segment_done();
        FUZZ_ASSERT(strchr(tc, '.') == NULL);
    } else {
        FUZZ_ASSERT(strchr(tc, '.') == NULL);
    }
    return 0;
}
