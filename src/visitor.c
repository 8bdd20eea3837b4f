/*
 * visitor.c - the visitor id's rule and hash (see visitor.h).
 */
#include "visitor.h"

int visitor_id_valid(const char *s, size_t len)
{
    if (s == NULL || len < VISITOR_ID_MIN || len > VISITOR_ID_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

uint32_t visitor_hash32(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}
