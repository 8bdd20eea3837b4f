/*
 * ratelimit_test.c - the token buckets of src/ratelimit.c: a burst then
 * refusals with the right wait, refill over time, clients and classes
 * apart, IPv6 counted per /64, and a full table that stays bounded; the
 * exact count of open connections per client; the client address of an
 * X-Forwarded-For line (right-most, parsed, grouped like a peer's).
 */
#include "check.h"
#include "ratelimit.h"

static int a_burst_passes_then_requests_wait_for_the_next_token(void)
{
    ratelimit_t *rl = ratelimit_create(1024);
    CHECK(rl != NULL);
    const unsigned char ip[4] = {192, 0, 2, 1};
    uint64_t t = 1000000;
    int ok = 1;
    for (int i = 0; i < 5; i++)
        ok = ok && ratelimit_take(rl, RATELIMIT_CONSENTS, ip, 4, 2, 5, t) == 0;
    /* 2 tokens a second: the next one in 500 ms */
    uint32_t wait = ratelimit_take(rl, RATELIMIT_CONSENTS, ip, 4, 2, 5, t);
    uint32_t later = ratelimit_take(rl, RATELIMIT_CONSENTS, ip, 4, 2, 5, t + 200);
    uint32_t refilled = ratelimit_take(rl, RATELIMIT_CONSENTS, ip, 4, 2, 5, t + 500);
    uint32_t again = ratelimit_take(rl, RATELIMIT_CONSENTS, ip, 4, 2, 5, t + 500);
    /* a long pause fills the bucket to the burst, no more */
    int after_pause = 0;
    for (int i = 0; i < 10; i++)
        after_pause += ratelimit_take(rl, RATELIMIT_CONSENTS, ip, 4, 2, 5, t + 60000) == 0;
    ratelimit_free(rl);
    CHECK(ok);
    CHECK(wait == 500);
    CHECK(later == 300);
    CHECK(refilled == 0);
    CHECK(again == 500);
    CHECK(after_pause == 5);
    return 0;
}

static int clients_and_classes_have_their_own_buckets(void)
{
    ratelimit_t *rl = ratelimit_create(1024);
    CHECK(rl != NULL);
    const unsigned char a[4] = {192, 0, 2, 1}, b[4] = {192, 0, 2, 2};
    uint64_t t = 5000;
    int a_ok = ratelimit_take(rl, RATELIMIT_CONSENTS, a, 4, 1, 1, t) == 0;
    int a_refused = ratelimit_take(rl, RATELIMIT_CONSENTS, a, 4, 1, 1, t) > 0;
    int b_ok = ratelimit_take(rl, RATELIMIT_CONSENTS, b, 4, 1, 1, t) == 0;
    int a_events_ok = ratelimit_take(rl, RATELIMIT_EVENTS, a, 4, 1, 1, t) == 0;
    int off = 1;
    for (int i = 0; i < 100; i++)
        off = off && ratelimit_take(rl, RATELIMIT_CONSENTS, a, 4, 0, 1, t) == 0;
    ratelimit_free(rl);
    CHECK(a_ok && a_refused && b_ok && a_events_ok);
    CHECK(off); /* 0 per second: no limit */
    return 0;
}

static int ipv6_clients_are_counted_per_64(void)
{
    ratelimit_t *rl = ratelimit_create(1024);
    CHECK(rl != NULL);
    unsigned char x[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    unsigned char y[16];
    memcpy(y, x, 16);
    y[15] = 2; /* same /64 */
    unsigned char z[16];
    memcpy(z, x, 16);
    z[7] = 2; /* another /64 */
    int first = ratelimit_take(rl, RATELIMIT_CONSENTS, x, 16, 1, 1, 1000) == 0;
    int same_block = ratelimit_take(rl, RATELIMIT_CONSENTS, y, 16, 1, 1, 1000) > 0;
    int other_block = ratelimit_take(rl, RATELIMIT_CONSENTS, z, 16, 1, 1, 1000) == 0;
    ratelimit_free(rl);
    CHECK(first && same_block && other_block);
    return 0;
}

static int a_full_table_takes_over_the_least_recently_used(void)
{
    ratelimit_t *rl = ratelimit_create(64);
    CHECK(rl != NULL);
    /* 10000 clients through 64 slots: nothing grows, every new client gets
     * its burst, and a client just seen keeps its (empty) bucket. */
    int fresh_ok = 1;
    for (unsigned i = 0; i < 10000; i++) {
        unsigned char ip[4] = {10, (unsigned char)(i >> 16), (unsigned char)(i >> 8),
                               (unsigned char)i};
        fresh_ok = fresh_ok && ratelimit_take(rl, RATELIMIT_EVENTS, ip, 4, 1, 1, 1000 + i) == 0;
    }
    unsigned char last[4] = {10, 0, (unsigned char)(9999 >> 8), (unsigned char)9999};
    int last_refused = ratelimit_take(rl, RATELIMIT_EVENTS, last, 4, 1, 1, 1000 + 9999) > 0;
    ratelimit_free(rl);
    CHECK(fresh_ok);
    CHECK(last_refused);
    CHECK(ratelimit_create(1000) == NULL); /* not a power of two */
    return 0;
}

static int connections_per_client_are_counted_exactly(void)
{
    /* Random opens and closes of 120 clients, 2 connections each at most,
     * against a plain model: the table (sized for 100, so nearly half full
     * of clients) must agree at every step, also across the deletions that
     * move entries back in their probe runs. */
    enum { CLIENTS = 120, LIMIT = 2, OPEN_MAX = CLIENTS * LIMIT, STEPS = 400000 };
    conncount_t *cc = conncount_create(100);
    CHECK(cc != NULL);
    static unsigned open_of[CLIENTS];
    static uint64_t keys[OPEN_MAX];
    static unsigned client_of[OPEN_MAX];
    size_t n_open = 0;
    uint32_t x = 12345;
    int agree = 1;
    for (int step = 0; step < STEPS && agree; step++) {
        x = x * 1103515245u + 12345u;
        unsigned r = x >> 8;
        if (n_open < OPEN_MAX && (n_open == 0 || r % 3 != 0)) {
            unsigned c = r % CLIENTS;
            unsigned char ip[4] = {192, 0, (unsigned char)(c >> 8), (unsigned char)c};
            uint64_t key;
            int rc = conncount_open(cc, ip, 4, LIMIT, &key);
            if (open_of[c] >= LIMIT) {
                agree = rc == -1;
            } else {
                /* at most 120 clients open at once: always counted */
                agree = rc == 0 && key != 0;
                open_of[c]++;
                keys[n_open] = key;
                client_of[n_open++] = c;
            }
        } else {
            size_t i = r % n_open;
            conncount_close(cc, keys[i]);
            open_of[client_of[i]]--;
            keys[i] = keys[--n_open];
            client_of[i] = client_of[n_open];
        }
    }
    /* Everything closed: every client may open LIMIT again, not one more. */
    while (n_open > 0) {
        conncount_close(cc, keys[--n_open]);
        open_of[client_of[n_open]]--;
    }
    unsigned char ip[4] = {192, 0, 0, 7};
    uint64_t key;
    int fresh = 1;
    for (int i = 0; i < LIMIT; i++)
        fresh = fresh && conncount_open(cc, ip, 4, LIMIT, &key) == 0 && key != 0;
    int over = conncount_open(cc, ip, 4, LIMIT, &key) == -1;
    conncount_free(cc);
    CHECK(agree);
    CHECK(fresh);
    CHECK(over);
    return 0;
}

/* The key of an X-Forwarded-For line: its length, the bytes in out. */
static size_t fwd(const char *line, unsigned char out[16])
{
    memset(out, 0xAA, 16);
    return ratelimit_forwarded_key(line, strlen(line), out);
}

static int a_forwarded_line_names_its_right_most_address(void)
{
    unsigned char k[16];
    const unsigned char v4[4] = {203, 0, 113, 7};
    CHECK(fwd("203.0.113.7", k) == 4 && memcmp(k, v4, 4) == 0);
    /* What the client wrote before the proxy's element does not count. */
    CHECK(fwd("198.51.100.99, 10.0.0.1,203.0.113.7", k) == 4 && memcmp(k, v4, 4) == 0);
    CHECK(fwd("203.0.113.7 ,  \t203.0.113.7 \t", k) == 4 && memcmp(k, v4, 4) == 0);
    /* IPv6, bracketed or not, with a port or not; IPv4-mapped is IPv4. */
    const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(fwd("2001:db8::1", k) == 16 && memcmp(k, v6, 16) == 0);
    CHECK(fwd("[2001:db8::1]", k) == 16 && memcmp(k, v6, 16) == 0);
    CHECK(fwd("x, [2001:db8::1]:443", k) == 16 && memcmp(k, v6, 16) == 0);
    CHECK(fwd("203.0.113.7:65535", k) == 4 && memcmp(k, v4, 4) == 0);
    CHECK(fwd("::ffff:203.0.113.7", k) == 4 && memcmp(k, v4, 4) == 0);
    CHECK(fwd("[::ffff:203.0.113.7]:1", k) == 4 && memcmp(k, v4, 4) == 0);
    return 0;
}

static int a_forwarded_element_that_is_no_address_is_refused(void)
{
    static const char *const bad[] = {
        "",
        " ",
        "203.0.113.7,",
        "203.0.113.7, ",
        "unknown",
        "203.0.113.7, unknown",
        "proxy.example",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.2.3.4",
        "203.0.113.7:",
        "203.0.113.7:65536",
        "203.0.113.7:123456",
        "203.0.113.7:http",
        "2001:db8::1:443x",
        "[2001:db8::1",
        "[2001:db8::1]443",
        "[2001:db8::1]:",
        "[203.0.113.7]",
        "2001:db8::1%eth0",
        "[fe80::1%25eth0]:80",
        "\"203.0.113.7\"",
        "for=203.0.113.7",
    };
    unsigned char k[16];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fwd(bad[i], k) != 0) {
            printf("    taken: \"%s\"\n", bad[i]);
            return -1;
        }
    }
    /* A NUL inside is not the end of the text. */
    CHECK(ratelimit_forwarded_key("203.0.113.7\0x", 13, k) == 0);
    char longest[RATELIMIT_FORWARDED_MAX + 8];
    memset(longest, ' ', sizeof(longest));
    memcpy(longest, "203.0.113.7", 11);
    longest[sizeof(longest) - 1] = '\0';
    CHECK(fwd(longest, k) == 4); /* trailing whitespace is not the element */
    memset(longest, '0', sizeof(longest) - 1);
    CHECK(fwd(longest, k) == 0);
    return 0;
}

static int forwarded_addresses_are_grouped_like_peers(void)
{
    /* Same /64: one bucket; the 16-character texts that once shared their
     * first 8 bytes as a key are two /64s, two buckets. */
    ratelimit_t *rl = ratelimit_create(1024);
    CHECK(rl != NULL);
    unsigned char a[16], b[16], c[16], d[16];
    size_t la = fwd("2001:db8:1:2::1", a), lb = fwd("2001:db8:1:2:ffff::9", b);
    size_t lc = fwd("2001:db8:aaaa::1", c), ld = fwd("2001:db8:bbbb::1", d);
    uint64_t t = 1000000;
    int same = ratelimit_take(rl, RATELIMIT_CONSENTS, a, la, 1, 1, t) == 0 &&
               ratelimit_take(rl, RATELIMIT_CONSENTS, b, lb, 1, 1, t) != 0;
    int apart = ratelimit_take(rl, RATELIMIT_CONSENTS, c, lc, 1, 1, t) == 0 &&
                ratelimit_take(rl, RATELIMIT_CONSENTS, d, ld, 1, 1, t) == 0;
    ratelimit_free(rl);
    CHECK(la == 16 && lb == 16 && lc == 16 && ld == 16);
    CHECK(same);
    CHECK(apart);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(a_burst_passes_then_requests_wait_for_the_next_token);
    RUN(clients_and_classes_have_their_own_buckets);
    RUN(ipv6_clients_are_counted_per_64);
    RUN(a_full_table_takes_over_the_least_recently_used);
    RUN(connections_per_client_are_counted_exactly);
    RUN(a_forwarded_line_names_its_right_most_address);
    RUN(a_forwarded_element_that_is_no_address_is_refused);
    RUN(forwarded_addresses_are_grouped_like_peers);
    return check_summary();
}
