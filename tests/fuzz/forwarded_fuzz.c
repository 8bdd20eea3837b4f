/*
 * forwarded_fuzz.c - the client address of an X-Forwarded-For line
 * (ratelimit_forwarded_key): the right-most element, parsed with inet_pton,
 * with or without brackets and a port.
 *
 * Input: the header line as a client (and its proxies) sent it.
 * Invariants: the key is 0, 4 or 16 bytes (16 never IPv4-mapped); a key
 * printed back (inet_ntop) parses to the same key, also after elements the
 * client chose, with a port, and with the optional whitespace; whatever the
 * input, an address appended after it (what the proxy does) is the key.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "fuzz.h"
#include "ratelimit.h"

/* The key of text (NUL-terminated) equals want (len bytes). */
static int key_is(const char *text, const unsigned char *want, size_t len)
{
    unsigned char got[16];
    return ratelimit_forwarded_key(text, strlen(text), got) == len && memcmp(got, want, len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8 * 1024) return 0;
    const char *value = (const char *)data;
    unsigned char key[16];
    size_t len = ratelimit_forwarded_key(value, size, key);
    FUZZ_ASSERT(len == 0 || len == 4 || len == 16);
    if (len == 16) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        FUZZ_ASSERT(memcmp(key, mapped, 12) != 0);
    }
    if (len != 0) {
        char addr[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 64];
        FUZZ_ASSERT(inet_ntop(len == 4 ? AF_INET : AF_INET6, key, addr, sizeof(addr)) != NULL);
        FUZZ_ASSERT(key_is(addr, key, len));
        snprintf(text, sizeof(text), "198.18.0.1, unknown,%s", addr);
        FUZZ_ASSERT(key_is(text, key, len));
        snprintf(text, sizeof(text), len == 4 ? " %s:8443\t" : " [%s]:8443\t", addr);
        FUZZ_ASSERT(key_is(text, key, len));
        snprintf(text, sizeof(text), len == 4 ? "%s:0" : "[%s]", addr);
        FUZZ_ASSERT(key_is(text, key, len));
    }

    /* The proxy appends ", <address>": that address wins, whatever before. */
    static char line[8 * 1024 + 64];
    memcpy(line, data, size);
    static const char appended[] = ", 2001:db8:5:6::7";
    memcpy(line + size, appended, sizeof(appended));
    const unsigned char v6[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 5, 0, 6};
    unsigned char got[16];
    FUZZ_ASSERT(ratelimit_forwarded_key(line, size + sizeof(appended) - 1, got) == 16 &&
                memcmp(got, v6, 8) == 0);
    return 0;
}
