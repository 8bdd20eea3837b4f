/*
 * json.c - JSON helpers.
 */
#include "json.h"

#include <stdio.h>
#include <string.h>

size_t json_utf8_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    unsigned min;
    unsigned cp;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n > left) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

const char *json_short_escape(unsigned char c)
{
    switch (c) {
    case '\b':
        return "\\b";
    case '\t':
        return "\\t";
    case '\n':
        return "\\n";
    case '\f':
        return "\\f";
    case '\r':
        return "\\r";
    default:
        return NULL;
    }
}

size_t json_escape(char *out, size_t cap, const char *s, size_t len)
{
    static const char replacement[] = "\\ufffd";
    size_t o = 0;
    if (cap == 0) return 0;
    for (size_t i = 0; i < len;) {
        const unsigned char *u = (const unsigned char *)s + i;
        if (o + 8 >= cap) break;
        /* A run of printable ASCII that needs no escape (all of a proof, an
         * id, a hash) is copied in one go, leaving the loop's 8 spare bytes. */
        size_t run = 0, room = cap - 8 - o;
        while (run < room && i + run < len && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' &&
               u[run] != '\\')
            run++;
        if (run > 0) {
            memcpy(out + o, u, run);
            o += run;
            i += run;
            continue;
        }
        size_t n = json_utf8_len(u, len - i);
        if (o + 8 >= cap) break;
        if (n == 0) {
            for (const char *r = replacement; *r; r++)
                out[o++] = *r;
            i++;
        } else if (n > 1) {
            if (o + n + 1 >= cap) break;
            for (size_t k = 0; k < n; k++)
                out[o++] = (char)u[k];
            i += n;
        } else if (*u == '"' || *u == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*u;
            i++;
        } else if (*u < 0x20) {
            const char *shrt = json_short_escape(*u);
            if (shrt != NULL) {
                out[o++] = shrt[0];
                out[o++] = shrt[1];
            } else {
                o += (size_t)snprintf(out + o, cap - o, "\\u%04x", *u);
            }
            i++;
        } else {
            out[o++] = (char)*u;
            i++;
        }
    }
    out[o] = '\0';
    return o;
}

int json_field_error(char *err, size_t errlen, const char *file, const char *field, const char *fmt,
                     va_list ap)
{
    if (err == NULL || errlen == 0) return -1;
    int n = field != NULL ? snprintf(err, errlen, "%s: %s: ", file, field)
                          : snprintf(err, errlen, "%s: ", file);
    if (n >= 0 && (size_t)n < errlen) vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    return -1;
}

const char *json_unknown_key(const json_t *obj, const char *const *allowed, char *known, size_t cap)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        int found = 0;
        for (size_t i = 0; allowed[i] != NULL && !found; i++)
            found = strcmp(key, allowed[i]) == 0;
        if (found) continue;
        size_t o = 0;
        known[0] = '\0';
        for (size_t i = 0; allowed[i] != NULL && o < cap; i++) {
            int n = snprintf(known + o, cap - o, "%s%s", i ? ", " : "", allowed[i]);
            if (n < 0) break;
            o += (size_t)n;
        }
        return key;
    }
    return NULL;
}
