/*
 * json_test.c - json_escape (src/json.c), which every hand-built answer
 * uses: plain runs copied as they are, quotes, backslashes and control
 * characters escaped, invalid UTF-8 replaced, and any capacity honoured
 * (run under ASan: a byte written past cap fails).
 */
#include "json.h"

#include "check.h"

static void expect(const char *name, const char *in, size_t len, const char *want)
{
    char out[256];
    size_t n = json_escape(out, sizeof(out), in, len);
    if (n == strlen(want) && strcmp(out, want) == 0) {
        passed++;
        printf("ok   %s\n", name);
    } else {
        failed++;
        printf("FAIL %s: got \"%s\" (%zu), expected \"%s\"\n", name, out, n, want);
    }
}

/* Every capacity from 0 to beyond the result, each in a buffer of exactly
 * that size on the heap: the result is NUL-terminated, a prefix of the full
 * escape, and never cut inside an escape or a UTF-8 sequence. */
static void capacities(const char *name, const char *in)
{
    char full[512];
    size_t full_len = json_escape(full, sizeof(full), in, strlen(in));
    int bad = 0;
    for (size_t cap = 0; cap <= full_len + 10; cap++) {
        char *out = malloc(cap ? cap : 1);
        size_t n = json_escape(out, cap, in, strlen(in));
        if (cap == 0) {
            bad += n != 0;
        } else if (n >= cap || out[n] != '\0' || strncmp(out, full, n) != 0 ||
                   (n < full_len && cap > full_len + 8)) {
            printf("    cap %zu: got %zu bytes \"%s\"\n", cap, n, out);
            bad++;
        } else if (n > 0 && n < full_len && (full[n] & 0xc0) == 0x80) {
            printf("    cap %zu: cut inside a UTF-8 sequence\n", cap);
            bad++;
        }
        free(out);
    }
    if (bad == 0) {
        passed++;
        printf("ok   %s\n", name);
    } else {
        failed++;
        printf("FAIL %s\n", name);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    expect("plain_ascii_is_copied", "eyJhbGciOiJFZERTQSJ9.e30.c2ln", 29,
           "eyJhbGciOiJFZERTQSJ9.e30.c2ln");
    expect("quote_and_backslash_are_escaped", "a\"b\\c", 5, "a\\\"b\\\\c");
    expect("control_characters_are_escaped_as_rfc_8785_does", "a\nb\x01\x7f\t", 6,
           "a\\nb\\u0001\x7f\\t");
    expect("utf8_is_kept", "D\xc3\xa9mo \xe2\x80\x9c", 9, "D\xc3\xa9mo \xe2\x80\x9c");
    expect("invalid_utf8_becomes_replacement",
           "a\xff"
           "b\xc3",
           4, "a\\ufffdb\\ufffd");
    expect("overlong_and_surrogates_are_invalid", "\xc0\xaf\xed\xa0\x80", 5,
           "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd");
    expect("nul_inside_is_escaped", "a\0b", 3, "a\\u0000b");
    expect("empty", "", 0, "");
    capacities("every_capacity_is_honoured_ascii",
               "consentd-proof.eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.signature-bytes-here");
    capacities("every_capacity_is_honoured_mixed",
               "x\"y\\z\n\xc3\xa9\xe2\x80\x9c plain tail \x01 end");
    return check_summary();
}
