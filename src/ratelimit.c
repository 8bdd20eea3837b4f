/*
 * ratelimit.c - per-client token buckets (see ratelimit.h).
 */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

/* 4 or 16 bytes into out from an IPv6 address: IPv4-mapped ones are IPv4. */
static size_t ratelimit_v6_key(const unsigned char a[16], unsigned char out[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0) {
        memcpy(out, a + 12, 4);
        return 4;
    }
    memcpy(out, a, 16);
    return 16;
}

size_t ratelimit_peer_key(const void *sockaddr, size_t socklen, unsigned char out[16],
                          int *loopback)
{
    const struct sockaddr *sa = sockaddr;
    *loopback = 0;
    if (socklen >= sizeof(struct sockaddr_in) && sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        *loopback = out[0] == 127;
        return 4;
    }
    if (socklen >= sizeof(struct sockaddr_in6) && sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        size_t len = ratelimit_v6_key(a->s6_addr, out);
        *loopback = len == 4 ? out[0] == 127 : IN6_IS_ADDR_LOOPBACK(a);
        return len;
    }
    return 0;
}

/* ":<port>" (1 to 5 digits, at most 65535) at s, len bytes: 1, else 0. */
static int ratelimit_is_port(const char *s, size_t len)
{
    if (len < 2 || len > 6 || s[0] != ':') return 0;
    unsigned port = 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        port = port * 10 + (unsigned)(s[i] - '0');
    }
    return port <= 65535;
}

size_t ratelimit_forwarded_key(const char *value, size_t len, unsigned char out[16])
{
    /* The right-most element, without optional whitespace (SP, HTAB). */
    size_t start = len;
    while (start > 0 && value[start - 1] != ',')
        start--;
    while (start < len && (value[start] == ' ' || value[start] == '\t'))
        start++;
    while (len > start && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    const char *e = value + start;
    size_t n = len - start;
    if (n == 0 || n > RATELIMIT_FORWARDED_MAX || memchr(e, '\0', n) != NULL) return 0;

    char text[RATELIMIT_FORWARDED_MAX + 1];
    unsigned char a[16];
    if (e[0] == '[') { /* "[v6]" or "[v6]:port" */
        const char *close = memchr(e, ']', n);
        if (close == NULL) return 0;
        size_t alen = (size_t)(close - e) - 1, rest = n - alen - 2;
        if (rest != 0 && !ratelimit_is_port(close + 1, rest)) return 0;
        memcpy(text, e + 1, alen);
        text[alen] = '\0';
        return inet_pton(AF_INET6, text, a) == 1 ? ratelimit_v6_key(a, out) : 0;
    }
    const char *colon = memchr(e, ':', n);
    if (colon != NULL && memchr(colon + 1, ':', n - (size_t)(colon - e) - 1) != NULL) {
        memcpy(text, e, n); /* two colons or more: a bare IPv6 address */
        text[n] = '\0';
        return inet_pton(AF_INET6, text, a) == 1 ? ratelimit_v6_key(a, out) : 0;
    }
    size_t alen = colon != NULL ? (size_t)(colon - e) : n; /* "v4" or "v4:port" */
    if (colon != NULL && !ratelimit_is_port(colon, n - alen)) return 0;
    memcpy(text, e, alen);
    text[alen] = '\0';
    return inet_pton(AF_INET, text, out) == 1 ? 4 : 0;
}

ratelimit_t *ratelimit_create(size_t slots)
{
    if (slots < RATELIMIT_WAYS || (slots & (slots - 1)) != 0) return NULL;
    ratelimit_t *rl = calloc(1, sizeof(*rl) + slots * sizeof(ratelimit_entry_t));
    if (rl == NULL) return NULL;
    rl->mask = slots - 1;
    crypto_shorthash_keygen(rl->key);
    return rl;
}

void ratelimit_free(ratelimit_t *rl)
{
    if (rl != NULL) sodium_memzero(rl->key, sizeof(rl->key));
    free(rl);
}

/* SipHash of (klass, addr) under key: never 0, the mark of a free slot. */
static uint64_t client_hash(const unsigned char *key, unsigned char klass, const void *addr,
                            size_t len)
{
    unsigned char in[1 + 64], out[crypto_shorthash_BYTES];
    if (len == 16) len = 8; /* IPv6: the /64 */
    if (len > sizeof(in) - 1) len = sizeof(in) - 1;
    in[0] = klass;
    memcpy(in + 1, addr, len);
    crypto_shorthash(out, in, 1 + len, key);
    uint64_t h;
    memcpy(&h, out, sizeof(h));
    return h | 1; /* never 0, the mark of a free slot */
}

uint32_t ratelimit_take(ratelimit_t *rl, ratelimit_class_t klass, const void *addr, size_t len,
                        uint32_t per_second, uint32_t burst, uint64_t now_ms)
{
    if (per_second == 0) return 0;
    uint64_t h = client_hash(rl->key, (unsigned char)klass, addr, len);
    ratelimit_entry_t *e = NULL, *victim = NULL;
    for (size_t w = 0; w < RATELIMIT_WAYS; w++) {
        ratelimit_entry_t *c = &rl->entries[(h + w) & rl->mask];
        if (c->hash == h) {
            e = c;
            break;
        }
        /* a free slot, else the least recently used */
        if (c->hash == 0) {
            if (victim == NULL || victim->hash != 0) victim = c;
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
        if (e->tokens > burst) e->tokens = burst;
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

/* ---- open connections per client ------------------------------------------ */

typedef struct conncount_entry {
    uint64_t hash; /* 0: free */
    uint32_t open;
} conncount_entry_t;

struct conncount {
    size_t mask;
    size_t used; /* clients with connections open */
    unsigned char key[crypto_shorthash_KEYBYTES];
    conncount_entry_t entries[];
};

conncount_t *conncount_create(size_t max_open)
{
    size_t slots = 16;
    while (slots < 2 * max_open) /* at most half full: short probes */
        slots *= 2;
    conncount_t *cc = calloc(1, sizeof(*cc) + slots * sizeof(conncount_entry_t));
    if (cc == NULL) return NULL;
    cc->mask = slots - 1;
    crypto_shorthash_keygen(cc->key);
    return cc;
}

void conncount_free(conncount_t *cc)
{
    if (cc != NULL) sodium_memzero(cc->key, sizeof(cc->key));
    free(cc);
}

int conncount_open(conncount_t *cc, const void *addr, size_t len, uint32_t limit, uint64_t *key)
{
    uint64_t h = client_hash(cc->key, 0, addr, len);
    size_t i = h & cc->mask;
    /* Linear probing; a run ends at a free slot (there always is one). */
    while (cc->entries[i].hash != 0 && cc->entries[i].hash != h)
        i = (i + 1) & cc->mask;
    conncount_entry_t *e = &cc->entries[i];
    *key = 0;
    if (e->hash == h) {
        if (e->open >= limit) return -1;
    } else if (cc->used + 1 > cc->mask / 2) {
        return 0; /* more clients than sized for (a stop accepts past the cap) */
    } else {
        e->hash = h;
        cc->used++;
    }
    e->open++;
    *key = h;
    return 0;
}

void conncount_close(conncount_t *cc, uint64_t key)
{
    if (key == 0) return;
    size_t i = key & cc->mask;
    while (cc->entries[i].hash != key) {
        if (cc->entries[i].hash == 0) return; /* not counted */
        i = (i + 1) & cc->mask;
    }
    if (--cc->entries[i].open > 0) return;
    cc->used--;
    /* Free the slot, moving back the entries of the run that it would
     * otherwise cut from their home slot (deletion without tombstones). */
    size_t hole = i;
    for (size_t j = (i + 1) & cc->mask; cc->entries[j].hash != 0; j = (j + 1) & cc->mask) {
        size_t home = cc->entries[j].hash & cc->mask;
        /* j may move to the hole when its home is not in (hole, j]. */
        if (((j - home) & cc->mask) >= ((j - hole) & cc->mask)) {
            cc->entries[hole] = cc->entries[j];
            hole = j;
        }
    }
    cc->entries[hole].hash = 0;
    cc->entries[hole].open = 0;
}
