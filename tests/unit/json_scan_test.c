/*
 * json_scan_test.c - src/json_scan.c on the cases that matter to a request
 * body: what it accepts and refuses (as jansson does, see its fuzz harness
 * for the rest), its own limits, and reading members and strings back.
 */
#include "check.h"
#include "json_scan.h"

static int parse(const char *text)
{
    json_scan_value_t root;
    const char *err;
    return json_scan_parse(text, strlen(text), &root, &err);
}

static int valid_and_invalid_texts(void)
{
    static const char *const good[] = {
        "{}",
        "[]",
        " {\"a\" : [1, -0.5e+3, true, false, null, \"x\"]} \n",
        "[9223372036854775807,-9223372036854775808,1e-400]",
        "{\"s\":\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
        "{\"a\":{\"a\":{}}}",
        "{\"a\":1,\"b\":2}"};
    static const char *const bad[] = {"",
                                      "1",
                                      "\"s\"",
                                      "{",
                                      "{\"a\"}",
                                      "{\"a\":}",
                                      "{\"a\":1,}",
                                      "[1,]",
                                      "[01]",
                                      "[1.]",
                                      "[.5]",
                                      "[-]",
                                      "[1e]",
                                      "[9223372036854775808]",
                                      "[1e400]",
                                      "{\"a\":1,\"a\":2}",
                                      "{\"a\":1,\"\\u0061\":2}",
                                      "[\"\\u0000\"]",
                                      "[\"\\ud800\"]",
                                      "[\"\\udc00\"]",
                                      "[\"\\x\"]",
                                      "[\"\x01\"]",
                                      "[\"\xc3\x28\"]",
                                      "[truex]",
                                      "{}{}",
                                      "{} x"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (parse(good[i]) != 0) {
            printf("    refused: %s\n", good[i]);
            return -1;
        }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse(bad[i]) == 0) {
            printf("    accepted: %s\n", bad[i]);
            return -1;
        }
    /* A NUL byte inside the length refuses the text (jansson would skip it). */
    json_scan_value_t root;
    const char *err;
    CHECK(json_scan_parse("{}\0", 3, &root, &err) == -1);
    CHECK(json_scan_parse("{\"a\":0\0}", 8, &root, &err) == -1);
    /* Same keys in different objects are fine; in one object they are not,
     * whatever the escapes. */
    CHECK(parse("{\"a\":{\"a\":1},\"b\":{\"a\":2}}") == 0);
    CHECK(json_scan_parse("{\"\\u00e9\":1,\"\xc3\xa9\":2}", 21, &root, &err) == -1);
    CHECK_STR(err, "the body names a key twice");
    return 0;
}

static int depth_and_key_limits(void)
{
    static char deep[JSON_SCAN_DEPTH_MAX * 2 + 4];
    size_t n = 0;
    for (int i = 0; i < JSON_SCAN_DEPTH_MAX; i++)
        deep[n++] = '[';
    for (int i = 0; i < JSON_SCAN_DEPTH_MAX; i++)
        deep[n++] = ']';
    json_scan_value_t root;
    const char *err;
    CHECK(json_scan_parse(deep, n, &root, &err) == 0);
    memmove(deep + 1, deep, n);
    deep[0] = '[';
    deep[n + 1] = ']';
    CHECK(json_scan_parse(deep, n + 2, &root, &err) == -1);
    CHECK_STR(err, "the body nests too deep");
    char many[JSON_SCAN_KEYS_MAX * 12 + 16];
    size_t m = 0;
    many[m++] = '{';
    for (int i = 0; i <= JSON_SCAN_KEYS_MAX; i++)
        m += (size_t)snprintf(many + m, sizeof(many) - m, "%s\"k%d\":0", i ? "," : "", i);
    many[m++] = '}';
    CHECK(json_scan_parse(many, m, &root, &err) == -1);
    CHECK_STR(err, "the body has too many keys");
    return 0;
}

static int members_and_strings_read_back(void)
{
    const char *text = "{ \"visitor\" : \"v\\u00e9-1\", \"decisions\":{\"a\":true,\"b\":false},"
                       "\"n\":[1,{\"x\":\"]\"}], \"z\": null }";
    json_scan_value_t root, key, value;
    const char *err;
    CHECK(json_scan_parse(text, strlen(text), &root, &err) == 0 && root.type == JSON_SCAN_OBJECT);
    size_t pos = 0;
    char buf[32];
    CHECK(json_scan_member(&root, &pos, &key, &value) == 1);
    CHECK(json_scan_string_is(&key, "visitor", 7) && value.type == JSON_SCAN_STRING);
    CHECK(json_scan_string(&value, buf, sizeof(buf)) == 5);
    CHECK_STR(buf, "v\xc3\xa9-1");
    CHECK(json_scan_string(&value, buf, 5) == -1); /* does not fit with its NUL */
    CHECK(json_scan_member(&root, &pos, &key, &value) == 1 && value.type == JSON_SCAN_OBJECT);
    size_t dpos = 0;
    json_scan_value_t dk, dv;
    CHECK(json_scan_member(&value, &dpos, &dk, &dv) == 1 && dv.type == JSON_SCAN_TRUE);
    CHECK(json_scan_member(&value, &dpos, &dk, &dv) == 1 && dv.type == JSON_SCAN_FALSE);
    CHECK(json_scan_string_is(&dk, "b", 1));
    CHECK(json_scan_member(&value, &dpos, &dk, &dv) == 0);
    CHECK(json_scan_member(&root, &pos, &key, &value) == 1 && value.type == JSON_SCAN_ARRAY);
    CHECK(value.len == strlen("[1,{\"x\":\"]\"}]"));
    CHECK(json_scan_member(&root, &pos, &key, &value) == 1 && value.type == JSON_SCAN_NULL);
    CHECK(json_scan_member(&root, &pos, &key, &value) == 0);
    return 0;
}

/* Strings are read sixteen plain bytes a step: one byte of every value, at
 * every place of a step and across two, in strings of every length up to
 * three steps, is accepted exactly when it is plain (a '"' ends the string
 * early, a lone backslash, control character or byte of 0x80 and above is
 * refused), and then read back whole; so is a two-byte UTF-8 character. */
static int strings_are_checked_at_every_offset(void)
{
    char text[64], buf[64];
    json_scan_value_t root, key, value;
    const char *err;
    for (size_t len = 1; len <= 48; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int v = 1; v < 256; v++) {
                memcpy(text, "{\"k\":\"", 6);
                memset(text + 6, 'a', len);
                text[6 + at] = (char)v;
                memcpy(text + 6 + len, "\"}", 3);
                int plain = v >= 0x20 && v < 0x80 && v != '"' && v != '\\';
                int rc = json_scan_parse(text, 6 + len + 2, &root, &err);
                CHECK((rc == 0) == plain);
                if (!plain) continue;
                size_t pos = 0;
                CHECK(json_scan_member(&root, &pos, &key, &value) == 1);
                CHECK(json_scan_string(&value, buf, sizeof(buf)) == (ssize_t)len);
                CHECK(memcmp(buf, text + 6, len) == 0);
            }
            if (at + 1 < len) { /* U+00E9 */
                text[6 + at] = (char)0xc3;
                text[6 + at + 1] = (char)0xa9;
                CHECK(json_scan_parse(text, 6 + len + 2, &root, &err) == 0);
            }
        }
    }
    return 0;
}

/* A string is read back in runs up to each escape: an escape (short, or
 * \u00e9 for two bytes) at every place of strings up to 40 bytes decodes
 * to the text around it, and the result fits exactly when there is room
 * for it and its NUL. */
static int escapes_are_decoded_at_every_offset(void)
{
    static const struct {
        const char *json, *bytes;
    } escapes[] = {{"\\n", "\n"}, {"\\\"", "\""}, {"\\u00e9", "\xc3\xa9"}};
    char text[96], want[64], buf[64];
    json_scan_value_t root, key, value;
    const char *err;
    for (size_t e = 0; e < sizeof(escapes) / sizeof(escapes[0]); e++) {
        size_t ej = strlen(escapes[e].json), eb = strlen(escapes[e].bytes);
        for (size_t len = 0; len <= 40; len++) {
            for (size_t at = 0; at <= len; at++) {
                size_t t = 0;
                memcpy(text, "{\"k\":\"", 6);
                t = 6;
                memset(text + t, 'a', at);
                t += at;
                memcpy(text + t, escapes[e].json, ej);
                t += ej;
                memset(text + t, 'b', len - at);
                t += len - at;
                memcpy(text + t, "\"}", 2);
                t += 2;
                memset(want, 'a', at);
                memcpy(want + at, escapes[e].bytes, eb);
                memset(want + at + eb, 'b', len - at);
                size_t n = len + eb;
                CHECK(json_scan_parse(text, t, &root, &err) == 0);
                size_t pos = 0;
                CHECK(json_scan_member(&root, &pos, &key, &value) == 1);
                CHECK(json_scan_string(&value, buf, n + 1) == (ssize_t)n);
                CHECK(memcmp(buf, want, n) == 0 && buf[n] == '\0');
                CHECK(json_scan_string(&value, buf, n) == -1);
            }
        }
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(valid_and_invalid_texts);
    RUN(depth_and_key_limits);
    RUN(members_and_strings_read_back);
    RUN(strings_are_checked_at_every_offset);
    RUN(escapes_are_decoded_at_every_offset);
    return check_summary();
}
