/*
 * random.c - a per-thread pool of CSPRNG bytes (random.h). The same scheme as
 * the consent ids' pool in api/consent.c, which predates this module.
 */
#include "random.h"

#include <sodium.h>
#include <string.h>

static _Thread_local unsigned char random_pool[RANDOM_POOL_BYTES];
static _Thread_local size_t random_pool_left;

void random_bytes(void *out, size_t n)
{
    if (n > RANDOM_POOL_BYTES) {
        randombytes_buf(out, n);
        return;
    }
    if (random_pool_left < n) {
        randombytes_buf(random_pool, sizeof(random_pool));
        random_pool_left = sizeof(random_pool);
    }
    unsigned char *from = random_pool + sizeof(random_pool) - random_pool_left;
    memcpy(out, from, n);
    sodium_memzero(from, n);
    random_pool_left -= n;
}
