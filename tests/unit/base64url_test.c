/*
 * base64url_test.c - src/base64url.c against libsodium's base64url (no
 * padding) on every length from 0 to 300 and random bytes, and the RFC 4648
 * test vectors.
 */
#include <sodium.h>

#include "base64url.h"
#include "check.h"

static int rfc_4648_vectors(void)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char out[16];
        size_t n = base64url_encode(out, (const unsigned char *)in[i], strlen(in[i]));
        out[n] = '\0';
        CHECK(n == BASE64URL_LEN(strlen(in[i])));
        CHECK_STR(out, want[i]);
    }
    unsigned char hi[] = {0xfb, 0xff, 0xbf}; /* the two characters base64url changes */
    char out[8];
    out[base64url_encode(out, hi, 3)] = '\0';
    CHECK_STR(out, "-_-_");
    return 0;
}

static int same_bytes_as_libsodium(void)
{
    unsigned char in[300];
    char ours[512], theirs[512];
    for (size_t len = 0; len <= sizeof(in); len++) {
        randombytes_buf(in, len);
        size_t n = base64url_encode(ours, in, len);
        sodium_bin2base64(theirs, sizeof(theirs), in, len,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        CHECK(n == BASE64URL_LEN(len) && n == strlen(theirs));
        CHECK(memcmp(ours, theirs, n) == 0);
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (sodium_init() < 0) return 1;
    RUN(rfc_4648_vectors);
    RUN(same_bytes_as_libsodium);
    return check_summary();
}
