/*
 * gvl.h - the IAB TCF Global Vendor List (GVL, format v3) and its
 * translations, parsed; and the store of every version on disk (issue 24,
 * items 1 and 2).
 *
 * The GVL is the IAB Europe's list of registered vendors with what each
 * declares: purposes on consent, on legitimate interest, flexible ones,
 * special purposes, features, special features, data categories, retention,
 * URLs and device-storage disclosures. A TCF site (site.h, "tcf") names its
 * vendors by GVL id and is checked against the newest list; a TC string
 * names the version it was made with (vendorListVersion), so every version
 * consentd has used stays on disk and reachable by number (gvl_store_*).
 *
 * Parsing (gvl_parse, gvl_translation_parse) is pure: bytes in, a gvl_t or
 * a message "<name>: <JSON path>: <reason>" out (e.g. "vendor-list-v17.json:
 * vendors.\"11\".purposes[2]: must be the id of one of the GVL's purposes").
 * Fields the format does not name are ignored (the IAB adds fields between
 * policy versions; an update must not stop consentd); the fields it names
 * are checked against the format and the constraints of the specification
 * (ids in range, a purpose never both on consent and on legitimate interest,
 * a flexible purpose declared in one of them, ...). One exception: a
 * vendor's dataDeclaration is informational, and a real list (v17) names a
 * data category that does not exist; unknown category ids are left out.
 *
 * Threads and ownership: a gvl_t, a gvl_translation_t and a gvl_store_t are
 * immutable once returned; every string and array they point to lives in
 * their own memory until gvl_free / gvl_translation_free / gvl_store_free.
 * They are built off the event loop (start-up and SIGHUP, in main.c) and
 * then shared read-only by every worker through the snapshot (snapshot.h),
 * which frees the store when its last reference goes. Nothing here locks.
 */
#ifndef CONSENTD_GVL_H
#define CONSENTD_GVL_H

#include <stddef.h>
#include <stdint.h>

#define GVL_ERR_MAX 512
#define GVL_FILE_MAX_BYTES (16 * 1024 * 1024) /* the real list is about 1.5 MB */
#define GVL_SPEC_VERSION 3                    /* gvlSpecificationVersion read */
/* Id ranges the specification sets (purposes up to 24, features up to 64,
 * special features up to 8) or the TC string can carry (vendor ids on 16
 * bits); stacks, special purposes and data categories bounded for memory. */
#define GVL_PURPOSE_ID_MAX 24
#define GVL_SPECIAL_PURPOSE_ID_MAX 64
#define GVL_FEATURE_ID_MAX 64
#define GVL_SPECIAL_FEATURE_ID_MAX 8
#define GVL_STACK_ID_MAX 1024
#define GVL_DATA_CATEGORY_ID_MAX 64
#define GVL_VENDOR_ID_MAX 65535
#define GVL_VENDORS_MAX 10000
#define GVL_URLS_MAX 64 /* urls[] per vendor (the specification says up to 40 languages) */
#define GVL_ILLUSTRATIONS_MAX 32
#define GVL_STRING_MAX 8192 /* a name, description, illustration or URL */
#define GVL_LANG_MAX 16
#define GVL_VERSIONS_MAX 100000 /* archived versions a store indexes */

/* A sorted list of distinct ids (purposes, features, vendors, ...). */
typedef struct gvl_ids {
    const uint16_t *ids;
    size_t n;
} gvl_ids_t;

/* 1 when id is in the list (binary search). */
int gvl_ids_has(gvl_ids_t list, unsigned id);

/* A purpose, special purpose, feature, special feature or data category. */
typedef struct gvl_entry {
    uint16_t id;
    const char *name;
    const char *description;
    const char **illustrations; /* none: NULL, 0 (data categories have none) */
    size_t n_illustrations;
    int consentable;     /* purposes: 0 when the GVL says "consentable": false; else 1 */
    int right_to_object; /* purposes: 0 when "rightToObject": false; else 1 */
} gvl_entry_t;

typedef struct gvl_stack {
    uint16_t id;
    const char *name;
    const char *description;
    gvl_ids_t purposes;
    gvl_ids_t special_features;
} gvl_stack_t;

/* A retention period in days for one purpose or special purpose. */
typedef struct gvl_retention {
    uint16_t id;
    uint32_t days;
} gvl_retention_t;

typedef struct gvl_vendor_url {
    const char *lang;          /* "en", "fr", ... as the GVL writes it */
    const char *privacy;       /* the vendor's privacy policy */
    const char *leg_int_claim; /* its legitimate-interest claim, or NULL */
} gvl_vendor_url_t;

typedef struct gvl_vendor {
    uint16_t id;
    const char *name;
    gvl_ids_t purposes;          /* on consent */
    gvl_ids_t leg_int_purposes;  /* on legitimate interest */
    gvl_ids_t flexible_purposes; /* each also in purposes or leg_int_purposes */
    gvl_ids_t special_purposes;
    gvl_ids_t features;
    gvl_ids_t special_features;
    gvl_ids_t data_declaration; /* data categories */
    int64_t std_retention;      /* dataRetention.stdRetention in days, -1 when absent */
    const gvl_retention_t *purpose_retention; /* dataRetention.purposes, by id */
    size_t n_purpose_retention;
    const gvl_retention_t *special_purpose_retention; /* dataRetention.specialPurposes */
    size_t n_special_purpose_retention;
    const gvl_vendor_url_t *urls;
    size_t n_urls;
    const char *device_storage_disclosure_url; /* NULL when absent */
    int uses_cookies;                          /* 0/1; -1 when absent */
    int cookie_refresh;                        /* 0/1; -1 when absent */
    int uses_non_cookie_access;                /* 0/1; -1 when absent */
    int has_cookie_max_age;                    /* 0: absent or null (usesCookies false) */
    int64_t cookie_max_age_seconds;            /* <= 0: session storage */
    uint32_t overflow_http_get_limit;          /* 0: none declared; else 32 or 128 */
    const char *deleted_date; /* NULL, or the date after which it must not be shown */
} gvl_vendor_t;

typedef struct gvl {
    uint32_t spec_version;        /* gvlSpecificationVersion: GVL_SPEC_VERSION */
    uint32_t vendor_list_version; /* vendorListVersion, >= 1 */
    uint32_t tcf_policy_version;  /* tcfPolicyVersion */
    const char *last_updated;     /* "2023-09-07T16:07:28Z" */
    /* Each list sorted by id, ids distinct. */
    const gvl_entry_t *purposes;
    size_t n_purposes;
    const gvl_entry_t *special_purposes;
    size_t n_special_purposes;
    const gvl_entry_t *features;
    size_t n_features;
    const gvl_entry_t *special_features;
    size_t n_special_features;
    const gvl_stack_t *stacks;
    size_t n_stacks;
    const gvl_entry_t *data_categories;
    size_t n_data_categories;
    const gvl_vendor_t *vendors;
    size_t n_vendors;
    void *arena_; /* private: the memory all of it lives in */
} gvl_t;

/* Parse a vendor list. name names the document in messages. NULL on error,
 * with "<name>: <JSON path>: <reason>" in err. */
gvl_t *gvl_parse(const char *name, const char *json, size_t len, char *err, size_t errlen);
void gvl_free(gvl_t *gvl);

/* Lookups by id; NULL when the list has none. */
const gvl_vendor_t *gvl_vendor_find(const gvl_t *gvl, unsigned id);
const gvl_entry_t *gvl_purpose_find(const gvl_t *gvl, unsigned id);
const gvl_entry_t *gvl_special_feature_find(const gvl_t *gvl, unsigned id);
const gvl_stack_t *gvl_stack_find(const gvl_t *gvl, unsigned id);

/* A translation (purposes-<lang>.json): the names, descriptions and
 * illustrations of the purposes, special purposes, features, special
 * features, stacks and data categories in one language; vendor declarations
 * are never translated. Entries the file lacks are NULL, 0. */
typedef struct gvl_translation {
    const char *lang;             /* from the file name, lower case */
    uint32_t vendor_list_version; /* as the file says, 0 when absent */
    const gvl_entry_t *purposes;
    size_t n_purposes;
    const gvl_entry_t *special_purposes;
    size_t n_special_purposes;
    const gvl_entry_t *features;
    size_t n_features;
    const gvl_entry_t *special_features;
    size_t n_special_features;
    const gvl_stack_t *stacks; /* name and description; ids lists empty */
    size_t n_stacks;
    const gvl_entry_t *data_categories;
    size_t n_data_categories;
    void *arena_;
} gvl_translation_t;

/* lang: ISO 639-1, two lower-case letters (optionally "-" and a region). */
gvl_translation_t *gvl_translation_parse(const char *name, const char *lang, const char *json,
                                         size_t len, char *err, size_t errlen);
void gvl_translation_free(gvl_translation_t *t);

/*
 * The store: a directory holding every version consentd has been given
 * (ops/gvl-update.sh writes it; docs/tcf.md):
 *
 *   vendor-list-v<N>.json         the list of version N (N = its vendorListVersion)
 *   purposes-<lang>-v<N>.json     its translation into <lang>, downloaded with it
 *
 * gvl_store_load parses the newest list and its translations (the ones a
 * site is checked against and the banner shows) and indexes every other
 * version by number without parsing it (a real list is ~1.5 MB; a store
 * keeps years of weekly versions). An older version is read on demand with
 * gvl_store_load_version, off the event loop. Any file named like a list
 * whose number is not its vendorListVersion, a newest list or one of its
 * translations that does not parse, fails the load with the file's name.
 */
typedef struct gvl_store gvl_store_t;

/* Blocking file I/O: never on an event loop thread. NULL with a message. */
gvl_store_t *gvl_store_load(const char *dir, char *err, size_t errlen);
void gvl_store_free(gvl_store_t *store);
const char *gvl_store_dir(const gvl_store_t *store);
/* The newest list (never NULL in a loaded store). */
const gvl_t *gvl_store_latest(const gvl_store_t *store);
/* The newest list's translation into lang, or NULL. */
const gvl_translation_t *gvl_store_translation(const gvl_store_t *store, const char *lang);
size_t gvl_store_translation_count(const gvl_store_t *store);
const gvl_translation_t *gvl_store_translation_at(const gvl_store_t *store, size_t i);
/* Versions on disk, ascending; i < gvl_store_version_count. */
size_t gvl_store_version_count(const gvl_store_t *store);
uint32_t gvl_store_version_at(const gvl_store_t *store, size_t i);
/* 1 when version N is archived in the store. */
int gvl_store_has_version(const gvl_store_t *store, uint32_t version);
/* Parse archived version N (the caller frees it), or NULL with a message
 * (not archived, unreadable, or its vendorListVersion is not N). Blocking. */
gvl_t *gvl_store_load_version(const gvl_store_t *store, uint32_t version, char *err, size_t errlen);

#endif
