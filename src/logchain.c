/*
 * logchain.c - the consent log's leaf and chain hashes (logchain.h), over
 * libsodium's SHA-256.
 */
#include "logchain.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#define LOGCHAIN_START_LABEL "consentd log v1"

static void logchain_u32be(unsigned char *p, size_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

size_t logchain_canonical_len(const char *id, size_t id_len, const logchain_bytes_t *fields,
                              size_t n_fields)
{
    (void)id;
    if (id_len > UINT32_MAX) return 0;
    size_t total = 4 + id_len;
    for (size_t i = 0; i < n_fields; i++) {
        if (fields[i].len > UINT32_MAX || fields[i].len > SIZE_MAX - total - 4) return 0;
        total += 4 + fields[i].len;
    }
    return total;
}

size_t logchain_canonical(const char *id, size_t id_len, const logchain_bytes_t *fields,
                          size_t n_fields, unsigned char *out, size_t cap)
{
    size_t total = logchain_canonical_len(id, id_len, fields, n_fields);
    if (total == 0 || total > cap) return 0;
    unsigned char *w = out;
    logchain_u32be(w, id_len);
    memcpy(w + 4, id, id_len);
    w += 4 + id_len;
    for (size_t i = 0; i < n_fields; i++) {
        logchain_u32be(w, fields[i].len);
        if (fields[i].len > 0) memcpy(w + 4, fields[i].p, fields[i].len);
        w += 4 + fields[i].len;
    }
    return total;
}

void logchain_leaf(const unsigned char *canonical, size_t len,
                   unsigned char out[LOGCHAIN_HASH_BYTES])
{
    crypto_hash_sha256_state st;
    static const unsigned char tag = 0x00;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &tag, 1);
    crypto_hash_sha256_update(&st, canonical, len);
    crypto_hash_sha256_final(&st, out);
}

void logchain_start(const char *site_id, unsigned partition, unsigned char out[LOGCHAIN_HASH_BYTES])
{
    crypto_hash_sha256_state st;
    static const unsigned char tag = 0x02, zero = 0x00;
    char p[16];
    int n = snprintf(p, sizeof(p), "%u", partition);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &tag, 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)LOGCHAIN_START_LABEL,
                              sizeof(LOGCHAIN_START_LABEL) - 1);
    crypto_hash_sha256_update(&st, &zero, 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)site_id, strlen(site_id));
    crypto_hash_sha256_update(&st, &zero, 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)p, (size_t)n);
    crypto_hash_sha256_final(&st, out);
}

void logchain_next(const unsigned char prev[LOGCHAIN_HASH_BYTES],
                   const unsigned char leaf[LOGCHAIN_HASH_BYTES],
                   unsigned char out[LOGCHAIN_HASH_BYTES])
{
    unsigned char buf[1 + 2 * LOGCHAIN_HASH_BYTES];
    buf[0] = 0x01;
    memcpy(buf + 1, prev, LOGCHAIN_HASH_BYTES);
    memcpy(buf + 1 + LOGCHAIN_HASH_BYTES, leaf, LOGCHAIN_HASH_BYTES);
    crypto_hash_sha256(out, buf, sizeof(buf));
}

void logchain_hex(const unsigned char h[LOGCHAIN_HASH_BYTES], char out[LOGCHAIN_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < LOGCHAIN_HASH_BYTES; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 15];
    }
    out[LOGCHAIN_HEX_LEN] = '\0';
}

static int logchain_nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int logchain_unhex(const char *hex, size_t len, unsigned char out[LOGCHAIN_HASH_BYTES])
{
    if (len != LOGCHAIN_HEX_LEN) return -1;
    for (size_t i = 0; i < LOGCHAIN_HASH_BYTES; i++) {
        int hi = logchain_nibble(hex[2 * i]), lo = logchain_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}
