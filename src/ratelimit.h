/*
 * ratelimit.h - per-client token buckets for the write and event routes.
 *
 * One table per worker thread (no locks): each client, named by a keyed
 * hash of its address (SipHash-2-4 under a random per-process key: the
 * address itself is never stored), has a bucket per class that fills at
 * <per_second> tokens a second up to <burst>; a request takes one token or
 * is refused with the time until the next one. IPv6 clients are counted
 * per /64, the block one subscriber usually holds.
 *
 * The table has a fixed size: when a client is not in it, the least
 * recently used of a few candidate slots is taken over (that client starts
 * again with a full bucket). Memory is therefore bounded whatever the
 * number of addresses.
 */
#ifndef CONSENTD_RATELIMIT_H
#define CONSENTD_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_SLOTS 16384 /* per worker: about 400 KB */

typedef struct ratelimit ratelimit_t;

typedef enum { RATELIMIT_CONSENTS = 1, RATELIMIT_EVENTS = 2 } ratelimit_class_t;

/* The bytes that name a peer: its IPv4 address (4 bytes, also when it
 * comes IPv4-mapped) or IPv6 address (16) into out; *loopback set for
 * 127.0.0.0/8 and ::1. 0 for another family. */
size_t ratelimit_peer_key(const void *sockaddr, size_t socklen, unsigned char out[16],
                          int *loopback);

/*
 * The client a forwarding header names, keyed as ratelimit_peer_key keys a
 * peer: 4 bytes (IPv4, also IPv4-mapped) or 16 (IPv6, of which the /64
 * counts) into out; 0 when there is no address to take.
 *
 * value is the last X-Forwarded-For line as received (untrusted bytes):
 * each proxy appends the address it saw, so the right-most element is the
 * one the trusted proxy wrote, and everything before it is what the client
 * chose. That element, without the optional whitespace around it, must be
 * an address inet_pton parses: "192.0.2.1", "2001:db8::1", "[2001:db8::1]",
 * or with the port some proxies add, "192.0.2.1:443", "[2001:db8::1]:443"
 * (a port is ignored: one client, one bucket). Anything else ("unknown", a
 * name, an empty element, a zone id) is 0: the caller uses the peer.
 * Pure: tests and fuzzers call it.
 */
#define RATELIMIT_FORWARDED_MAX 64 /* longest element taken: "[v6]:port" fits */
size_t ratelimit_forwarded_key(const char *value, size_t len, unsigned char out[16]);

/* slots: a power of two; NULL on allocation failure. */
ratelimit_t *ratelimit_create(size_t slots);
void ratelimit_free(ratelimit_t *rl);

/* The key of an address, from ratelimit_peer_key or ratelimit_forwarded_key:
 * 4 bytes (IPv4) or 16 bytes (IPv6: only the first 8, the /64, count).
 * Returns 0 when the request may go on, else how many milliseconds until it
 * may (>= 1). */
uint32_t ratelimit_take(ratelimit_t *rl, ratelimit_class_t klass, const void *addr, size_t len,
                        uint32_t per_second, uint32_t burst, uint64_t now_ms);

/*
 * Open connections per client: the peer's address (4 bytes, or 16 of which
 * the /64 counts), under a keyed hash as above. Counts are exact: the table
 * (one per worker, no locks) holds at most max_open clients at once and is
 * sized for them, so nothing is ever evicted.
 */
typedef struct conncount conncount_t;

/* For at most max_open connections at once; NULL on allocation failure. */
conncount_t *conncount_create(size_t max_open);
void conncount_free(conncount_t *cc);

/* A connection of addr opens: 0 and its key (for conncount_close; 0 when
 * the table is full and it is not counted), or -1 when the client already
 * holds limit connections (then it is not counted). */
int conncount_open(conncount_t *cc, const void *addr, size_t len, uint32_t limit, uint64_t *key);
/* The connection of key closed. */
void conncount_close(conncount_t *cc, uint64_t key);

#endif
