/*
 * strbuf.h - the one string builder: text of unknown length appended in
 * pieces (JSON answers, CSV, the Prometheus text, JWS parts, log lines).
 *
 * Three kinds of memory, chosen at init:
 *   fixed  a caller's buffer; what does not fit is not written and the
 *          builder is marked failed (never a silent cut).
 *   pool   an h2o memory pool (a request's): grows there, freed with the
 *          pool, never by hand.
 *   heap   malloc/realloc: the caller frees with strbuf_free or takes the
 *          bytes with strbuf_take.
 * The text stays NUL-terminated after every call (while cap > 0). Once
 * failed (no room, no memory), appends do nothing; the caller checks
 * strbuf_failed() once at the end and answers an error instead of a cut
 * text. Not thread-safe: one builder, one thread.
 *
 * Numbers are written by hand (no printf family on the hot paths);
 * strbuf_printf exists for cold paths only.
 */
#ifndef CONSENTD_STRBUF_H
#define CONSENTD_STRBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <h2o.h>

typedef enum { STRBUF_FIXED = 0, STRBUF_POOL, STRBUF_HEAP } strbuf_kind_t;

typedef struct strbuf {
    char *buf;
    size_t len, cap; /* cap: bytes of buf, the NUL included */
    h2o_mem_pool_t *pool;
    strbuf_kind_t kind;
    int failed;
} strbuf_t;

/* buf of cap bytes (cap >= 1). */
void strbuf_init_fixed(strbuf_t *b, char *buf, size_t cap);
void strbuf_init_pool(strbuf_t *b, h2o_mem_pool_t *pool);
void strbuf_init_heap(strbuf_t *b);

/* Make room for n more bytes (and the NUL): 0, or -1 and failed. */
int strbuf_reserve(strbuf_t *b, size_t n);
/* What strbuf_put and strbuf_char do when the bytes do not fit as they are
 * (grow, or fail): the inline forms below take the common case, a builder
 * with room, without a call (a consent answer is about 200 appends). */
void strbuf_put_grow(strbuf_t *b, const void *s, size_t n);
static inline void strbuf_put(strbuf_t *b, const void *s, size_t n)
{
    if (b->failed || b->cap == 0 || n >= b->cap - b->len) {
        strbuf_put_grow(b, s, n);
        return;
    }
    if (n > 0) memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}
static inline void strbuf_char(strbuf_t *b, char c)
{
    strbuf_put(b, &c, 1);
}
void strbuf_str(strbuf_t *b, const char *s);
#define strbuf_lit(b, lit) strbuf_put((b), (lit), sizeof(lit) - 1)
/* Decimal, by hand. */
void strbuf_u64(strbuf_t *b, uint64_t v);
void strbuf_i64(strbuf_t *b, int64_t v);
/* v as exactly width digits, zero-padded (v < 10^width). */
void strbuf_digits(strbuf_t *b, uint64_t v, int width);
/* v as printf's "%.6g" writes it, byte for byte: by hand for the fractions
 * of [0, 1] that need no exponent (the stats' rates, thousands per answer),
 * by snprintf for the rest and for a value within rounding error of a tie. */
void strbuf_g6(strbuf_t *b, double v);
/* len bytes of s as a JSON string: quoted, escaped, invalid UTF-8 replaced
 * by U+FFFD (json.h's rule). */
void strbuf_json(strbuf_t *b, const char *s, size_t len);
void strbuf_json_str(strbuf_t *b, const char *s);
/* Cold paths only. */
void strbuf_printf(strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline int strbuf_failed(const strbuf_t *b)
{
    return b->failed;
}

/* Heap builders: the malloc'd text (NULL when failed or empty and never
 * grown; the builder is reset either way), or free it. */
char *strbuf_take(strbuf_t *b, size_t *len);
void strbuf_free(strbuf_t *b);

#endif
