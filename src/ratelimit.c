/*
 * ratelimit.c - per-client token buckets (see ratelimit.h).
 */
#include "ratelimit.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define RATELIMIT_WAYS 4 /* candidate slots per client */

typedef struct ratelimit_entry {
    uint64_t hash;    /* 0: free */
    uint64_t last_ms; /* last refill */
    double tokens;
} ratelimit_entry_t;

struct ratelimit {
    size_t mask;
    unsigned char key[crypto_shorthash_KEYBYTES];
    ratelimit_entry_t entries[];
};

ratelimit_t *ratelimit_create(size_t slots)
{
    if (slots < RATELIMIT_WAYS || (slots & (slots - 1)) != 0)
        return NULL;
    ratelimit_t *rl = calloc(1, sizeof(*rl) + slots * sizeof(ratelimit_entry_t));
    if (rl == NULL)
        return NULL;
    rl->mask = slots - 1;
    crypto_shorthash_keygen(rl->key);
    return rl;
}

void ratelimit_free(ratelimit_t *rl)
{
    if (rl != NULL)
        sodium_memzero(rl->key, sizeof(rl->key));
    free(rl);
}

static uint64_t ratelimit_hash(const ratelimit_t *rl, ratelimit_class_t klass, const void *addr,
                               size_t len)
{
    unsigned char in[1 + 64], out[crypto_shorthash_BYTES];
    if (len == 16)
        len = 8; /* IPv6: the /64 */
    if (len > sizeof(in) - 1)
        len = sizeof(in) - 1;
    in[0] = (unsigned char)klass;
    memcpy(in + 1, addr, len);
    crypto_shorthash(out, in, 1 + len, rl->key);
    uint64_t h;
    memcpy(&h, out, sizeof(h));
    return h | 1; /* never 0, the mark of a free slot */
}

uint32_t ratelimit_take(ratelimit_t *rl, ratelimit_class_t klass, const void *addr, size_t len,
                        uint32_t per_second, uint32_t burst, uint64_t now_ms)
{
    if (per_second == 0)
        return 0;
    uint64_t h = ratelimit_hash(rl, klass, addr, len);
    ratelimit_entry_t *e = NULL, *victim = NULL;
    for (size_t w = 0; w < RATELIMIT_WAYS; w++) {
        ratelimit_entry_t *c = &rl->entries[(h + w) & rl->mask];
        if (c->hash == h) {
            e = c;
            break;
        }
        /* a free slot, else the least recently used */
        if (c->hash == 0) {
            if (victim == NULL || victim->hash != 0)
                victim = c;
        } else if (victim == NULL || (victim->hash != 0 && c->last_ms < victim->last_ms)) {
            victim = c;
        }
    }
    if (e == NULL) {
        e = victim;
        e->hash = h;
        e->tokens = burst;
        e->last_ms = now_ms;
    } else if (now_ms > e->last_ms) {
        e->tokens += (double)(now_ms - e->last_ms) * per_second / 1000.0;
        if (e->tokens > burst)
            e->tokens = burst;
        e->last_ms = now_ms;
    }
    if (e->tokens >= 1.0) {
        e->tokens -= 1.0;
        return 0;
    }
    double wait = (1.0 - e->tokens) * 1000.0 / per_second;
    uint32_t ms = (uint32_t)wait;
    return ms < wait ? ms + 1 : (ms == 0 ? 1 : ms);
}
