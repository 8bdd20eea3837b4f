/*
 * gvl.c - the IAB Global Vendor List v3 and its translations, parsed and
 * checked; the store of every version on disk (see gvl.h).
 *
 * Layout of a parsed list: one arena (a chain of malloc'd chunks) holds the
 * gvl_t's arrays and strings; each id-keyed object of the JSON ("purposes":
 * {"1": {...}}) becomes an array sorted by id, looked up by binary search.
 * A key must equal its entry's "id" (the specification writes both).
 */
#include "gvl.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define GVL_ARENA_CHUNK 65536
#define GVL_PATH_MAX 4096
#define GVL_FIELD_MAX 256

/* ---- arena ------------------------------------------------------------------ */

typedef struct gvl_chunk {
    struct gvl_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} gvl_chunk_t;

typedef struct gvl_arena {
    gvl_chunk_t *head;
} gvl_arena_t;

static void *gvl_alloc(gvl_arena_t *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    gvl_chunk_t *c = a->head;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > GVL_ARENA_CHUNK ? size : GVL_ARENA_CHUNK;
        if ((c = malloc(sizeof(*c) + cap)) == NULL) return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

static void gvl_arena_free(gvl_arena_t *a)
{
    if (a == NULL) return;
    for (gvl_chunk_t *c = a->head, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

/* ---- parse context and errors --------------------------------------------- */

typedef struct gvl_parse {
    gvl_arena_t *arena;
    const char *name;
    char *err;
    size_t errlen;
} gvl_parse_t;

static int gvl_fail(const gvl_parse_t *p, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int gvl_fail(const gvl_parse_t *p, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_field_error(p->err, p->errlen, p->name, field, fmt, ap);
    va_end(ap);
    return -1;
}

static int gvl_oom(const gvl_parse_t *p)
{
    return gvl_fail(p, NULL, "out of memory");
}

/* A string of at most GVL_STRING_MAX bytes, copied; empty allowed where
 * allow_empty (the IAB writes "" for some descriptions). */
static int gvl_string(const gvl_parse_t *p, json_t *v, const char *field, int allow_empty,
                      const char **out)
{
    if (!json_is_string(v)) return gvl_fail(p, field, "must be a string");
    size_t len = json_string_length(v);
    if (len == 0 && !allow_empty) return gvl_fail(p, field, "must not be empty");
    if (len > GVL_STRING_MAX)
        return gvl_fail(p, field, "must be at most %d bytes long", GVL_STRING_MAX);
    const char *s = json_string_value(v);
    if (memchr(s, '\0', len) != NULL) return gvl_fail(p, field, "must not contain NUL");
    char *copy = gvl_alloc(p->arena, len + 1);
    if (copy == NULL) return gvl_oom(p);
    memcpy(copy, s, len);
    *out = copy;
    return 0;
}

static int gvl_opt_string(const gvl_parse_t *p, json_t *obj, const char *key, const char *prefix,
                          const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) return 0;
    char field[GVL_FIELD_MAX];
    snprintf(field, sizeof(field), "%.120s%s", prefix, key);
    return gvl_string(p, v, field, 1, out);
}

static int gvl_uint(const gvl_parse_t *p, json_t *v, const char *field, int64_t min, int64_t max,
                    uint32_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return gvl_fail(p, field, "must be an integer from %lld to %lld", (long long)min,
                        (long long)max);
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

/* An optional boolean: -1 when absent. */
static int gvl_opt_bool(const gvl_parse_t *p, json_t *obj, const char *key, const char *prefix,
                        int *out)
{
    json_t *v = json_object_get(obj, key);
    *out = -1;
    if (v == NULL) return 0;
    if (!json_is_boolean(v)) {
        char field[GVL_FIELD_MAX];
        snprintf(field, sizeof(field), "%.120s%s", prefix, key);
        return gvl_fail(p, field, "must be true or false");
    }
    *out = json_is_true(v);
    return 0;
}

static int gvl_id_cmp(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* An array of distinct ids from 1 to max, sorted into the arena. Absent or
 * null: empty. what (optional): each id must be one of known's entries
 * (what names "one of the GVL's purposes" in the message). With GVL_LENIENT
 * in max, an integer that is not a known id is left out instead (see
 * dataDeclaration below). */
#define GVL_LENIENT 0x10000u
static int gvl_id_list(const gvl_parse_t *p, json_t *obj, const char *key, const char *prefix,
                       unsigned max, const gvl_entry_t *known, size_t n_known, const char *what,
                       gvl_ids_t *out)
{
    int lenient = (max & GVL_LENIENT) != 0;
    max &= ~GVL_LENIENT;
    json_t *arr = json_object_get(obj, key);
    out->ids = NULL;
    out->n = 0;
    if (arr == NULL || json_is_null(arr)) return 0;
    char field[GVL_FIELD_MAX];
    snprintf(field, sizeof(field), "%.120s%s", prefix, key);
    if (!json_is_array(arr)) return gvl_fail(p, field, "must be an array of ids");
    size_t n = json_array_size(arr);
    if (n > max) return gvl_fail(p, field, "must have at most %u entries", max);
    if (n == 0) return 0;
    uint16_t *ids = gvl_alloc(p->arena, n * sizeof(*ids));
    if (ids == NULL) return gvl_oom(p);
    size_t arr_skipped = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        char item[GVL_FIELD_MAX + 32];
        snprintf(item, sizeof(item), "%.120s[%zu]", field, i);
        if (lenient && json_is_integer(v) &&
            (json_integer_value(v) < 1 || json_integer_value(v) > max)) {
            arr_skipped++;
            continue;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max)
            return gvl_fail(p, item, "must be an integer from 1 to %u", max);
        uint16_t id = (uint16_t)json_integer_value(v);
        if (what != NULL) {
            size_t lo = 0, hi = n_known;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (known[mid].id < id)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo == n_known || known[lo].id != id) {
                if (lenient) {
                    arr_skipped++;
                    continue;
                }
                return gvl_fail(p, item, "must be the id of one of the GVL's %s (%u is not)", what,
                                id);
            }
        }
        ids[i - arr_skipped] = id;
    }
    n -= arr_skipped;
    qsort(ids, n, sizeof(*ids), gvl_id_cmp);
    for (size_t i = 1; i < n; i++)
        if (ids[i] == ids[i - 1]) return gvl_fail(p, field, "lists %u twice", ids[i]);
    out->ids = ids;
    out->n = n;
    return 0;
}

int gvl_ids_has(gvl_ids_t list, unsigned id)
{
    size_t lo = 0, hi = list.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (list.ids[mid] < id)
            lo = mid + 1;
        else if (list.ids[mid] > id)
            hi = mid;
        else
            return 1;
    }
    return 0;
}

/* The id an object key names: decimal, 1..max, no leading zero. */
static int gvl_key_id(const char *key, unsigned max, unsigned *out)
{
    size_t len = strlen(key);
    if (len == 0 || len > 5 || key[0] == '0') return -1;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)key[i])) return -1;
        v = v * 10 + (unsigned)(key[i] - '0');
    }
    if (v < 1 || v > max) return -1;
    *out = v;
    return 0;
}

/* An id-keyed object ("1": {"id": 1, ...}): checks each key and its "id",
 * then calls each(p, entry, id, prefix, i) in id order. *count is set. */
typedef int (*gvl_each_fn)(const gvl_parse_t *p, json_t *entry, unsigned id, const char *prefix,
                           size_t i, void *ctx);

typedef struct gvl_keyed {
    const char *key;
    unsigned id;
    json_t *value;
} gvl_keyed_t;

static int gvl_keyed_cmp(const void *a, const void *b)
{
    return (int)((const gvl_keyed_t *)a)->id - (int)((const gvl_keyed_t *)b)->id;
}

static int gvl_keyed_object(const gvl_parse_t *p, json_t *root, const char *key, int required,
                            unsigned max_id, size_t max_n, size_t *count, gvl_each_fn each,
                            void *ctx)
{
    json_t *obj = json_object_get(root, key);
    *count = 0;
    if (obj == NULL) return required ? gvl_fail(p, key, "is required") : 0;
    if (!json_is_object(obj)) return gvl_fail(p, key, "must be an object keyed by id");
    size_t n = json_object_size(obj);
    if (n > max_n) return gvl_fail(p, key, "must have at most %zu entries", max_n);
    if (n == 0) return 0;
    gvl_keyed_t *items = malloc(n * sizeof(*items));
    if (items == NULL) return gvl_oom(p);
    size_t k = 0;
    const char *name;
    json_t *v;
    int rc = 0;
    json_object_foreach(obj, name, v)
    {
        char field[GVL_FIELD_MAX];
        snprintf(field, sizeof(field), "%s.%.32s", key, name);
        unsigned id;
        if (gvl_key_id(name, max_id, &id) != 0) {
            rc = gvl_fail(p, field, "the key must be an id from 1 to %u", max_id);
            break;
        }
        if (!json_is_object(v)) {
            rc = gvl_fail(p, field, "must be an object");
            break;
        }
        json_t *idv = json_object_get(v, "id");
        if (!json_is_integer(idv) || json_integer_value(idv) != (json_int_t)id) {
            char idf[GVL_FIELD_MAX + 8];
            snprintf(idf, sizeof(idf), "%.120s.id", field);
            rc = gvl_fail(p, idf, "must be %u, the entry's key", id);
            break;
        }
        items[k].key = name;
        items[k].id = id;
        items[k].value = v;
        k++;
    }
    if (rc == 0) {
        qsort(items, k, sizeof(*items), gvl_keyed_cmp);
        for (size_t i = 0; i < k && rc == 0; i++) {
            char prefix[GVL_FIELD_MAX];
            snprintf(prefix, sizeof(prefix), "%s.%u.", key, items[i].id);
            rc = each(p, items[i].value, items[i].id, prefix, i, ctx);
        }
    }
    free(items);
    if (rc == 0) *count = k;
    return rc;
}

/* ---- purposes, features, data categories, stacks ----------------------------- */

typedef struct gvl_entries_ctx {
    gvl_entry_t *out;
    int is_purpose; /* read "consentable" and "rightToObject" */
} gvl_entries_ctx_t;

static int gvl_each_entry(const gvl_parse_t *p, json_t *obj, unsigned id, const char *prefix,
                          size_t i, void *ctx)
{
    gvl_entries_ctx_t *c = ctx;
    gvl_entry_t *e = &c->out[i];
    char field[GVL_FIELD_MAX];
    e->id = (uint16_t)id;
    e->consentable = 1;
    e->right_to_object = 1;
    json_t *v = json_object_get(obj, "name");
    snprintf(field, sizeof(field), "%.120sname", prefix);
    if (v == NULL) return gvl_fail(p, field, "is required");
    if (gvl_string(p, v, field, 0, &e->name) != 0) return -1;
    if (gvl_opt_string(p, obj, "description", prefix, &e->description) != 0) return -1;
    json_t *ill = json_object_get(obj, "illustrations");
    if (ill != NULL && !json_is_null(ill)) {
        snprintf(field, sizeof(field), "%.120sillustrations", prefix);
        if (!json_is_array(ill)) return gvl_fail(p, field, "must be an array of strings");
        size_t n = json_array_size(ill);
        if (n > GVL_ILLUSTRATIONS_MAX)
            return gvl_fail(p, field, "must have at most %d entries", GVL_ILLUSTRATIONS_MAX);
        if (n > 0 && (e->illustrations = gvl_alloc(p->arena, n * sizeof(char *))) == NULL)
            return gvl_oom(p);
        for (size_t j = 0; j < n; j++) {
            char item[GVL_FIELD_MAX + 32];
            snprintf(item, sizeof(item), "%.120s[%zu]", field, j);
            if (gvl_string(p, json_array_get(ill, j), item, 1, &e->illustrations[j]) != 0)
                return -1;
        }
        e->n_illustrations = n;
    }
    if (c->is_purpose) {
        int b;
        if (gvl_opt_bool(p, obj, "consentable", prefix, &b) != 0) return -1;
        if (b == 0) e->consentable = 0;
        if (gvl_opt_bool(p, obj, "rightToObject", prefix, &b) != 0) return -1;
        if (b == 0) e->right_to_object = 0;
    }
    return 0;
}

static int gvl_entries(const gvl_parse_t *p, json_t *root, const char *key, int required,
                       unsigned max_id, int is_purpose, const gvl_entry_t **out, size_t *n)
{
    json_t *obj = json_object_get(root, key);
    size_t cap = json_is_object(obj) ? json_object_size(obj) : 0;
    gvl_entries_ctx_t c = {.is_purpose = is_purpose};
    *out = NULL;
    if (cap > 0 && (c.out = gvl_alloc(p->arena, cap * sizeof(*c.out))) == NULL) return gvl_oom(p);
    if (gvl_keyed_object(p, root, key, required, max_id, max_id, n, gvl_each_entry, &c) != 0)
        return -1;
    *out = c.out;
    return 0;
}

typedef struct gvl_stacks_ctx {
    gvl_stack_t *out;
    const gvl_t *gvl; /* NULL in a translation: the id lists are not read */
} gvl_stacks_ctx_t;

static int gvl_each_stack(const gvl_parse_t *p, json_t *obj, unsigned id, const char *prefix,
                          size_t i, void *ctx)
{
    gvl_stacks_ctx_t *c = ctx;
    gvl_stack_t *s = &c->out[i];
    char field[GVL_FIELD_MAX];
    s->id = (uint16_t)id;
    json_t *v = json_object_get(obj, "name");
    snprintf(field, sizeof(field), "%.120sname", prefix);
    if (v == NULL) return gvl_fail(p, field, "is required");
    if (gvl_string(p, v, field, 0, &s->name) != 0 ||
        gvl_opt_string(p, obj, "description", prefix, &s->description) != 0)
        return -1;
    if (c->gvl == NULL) return 0;
    if (gvl_id_list(p, obj, "purposes", prefix, GVL_PURPOSE_ID_MAX, c->gvl->purposes,
                    c->gvl->n_purposes, "purposes", &s->purposes) != 0 ||
        gvl_id_list(p, obj, "specialFeatures", prefix, GVL_SPECIAL_FEATURE_ID_MAX,
                    c->gvl->special_features, c->gvl->n_special_features, "special features",
                    &s->special_features) != 0)
        return -1;
    return 0;
}

static int gvl_stacks(const gvl_parse_t *p, json_t *root, int required, const gvl_t *gvl,
                      const gvl_stack_t **out, size_t *n)
{
    json_t *obj = json_object_get(root, "stacks");
    size_t cap = json_is_object(obj) ? json_object_size(obj) : 0;
    gvl_stacks_ctx_t c = {.gvl = gvl};
    *out = NULL;
    if (cap > 0 && (c.out = gvl_alloc(p->arena, cap * sizeof(*c.out))) == NULL) return gvl_oom(p);
    if (gvl_keyed_object(p, root, "stacks", required, GVL_STACK_ID_MAX, GVL_STACK_ID_MAX, n,
                         gvl_each_stack, &c) != 0)
        return -1;
    *out = c.out;
    return 0;
}

/* ---- vendors ------------------------------------------------------------------- */

typedef struct gvl_vendors_ctx {
    gvl_vendor_t *out;
    const gvl_t *gvl;
} gvl_vendors_ctx_t;

/* dataRetention.purposes / .specialPurposes: {"<id>": days}. */
static int gvl_retention_map(const gvl_parse_t *p, json_t *obj, const char *key, const char *prefix,
                             unsigned max_id, const gvl_entry_t *known, size_t n_known,
                             const gvl_retention_t **out, size_t *n)
{
    json_t *m = json_object_get(obj, key);
    char field[GVL_FIELD_MAX];
    snprintf(field, sizeof(field), "%.120s%s", prefix, key);
    *out = NULL;
    *n = 0;
    if (m == NULL || json_is_null(m)) return 0;
    if (!json_is_object(m)) return gvl_fail(p, field, "must be an object of days by id");
    size_t cap = json_object_size(m);
    if (cap > max_id) return gvl_fail(p, field, "must have at most %u entries", max_id);
    if (cap == 0) return 0;
    gvl_retention_t *r = gvl_alloc(p->arena, cap * sizeof(*r));
    if (r == NULL) return gvl_oom(p);
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach(m, k, v)
    {
        char item[GVL_FIELD_MAX + 40];
        snprintf(item, sizeof(item), "%.120s.%.32s", field, k);
        unsigned id;
        if (gvl_key_id(k, max_id, &id) != 0)
            return gvl_fail(p, item, "the key must be an id from 1 to %u", max_id);
        int found = 0;
        for (size_t j = 0; j < n_known; j++)
            found |= known[j].id == id;
        if (!found) return gvl_fail(p, item, "must be the id of one of the GVL's %s", key);
        uint32_t days = 0;
        if (gvl_uint(p, v, item, 0, UINT32_MAX, &days) != 0) return -1;
        r[i].id = (uint16_t)id;
        r[i].days = days;
        i++;
    }
    *out = r;
    *n = i;
    return 0;
}

static int gvl_vendor_urls(const gvl_parse_t *p, json_t *obj, const char *prefix, gvl_vendor_t *ven)
{
    json_t *arr = json_object_get(obj, "urls");
    char field[GVL_FIELD_MAX];
    snprintf(field, sizeof(field), "%.120surls", prefix);
    if (arr == NULL || json_is_null(arr)) return 0;
    if (!json_is_array(arr)) return gvl_fail(p, field, "must be an array");
    size_t n = json_array_size(arr);
    if (n > GVL_URLS_MAX) return gvl_fail(p, field, "must have at most %d entries", GVL_URLS_MAX);
    if (n == 0) return 0;
    gvl_vendor_url_t *urls = gvl_alloc(p->arena, n * sizeof(*urls));
    if (urls == NULL) return gvl_oom(p);
    for (size_t i = 0; i < n; i++) {
        json_t *u = json_array_get(arr, i);
        char item[GVL_FIELD_MAX + 32];
        snprintf(item, sizeof(item), "%.120s[%zu].", field, i);
        if (!json_is_object(u)) return gvl_fail(p, field, "entry %zu must be an object", i);
        json_t *lang = json_object_get(u, "langId");
        char f2[GVL_FIELD_MAX + 64];
        snprintf(f2, sizeof(f2), "%.120slangId", item);
        if (lang == NULL) return gvl_fail(p, f2, "is required");
        if (gvl_string(p, lang, f2, 0, &urls[i].lang) != 0) return -1;
        if (strlen(urls[i].lang) > GVL_LANG_MAX)
            return gvl_fail(p, f2, "must be at most %d bytes long", GVL_LANG_MAX);
        if (gvl_opt_string(p, u, "privacy", item, &urls[i].privacy) != 0 ||
            gvl_opt_string(p, u, "legIntClaim", item, &urls[i].leg_int_claim) != 0)
            return -1;
    }
    ven->urls = urls;
    ven->n_urls = n;
    return 0;
}

static int gvl_each_vendor(const gvl_parse_t *p, json_t *obj, unsigned id, const char *prefix,
                           size_t i, void *ctx)
{
    gvl_vendors_ctx_t *c = ctx;
    const gvl_t *g = c->gvl;
    gvl_vendor_t *ven = &c->out[i];
    char field[GVL_FIELD_MAX];
    ven->id = (uint16_t)id;
    json_t *v = json_object_get(obj, "name");
    snprintf(field, sizeof(field), "%.120sname", prefix);
    if (v == NULL) return gvl_fail(p, field, "is required");
    if (gvl_string(p, v, field, 0, &ven->name) != 0) return -1;
    if (gvl_id_list(p, obj, "purposes", prefix, GVL_PURPOSE_ID_MAX, g->purposes, g->n_purposes,
                    "purposes", &ven->purposes) != 0 ||
        gvl_id_list(p, obj, "legIntPurposes", prefix, GVL_PURPOSE_ID_MAX, g->purposes,
                    g->n_purposes, "purposes", &ven->leg_int_purposes) != 0 ||
        gvl_id_list(p, obj, "flexiblePurposes", prefix, GVL_PURPOSE_ID_MAX, g->purposes,
                    g->n_purposes, "purposes", &ven->flexible_purposes) != 0 ||
        gvl_id_list(p, obj, "specialPurposes", prefix, GVL_SPECIAL_PURPOSE_ID_MAX,
                    g->special_purposes, g->n_special_purposes, "special purposes",
                    &ven->special_purposes) != 0 ||
        gvl_id_list(p, obj, "features", prefix, GVL_FEATURE_ID_MAX, g->features, g->n_features,
                    "features", &ven->features) != 0 ||
        gvl_id_list(p, obj, "specialFeatures", prefix, GVL_SPECIAL_FEATURE_ID_MAX,
                    g->special_features, g->n_special_features, "special features",
                    &ven->special_features) != 0 ||
        /* Informational, and the IAB has published a list with a data
         * category that does not exist (v17, vendor 738: 2008): such ids
         * are left out rather than refusing the whole list. */
        gvl_id_list(p, obj, "dataDeclaration", prefix, GVL_DATA_CATEGORY_ID_MAX | GVL_LENIENT,
                    g->data_categories, g->n_data_categories, "data categories",
                    &ven->data_declaration) != 0)
        return -1;
    /* The specification's constraints on the three purpose fields. */
    for (size_t j = 0; j < ven->purposes.n; j++)
        if (gvl_ids_has(ven->leg_int_purposes, ven->purposes.ids[j])) {
            snprintf(field, sizeof(field), "%.120slegIntPurposes", prefix);
            return gvl_fail(p, field, "purpose %u is also in purposes (consent): one legal basis",
                            ven->purposes.ids[j]);
        }
    for (size_t j = 0; j < ven->flexible_purposes.n; j++) {
        unsigned pid = ven->flexible_purposes.ids[j];
        if (!gvl_ids_has(ven->purposes, pid) && !gvl_ids_has(ven->leg_int_purposes, pid)) {
            snprintf(field, sizeof(field), "%.120sflexiblePurposes", prefix);
            return gvl_fail(p, field, "purpose %u must also be in purposes or legIntPurposes", pid);
        }
    }
    if (ven->purposes.n == 0 && ven->leg_int_purposes.n == 0 && ven->special_purposes.n == 0) {
        snprintf(field, sizeof(field), "vendors.%u", id);
        return gvl_fail(p, field, "declares no purpose and no special purpose");
    }
    /* dataRetention: {"stdRetention": days, "purposes": {...}, "specialPurposes": {...}} */
    ven->std_retention = -1;
    json_t *dr = json_object_get(obj, "dataRetention");
    if (dr != NULL && !json_is_null(dr)) {
        char drp[GVL_FIELD_MAX];
        snprintf(drp, sizeof(drp), "%.120sdataRetention", prefix);
        if (!json_is_object(dr)) return gvl_fail(p, drp, "must be an object");
        json_t *std = json_object_get(dr, "stdRetention");
        if (std != NULL && !json_is_null(std)) {
            uint32_t days = 0;
            snprintf(field, sizeof(field), "%.120sdataRetention.stdRetention", prefix);
            if (gvl_uint(p, std, field, 0, UINT32_MAX, &days) != 0) return -1;
            ven->std_retention = days;
        }
        strncat(drp, ".", sizeof(drp) - strlen(drp) - 1);
        if (gvl_retention_map(p, dr, "purposes", drp, GVL_PURPOSE_ID_MAX, g->purposes,
                              g->n_purposes, &ven->purpose_retention,
                              &ven->n_purpose_retention) != 0 ||
            gvl_retention_map(p, dr, "specialPurposes", drp, GVL_SPECIAL_PURPOSE_ID_MAX,
                              g->special_purposes, g->n_special_purposes,
                              &ven->special_purpose_retention,
                              &ven->n_special_purpose_retention) != 0)
            return -1;
    }
    if (gvl_vendor_urls(p, obj, prefix, ven) != 0 ||
        gvl_opt_string(p, obj, "deviceStorageDisclosureUrl", prefix,
                       &ven->device_storage_disclosure_url) != 0 ||
        gvl_opt_string(p, obj, "deletedDate", prefix, &ven->deleted_date) != 0 ||
        gvl_opt_bool(p, obj, "usesCookies", prefix, &ven->uses_cookies) != 0 ||
        gvl_opt_bool(p, obj, "cookieRefresh", prefix, &ven->cookie_refresh) != 0 ||
        gvl_opt_bool(p, obj, "usesNonCookieAccess", prefix, &ven->uses_non_cookie_access) != 0)
        return -1;
    v = json_object_get(obj, "cookieMaxAgeSeconds");
    if (v != NULL && !json_is_null(v)) {
        snprintf(field, sizeof(field), "%.120scookieMaxAgeSeconds", prefix);
        /* The IAB has published fractional values: accept any number, kept whole. */
        if (!json_is_number(v)) return gvl_fail(p, field, "must be a number of seconds or null");
        double secs = json_number_value(v);
        if (!(secs > -1e15 && secs < 1e15))
            return gvl_fail(p, field, "must be a number of seconds from -1e15 to 1e15");
        ven->has_cookie_max_age = 1;
        ven->cookie_max_age_seconds = (int64_t)secs;
    }
    json_t *ov = json_object_get(obj, "overflow");
    if (ov != NULL && !json_is_null(ov)) {
        snprintf(field, sizeof(field), "%.120soverflow.httpGetLimit", prefix);
        json_t *lim = json_is_object(ov) ? json_object_get(ov, "httpGetLimit") : NULL;
        if (!json_is_integer(lim) ||
            (json_integer_value(lim) != 32 && json_integer_value(lim) != 128))
            return gvl_fail(p, field, "must be 32 or 128");
        ven->overflow_http_get_limit = (uint32_t)json_integer_value(lim);
    }
    return 0;
}

/* ---- the list ------------------------------------------------------------------- */

static json_t *gvl_load_json(const gvl_parse_t *p, const char *json, size_t len)
{
    if (len > GVL_FILE_MAX_BYTES) {
        gvl_fail(p, NULL, "larger than %d bytes", GVL_FILE_MAX_BYTES);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        gvl_fail(p, NULL, "line %d, column %d: invalid JSON: %s", jerr.line, jerr.column,
                 jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        gvl_fail(p, NULL, "must be a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

gvl_t *gvl_parse(const char *name, const char *json, size_t len, char *err, size_t errlen)
{
    gvl_parse_t p = {.name = name, .err = err, .errlen = errlen};
    if ((p.arena = calloc(1, sizeof(*p.arena))) == NULL) {
        gvl_oom(&p);
        return NULL;
    }
    gvl_t *g = gvl_alloc(p.arena, sizeof(*g));
    json_t *root = g != NULL ? gvl_load_json(&p, json, len) : NULL;
    if (g == NULL) gvl_oom(&p);
    if (root == NULL) goto fail;
    json_t *v = json_object_get(root, "gvlSpecificationVersion");
    if (v == NULL) {
        gvl_fail(&p, "gvlSpecificationVersion", "is required");
        goto fail;
    }
    if (!json_is_integer(v) || json_integer_value(v) != GVL_SPEC_VERSION) {
        gvl_fail(&p, "gvlSpecificationVersion",
                 "must be 3 (the v3 list: https://vendor-list.consensu.org/v3/vendor-list.json)");
        goto fail;
    }
    g->spec_version = GVL_SPEC_VERSION;
    if ((v = json_object_get(root, "vendorListVersion")) == NULL) {
        gvl_fail(&p, "vendorListVersion", "is required");
        goto fail;
    }
    /* 12 bits in a TC string: 1..4095. */
    if (gvl_uint(&p, v, "vendorListVersion", 1, 4095, &g->vendor_list_version) != 0) goto fail;
    if ((v = json_object_get(root, "tcfPolicyVersion")) == NULL) {
        gvl_fail(&p, "tcfPolicyVersion", "is required");
        goto fail;
    }
    if (gvl_uint(&p, v, "tcfPolicyVersion", 1, 63, &g->tcf_policy_version) != 0) goto fail;
    if ((v = json_object_get(root, "lastUpdated")) == NULL) {
        gvl_fail(&p, "lastUpdated", "is required");
        goto fail;
    }
    if (gvl_string(&p, v, "lastUpdated", 0, &g->last_updated) != 0) goto fail;
    if (gvl_entries(&p, root, "purposes", 1, GVL_PURPOSE_ID_MAX, 1, &g->purposes, &g->n_purposes) !=
            0 ||
        gvl_entries(&p, root, "specialPurposes", 1, GVL_SPECIAL_PURPOSE_ID_MAX, 1,
                    &g->special_purposes, &g->n_special_purposes) != 0 ||
        gvl_entries(&p, root, "features", 1, GVL_FEATURE_ID_MAX, 0, &g->features, &g->n_features) !=
            0 ||
        gvl_entries(&p, root, "specialFeatures", 1, GVL_SPECIAL_FEATURE_ID_MAX, 0,
                    &g->special_features, &g->n_special_features) != 0 ||
        gvl_entries(&p, root, "dataCategories", 1, GVL_DATA_CATEGORY_ID_MAX, 0, &g->data_categories,
                    &g->n_data_categories) != 0 ||
        gvl_stacks(&p, root, 1, g, &g->stacks, &g->n_stacks) != 0)
        goto fail;
    if (g->n_purposes == 0) {
        gvl_fail(&p, "purposes", "must not be empty");
        goto fail;
    }
    json_t *vendors = json_object_get(root, "vendors");
    size_t cap = json_is_object(vendors) ? json_object_size(vendors) : 0;
    gvl_vendors_ctx_t vc = {.gvl = g};
    if (cap > 0 && cap <= GVL_VENDORS_MAX &&
        (vc.out = gvl_alloc(p.arena, cap * sizeof(*vc.out))) == NULL) {
        gvl_oom(&p);
        goto fail;
    }
    if (gvl_keyed_object(&p, root, "vendors", 1, GVL_VENDOR_ID_MAX, GVL_VENDORS_MAX, &g->n_vendors,
                         gvl_each_vendor, &vc) != 0)
        goto fail;
    g->vendors = vc.out;
    g->arena_ = p.arena;
    json_decref(root);
    return g;
fail:
    json_decref(root);
    gvl_arena_free(p.arena);
    return NULL;
}

void gvl_free(gvl_t *gvl)
{
    if (gvl != NULL) gvl_arena_free(gvl->arena_);
}

#define GVL_FIND(array, n, want)                                                                   \
    do {                                                                                           \
        size_t lo_ = 0, hi_ = (n);                                                                 \
        while (lo_ < hi_) {                                                                        \
            size_t mid_ = (lo_ + hi_) / 2;                                                         \
            if ((array)[mid_].id < (want))                                                         \
                lo_ = mid_ + 1;                                                                    \
            else if ((array)[mid_].id > (want))                                                    \
                hi_ = mid_;                                                                        \
            else                                                                                   \
                return &(array)[mid_];                                                             \
        }                                                                                          \
        return NULL;                                                                               \
    } while (0)

const gvl_vendor_t *gvl_vendor_find(const gvl_t *gvl, unsigned id)
{
    GVL_FIND(gvl->vendors, gvl->n_vendors, id);
}

const gvl_entry_t *gvl_purpose_find(const gvl_t *gvl, unsigned id)
{
    GVL_FIND(gvl->purposes, gvl->n_purposes, id);
}

const gvl_entry_t *gvl_special_feature_find(const gvl_t *gvl, unsigned id)
{
    GVL_FIND(gvl->special_features, gvl->n_special_features, id);
}

const gvl_stack_t *gvl_stack_find(const gvl_t *gvl, unsigned id)
{
    GVL_FIND(gvl->stacks, gvl->n_stacks, id);
}

/* ---- translations ------------------------------------------------------------- */

static int gvl_lang_ok(const char *s)
{
    size_t len = strlen(s);
    if (len < 2 || len > GVL_LANG_MAX || !islower((unsigned char)s[0]) ||
        !islower((unsigned char)s[1]))
        return 0;
    if (len == 2) return 1;
    if (s[2] != '-' || len < 4) return 0;
    for (size_t i = 3; i < len; i++)
        if (!isalnum((unsigned char)s[i])) return 0;
    return 1;
}

gvl_translation_t *gvl_translation_parse(const char *name, const char *lang, const char *json,
                                         size_t len, char *err, size_t errlen)
{
    gvl_parse_t p = {.name = name, .err = err, .errlen = errlen};
    if (!gvl_lang_ok(lang)) {
        gvl_fail(&p, NULL, "\"%.20s\" is not a language code (ISO 639-1, lower case)", lang);
        return NULL;
    }
    if ((p.arena = calloc(1, sizeof(*p.arena))) == NULL) {
        gvl_oom(&p);
        return NULL;
    }
    gvl_translation_t *t = gvl_alloc(p.arena, sizeof(*t));
    json_t *root = t != NULL ? gvl_load_json(&p, json, len) : NULL;
    if (t == NULL) gvl_oom(&p);
    if (root == NULL) goto fail;
    char *l = gvl_alloc(p.arena, strlen(lang) + 1);
    if (l == NULL) {
        gvl_oom(&p);
        goto fail;
    }
    memcpy(l, lang, strlen(lang));
    t->lang = l;
    json_t *v = json_object_get(root, "vendorListVersion");
    if (v != NULL && gvl_uint(&p, v, "vendorListVersion", 1, 4095, &t->vendor_list_version) != 0)
        goto fail;
    if (gvl_entries(&p, root, "purposes", 1, GVL_PURPOSE_ID_MAX, 1, &t->purposes, &t->n_purposes) !=
            0 ||
        gvl_entries(&p, root, "specialPurposes", 0, GVL_SPECIAL_PURPOSE_ID_MAX, 1,
                    &t->special_purposes, &t->n_special_purposes) != 0 ||
        gvl_entries(&p, root, "features", 0, GVL_FEATURE_ID_MAX, 0, &t->features, &t->n_features) !=
            0 ||
        gvl_entries(&p, root, "specialFeatures", 0, GVL_SPECIAL_FEATURE_ID_MAX, 0,
                    &t->special_features, &t->n_special_features) != 0 ||
        gvl_entries(&p, root, "dataCategories", 0, GVL_DATA_CATEGORY_ID_MAX, 0, &t->data_categories,
                    &t->n_data_categories) != 0 ||
        gvl_stacks(&p, root, 0, NULL, &t->stacks, &t->n_stacks) != 0)
        goto fail;
    if (t->n_purposes == 0) { /* as in the list: a translation names its purposes */
        gvl_fail(&p, "purposes", "must not be empty");
        goto fail;
    }
    t->arena_ = p.arena;
    json_decref(root);
    return t;
fail:
    json_decref(root);
    gvl_arena_free(p.arena);
    return NULL;
}

void gvl_translation_free(gvl_translation_t *t)
{
    if (t != NULL) gvl_arena_free(t->arena_);
}

/* ---- the store on disk ------------------------------------------------------------ */

struct gvl_store {
    char dir[GVL_PATH_MAX];
    gvl_t *latest;
    uint32_t *versions; /* ascending */
    size_t n_versions;
    gvl_translation_t **translations; /* the latest version's, sorted by lang */
    size_t n_translations;
};

static char *gvl_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(GVL_FILE_MAX_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, GVL_FILE_MAX_BYTES + 1, f) : 0;
    int failed = ferror(f);
    fclose(f);
    if (buf == NULL || failed || n > GVL_FILE_MAX_BYTES) {
        snprintf(err, errlen, "%s: %s", path,
                 buf == NULL ? "out of memory"
                 : failed    ? "cannot read: input/output error"
                             : "larger than the 16 MiB a vendor list may have");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* "vendor-list-v<N>.json" -> N; "purposes-<lang>-v<N>.json" -> lang, N. */
static int gvl_name_version(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 4 || s[0] == '0') return -1;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v < 1 || v > 4095) return -1;
    *out = v;
    return 0;
}

static int gvl_list_name(const char *name, uint32_t *version)
{
    size_t len = strlen(name);
    static const char pre[] = "vendor-list-v", suf[] = ".json";
    if (len <= sizeof(pre) - 1 + sizeof(suf) - 1 || strncmp(name, pre, sizeof(pre) - 1) != 0 ||
        strcmp(name + len - (sizeof(suf) - 1), suf) != 0)
        return -1;
    return gvl_name_version(name + sizeof(pre) - 1, len - (sizeof(pre) - 1) - (sizeof(suf) - 1),
                            version);
}

static int gvl_translation_name(const char *name, char *lang, size_t lang_cap, uint32_t *version)
{
    size_t len = strlen(name);
    static const char pre[] = "purposes-", suf[] = ".json";
    if (len <= sizeof(pre) - 1 + sizeof(suf) - 1 || strncmp(name, pre, sizeof(pre) - 1) != 0 ||
        strcmp(name + len - (sizeof(suf) - 1), suf) != 0)
        return -1;
    const char *body = name + sizeof(pre) - 1;
    size_t blen = len - (sizeof(pre) - 1) - (sizeof(suf) - 1);
    const char *dash = NULL;
    for (size_t i = blen; i > 0; i--)
        if (body[i - 1] == '-') {
            dash = body + i - 1;
            break;
        }
    if (dash == NULL || dash[1] != 'v' || (size_t)(dash - body) >= lang_cap) return -1;
    if (gvl_name_version(dash + 2, blen - (size_t)(dash - body) - 2, version) != 0) return -1;
    memcpy(lang, body, (size_t)(dash - body));
    lang[dash - body] = '\0';
    return gvl_lang_ok(lang) ? 0 : -1;
}

static int gvl_u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int gvl_translation_cmp(const void *a, const void *b)
{
    return strcmp((*(gvl_translation_t *const *)a)->lang, (*(gvl_translation_t *const *)b)->lang);
}

gvl_t *gvl_store_load_version(const gvl_store_t *store, uint32_t version, char *err, size_t errlen)
{
    char path[GVL_PATH_MAX + 64];
    if (!gvl_store_has_version(store, version)) {
        snprintf(err, errlen, "%s: version %u of the vendor list is not archived", store->dir,
                 version);
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/vendor-list-v%u.json", store->dir, version);
    size_t len;
    char *json = gvl_read_file(path, &len, err, errlen);
    if (json == NULL) return NULL;
    gvl_t *g = gvl_parse(path, json, len, err, errlen);
    free(json);
    if (g != NULL && g->vendor_list_version != version) {
        snprintf(err, errlen, "%s: vendorListVersion: is %u, the file name says %u", path,
                 g->vendor_list_version, version);
        gvl_free(g);
        return NULL;
    }
    return g;
}

gvl_store_t *gvl_store_load(const char *dir, char *err, size_t errlen)
{
    gvl_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "%s: cannot open the vendor list directory (tcf.gvl_dir): %s", dir,
                 strerror(errno));
        free(s);
        return NULL;
    }
    size_t cap = 0;
    struct dirent *e;
    int failed = 0;
    while ((e = readdir(d)) != NULL) {
        uint32_t v;
        if (gvl_list_name(e->d_name, &v) != 0) continue;
        if (s->n_versions == GVL_VERSIONS_MAX) {
            snprintf(err, errlen, "%s: more than %d vendor lists", dir, GVL_VERSIONS_MAX);
            failed = 1;
            break;
        }
        if (s->n_versions == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *grown = realloc(s->versions, cap * sizeof(*grown));
            if (grown == NULL) {
                snprintf(err, errlen, "%s: out of memory", dir);
                failed = 1;
                break;
            }
            s->versions = grown;
        }
        s->versions[s->n_versions++] = v;
    }
    closedir(d);
    if (!failed && s->n_versions == 0) {
        snprintf(err, errlen,
                 "%s: no vendor list (vendor-list-v<N>.json) in the directory: run "
                 "ops/gvl-update.sh to download one",
                 dir);
        failed = 1;
    }
    if (failed) {
        gvl_store_free(s);
        return NULL;
    }
    qsort(s->versions, s->n_versions, sizeof(*s->versions), gvl_u32_cmp);
    uint32_t newest = s->versions[s->n_versions - 1];
    if ((s->latest = gvl_store_load_version(s, newest, err, errlen)) == NULL) {
        gvl_store_free(s);
        return NULL;
    }
    /* The newest list's translations. */
    if ((d = opendir(dir)) == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", dir, strerror(errno));
        gvl_store_free(s);
        return NULL;
    }
    size_t tcap = 0;
    while (!failed && (e = readdir(d)) != NULL) {
        char lang[GVL_LANG_MAX + 1];
        uint32_t v;
        if (gvl_translation_name(e->d_name, lang, sizeof(lang), &v) != 0 || v != newest) continue;
        char path[GVL_PATH_MAX + 300];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t len;
        char *json = gvl_read_file(path, &len, err, errlen);
        gvl_translation_t *t =
            json != NULL ? gvl_translation_parse(path, lang, json, len, err, errlen) : NULL;
        free(json);
        if (t == NULL) {
            failed = 1;
            break;
        }
        if (s->n_translations == tcap) {
            tcap = tcap ? tcap * 2 : 8;
            gvl_translation_t **grown = realloc(s->translations, tcap * sizeof(*grown));
            if (grown == NULL) {
                gvl_translation_free(t);
                snprintf(err, errlen, "%s: out of memory", dir);
                failed = 1;
                break;
            }
            s->translations = grown;
        }
        s->translations[s->n_translations++] = t;
    }
    closedir(d);
    if (failed) {
        gvl_store_free(s);
        return NULL;
    }
    if (s->n_translations > 1)
        qsort(s->translations, s->n_translations, sizeof(*s->translations), gvl_translation_cmp);
    return s;
}

void gvl_store_free(gvl_store_t *store)
{
    if (store == NULL) return;
    gvl_free(store->latest);
    for (size_t i = 0; i < store->n_translations; i++)
        gvl_translation_free(store->translations[i]);
    free(store->translations);
    free(store->versions);
    free(store);
}

const char *gvl_store_dir(const gvl_store_t *store)
{
    return store->dir;
}

const gvl_t *gvl_store_latest(const gvl_store_t *store)
{
    return store->latest;
}

const gvl_translation_t *gvl_store_translation(const gvl_store_t *store, const char *lang)
{
    for (size_t i = 0; i < store->n_translations; i++)
        if (strcmp(store->translations[i]->lang, lang) == 0) return store->translations[i];
    return NULL;
}

size_t gvl_store_translation_count(const gvl_store_t *store)
{
    return store->n_translations;
}

const gvl_translation_t *gvl_store_translation_at(const gvl_store_t *store, size_t i)
{
    return i < store->n_translations ? store->translations[i] : NULL;
}

size_t gvl_store_version_count(const gvl_store_t *store)
{
    return store->n_versions;
}

uint32_t gvl_store_version_at(const gvl_store_t *store, size_t i)
{
    return i < store->n_versions ? store->versions[i] : 0;
}

int gvl_store_has_version(const gvl_store_t *store, uint32_t version)
{
    return bsearch(&version, store->versions, store->n_versions, sizeof(*store->versions),
                   gvl_u32_cmp) != NULL;
}
