/*
 * json.h - small JSON helpers over jansson and for hand-built answers.
 */
#ifndef CONSENTD_JSON_H
#define CONSENTD_JSON_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1..4, of at most left bytes),
 * or 0 when it is not one (overlong, surrogate, past U+10FFFF, cut). */
size_t json_utf8_len(const unsigned char *s, size_t left);

/* How many of the 16 bytes at p (0..16) are plain inside a JSON string
 * before the first that is not: a '"', a '\\', a control character or a
 * byte of 0x80 and above (UTF-8, checked one sequence at a time).
 * strbuf_json and json_scan step over plain text with it, sixteen bytes at
 * once, straight to the byte that needs a look. As GCC and Clang vectors
 * (SSE2 on x86-64, NEON on arm64, plain words elsewhere); as signed bytes,
 * "below 0x20" is both a control character and a byte of 0x80 and above. */
typedef signed char json_v16 __attribute__((vector_size(16)));
static inline size_t json_plain16(const void *p)
{
    json_v16 x, m;
    __builtin_memcpy(&x, p, sizeof(x));
    m = (x < 0x20) | (x == '"') | (x == '\\');
    unsigned long long w[2]; /* each byte 0xff where p's is not plain */
    __builtin_memcpy(w, &m, sizeof(w));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    if (w[0] != 0) return (size_t)__builtin_clzll(w[0]) / 8;
    return w[1] != 0 ? 8 + (size_t)__builtin_clzll(w[1]) / 8 : 16;
#else
    if (w[0] != 0) return (size_t)__builtin_ctzll(w[0]) / 8;
    return w[1] != 0 ? 8 + (size_t)__builtin_ctzll(w[1]) / 8 : 16;
#endif
}

/* Escape len bytes of s as the inside of a JSON string into out (always
 * NUL-terminated, cut to fit cap). The escapes are those of RFC 8785 (JSON
 * canonicalization): '"', '\\' and control characters only, with the short
 * forms \b \t \n \f \r where JSON has them. Bytes that are not valid
 * UTF-8 become U+FFFD, so the result is always valid JSON. strbuf_json
 * writes the same. Returns bytes written. */
/* "\\n" for '\n' (and \b \t \f \r), NULL for any other byte. */
const char *json_short_escape(unsigned char c);
size_t json_escape(char *out, size_t cap, const char *s, size_t len);

/* The error message of a field of a JSON document, as config and site
 * files report them: "<file>: <field>: <reason>", or "<file>: <reason>"
 * when field is NULL, cut to fit errlen (nothing written when errlen is 0).
 * Returns -1, for `return json_field_error(...)`. */
int json_field_error(char *err, size_t errlen, const char *file, const char *field, const char *fmt,
                     va_list ap) __attribute__((format(printf, 5, 0)));

/* The first key of obj that is not in allowed (NULL-terminated), or NULL
 * when there is none; then known holds the allowed keys, ", "-separated
 * (cut to fit cap), for the error that names the typo. */
const char *json_unknown_key(const json_t *obj, const char *const *allowed, char *known,
                             size_t cap);

#endif
