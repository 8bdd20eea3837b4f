/*
 * json_scan.c - the allocation-free JSON reader (see json_scan.h).
 *
 * Validation is one pass with an explicit stack (no recursion: depth is
 * bounded by JSON_SCAN_DEPTH_MAX, not by the thread's stack). Reading
 * members afterwards re-lexes the validated text, so it needs no checks.
 */
#include "json_scan.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static const char *json_scan_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int json_scan_hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

/* A string starting at p ('"'): its end (after the closing quote), or NULL
 * when it is not a valid one. *escaped: 1 when it holds a backslash. */
static const char *json_scan_string_end(const char *p, const char *end, int *escaped)
{
    *escaped = 0;
    for (p++; p < end;) {
        if (end - p >= 16) { /* sixteen bytes a step, to the first that is not plain */
            size_t n = json_plain16(p);
            p += n;
            if (n == 16) continue;
        }
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c >= 0x80) {
            size_t n = json_utf8_len((const unsigned char *)p, (size_t)(end - p));
            if (n == 0) return NULL;
            p += n;
            continue;
        }
        if (c != '\\') {
            p++;
            continue;
        }
        *escaped = 1;
        if (++p >= end) return NULL;
        if (strchr("\"\\/bfnrt", *p) != NULL && *p != '\0') {
            p++;
            continue;
        }
        unsigned cp, lo;
        if (*p != 'u' || json_scan_hex4(p + 1, end, &cp) != 0 || cp == 0) return NULL;
        p += 5;
        if (cp >= 0xdc00 && cp <= 0xdfff) return NULL; /* a low surrogate alone */
        if (cp >= 0xd800 && cp <= 0xdbff) {            /* a high one: its low one follows */
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                json_scan_hex4(p + 2, end, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                return NULL;
            p += 6;
        }
    }
    return NULL;
}

/* A number starting at p: its end, or NULL when it is not one, or an
 * integer out of int64_t, or a real that overflows (as jansson refuses). */
static const char *json_scan_number_end(const char *p, const char *end)
{
    const char *s = p;
    int real = 0;
    if (p < end && *p == '-') p++;
    if (p >= end) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        real = 1;
        if (++p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = 1;
        if (++p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    /* The range, on a NUL-terminated copy (a body is a few KB at most). */
    size_t n = (size_t)(p - s);
    char stack[128], *copy = n < sizeof(stack) ? stack : malloc(n + 1);
    if (copy == NULL) return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    errno = 0;
    int bad;
    if (real) {
        double d = strtod(copy, NULL);
        bad = errno == ERANGE && (d > 1.0 || d < -1.0); /* overflow; underflow is fine */
    } else {
        (void)strtoll(copy, NULL, 10);
        bad = errno == ERANGE;
    }
    if (copy != stack) free(copy);
    return bad ? NULL : p;
}

/* The end of the literal lit at p, or NULL. */
static const char *json_scan_literal_end(const char *p, const char *end, const char *lit, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

/* Decode the string at s (validated; quotes included) into out: the
 * length, or -1 when it needs more than cap - 1 bytes. */
static ssize_t json_scan_decode(const char *s, size_t len, char *out, size_t cap)
{
    const char *p = s + 1, *end = s + len - 1;
    size_t o = 0;
    while (p < end) {
        /* The text up to the next escape as it is, in one copy (the string
         * was checked: a backslash is the only byte that changes). */
        const char *esc = memchr(p, '\\', (size_t)(end - p));
        size_t run = (size_t)((esc != NULL ? esc : end) - p);
        if (run > 0) {
            if (o + run >= cap) return -1;
            memcpy(out + o, p, run);
            o += run;
            p += run;
            continue;
        }
        char buf[4];
        size_t n = 1;
        /* an escape, at p */
        char e = p[1];
        p += 2;
        if (e != 'u') {
            buf[0] = e == 'b'   ? '\b'
                     : e == 'f' ? '\f'
                     : e == 'n' ? '\n'
                     : e == 'r' ? '\r'
                     : e == 't' ? '\t'
                                : e;
        } else {
            unsigned cp = 0, lo = 0xdc00; /* validated: always set */
            json_scan_hex4(p, end, &cp);
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                json_scan_hex4(p + 2, end, &lo);
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp < 0x80) {
                buf[0] = (char)cp;
            } else if (cp < 0x800) {
                buf[0] = (char)(0xc0 | cp >> 6);
                buf[1] = (char)(0x80 | (cp & 0x3f));
                n = 2;
            } else if (cp < 0x10000) {
                buf[0] = (char)(0xe0 | cp >> 12);
                buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                buf[2] = (char)(0x80 | (cp & 0x3f));
                n = 3;
            } else {
                buf[0] = (char)(0xf0 | cp >> 18);
                buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
                buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
                buf[3] = (char)(0x80 | (cp & 0x3f));
                n = 4;
            }
        }
        if (o + n >= cap) return -1;
        memcpy(out + o, buf, n);
        o += n;
    }
    if (o >= cap) return -1;
    out[o] = '\0';
    return (ssize_t)o;
}

typedef struct json_scan_key {
    const char *text; /* quotes included */
    size_t len;
    int escaped;
} json_scan_key_t;

/* 1 when the two keys decode to the same bytes. */
static int json_scan_same_key(const json_scan_key_t *a, const json_scan_key_t *b)
{
    if (!a->escaped && !b->escaped)
        return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
    char da[JSON_SCAN_KEY_MAX + 1], db[JSON_SCAN_KEY_MAX + 1];
    ssize_t na = json_scan_decode(a->text, a->len, da, sizeof(da));
    ssize_t nb = json_scan_decode(b->text, b->len, db, sizeof(db));
    return na == nb && memcmp(da, db, (size_t)na) == 0;
}

int json_scan_parse(const char *text, size_t len, json_scan_value_t *root, const char **err)
{
    char open[JSON_SCAN_DEPTH_MAX];                /* '{' or '[' per level */
    unsigned short keys_from[JSON_SCAN_DEPTH_MAX]; /* first key of each open object */
    json_scan_key_t keys[JSON_SCAN_KEYS_MAX];
    size_t depth = 0, n_keys = 0;
    const char *p = json_scan_ws(text, text + len), *end = text + len;
    *err = "the body is not valid JSON";
    if (p >= end || (*p != '{' && *p != '[')) {
        *err = "the body must be a JSON object or array";
        return -1;
    }
    const char *start = p;
    int escaped;
    for (;;) {
        /* A value at p. */
        const char *after;
        if (p >= end) return -1;
        switch (*p) {
        case '{':
        case '[':
            if (depth == JSON_SCAN_DEPTH_MAX) {
                *err = "the body nests too deep";
                return -1;
            }
            open[depth] = *p;
            keys_from[depth] = (unsigned short)n_keys;
            depth++;
            p = json_scan_ws(p + 1, end);
            if (p < end && *p == (open[depth - 1] == '{' ? '}' : ']')) {
                depth--;
                n_keys = keys_from[depth];
                after = p + 1;
                break;
            }
            if (open[depth - 1] == '[') continue; /* its first value */
            goto key;
        case '"':
            after = json_scan_string_end(p, end, &escaped);
            break;
        case 't':
            after = json_scan_literal_end(p, end, "true", 4);
            break;
        case 'f':
            after = json_scan_literal_end(p, end, "false", 5);
            break;
        case 'n':
            after = json_scan_literal_end(p, end, "null", 4);
            break;
        default:
            after = json_scan_number_end(p, end);
        }
        if (after == NULL) return -1;
        p = after;
        /* After a value: close, or next. */
        for (;;) {
            if (depth == 0) {
                if (json_scan_ws(p, end) != end) return -1;
                root->type = *start == '{' ? JSON_SCAN_OBJECT : JSON_SCAN_ARRAY;
                root->text = start;
                root->len = (size_t)(p - start);
                *err = NULL;
                return 0;
            }
            p = json_scan_ws(p, end);
            if (p >= end) return -1;
            char close = open[depth - 1] == '{' ? '}' : ']';
            if (*p == close) {
                depth--;
                n_keys = keys_from[depth];
                p++;
                continue;
            }
            if (*p != ',') return -1;
            p = json_scan_ws(p + 1, end);
            break;
        }
        if (open[depth - 1] == '[') continue;
    key:
        /* A key at p, in the object open at depth - 1. */
        if (p >= end || *p != '"') return -1;
        after = json_scan_string_end(p, end, &escaped);
        if (after == NULL) return -1;
        json_scan_key_t k = {p, (size_t)(after - p), escaped};
        if (k.len - 2 > JSON_SCAN_KEY_MAX) {
            *err = "a key of the body is too long";
            return -1;
        }
        for (size_t i = keys_from[depth - 1]; i < n_keys; i++)
            if (json_scan_same_key(&keys[i], &k)) {
                *err = "the body names a key twice";
                return -1;
            }
        if (n_keys == JSON_SCAN_KEYS_MAX) {
            *err = "the body has too many keys";
            return -1;
        }
        keys[n_keys++] = k;
        p = json_scan_ws(after, end);
        if (p >= end || *p != ':') return -1;
        p = json_scan_ws(p + 1, end);
    }
}

/* The end of the validated value at p. */
/* A byte that ends a number or a literal: what may follow a value, and the
 * NUL (which a checked text never holds outside a string). */
static int json_scan_value_after(char c)
{
    switch (c) {
    case ',':
    case ']':
    case '}':
    case ' ':
    case '\t':
    case '\n':
    case '\r':
    case '\0':
        return 1;
    default:
        return 0;
    }
}

static const char *json_scan_skip(const char *p, const char *end)
{
    int escaped;
    if (*p == '"') return json_scan_string_end(p, end, &escaped);
    if (*p != '{' && *p != '[') { /* a number or a literal: up to what follows it */
        while (p < end && !json_scan_value_after(*p))
            p++;
        return p;
    }
    size_t depth = 0;
    for (; p < end; p++) {
        if (*p == '"') {
            p = json_scan_string_end(p, end, &escaped) - 1;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 0) return p + 1;
        }
    }
    return end;
}

static json_scan_type_t json_scan_type_of(char c)
{
    switch (c) {
    case '{':
        return JSON_SCAN_OBJECT;
    case '[':
        return JSON_SCAN_ARRAY;
    case '"':
        return JSON_SCAN_STRING;
    case 't':
        return JSON_SCAN_TRUE;
    case 'f':
        return JSON_SCAN_FALSE;
    case 'n':
        return JSON_SCAN_NULL;
    default:
        return JSON_SCAN_NUMBER;
    }
}

int json_scan_member(const json_scan_value_t *object, size_t *pos, json_scan_value_t *key,
                     json_scan_value_t *value)
{
    const char *end = object->text + object->len, *p = object->text + *pos;
    if (*pos == 0) p++; /* the '{' */
    p = json_scan_ws(p, end);
    if (*p == ',') p = json_scan_ws(p + 1, end);
    if (*p != '"') return 0; /* the '}' */
    key->type = JSON_SCAN_STRING;
    key->text = p;
    p = json_scan_skip(p, end);
    key->len = (size_t)(p - key->text);
    p = json_scan_ws(json_scan_ws(p, end) + 1, end); /* the ':' */
    value->type = json_scan_type_of(*p);
    value->text = p;
    p = json_scan_skip(p, end);
    value->len = (size_t)(p - value->text);
    *pos = (size_t)(p - object->text);
    return 1;
}

ssize_t json_scan_string(const json_scan_value_t *string, char *out, size_t cap)
{
    if (string->type != JSON_SCAN_STRING || cap == 0) return -1;
    return json_scan_decode(string->text, string->len, out, cap);
}

int json_scan_string_is(const json_scan_value_t *string, const char *s, size_t len)
{
    if (string->type != JSON_SCAN_STRING) return 0;
    if (memchr(string->text, '\\', string->len) == NULL)
        return string->len == len + 2 && memcmp(string->text + 1, s, len) == 0;
    char buf[JSON_SCAN_KEY_MAX + 1];
    ssize_t n = json_scan_decode(string->text, string->len, buf, sizeof(buf));
    return n >= 0 && (size_t)n == len && memcmp(buf, s, len) == 0;
}
