/*
 * answer_cache_test.c - the answers a worker keeps (src/http/answer_cache.c):
 * served until they expire, replaced under the same key, and bounded in
 * count and bytes (expired ones leave first, then the oldest).
 */
#include <stdio.h>
#include <string.h>

#include <libdeflate.h>

#include "answer_cache.h"
#include "check.h"

static answer_cached_t answer(const char *body, const char *disposition)
{
    return (answer_cached_t){"text/plain", disposition, body, strlen(body)};
}

static int served_until_it_expires_then_not(void)
{
    answer_cache_t *c = answer_cache_create(1024);
    CHECK(c != NULL);
    answer_cached_t a = answer("hello", "attachment"), got;
    answer_cache_put(c, "k", &a, 1500, 1000);
    CHECK(answer_cache_get(c, "k", 1499, &got) == 1);
    CHECK(got.len == 5 && memcmp(got.body, "hello", 5) == 0);
    CHECK_STR(got.content_type, "text/plain");
    CHECK_STR(got.disposition, "attachment");
    CHECK(answer_cache_get(c, "k", 1500, &got) == 0);
    CHECK(answer_cache_get(c, "other", 1000, &got) == 0);
    answer_cached_t b = answer("again", NULL);
    answer_cache_put(c, "k", &b, 3000, 2000); /* the same key: replaced */
    CHECK(answer_cache_get(c, "k", 2000, &got) == 1 && got.disposition == NULL);
    CHECK(got.len == 5 && memcmp(got.body, "again", 5) == 0);
    answer_cache_free(c);
    return 0;
}

static int bounded_in_bytes_and_entries(void)
{
    answer_cache_t *c = answer_cache_create(10);
    answer_cached_t six = answer("123456", NULL), got;
    answer_cache_put(c, "a", &six, 100, 1);
    answer_cache_put(c, "b", &six, 100, 2); /* 12 bytes > 10: a, the oldest, leaves */
    CHECK(answer_cache_get(c, "a", 3, &got) == 0 && answer_cache_get(c, "b", 3, &got) == 1);
    answer_cached_t big = answer("12345678901", NULL);
    answer_cache_put(c, "big", &big, 100, 3); /* over the whole bound: not kept, b stays */
    CHECK(answer_cache_get(c, "big", 4, &got) == 0 && answer_cache_get(c, "b", 4, &got) == 1);
    answer_cache_free(c);

    c = answer_cache_create(1 << 20);
    char key[32];
    answer_cached_t one = answer("x", NULL);
    for (int i = 0; i < ANSWER_CACHE_MAX + 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        answer_cache_put(c, key, &one, 1000, (uint64_t)i + 1);
    }
    CHECK(answer_cache_get(c, "k0", 100, &got) == 0); /* the oldest made room */
    snprintf(key, sizeof(key), "k%d", ANSWER_CACHE_MAX + 9);
    CHECK(answer_cache_get(c, key, 100, &got) == 1);
    /* Expired entries leave before any live one: "short" (full: k10, the
     * oldest, left for it) has expired when "new" comes, and makes room. */
    answer_cache_put(c, "short", &one, 200, 150);
    CHECK(answer_cache_get(c, "k10", 160, &got) == 0 && answer_cache_get(c, "k11", 160, &got) == 1);
    answer_cache_put(c, "new", &one, 1000, 300);
    CHECK(answer_cache_get(c, "k11", 300, &got) == 1);
    CHECK(answer_cache_get(c, "new", 300, &got) == 1);
    answer_cache_free(c);
    return 0;
}

/* The gzip of an entry: made once, decompresses to the body, kept with it
 * (the same bytes at the next call), counted in the bound; none for an
 * expired or absent entry, nor when it would not fit. */
static int gzip_made_once_and_kept_with_the_entry(void)
{
    char body[4096];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = "{\"shown\":12,"[i % 12];
    answer_cached_t a = {"application/json", NULL, body, sizeof(body)}, got;
    answer_cache_t *c = answer_cache_create(1 << 16);
    answer_cache_put(c, "k", &a, 2000, 1000);
    const char *gz, *again;
    size_t len, len2;
    CHECK(answer_cache_gzip(c, "k", 1001, &gz, &len) == 1);
    CHECK(len > 18 && len < sizeof(body) / 4);
    CHECK((unsigned char)gz[0] == 0x1f && (unsigned char)gz[1] == 0x8b); /* RFC 1952 */
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    char out[sizeof(body)];
    size_t n = 0;
    CHECK(libdeflate_gzip_decompress(d, gz, len, out, sizeof(out), &n) == LIBDEFLATE_SUCCESS);
    libdeflate_free_decompressor(d);
    CHECK(n == sizeof(body) && memcmp(out, body, n) == 0);
    CHECK(answer_cache_gzip(c, "k", 1002, &again, &len2) == 1 && again == gz && len2 == len);
    CHECK(answer_cache_get(c, "k", 1002, &got) == 1 && got.len == sizeof(body));
    CHECK(answer_cache_gzip(c, "k", 2000, &gz, &len) == 0); /* expired */
    CHECK(answer_cache_gzip(c, "none", 1001, &gz, &len) == 0);
    answer_cache_free(c);
    /* Room for the body, not for its gzip too: identity only. */
    c = answer_cache_create(sizeof(body) + 8);
    answer_cache_put(c, "k", &a, 2000, 1000);
    CHECK(answer_cache_get(c, "k", 1001, &got) == 1);
    CHECK(answer_cache_gzip(c, "k", 1001, &gz, &len) == 0);
    answer_cache_free(c);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(served_until_it_expires_then_not);
    RUN(bounded_in_bytes_and_entries);
    RUN(gzip_made_once_and_kept_with_the_entry);
    return check_summary();
}
