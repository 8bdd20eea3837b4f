/*
 * site_doc.c - canonical form, diff and policy bump rule of a site document
 * (site_doc.h).
 */
#include "site_doc.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SITE_DOC_PATH_MAX 512
#define SITE_DOC_POLICY_VERSION_MAX 64 /* as site.c's bound */

static json_t *site_doc_load(const char *json, size_t len)
{
    if (json == NULL) return NULL;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    if (root != NULL && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static char *site_doc_dump(const json_t *root, size_t *out_len)
{
    char *s = json_dumps(root, SITE_DOC_CANONICAL_FLAGS);
    if (s != NULL && out_len != NULL) *out_len = strlen(s);
    return s;
}

char *site_doc_canonical(const char *json, size_t len, size_t *out_len)
{
    json_t *root = site_doc_load(json, len);
    if (root == NULL) return NULL;
    char *s = site_doc_dump(root, out_len);
    json_decref(root);
    return s;
}

/* What of a document the policy bump rule looks at: per purpose, its id,
 * legal basis, recipients and texts. */
static json_t *site_doc_policy_part(const json_t *root)
{
    json_t *out = json_array();
    const json_t *purposes = json_object_get(root, "purposes");
    size_t i;
    const json_t *p;
    json_array_foreach(purposes, i, p)
    {
        json_t *o = json_object();
        static const char *const keys[] = {"id", "legal_basis", "recipients", "texts"};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            json_t *v = json_object_get(p, keys[k]);
            if (v != NULL) json_object_set(o, keys[k], v);
        }
        json_array_append_new(out, o);
    }
    return out;
}

int site_doc_policy_changed(const char *a, size_t alen, const char *b, size_t blen)
{
    json_t *ra = site_doc_load(a, alen), *rb = site_doc_load(b, blen);
    int rc = -1;
    if (ra != NULL && rb != NULL) {
        json_t *pa = site_doc_policy_part(ra), *pb = site_doc_policy_part(rb);
        rc = !json_equal(pa, pb);
        json_decref(pa);
        json_decref(pb);
    }
    json_decref(ra);
    json_decref(rb);
    return rc;
}

char *site_doc_bump_policy(const char *json, size_t len, uint64_t version, size_t *out_len)
{
    json_t *root = site_doc_load(json, len);
    const json_t *pv = json_object_get(root, "policy_version");
    if (root == NULL || !json_is_string(pv)) {
        json_decref(root);
        return NULL;
    }
    const char *old = json_string_value(pv);
    size_t base = strlen(old);
    /* Drop an earlier bump's "+v<digits>". */
    const char *plus = strrchr(old, '+');
    if (plus != NULL && plus[1] == 'v' && plus[2] != '\0' &&
        strspn(plus + 2, "0123456789") == strlen(plus + 2))
        base = (size_t)(plus - old);
    char suffix[32], value[SITE_DOC_POLICY_VERSION_MAX + 1];
    int n = snprintf(suffix, sizeof(suffix), "+v%" PRIu64, version);
    size_t room = SITE_DOC_POLICY_VERSION_MAX - (size_t)n;
    if (base > room) {
        /* Cut between characters: a cut inside one is not UTF-8, and jansson
         * refused the string, which left the policy version unbumped. */
        base = room;
        while (base > 0 && ((unsigned char)old[base] & 0xC0) == 0x80)
            base--;
    }
    snprintf(value, sizeof(value), "%.*s%s", (int)base, old, suffix);
    char *s = NULL;
    if (json_object_set_new(root, "policy_version", json_string(value)) == 0)
        s = site_doc_dump(root, out_len);
    json_decref(root);
    return s;
}

typedef struct site_doc_diff {
    json_t *added, *removed, *changed;
} site_doc_diff_t;

static void site_doc_diff_walk(site_doc_diff_t *d, const char *path, json_t *a, json_t *b)
{
    char sub[SITE_DOC_PATH_MAX];
    if (json_is_object(a) && json_is_object(b)) {
        const char *key;
        json_t *v;
        /* In key order, so that the answer does not depend on the input's. */
        json_t *keys = json_array();
        json_object_foreach(a, key, v) json_array_append_new(keys, json_string(key));
        json_object_foreach(b, key, v) if (json_object_get(a, key) == NULL)
            json_array_append_new(keys, json_string(key));
        size_t n = json_array_size(keys);
        const char **sorted = calloc(n ? n : 1, sizeof(*sorted));
        for (size_t i = 0; sorted != NULL && i < n; i++)
            sorted[i] = json_string_value(json_array_get(keys, i));
        for (size_t i = 1; sorted != NULL && i < n; i++)
            for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
                const char *t = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = t;
            }
        for (size_t i = 0; sorted != NULL && i < n; i++) {
            snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", sorted[i]);
            json_t *va = json_object_get(a, sorted[i]), *vb = json_object_get(b, sorted[i]);
            if (va == NULL)
                json_array_append_new(d->added, json_string(sub));
            else if (vb == NULL)
                json_array_append_new(d->removed, json_string(sub));
            else
                site_doc_diff_walk(d, sub, va, vb);
        }
        free(sorted);
        json_decref(keys);
        return;
    }
    if (json_is_array(a) && json_is_array(b)) {
        size_t na = json_array_size(a), nb = json_array_size(b);
        for (size_t i = 0; i < na || i < nb; i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (i >= na)
                json_array_append_new(d->added, json_string(sub));
            else if (i >= nb)
                json_array_append_new(d->removed, json_string(sub));
            else
                site_doc_diff_walk(d, sub, json_array_get(a, i), json_array_get(b, i));
        }
        return;
    }
    if (!json_equal(a, b))
        json_array_append_new(d->changed,
                              json_pack("{s:s,s:O,s:O}", "path", path, "from", a, "to", b));
}

char *site_doc_diff(const char *a, size_t alen, const char *b, size_t blen)
{
    json_t *ra = site_doc_load(a, alen), *rb = site_doc_load(b, blen);
    char *s = NULL;
    if (ra != NULL && rb != NULL) {
        site_doc_diff_t d = {json_array(), json_array(), json_array()};
        site_doc_diff_walk(&d, "", ra, rb);
        json_t *out = json_pack("{s:o,s:o,s:o}", "added", d.added, "removed", d.removed, "changed",
                                d.changed);
        s = out != NULL ? json_dumps(out, JSON_COMPACT) : NULL;
        json_decref(out);
    }
    json_decref(ra);
    json_decref(rb);
    return s;
}
