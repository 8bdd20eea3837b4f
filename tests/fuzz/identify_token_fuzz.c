/*
 * identify_token_fuzz.c - identify tokens (identify_token.h) as a browser
 * sends them, against a site whose identify key is the fixed key of seed
 * 0 (tests/fuzz/make_seeds.mjs signs its seeds with it).
 *
 * Input: the token (untrusted). Invariants: identify_token_verify never
 * reads past the token; only IDENTIFY_OK gives a user, of exactly
 * IDENTIFY_USER_HEX lowercase hex; a token that verifies verifies again to
 * the same user (pure). Then, with the input as the user id (sub): a token
 * signed here verifies to a user that depends on sub only; with any one
 * byte of it changed, or for another site, or expired, or signed by another
 * key, it does not.
 */
#include <jansson.h>
#include <sodium.h>
#include <string.h>

#include "fuzz.h"
#include "identify_token.h"

#define FUZZ_NOW 1796400000

static unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
static unsigned char other_pk[crypto_sign_PUBLICKEYBYTES], other_sk[crypto_sign_SECRETKEYBYTES];
static site_t site;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FUZZ_ASSERT(sodium_init() >= 0);
    unsigned char seed[crypto_sign_SEEDBYTES] = {0};
    crypto_sign_seed_keypair(pk, sk, seed);
    seed[0] = 1;
    crypto_sign_seed_keypair(other_pk, other_sk, seed);
    site.id = "demo";
    site.identify.enabled = 1;
    memcpy(site.identify.public_key, pk, sizeof(pk));
    site.identify.max_age_seconds = 3600;
    return 0;
}

static int user_ok(const char *user)
{
    return strlen(user) == IDENTIFY_USER_HEX &&
           strspn(user, "0123456789abcdef") == IDENTIFY_USER_HEX;
}

/* A token {sub, site_id, iat, exp} signed with key into out (NUL-ended);
 * its length, or 0 when sub is not a JSON string jansson takes. */
static size_t mint(const unsigned char *key, const char *sub, size_t sub_len, const char *site_id,
                   long long iat, long long exp, char *out, size_t cap)
{
    json_t *claims = json_pack("{s:s%,s:s,s:I,s:I}", "sub", sub, sub_len, "site", site_id, "iat",
                               (json_int_t)iat, "exp", (json_int_t)exp);
    if (claims == NULL) return 0;
    char *c = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    static const char head[] = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}";
    size_t c_len = strlen(c), n = 0;
    /* A sub of control characters is escaped six bytes each: a token that
     * does not fit in out is longer than any token consentd takes. */
    const int v = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    if (sodium_base64_ENCODED_LEN(sizeof(head) - 1, v) + sodium_base64_ENCODED_LEN(c_len, v) +
            sodium_base64_ENCODED_LEN(crypto_sign_BYTES, v) + 2 >
        cap) {
        free(c);
        return 0;
    }
    n += strlen(sodium_bin2base64(out, cap, (const unsigned char *)head, sizeof(head) - 1,
                                  sodium_base64_VARIANT_URLSAFE_NO_PADDING));
    out[n++] = '.';
    n += strlen(sodium_bin2base64(out + n, cap - n, (const unsigned char *)c, c_len,
                                  sodium_base64_VARIANT_URLSAFE_NO_PADDING));
    free(c);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)out, n, key);
    out[n++] = '.';
    n += strlen(sodium_bin2base64(out + n, cap - n, sig, sizeof(sig),
                                  sodium_base64_VARIANT_URLSAFE_NO_PADDING));
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * IDENTIFY_TOKEN_MAX) return 0;
    /* The input as a token, in a buffer of exactly its size. */
    char *token = malloc(size + 1);
    memcpy(token, data, size);
    char user[IDENTIFY_USER_HEX + 1] = {0}, again[IDENTIFY_USER_HEX + 1] = {0};
    identify_token_status_t st = identify_token_verify(&site, token, size, FUZZ_NOW, user);
    if (st == IDENTIFY_OK) {
        FUZZ_ASSERT(user_ok(user));
        FUZZ_ASSERT(identify_token_verify(&site, token, size, FUZZ_NOW, again) == IDENTIFY_OK);
        FUZZ_ASSERT(strcmp(user, again) == 0);
    }
    FUZZ_ASSERT(identify_token_status_http(st) >= 200 && identify_token_status_code(st) != NULL);
    free(token);

    /* Round trip, the input as sub (U+0000 is refused in a token's JSON,
     * as jansson reads it by default: such a sub is malformed). */
    if (size == 0 || size > IDENTIFY_SUB_MAX) return 0;
    if (memchr(data, 0, size) != NULL) return 0;
    /* Room for the longest sub escaped (6 bytes a character) in base64; the
     * round trip needs its variants below to stay within a token's bound. */
    char t[8 * IDENTIFY_SUB_MAX + 512];
    size_t n =
        mint(sk, (const char *)data, size, "demo", FUZZ_NOW - 10, FUZZ_NOW + 600, t, sizeof(t));
    if (n == 0) return 0;                      /* not UTF-8: jansson refuses it as a string */
    if (n > IDENTIFY_TOKEN_MAX - 64) return 0; /* its variants would exceed a token's bound */
    FUZZ_ASSERT(identify_token_verify(&site, t, n, FUZZ_NOW, user) == IDENTIFY_OK);
    FUZZ_ASSERT(user_ok(user));
    /* The same sub at another time: the same user. */
    size_t m = mint(sk, (const char *)data, size, "demo", FUZZ_NOW, FUZZ_NOW + 60, t, sizeof(t));
    FUZZ_ASSERT(identify_token_verify(&site, t, m, FUZZ_NOW, again) == IDENTIFY_OK);
    FUZZ_ASSERT(strcmp(user, again) == 0);
    /* One byte changed (not the last character's unused bits): refused. */
    size_t at = data[0] % (m - 1);
    char saved = t[at];
    t[at] = t[at] == 'A' ? 'B' : 'A';
    FUZZ_ASSERT(identify_token_verify(&site, t, m, FUZZ_NOW, again) != IDENTIFY_OK);
    t[at] = saved;
    m = mint(sk, (const char *)data, size, "other", FUZZ_NOW, FUZZ_NOW + 60, t, sizeof(t));
    FUZZ_ASSERT(identify_token_verify(&site, t, m, FUZZ_NOW, again) == IDENTIFY_SITE);
    m = mint(sk, (const char *)data, size, "demo", FUZZ_NOW - 700, FUZZ_NOW - 100, t, sizeof(t));
    FUZZ_ASSERT(identify_token_verify(&site, t, m, FUZZ_NOW, again) == IDENTIFY_EXPIRED);
    m = mint(other_sk, (const char *)data, size, "demo", FUZZ_NOW, FUZZ_NOW + 60, t, sizeof(t));
    FUZZ_ASSERT(identify_token_verify(&site, t, m, FUZZ_NOW, again) == IDENTIFY_SIGNATURE);
    return 0;
}
