/*
 * seal_fuzz.c - sealed consent log entries read back from Redis (seal_open)
 * and opened into a record (store_record_decode), as the audit export and
 * the access request do.
 *
 * Input: a 32-byte data key, one byte of partition, then the sealed bytes
 * (untrusted). Invariants: seal_open never reads past the input nor writes
 * past its output; bytes that do not open leave nothing; bytes sealed here
 * (the rest of the input as the plain text) open again to the same bytes
 * under the same site, partition and key, and not under another site, another
 * partition, another key or with any one byte changed.
 */
#include <sodium.h>
#include <string.h>

#include "fuzz.h"
#include "seal.h"
#include "store_record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FUZZ_ASSERT(sodium_init() >= 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < SEAL_KEY_BYTES + 1 || size > 64 * 1024) return 0;
    const unsigned char *key = data;
    unsigned partition = data[SEAL_KEY_BYTES] % 64;
    const unsigned char *sealed = data + SEAL_KEY_BYTES + 1;
    size_t len = size - SEAL_KEY_BYTES - 1;

    /* Exactly as large as store.c makes it: the sealed length. */
    unsigned char *plain = malloc(len + 1);
    size_t plain_len = 0;
    if (seal_open("demo", partition, key, sealed, len, plain, len, &plain_len) == 0) {
        /* Forging a tag is not expected from a fuzzer; if it happens the
         * plain text is still within bounds and decodes safely. */
        FUZZ_ASSERT(len >= SEAL_OVERHEAD && plain_len == len - SEAL_OVERHEAD);
        char *strings = malloc(plain_len + 1);
        store_record_t rec;
        (void)store_record_decode((const char *)plain, plain_len, &rec, strings, plain_len + 1);
        free(strings);
    }
    /* Too small an output is refused, never overrun. */
    if (len > SEAL_OVERHEAD)
        FUZZ_ASSERT(seal_open("demo", partition, key, sealed, len, plain, len - SEAL_OVERHEAD - 1,
                              &plain_len) != 0);

    /* Round trip: the rest of the input as the plain text. */
    unsigned char k[SEAL_KEY_BYTES];
    unsigned char *box = malloc(len + SEAL_OVERHEAD);
    size_t n = seal_entry("demo", partition, sealed, len, k, box, len + SEAL_OVERHEAD);
    FUZZ_ASSERT(n == len + SEAL_OVERHEAD && box[0] == SEAL_FORMAT);
    FUZZ_ASSERT(seal_open("demo", partition, k, box, n, plain, len, &plain_len) == 0);
    FUZZ_ASSERT(plain_len == len && memcmp(plain, sealed, len) == 0);
    FUZZ_ASSERT(seal_open("demo2", partition, k, box, n, plain, len, &plain_len) != 0);
    FUZZ_ASSERT(seal_open("demo", (partition + 1) % 64, k, box, n, plain, len, &plain_len) != 0);
    FUZZ_ASSERT(seal_open("demo", partition, key, box, n, plain, len, &plain_len) != 0 ||
                memcmp(key, k, SEAL_KEY_BYTES) == 0);
    size_t at = (size_t)data[0] * 257 % n;
    box[at] ^= (unsigned char)(1u << (data[1] % 8));
    FUZZ_ASSERT(seal_open("demo", partition, k, box, n, plain, len, &plain_len) != 0);
    free(box);
    free(plain);
    return 0;
}
