/*
 * tcf.c - IAB TCF v2.3 TC strings: the visitor's choice parsed, held to the
 * site's rules, and encoded (the contract is in tcf.h).
 *
 * The encoder writes bits straight into base64url characters: a 6-bit
 * accumulator emits one character per 6 bits, and each segment ends padded
 * with zero bits to a multiple of 24 (whole base64 quanta). Lengths are
 * decided before writing, so the range/bit-field choice and the size bound
 * use the same arithmetic:
 *
 *   vendor section  MaxVendorId(16) IsRangeEncoding(1), then either
 *                   the bit field (MaxVendorId bits) or NumEntries(12) and
 *                   per run IsARange(1) Start(16) [End(16) when a range]
 *   restriction     PurposeId(6) RestrictionType(2) NumEntries(12) runs
 */
#include "tcf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORE_FIXED_BITS 213 /* Version .. PublisherCC */
#define SEGMENT_DISCLOSED 1
#define SEGMENT_PUBLISHER_TC 3

static void fail(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errcap, const char *fmt, ...)
{
    if (err == NULL || errcap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

uint64_t tcf_day_deciseconds(int64_t unix_seconds)
{
    if (unix_seconds < 0) return 0;
    return (uint64_t)(unix_seconds - unix_seconds % 86400) * 10;
}

/* ---- sizes --------------------------------------------------------------- */

/* Runs of consecutive IDs in an ascending set; singles cost 17 bits, ranges 33. */
static size_t runs_of(const tcf_ids_t *v, size_t *bits)
{
    size_t runs = 0, b = 0;
    for (size_t i = 0; i < v->count;) {
        size_t j = i;
        while (j + 1 < v->count && v->ids[j + 1] == v->ids[j] + 1)
            j++;
        runs++;
        b += j > i ? 33 : 17;
        i = j + 1;
    }
    if (bits != NULL) *bits = b;
    return runs;
}

static unsigned max_id(const tcf_ids_t *v)
{
    unsigned m = 0;
    for (size_t i = 0; i < v->count; i++)
        if (v->ids[i] > m) m = v->ids[i];
    return m;
}

/* The bits of a vendor section and whether ranges win (strictly shorter). */
static size_t vendor_section_bits(const tcf_ids_t *v, int *use_range)
{
    size_t range_bits;
    size_t runs = runs_of(v, &range_bits);
    size_t field = max_id(v);
    int range = runs <= TCF_RANGES_MAX && 12 + range_bits < field;
    if (use_range != NULL) *use_range = range;
    return 17 + (range ? 12 + range_bits : field);
}

static size_t chars_of(size_t bits)
{
    return (bits + 23) / 24 * 4;
}

size_t tcf_encoded_max(const tcf_string_t *s)
{
    /* The lengths tcf_encode writes for a valid s; for any other s, what
     * the same arithmetic gives (tcf_encode refuses it anyway). */
    size_t core = CORE_FIXED_BITS + vendor_section_bits(&s->vendor_consents, NULL) +
                  vendor_section_bits(&s->vendor_li, NULL) + 12;
    for (size_t i = 0; i < s->restriction_count && s->restrictions != NULL; i++) {
        size_t bits;
        runs_of(&s->restrictions[i].vendors, &bits);
        core += 20 + bits;
    }
    size_t n = chars_of(core) + 1 + chars_of(3 + vendor_section_bits(&s->disclosed_vendors, NULL));
    if (s->publisher_tc) {
        unsigned custom = s->custom_purpose_count > TCF_CUSTOM_PURPOSES_MAX
                              ? TCF_CUSTOM_PURPOSES_MAX
                              : s->custom_purpose_count;
        n += 1 + chars_of(3 + 48 + 6 + 2 * custom);
    }
    return n + 1;
}

/* ---- validation ---------------------------------------------------------- */

static int ids_valid(const tcf_ids_t *v, const char *field, char *err, size_t errcap)
{
    if (v->count > 0 && v->ids == NULL) {
        fail(err, errcap, "%s: no IDs for a count of %zu", field, v->count);
        return 0;
    }
    for (size_t i = 0; i < v->count; i++) {
        if (v->ids[i] == 0) {
            fail(err, errcap, "%s: vendor ID 0 (IDs start at 1)", field);
            return 0;
        }
        if (i > 0 && v->ids[i] <= v->ids[i - 1]) {
            fail(err, errcap, "%s: IDs not ascending at %u", field, v->ids[i]);
            return 0;
        }
    }
    return 1;
}

/* 1 when every ID of sub is in set (both ascending); else *missing is one that is not. */
static int ids_subset(const tcf_ids_t *sub, const tcf_ids_t *set, unsigned *missing)
{
    size_t j = 0;
    for (size_t i = 0; i < sub->count; i++) {
        while (j < set->count && set->ids[j] < sub->ids[i])
            j++;
        if (j == set->count || set->ids[j] != sub->ids[i]) {
            *missing = sub->ids[i];
            return 0;
        }
    }
    return 1;
}

static int ids_overlap(const tcf_ids_t *a, const tcf_ids_t *b, unsigned *common)
{
    size_t i = 0, j = 0;
    while (i < a->count && j < b->count) {
        if (a->ids[i] == b->ids[j]) {
            *common = a->ids[i];
            return 1;
        }
        if (a->ids[i] < b->ids[j])
            i++;
        else
            j++;
    }
    return 0;
}

static int letters_valid(const char c[2])
{
    for (int i = 0; i < 2; i++)
        if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= 'A' && c[i] <= 'Z'))) return 0;
    return 1;
}

static int string_valid(const tcf_string_t *s, char *err, size_t errcap)
{
    if (s->version != 2) return fail(err, errcap, "version: %u, must be 2", s->version), 0;
    if (s->created_ds % 864000 != 0 || s->created_ds >= (UINT64_C(1) << 36))
        return fail(err, errcap, "created: not a whole UTC day in deciseconds (v2.2+)"), 0;
    if (s->last_updated_ds != s->created_ds)
        return fail(err, errcap, "last_updated: must equal created (v2.2+)"), 0;
    if (s->cmp_id < 2 || s->cmp_id > 4095)
        return fail(err, errcap, "cmp_id: %u, must be 2..4095", s->cmp_id), 0;
    if (s->cmp_version > 4095)
        return fail(err, errcap, "cmp_version: %u, must be 0..4095", s->cmp_version), 0;
    if (s->consent_screen > 63)
        return fail(err, errcap, "consent_screen: %u, must be 0..63", s->consent_screen), 0;
    if (!letters_valid(s->consent_language))
        return fail(err, errcap, "consent_language: not two letters"), 0;
    if (s->vendor_list_version < 1 || s->vendor_list_version > 4095)
        return fail(err, errcap, "vendor_list_version: %u, must be 1..4095",
                    s->vendor_list_version),
               0;
    if (s->policy_version < TCF_POLICY_VERSION_MIN || s->policy_version > 63)
        return fail(err, errcap, "policy_version: %u, must be %d..63", s->policy_version,
                    TCF_POLICY_VERSION_MIN),
               0;
    if (!s->is_service_specific)
        return fail(err, errcap, "is_service_specific: must be true (global strings are invalid)"),
               0;
    if (s->special_features >> TCF_SPECIAL_FEATURES_MAX)
        return fail(err, errcap, "special_features: IDs above %d", TCF_SPECIAL_FEATURES_MAX), 0;
    if (s->purposes_consent >> TCF_PURPOSES_MAX || s->purposes_li >> TCF_PURPOSES_MAX ||
        s->pub_purposes_consent >> TCF_PURPOSES_MAX || s->pub_purposes_li >> TCF_PURPOSES_MAX)
        return fail(err, errcap, "purposes: IDs above %d", TCF_PURPOSES_MAX), 0;
    if (s->purposes_li & TCF_PURPOSES_NO_LI)
        return fail(err, errcap,
                    "purposes_li: purposes 1, 3, 4, 5, 6 cannot rest on legitimate interest"),
               0;
    if (!letters_valid(s->publisher_cc))
        return fail(err, errcap, "publisher_cc: not two letters"), 0;
    if (!ids_valid(&s->vendor_consents, "vendor_consents", err, errcap) ||
        !ids_valid(&s->vendor_li, "vendor_li", err, errcap) ||
        !ids_valid(&s->disclosed_vendors, "disclosed_vendors", err, errcap))
        return 0;
    unsigned missing;
    if (!ids_subset(&s->vendor_consents, &s->disclosed_vendors, &missing))
        return fail(err, errcap, "vendor_consents: vendor %u was not disclosed", missing), 0;
    if (!ids_subset(&s->vendor_li, &s->disclosed_vendors, &missing))
        return fail(err, errcap, "vendor_li: vendor %u was not disclosed", missing), 0;
    if (s->restriction_count > TCF_RESTRICTIONS_MAX)
        return fail(err, errcap, "restrictions: %zu, at most %d", s->restriction_count,
                    TCF_RESTRICTIONS_MAX),
               0;
    if (s->restriction_count > 0 && s->restrictions == NULL)
        return fail(err, errcap, "restrictions: none for a count of %zu", s->restriction_count), 0;
    for (size_t i = 0; i < s->restriction_count; i++) {
        const tcf_restriction_t *r = &s->restrictions[i];
        char field[48];
        snprintf(field, sizeof(field), "restrictions[%zu].vendors", i);
        if (r->purpose < 1 || r->purpose > TCF_PURPOSES_MAX)
            return fail(err, errcap, "restrictions[%zu].purpose: %u, must be 1..%d", i, r->purpose,
                        TCF_PURPOSES_MAX),
                   0;
        if ((unsigned)r->type > TCF_RESTRICT_REQUIRE_LI)
            return fail(err, errcap, "restrictions[%zu].type: %u, must be 0..2", i,
                        (unsigned)r->type),
                   0;
        if (r->vendors.count == 0) return fail(err, errcap, "%s: empty", field), 0;
        if (!ids_valid(&r->vendors, field, err, errcap)) return 0;
        if (runs_of(&r->vendors, NULL) > TCF_RANGES_MAX)
            return fail(err, errcap, "%s: more than %d ranges", field, TCF_RANGES_MAX), 0;
        for (size_t j = 0; j < i; j++) {
            const tcf_restriction_t *q = &s->restrictions[j];
            if (q->purpose != r->purpose) continue;
            if (q->type == r->type)
                return fail(err, errcap, "restrictions[%zu]: purpose %u and type %u twice", i,
                            r->purpose, (unsigned)r->type),
                       0;
            unsigned common;
            if (ids_overlap(&q->vendors, &r->vendors, &common))
                return fail(err, errcap, "%s: vendor %u under two types for purpose %u", field,
                            common, r->purpose),
                       0;
        }
    }
    if (s->publisher_tc) {
        if (s->custom_purpose_count > TCF_CUSTOM_PURPOSES_MAX)
            return fail(err, errcap, "custom_purpose_count: %u, at most %d",
                        s->custom_purpose_count, TCF_CUSTOM_PURPOSES_MAX),
                   0;
        uint64_t all = s->custom_purpose_count == 64 ? UINT64_MAX
                                                     : (UINT64_C(1) << s->custom_purpose_count) - 1;
        if ((s->custom_consent | s->custom_li) & ~all)
            return fail(err, errcap, "custom purposes: IDs above custom_purpose_count %u",
                        s->custom_purpose_count),
                   0;
    }
    return 1;
}

/* ---- the bit writer -------------------------------------------------------- */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

typedef struct bits {
    char *out;
    size_t cap, pos; /* characters written */
    unsigned acc, nacc;
    size_t nbits; /* bits of the current segment */
    int overflow;
} bits_t;

static void put(bits_t *b, uint64_t value, unsigned width)
{
    while (width > 0) {
        width--;
        b->acc = (b->acc << 1) | (unsigned)((value >> width) & 1);
        b->nbits++;
        if (++b->nacc == 6) {
            if (b->pos + 1 < b->cap)
                b->out[b->pos++] = B64URL[b->acc];
            else
                b->overflow = 1;
            b->acc = 0;
            b->nacc = 0;
        }
    }
}

static void put_letters(bits_t *b, const char c[2])
{
    for (int i = 0; i < 2; i++)
        put(b, (unsigned)((c[i] | 0x20) - 'a'), 6);
}

/* A mask of n IDs, ID 1 first (left-most). */
static void put_mask(bits_t *b, uint64_t mask, unsigned n)
{
    for (unsigned id = 1; id <= n; id++)
        put(b, (mask >> (id - 1)) & 1, 1);
}

static void put_runs(bits_t *b, const tcf_ids_t *v)
{
    put(b, runs_of(v, NULL), 12);
    for (size_t i = 0; i < v->count;) {
        size_t j = i;
        while (j + 1 < v->count && v->ids[j + 1] == v->ids[j] + 1)
            j++;
        put(b, j > i, 1);
        put(b, v->ids[i], 16);
        if (j > i) put(b, v->ids[j], 16);
        i = j + 1;
    }
}

static void put_vendors(bits_t *b, const tcf_ids_t *v)
{
    int range;
    vendor_section_bits(v, &range);
    unsigned max = max_id(v);
    put(b, max, 16);
    put(b, (unsigned)range, 1);
    if (range) {
        put_runs(b, v);
        return;
    }
    size_t k = 0;
    for (unsigned id = 1; id <= max; id++) {
        int set = k < v->count && v->ids[k] == id;
        if (set) k++;
        put(b, (unsigned)set, 1);
    }
}

/* End a segment: zero bits to a multiple of 24. */
static void segment_end(bits_t *b)
{
    while (b->nbits % 24 != 0)
        put(b, 0, 1);
    b->nbits = 0;
}

static void put_dot(bits_t *b)
{
    if (b->pos + 1 < b->cap)
        b->out[b->pos++] = '.';
    else
        b->overflow = 1;
}

ssize_t tcf_encode(const tcf_string_t *s, char *out, size_t cap, tcf_status_t *status, char *err,
                   size_t errcap)
{
    tcf_status_t ignored;
    if (status == NULL) status = &ignored;
    if (!string_valid(s, err, errcap)) {
        *status = TCF_ERR_INPUT;
        return -1;
    }
    size_t need = tcf_encoded_max(s);
    if (out == NULL || cap < need) {
        *status = TCF_ERR_SPACE;
        fail(err, errcap, "output: %zu bytes, the bound is %zu", cap, need);
        return -1;
    }
    bits_t b = {.out = out, .cap = cap};
    put(&b, s->version, 6);
    put(&b, s->created_ds, 36);
    put(&b, s->last_updated_ds, 36);
    put(&b, s->cmp_id, 12);
    put(&b, s->cmp_version, 12);
    put(&b, s->consent_screen, 6);
    put_letters(&b, s->consent_language);
    put(&b, s->vendor_list_version, 12);
    put(&b, s->policy_version, 6);
    put(&b, s->is_service_specific, 1);
    put(&b, s->use_non_standard_texts, 1);
    put_mask(&b, s->special_features, TCF_SPECIAL_FEATURES_MAX);
    put_mask(&b, s->purposes_consent, TCF_PURPOSES_MAX);
    put_mask(&b, s->purposes_li, TCF_PURPOSES_MAX);
    put(&b, s->purpose_one_treatment, 1);
    put_letters(&b, s->publisher_cc);
    put_vendors(&b, &s->vendor_consents);
    put_vendors(&b, &s->vendor_li);
    put(&b, s->restriction_count, 12);
    for (size_t i = 0; i < s->restriction_count; i++) {
        put(&b, s->restrictions[i].purpose, 6);
        put(&b, (unsigned)s->restrictions[i].type, 2);
        put_runs(&b, &s->restrictions[i].vendors);
    }
    segment_end(&b);
    put_dot(&b);
    put(&b, SEGMENT_DISCLOSED, 3);
    put_vendors(&b, &s->disclosed_vendors);
    segment_end(&b);
    if (s->publisher_tc) {
        put_dot(&b);
        put(&b, SEGMENT_PUBLISHER_TC, 3);
        put_mask(&b, s->pub_purposes_consent, TCF_PURPOSES_MAX);
        put_mask(&b, s->pub_purposes_li, TCF_PURPOSES_MAX);
        put(&b, s->custom_purpose_count, 6);
        put_mask(&b, s->custom_consent, s->custom_purpose_count);
        put_mask(&b, s->custom_li, s->custom_purpose_count);
        segment_end(&b);
    }
    if (b.overflow) { /* the bound is wrong: a bug, not an input */
        abort();
    }
    out[b.pos] = '\0';
    *status = TCF_OK;
    return (ssize_t)b.pos;
}

/* ---- the choice ------------------------------------------------------------ */

/* A JSON number that is a plain non-negative integer <= max: its value, or -1. */
static long id_of(const json_scan_value_t *v, long max)
{
    if (v->type != JSON_SCAN_NUMBER || v->len == 0 || v->len > 6) return -1;
    long n = 0;
    for (size_t i = 0; i < v->len; i++) {
        char c = v->text[i];
        if (c < '0' || c > '9') return -1;
        n = n * 10 + (c - '0');
    }
    if (v->len > 1 && v->text[0] == '0') return -1;
    return n >= 1 && n <= max ? n : -1;
}

/* The next element of a validated array of IDs 1..max: 1 and *id, 0 after
 * the last, -1 when the element is not such an ID. json_scan walks object
 * members only, so the array's text is split on commas and blanks: a token
 * that is all digits is a number element; any other element (a string, an
 * object, a real, a negative number) yields a token that is not, and is
 * refused - it never needs to be told apart further. */
static int next_id(const json_scan_value_t *arr, size_t *pos, long max, long *id)
{
    const char *t = arr->text;
    size_t end = arr->len - 1; /* the closing ']' */
    size_t i = *pos == 0 ? 1 : *pos;
#define BLANK(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')
    while (i < end && (BLANK(t[i]) || t[i] == ','))
        i++;
    if (i >= end) return *pos = end, 0;
    size_t start = i;
    while (i < end && t[i] != ',' && !BLANK(t[i]))
        i++;
#undef BLANK
    *pos = i;
    json_scan_value_t n = {.type = JSON_SCAN_NUMBER, .text = t + start, .len = i - start};
    *id = id_of(&n, max);
    return *id < 0 ? -1 : 1;
}

/* An array of IDs 1..max (max <= 64) into a mask. */
static int parse_mask(const json_scan_value_t *v, const char *field, long max, uint64_t *mask,
                      char *err, size_t errcap)
{
    if (v->type != JSON_SCAN_ARRAY) return fail(err, errcap, "%s: not an array", field), 0;
    *mask = 0;
    size_t pos = 0, index = 0;
    long id;
    int rc;
    while ((rc = next_id(v, &pos, max, &id)) != 0) {
        if (rc < 0)
            return fail(err, errcap, "%s[%zu]: not an ID from 1 to %ld", field, index, max), 0;
        if (*mask & TCF_BIT64(id))
            return fail(err, errcap, "%s[%zu]: %ld twice", field, index, id), 0;
        *mask |= TCF_BIT64(id);
        index++;
    }
    return 1;
}

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* An array of vendor IDs into ids[] (TCF_SITE_VENDORS_MAX), sorted. */
static int parse_vendors(const json_scan_value_t *v, const char *field, uint16_t *ids,
                         size_t *count, char *err, size_t errcap)
{
    if (v->type != JSON_SCAN_ARRAY) return fail(err, errcap, "%s: not an array", field), 0;
    size_t pos = 0, n = 0;
    long id;
    int rc;
    while ((rc = next_id(v, &pos, TCF_VENDOR_ID_MAX, &id)) != 0) {
        if (rc < 0)
            return fail(err, errcap, "%s[%zu]: not a vendor ID from 1 to %d", field, n,
                        TCF_VENDOR_ID_MAX),
                   0;
        if (n == TCF_SITE_VENDORS_MAX)
            return fail(err, errcap, "%s: more than %d vendors", field, TCF_SITE_VENDORS_MAX), 0;
        ids[n++] = (uint16_t)id;
    }
    qsort(ids, n, sizeof(ids[0]), cmp_u16);
    for (size_t i = 1; i < n; i++)
        if (ids[i] == ids[i - 1]) return fail(err, errcap, "%s: vendor %u twice", field, ids[i]), 0;
    *count = n;
    return 1;
}

/* The members of an object, each a key of names[] at most once, each given
 * to its slot of vals[] (type JSON_SCAN_NULL when absent). */
static int members(const json_scan_value_t *obj, const char *field, const char *const *names,
                   size_t n, json_scan_value_t *vals, char *err, size_t errcap)
{
    if (obj->type != JSON_SCAN_OBJECT) return fail(err, errcap, "%s: not an object", field), 0;
    for (size_t i = 0; i < n; i++)
        vals[i].type = JSON_SCAN_NULL;
    size_t pos = 0;
    json_scan_value_t key, value;
    while (json_scan_member(obj, &pos, &key, &value)) {
        size_t i = 0;
        while (i < n && !json_scan_string_is(&key, names[i], strlen(names[i])))
            i++;
        if (i == n) {
            char k[40];
            ssize_t len = json_scan_string(&key, k, sizeof(k));
            if (len < 0 || memchr(k, 0, (size_t)len) != NULL) snprintf(k, sizeof(k), "(long)");
            return fail(err, errcap, "%s: unknown member \"%s\"", field, k), 0;
        }
        vals[i] = value; /* json_scan_parse refused duplicate keys */
    }
    return 1;
}

tcf_status_t tcf_choice_parse(const json_scan_value_t *tcf, tcf_choice_t *out, char *err,
                              size_t errcap)
{
    static const char *const top[] = {"purposes", "special_features", "vendors", "publisher"};
    static const char *const pv[] = {"consents", "legitimate_interests"};
    static const char *const pub[] = {"consents", "legitimate_interests", "custom_consents",
                                      "custom_legitimate_interests"};
    json_scan_value_t t[4], p[2], v[2], u[4];
    uint64_t m;
    memset(out, 0, offsetof(tcf_choice_t, vendor_consents));
    out->vendor_consent_count = out->vendor_li_count = 0;
    out->publisher = false;
    out->pub_purposes_consent = out->pub_purposes_li = 0;
    out->custom_consent = out->custom_li = 0;
    if (!members(tcf, "tcf", top, 4, t, err, errcap)) return TCF_ERR_INPUT;
    if (t[0].type != JSON_SCAN_NULL) {
        if (!members(&t[0], "tcf.purposes", pv, 2, p, err, errcap)) return TCF_ERR_INPUT;
        if (p[0].type != JSON_SCAN_NULL) {
            if (!parse_mask(&p[0], "tcf.purposes.consents", TCF_PURPOSES_MAX, &m, err, errcap))
                return TCF_ERR_INPUT;
            out->purposes_consent = (uint32_t)m;
        }
        if (p[1].type != JSON_SCAN_NULL) {
            if (!parse_mask(&p[1], "tcf.purposes.legitimate_interests", TCF_PURPOSES_MAX, &m, err,
                            errcap))
                return TCF_ERR_INPUT;
            out->purposes_li = (uint32_t)m;
        }
    }
    if (t[1].type != JSON_SCAN_NULL) {
        if (!parse_mask(&t[1], "tcf.special_features", TCF_SPECIAL_FEATURES_MAX, &m, err, errcap))
            return TCF_ERR_INPUT;
        out->special_features = (uint16_t)m;
    }
    if (t[2].type != JSON_SCAN_NULL) {
        if (!members(&t[2], "tcf.vendors", pv, 2, v, err, errcap)) return TCF_ERR_INPUT;
        if (v[0].type != JSON_SCAN_NULL &&
            !parse_vendors(&v[0], "tcf.vendors.consents", out->vendor_consents,
                           &out->vendor_consent_count, err, errcap))
            return TCF_ERR_INPUT;
        if (v[1].type != JSON_SCAN_NULL &&
            !parse_vendors(&v[1], "tcf.vendors.legitimate_interests", out->vendor_li,
                           &out->vendor_li_count, err, errcap))
            return TCF_ERR_INPUT;
    }
    if (t[3].type != JSON_SCAN_NULL) {
        static const char *const fields[] = {
            "tcf.publisher.consents", "tcf.publisher.legitimate_interests",
            "tcf.publisher.custom_consents", "tcf.publisher.custom_legitimate_interests"};
        static const long max[] = {TCF_PURPOSES_MAX, TCF_PURPOSES_MAX, TCF_CUSTOM_PURPOSES_MAX,
                                   TCF_CUSTOM_PURPOSES_MAX};
        if (!members(&t[3], "tcf.publisher", pub, 4, u, err, errcap)) return TCF_ERR_INPUT;
        out->publisher = true;
        uint64_t masks[4] = {0, 0, 0, 0};
        for (int i = 0; i < 4; i++)
            if (u[i].type != JSON_SCAN_NULL &&
                !parse_mask(&u[i], fields[i], max[i], &masks[i], err, errcap))
                return TCF_ERR_INPUT;
        out->pub_purposes_consent = (uint32_t)masks[0];
        out->pub_purposes_li = (uint32_t)masks[1];
        out->custom_consent = masks[2];
        out->custom_li = masks[3];
    }
    return TCF_OK;
}

/* ---- the site's rules ------------------------------------------------------- */

static const tcf_site_vendor_t *site_vendor(const tcf_site_rules_t *r, unsigned id)
{
    size_t lo = 0, hi = r->vendor_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->vendors[mid].id == id) return &r->vendors[mid];
        if (r->vendors[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int ids_has(const tcf_ids_t *v, unsigned id)
{
    size_t lo = 0, hi = v->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->ids[mid] == id) return 1;
        if (v->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Purposes the site's restrictions of `type` put this vendor under. */
static uint32_t restricted(const tcf_site_rules_t *r, unsigned id, tcf_restriction_type_t type)
{
    uint32_t m = 0;
    for (size_t i = 0; i < r->restriction_count; i++)
        if (r->restrictions[i].type == type && r->restrictions[i].purpose >= 1 &&
            r->restrictions[i].purpose <= TCF_PURPOSES_MAX &&
            ids_has(&r->restrictions[i].vendors, id))
            m |= TCF_BIT(r->restrictions[i].purpose);
    return m;
}

/* The lowest ID of a mask, for messages. */
static unsigned lowest(uint64_t m)
{
    unsigned id = 1;
    while (!(m & 1))
        m >>= 1, id++;
    return id;
}

/* Refuse vendors the site does not work with; drop those whose declarations
 * give the bit no meaning (consent: li = 0; LI: li = 1). */
static int vendors_held(const tcf_site_rules_t *r, uint16_t *ids, size_t *count, int li,
                        const char *field, char *err, size_t errcap)
{
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++) {
        const tcf_site_vendor_t *v = site_vendor(r, ids[i]);
        if (v == NULL)
            return fail(err, errcap, "%s: vendor %u is not a vendor of this site", field, ids[i]),
                   0;
        uint32_t basis = li ? v->li_purposes : v->purposes;
        uint32_t switched =
            li ? v->purposes & v->flexible_purposes & restricted(r, v->id, TCF_RESTRICT_REQUIRE_LI)
               : v->li_purposes & v->flexible_purposes &
                     restricted(r, v->id, TCF_RESTRICT_REQUIRE_CONSENT);
        int meaningful = basis != 0 || switched != 0 || (li && v->special_purposes != 0);
        if (meaningful) ids[kept++] = ids[i];
    }
    *count = kept;
    return 1;
}

tcf_status_t tcf_choice_apply(const tcf_site_rules_t *rules, tcf_choice_t *c, const char lang[2],
                              int64_t updated, uint16_t *disclosed, tcf_string_t *out, char *err,
                              size_t errcap)
{
    uint32_t extra;
    if (!letters_valid(lang)) return fail(err, errcap, "lang: not two letters"), TCF_ERR_INPUT;
    if (rules->vendor_count > TCF_SITE_VENDORS_MAX)
        return fail(err, errcap, "site: more than %d vendors", TCF_SITE_VENDORS_MAX), TCF_ERR_INPUT;
    if ((extra = c->purposes_consent & ~rules->purposes_consent) != 0)
        return fail(err, errcap, "tcf.purposes.consents: purpose %u is not asked for consent here",
                    lowest(extra)),
               TCF_ERR_REFUSED;
    if ((extra = c->purposes_li & TCF_PURPOSES_NO_LI) != 0)
        return fail(err, errcap,
                    "tcf.purposes.legitimate_interests: purpose %u cannot rest on legitimate "
                    "interest (TCF v2.2+)",
                    lowest(extra)),
               TCF_ERR_REFUSED;
    if ((extra = c->purposes_li & ~rules->purposes_li) != 0)
        return fail(err, errcap,
                    "tcf.purposes.legitimate_interests: purpose %u is not shown under legitimate "
                    "interest here",
                    lowest(extra)),
               TCF_ERR_REFUSED;
    if ((extra = c->special_features & ~rules->special_features) != 0)
        return fail(err, errcap, "tcf.special_features: special feature %u is not offered here",
                    lowest(extra)),
               TCF_ERR_REFUSED;
    if (c->publisher && !rules->publisher_tc)
        return fail(err, errcap, "tcf.publisher: this site has no publisher purposes"),
               TCF_ERR_REFUSED;
    if ((extra = c->pub_purposes_consent & ~rules->pub_purposes_consent) != 0)
        return fail(err, errcap,
                    "tcf.publisher.consents: purpose %u is not asked for consent by the publisher",
                    lowest(extra)),
               TCF_ERR_REFUSED;
    if ((extra = c->pub_purposes_li & ~rules->pub_purposes_li) != 0)
        return fail(err, errcap,
                    "tcf.publisher.legitimate_interests: purpose %u is not under the publisher's "
                    "legitimate interest",
                    lowest(extra)),
               TCF_ERR_REFUSED;
    if (c->custom_consent & ~rules->custom_consent)
        return fail(err, errcap,
                    "tcf.publisher.custom_consents: custom purpose %u is not asked for consent",
                    lowest(c->custom_consent & ~rules->custom_consent)),
               TCF_ERR_REFUSED;
    if (c->custom_li & ~rules->custom_li)
        return fail(err, errcap,
                    "tcf.publisher.custom_legitimate_interests: custom purpose %u is not under "
                    "legitimate interest",
                    lowest(c->custom_li & ~rules->custom_li)),
               TCF_ERR_REFUSED;
    if (!vendors_held(rules, c->vendor_consents, &c->vendor_consent_count, 0,
                      "tcf.vendors.consents", err, errcap) ||
        !vendors_held(rules, c->vendor_li, &c->vendor_li_count, 1,
                      "tcf.vendors.legitimate_interests", err, errcap))
        return TCF_ERR_REFUSED;
    /* A vendor declaring only special purposes has its LI bit whenever it
     * was disclosed (all of the site's vendors are): the visitor cannot
     * object to a special purpose. Merge them into the sorted LI set. */
    for (size_t i = 0; i < rules->vendor_count; i++) {
        const tcf_site_vendor_t *v = &rules->vendors[i];
        disclosed[i] = v->id;
        if (v->purposes != 0 || v->li_purposes != 0 || v->special_purposes == 0) continue;
        tcf_ids_t li = {c->vendor_li, c->vendor_li_count};
        if (ids_has(&li, v->id)) continue;
        size_t k = c->vendor_li_count;
        while (k > 0 && c->vendor_li[k - 1] > v->id) {
            c->vendor_li[k] = c->vendor_li[k - 1];
            k--;
        }
        c->vendor_li[k] = v->id;
        c->vendor_li_count++; /* <= vendor_count <= TCF_SITE_VENDORS_MAX: all are site vendors */
    }
    uint64_t day = tcf_day_deciseconds(updated);
    *out = (tcf_string_t){
        .version = 2,
        .created_ds = day,
        .last_updated_ds = day,
        .cmp_id = rules->cmp_id,
        .cmp_version = rules->cmp_version,
        .consent_screen = rules->consent_screen,
        .consent_language = {lang[0], lang[1]},
        .vendor_list_version = rules->vendor_list_version,
        .policy_version = rules->policy_version,
        .is_service_specific = true,
        .use_non_standard_texts = rules->use_non_standard_texts,
        .special_features = c->special_features,
        .purposes_consent = c->purposes_consent,
        .purposes_li = c->purposes_li,
        .purpose_one_treatment = rules->purpose_one_treatment,
        .publisher_cc = {rules->publisher_cc[0], rules->publisher_cc[1]},
        .vendor_consents = {c->vendor_consents, c->vendor_consent_count},
        .vendor_li = {c->vendor_li, c->vendor_li_count},
        .restrictions = rules->restrictions,
        .restriction_count = rules->restriction_count,
        .disclosed_vendors = {disclosed, rules->vendor_count},
        .publisher_tc = rules->publisher_tc,
        .pub_purposes_consent = c->pub_purposes_consent,
        .pub_purposes_li = c->pub_purposes_li,
        .custom_purpose_count = rules->custom_purpose_count,
        .custom_consent = c->custom_consent,
        .custom_li = c->custom_li,
    };
    return TCF_OK;
}

size_t tcf_choice_json_max(const tcf_site_rules_t *rules)
{
    size_t n = TCF_CHOICE_JSON_FIXED;
    for (size_t i = 0; i < rules->vendor_count; i++) {
        unsigned id = rules->vendors[i].id;
        size_t digits = id >= 10000 ? 5 : id >= 1000 ? 4 : id >= 100 ? 3 : id >= 10 ? 2 : 1;
        n += 2 * (digits + 1); /* the id and a comma, in each vendor list */
    }
    return n;
}
