/*
 * store_record.c - the msgpack encoding of a consent record (the layout is
 * specified in store_record.h).
 */
#include "store_record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

enum {
    FIELD_ID,
    FIELD_VIS,
    FIELD_IAT,
    FIELD_EXP,
    FIELD_PV,
    FIELD_TH,
    FIELD_SRC,
    FIELD_LANG,
    FIELD_VAR,
    FIELD_ACT,
    FIELD_DEC,
    FIELD_JWS,
    FIELD_LOG,
    FIELD_BV,
    FIELD_HOW,
    FIELD_COUNT
};

static const char *const store_field_names[FIELD_COUNT] = {"id",  "vis", "iat",  "exp", "pv",
                                                           "th",  "src", "lang", "var", "act",
                                                           "dec", "jws", "log",  "bv",  "how"};

#define FIELDS_REQUIRED                                                                            \
    (((1u << FIELD_COUNT) - 1) &                                                                   \
     ~((1u << FIELD_VAR) | (1u << FIELD_LOG) | (1u << FIELD_BV) | (1u << FIELD_HOW)))

/* The keys of the `how` map. */
#define STORE_HOW_CTL "ctl"
#define STORE_HOW_GPC "gpc"
#define STORE_HOW_TCF "tcf"
#define STORE_HOW_SV "sv"
#define STORE_HOW_SD "sd"
/* What `act` held before issue 19 for a withdrawal: read as "withdrawal". */
#define STORE_ACTION_LEGACY_WITHDRAWAL "withdraw"

int store_record_string_ok(const char *s, size_t max)
{
    return s != NULL && strlen(s) <= max;
}

static int store_pack_str(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    return msgpack_pack_str(pk, len) | msgpack_pack_str_body(pk, s, len);
}

static int store_pack_key_str(msgpack_packer *pk, int field, const char *s)
{
    return store_pack_str(pk, store_field_names[field]) | store_pack_str(pk, s);
}

static int store_pack_key_int(msgpack_packer *pk, int field, int64_t v)
{
    return store_pack_str(pk, store_field_names[field]) | msgpack_pack_int64(pk, v);
}

/* Encode rec (with its `log` key only when with_log and rec->log_id). The
 * bounds are those of the decoder: never write what we could not read. */
static char *store_record_pack(const store_record_t *rec, int with_log, size_t *len)
{
    const char *strs[] = {rec->consent_id, rec->visitor, rec->policy_version, rec->texts_hash,
                          rec->source,     rec->lang,    rec->action,         rec->proof};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (!store_record_string_ok(strs[i], STORE_RECORD_STRING_MAX)) return NULL;
    if ((rec->variant != NULL && !store_record_string_ok(rec->variant, STORE_RECORD_STRING_MAX)) ||
        (rec->banner_version != NULL &&
         !store_record_string_ok(rec->banner_version, STORE_RECORD_STRING_MAX)) ||
        (rec->control != NULL && !store_record_string_ok(rec->control, STORE_RECORD_STRING_MAX)) ||
        (rec->tc_string != NULL &&
         !store_record_string_ok(rec->tc_string, STORE_RECORD_STRING_MAX)) ||
        (rec->site_sha256 != NULL &&
         !store_record_string_ok(rec->site_sha256, STORE_RECORD_STRING_MAX)) ||
        (with_log && rec->log_id != NULL &&
         !store_record_string_ok(rec->log_id, STORE_RECORD_STRING_MAX)))
        return NULL;
    if (rec->issued_at_ms < 0 || rec->expires_at_ms < 0 || rec->n_decisions > SITE_MAX_PURPOSES)
        return NULL;
    for (size_t i = 0; i < rec->n_decisions; i++) {
        if (!store_record_string_ok(rec->purposes[i], STORE_RECORD_PURPOSE_ID_MAX)) return NULL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(rec->purposes[i], rec->purposes[j]) == 0) return NULL;
    }
    int with_var = rec->variant != NULL, with_bv = rec->banner_version != NULL;
    int with_how = rec->control != NULL || rec->gpc || rec->tc_string != NULL ||
                   rec->site_version > 0 || rec->site_sha256 != NULL;
    with_log = with_log && rec->log_id != NULL;

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = msgpack_pack_map(&pk, 11 + (size_t)with_var + (size_t)with_bv + (size_t)with_how +
                                       (size_t)with_log);
    rc |= store_pack_key_str(&pk, FIELD_ID, rec->consent_id);
    rc |= store_pack_key_str(&pk, FIELD_VIS, rec->visitor);
    rc |= store_pack_key_int(&pk, FIELD_IAT, rec->issued_at_ms);
    rc |= store_pack_key_int(&pk, FIELD_EXP, rec->expires_at_ms);
    rc |= store_pack_key_str(&pk, FIELD_PV, rec->policy_version);
    rc |= store_pack_key_str(&pk, FIELD_TH, rec->texts_hash);
    rc |= store_pack_key_str(&pk, FIELD_SRC, rec->source);
    rc |= store_pack_key_str(&pk, FIELD_LANG, rec->lang);
    if (with_var) rc |= store_pack_key_str(&pk, FIELD_VAR, rec->variant);
    if (with_bv) rc |= store_pack_key_str(&pk, FIELD_BV, rec->banner_version);
    rc |= store_pack_key_str(&pk, FIELD_ACT, rec->action);
    if (with_how) {
        rc |= store_pack_str(&pk, store_field_names[FIELD_HOW]);
        rc |= msgpack_pack_map(&pk, (size_t)(rec->control != NULL) + (size_t)(rec->gpc != 0) +
                                        (size_t)(rec->tc_string != NULL) +
                                        (size_t)(rec->site_version > 0) +
                                        (size_t)(rec->site_sha256 != NULL));
        if (rec->control != NULL)
            rc |= store_pack_str(&pk, STORE_HOW_CTL) | store_pack_str(&pk, rec->control);
        if (rec->gpc) rc |= store_pack_str(&pk, STORE_HOW_GPC) | msgpack_pack_true(&pk);
        if (rec->tc_string != NULL)
            rc |= store_pack_str(&pk, STORE_HOW_TCF) | store_pack_str(&pk, rec->tc_string);
        if (rec->site_version > 0)
            rc |= store_pack_str(&pk, STORE_HOW_SV) | msgpack_pack_uint64(&pk, rec->site_version);
        if (rec->site_sha256 != NULL)
            rc |= store_pack_str(&pk, STORE_HOW_SD) | store_pack_str(&pk, rec->site_sha256);
    }
    rc |= store_pack_str(&pk, store_field_names[FIELD_DEC]);
    rc |= msgpack_pack_map(&pk, rec->n_decisions);
    for (size_t i = 0; i < rec->n_decisions; i++) {
        rc |= store_pack_str(&pk, rec->purposes[i]);
        rc |= rec->granted[i] ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    }
    rc |= store_pack_key_str(&pk, FIELD_JWS, rec->proof);
    if (with_log) rc |= store_pack_key_str(&pk, FIELD_LOG, rec->log_id);
    if (rc != 0 || sb.data == NULL) {
        msgpack_sbuffer_destroy(&sb);
        return NULL;
    }
    *len = sb.size;
    return sb.data; /* malloc'd by msgpack_sbuffer_write: the caller free()s it */
}

char *store_record_encode(const store_record_t *rec, size_t *len)
{
    return rec == NULL || len == NULL ? NULL : store_record_pack(rec, 1, len);
}

/*
 * The decoder is written by hand rather than with msgpack_unpack_next:
 * msgpack-c allocates count * sizeof(msgpack_object) for an array or map
 * header before it knows the input holds that many elements (a 5-byte input
 * can ask for 96 GB), and it reports truncated input as CONTINUE. Here every
 * count and length is checked against the bytes that are left first.
 */
typedef struct store_reader {
    const unsigned char *p;
    const unsigned char *end;
} store_reader_t;

static size_t store_left(const store_reader_t *in)
{
    return (size_t)(in->end - in->p);
}

static int store_read_be(store_reader_t *in, size_t n, uint64_t *v)
{
    if (store_left(in) < n) return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | in->p[i];
    in->p += n;
    *v = x;
    return 0;
}

static int store_read_byte(store_reader_t *in, unsigned *b)
{
    if (store_left(in) < 1) return -1;
    *b = *in->p++;
    return 0;
}

static int store_read_map(store_reader_t *in, uint64_t *n)
{
    unsigned b;
    if (store_read_byte(in, &b) != 0) return -1;
    if ((b & 0xf0) == 0x80) {
        *n = b & 0x0f;
        return 0;
    }
    if (b == 0xde) return store_read_be(in, 2, n);
    if (b == 0xdf) return store_read_be(in, 4, n);
    return -1;
}

static int store_read_str(store_reader_t *in, const char **s, size_t *len)
{
    unsigned b;
    uint64_t n;
    if (store_read_byte(in, &b) != 0) return -1;
    if ((b & 0xe0) == 0xa0)
        n = b & 0x1f;
    else if (b < 0xd9 || b > 0xdb || store_read_be(in, (size_t)1 << (b - 0xd9), &n) != 0)
        return -1;
    if (n > store_left(in)) return -1;
    *s = (const char *)in->p;
    *len = (size_t)n;
    in->p += n;
    return 0;
}

/* A non-negative integer that fits int64_t. */
static int store_read_uint(store_reader_t *in, int64_t *v)
{
    unsigned b;
    uint64_t x;
    if (store_read_byte(in, &b) != 0) return -1;
    if (b <= 0x7f) {
        *v = b;
        return 0;
    }
    if (b >= 0xcc && b <= 0xcf) {
        if (store_read_be(in, (size_t)1 << (b - 0xcc), &x) != 0 || x > INT64_MAX) return -1;
    } else if (b >= 0xd0 && b <= 0xd3) {
        size_t n = (size_t)1 << (b - 0xd0);
        if (store_read_be(in, n, &x) != 0) return -1;
        if (n < 8 && (x >> (n * 8 - 1)) != 0) /* negative */
            return -1;
        if (n == 8 && x > INT64_MAX) return -1;
    } else {
        return -1;
    }
    *v = (int64_t)x;
    return 0;
}

static int store_read_bool(store_reader_t *in, unsigned char *v)
{
    unsigned b;
    if (store_read_byte(in, &b) != 0 || (b != 0xc2 && b != 0xc3)) return -1;
    *v = b == 0xc3;
    return 0;
}

/* Skip n bytes. */
static int store_skip_bytes(store_reader_t *in, uint64_t n)
{
    if (n > store_left(in)) return -1;
    in->p += n;
    return 0;
}

/* Skip a length of width bytes, then that many bytes (plus extra). */
static int store_skip_sized(store_reader_t *in, size_t width, uint64_t extra)
{
    uint64_t n;
    if (store_read_be(in, width, &n) != 0) return -1;
    return store_skip_bytes(in, n + extra);
}

static int store_skip(store_reader_t *in, int depth);

/* Skip n values. Each value takes at least one byte, so a count above the
 * bytes left is rejected before looping: the work is bounded by the input
 * length times STORE_RECORD_SKIP_DEPTH_MAX. */
static int store_skip_values(store_reader_t *in, uint64_t n, int depth)
{
    if (n > store_left(in)) return -1;
    for (uint64_t i = 0; i < n; i++)
        if (store_skip(in, depth + 1) != 0) return -1;
    return 0;
}

/* Skip one value of any type (an unknown key's). */
static int store_skip(store_reader_t *in, int depth)
{
    unsigned b;
    uint64_t n;
    if (depth > STORE_RECORD_SKIP_DEPTH_MAX || store_read_byte(in, &b) != 0) return -1;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0; /* fixint, nil, false, true */
    if (b >= 0x80 && b <= 0x8f) return store_skip_values(in, 2 * (uint64_t)(b & 0x0f), depth);
    if (b >= 0x90 && b <= 0x9f) return store_skip_values(in, b & 0x0f, depth);
    if (b >= 0xa0 && b <= 0xbf) return store_skip_bytes(in, b & 0x1f);
    if (b >= 0xc4 && b <= 0xc6) /* bin 8/16/32 */
        return store_skip_sized(in, (size_t)1 << (b - 0xc4), 0);
    if (b >= 0xc7 && b <= 0xc9) /* ext 8/16/32: length, type, data */
        return store_skip_sized(in, (size_t)1 << (b - 0xc7), 1);
    if (b == 0xca || b == 0xcb) /* float 32/64 */
        return store_skip_bytes(in, b == 0xca ? 4 : 8);
    if (b >= 0xcc && b <= 0xcf) /* uint 8..64 */
        return store_skip_bytes(in, (uint64_t)1 << (b - 0xcc));
    if (b >= 0xd0 && b <= 0xd3) /* int 8..64 */
        return store_skip_bytes(in, (uint64_t)1 << (b - 0xd0));
    if (b >= 0xd4 && b <= 0xd8) /* fixext 1..16: type, data */
        return store_skip_bytes(in, 1 + ((uint64_t)1 << (b - 0xd4)));
    if (b >= 0xd9 && b <= 0xdb) /* str 8/16/32 */
        return store_skip_sized(in, (size_t)1 << (b - 0xd9), 0);
    if (b == 0xdc || b == 0xdd) { /* array 16/32 */
        if (store_read_be(in, b == 0xdc ? 2 : 4, &n) != 0) return -1;
        return store_skip_values(in, n, depth);
    }
    if (b == 0xde || b == 0xdf) { /* map 16/32 */
        if (store_read_be(in, b == 0xde ? 2 : 4, &n) != 0) return -1;
        return store_skip_values(in, 2 * n, depth);
    }
    return -1; /* 0xc1: never used */
}

const char *store_record_strings_copy(store_record_strings_t *out, const char *s, size_t len,
                                      size_t max)
{
    if (len > max || len >= out->left || memchr(s, '\0', len) != NULL) return NULL;
    char *dst = out->p;
    memcpy(dst, s, len);
    dst[len] = '\0';
    out->p += len + 1;
    out->left -= len + 1;
    return dst;
}

static int store_read_string_field(store_reader_t *in, store_record_strings_t *out,
                                   const char **dst)
{
    const char *s;
    size_t len;
    if (store_read_str(in, &s, &len) != 0) return -1;
    *dst = store_record_strings_copy(out, s, len, STORE_RECORD_STRING_MAX);
    return *dst == NULL ? -1 : 0;
}

static int store_read_decisions(store_reader_t *in, store_record_strings_t *out,
                                store_record_t *rec)
{
    uint64_t n;
    if (store_read_map(in, &n) != 0 || n > SITE_MAX_PURPOSES || n * 2 > store_left(in)) return -1;
    for (size_t i = 0; i < (size_t)n; i++) {
        const char *s;
        size_t len;
        if (store_read_str(in, &s, &len) != 0 || len == 0) return -1;
        for (size_t j = 0; j < i; j++)
            if (strlen(rec->purposes[j]) == len && memcmp(rec->purposes[j], s, len) == 0)
                return -1; /* the same purpose twice */
        if ((rec->purposes[i] =
                 store_record_strings_copy(out, s, len, STORE_RECORD_PURPOSE_ID_MAX)) == NULL ||
            store_read_bool(in, &rec->granted[i]) != 0)
            return -1;
    }
    rec->n_decisions = (size_t)n;
    return 0;
}

/* The `how` map: ctl (str), gpc (bool), tcf (str), sv (int), sd (str); unknown keys skipped (a
 * later version may add some), at most STORE_RECORD_KEYS_MAX in all. */
static int store_read_how(store_reader_t *in, store_record_strings_t *out, store_record_t *rec)
{
    uint64_t n;
    int seen_gpc = 0;
    if (store_read_map(in, &n) != 0 || n > STORE_RECORD_KEYS_MAX || n * 2 > store_left(in))
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        const char *key;
        size_t klen;
        if (store_read_str(in, &key, &klen) != 0) return -1;
        if (klen == 3 && memcmp(key, STORE_HOW_CTL, 3) == 0) {
            if (rec->control != NULL || store_read_string_field(in, out, &rec->control) != 0)
                return -1;
        } else if (klen == 3 && memcmp(key, STORE_HOW_GPC, 3) == 0) {
            unsigned char on;
            if (seen_gpc++ || store_read_bool(in, &on) != 0) return -1;
            rec->gpc = on;
        } else if (klen == 3 && memcmp(key, STORE_HOW_TCF, 3) == 0) {
            if (rec->tc_string != NULL || store_read_string_field(in, out, &rec->tc_string) != 0)
                return -1;
        } else if (klen == 2 && memcmp(key, STORE_HOW_SV, 2) == 0) {
            int64_t v;
            if (rec->site_version != 0 || store_read_uint(in, &v) != 0 || v <= 0) return -1;
            rec->site_version = (uint64_t)v;
        } else if (klen == 2 && memcmp(key, STORE_HOW_SD, 2) == 0) {
            if (rec->site_sha256 != NULL ||
                store_read_string_field(in, out, &rec->site_sha256) != 0)
                return -1;
        } else if (store_skip(in, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

int store_record_decode(const char *buf, size_t len, store_record_t *rec, char *strings, size_t cap)
{
    if (buf == NULL || rec == NULL || strings == NULL) return -1;
    store_reader_t in = {(const unsigned char *)buf, (const unsigned char *)buf + len};
    store_record_strings_t out = {strings, cap};
    uint64_t n;
    unsigned seen = 0;
    memset(rec, 0, sizeof(*rec));
    if (store_read_map(&in, &n) != 0 || n > STORE_RECORD_KEYS_MAX || n * 2 > store_left(&in))
        goto fail;
    for (uint64_t i = 0; i < n; i++) {
        const char *key;
        size_t klen;
        int field = -1;
        if (store_read_str(&in, &key, &klen) != 0) goto fail;
        for (int f = 0; f < FIELD_COUNT; f++) {
            if (strlen(store_field_names[f]) == klen &&
                memcmp(store_field_names[f], key, klen) == 0) {
                field = f;
                break;
            }
        }
        if (field < 0) {
            if (store_skip(&in, 0) != 0) goto fail;
            continue;
        }
        if (seen & (1u << field)) goto fail; /* a key twice */
        seen |= 1u << field;
        int rc;
        switch (field) {
        case FIELD_ID:
            rc = store_read_string_field(&in, &out, &rec->consent_id);
            break;
        case FIELD_VIS:
            rc = store_read_string_field(&in, &out, &rec->visitor);
            break;
        case FIELD_IAT:
            rc = store_read_uint(&in, &rec->issued_at_ms);
            break;
        case FIELD_EXP:
            rc = store_read_uint(&in, &rec->expires_at_ms);
            break;
        case FIELD_PV:
            rc = store_read_string_field(&in, &out, &rec->policy_version);
            break;
        case FIELD_TH:
            rc = store_read_string_field(&in, &out, &rec->texts_hash);
            break;
        case FIELD_SRC:
            rc = store_read_string_field(&in, &out, &rec->source);
            break;
        case FIELD_LANG:
            rc = store_read_string_field(&in, &out, &rec->lang);
            break;
        case FIELD_VAR:
            if (store_left(&in) > 0 && *in.p == 0xc0) { /* nil: no variant */
                in.p++;
                rc = 0;
            } else {
                rc = store_read_string_field(&in, &out, &rec->variant);
            }
            break;
        case FIELD_ACT:
            rc = store_read_string_field(&in, &out, &rec->action);
            if (rc == 0 && strcmp(rec->action, STORE_ACTION_LEGACY_WITHDRAWAL) == 0)
                rec->action = STORE_ACTION_WITHDRAWAL;
            break;
        case FIELD_HOW:
            rc = store_read_how(&in, &out, rec);
            break;
        case FIELD_DEC:
            rc = store_read_decisions(&in, &out, rec);
            break;
        case FIELD_JWS:
            rc = store_read_string_field(&in, &out, &rec->proof);
            break;
        case FIELD_BV:
            rc = store_read_string_field(&in, &out, &rec->banner_version);
            break;
        default: /* FIELD_LOG */
            rc = store_read_string_field(&in, &out, &rec->log_id);
            break;
        }
        if (rc != 0) goto fail;
    }
    if (in.p != in.end || (seen & FIELDS_REQUIRED) != FIELDS_REQUIRED)
        goto fail; /* trailing bytes, or a field missing */
    return 0;
fail:
    memset(rec, 0, sizeof(*rec));
    return -1;
}
