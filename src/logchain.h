/*
 * logchain.h - the hashes that make the consent log tamper-evident: pure
 * functions, no I/O, no allocation; safe on any thread.
 *
 * Every log partition (store.h: STORE_PARTITIONS streams per site) is a
 * hash chain, in the manner of Certificate Transparency's log (RFC 6962:
 * domain-separated leaf and node hashes), with a chain in place of a tree:
 *
 *   canonical(e) = u32be(len(id)) || id || for each field, value in stored
 *                  order: u32be(len(field)) || field || u32be(len(value)) || value
 *   leaf(e)      = SHA-256(0x00 || canonical(e))
 *   h_0          = SHA-256(0x02 || "consentd log v1" || 0x00 || site || 0x00 || p)
 *                  (p in decimal)
 *   h_k          = SHA-256(0x01 || h_{k-1} || leaf(e_k))
 *
 * where e_k is the partition's k-th entry in id order. The raw stored fields
 * are hashed, whatever they are named: the entry's number n (store.c), the
 * record, and whatever a later layout stores (ciphertext) are all covered.
 * ops/verify-log.sh computes the same without consentd's code; docs/data.md
 * states the same definition.
 */
#ifndef CONSENTD_LOGCHAIN_H
#define CONSENTD_LOGCHAIN_H

#include <stddef.h>
#include <stdint.h>

#define LOGCHAIN_HASH_BYTES 32
#define LOGCHAIN_HEX_LEN (2 * LOGCHAIN_HASH_BYTES) /* without the NUL */

typedef struct logchain_bytes {
    const char *p;
    size_t len;
} logchain_bytes_t;

/* The canonical encoding's length (fields: n_fields strings, alternately a
 * field's name and its value), or 0 when a length does not fit 32 bits. */
size_t logchain_canonical_len(const char *id, size_t id_len, const logchain_bytes_t *fields,
                              size_t n_fields);
/* Write the canonical encoding into out (cap >= logchain_canonical_len);
 * returns its length, 0 when it does not fit. */
size_t logchain_canonical(const char *id, size_t id_len, const logchain_bytes_t *fields,
                          size_t n_fields, unsigned char *out, size_t cap);
/* leaf = SHA-256(0x00 || canonical). */
void logchain_leaf(const unsigned char *canonical, size_t len,
                   unsigned char out[LOGCHAIN_HASH_BYTES]);
/* h_0 of a site's partition. */
void logchain_start(const char *site_id, unsigned partition,
                    unsigned char out[LOGCHAIN_HASH_BYTES]);
/* h_k from h_{k-1} and leaf_k (out may be prev). */
void logchain_next(const unsigned char prev[LOGCHAIN_HASH_BYTES],
                   const unsigned char leaf[LOGCHAIN_HASH_BYTES],
                   unsigned char out[LOGCHAIN_HASH_BYTES]);
/* Lowercase hex, NUL-terminated (out: LOGCHAIN_HEX_LEN + 1 bytes). */
void logchain_hex(const unsigned char h[LOGCHAIN_HASH_BYTES], char out[LOGCHAIN_HEX_LEN + 1]);
/* 0 and out when hex is exactly 64 hex digits, -1 otherwise. */
int logchain_unhex(const char *hex, size_t len, unsigned char out[LOGCHAIN_HASH_BYTES]);

#endif
