/*
 * seal_test.c - src/seal.c: a sealed log entry opens under its own key,
 * site and partition only, to the same bytes; any changed byte, another
 * key, site, partition or format, or a short buffer is refused; every entry
 * gets its own key and nonce.
 */
#include <sodium.h>

#include "check.h"
#include "seal.h"

static const char plain[] = "\x82\xa2id\xa6"
                            "abcdef\xa3vis\xa9"
                            "visitor-1";

static int sealed_entry_opens_to_the_same_bytes(void)
{
    unsigned char key[SEAL_KEY_BYTES], box[128], out[128];
    size_t n = seal_entry("demo", 7, plain, sizeof(plain) - 1, key, box, sizeof(box)), got = 0;
    CHECK(n == sizeof(plain) - 1 + SEAL_OVERHEAD);
    CHECK(box[0] == SEAL_FORMAT);
    CHECK(memmem(box, n, "visitor-1", 9) == NULL); /* nothing readable */
    CHECK(seal_open("demo", 7, key, box, n, out, sizeof(out), &got) == 0);
    CHECK(got == sizeof(plain) - 1 && memcmp(out, plain, got) == 0);
    /* Exactly the plain length suffices; one byte less does not. */
    CHECK(seal_open("demo", 7, key, box, n, out, got, &got) == 0);
    CHECK(seal_open("demo", 7, key, box, n, out, got - 1, &got) == -1);
    return 0;
}

static int sealed_entry_opens_nowhere_else(void)
{
    unsigned char key[SEAL_KEY_BYTES], other[SEAL_KEY_BYTES], box[128], out[128];
    size_t got, n = seal_entry("demo", 7, plain, sizeof(plain) - 1, key, box, sizeof(box));
    CHECK(n > 0);
    memcpy(other, key, sizeof(key));
    other[31] ^= 1;
    CHECK(seal_open("demo", 7, other, box, n, out, sizeof(out), &got) == -1);
    CHECK(seal_open("demo", 8, key, box, n, out, sizeof(out), &got) == -1);
    CHECK(seal_open("demox", 7, key, box, n, out, sizeof(out), &got) == -1);
    CHECK(seal_open("demo", 7, key, box, n - 1, out, sizeof(out), &got) == -1);
    CHECK(seal_open("demo", 7, key, box, SEAL_OVERHEAD - 1, out, sizeof(out), &got) == -1);
    for (size_t i = 0; i < n; i++) {
        box[i] ^= 0x20;
        CHECK(seal_open("demo", 7, key, box, n, out, sizeof(out), &got) == -1);
        box[i] ^= 0x20;
    }
    CHECK(seal_open("demo", 7, key, box, n, out, sizeof(out), &got) == 0);
    return 0;
}

static int every_entry_has_its_own_key_and_nonce(void)
{
    unsigned char k1[SEAL_KEY_BYTES], k2[SEAL_KEY_BYTES], b1[128], b2[128];
    size_t n1 = seal_entry("demo", 0, plain, sizeof(plain) - 1, k1, b1, sizeof(b1));
    size_t n2 = seal_entry("demo", 0, plain, sizeof(plain) - 1, k2, b2, sizeof(b2));
    CHECK(n1 == n2 && n1 > 0);
    CHECK(memcmp(k1, k2, SEAL_KEY_BYTES) != 0);
    CHECK(memcmp(b1 + 1, b2 + 1, SEAL_NONCE_BYTES) != 0);
    CHECK(memcmp(b1, b2, n1) != 0);
    return 0;
}

static int out_of_bounds_arguments_are_refused(void)
{
    unsigned char key[SEAL_KEY_BYTES], box[128];
    char site[SEAL_SITE_MAX + 2];
    memset(site, 'a', sizeof(site) - 1);
    site[sizeof(site) - 1] = '\0';
    CHECK(seal_entry(site, 0, plain, 4, key, box, sizeof(box)) == 0);
    CHECK(seal_entry("", 0, plain, 4, key, box, sizeof(box)) == 0);
    CHECK(seal_entry("demo", SEAL_PARTITION_MAX + 1, plain, 4, key, box, sizeof(box)) == 0);
    CHECK(seal_entry("demo", 0, plain, 4, key, box, 4 + SEAL_OVERHEAD - 1) == 0);
    CHECK(seal_entry("demo", 0, plain, 4, key, box, 4 + SEAL_OVERHEAD) == 4 + SEAL_OVERHEAD);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (sodium_init() < 0) return 1;
    RUN(sealed_entry_opens_to_the_same_bytes);
    RUN(sealed_entry_opens_nowhere_else);
    RUN(every_entry_has_its_own_key_and_nonce);
    RUN(out_of_bounds_arguments_are_refused);
    return check_summary();
}
