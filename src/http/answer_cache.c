/*
 * answer_cache.c - finished answers kept a short while (answer_cache.h).
 *
 * At most ANSWER_CACHE_MAX entries, looked up by a linear scan: a few dozen
 * strcmp per lookup cost less than the hashing would, at this size.
 */
#include "answer_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

/* libdeflate's level 1: the fastest; about 130 KB for a 630 KB stats answer
 * (level 6 gives 96 KB for three times the time, spent on the worker that
 * also serves the writes). */
#define ANSWER_CACHE_GZIP_LEVEL 1

typedef struct entry {
    char key[ANSWER_CACHE_KEY_MAX];
    char *bytes; /* content type, NUL, disposition, NUL, body (one allocation) */
    size_t ctype_len, disp_len, len;
    int has_disp;
    uint64_t expires_ms, stored_ms;
    char *gzip; /* NULL until the first answer_cache_gzip */
    size_t gzip_len;
} entry_t;

struct answer_cache {
    size_t max_bytes, bytes;
    size_t n;
    entry_t entries[ANSWER_CACHE_MAX];
};

answer_cache_t *answer_cache_create(size_t max_bytes)
{
    answer_cache_t *c = calloc(1, sizeof(*c));
    if (c != NULL) c->max_bytes = max_bytes;
    return c;
}

static void entry_drop(answer_cache_t *c, size_t i)
{
    c->bytes -= c->entries[i].len + c->entries[i].gzip_len;
    free(c->entries[i].bytes);
    free(c->entries[i].gzip);
    c->entries[i] = c->entries[--c->n];
}

void answer_cache_free(answer_cache_t *c)
{
    if (c == NULL) return;
    while (c->n > 0)
        entry_drop(c, c->n - 1);
    free(c);
}

static entry_t *entry_find(answer_cache_t *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->entries[i].key, key) == 0) return &c->entries[i];
    return NULL;
}

int answer_cache_get(answer_cache_t *c, const char *key, uint64_t now_ms, answer_cached_t *out)
{
    entry_t *e = c != NULL && key != NULL ? entry_find(c, key) : NULL;
    if (e == NULL || now_ms >= e->expires_ms) return 0;
    out->content_type = e->bytes;
    out->disposition = e->has_disp ? e->bytes + e->ctype_len + 1 : NULL;
    out->body = e->bytes + e->ctype_len + 1 + e->disp_len + 1;
    out->len = e->len;
    return 1;
}

int answer_cache_gzip(answer_cache_t *c, const char *key, uint64_t now_ms, const char **gz,
                      size_t *len)
{
    entry_t *e = c != NULL && key != NULL ? entry_find(c, key) : NULL;
    if (e == NULL || now_ms >= e->expires_ms) return 0;
    if (e->gzip == NULL) {
        struct libdeflate_compressor *z = libdeflate_alloc_compressor(ANSWER_CACHE_GZIP_LEVEL);
        if (z == NULL) return 0;
        size_t cap = libdeflate_gzip_compress_bound(z, e->len);
        char *out = malloc(cap);
        size_t n = out != NULL
                       ? libdeflate_gzip_compress(z, e->bytes + e->ctype_len + 1 + e->disp_len + 1,
                                                  e->len, out, cap)
                       : 0;
        libdeflate_free_compressor(z);
        if (n == 0 || c->bytes + n > c->max_bytes) {
            free(out);
            return 0;
        }
        char *fit = realloc(out, n);
        e->gzip = fit != NULL ? fit : out;
        e->gzip_len = n;
        c->bytes += n;
    }
    *gz = e->gzip;
    *len = e->gzip_len;
    return 1;
}

/* Room for len more bytes and one more entry: expired entries first, then
 * the oldest stored. */
static void make_room(answer_cache_t *c, size_t len, uint64_t now_ms)
{
    for (size_t i = c->n; i-- > 0;)
        if (now_ms >= c->entries[i].expires_ms) entry_drop(c, i);
    while (c->n > 0 && (c->n == ANSWER_CACHE_MAX || c->bytes + len > c->max_bytes)) {
        size_t oldest = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->entries[i].stored_ms < c->entries[oldest].stored_ms) oldest = i;
        entry_drop(c, oldest);
    }
}

void answer_cache_put(answer_cache_t *c, const char *key, const answer_cached_t *a,
                      uint64_t expires_ms, uint64_t now_ms)
{
    if (c == NULL || key == NULL || a == NULL || a->content_type == NULL ||
        strlen(key) >= ANSWER_CACHE_KEY_MAX || a->len > c->max_bytes || expires_ms <= now_ms)
        return;
    entry_t *old = entry_find(c, key);
    if (old != NULL) entry_drop(c, (size_t)(old - c->entries));
    size_t ctype_len = strlen(a->content_type);
    size_t disp_len = a->disposition != NULL ? strlen(a->disposition) : 0;
    char *bytes = malloc(ctype_len + 1 + disp_len + 1 + a->len + 1);
    if (bytes == NULL) return;
    memcpy(bytes, a->content_type, ctype_len + 1);
    if (disp_len > 0) memcpy(bytes + ctype_len + 1, a->disposition, disp_len);
    bytes[ctype_len + 1 + disp_len] = '\0';
    memcpy(bytes + ctype_len + 1 + disp_len + 1, a->body, a->len);
    make_room(c, a->len, now_ms);
    entry_t *e = &c->entries[c->n++];
    snprintf(e->key, sizeof(e->key), "%s", key);
    e->bytes = bytes;
    e->ctype_len = ctype_len;
    e->disp_len = disp_len;
    e->has_disp = a->disposition != NULL;
    e->len = a->len;
    e->expires_ms = expires_ms;
    e->stored_ms = now_ms;
    e->gzip = NULL;
    e->gzip_len = 0;
    c->bytes += a->len;
}
