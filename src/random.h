/*
 * random.h - random bytes for the request path, from the system CSPRNG
 * (libsodium's randombytes_buf: one getrandom() system call per call) drawn
 * a page at a time: one system call per RANDOM_POOL_BYTES handed out.
 *
 * Threads: the pool is per thread (thread-local), no lock. Each byte is
 * handed out once and wiped from the pool. sodium_init must have run.
 */
#ifndef CONSENTD_RANDOM_H
#define CONSENTD_RANDOM_H

#include <stddef.h>

#define RANDOM_POOL_BYTES 4096

/* n (<= RANDOM_POOL_BYTES) fresh random bytes into out. */
void random_bytes(void *out, size_t n);

#endif
