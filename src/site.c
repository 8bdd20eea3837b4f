/*
 * site.c - loading and validating the site files, and the lookups every
 * request makes (site by id, origin, API key, purpose, text).
 *
 * Memory layout: the strings and arrays a site points to, copied out of
 * jansson, live in an arena (a list of chunks, reference-counted), and a set
 * is a malloc'd array of site_t sorted by id for binary search. A set parses
 * into an arena of its own; a reload or a publish after a previous set
 * (site_set_load_after) copies the site_t of each unchanged document and
 * shares its arena instead of parsing it again. Nothing in a set or an arena
 * changes after the load returns, so worker threads read them without locks;
 * the only shared writes are the reference counts (C11-style atomics).
 *
 * Validation is strict: an unknown field, a missing text, a lifetime beyond
 * what the CNIL allows, all stop the load with "<file>: <field path>: <reason>",
 * and on reload the previous set stays in service.
 */
#include "site.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gvl.h"
#include "site_doc.h"
#include "json.h"
#include "visitor.h"

#define SITE_FILE_MAX_BYTES (1024 * 1024) /* a site file is a few KB */
#define SITE_SET_MAX_SITES 10000          /* files in one sites directory */
#define SITE_PATH_MAX 4096
#define SITE_TEXT_MAX 4096  /* a purpose's name or description, bytes */
#define SITE_NAME_MAX 256   /* controller name, contact, recipient */
#define SITE_URL_MAX 2048   /* privacy_policy_url */
#define SITE_ORIGIN_MAX 256 /* scheme://host[:port] */
#define SITE_DOMAIN_MAX 253
#define SITE_POLICY_VERSION_MAX 64
#define SITE_PURPOSE_ID_MAX 64
#define SITE_LOG_RETENTION_DEFAULT_DAYS 1825 /* 5 years */
#define SITE_LOG_RETENTION_MAX_DAYS 3650
#define SITE_PURPOSE_RETENTION_MAX_DAYS 3650
#define SITE_ARENA_CHUNK 16384

/* ---- the set and its arenas ----------------------------------------------- */

typedef struct site_chunk {
    struct site_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} site_chunk_t;

/* Where the strings and arrays of the sites parsed by one load live: a list
 * of chunks with a reference count, one reference per site_t (in any set)
 * that points into it and one for the set that parses into it. A reload or a
 * publish copies an unchanged site's site_t into the new set and takes a
 * reference on its arena instead of parsing its document again (issue 22,
 * item 4): the new set shares, never changes, what the older set parsed. */
struct site_arena {
    int refs; /* __atomic_* only */
    site_chunk_t *chunks;
};

struct site_set {
    int refs;      /* __atomic_* only */
    site_t *sites; /* sorted by id (strcmp order); each holds a reference on site->arena */
    size_t n, cap;
    site_arena_t *arena; /* where this set's own parses go */
    size_t parsed;       /* sites parsed by this load; the others were shared */
};

static site_arena_t *site_arena_retain(site_arena_t *a)
{
    if (a != NULL) __atomic_fetch_add(&a->refs, 1, __ATOMIC_RELAXED);
    return a;
}

static void site_arena_release(site_arena_t *a)
{
    if (a == NULL || __atomic_sub_fetch(&a->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    for (site_chunk_t *c = a->chunks, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

static void *site_alloc(site_set_t *set, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    site_chunk_t *c = set->arena->chunks;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > SITE_ARENA_CHUNK ? size : SITE_ARENA_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL) return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = set->arena->chunks;
        set->arena->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

static char *site_strndup(site_set_t *set, const char *s, size_t len)
{
    char *p = site_alloc(set, len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static site_set_t *site_set_new(void)
{
    site_set_t *set = calloc(1, sizeof(*set));
    if (set == NULL) return NULL;
    if ((set->arena = calloc(1, sizeof(*set->arena))) == NULL) {
        free(set);
        return NULL;
    }
    set->arena->refs = 1;
    set->refs = 1;
    return set;
}

static void site_set_free(site_set_t *set)
{
    for (size_t i = 0; i < set->n; i++)
        site_arena_release(set->sites[i].arena);
    site_arena_release(set->arena);
    free(set->sites);
    free(set);
}

site_set_t *site_set_retain(site_set_t *set)
{
    if (set != NULL) __atomic_fetch_add(&set->refs, 1, __ATOMIC_RELAXED);
    return set;
}

void site_set_release(site_set_t *set)
{
    if (set != NULL && __atomic_sub_fetch(&set->refs, 1, __ATOMIC_ACQ_REL) == 0) site_set_free(set);
}

size_t site_set_count(const site_set_t *set)
{
    return set != NULL ? set->n : 0;
}

const site_t *site_set_at(const site_set_t *set, size_t i)
{
    return set != NULL && i < set->n ? &set->sites[i] : NULL;
}

/* ---- parsing helpers ------------------------------------------------------ */

typedef struct site_parse {
    site_set_t *set;  /* where copies go */
    const char *name; /* the file, for messages */
    const gvl_t *gvl; /* the newest Global Vendor List, or NULL ("tcf") */
    char *err;
    size_t errlen;
    const char *expected_id; /* NULL: the file name without .json; else a stored document's */
    char *field_out;         /* NULL, or where the failing field's path goes (site_set_load_doc) */
    size_t field_cap;
    uint64_t version; /* a published version from Redis (stored canonical); 0: a file, a draft */
} site_parse_t;

static int site_fail(const site_parse_t *p, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int site_fail(const site_parse_t *p, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (p->field_out != NULL && p->field_cap > 0)
        snprintf(p->field_out, p->field_cap, "%s", field != NULL ? field : "");
    json_field_error(p->err, p->errlen, p->name, field, fmt, ap);
    va_end(ap);
    return -1;
}

static int site_oom(const site_parse_t *p)
{
    return site_fail(p, NULL, "out of memory");
}

/* Fail on any key of obj not in allowed (NULL-terminated). */
static int site_check_keys(const site_parse_t *p, json_t *obj, const char *prefix,
                           const char *const *allowed)
{
    char list[256], field[512];
    const char *key = json_unknown_key(obj, allowed, list, sizeof(list));
    if (key == NULL) return 0;
    snprintf(field, sizeof(field), "%s%s", prefix, key);
    return site_fail(p, field, "unknown field (known fields: %s)", list);
}

static json_t *site_required(const site_parse_t *p, json_t *obj, const char *key, const char *field)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) site_fail(p, field, "is required");
    return v;
}

/* A non-empty string of at most max bytes, copied into the arena. Control
 * characters are refused, except line breaks where multiline is set. */
static int site_string(const site_parse_t *p, json_t *v, const char *field, size_t max,
                       int multiline, const char **out)
{
    if (!json_is_string(v)) return site_fail(p, field, "must be a string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0) return site_fail(p, field, "must not be empty");
    if (len > max) return site_fail(p, field, "must be at most %zu bytes long", max);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && !(multiline && ch == '\n')) || ch == 0x7f)
            return site_fail(p, field, "must not contain control characters");
    }
    if ((*out = site_strndup(p->set, s, len)) == NULL) return site_oom(p);
    return 0;
}

static int site_uint(const site_parse_t *p, json_t *v, const char *field, uint32_t min,
                     uint32_t max, const char *why, uint32_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return site_fail(p, field, "must be an integer from %u to %u%s", min, max, why);
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

static int site_array(const site_parse_t *p, json_t *v, const char *field, size_t min, size_t max)
{
    if (!json_is_array(v)) return site_fail(p, field, "must be an array");
    size_t n = json_array_size(v);
    if (n < min) return site_fail(p, field, "must not be empty");
    if (n > max) return site_fail(p, field, "must have at most %zu entries", max);
    return 0;
}

int site_id_ok(const char *s, size_t len)
{
    if (len == 0 || len > SITE_ID_MAX ||
        !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return 0;
    for (size_t i = 1; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!(ch >= 'a' && ch <= 'z') && !(ch >= '0' && ch <= '9') && ch != '_' && ch != '-')
            return 0;
    }
    return 1;
}

static int site_purpose_id_ok(const char *s, size_t len)
{
    if (len == 0 || len > SITE_PURPOSE_ID_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!(ch >= 'a' && ch <= 'z') && !(ch >= '0' && ch <= '9') && ch != '_' && ch != '-')
            return 0;
    }
    return 1;
}

/* [a-z]{2}, optionally -[A-Z]{2}: "fr", "en", "pt-BR". */
static int site_language_ok(const char *s, size_t len)
{
    if (len != 2 && len != 5) return 0;
    if (!(s[0] >= 'a' && s[0] <= 'z') || !(s[1] >= 'a' && s[1] <= 'z')) return 0;
    return len == 2 || (s[2] == '-' && s[3] >= 'A' && s[3] <= 'Z' && s[4] >= 'A' && s[4] <= 'Z');
}

/* A DNS name: labels of [a-z0-9-]{1,63}, not starting or ending with '-'.
 * s is already lower case. */
static int site_hostname_ok(const char *s, size_t len)
{
    if (len == 0 || len > SITE_DOMAIN_MAX) return 0;
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-') return 0;
            label = 0;
            continue;
        }
        unsigned char ch = (unsigned char)s[i];
        if (!(ch >= 'a' && ch <= 'z') && !(ch >= '0' && ch <= '9') && ch != '-') return 0;
        label++;
    }
    return 1;
}

/*
 * An origin as browsers serialise it in the Origin header: lower-case
 * scheme and host, no default port, no path. The configured value is brought
 * to that form so that site_origin_allowed() can compare bytes.
 * Returns NULL or the reason it is not an origin.
 */
static const char *site_origin_normalise(const char *in, size_t len, char *out, size_t cap)
{
    char low[SITE_ORIGIN_MAX + 1];
    if (len > SITE_ORIGIN_MAX) return "is too long";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch >= 0x80)
            return "must be ASCII: write an internationalised domain name in punycode (xn--...)";
        low[i] = (char)tolower(ch);
    }
    low[len] = '\0';
    int https = strncmp(low, "https://", 8) == 0;
    if (!https && strncmp(low, "http://", 7) != 0)
        return "must be http://host[:port] or https://host[:port]";
    const char *host = low + (https ? 8 : 7);
    size_t rest = strlen(host);
    if (rest > 0 && host[rest - 1] == '/')
        return "must not end with '/': an origin has no path (https://www.example.com)";
    if (strpbrk(host, "/?#@ \\") != NULL)
        return "must be scheme://host[:port] only: no path, query, user or spaces";
    const char *port = NULL;
    size_t hlen;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (close == NULL || close == host + 1) return "has an unterminated or empty IPv6 address";
        for (const char *c = host + 1; c < close; c++)
            if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
                return "has an invalid IPv6 address";
        hlen = (size_t)(close + 1 - host);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return "has text after the IPv6 address";
    } else {
        const char *colon = strchr(host, ':');
        hlen = colon != NULL ? (size_t)(colon - host) : rest;
        if (colon != NULL) port = colon + 1;
        if (!site_hostname_ok(host, hlen)) return "has an invalid host name";
    }
    long portnum = -1;
    if (port != NULL) {
        char *end;
        if (port[0] < '0' || port[0] > '9') return "has an invalid port";
        errno = 0;
        portnum = strtol(port, &end, 10);
        if (errno != 0 || *end != '\0' || portnum < 1 || portnum > 65535)
            return "has an invalid port (1 to 65535)";
        if (portnum == (https ? 443 : 80)) portnum = -1; /* browsers omit the default port */
    }
    int n = portnum > 0
                ? snprintf(out, cap, "%s://%.*s:%ld", https ? "https" : "http", (int)hlen, host,
                           portnum)
                : snprintf(out, cap, "%s://%.*s", https ? "https" : "http", (int)hlen, host);
    if (n < 0 || (size_t)n >= cap) return "is too long";
    return NULL;
}

static int site_http_url_ok(const char *s)
{
    const char *rest = strncmp(s, "https://", 8) == 0  ? s + 8
                       : strncmp(s, "http://", 7) == 0 ? s + 7
                                                       : NULL;
    if (rest == NULL || rest[0] == '\0' || rest[0] == '/') return 0;
    return strpbrk(s, " \t\"<>\\") == NULL;
}

/* ---- one site --------------------------------------------------------------- */

static int site_parse_origins(const site_parse_t *p, json_t *root, site_t *site)
{
    json_t *arr = site_required(p, root, "origins", "origins");
    if (arr == NULL || site_array(p, arr, "origins", 1, SITE_MAX_ORIGINS) != 0) return -1;
    site->n_origins = json_array_size(arr);
    site->origins = site_alloc(p->set, site->n_origins * sizeof(*site->origins));
    if (site->origins == NULL) return site_oom(p);
    for (size_t i = 0; i < site->n_origins; i++) {
        char field[32], norm[SITE_ORIGIN_MAX + 16];
        snprintf(field, sizeof(field), "origins[%zu]", i);
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v))
            return site_fail(p, field, "must be a string like \"https://www.example.com\"");
        const char *why =
            site_origin_normalise(json_string_value(v), json_string_length(v), norm, sizeof(norm));
        if (why != NULL) return site_fail(p, field, "%s", why);
        for (size_t j = 0; j < i; j++)
            if (strcmp(site->origins[j], norm) == 0)
                return site_fail(p, field, "duplicate of origins[%zu] (%s)", j, norm);
        if ((site->origins[i] = site_strndup(p->set, norm, strlen(norm))) == NULL)
            return site_oom(p);
    }
    return 0;
}

static int site_parse_languages(const site_parse_t *p, json_t *root, site_t *site)
{
    json_t *arr = site_required(p, root, "languages", "languages");
    if (arr == NULL || site_array(p, arr, "languages", 1, SITE_MAX_LANGUAGES) != 0) return -1;
    site->n_languages = json_array_size(arr);
    site->languages = site_alloc(p->set, site->n_languages * sizeof(*site->languages));
    if (site->languages == NULL) return site_oom(p);
    for (size_t i = 0; i < site->n_languages; i++) {
        char field[32];
        snprintf(field, sizeof(field), "languages[%zu]", i);
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) || !site_language_ok(json_string_value(v), json_string_length(v)))
            return site_fail(p, field, "must be a language code like \"fr\", \"en\" or \"pt-BR\"");
        for (size_t j = 0; j < i; j++)
            if (strcmp(site->languages[j], json_string_value(v)) == 0)
                return site_fail(p, field, "duplicate of languages[%zu]", j);
        if ((site->languages[i] =
                 site_strndup(p->set, json_string_value(v), json_string_length(v))) == NULL)
            return site_oom(p);
    }
    return 0;
}

static int site_parse_controller(const site_parse_t *p, json_t *root, site_t *site)
{
    static const char *const keys[] = {"name", "contact", "privacy_policy_url", NULL};
    json_t *c = site_required(p, root, "controller", "controller");
    if (c == NULL) return -1;
    if (!json_is_object(c))
        return site_fail(p, "controller",
                         "must be an object with name, contact and "
                         "privacy_policy_url");
    if (site_check_keys(p, c, "controller.", keys) != 0) return -1;
    json_t *v;
    if ((v = site_required(p, c, "name", "controller.name")) == NULL ||
        site_string(p, v, "controller.name", SITE_NAME_MAX, 0, &site->controller_name) != 0)
        return -1;
    if ((v = site_required(p, c, "contact", "controller.contact")) == NULL ||
        site_string(p, v, "controller.contact", SITE_NAME_MAX, 0, &site->contact) != 0)
        return -1;
    v = json_object_get(c, "privacy_policy_url");
    if (v != NULL && !json_is_null(v)) {
        if (site_string(p, v, "controller.privacy_policy_url", SITE_URL_MAX, 0,
                        &site->privacy_policy_url) != 0)
            return -1;
        if (!site_http_url_ok(site->privacy_policy_url))
            return site_fail(p, "controller.privacy_policy_url",
                             "must be an http:// or https:// URL");
    }
    return 0;
}

static int site_parse_cookie_domain(const site_parse_t *p, json_t *root, site_t *site)
{
    json_t *v = json_object_get(root, "cookie_domain");
    if (v == NULL || json_is_null(v)) return 0;
    if (!json_is_string(v))
        return site_fail(p, "cookie_domain", "must be null or a domain name like \"example.com\"");
    size_t len = json_string_length(v);
    char *d = site_strndup(p->set, json_string_value(v), len);
    if (d == NULL) return site_oom(p);
    for (size_t i = 0; i < len; i++)
        d[i] = (char)tolower((unsigned char)d[i]);
    const char *name = d[0] == '.' ? d + 1 : d; /* a leading dot is legacy, and harmless */
    if (!site_hostname_ok(name, strlen(name)))
        return site_fail(p, "cookie_domain", "must be null or a domain name like \"example.com\"");
    site->cookie_domain = d;
    return 0;
}

static int site_parse_api_key(const site_parse_t *p, json_t *root, site_t *site)
{
    json_t *v = site_required(p, root, "api_key_sha256", "api_key_sha256");
    if (v == NULL) return -1;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    size_t len = json_is_string(v) ? json_string_length(v) : 0;
    size_t bin_len = 0;
    if (len != 64 ||
        sodium_hex2bin(site->api_key_sha256, sizeof(site->api_key_sha256), s, len, NULL, &bin_len,
                       NULL) != 0 ||
        bin_len != sizeof(site->api_key_sha256))
        return site_fail(p, "api_key_sha256",
                         "must be the SHA-256 of the API key as 64 hex digits "
                         "(printf %%s \"$KEY\" | sha256sum)");
    return 0;
}

static int site_parse_texts(const site_parse_t *p, json_t *texts, const char *prefix,
                            const site_t *site, site_purpose_t *pu)
{
    char field[160];
    snprintf(field, sizeof(field), "%s.texts", prefix);
    if (!json_is_object(texts))
        return site_fail(p, field, "must be an object with one entry per language");
    const char *lang;
    json_t *entry;
    json_object_foreach(texts, lang, entry)
    {
        int declared = 0;
        for (size_t l = 0; l < site->n_languages && !declared; l++)
            declared = strcmp(lang, site->languages[l]) == 0;
        if (!declared) {
            snprintf(field, sizeof(field), "%s.texts.%s", prefix, lang);
            return site_fail(p, field, "language not declared in languages");
        }
    }
    pu->n_texts = site->n_languages;
    pu->texts = site_alloc(p->set, pu->n_texts * sizeof(*pu->texts));
    if (pu->texts == NULL) return site_oom(p);
    for (size_t l = 0; l < site->n_languages; l++) {
        static const char *const keys[] = {"name", "description", NULL};
        site_text_t *t = &pu->texts[l];
        t->lang = site->languages[l];
        snprintf(field, sizeof(field), "%s.texts.%s", prefix, t->lang);
        entry = json_object_get(texts, t->lang);
        if (entry == NULL)
            return site_fail(p, field,
                             "is required: every language in languages needs a name "
                             "and a description");
        if (!json_is_object(entry))
            return site_fail(p, field, "must be an object with name and description");
        char sub[192];
        snprintf(sub, sizeof(sub), "%s.", field);
        if (site_check_keys(p, entry, sub, keys) != 0) return -1;
        json_t *v;
        snprintf(sub, sizeof(sub), "%s.name", field);
        if ((v = site_required(p, entry, "name", sub)) == NULL ||
            site_string(p, v, sub, SITE_TEXT_MAX, 0, &t->name) != 0)
            return -1;
        snprintf(sub, sizeof(sub), "%s.description", field);
        if ((v = site_required(p, entry, "description", sub)) == NULL ||
            site_string(p, v, sub, SITE_TEXT_MAX, 1, &t->description) != 0)
            return -1;
    }
    return 0;
}

/* "consent_mode": the Google Consent Mode v2 types the purpose grants, each
 * at most once (optional; the banner leaves unmapped types denied). */
static int site_parse_consent_mode(const site_parse_t *p, json_t *v, const char *field,
                                   site_purpose_t *pu)
{
    static const char *const types[] = {SITE_CONSENT_MODE_TYPES};
    if (site_array(p, v, field, 0, SITE_CONSENT_MODE_MAX) != 0) return -1;
    pu->n_consent_mode = json_array_size(v);
    if (pu->n_consent_mode == 0) return 0;
    if ((pu->consent_mode = site_alloc(p->set, pu->n_consent_mode * sizeof(char *))) == NULL)
        return site_oom(p);
    for (size_t i = 0; i < pu->n_consent_mode; i++) {
        const char *s = json_string_value(json_array_get(v, i));
        size_t t = 0;
        while (t < SITE_CONSENT_MODE_MAX && (s == NULL || strcmp(s, types[t]) != 0))
            t++;
        char item[96];
        snprintf(item, sizeof(item), "%s[%zu]", field, i);
        if (t == SITE_CONSENT_MODE_MAX)
            return site_fail(p, item,
                             "must be one of ad_storage, analytics_storage, "
                             "ad_user_data, ad_personalization, functionality_storage, "
                             "personalization_storage, security_storage");
        for (size_t j = 0; j < i; j++)
            if (pu->consent_mode[j] == types[t])
                return site_fail(p, item, "duplicate of %s[%zu]", field, j);
        pu->consent_mode[i] = types[t];
    }
    return 0;
}

/* ---- clean-up on refusal and withdrawal (issue 20, item 1) ----------------------
 *
 * Per purpose, what its trackers leave on the visitor's device, which the
 * banner deletes when the purpose is refused or withdrawn
 * (web/banner/features/cleanup.js):
 *   "cookies": [{"name": "_ga"}, {"name": "_ga_*"}, {"name": "_fbp", "domain": "example.com"}]
 *   "storage": ["key", "prefix_*"]      (localStorage and sessionStorage keys)
 * and, for the site, "reload_on_withdrawal" (default true). A necessary
 * purpose declares none: it is never refused. No pattern may match the
 * banner's own "consentd" (its cookie, its sessionStorage key). */

#define SITE_CHOICE_NAME "consentd" /* the banner's cookie and sessionStorage key */
/* The characters of a cookie name (an RFC 6265 token) besides letters and digits. */
#define SITE_COOKIE_NAME_PUNCT "!#$%&'*+-.^_`|~"

/* 1 when name matches pattern, '*' standing for any run of characters. */
static int site_pattern_matches(const char *pattern, const char *name)
{
    if (*pattern == '\0') return *name == '\0';
    if (*pattern == '*')
        return site_pattern_matches(pattern + 1, name) ||
               (*name != '\0' && site_pattern_matches(pattern, name + 1));
    return *name == *pattern && site_pattern_matches(pattern + 1, name + 1);
}

/* A cookie name (cookie: 1) or a storage key as the banner matches it,
 * copied into the arena. */
static int site_parse_cleanup_pattern(const site_parse_t *p, json_t *v, const char *field,
                                      int cookie, const char **out)
{
    if (!json_is_string(v)) return site_fail(p, field, "must be a string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || len > SITE_COOKIE_NAME_MAX)
        return site_fail(p, field, "must be 1 to %d bytes long", SITE_COOKIE_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (cookie && !isalnum(ch) && (ch == '\0' || strchr(SITE_COOKIE_NAME_PUNCT, ch) == NULL))
            return site_fail(p, field,
                             "must be a cookie name: letters, digits and %s ('*' standing for "
                             "any characters)",
                             SITE_COOKIE_NAME_PUNCT);
        if (!cookie && (ch < 0x20 || ch == 0x7f))
            return site_fail(p, field, "must not contain control characters");
    }
    if (strspn(s, "*") == len)
        return site_fail(p, field, "must name something: '*' alone would match everything");
    if (site_pattern_matches(s, SITE_CHOICE_NAME))
        return site_fail(p, field,
                         "must not match \"%s\", where the banner keeps the visitor's choice",
                         SITE_CHOICE_NAME);
    if ((*out = site_strndup(p->set, s, len)) == NULL) return site_oom(p);
    return 0;
}

/* 1 when host (hlen bytes) is domain or one of its subdomains. */
static int site_domain_covers(const char *domain, const char *host, size_t hlen)
{
    size_t dlen = strlen(domain);
    if (hlen < dlen || memcmp(host + hlen - dlen, domain, dlen) != 0) return 0;
    return hlen == dlen || host[hlen - dlen - 1] == '.';
}

/* A cookie's domain: one the banner can reach, that is the site's
 * cookie_domain, the host of one of its origins, or a parent of either;
 * with two labels at least (a cookie never lives on a top-level domain),
 * and not a piece of an IP address (a cookie on 127.0.0.1 is host-only). */
static int site_parse_cookie_owner(const site_parse_t *p, json_t *v, const char *field,
                                   const site_t *site, const char **out)
{
    if (!json_is_string(v))
        return site_fail(p, field, "must be a domain name like \"example.com\"");
    size_t len = json_string_length(v);
    char *d = site_strndup(p->set, json_string_value(v), len);
    if (d == NULL) return site_oom(p);
    for (size_t i = 0; i < len; i++)
        d[i] = (char)tolower((unsigned char)d[i]);
    if (d[0] == '.') d++; /* ".example.com", as Set-Cookie may write it */
    const char *tld = strrchr(d, '.');
    if (!site_hostname_ok(d, strlen(d)) || tld == NULL ||
        strspn(tld + 1, "0123456789") == strlen(tld + 1))
        return site_fail(p, field, "must be a domain name like \"example.com\"");
    int reachable =
        site->cookie_domain != NULL &&
        site_domain_covers(d, site->cookie_domain + (site->cookie_domain[0] == '.'),
                           strlen(site->cookie_domain + (site->cookie_domain[0] == '.')));
    for (size_t o = 0; !reachable && o < site->n_origins; o++) {
        const char *host = strstr(site->origins[o], "://") + 3;
        if (host[0] != '[') reachable = site_domain_covers(d, host, strcspn(host, ":"));
    }
    if (!reachable)
        return site_fail(p, field,
                         "\"%s\" is neither the site's cookie_domain, nor the host of one of its "
                         "origins, nor a parent of them: the banner could not delete cookies there",
                         d);
    *out = d;
    return 0;
}

static int site_parse_cookie(const site_parse_t *p, json_t *obj, const char *prefix,
                             const site_t *site, site_purpose_t *pu, size_t c)
{
    static const char *const keys[] = {"name", "domain", NULL};
    char field[128];
    if (!json_is_object(obj))
        return site_fail(p, prefix,
                         "must be an object: {\"name\": \"_ga\"}, and optionally "
                         "\"domain\"");
    snprintf(field, sizeof(field), "%s.", prefix);
    if (site_check_keys(p, obj, field, keys) != 0) return -1;
    site_cookie_t *ck = &pu->cookies[c];
    json_t *v;
    snprintf(field, sizeof(field), "%s.name", prefix);
    if ((v = site_required(p, obj, "name", field)) == NULL ||
        site_parse_cleanup_pattern(p, v, field, 1, &ck->name) != 0)
        return -1;
    snprintf(field, sizeof(field), "%s.domain", prefix);
    if ((v = json_object_get(obj, "domain")) != NULL && !json_is_null(v) &&
        site_parse_cookie_owner(p, v, field, site, &ck->domain) != 0)
        return -1;
    for (size_t j = 0; j < c; j++)
        if (strcmp(pu->cookies[j].name, ck->name) == 0 &&
            (pu->cookies[j].domain == NULL) == (ck->domain == NULL) &&
            (ck->domain == NULL || strcmp(pu->cookies[j].domain, ck->domain) == 0)) {
            snprintf(field, sizeof(field), "%s.name", prefix);
            return site_fail(p, field, "\"%s\" is declared twice in this purpose", ck->name);
        }
    return 0;
}

/* "cookies" and "storage" of purposes[i] (prefix), after its legal basis
 * and "trackers". */
static int site_parse_purpose_cleanup(const site_parse_t *p, json_t *obj, const char *prefix,
                                      const site_t *site, site_purpose_t *pu)
{
    json_t *cookies = json_object_get(obj, "cookies"), *storage = json_object_get(obj, "storage");
    if (cookies == NULL && storage == NULL) return 0;
    char field[96];
    snprintf(field, sizeof(field), "%s.%s", prefix, cookies != NULL ? "cookies" : "storage");
    if (pu->legal_basis == LEGAL_BASIS_NECESSARY)
        return site_fail(p, field,
                         "a necessary purpose is never refused, so the banner never deletes what "
                         "it stores: declare only the cookies of purposes the visitor can refuse");
    if (!pu->trackers) {
        snprintf(field, sizeof(field), "%s.trackers", prefix);
        return site_fail(p, field,
                         "false, yet the purpose declares the cookies or storage keys its "
                         "trackers set");
    }
    if (cookies != NULL) {
        snprintf(field, sizeof(field), "%s.cookies", prefix);
        if (site_array(p, cookies, field, 0, SITE_MAX_COOKIES) != 0) return -1;
        pu->n_cookies = json_array_size(cookies);
        if (pu->n_cookies > 0 &&
            (pu->cookies = site_alloc(p->set, pu->n_cookies * sizeof(*pu->cookies))) == NULL)
            return site_oom(p);
        for (size_t c = 0; c < pu->n_cookies; c++) {
            char item[112];
            snprintf(item, sizeof(item), "%s.cookies[%zu]", prefix, c);
            if (site_parse_cookie(p, json_array_get(cookies, c), item, site, pu, c) != 0) return -1;
        }
    }
    if (storage != NULL) {
        snprintf(field, sizeof(field), "%s.storage", prefix);
        if (site_array(p, storage, field, 0, SITE_MAX_STORAGE_KEYS) != 0) return -1;
        pu->n_storage = json_array_size(storage);
        if (pu->n_storage > 0 &&
            (pu->storage = site_alloc(p->set, pu->n_storage * sizeof(*pu->storage))) == NULL)
            return site_oom(p);
        for (size_t k = 0; k < pu->n_storage; k++) {
            char item[112];
            snprintf(item, sizeof(item), "%s.storage[%zu]", prefix, k);
            if (site_parse_cleanup_pattern(p, json_array_get(storage, k), item, 0,
                                           &pu->storage[k]) != 0)
                return -1;
            for (size_t j = 0; j < k; j++)
                if (strcmp(pu->storage[j], pu->storage[k]) == 0)
                    return site_fail(p, item, "\"%s\" is declared twice in this purpose",
                                     pu->storage[k]);
        }
    }
    return 0;
}

/* "reload_on_withdrawal": optional, true by default. */
static int site_parse_reload_on_withdrawal(const site_parse_t *p, json_t *root, site_t *site)
{
    json_t *v = json_object_get(root, "reload_on_withdrawal");
    site->reload_on_withdrawal = 1;
    if (v == NULL) return 0;
    if (!json_is_boolean(v)) return site_fail(p, "reload_on_withdrawal", "must be true or false");
    site->reload_on_withdrawal = json_is_true(v);
    return 0;
}

static int site_parse_purpose(const site_parse_t *p, json_t *obj, size_t i, const site_t *site,
                              site_purpose_t *pu)
{
    static const char *const keys[] = {"id",      "recipients",   "legal_basis", "retention_days",
                                       "texts",   "consent_mode", "gpc",         "trackers",
                                       "cookies", "storage",      NULL};
    char prefix[32], field[64];
    snprintf(prefix, sizeof(prefix), "purposes[%zu]", i);
    if (!json_is_object(obj)) return site_fail(p, prefix, "must be an object");
    snprintf(field, sizeof(field), "%s.", prefix);
    if (site_check_keys(p, obj, field, keys) != 0) return -1;

    json_t *v;
    snprintf(field, sizeof(field), "%s.id", prefix);
    if ((v = site_required(p, obj, "id", field)) == NULL) return -1;
    if (!json_is_string(v) || !site_purpose_id_ok(json_string_value(v), json_string_length(v)))
        return site_fail(p, field, "must match [a-z0-9_-]{1,64}");
    for (size_t j = 0; j < i; j++)
        if (strcmp(site->purposes[j].id, json_string_value(v)) == 0)
            return site_fail(p, field, "duplicate of purposes[%zu].id (%s)", j,
                             json_string_value(v));
    if ((pu->id = site_strndup(p->set, json_string_value(v), json_string_length(v))) == NULL)
        return site_oom(p);

    snprintf(field, sizeof(field), "%s.legal_basis", prefix);
    if ((v = site_required(p, obj, "legal_basis", field)) == NULL) return -1;
    const char *basis = json_is_string(v) ? json_string_value(v) : "";
    if (strcmp(basis, "consent") == 0)
        pu->legal_basis = LEGAL_BASIS_CONSENT;
    else if (strcmp(basis, "legitimate_interest") == 0)
        pu->legal_basis = LEGAL_BASIS_LEGITIMATE_INTEREST;
    else if (strcmp(basis, "necessary") == 0)
        pu->legal_basis = LEGAL_BASIS_NECESSARY;
    else
        return site_fail(p, field, "must be one of consent, legitimate_interest, necessary");

    snprintf(field, sizeof(field), "%s.retention_days", prefix);
    if ((v = site_required(p, obj, "retention_days", field)) == NULL ||
        site_uint(p, v, field, 1, SITE_PURPOSE_RETENTION_MAX_DAYS, "", &pu->retention_days) != 0)
        return -1;

    snprintf(field, sizeof(field), "%s.recipients", prefix);
    if ((v = site_required(p, obj, "recipients", field)) == NULL ||
        site_array(p, v, field, 0, SITE_MAX_RECIPIENTS) != 0)
        return -1;
    pu->n_recipients = json_array_size(v);
    if (pu->n_recipients > 0) {
        pu->recipients = site_alloc(p->set, pu->n_recipients * sizeof(*pu->recipients));
        if (pu->recipients == NULL) return site_oom(p);
    }
    for (size_t r = 0; r < pu->n_recipients; r++) {
        char rfield[80];
        snprintf(rfield, sizeof(rfield), "%s.recipients[%zu]", prefix, r);
        if (site_string(p, json_array_get(v, r), rfield, SITE_NAME_MAX, 0, &pu->recipients[r]) != 0)
            return -1;
    }

    snprintf(field, sizeof(field), "%s.consent_mode", prefix);
    if ((v = json_object_get(obj, "consent_mode")) != NULL &&
        site_parse_consent_mode(p, v, field, pu) != 0)
        return -1;

    snprintf(field, sizeof(field), "%s.gpc", prefix);
    if ((v = json_object_get(obj, "gpc")) != NULL) {
        if (!json_is_boolean(v)) return site_fail(p, field, "must be true or false");
        pu->gpc = json_is_true(v);
    }

    /* Trackers (issue 19): reading or writing on the visitor's device needs
     * consent unless strictly necessary (ePrivacy Directive art. 5(3),
     * French art. 82): legitimate interest never covers it. A purpose that
     * does not say is taken to use trackers, the reading that never lets a
     * tracker run without consent. */
    snprintf(field, sizeof(field), "%s.trackers", prefix);
    pu->trackers = 1;
    if ((v = json_object_get(obj, "trackers")) != NULL) {
        if (!json_is_boolean(v)) return site_fail(p, field, "must be true or false");
        pu->trackers = json_is_true(v);
    }
    /* A Consent Mode storage type (ad_storage, analytics_storage, ...) lets
     * tags store on the device: the purpose mapped onto it uses trackers. */
    for (size_t t = 0; !pu->trackers && t < pu->n_consent_mode; t++) {
        size_t n = strlen(pu->consent_mode[t]);
        if (n > 8 && strcmp(pu->consent_mode[t] + n - 8, "_storage") == 0)
            return site_fail(p, field,
                             "false, yet consent_mode maps it onto %s, which stores on "
                             "the visitor's device",
                             pu->consent_mode[t]);
    }
    if (pu->legal_basis == LEGAL_BASIS_LEGITIMATE_INTEREST && pu->trackers) {
        snprintf(field, sizeof(field), "%s.legal_basis", prefix);
        return site_fail(p, field,
                         "legitimate_interest cannot cover trackers (ePrivacy Directive art. "
                         "5(3), French art. 82): use consent, or set \"trackers\": false if this "
                         "purpose reads and writes nothing on the visitor's device");
    }

    if (site_parse_purpose_cleanup(p, obj, prefix, site, pu) != 0) return -1;

    snprintf(field, sizeof(field), "%s.texts", prefix);
    if ((v = site_required(p, obj, "texts", field)) == NULL) return -1;
    return site_parse_texts(p, v, prefix, site, pu);
}

/* The site id a file must carry: its base name without ".json". */
/* One variant's overrides of the banner's UI strings in one language:
 * {"title": "...", ...}; which keys exist is the banner's business. */
static int site_parse_variant_texts(const site_parse_t *p, json_t *obj, const char *field,
                                    site_variant_text_t *t)
{
    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return site_fail(p, field, "must be a non-empty object of banner texts to override");
    if (json_object_size(obj) > SITE_VARIANT_TEXTS_MAX)
        return site_fail(p, field, "must override at most %d texts", SITE_VARIANT_TEXTS_MAX);
    t->n = json_object_size(obj);
    t->keys = site_alloc(p->set, t->n * sizeof(char *));
    t->values = site_alloc(p->set, t->n * sizeof(char *));
    if (t->keys == NULL || t->values == NULL) return site_oom(p);
    const char *key;
    json_t *v;
    size_t i = 0;
    json_object_foreach(obj, key, v)
    {
        char sub[192];
        snprintf(sub, sizeof(sub), "%s.%s", field, key);
        if (!site_purpose_id_ok(key, strlen(key)) || strlen(key) > SITE_VARIANT_ID_MAX)
            return site_fail(p, sub, "is not a banner text name");
        if ((t->keys[i] = site_strndup(p->set, key, strlen(key))) == NULL) return site_oom(p);
        if (site_string(p, v, sub, SITE_TEXT_MAX, 1, &t->values[i]) != 0) return -1;
        i++;
    }
    return 0;
}

/* An element of a list of named objects (variants, page groups) at prefix:
 * an object of the known keys whose "id" matches [a-z0-9_-]{1,32}. Its id,
 * with field = "<prefix>.id"; NULL on error (not_object: the message when
 * it is not an object). */
static json_t *site_item_id(const site_parse_t *p, json_t *obj, const char *prefix,
                            const char *const *keys, const char *not_object, char *field,
                            size_t cap)
{
    if (!json_is_object(obj)) {
        site_fail(p, prefix, "%s", not_object);
        return NULL;
    }
    snprintf(field, cap, "%s.", prefix);
    if (site_check_keys(p, obj, field, keys) != 0) return NULL;
    snprintf(field, cap, "%s.id", prefix);
    json_t *v = site_required(p, obj, "id", field);
    if (v == NULL) return NULL;
    if (!json_is_string(v) || json_string_length(v) > SITE_VARIANT_ID_MAX ||
        !site_purpose_id_ok(json_string_value(v), json_string_length(v))) {
        site_fail(p, field, "must match [a-z0-9_-]{1,32}");
        return NULL;
    }
    return v;
}

static int site_parse_variant(const site_parse_t *p, json_t *obj, size_t i, site_t *site)
{
    static const char *const keys[] = {"id", "weight", "layout", "texts", NULL};
    site_variant_t *va = &site->variants[i];
    char prefix[32], field[96];
    snprintf(prefix, sizeof(prefix), "variants[%zu]", i);
    json_t *v = site_item_id(p, obj, prefix, keys, "must be an object", field, sizeof(field));
    if (v == NULL) return -1;
    for (size_t j = 0; j < i; j++)
        if (strcmp(site->variants[j].id, json_string_value(v)) == 0)
            return site_fail(p, field, "\"%s\" is declared twice", json_string_value(v));
    if ((va->id = site_strndup(p->set, json_string_value(v), json_string_length(v))) == NULL)
        return site_oom(p);

    snprintf(field, sizeof(field), "%s.weight", prefix);
    if ((v = site_required(p, obj, "weight", field)) == NULL ||
        site_uint(p, v, field, 1, SITE_VARIANT_WEIGHT_MAX, "", &va->weight) != 0)
        return -1;
    site->variants_weight += va->weight;

    va->layout = "bar";
    snprintf(field, sizeof(field), "%s.layout", prefix);
    if ((v = json_object_get(obj, "layout")) != NULL) {
        if (!json_is_string(v) ||
            (strcmp(json_string_value(v), "bar") != 0 && strcmp(json_string_value(v), "box") != 0))
            return site_fail(p, field, "must be \"bar\" or \"box\"");
        va->layout = strcmp(json_string_value(v), "box") == 0 ? "box" : "bar";
    }

    snprintf(field, sizeof(field), "%s.texts", prefix);
    json_t *texts = json_object_get(obj, "texts");
    if (texts == NULL) return 0;
    if (!json_is_object(texts))
        return site_fail(p, field, "must be an object with an entry per language it overrides");
    va->n_texts = json_object_size(texts);
    if (va->n_texts == 0) return 0;
    if ((va->texts = site_alloc(p->set, va->n_texts * sizeof(*va->texts))) == NULL)
        return site_oom(p);
    const char *lang;
    json_t *entry;
    size_t t = 0;
    json_object_foreach(texts, lang, entry)
    {
        char sub[128];
        snprintf(sub, sizeof(sub), "%s.%s", field, lang);
        size_t l = 0;
        while (l < site->n_languages && strcmp(lang, site->languages[l]) != 0)
            l++;
        if (l == site->n_languages) return site_fail(p, sub, "language not declared in languages");
        va->texts[t].lang = site->languages[l];
        if (site_parse_variant_texts(p, entry, sub, &va->texts[t]) != 0) return -1;
        t++;
    }
    return 0;
}

/* "variants": optional, the banner variants of an A/B test. */
static int site_parse_variants(const site_parse_t *p, json_t *root, site_t *site)
{
    json_t *arr = json_object_get(root, "variants");
    if (arr == NULL) return 0;
    if (site_array(p, arr, "variants", 1, SITE_MAX_VARIANTS) != 0) return -1;
    site->n_variants = json_array_size(arr);
    if ((site->variants = site_alloc(p->set, site->n_variants * sizeof(*site->variants))) == NULL)
        return site_oom(p);
    for (size_t i = 0; i < site->n_variants; i++)
        if (site_parse_variant(p, json_array_get(arr, i), i, site) != 0) return -1;
    return 0;
}

/* "embeds": optional, [{"host", "provider"}] (issue 20, item 2). Declared,
 * even empty, it gives held iframes click-to-load placeholders; a listed
 * host names its provider on them (the iframe's own host otherwise). */
static int site_parse_embed(const site_parse_t *p, json_t *obj, size_t i, site_t *site)
{
    static const char *const keys[] = {"host", "provider", NULL};
    site_embed_t *e = &site->embeds[i];
    char prefix[32], field[64];
    snprintf(prefix, sizeof(prefix), "embeds[%zu]", i);
    if (!json_is_object(obj))
        return site_fail(p, prefix, "must be an object with host and provider");
    snprintf(field, sizeof(field), "%s.", prefix);
    if (site_check_keys(p, obj, field, keys) != 0) return -1;

    json_t *v;
    snprintf(field, sizeof(field), "%s.host", prefix);
    if ((v = site_required(p, obj, "host", field)) == NULL) return -1;
    if (!json_is_string(v) || !site_hostname_ok(json_string_value(v), json_string_length(v)))
        return site_fail(p, field,
                         "must be a host name in lower case, like \"www.youtube-nocookie.com\" "
                         "(no scheme, port or path)");
    for (size_t j = 0; j < i; j++)
        if (strcmp(site->embeds[j].host, json_string_value(v)) == 0)
            return site_fail(p, field, "duplicate of embeds[%zu].host", j);
    if ((e->host = site_strndup(p->set, json_string_value(v), json_string_length(v))) == NULL)
        return site_oom(p);

    snprintf(field, sizeof(field), "%s.provider", prefix);
    if ((v = site_required(p, obj, "provider", field)) == NULL) return -1;
    return site_string(p, v, field, SITE_NAME_MAX, 0, &e->provider);
}

static int site_parse_embeds(const site_parse_t *p, json_t *root, site_t *site)
{
    json_t *arr = json_object_get(root, "embeds");
    if (arr == NULL) return 0;
    if (!json_is_array(arr))
        return site_fail(p, "embeds",
                         "must be an array of {\"host\", \"provider\"} (empty: the placeholders "
                         "name the host)");
    if (site_array(p, arr, "embeds", 0, SITE_MAX_EMBEDS) != 0) return -1;
    site->has_embeds = 1;
    site->n_embeds = json_array_size(arr);
    if (site->n_embeds == 0) return 0;
    if ((site->embeds = site_alloc(p->set, site->n_embeds * sizeof(*site->embeds))) == NULL)
        return site_oom(p);
    for (size_t i = 0; i < site->n_embeds; i++)
        if (site_parse_embed(p, json_array_get(arr, i), i, site) != 0) return -1;
    return 0;
}

/* "page_groups": optional, [{"id", "prefixes": ["/blog/", ...]}] (issue 21,
 * item 4): the stats' page segment. The banner (feature pages) names the
 * group of the page it is on; the raw path never leaves the browser. */
static int site_parse_page_group(const site_parse_t *p, json_t *obj, size_t i, site_t *site)
{
    static const char *const keys[] = {"id", "prefixes", NULL};
    site_page_group_t *g = &site->page_groups[i];
    char prefix[48], field[96];
    snprintf(prefix, sizeof(prefix), "page_groups[%zu]", i);
    json_t *v = site_item_id(p, obj, prefix, keys, "must be an object with id and prefixes", field,
                             sizeof(field));
    if (v == NULL) return -1;
    if (strcmp(json_string_value(v), "other") == 0)
        return site_fail(p, field, "\"other\" is the group of every other page: choose another id");
    for (size_t j = 0; j < i; j++)
        if (strcmp(site->page_groups[j].id, json_string_value(v)) == 0)
            return site_fail(p, field, "\"%s\" is declared twice", json_string_value(v));
    if ((g->id = site_strndup(p->set, json_string_value(v), json_string_length(v))) == NULL)
        return site_oom(p);

    snprintf(field, sizeof(field), "%s.prefixes", prefix);
    json_t *arr = site_required(p, obj, "prefixes", field);
    if (arr == NULL || site_array(p, arr, field, 1, SITE_MAX_PAGE_PREFIXES) != 0) return -1;
    g->n_prefixes = json_array_size(arr);
    if ((g->prefixes = site_alloc(p->set, g->n_prefixes * sizeof(*g->prefixes))) == NULL)
        return site_oom(p);
    for (size_t k = 0; k < g->n_prefixes; k++) {
        char item[128];
        snprintf(item, sizeof(item), "%s[%zu]", field, k);
        v = json_array_get(arr, k);
        if (site_string(p, v, item, SITE_PAGE_PREFIX_MAX, 0, &g->prefixes[k]) != 0) return -1;
        if (g->prefixes[k][0] != '/' || strpbrk(g->prefixes[k], "?#") != NULL)
            return site_fail(p, item,
                             "must be a URL path prefix starting with \"/\", like \"/blog/\" "
                             "(no query, no fragment)");
    }
    return 0;
}

static int site_parse_page_groups(const site_parse_t *p, json_t *root, site_t *site)
{
    json_t *arr = json_object_get(root, "page_groups");
    if (arr == NULL) return 0;
    if (site_array(p, arr, "page_groups", 1, SITE_MAX_PAGE_GROUPS) != 0) return -1;
    site->n_page_groups = json_array_size(arr);
    if ((site->page_groups =
             site_alloc(p->set, site->n_page_groups * sizeof(*site->page_groups))) == NULL)
        return site_oom(p);
    for (size_t i = 0; i < site->n_page_groups; i++)
        if (site_parse_page_group(p, json_array_get(arr, i), i, site) != 0) return -1;
    return 0;
}

int site_page_group_index(const site_t *site, const char *id, size_t len)
{
    if (site->n_page_groups == 0) return -1;
    for (size_t i = 0; i < site->n_page_groups; i++)
        if (strlen(site->page_groups[i].id) == len && memcmp(site->page_groups[i].id, id, len) == 0)
            return (int)i;
    return (int)site->n_page_groups;
}

/* A region code for Consent Mode: [A-Z]{2}, optionally "-" and [A-Z0-9]{1,3}. */
static int site_region_ok(const char *s, size_t len)
{
    if (len != 2 && (len < 4 || len > 6)) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = i < 2    ? (c >= 'A' && c <= 'Z')
                 : i == 2 ? c == '-'
                          : ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
        if (!ok) return 0;
    }
    return 1;
}

/* Where the GDPR and the ePrivacy Directive (or their UK and Swiss
 * counterparts) apply: the EU, the rest of the EEA, the UK, Switzerland. */
static const char site_consent_regions[] = "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU "
                                           "MT NL PL PT RO SK SI ES SE IS LI NO GB CH";

/* A row may grant by default, before any choice, only what needs no consent
 * (security_storage, functionality_storage) in the regions where trackers
 * need consent (site_consent_regions): granting ad_storage by default in
 * France would be consent nobody gave. */
static int site_gcm_row_lawful(const site_parse_t *p, const char *prefix, const site_gcm_row_t *row)
{
    const char *needs = NULL;
    for (size_t g = 0; g < row->n_granted && needs == NULL; g++)
        if (strcmp(row->granted[g], "security_storage") != 0 &&
            strcmp(row->granted[g], "functionality_storage") != 0)
            needs = row->granted[g];
    for (size_t r = 0; needs != NULL && r < row->n_regions; r++) {
        char country[3] = {row->regions[r][0], row->regions[r][1], '\0'}, item[128];
        if (strstr(site_consent_regions, country) == NULL) continue;
        snprintf(item, sizeof(item), "%s.region[%zu]", prefix, r);
        return site_fail(p, item,
                         "%s is in the EU, the EEA, the UK or Switzerland, where %s needs the "
                         "visitor's consent: a row naming it may grant only security_storage and "
                         "functionality_storage by default",
                         country, needs);
    }
    return 0;
}

/* google_consent_mode.regions[i]: {"region": [codes], "default": {type: "granted" | "denied"}}.
 */
static int site_parse_gcm_row(const site_parse_t *p, json_t *obj, size_t i, site_gcm_row_t *row)
{
    static const char *const keys[] = {"region", "default", NULL};
    static const char *const types[] = {SITE_CONSENT_MODE_TYPES};
    char prefix[64], field[96];
    snprintf(prefix, sizeof(prefix), "google_consent_mode.regions[%zu]", i);
    if (!json_is_object(obj)) return site_fail(p, prefix, "must be an object");
    snprintf(field, sizeof(field), "%s.", prefix);
    if (site_check_keys(p, obj, field, keys) != 0) return -1;
    snprintf(field, sizeof(field), "%s.region", prefix);
    json_t *arr = site_required(p, obj, "region", field);
    if (arr == NULL || site_array(p, arr, field, 1, SITE_GCM_REGIONS_MAX) != 0) return -1;
    row->n_regions = json_array_size(arr);
    if ((row->regions = site_alloc(p->set, row->n_regions * sizeof(char *))) == NULL)
        return site_oom(p);
    for (size_t r = 0; r < row->n_regions; r++) {
        json_t *v = json_array_get(arr, r);
        char item[128];
        snprintf(item, sizeof(item), "%s[%zu]", field, r);
        if (!json_is_string(v) || !site_region_ok(json_string_value(v), json_string_length(v)))
            return site_fail(p, item,
                             "must be an ISO 3166 region code: \"FR\", or \"US-CA\" (capitals)");
        if ((row->regions[r] = site_strndup(p->set, json_string_value(v), json_string_length(v))) ==
            NULL)
            return site_oom(p);
    }
    snprintf(field, sizeof(field), "%s.default", prefix);
    json_t *def = site_required(p, obj, "default", field);
    if (def == NULL) return -1;
    if (!json_is_object(def)) return site_fail(p, field, "must be an object");
    snprintf(field, sizeof(field), "%s.default.", prefix);
    const char *type_keys[SITE_CONSENT_MODE_MAX + 1] = {SITE_CONSENT_MODE_TYPES, NULL};
    if (site_check_keys(p, def, field, type_keys) != 0) return -1;
    for (size_t t = 0; t < SITE_CONSENT_MODE_MAX; t++) {
        json_t *v = json_object_get(def, types[t]);
        if (v == NULL) continue;
        const char *state = json_is_string(v) ? json_string_value(v) : "";
        snprintf(field, sizeof(field), "%s.default.%s", prefix, types[t]);
        if (strcmp(state, "granted") != 0 && strcmp(state, "denied") != 0)
            return site_fail(p, field, "must be \"granted\" or \"denied\"");
        if (strcmp(state, "granted") == 0) row->granted[row->n_granted++] = types[t];
    }
    return site_gcm_row_lawful(p, prefix, row);
}

/*
 * "google_consent_mode": optional, the site-level Consent Mode options:
 * {"wait_for_update": ms, "ads_data_redaction": bool, "url_passthrough": bool,
 *  "regions": [rows]}. Absent: wait 500 ms, nothing set, denied everywhere.
 */
static int site_parse_gcm(const site_parse_t *p, json_t *root, site_t *site)
{
    static const char *const keys[] = {"wait_for_update", "ads_data_redaction", "url_passthrough",
                                       "regions", NULL};
    site->gcm.wait_for_update_ms = SITE_GCM_WAIT_DEFAULT_MS;
    json_t *obj = json_object_get(root, "google_consent_mode"), *v;
    if (obj == NULL) return 0;
    if (!json_is_object(obj)) return site_fail(p, "google_consent_mode", "must be an object");
    if (site_check_keys(p, obj, "google_consent_mode.", keys) != 0) return -1;
    if ((v = json_object_get(obj, "wait_for_update")) != NULL &&
        site_uint(p, v, "google_consent_mode.wait_for_update", 0, SITE_GCM_WAIT_MAX_MS,
                  " (milliseconds)", &site->gcm.wait_for_update_ms) != 0)
        return -1;
    if ((v = json_object_get(obj, "ads_data_redaction")) != NULL) {
        if (!json_is_boolean(v))
            return site_fail(p, "google_consent_mode.ads_data_redaction", "must be true or false");
        site->gcm.ads_data_redaction = json_is_true(v);
    }
    if ((v = json_object_get(obj, "url_passthrough")) != NULL) {
        if (!json_is_boolean(v))
            return site_fail(p, "google_consent_mode.url_passthrough", "must be true or false");
        site->gcm.url_passthrough = json_is_true(v);
    }
    json_t *arr = json_object_get(obj, "regions");
    if (arr == NULL) return 0;
    if (site_array(p, arr, "google_consent_mode.regions", 0, SITE_GCM_ROWS_MAX) != 0) return -1;
    site->gcm.n_rows = json_array_size(arr);
    if (site->gcm.n_rows == 0) return 0;
    if ((site->gcm.rows = site_alloc(p->set, site->gcm.n_rows * sizeof(*site->gcm.rows))) == NULL)
        return site_oom(p);
    for (size_t i = 0; i < site->gcm.n_rows; i++)
        if (site_parse_gcm_row(p, json_array_get(arr, i), i, &site->gcm.rows[i]) != 0) return -1;
    return 0;
}

/*
 * "tags": optional, {"microsoft_uet": [purpose, ...], "microsoft_clarity": [...],
 * "meta_pixel": [...]}: the tags whose own consent signals the banner sends
 * (web/banner/features/tags.js), each with the purposes its consent needs.
 * The purposes must be the site's own: read after "purposes".
 */
static int site_parse_tags(const site_parse_t *p, json_t *root, site_t *site)
{
    static const char *const names[] = {SITE_TAG_NAMES, NULL};
    json_t *obj = json_object_get(root, "tags");
    if (obj == NULL) return 0;
    if (!json_is_object(obj)) return site_fail(p, "tags", "must be an object");
    if (site_check_keys(p, obj, "tags.", names) != 0) return -1;
    if (json_object_size(obj) == 0)
        return site_fail(p, "tags",
                         "must name at least one of microsoft_uet, microsoft_clarity, "
                         "meta_pixel (or be left out)");
    if ((site->tags = site_alloc(p->set, SITE_TAG_COUNT * sizeof(*site->tags))) == NULL)
        return site_oom(p);
    for (size_t t = 0; t < SITE_TAG_COUNT; t++) {
        json_t *arr = json_object_get(obj, names[t]);
        if (arr == NULL) continue;
        char field[64], item[96];
        snprintf(field, sizeof(field), "tags.%s", names[t]);
        if (site_array(p, arr, field, 1, SITE_MAX_PURPOSES) != 0) return -1;
        site_tag_t *tag = &site->tags[site->n_tags++];
        tag->name = names[t];
        tag->n_purposes = json_array_size(arr);
        if ((tag->purposes = site_alloc(p->set, tag->n_purposes * sizeof(char *))) == NULL)
            return site_oom(p);
        for (size_t i = 0; i < tag->n_purposes; i++) {
            json_t *v = json_array_get(arr, i);
            snprintf(item, sizeof(item), "%s[%zu]", field, i);
            const site_purpose_t *pu =
                json_is_string(v)
                    ? site_purpose_find(site, json_string_value(v), json_string_length(v))
                    : NULL;
            if (pu == NULL)
                return site_fail(p, item, "must be the id of one of the site's purposes");
            for (size_t j = 0; j < i; j++)
                if (tag->purposes[j] == pu->id)
                    return site_fail(p, item, "duplicate of %s[%zu]", field, j);
            tag->purposes[i] = pu->id;
        }
    }
    return 0;
}

/*
 * "identify": {"public_key": "<base64url of 32 bytes>", "max_age_seconds": N}
 * (issue 20, item 7). The Ed25519 public key that verifies the site's
 * identify tokens (its server keeps the private key: a leak of consentd's
 * files lets nobody mint one), and the longest life a token may have.
 */
static int site_parse_identify(const site_parse_t *p, json_t *root, site_t *site)
{
    static const char *const keys[] = {"public_key", "max_age_seconds", NULL};
    json_t *obj = json_object_get(root, "identify"), *v;
    if (obj == NULL) return 0;
    if (!json_is_object(obj)) return site_fail(p, "identify", "must be an object");
    if (site_check_keys(p, obj, "identify.", keys) != 0) return -1;
    if ((v = site_required(p, obj, "public_key", "identify.public_key")) == NULL) return -1;
    size_t bin_len = 0;
    if (!json_is_string(v) ||
        sodium_base642bin(site->identify.public_key, sizeof(site->identify.public_key),
                          json_string_value(v), json_string_length(v), NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        bin_len != sizeof(site->identify.public_key))
        return site_fail(p, "identify.public_key",
                         "must be an Ed25519 public key: 32 bytes in base64url without padding "
                         "(43 characters; node ops/identify-token.mjs keygen makes one)");
    site->identify.max_age_seconds = SITE_IDENTIFY_MAX_AGE_DEFAULT;
    if ((v = json_object_get(obj, "max_age_seconds")) != NULL &&
        site_uint(p, v, "identify.max_age_seconds", 60, SITE_IDENTIFY_MAX_AGE_MAX,
                  " (a token lives at most 30 days)", &site->identify.max_age_seconds) != 0)
        return -1;
    site->identify.enabled = 1;
    return 0;
}

/* ---- "tcf": IAB TCF (issue 24, item 2) --------------------------------------- */

static int site_u16_cmp(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static int site_u16_has(const uint16_t *ids, size_t n, unsigned id)
{
    return bsearch(&(uint16_t){(uint16_t)id}, ids, n, sizeof(*ids), site_u16_cmp) != NULL;
}

/* An array of distinct integer ids from 1 to max (at least min of them),
 * copied sorted into the arena; ok(gvl, id) says whether one is known, and
 * what names what it must be in the message. */
typedef int (*site_tcf_known_fn)(const site_parse_t *p, const char *item, unsigned id);

static int site_tcf_ids(const site_parse_t *p, json_t *arr, const char *field, size_t min,
                        size_t max_n, unsigned max_id, site_tcf_known_fn known,
                        const uint16_t **out, size_t *n_out)
{
    if (site_array(p, arr, field, min, max_n) != 0) return -1;
    size_t n = json_array_size(arr);
    uint16_t *ids = n > 0 ? site_alloc(p->set, n * sizeof(*ids)) : NULL;
    if (n > 0 && ids == NULL) return site_oom(p);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        char item[128];
        snprintf(item, sizeof(item), "%s[%zu]", field, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max_id)
            return site_fail(p, item, "must be an integer from 1 to %u", max_id);
        unsigned id = (unsigned)json_integer_value(v);
        for (size_t j = 0; j < i; j++)
            if (json_integer_value(json_array_get(arr, j)) == (json_int_t)id)
                return site_fail(p, item, "duplicate of %s[%zu]", field, j);
        if (known(p, item, id) != 0) return -1;
        ids[i] = (uint16_t)id;
    }
    if (n > 1) qsort(ids, n, sizeof(*ids), site_u16_cmp);
    *out = ids;
    *n_out = n;
    return 0;
}

static int site_tcf_vendor_known(const site_parse_t *p, const char *item, unsigned id)
{
    const gvl_vendor_t *v = gvl_vendor_find(p->gvl, id);
    if (v == NULL)
        return site_fail(p, item, "vendor %u is not in the Global Vendor List (version %u)", id,
                         p->gvl->vendor_list_version);
    if (v->deleted_date != NULL)
        return site_fail(p, item,
                         "vendor %u (%s) was deleted from the Global Vendor List (%s): it must "
                         "not be shown to visitors",
                         id, v->name, v->deleted_date);
    return 0;
}

static int site_tcf_stack_known(const site_parse_t *p, const char *item, unsigned id)
{
    if (gvl_stack_find(p->gvl, id) == NULL)
        return site_fail(p, item, "stack %u is not in the Global Vendor List (version %u)", id,
                         p->gvl->vendor_list_version);
    return 0;
}

static int site_tcf_purpose_known(const site_parse_t *p, const char *item, unsigned id)
{
    if (gvl_purpose_find(p->gvl, id) == NULL)
        return site_fail(p, item, "purpose %u is not in the Global Vendor List (version %u)", id,
                         p->gvl->vendor_list_version);
    return 0;
}

/* TCF policy (v2.2 on): purposes 1, 3, 4, 5 and 6 are never processed on
 * legitimate interest. */
static int site_tcf_li_forbidden(unsigned purpose)
{
    return purpose == 1 || (purpose >= 3 && purpose <= 6);
}

/* Whether the vendor's declaration allows restriction type on purpose: it
 * must use the purpose at all; "require consent" of a purpose it declares on
 * legitimate interest, or "require legitimate interest" of one it declares
 * on consent, only when it declared that purpose flexible. NULL: allowed;
 * else why not. */
static const char *site_tcf_restriction_refused(const gvl_vendor_t *v, unsigned purpose,
                                                site_tcf_restriction_type_t type)
{
    int consent = gvl_ids_has(v->purposes, purpose);
    int li = gvl_ids_has(v->leg_int_purposes, purpose);
    int flexible = gvl_ids_has(v->flexible_purposes, purpose);
    if (!consent && !li) return "does not declare the purpose in the Global Vendor List";
    if (type == SITE_TCF_REQUIRE_CONSENT && li && !flexible)
        return "declares it on legitimate interest, not as flexible: consent cannot be required";
    if (type == SITE_TCF_REQUIRE_LI && consent && !flexible)
        return "declares it on consent, not as flexible: legitimate interest cannot be required";
    return NULL;
}

static int site_tcf_restriction(const site_parse_t *p, json_t *obj, size_t i, site_tcf_t *tcf,
                                site_tcf_restriction_t *r)
{
    static const char *const keys[] = {"purpose", "type", "vendors", NULL};
    char prefix[64], field[96];
    snprintf(prefix, sizeof(prefix), "tcf.publisher_restrictions[%zu]", i);
    if (!json_is_object(obj)) return site_fail(p, prefix, "must be an object");
    snprintf(field, sizeof(field), "%s.", prefix);
    if (site_check_keys(p, obj, field, keys) != 0) return -1;
    json_t *v;
    uint32_t u = 0;
    snprintf(field, sizeof(field), "%s.purpose", prefix);
    if ((v = site_required(p, obj, "purpose", field)) == NULL ||
        site_uint(p, v, field, 1, GVL_PURPOSE_ID_MAX, "", &u) != 0 ||
        site_tcf_purpose_known(p, field, u) != 0)
        return -1;
    r->purpose = (uint16_t)u;
    snprintf(field, sizeof(field), "%s.type", prefix);
    if ((v = site_required(p, obj, "type", field)) == NULL ||
        site_uint(p, v, field, 0, 2,
                  " (0: not allowed, 1: require consent, 2: require legitimate "
                  "interest)",
                  &u) != 0)
        return -1;
    r->type = (site_tcf_restriction_type_t)u;
    if (r->type == SITE_TCF_REQUIRE_LI && site_tcf_li_forbidden(r->purpose))
        return site_fail(p, field,
                         "purpose %u is never processed on legitimate interest (TCF policy: "
                         "purposes 1, 3, 4, 5 and 6): it cannot be required",
                         r->purpose);
    snprintf(field, sizeof(field), "%s.vendors", prefix);
    if ((v = site_required(p, obj, "vendors", field)) == NULL ||
        site_tcf_ids(p, v, field, 1, SITE_TCF_VENDORS_MAX, GVL_VENDOR_ID_MAX, site_tcf_vendor_known,
                     &r->vendors, &r->n_vendors) != 0)
        return -1;
    for (size_t k = 0; k < json_array_size(v); k++) {
        unsigned id = (unsigned)json_integer_value(json_array_get(v, k));
        char item[128];
        snprintf(item, sizeof(item), "%s[%zu]", field, k);
        if (!site_u16_has(tcf->vendors, tcf->n_vendors, id))
            return site_fail(p, item, "vendor %u is not one of the site's (tcf.vendors)", id);
        const char *why =
            site_tcf_restriction_refused(gvl_vendor_find(p->gvl, id), r->purpose, r->type);
        if (why != NULL)
            return site_fail(p, item, "vendor %u %s (purpose %u)", id, why, r->purpose);
        /* One restriction per vendor and purpose (a TC string holds one). */
        for (size_t j = 0; j < i; j++) {
            const site_tcf_restriction_t *o = &tcf->restrictions[j];
            if (o->purpose == r->purpose && site_u16_has(o->vendors, o->n_vendors, id))
                return site_fail(p, item,
                                 "vendor %u already has a restriction on purpose %u "
                                 "(tcf.publisher_restrictions[%zu])",
                                 id, r->purpose, j);
        }
    }
    return 0;
}

static int site_tcf_publisher_purposes(const site_parse_t *p, json_t *obj, site_tcf_t *tcf)
{
    static const char *const keys[] = {"consent", "legitimate_interest", NULL};
    if (!json_is_object(obj)) return site_fail(p, "tcf.publisher_purposes", "must be an object");
    if (site_check_keys(p, obj, "tcf.publisher_purposes.", keys) != 0) return -1;
    json_t *c = json_object_get(obj, "consent"), *l = json_object_get(obj, "legitimate_interest");
    if (c != NULL && site_tcf_ids(p, c, "tcf.publisher_purposes.consent", 0, GVL_PURPOSE_ID_MAX,
                                  GVL_PURPOSE_ID_MAX, site_tcf_purpose_known,
                                  &tcf->publisher_consent, &tcf->n_publisher_consent) != 0)
        return -1;
    if (l != NULL && site_tcf_ids(p, l, "tcf.publisher_purposes.legitimate_interest", 0,
                                  GVL_PURPOSE_ID_MAX, GVL_PURPOSE_ID_MAX, site_tcf_purpose_known,
                                  &tcf->publisher_li, &tcf->n_publisher_li) != 0)
        return -1;
    for (size_t i = 0; l != NULL && i < json_array_size(l); i++) {
        unsigned id = (unsigned)json_integer_value(json_array_get(l, i));
        char item[96];
        snprintf(item, sizeof(item), "tcf.publisher_purposes.legitimate_interest[%zu]", i);
        if (site_tcf_li_forbidden(id))
            return site_fail(p, item,
                             "purpose %u is never processed on legitimate interest (TCF policy: "
                             "purposes 1, 3, 4, 5 and 6)",
                             id);
        if (site_u16_has(tcf->publisher_consent, tcf->n_publisher_consent, id))
            return site_fail(p, item,
                             "purpose %u is also in tcf.publisher_purposes.consent: "
                             "one legal basis",
                             id);
    }
    return 0;
}

/* The TC string encoder's rules for the site (site_tcf_t.rules), from its
 * validated "tcf" block and the GVL it was checked against: every vendor
 * with its declarations as masks, the restrictions, and what is offered
 * (the union of the vendors' declarations, docs/tcf.md). */
static uint32_t site_tcf_mask(gvl_ids_t ids, unsigned max)
{
    uint32_t m = 0;
    for (size_t i = 0; i < ids.n; i++)
        if (ids.ids[i] >= 1) m |= TCF_BIT(ids.ids[i] > max ? max : ids.ids[i]);
    return m;
}

static int site_tcf_rules(const site_parse_t *p, site_tcf_t *tcf)
{
    tcf_site_rules_t *r = &tcf->rules;
    *r = (tcf_site_rules_t){
        .cmp_id = tcf->cmp_id,
        .cmp_version = tcf->cmp_version,
        .consent_screen = 1,
        .vendor_list_version = p->gvl->vendor_list_version,
        .policy_version = p->gvl->tcf_policy_version,
        .vendor_count = tcf->n_vendors,
        .restriction_count = tcf->n_restrictions,
    };
    memcpy(r->publisher_cc, tcf->publisher_cc, 2);
    tcf_site_vendor_t *vs = site_alloc(p->set, tcf->n_vendors * sizeof(*vs));
    if (vs == NULL) return site_oom(p);
    for (size_t i = 0; i < tcf->n_vendors; i++) {
        const gvl_vendor_t *g = gvl_vendor_find(p->gvl, tcf->vendors[i]);
        vs[i] = (tcf_site_vendor_t){
            .id = tcf->vendors[i],
            .purposes = site_tcf_mask(g->purposes, TCF_PURPOSES_MAX),
            .li_purposes = site_tcf_mask(g->leg_int_purposes, TCF_PURPOSES_MAX),
            .flexible_purposes = site_tcf_mask(g->flexible_purposes, TCF_PURPOSES_MAX),
            .special_purposes = site_tcf_mask(g->special_purposes, 32),
        };
        r->purposes_consent |= vs[i].purposes | vs[i].flexible_purposes;
        r->purposes_li |= vs[i].li_purposes | vs[i].flexible_purposes;
        r->special_features |=
            (uint16_t)site_tcf_mask(g->special_features, TCF_SPECIAL_FEATURES_MAX);
    }
    r->purposes_li &= ~(uint32_t)TCF_PURPOSES_NO_LI;
    r->vendors = vs;
    if (tcf->n_restrictions > 0) {
        tcf_restriction_t *rs = site_alloc(p->set, tcf->n_restrictions * sizeof(*rs));
        if (rs == NULL) return site_oom(p);
        for (size_t i = 0; i < tcf->n_restrictions; i++)
            rs[i] = (tcf_restriction_t){
                .purpose = tcf->restrictions[i].purpose,
                .type = (tcf_restriction_type_t)tcf->restrictions[i].type,
                .vendors = {tcf->restrictions[i].vendors, tcf->restrictions[i].n_vendors},
            };
        r->restrictions = rs;
    }
    for (size_t i = 0; i < tcf->n_publisher_consent; i++)
        r->pub_purposes_consent |= TCF_BIT(tcf->publisher_consent[i]);
    for (size_t i = 0; i < tcf->n_publisher_li; i++)
        r->pub_purposes_li |= TCF_BIT(tcf->publisher_li[i]);
    r->publisher_tc = tcf->n_publisher_consent + tcf->n_publisher_li > 0;
    tcf->choice_json_max = tcf_choice_json_max(r);
    return 0;
}

/*
 * "tcf": {"cmp_id", "cmp_version", "publisher_cc", "vendors",
 * "publisher_restrictions", "stacks", "publisher_purposes", "gdpr_applies"}
 * (issue 24, items 2 and 5). Every id is checked against the newest Global
 * Vendor List: a vendor it lists (and not deleted), a stack it defines (two
 * stacks shown together never share a purpose or special feature, TCF
 * policy), a restriction the vendor's declaration allows. The site's own
 * purposes ("purposes") stay beside it for what TCF does not cover.
 */

/* Stacks shown together must not overlap: the first of a's ids (of what)
 * that b has too is an error on tcf.stacks[i]. */
static int site_tcf_stacks_overlap(const site_parse_t *p, size_t i, const gvl_stack_t *a, size_t j,
                                   const gvl_stack_t *b, const char *what, gvl_ids_t ids_a,
                                   gvl_ids_t ids_b)
{
    for (size_t k = 0; k < ids_a.n; k++)
        if (gvl_ids_has(ids_b, ids_a.ids[k])) {
            char item[64];
            snprintf(item, sizeof(item), "tcf.stacks[%zu]", i);
            return site_fail(p, item,
                             "stack %u shares %s %u with stack %u (tcf.stacks[%zu]): stacks "
                             "shown together must not overlap",
                             a->id, what, ids_a.ids[k], b->id, j);
        }
    return 0;
}

/* "tcf.gdpr_applies" (issue 24, item 5): a boolean, true when absent. */
static int site_tcf_gdpr_applies(const site_parse_t *p, json_t *obj, site_tcf_t *tcf)
{
    json_t *v = json_object_get(obj, "gdpr_applies");
    tcf->gdpr_applies = 1;
    if (v == NULL) return 0;
    if (!json_is_boolean(v))
        return site_fail(p, "tcf.gdpr_applies",
                         "must be true or false (whether GDPR applies to the site's visitors)");
    tcf->gdpr_applies = json_is_true(v);
    return 0;
}

int site_tcf_applies(const site_t *site)
{
    return site->tcf.enabled && site->tcf.gdpr_applies;
}

static int site_parse_tcf(const site_parse_t *p, json_t *root, site_t *site)
{
    static const char *const keys[] = {
        "cmp_id", "cmp_version",        "publisher_cc", "vendors", "publisher_restrictions",
        "stacks", "publisher_purposes", "gdpr_applies", NULL};
    json_t *obj = json_object_get(root, "tcf"), *v;
    if (obj == NULL) return 0;
    if (!json_is_object(obj)) return site_fail(p, "tcf", "must be an object");
    if (site_check_keys(p, obj, "tcf.", keys) != 0) return -1;
    if (p->gvl == NULL)
        return site_fail(p, "tcf",
                         "needs the IAB Global Vendor List: set tcf.gvl_dir in the server "
                         "configuration and run ops/gvl-update.sh");
    site_tcf_t *tcf = &site->tcf;
    tcf->gvl_version = p->gvl->vendor_list_version;
    uint32_t u = 0;
    if ((v = site_required(p, obj, "cmp_id", "tcf.cmp_id")) == NULL ||
        site_uint(p, v, "tcf.cmp_id", 2, SITE_TCF_CMP_MAX,
                  " (the CMP's id registered with IAB Europe)", &u) != 0)
        return -1;
    tcf->cmp_id = (uint16_t)u;
    if ((v = site_required(p, obj, "cmp_version", "tcf.cmp_version")) == NULL ||
        site_uint(p, v, "tcf.cmp_version", 1, SITE_TCF_CMP_MAX, "", &u) != 0)
        return -1;
    tcf->cmp_version = (uint16_t)u;
    if ((v = site_required(p, obj, "publisher_cc", "tcf.publisher_cc")) == NULL) return -1;
    const char *cc = json_is_string(v) ? json_string_value(v) : "";
    if (json_string_length(v) != 2 || !isupper((unsigned char)cc[0]) ||
        !isupper((unsigned char)cc[1]) || cc[0] > 'Z' || cc[1] > 'Z')
        return site_fail(p, "tcf.publisher_cc",
                         "must be the publisher's country: an ISO 3166-1 alpha-2 code, two "
                         "upper-case letters (\"FR\")");
    memcpy(tcf->publisher_cc, cc, 2);
    if ((v = site_required(p, obj, "vendors", "tcf.vendors")) == NULL ||
        site_tcf_ids(p, v, "tcf.vendors", 1, SITE_TCF_VENDORS_MAX, GVL_VENDOR_ID_MAX,
                     site_tcf_vendor_known, &tcf->vendors, &tcf->n_vendors) != 0)
        return -1;
    if ((v = json_object_get(obj, "stacks")) != NULL) {
        if (site_tcf_ids(p, v, "tcf.stacks", 0, SITE_TCF_STACKS_MAX, GVL_STACK_ID_MAX,
                         site_tcf_stack_known, &tcf->stacks, &tcf->n_stacks) != 0)
            return -1;
        for (size_t i = 0; i < json_array_size(v); i++)
            for (size_t j = 0; j < i; j++) {
                const gvl_stack_t *a = gvl_stack_find(
                                      p->gvl, (unsigned)json_integer_value(json_array_get(v, i))),
                                  *b = gvl_stack_find(
                                      p->gvl, (unsigned)json_integer_value(json_array_get(v, j)));
                if (site_tcf_stacks_overlap(p, i, a, j, b, "purpose", a->purposes, b->purposes) !=
                        0 ||
                    site_tcf_stacks_overlap(p, i, a, j, b, "special feature", a->special_features,
                                            b->special_features) != 0)
                    return -1;
            }
    }
    if ((v = json_object_get(obj, "publisher_restrictions")) != NULL) {
        if (site_array(p, v, "tcf.publisher_restrictions", 0, SITE_TCF_RESTRICTIONS_MAX) != 0)
            return -1;
        size_t n = json_array_size(v);
        site_tcf_restriction_t *rs = n > 0 ? site_alloc(p->set, n * sizeof(*rs)) : NULL;
        if (n > 0 && rs == NULL) return site_oom(p);
        tcf->restrictions = rs;
        for (size_t i = 0; i < n; i++) {
            if (site_tcf_restriction(p, json_array_get(v, i), i, tcf, &rs[i]) != 0) return -1;
            tcf->n_restrictions = i + 1;
        }
    }
    if ((v = json_object_get(obj, "publisher_purposes")) != NULL &&
        site_tcf_publisher_purposes(p, v, tcf) != 0)
        return -1;
    if (site_tcf_gdpr_applies(p, obj, tcf) != 0 || site_tcf_rules(p, tcf) != 0) return -1;
    tcf->enabled = 1;
    return 0;
}

static void site_id_from_name(const char *name, char *out, size_t cap)
{
    const char *base = strrchr(name, '/');
    base = base != NULL ? base + 1 : name;
    size_t len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".json") == 0) len -= 5;
    snprintf(out, cap, "%.*s", (int)len, base);
}

/* The site version a proof names (site.h: version, doc_sha256; issue 22,
 * item 5). A published version is stored canonical: its hash is the hash
 * of its bytes. A file (or a draft) is hashed in its canonical form
 * (site_doc.h), so that it names what its import would store. */
static int site_doc_sha256(const site_parse_t *p, const json_t *root, const char *json, size_t len,
                           site_t *site)
{
    unsigned char digest[32];
    site->version = p->version;
    if (p->version > 0) {
        SHA256((const unsigned char *)json, len, digest);
    } else {
        char *canonical = json_dumps(root, SITE_DOC_CANONICAL_FLAGS);
        if (canonical == NULL) return site_oom(p);
        SHA256((const unsigned char *)canonical, strlen(canonical), digest);
        free(canonical);
    }
    sodium_bin2hex(site->doc_sha256, sizeof(site->doc_sha256), digest, sizeof(digest));
    return 0;
}

static int site_parse(const site_parse_t *p, const char *json, size_t len, site_t *site)
{
    static const char *const keys[] = {"id",
                                       "origins",
                                       "languages",
                                       "policy_version",
                                       "choice_lifetime_days",
                                       "log_retention_days",
                                       "stats_retention_days",
                                       "cookie_domain",
                                       "controller",
                                       "api_key_sha256",
                                       "purposes",
                                       "variants",
                                       "embeds",
                                       "reload_on_withdrawal",
                                       "tags",
                                       "google_consent_mode",
                                       "identify",
                                       "tcf",
                                       "page_groups",
                                       NULL};
    memset(site, 0, sizeof(*site));
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return site_fail(p, NULL, "line %d, column %d: invalid JSON: %s", jerr.line, jerr.column,
                         jerr.text);
    int rc = -1;
    json_t *v;
    if (!json_is_object(root)) {
        site_fail(p, NULL, "must be a JSON object");
        goto out;
    }
    if (site_check_keys(p, root, "", keys) != 0) goto out;

    char expected[SITE_PATH_MAX];
    if (p->expected_id != NULL)
        snprintf(expected, sizeof(expected), "%s", p->expected_id);
    else
        site_id_from_name(p->name, expected, sizeof(expected));
    if ((v = site_required(p, root, "id", "id")) == NULL) goto out;
    if (!json_is_string(v) || !site_id_ok(json_string_value(v), json_string_length(v))) {
        site_fail(p, "id", "must match [a-z0-9][a-z0-9_-]{0,63}");
        goto out;
    }
    if (strcmp(json_string_value(v), expected) != 0) {
        if (p->expected_id != NULL)
            site_fail(p, "id", "must be the site's id (\"%s\")", expected);
        else
            site_fail(p, "id", "must be the file name without .json (\"%s\")", expected);
        goto out;
    }
    if ((site->id = site_strndup(p->set, json_string_value(v), json_string_length(v))) == NULL ||
        (site->file = site_strndup(p->set, p->name, strlen(p->name))) == NULL) {
        site_oom(p);
        goto out;
    }

    if (site_parse_origins(p, root, site) != 0 || site_parse_languages(p, root, site) != 0)
        goto out;

    if ((v = site_required(p, root, "policy_version", "policy_version")) == NULL ||
        site_string(p, v, "policy_version", SITE_POLICY_VERSION_MAX, 0, &site->policy_version) != 0)
        goto out;

    site->choice_lifetime_days = SITE_CHOICE_LIFETIME_DEFAULT_DAYS;
    if ((v = json_object_get(root, "choice_lifetime_days")) != NULL &&
        site_uint(p, v, "choice_lifetime_days", 1, SITE_CHOICE_LIFETIME_MAX_DAYS,
                  " (395 days, 13 months, is the CNIL's maximum lifetime for a tracker)",
                  &site->choice_lifetime_days) != 0)
        goto out;
    site->log_retention_days = SITE_LOG_RETENTION_DEFAULT_DAYS;
    if ((v = json_object_get(root, "log_retention_days")) != NULL &&
        site_uint(p, v, "log_retention_days", 1, SITE_LOG_RETENTION_MAX_DAYS, "",
                  &site->log_retention_days) != 0)
        goto out;
    if (site->log_retention_days < site->choice_lifetime_days) {
        site_fail(p, "log_retention_days",
                  "must be at least choice_lifetime_days (%u): the proof of a choice must be kept "
                  "as long as the choice",
                  site->choice_lifetime_days);
        goto out;
    }

    site->stats_retention_days = SITE_STATS_RETENTION_DEFAULT_DAYS;
    if ((v = json_object_get(root, "stats_retention_days")) != NULL &&
        site_uint(p, v, "stats_retention_days", 1, SITE_STATS_RETENTION_MAX_DAYS, "",
                  &site->stats_retention_days) != 0)
        goto out;

    if (site_parse_cookie_domain(p, root, site) != 0 || site_parse_controller(p, root, site) != 0 ||
        site_parse_api_key(p, root, site) != 0)
        goto out;

    json_t *arr = site_required(p, root, "purposes", "purposes");
    if (arr == NULL || site_array(p, arr, "purposes", 1, SITE_MAX_PURPOSES) != 0) goto out;
    site->n_purposes = json_array_size(arr);
    site->purposes = site_alloc(p->set, site->n_purposes * sizeof(*site->purposes));
    if (site->purposes == NULL) {
        site_oom(p);
        goto out;
    }
    for (size_t i = 0; i < site->n_purposes; i++)
        if (site_parse_purpose(p, json_array_get(arr, i), i, site, &site->purposes[i]) != 0)
            goto out;
    if (site_parse_variants(p, root, site) != 0 || site_parse_embeds(p, root, site) != 0 ||
        site_parse_reload_on_withdrawal(p, root, site) != 0 ||
        site_parse_tags(p, root, site) != 0 || site_parse_gcm(p, root, site) != 0 ||
        site_parse_identify(p, root, site) != 0 || site_parse_tcf(p, root, site) != 0 ||
        site_parse_page_groups(p, root, site) != 0)
        goto out;
    SHA256((const unsigned char *)json, len, site->source_sha256);
    if (site_doc_sha256(p, root, json, len, site) != 0) goto out;
    site->arena = p->set->arena;
    p->set->parsed++;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Append a parsed site to the set (not yet sorted). */
static int site_set_add(site_set_t *set, const site_t *site)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        site_t *sites = realloc(set->sites, cap * sizeof(*sites));
        if (sites == NULL) return -1;
        set->sites = sites;
        set->cap = cap;
    }
    set->sites[set->n++] = *site;
    site_arena_retain(site->arena);
    return 0;
}

static int site_cmp(const void *a, const void *b)
{
    return strcmp(((const site_t *)a)->id, ((const site_t *)b)->id);
}

site_set_t *site_set_load_one(const char *name, const char *json, size_t len, char *err,
                              size_t errlen)
{
    return site_set_load_one_gvl(name, json, len, NULL, err, errlen);
}

/* One document into a new set of one site, parsed with p (its set is made
 * here). */
static site_set_t *site_set_load_parsed(site_parse_t *p, const char *json, size_t len)
{
    site_set_t *set = p->set = site_set_new();
    if (set == NULL) {
        site_oom(p);
        return NULL;
    }
    site_t site;
    if (site_parse(p, json, len, &site) != 0) {
        site_set_free(set);
        return NULL;
    }
    if (site_set_add(set, &site) != 0) {
        site_oom(p);
        site_set_free(set);
        return NULL;
    }
    return set;
}

site_set_t *site_set_load_one_gvl(const char *name, const char *json, size_t len, const gvl_t *gvl,
                                  char *err, size_t errlen)
{
    site_parse_t p = {.name = name, .gvl = gvl, .err = err, .errlen = errlen};
    return site_set_load_parsed(&p, json, len);
}

site_set_t *site_set_load_doc(const char *source, const char *id, const char *json, size_t len,
                              const gvl_t *gvl, char *err, size_t errlen, char *field,
                              size_t field_cap)
{
    site_parse_t p = {.name = source,
                      .gvl = gvl,
                      .err = err,
                      .errlen = errlen,
                      .expected_id = id,
                      .field_out = field,
                      .field_cap = field_cap};
    if (field != NULL && field_cap > 0) field[0] = '\0';
    return site_set_load_parsed(&p, json, len);
}

/* ---- the directory ----------------------------------------------------------- */

/* Read a whole (bounded) file into a malloc'd buffer *out. */
static int site_read_file(const site_parse_t *p, const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return site_fail(p, NULL, "cannot read: %s", strerror(errno));
    char *buf = malloc(SITE_FILE_MAX_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, SITE_FILE_MAX_BYTES + 1, f) : 0;
    int read_failed = ferror(f);
    fclose(f);
    int rc = 0;
    if (buf == NULL)
        rc = site_oom(p);
    else if (read_failed)
        rc = site_fail(p, NULL, "cannot read: input/output error");
    else if (n > SITE_FILE_MAX_BYTES)
        rc = site_fail(p, NULL, "larger than %d bytes", SITE_FILE_MAX_BYTES);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int site_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the site files in dir (visible *.json regular files), sorted
 * so that errors are reported in a stable order. */
static char **site_list_dir(const site_parse_t *p, const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        site_fail(p, NULL, "cannot open the sites directory: %s", strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int failed = 0;
    struct dirent *e;
    while (!failed && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0) continue;
        char path[SITE_PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
            stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue; /* a subdirectory, a dangling link, a socket: not a site */
        if (n == SITE_SET_MAX_SITES) {
            site_fail(p, NULL, "more than %d site files", SITE_SET_MAX_SITES);
            failed = 1;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, cap * sizeof(*names));
            if (grown == NULL) {
                site_oom(p);
                failed = 1;
                break;
            }
            names = grown;
        }
        if ((names[n] = strdup(e->d_name)) == NULL) {
            site_oom(p);
            failed = 1;
            break;
        }
        n++;
    }
    closedir(d);
    if (failed) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return NULL;
    }
    if (n > 0) qsort(names, n, sizeof(*names), site_name_cmp);
    *count = n;
    return names != NULL ? names : calloc(1, sizeof(*names));
}

site_set_t *site_set_load(const char *dir, char *err, size_t errlen)
{
    return site_set_load_gvl(dir, NULL, err, errlen);
}

site_set_t *site_set_load_gvl(const char *dir, const gvl_t *gvl, char *err, size_t errlen)
{
    return site_set_load_with(dir, gvl, NULL, 0, NULL, err, errlen);
}

site_set_t *site_set_load_with(const char *dir, const gvl_t *gvl, const site_doc_t *docs,
                               size_t n_docs, size_t *shadowed, char *err, size_t errlen)
{
    return site_set_load_after(dir, gvl, docs, n_docs, NULL, shadowed, err, errlen);
}

/* previous' site of the same document as the one about to be parsed (the
 * same id, source, version and bytes: source_sha256), which the new set can
 * share instead of parsing it again; NULL when there is none. A TCF site is
 * always parsed: it is checked against the newest Global Vendor List, which
 * may have changed under the same document. */
static const site_t *site_same(const site_set_t *previous, const char *id, const char *source,
                               uint64_t version, const char *json, size_t len)
{
    const site_t *old = previous != NULL ? site_find(previous, id, strlen(id)) : NULL;
    if (old == NULL || old->tcf.enabled || old->version != version ||
        strcmp(old->file, source) != 0)
        return NULL;
    unsigned char digest[32];
    SHA256((const unsigned char *)json, len, digest);
    return memcmp(digest, old->source_sha256, sizeof(digest)) == 0 ? old : NULL;
}

/* One document into set: shared with previous when it has it unchanged,
 * else parsed with p. 0, or -1 with p's err. */
static int site_load_into(site_parse_t *p, const site_set_t *previous, const char *id,
                          const char *json, size_t len, site_t *site)
{
    const site_t *same = site_same(previous, id, p->name, p->version, json, len);
    if (same != NULL) {
        *site = *same;
        return 0;
    }
    return site_parse(p, json, len, site);
}

/* A served document of Redis by id, and whether the sites directory has a
 * file of the same id (then shadowed: not read). */
typedef struct site_doc_ref {
    const char *id;
    int has_file;
} site_doc_ref_t;

static int site_doc_ref_cmp(const void *a, const void *b)
{
    return strcmp(((const site_doc_ref_t *)a)->id, ((const site_doc_ref_t *)b)->id);
}

site_set_t *site_set_load_after(const char *dir, const gvl_t *gvl, const site_doc_t *docs,
                                size_t n_docs, const site_set_t *previous, size_t *shadowed,
                                char *err, size_t errlen)
{
    site_parse_t p = {.name = dir, .err = err, .errlen = errlen};
    size_t n = 0;
    char **names = site_list_dir(&p, dir, &n);
    if (names == NULL) return NULL;
    site_set_t *set = site_set_new();
    if (set == NULL) site_oom(&p);
    /* The ids of Redis' served documents, sorted: a file whose site is
     * published in Redis is shadowed (Redis wins, docs/sites.md: editing it
     * changes nothing), so it is not even read; the caller logs *shadowed.
     * A document not served (created and not yet published, or deleted:
     * issue 22, item 2) shadows nothing: the file's site stays served. */
    site_doc_ref_t *served = calloc(n_docs ? n_docs : 1, sizeof(*served));
    size_t n_served = 0;
    if (served == NULL && set != NULL) {
        site_oom(&p);
        site_set_free(set);
        set = NULL;
    }
    for (size_t i = 0; served != NULL && i < n_docs; i++)
        if (!docs[i].not_served) served[n_served++] = (site_doc_ref_t){docs[i].id, 0};
    if (n_served > 1) qsort(served, n_served, sizeof(*served), site_doc_ref_cmp);
    if (shadowed != NULL) *shadowed = 0;
    for (size_t i = 0; i < n && set != NULL; i++) {
        char path[SITE_PATH_MAX], id[SITE_PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        site_id_from_name(names[i], id, sizeof(id));
        site_doc_ref_t key = {id, 0};
        site_doc_ref_t *hit =
            n_served > 0 ? bsearch(&key, served, n_served, sizeof(*served), site_doc_ref_cmp)
                         : NULL;
        if (hit != NULL) {
            hit->has_file = 1;
            if (shadowed != NULL) (*shadowed)++;
            continue;
        }
        site_parse_t fp = {.set = set, .name = path, .gvl = gvl, .err = err, .errlen = errlen};
        size_t len = 0;
        char *json = NULL;
        site_t site;
        int rc = site_read_file(&fp, path, &json, &len);
        if (rc == 0) rc = site_load_into(&fp, previous, id, json, len, &site);
        free(json);
        if (rc == 0) {
            site.from = SITE_FROM_FILE;
            site.served = 1;
        }
        if (rc == 0 && site_set_add(set, &site) != 0) rc = site_oom(&fp);
        if (rc != 0) {
            site_set_free(set);
            set = NULL;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    /* The sites of Redis, in the files' sorted order for lookups below. */
    size_t from_dir = set != NULL ? set->n : 0;
    if (from_dir > 1) qsort(set->sites, from_dir, sizeof(*set->sites), site_cmp);
    for (size_t i = 0; i < n_docs && set != NULL; i++) {
        site_t *file = NULL;
        if (docs[i].not_served) {
            for (size_t lo = 0, hi = from_dir; lo < hi && file == NULL;) {
                size_t mid = lo + (hi - lo) / 2;
                int cmp = strcmp(set->sites[mid].id, docs[i].id);
                if (cmp == 0)
                    file = &set->sites[mid];
                else if (cmp < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
        }
        if (file != NULL) {
            file->from |= SITE_FROM_REDIS; /* known in Redis, not served: the file's site is */
            continue;
        }
        char source[SITE_ID_MAX + 48];
        snprintf(source, sizeof(source), "site %s version %" PRIu64, docs[i].id, docs[i].version);
        site_parse_t dp = {.set = set,
                           .name = source,
                           .gvl = gvl,
                           .err = err,
                           .errlen = errlen,
                           .expected_id = docs[i].id,
                           .version = docs[i].version};
        site_t site;
        if (site_load_into(&dp, previous, docs[i].id, docs[i].json, docs[i].len, &site) != 0) {
            site_set_free(set);
            set = NULL;
            break;
        }
        /* Shared or parsed, where it comes from is this set's. */
        site_doc_ref_t key = {docs[i].id, 0};
        const site_doc_ref_t *hit =
            !docs[i].not_served && n_served > 0
                ? bsearch(&key, served, n_served, sizeof(*served), site_doc_ref_cmp)
                : NULL;
        site.from = SITE_FROM_REDIS | (hit != NULL && hit->has_file ? SITE_FROM_FILE : 0);
        site.served = !docs[i].not_served;
        if (site_set_add(set, &site) != 0) {
            site_oom(&dp);
            site_set_free(set);
            set = NULL;
        }
    }
    free(served);
    if (set != NULL && set->n > 1) qsort(set->sites, set->n, sizeof(*set->sites), site_cmp);
    return set;
}

size_t site_set_parsed(const site_set_t *set)
{
    return set != NULL ? set->parsed : 0;
}

/* ---- lookups (every request) --------------------------------------------------- */

const site_t *site_find(const site_set_t *set, const char *id, size_t len)
{
    if (set == NULL || id == NULL || len == 0 || len > SITE_ID_MAX) return NULL;
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *sid = set->sites[mid].id;
        size_t slen = strlen(sid);
        int cmp = memcmp(sid, id, slen < len ? slen : len);
        if (cmp == 0) cmp = slen < len ? -1 : slen > len ? 1 : 0;
        if (cmp == 0) return &set->sites[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const site_purpose_t *site_purpose_find(const site_t *site, const char *id, size_t len)
{
    if (site == NULL || id == NULL) return NULL;
    for (size_t i = 0; i < site->n_purposes; i++) {
        const char *pid = site->purposes[i].id;
        if (strlen(pid) == len && memcmp(pid, id, len) == 0) return &site->purposes[i];
    }
    return NULL;
}

int site_origin_allowed(const site_t *site, const char *origin, size_t len)
{
    if (site == NULL || origin == NULL) return 0;
    for (size_t i = 0; i < site->n_origins; i++)
        if (strlen(site->origins[i]) == len && memcmp(site->origins[i], origin, len) == 0) return 1;
    return 0;
}

int site_api_key_matches(const site_t *site, const char *key, size_t len)
{
    if (site == NULL || key == NULL || len == 0)
        return 0; /* an empty key never matches, whatever hash was configured */
    unsigned char digest[SHA256_DIGEST_LENGTH];
    if (SHA256((const unsigned char *)key, len, digest) == NULL) return 0;
    return sodium_memcmp(digest, site->api_key_sha256, sizeof(digest)) == 0;
}

const site_text_t *site_purpose_text(const site_t *site, const site_purpose_t *p, const char *lang)
{
    if (site == NULL || p == NULL || p->n_texts == 0) return NULL;
    if (lang != NULL)
        for (size_t i = 0; i < p->n_texts; i++)
            if (strcmp(p->texts[i].lang, lang) == 0) return &p->texts[i];
    return &p->texts[0]; /* texts are in site->languages order: [0] is the default */
}

const char *legal_basis_name(legal_basis_t basis)
{
    switch (basis) {
    case LEGAL_BASIS_CONSENT:
        return "consent";
    case LEGAL_BASIS_LEGITIMATE_INTEREST:
        return "legitimate_interest";
    case LEGAL_BASIS_NECESSARY:
        return "necessary";
    }
    return "unknown";
}

const site_variant_t *site_variant_find(const site_t *site, const char *id, size_t len)
{
    for (size_t i = 0; i < site->n_variants; i++)
        if (strlen(site->variants[i].id) == len && memcmp(site->variants[i].id, id, len) == 0)
            return &site->variants[i];
    return NULL;
}

const site_variant_t *site_variant_assign(const site_t *site, const char *visitor, size_t len)
{
    if (site->n_variants == 0) return NULL;
    uint32_t r = visitor_hash32(visitor, len) % site->variants_weight;
    for (size_t i = 0; i < site->n_variants; i++) {
        if (r < site->variants[i].weight) return &site->variants[i];
        r -= site->variants[i].weight;
    }
    return &site->variants[site->n_variants - 1];
}
