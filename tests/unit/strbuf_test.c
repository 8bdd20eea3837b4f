/*
 * strbuf_test.c - the string builder (src/strbuf.c) and the visitor id's
 * rule and hash (src/visitor.c): what fits, what does not, and that a full
 * builder says so instead of cutting its text.
 */
#include <stdint.h>

#include "check.h"
#include "json.h"
#include "strbuf.h"
#include "visitor.h"

static int fixed_builder_fails_rather_than_cuts(void)
{
    char buf[8];
    strbuf_t b;
    strbuf_init_fixed(&b, buf, sizeof(buf));
    strbuf_lit(&b, "abc");
    strbuf_u64(&b, 1234);
    CHECK(!strbuf_failed(&b) && b.len == 7);
    CHECK_STR(buf, "abc1234");
    strbuf_char(&b, 'x'); /* the NUL needs the 8th byte */
    CHECK(strbuf_failed(&b));
    CHECK_STR(buf, "abc1234");
    strbuf_lit(&b, ""); /* nothing more once failed */
    CHECK(strbuf_failed(&b) && b.len == 7);
    return 0;
}

static int heap_builder_grows_and_hands_over(void)
{
    strbuf_t b;
    strbuf_init_heap(&b);
    for (int i = 0; i < 1000; i++)
        strbuf_i64(&b, i % 2 ? -i : i);
    CHECK(!strbuf_failed(&b));
    size_t len;
    char *text = strbuf_take(&b, &len);
    CHECK(text != NULL && len == strlen(text));
    CHECK(strncmp(text, "0-12-34-5", 9) == 0);
    CHECK(b.buf == NULL && b.len == 0);
    free(text);
    strbuf_init_heap(&b);
    strbuf_printf(&b, "%s=%d;", "n", 42);
    strbuf_printf(&b, "%0300d", 7); /* longer than the first block */
    CHECK(!strbuf_failed(&b) && b.len == 5 + 300 && b.buf[b.len - 1] == '7');
    strbuf_free(&b);
    return 0;
}

static int pool_builder_lives_in_the_pool(void)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    strbuf_t b;
    strbuf_init_pool(&b, &pool);
    for (int i = 0; i < 500; i++)
        strbuf_lit(&b, "0123456789");
    CHECK(!strbuf_failed(&b) && b.len == 5000 && strlen(b.buf) == 5000);
    h2o_mem_clear_pool(&pool); /* frees every block: ASan would see a leak otherwise */
    return 0;
}

static int numbers_are_written_by_hand_exactly(void)
{
    char buf[64];
    strbuf_t b;
    strbuf_init_fixed(&b, buf, sizeof(buf));
    strbuf_u64(&b, UINT64_MAX);
    strbuf_char(&b, ' ');
    strbuf_i64(&b, INT64_MIN);
    strbuf_char(&b, ' ');
    strbuf_digits(&b, 7, 3);
    strbuf_char(&b, ' ');
    strbuf_u64(&b, 0);
    CHECK(!strbuf_failed(&b));
    CHECK_STR(buf, "18446744073709551615 -9223372036854775808 007 0");
    return 0;
}

static int json_strings_are_quoted_and_escaped_whole(void)
{
    char buf[64];
    strbuf_t b;
    strbuf_init_fixed(&b, buf, sizeof(buf));
    strbuf_json(&b, "a\"b\n\xff", 5);
    CHECK(!strbuf_failed(&b));
    CHECK_STR(buf, "\"a\\\"b\\n\\ufffd\"");
    /* Exactly what fits, fits; one byte less fails and holds no half string. */
    char small[13];
    strbuf_init_fixed(&b, small, sizeof(small));
    strbuf_json_str(&b, "0123456789");
    CHECK(!strbuf_failed(&b));
    CHECK_STR(small, "\"0123456789\"");
    strbuf_init_fixed(&b, small, sizeof(small) - 1);
    strbuf_json_str(&b, "0123456789");
    CHECK(strbuf_failed(&b) && b.len == 0 && small[0] == '\0');
    /* The same escapes as json_escape, on every byte value. */
    char all[256], esc[256 * 6 + 16], big[256 * 6 + 16];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    size_t n = json_escape(esc, sizeof(esc), all, sizeof(all));
    strbuf_init_fixed(&b, big, sizeof(big));
    strbuf_json(&b, all, sizeof(all));
    CHECK(!strbuf_failed(&b) && b.len == n + 2 && memcmp(big + 1, esc, n) == 0);
    return 0;
}

/* strbuf_json reads plain text sixteen bytes a step: every byte value, at
 * every place of a step and across two, in plain text of every length up
 * to three steps, is escaped exactly as json_escape escapes it. */
static int json_strings_are_escaped_at_every_offset(void)
{
    char in[48], esc[48 * 6 + 16], out[48 * 6 + 16];
    strbuf_t b;
    for (size_t len = 1; len <= sizeof(in); len++) {
        for (size_t at = 0; at < len; at++) {
            for (int v = 0; v < 256; v++) {
                memset(in, 'a', sizeof(in));
                in[at] = (char)v;
                size_t n = json_escape(esc, sizeof(esc), in, len);
                strbuf_init_fixed(&b, out, sizeof(out));
                strbuf_json(&b, in, len);
                CHECK(!strbuf_failed(&b) && b.len == n + 2 && memcmp(out + 1, esc, n) == 0);
            }
        }
    }
    /* Plain text only: one copy, the quotes around it. */
    strbuf_init_fixed(&b, out, sizeof(out));
    strbuf_json(&b, "eyJhbGciOiJFZERTQSJ9.eyJpc3Mi", 29);
    CHECK_STR(out, "\"eyJhbGciOiJFZERTQSJ9.eyJpc3Mi\"");
    return 0;
}

static int visitor_ids_follow_one_rule(void)
{
    CHECK(visitor_id_valid("rrW4sM6bFTOUC-1-Xd6QUQ", 22));
    CHECK(visitor_id_valid("abcdefgh", 8));
    CHECK(!visitor_id_valid("abcdefg", 7));
    char id[VISITOR_ID_MAX + 2];
    memset(id, 'a', sizeof(id));
    CHECK(visitor_id_valid(id, VISITOR_ID_MAX));
    CHECK(!visitor_id_valid(id, VISITOR_ID_MAX + 1));
    CHECK(!visitor_id_valid("abcd/efgh", 9));
    CHECK(!visitor_id_valid("abcd efgh", 9));
    CHECK(!visitor_id_valid("abcd\0efgh", 9));
    CHECK(!visitor_id_valid(NULL, 9));
    /* FNV-1a 32: the published test vectors. */
    CHECK(visitor_hash32("", 0) == 0x811c9dc5u);
    CHECK(visitor_hash32("a", 1) == 0xe40c292cu);
    CHECK(visitor_hash32("foobar", 6) == 0xbf9cf968u);
    return 0;
}

/* strbuf_g6 writes what printf's %.6g writes, byte for byte: every rate
 * x/n of n up to 3000 (the stats' rates), the ties and the edges where the
 * rounding carries, and values outside [0, 1] (printf's own path). */
static int g6_is_printf_exactly(void)
{
    char want[32], buf[32];
    strbuf_t b;
    size_t checked = 0, wrong = 0;
    for (uint64_t n = 1; n <= 3000; n++)
        for (uint64_t x = 0; x <= n; x++) {
            double v = (double)x / (double)n;
            snprintf(want, sizeof(want), "%.6g", v);
            strbuf_init_fixed(&b, buf, sizeof(buf));
            strbuf_g6(&b, v);
            wrong += strcmp(buf, want) != 0;
            checked++;
        }
    CHECK(checked > 4000000 && wrong == 0);
    static const double edges[] = {0.0,
                                   1.0,
                                   0.5,
                                   0.1234565,
                                   0.9999995,
                                   0.99999949,
                                   0.0999999,
                                   0.09999995,
                                   1e-4,
                                   9.99999e-5,
                                   9.999995e-5,
                                   1.5e-5,
                                   0.000123456,
                                   0.00012345650000001,
                                   0.12345650000000001,
                                   -0.25,
                                   1.5,
                                   123456789.0,
                                   -1e-7,
                                   0.3,
                                   2.0 / 3.0,
                                   1.0 / 7.0};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        snprintf(want, sizeof(want), "%.6g", edges[i]);
        strbuf_init_fixed(&b, buf, sizeof(buf));
        strbuf_g6(&b, edges[i]);
        CHECK_STR(buf, want);
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(fixed_builder_fails_rather_than_cuts);
    RUN(heap_builder_grows_and_hands_over);
    RUN(pool_builder_lives_in_the_pool);
    RUN(numbers_are_written_by_hand_exactly);
    RUN(g6_is_printf_exactly);
    RUN(json_strings_are_quoted_and_escaped_whole);
    RUN(json_strings_are_escaped_at_every_offset);
    RUN(visitor_ids_follow_one_rule);
    return check_summary();
}
