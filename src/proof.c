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

#include "base64url.h"
#include "strbuf.h"

/* Claims longer than this cannot fit: their base64url alone is PROOF_MAX. */
#define PROOF_CLAIMS_MAX (PROOF_MAX / 4 * 3)
#define PROOF_SIG_BYTES crypto_sign_BYTES
#define PROOF_SIG_B64_LEN BASE64URL_LEN(PROOF_SIG_BYTES)

/* One member: name_lit is `"name":` with its leading comma, if any; the
 * value a JSON string as json.h escapes them (valid UTF-8 kept, invalid
 * bytes U+FFFD), so the claims are always valid JSON. */
static void proof_put_member(strbuf_t *w, const char *name_lit, size_t name_len, const char *value)
{
    strbuf_put(w, name_lit, name_len);
    strbuf_json_str(w, value);
}

#define proof_member(w, lit, value) proof_put_member((w), (lit), sizeof(lit) - 1, (value))

/* The claims object, members in the order proof.h lists them. */
static void proof_claims_json(strbuf_t *w, const proof_claims_t *c)
{
    proof_member(w, "{\"iss\":", c->iss);
    proof_member(w, ",\"aud\":", c->aud);
    proof_member(w, ",\"sub\":", c->sub);
    proof_member(w, ",\"jti\":", c->jti);
    strbuf_lit(w, ",\"iat\":");
    strbuf_i64(w, c->iat);
    strbuf_lit(w, ",\"exp\":");
    strbuf_i64(w, c->exp);
    proof_member(w, ",\"pv\":", c->pv);
    proof_member(w, ",\"th\":", c->th);
    if (c->bv != NULL) proof_member(w, ",\"bv\":", c->bv);
    if (c->sv > 0) {
        strbuf_lit(w, ",\"sv\":");
        strbuf_i64(w, (int64_t)c->sv);
    }
    if (c->sd != NULL) proof_member(w, ",\"sd\":", c->sd);
    proof_member(w, ",\"src\":", c->src);
    proof_member(w, ",\"lang\":", c->lang);
    if (c->var != NULL) proof_member(w, ",\"var\":", c->var);
    proof_member(w, ",\"act\":", c->act);
    if (c->ctl != NULL) proof_member(w, ",\"ctl\":", c->ctl);
    if (c->gpc) strbuf_lit(w, ",\"gpc\":true");
    strbuf_lit(w, ",\"dec\":{");
    for (size_t i = 0; i < c->n_decisions; i++) {
        if (i > 0) strbuf_lit(w, ",");
        strbuf_json_str(w, c->purposes[i]);
        if (c->granted[i])
            strbuf_lit(w, ":true");
        else
            strbuf_lit(w, ":false");
    }
    strbuf_lit(w, "}");
    if (c->tc_string != NULL) {
        proof_member(w, ",\"tcf\":{\"tc_string\":", c->tc_string);
        strbuf_lit(w, ",\"vendor_list_version\":");
        strbuf_i64(w, c->vendor_list_version);
        strbuf_lit(w, "}");
    }
    strbuf_lit(w, "}");
}

static int proof_claims_complete(const proof_claims_t *c)
{
    if (c->iss == NULL || c->aud == NULL || c->sub == NULL || c->jti == NULL || c->pv == NULL ||
        c->th == NULL || c->src == NULL || c->lang == NULL || c->act == NULL)
        return 0;
    if (c->n_decisions > 0 && (c->purposes == NULL || c->granted == NULL)) return 0;
    for (size_t i = 0; i < c->n_decisions; i++)
        if (c->purposes[i] == NULL) return 0;
    return 1;
}

size_t proof_sign(const key_set_t *keys, const proof_claims_t *claims, char *out, size_t cap)
{
    char json[PROOF_CLAIMS_MAX];
    strbuf_t w;
    unsigned char sig[PROOF_SIG_BYTES];
    size_t hlen;
    const char *header = key_set_jws_header(keys, &hlen);
    /* out holds the JWS and its NUL; never more than PROOF_MAX in all. */
    size_t limit = cap < PROOF_MAX ? cap : PROOF_MAX;

    if (!proof_claims_complete(claims)) return 0;
    strbuf_init_fixed(&w, json, sizeof(json));
    proof_claims_json(&w, claims);
    if (strbuf_failed(&w)) return 0;
    size_t payload_len = BASE64URL_LEN(w.len);
    size_t signed_len = hlen + 1 + payload_len;
    size_t total = signed_len + 1 + PROOF_SIG_B64_LEN;
    if (total + 1 > limit) return 0;

    memcpy(out, header, hlen);
    out[hlen] = '.';
    base64url_encode(out + hlen + 1, (const unsigned char *)json, w.len);
    key_set_sign(keys, (const unsigned char *)out, signed_len, sig);
    out[signed_len] = '.';
    base64url_encode(out + signed_len + 1, sig, sizeof(sig));
    out[total] = '\0';
    return total;
}
