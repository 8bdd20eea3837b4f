/*
 * seal.h - the sealed form of a consent log entry (crypto-erasure, issue 19):
 * what the site-wide log keeps about a visitor is readable only with a data
 * key that lives in the visitor's own keys (store.c's key layout); erasure
 * deletes that key and the entry stays as ciphertext nobody can open.
 *
 * Pure functions, no I/O, any thread (seal_entry draws its key and nonce
 * from random.h's per-thread pool of CSPRNG bytes; sodium_init must have run).
 *
 * THE SEALED BYTES (part of the on-disk format: the `c` field of a log entry):
 *
 *   offset  bytes  content
 *   0       1      SEAL_FORMAT (1)
 *   1       24     nonce, random (XChaCha20: random nonces are safe)
 *   25      n+16   XChaCha20-Poly1305-IETF of the record (msgpack, store_record.h)
 *                  under the entry's own data key, with its 16-byte tag
 *
 * The additional data binds the entry to where it lives: SEAL_FORMAT, the
 * site id's length (one byte) and bytes, the partition (one byte): sealed
 * bytes moved to another site's or partition's log do not open. The data
 * key (SEAL_KEY_BYTES, random, one per entry: two entries never share one,
 * so a nonce is never reused under a key) is the caller's to store beside the
 * visitor's keys.
 */
#ifndef CONSENTD_SEAL_H
#define CONSENTD_SEAL_H

#include <stddef.h>

#define SEAL_FORMAT 1
#define SEAL_KEY_BYTES 32
#define SEAL_NONCE_BYTES 24
#define SEAL_TAG_BYTES 16
#define SEAL_OVERHEAD (1 + SEAL_NONCE_BYTES + SEAL_TAG_BYTES)
#define SEAL_SITE_MAX 255 /* bytes of a site id in the additional data */
#define SEAL_PARTITION_MAX 255

/* Seal plain (len bytes) for site_id's partition: a fresh data key into key,
 * the sealed bytes (len + SEAL_OVERHEAD) into out of cap bytes. Returns the
 * sealed length, or 0 when an argument is out of bounds or out is too small. */
size_t seal_entry(const char *site_id, unsigned partition, const void *plain, size_t len,
                  unsigned char key[SEAL_KEY_BYTES], unsigned char *out, size_t cap);

/* Open sealed (len bytes, untrusted) of site_id's partition with key: the
 * plain bytes (len - SEAL_OVERHEAD) into out of cap bytes. Returns the plain
 * length in *plain_len and 0, or -1 when the bytes are not a sealed entry of
 * this format, site and partition under this key (too short, another format,
 * altered, another key), or out is too small. */
int seal_open(const char *site_id, unsigned partition, const unsigned char key[SEAL_KEY_BYTES],
              const unsigned char *sealed, size_t len, unsigned char *out, size_t cap,
              size_t *plain_len);

#endif
