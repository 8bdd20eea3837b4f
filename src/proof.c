/*
 * proof.c - sign a consent's claims as a compact JWS (EdDSA, Ed25519).
 *
 * This runs on the event loop for every consent, so it allocates nothing
 * and uses no JSON library: the claims are written by hand into a stack
 * buffer, then out is laid out as
 *
 *   BASE64URL(header) '.' BASE64URL(claims) '.' BASE64URL(signature) NUL
 *
 * where the header comes prebuilt with the key set (keys.c) and the
 * signature covers the first two parts exactly as they stand in out
 * (RFC 7515 section 5.1), so nothing is copied to be signed.
 */
#include "proof.h"

#include <string.h>

#include <sodium.h>

#define PROOF_B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
/* Claims longer than this cannot fit: their base64url alone is PROOF_MAX. */
#define PROOF_CLAIMS_MAX (PROOF_MAX / 4 * 3)
#define PROOF_SIG_BYTES crypto_sign_BYTES
#define PROOF_SIG_B64_LEN (sodium_base64_ENCODED_LEN(PROOF_SIG_BYTES, PROOF_B64) - 1)

/* Appends into a fixed buffer; once something does not fit, full sticks
 * and everything after is dropped. */
typedef struct proof_writer {
    char *buf;
    size_t len, cap;
    int full;
} proof_writer_t;

static void proof_put(proof_writer_t *w, const char *s, size_t n)
{
    if (w->full || n > w->cap - w->len) {
        w->full = 1;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

#define proof_put_lit(w, lit) proof_put((w), (lit), sizeof(lit) - 1)

static void proof_put_int(proof_writer_t *w, int64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) tmp[--i] = '-';
    proof_put(w, tmp + i, sizeof(tmp) - i);
}

/* Length of the valid UTF-8 sequence (2..4 bytes) at s, or 0 if invalid:
 * overlong forms, surrogates and code points above U+10FFFF are invalid. */
static size_t proof_utf8_len(const unsigned char *s)
{
    unsigned c = s[0], cp, min;
    size_t n;
    if ((c & 0xe0) == 0xc0)
        n = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        n = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) { /* stops at the NUL terminator */
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

/* A JSON string: quotes, backslashes and control characters escaped, valid
 * UTF-8 copied as is, every invalid byte replaced by U+FFFD so the claims
 * are always valid JSON (the stored record's JSON does the same). */
static void proof_put_string(proof_writer_t *w, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    proof_put_lit(w, "\"");
    while (*s != '\0' && !w->full) {
        const unsigned char *run = s;
        while (*s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
            s++;
        proof_put(w, (const char *)run, (size_t)(s - run));
        if (*s == '\0') break;
        if (*s == '"' || *s == '\\') {
            char esc[2] = {'\\', (char)*s};
            proof_put(w, esc, 2);
            s++;
        } else if (*s < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[*s >> 4], hex[*s & 0xf]};
            switch (*s) {
            case '\n':
                proof_put_lit(w, "\\n");
                break;
            case '\r':
                proof_put_lit(w, "\\r");
                break;
            case '\t':
                proof_put_lit(w, "\\t");
                break;
            default:
                proof_put(w, esc, sizeof(esc));
            }
            s++;
        } else {
            size_t n = proof_utf8_len(s);
            if (n == 0) {
                proof_put_lit(w, "\\ufffd");
                s++;
            } else {
                proof_put(w, (const char *)s, n);
                s += n;
            }
        }
    }
    proof_put_lit(w, "\"");
}

/* One member: name_lit is `"name":` with its leading comma, if any. */
static void proof_put_member(proof_writer_t *w, const char *name_lit, size_t name_len,
                             const char *value)
{
    proof_put(w, name_lit, name_len);
    proof_put_string(w, value);
}

#define proof_member(w, lit, value) proof_put_member((w), (lit), sizeof(lit) - 1, (value))

/* The claims object, members in the order proof.h lists them. */
static void proof_claims_json(proof_writer_t *w, const proof_claims_t *c)
{
    proof_member(w, "{\"iss\":", c->iss);
    proof_member(w, ",\"aud\":", c->aud);
    proof_member(w, ",\"sub\":", c->sub);
    proof_member(w, ",\"jti\":", c->jti);
    proof_put_lit(w, ",\"iat\":");
    proof_put_int(w, c->iat);
    proof_put_lit(w, ",\"exp\":");
    proof_put_int(w, c->exp);
    proof_member(w, ",\"pv\":", c->pv);
    proof_member(w, ",\"th\":", c->th);
    if (c->bv != NULL) proof_member(w, ",\"bv\":", c->bv);
    proof_member(w, ",\"src\":", c->src);
    proof_member(w, ",\"lang\":", c->lang);
    if (c->var != NULL) proof_member(w, ",\"var\":", c->var);
    proof_put_lit(w, ",\"dec\":{");
    for (size_t i = 0; i < c->n_decisions; i++) {
        if (i > 0) proof_put_lit(w, ",");
        proof_put_string(w, c->purposes[i]);
        if (c->granted[i])
            proof_put_lit(w, ":true");
        else
            proof_put_lit(w, ":false");
    }
    proof_put_lit(w, "}}");
}

static int proof_claims_complete(const proof_claims_t *c)
{
    if (c->iss == NULL || c->aud == NULL || c->sub == NULL || c->jti == NULL || c->pv == NULL ||
        c->th == NULL || c->src == NULL || c->lang == NULL)
        return 0;
    if (c->n_decisions > 0 && (c->purposes == NULL || c->granted == NULL)) return 0;
    for (size_t i = 0; i < c->n_decisions; i++)
        if (c->purposes[i] == NULL) return 0;
    return 1;
}

size_t proof_sign(const key_set_t *keys, const proof_claims_t *claims, char *out, size_t cap)
{
    char json[PROOF_CLAIMS_MAX];
    proof_writer_t w = {.buf = json, .cap = sizeof(json)};
    unsigned char sig[PROOF_SIG_BYTES];
    size_t hlen;
    const char *header = key_set_jws_header(keys, &hlen);
    /* out holds the JWS and its NUL; never more than PROOF_MAX in all. */
    size_t limit = cap < PROOF_MAX ? cap : PROOF_MAX;

    if (!proof_claims_complete(claims)) return 0;
    proof_claims_json(&w, claims);
    if (w.full) return 0;
    size_t payload_len = sodium_base64_ENCODED_LEN(w.len, PROOF_B64) - 1;
    size_t signed_len = hlen + 1 + payload_len;
    size_t total = signed_len + 1 + PROOF_SIG_B64_LEN;
    if (total + 1 > limit) return 0;

    memcpy(out, header, hlen);
    out[hlen] = '.';
    sodium_bin2base64(out + hlen + 1, limit - hlen - 1, (const unsigned char *)json, w.len,
                      PROOF_B64);
    key_set_sign(keys, (const unsigned char *)out, signed_len, sig);
    out[signed_len] = '.';
    sodium_bin2base64(out + signed_len + 1, limit - signed_len - 1, sig, sizeof(sig), PROOF_B64);
    return total;
}
