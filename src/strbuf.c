/*
 * strbuf.c - the string builder (see strbuf.h).
 */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define STRBUF_FIRST_CAP 256

void strbuf_init_fixed(strbuf_t *b, char *buf, size_t cap)
{
    *b = (strbuf_t){.buf = buf, .cap = cap, .kind = STRBUF_FIXED, .failed = cap == 0};
    if (cap > 0) buf[0] = '\0';
}

void strbuf_init_pool(strbuf_t *b, h2o_mem_pool_t *pool)
{
    *b = (strbuf_t){.pool = pool, .kind = STRBUF_POOL};
}

void strbuf_init_heap(strbuf_t *b)
{
    *b = (strbuf_t){.kind = STRBUF_HEAP};
}

int strbuf_reserve(strbuf_t *b, size_t n)
{
    if (b->failed) return -1;
    if (n < b->cap - b->len && b->cap > 0) return 0; /* room for n bytes and the NUL */
    if (b->kind == STRBUF_FIXED || n > SIZE_MAX / 4 - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t cap = b->cap > 0 ? b->cap : STRBUF_FIRST_CAP;
    while (cap - b->len <= n)
        cap *= 2;
    char *nb;
    if (b->kind == STRBUF_POOL) {
        nb = h2o_mem_alloc_pool(b->pool, cap); /* the old block goes with the pool */
        if (nb != NULL && b->len > 0) memcpy(nb, b->buf, b->len);
    } else {
        nb = realloc(b->buf, cap);
    }
    if (nb == NULL) {
        b->failed = 1;
        return -1;
    }
    b->buf = nb;
    b->cap = cap;
    b->buf[b->len] = '\0';
    return 0;
}

void strbuf_put_grow(strbuf_t *b, const void *s, size_t n)
{
    if (strbuf_reserve(b, n) != 0) return;
    if (n > 0) memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void strbuf_str(strbuf_t *b, const char *s)
{
    strbuf_put(b, s, strlen(s));
}

void strbuf_u64(strbuf_t *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    strbuf_put(b, tmp + i, sizeof(tmp) - i);
}

void strbuf_i64(strbuf_t *b, int64_t v)
{
    if (v < 0) strbuf_char(b, '-');
    strbuf_u64(b, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

void strbuf_digits(strbuf_t *b, uint64_t v, int width)
{
    char tmp[20];
    if (width < 1 || width > (int)sizeof(tmp)) {
        b->failed = 1;
        return;
    }
    for (int i = width - 1; i >= 0; i--, v /= 10)
        tmp[i] = (char)('0' + v % 10);
    strbuf_put(b, tmp, (size_t)width);
}

void strbuf_g6(strbuf_t *b, double v)
{
    /* A fraction f in [1e-4, 1) has its first digit at 10^x, x in -1..-4:
     * "%.6g" writes it fixed, "0." then -x-1 zeros then the six digits of
     * f * 10^(5-x) rounded, trailing zeros dropped. The product carries a
     * relative error of about 1e-16: far from a tie (.5), it rounds as the
     * exact value does; near one, or when rounding carries into the next
     * power of ten, printf decides. */
    static const double scale[4] = {1e6, 1e7, 1e8, 1e9};
    if (v == 0 || v == 1) {
        strbuf_char(b, v == 0 ? '0' : '1');
        return;
    }
    if (v > 0 && v < 1 && v >= 1e-4) {
        int zeros = v >= 1e-1 ? 0 : v >= 1e-2 ? 1 : v >= 1e-3 ? 2 : 3;
        double s = v * scale[zeros];
        uint64_t q = (uint64_t)s;
        double frac = s - (double)q;
        if (frac < 0.5 - 1e-6 || frac > 0.5 + 1e-6) {
            q += frac > 0.5;
            if (q >= 100000 && q < 1000000) {
                char tmp[16] = {'0', '.', '0', '0', '0'};
                size_t n = 2 + (size_t)zeros;
                for (int i = 5; i >= 0; i--, q /= 10)
                    tmp[n + (size_t)i] = (char)('0' + q % 10);
                n += 6;
                while (tmp[n - 1] == '0')
                    n--;
                strbuf_put(b, tmp, n);
                return;
            }
        }
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%.6g", v);
    if (n > 0) strbuf_put(b, tmp, (size_t)n);
}

/* 1 for the bytes a JSON string cannot hold as they are: '"', '\\',
 * control characters, and every byte of 0x80 and above (checked as UTF-8). */
static const unsigned char strbuf_json_special[256] = {
    ['"'] = 1,
    ['\\'] = 1,
    [0x00 ... 0x1f] = 1,
    [0x80 ... 0xff] = 1,
};

void strbuf_json(strbuf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t start = b->len;
    /* Room for the common case (nothing to escape) at once. */
    if (strbuf_reserve(b, len + 2) != 0) return;
    b->buf[b->len++] = '"';
    for (size_t i = 0; i < len && !b->failed;) {
        /* A run that needs no escape (all of a proof, an id, a hash) in one copy. */
        size_t run = i;
        for (size_t n = 16; n == 16 && run + 16 <= len; run += n) /* sixteen bytes a step */
            n = json_plain16(u + run);
        while (run < len && !strbuf_json_special[u[run]])
            run++;
        if (run > i) {
            strbuf_put(b, u + i, run - i);
            i = run;
            continue;
        }
        size_t n = u[i] < 0x80 ? 1 : json_utf8_len(u + i, len - i);
        if (n == 0) {
            strbuf_lit(b, "\\ufffd");
            i++;
        } else if (n > 1) {
            strbuf_put(b, u + i, n);
            i += n;
        } else if (u[i] == '"' || u[i] == '\\') {
            char esc[2] = {'\\', (char)u[i]};
            strbuf_put(b, esc, 2);
            i++;
        } else { /* a control character: its short form where JSON has one */
            const char *shrt = json_short_escape(u[i]);
            char esc[6] = {'\\', 'u', '0', '0', hex[u[i] >> 4], hex[u[i] & 15]};
            strbuf_put(b, shrt != NULL ? shrt : esc, shrt != NULL ? 2 : 6);
            i++;
        }
    }
    strbuf_char(b, '"');
    if (b->failed && b->kind == STRBUF_FIXED && b->cap > start) {
        b->len = start; /* never half a string */
        b->buf[start] = '\0';
    }
}

void strbuf_json_str(strbuf_t *b, const char *s)
{
    strbuf_json(b, s, strlen(s));
}

void strbuf_printf(strbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (strbuf_reserve(b, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *strbuf_take(strbuf_t *b, size_t *len)
{
    char *out = b->failed ? NULL : b->buf;
    if (out == NULL) free(b->buf);
    if (len != NULL) *len = out != NULL ? b->len : 0;
    strbuf_init_heap(b);
    return out;
}

void strbuf_free(strbuf_t *b)
{
    if (b->kind == STRBUF_HEAP) free(b->buf);
    strbuf_init_heap(b);
}
