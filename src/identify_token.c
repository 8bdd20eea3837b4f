/*
 * identify_token.c - verify a site's identify token and name its user by a
 * pseudonym (identify_token.h says what is checked and why).
 */
#include "identify_token.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

/* A fixed context: the pseudonym is a keyed hash only in name (see identify_token.h). */
static const unsigned char identify_hash_context[] = "consentd identify user v1";

/* Decode one base64url part into out (cap bytes); -1 when malformed. */
static int identify_part(const char *s, size_t len, unsigned char *out, size_t cap, size_t *n)
{
    if (len == 0) return -1;
    return sodium_base642bin(out, cap, s, len, NULL, n, NULL,
                             sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static json_t *identify_object(const unsigned char *s, size_t len)
{
    json_t *o = json_loadb((const char *)s, len, JSON_REJECT_DUPLICATES, NULL);
    if (o != NULL && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

identify_token_status_t identify_token_verify(const site_t *site, const char *token, size_t len,
                                              int64_t now_s, char user[IDENTIFY_USER_HEX + 1])
{
    unsigned char head[256], claims[IDENTIFY_TOKEN_MAX], sig[crypto_sign_BYTES + 4];
    size_t head_len, claims_len, sig_len;
    if (site == NULL || !site->identify.enabled || token == NULL || len == 0 ||
        len > IDENTIFY_TOKEN_MAX)
        return IDENTIFY_MALFORMED;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 =
        dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        return IDENTIFY_MALFORMED;
    if (identify_part(token, (size_t)(dot1 - token), head, sizeof(head), &head_len) != 0 ||
        identify_part(dot1 + 1, (size_t)(dot2 - dot1 - 1), claims, sizeof(claims), &claims_len) !=
            0 ||
        identify_part(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig, sizeof(sig), &sig_len) !=
            0 ||
        sig_len != crypto_sign_BYTES)
        return IDENTIFY_MALFORMED;

    identify_token_status_t st = IDENTIFY_MALFORMED;
    json_t *h = identify_object(head, head_len), *c = identify_object(claims, claims_len);
    json_t *alg = json_object_get(h, "alg"), *sub = json_object_get(c, "sub"),
           *sid = json_object_get(c, "site"), *iat = json_object_get(c, "iat"),
           *exp = json_object_get(c, "exp");
    if (h == NULL || c == NULL || !json_is_string(alg) || !json_is_string(sub) ||
        json_string_length(sub) == 0 || json_string_length(sub) > IDENTIFY_SUB_MAX ||
        !json_is_string(sid) || !json_is_integer(iat) || !json_is_integer(exp))
        goto out;
    if (strcmp(json_string_value(alg), "EdDSA") != 0) {
        st = IDENTIFY_ALG;
        goto out;
    }
    /* The signing input is the first two parts as sent. */
    if (crypto_sign_verify_detached(sig, (const unsigned char *)token, (size_t)(dot2 - token),
                                    site->identify.public_key) != 0) {
        st = IDENTIFY_SIGNATURE;
        goto out;
    }
    if (strcmp(json_string_value(sid), site->id) != 0) {
        st = IDENTIFY_SITE;
        goto out;
    }
    json_int_t t_iat = json_integer_value(iat), t_exp = json_integer_value(exp);
    if (t_exp <= now_s) {
        st = IDENTIFY_EXPIRED;
        goto out;
    }
    if (t_iat > now_s + IDENTIFY_SKEW_S || t_exp < t_iat ||
        t_exp - t_iat > (json_int_t)site->identify.max_age_seconds) {
        st = IDENTIFY_TOO_LONG;
        goto out;
    }
    /* The pseudonym: BLAKE2b-128("site\0sub"), keyed with the context. */
    unsigned char out[IDENTIFY_USER_BYTES];
    crypto_generichash_state gs;
    crypto_generichash_init(&gs, identify_hash_context, sizeof(identify_hash_context) - 1,
                            sizeof(out));
    crypto_generichash_update(&gs, (const unsigned char *)site->id, strlen(site->id) + 1);
    crypto_generichash_update(&gs, (const unsigned char *)json_string_value(sub),
                              json_string_length(sub));
    crypto_generichash_final(&gs, out, sizeof(out));
    sodium_bin2hex(user, IDENTIFY_USER_HEX + 1, out, sizeof(out));
    st = IDENTIFY_OK;
out:
    json_decref(h);
    json_decref(c);
    return st;
}

static const struct {
    int http;
    const char *code, *message;
} identify_statuses[] = {
    [IDENTIFY_OK] = {200, "ok", "the token is valid"},
    [IDENTIFY_MALFORMED] = {401, "invalid_token",
                            "token must be a compact JWS (EdDSA) with sub, site, iat and exp"},
    [IDENTIFY_ALG] = {401, "invalid_token_alg", "the token's alg must be EdDSA"},
    [IDENTIFY_SIGNATURE] = {401, "invalid_token_signature",
                            "the token is not signed by the site's identify key"},
    [IDENTIFY_SITE] = {403, "token_wrong_site", "the token was issued for another site"},
    [IDENTIFY_EXPIRED] = {401, "token_expired", "the token has expired: mint a new one"},
    [IDENTIFY_TOO_LONG] = {401, "token_lifetime",
                           "the token lives longer than the site's identify.max_age_seconds, "
                           "or was issued in the future"},
};

const char *identify_token_status_code(identify_token_status_t st)
{
    return identify_statuses[st].code;
}

const char *identify_token_status_message(identify_token_status_t st)
{
    return identify_statuses[st].message;
}

int identify_token_status_http(identify_token_status_t st)
{
    return identify_statuses[st].http;
}
