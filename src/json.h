/*
 * json.h - small JSON helpers over jansson and for hand-built answers.
 */
#ifndef CONSENTD_JSON_H
#define CONSENTD_JSON_H

#include <stddef.h>

/* Escape len bytes of s as the inside of a JSON string into out (always
 * NUL-terminated, cut to fit cap). Bytes that are not valid UTF-8 become
 * U+FFFD, so the result is always valid JSON. Returns bytes written. */
size_t json_escape(char *out, size_t cap, const char *s, size_t len);

#endif
