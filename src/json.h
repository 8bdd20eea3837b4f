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
