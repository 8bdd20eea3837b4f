/*
 * base64url.c - base64url without padding (see base64url.h).
 */
#include "base64url.h"

static const char base64url_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t base64url_encode(char *out, const unsigned char *in, size_t len)
{
    const char *a = base64url_alphabet;
    char *p = out;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        p[0] = a[v >> 18];
        p[1] = a[(v >> 12) & 63];
        p[2] = a[(v >> 6) & 63];
        p[3] = a[v & 63];
        p += 4;
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        *p++ = a[v >> 18];
        *p++ = a[(v >> 12) & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        *p++ = a[v >> 18];
        *p++ = a[(v >> 12) & 63];
        *p++ = a[(v >> 6) & 63];
    }
    return (size_t)(p - out);
}
