/*
 * json_scan.h - a validating JSON reader for small request bodies that
 * allocates nothing: the consent POST body is read with it, on the consent
 * write path, where building a jansson tree was a tenth of the write's
 * instructions (issue 18, item 14).
 *
 * json_scan_parse validates the whole text first, as jansson's json_loadb
 * with JSON_REJECT_DUPLICATES reads it: RFC 8259 grammar, a top-level object
 * or array, strings of valid UTF-8 with no raw control character, escapes
 * with paired surrogates and no \u0000, integers within int64_t and reals
 * that do not overflow, no key twice in one object (compared decoded),
 * depth at most JSON_SCAN_DEPTH_MAX. Two limits of its own, far above any
 * body consentd takes: at most JSON_SCAN_KEYS_MAX keys in the objects open
 * at once, and keys of at most JSON_SCAN_KEY_MAX bytes as written. And one
 * place where it is stricter than jansson 2.14, which skips NUL bytes
 * wherever they stand: a NUL byte is refused, as RFC 8259 says. The fuzz
 * harness tests/fuzz/json_scan_fuzz.c holds it to jansson's verdict on
 * every input within those limits.
 *
 * Then json_scan_member walks the members of an object value, and
 * json_scan_string decodes a string value. Values point into the text:
 * the text must outlive them. Pure functions, safe from any thread.
 */
#ifndef CONSENTD_JSON_SCAN_H
#define CONSENTD_JSON_SCAN_H

#include <stddef.h>
#include <sys/types.h>

#define JSON_SCAN_DEPTH_MAX 2048 /* jansson's default */
#define JSON_SCAN_KEYS_MAX 256   /* keys of the objects open at once */
#define JSON_SCAN_KEY_MAX 256    /* bytes of a decoded key */

typedef enum {
    JSON_SCAN_OBJECT,
    JSON_SCAN_ARRAY,
    JSON_SCAN_STRING,
    JSON_SCAN_NUMBER,
    JSON_SCAN_TRUE,
    JSON_SCAN_FALSE,
    JSON_SCAN_NULL
} json_scan_type_t;

/* A value: its type and its text, from its first byte to its last (the
 * quotes of a string, the braces of an object included). */
typedef struct json_scan_value {
    json_scan_type_t type;
    const char *text;
    size_t len;
} json_scan_value_t;

/* Validate text[0..len) and give its top-level value in root: 0, or -1 with
 * a reason in err (a static string) when it is not JSON as above. */
int json_scan_parse(const char *text, size_t len, json_scan_value_t *root, const char **err);

/* The members of a validated object, in text order: start with *pos = 0;
 * each call gives the next key (a string value) and value and returns 1,
 * then 0 after the last one. */
int json_scan_member(const json_scan_value_t *object, size_t *pos, json_scan_value_t *key,
                     json_scan_value_t *value);

/* The decoded bytes of a validated string value into out (cap bytes, NUL
 * included): its length, or -1 when it does not fit. */
ssize_t json_scan_string(const json_scan_value_t *string, char *out, size_t cap);

/* 1 when the string value decodes to exactly s[0..len). */
int json_scan_string_is(const json_scan_value_t *string, const char *s, size_t len);

#endif
