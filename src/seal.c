/*
 * seal.c - sealed consent log entries: XChaCha20-Poly1305-IETF (libsodium)
 * under a fresh data key per entry. The format: seal.h.
 */
#include "seal.h"

#include <sodium.h>
#include <string.h>

#include "random.h"

#define SEAL_AD_MAX (1 + 1 + SEAL_SITE_MAX + 1)

/* The additional data: format, site id (length-prefixed), partition. 0 when
 * out of bounds. */
static size_t seal_ad(const char *site_id, unsigned partition, unsigned char ad[SEAL_AD_MAX])
{
    size_t n = site_id != NULL ? strlen(site_id) : 0;
    if (n == 0 || n > SEAL_SITE_MAX || partition > SEAL_PARTITION_MAX) return 0;
    ad[0] = SEAL_FORMAT;
    ad[1] = (unsigned char)n;
    memcpy(ad + 2, site_id, n);
    ad[2 + n] = (unsigned char)partition;
    return n + 3;
}

size_t seal_entry(const char *site_id, unsigned partition, const void *plain, size_t len,
                  unsigned char key[SEAL_KEY_BYTES], unsigned char *out, size_t cap)
{
    unsigned char ad[SEAL_AD_MAX];
    size_t ad_len = seal_ad(site_id, partition, ad);
    unsigned long long clen;
    if (ad_len == 0 || plain == NULL || out == NULL || len > cap || cap - len < SEAL_OVERHEAD)
        return 0;
    /* Key and nonce from the per-thread pool (random.h): no system call per
     * consent. */
    unsigned char fresh[SEAL_KEY_BYTES + SEAL_NONCE_BYTES];
    random_bytes(fresh, sizeof(fresh));
    memcpy(key, fresh, SEAL_KEY_BYTES);
    out[0] = SEAL_FORMAT;
    memcpy(out + 1, fresh + SEAL_KEY_BYTES, SEAL_NONCE_BYTES);
    sodium_memzero(fresh, sizeof(fresh));
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + SEAL_NONCE_BYTES, &clen, plain, len,
                                                   ad, ad_len, NULL, out + 1, key) != 0)
        return 0;
    return 1 + SEAL_NONCE_BYTES + (size_t)clen;
}

int seal_open(const char *site_id, unsigned partition, const unsigned char key[SEAL_KEY_BYTES],
              const unsigned char *sealed, size_t len, unsigned char *out, size_t cap,
              size_t *plain_len)
{
    unsigned char ad[SEAL_AD_MAX];
    size_t ad_len = seal_ad(site_id, partition, ad);
    unsigned long long mlen;
    if (ad_len == 0 || key == NULL || sealed == NULL || out == NULL || len < SEAL_OVERHEAD ||
        sealed[0] != SEAL_FORMAT || cap < len - SEAL_OVERHEAD)
        return -1;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, sealed + 1 + SEAL_NONCE_BYTES,
                                                   len - 1 - SEAL_NONCE_BYTES, ad, ad_len,
                                                   sealed + 1, key) != 0)
        return -1;
    *plain_len = (size_t)mlen;
    return 0;
}
