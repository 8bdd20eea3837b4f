/*
 * site.h - the sites consentd serves: purposes, legal bases, texts, origins,
 * lifetimes, policy version, API key hash.
 *
 * Each site is one JSON file `<id>.json` in the sites directory (see
 * ops/sites/demo.json and docs/configuration.md for every field). The whole directory
 * is loaded into an immutable site_set_t. On SIGHUP main.c loads a new set;
 * if it validates, it replaces the old one for new requests, and the old
 * one is freed when the last request that retained it is done.
 *
 * Ownership: site_set_load() returns a set with one reference. Whoever keeps
 * a pointer across an asynchronous step (a Redis reply) takes a reference
 * with site_set_retain() and drops it with site_set_release(). Everything a
 * site_t points to lives as long as its set.
 */
#ifndef CONSENTD_SITE_H
#define CONSENTD_SITE_H

#include <stddef.h>
#include <stdint.h>

#include "tcf.h"

#define SITE_ERR_MAX 512
#define SITE_ID_MAX 64 /* [a-z0-9][a-z0-9_-]{0,63} */
#define SITE_MAX_PURPOSES 32
#define SITE_MAX_LANGUAGES 32 /* the 24 official EU languages, and some regions */
#define SITE_MAX_ORIGINS 32
#define SITE_MAX_RECIPIENTS 32
#define SITE_CHOICE_LIFETIME_DEFAULT_DAYS 182 /* 6 months, CNIL recommended practice */
#define SITE_CHOICE_LIFETIME_MAX_DAYS 395     /* 13 months, CNIL maximum for a tracker */
/* The Google Consent Mode v2 types a purpose may map onto ("consent_mode"). */
#define SITE_CONSENT_MODE_TYPES                                                                    \
    "ad_storage", "analytics_storage", "ad_user_data", "ad_personalization",                       \
        "functionality_storage", "personalization_storage", "security_storage"
#define SITE_CONSENT_MODE_MAX 7
#define SITE_MAX_VARIANTS 8
#define SITE_VARIANT_ID_MAX 32 /* [a-z0-9_-]{1,32} */
#define SITE_VARIANT_WEIGHT_MAX 10000
#define SITE_VARIANT_TEXTS_MAX 32 /* overridden UI strings per language */
/* The non-Google tags whose consent signals the banner sends ("tags", issue 20
 * item 5): Microsoft UET consent mode, Microsoft Clarity's consent API, the
 * Meta pixel's consent call (web/banner/features/tags.js). */
#define SITE_TAG_NAMES "microsoft_uet", "microsoft_clarity", "meta_pixel"
#define SITE_TAG_COUNT 3
/* The site-level Google Consent Mode options ("google_consent_mode", issue 20
 * item 5; not the per-purpose "consent_mode", which maps purposes on types). */
#define SITE_GCM_WAIT_DEFAULT_MS 500 /* how long Google tags wait for the update */
#define SITE_GCM_WAIT_MAX_MS 10000
#define SITE_GCM_ROWS_MAX 16    /* region rows */
#define SITE_GCM_REGIONS_MAX 64 /* codes per row */
#define SITE_STATS_RETENTION_DEFAULT_DAYS 400
#define SITE_STATS_RETENTION_MAX_DAYS 3650
#define SITE_MAX_EMBEDS 32 /* embed providers named in "embeds" */
/* Page groups (issue 21, item 4): URL path prefixes named for the stats'
 * page segment; every other page, and any name a banner sends that is not
 * a declared group, is counted as "other". The cap bounds the counters'
 * cardinality. */
#define SITE_MAX_PAGE_GROUPS 8
#define SITE_MAX_PAGE_PREFIXES 16 /* per group */
#define SITE_PAGE_PREFIX_MAX 128  /* bytes of a prefix */
/* Clean-up on refusal and withdrawal (issue 20, item 1): what a purpose's
 * trackers leave on the device, which the banner deletes when it is refused. */
#define SITE_MAX_COOKIES 64      /* declared cookies per purpose */
#define SITE_MAX_STORAGE_KEYS 64 /* declared storage keys per purpose */
#define SITE_COOKIE_NAME_MAX 128 /* a cookie name or storage key, '*' included */

typedef enum {
    LEGAL_BASIS_CONSENT = 0,         /* off until the visitor says yes */
    LEGAL_BASIS_LEGITIMATE_INTEREST, /* on, the visitor can object */
    LEGAL_BASIS_NECESSARY            /* always on, shown, not refusable */
} legal_basis_t;

typedef struct site_text {
    const char *lang;        /* "fr", "en", ... one of site->languages */
    const char *name;        /* short title */
    const char *description; /* what it is for (finalité) */
} site_text_t;

/* A cookie a purpose's trackers set (site file: purposes[].cookies[]). */
typedef struct site_cookie {
    const char *name;   /* exact, or with '*' standing for any run of characters */
    const char *domain; /* the domain it lives on (lower case, no leading dot), or NULL:
                           the page's host and each of its parents */
} site_cookie_t;

typedef struct site_purpose {
    const char *id; /* [a-z0-9_-]{1,64} */
    legal_basis_t legal_basis;
    uint32_t retention_days; /* how long the data this purpose collects is kept */
    const char **recipients; /* named recipients (destinataires) */
    size_t n_recipients;
    site_text_t *texts; /* one per site language, in site->languages order */
    size_t n_texts;
    const char **consent_mode; /* Google Consent Mode v2 types this purpose grants (one of
                                  SITE_CONSENT_MODE_TYPES); the banner maps decisions on them */
    size_t n_consent_mode;
    int gpc;                /* 1: advertising, sale or sharing of data, which the Global
                               Privacy Control signal objects to */
    int trackers;           /* 1 (the default): reads or writes on the visitor's device
                               (cookies, local or session storage, fingerprinting,
                               pixels); never with legitimate interest (issue 19; the
                               purpose's cookie lists of issue 20 imply it) */
    site_cookie_t *cookies; /* issue 20, item 1: what its trackers set, deleted
                                by the banner when it is refused; none: NULL, 0 */
    size_t n_cookies;
    const char **storage; /* localStorage and sessionStorage keys, '*' wildcards */
    size_t n_storage;
} site_purpose_t;

/* The banner's own UI strings a variant overrides in one language (keys of
 * web/banner/texts.json: "title", "intro", "accept", ...; banner.c checks
 * them when it builds the banner). */
typedef struct site_variant_text {
    const char *lang;
    size_t n;
    const char **keys;
    const char **values;
} site_variant_text_t;

/* A banner variant (A/B test): texts and layout, and a weight. A visitor is
 * assigned one deterministically from the visitor id (site_variant_assign). */
typedef struct site_variant {
    const char *id;             /* [a-z0-9_-]{1,32} */
    uint32_t weight;            /* 1..SITE_VARIANT_WEIGHT_MAX */
    const char *layout;         /* "bar" (bottom of the page) or "box" (centred) */
    site_variant_text_t *texts; /* one per language that overrides something */
    size_t n_texts;
} site_variant_t;

/* A page group: its id ([a-z0-9_-]{1,32}, never "other") and the URL path
 * prefixes ("/blog/") whose pages belong to it. */
typedef struct site_page_group {
    const char *id;
    const char **prefixes;
    size_t n_prefixes;
} site_page_group_t;

/* A provider of embedded content (issue 20, item 2): a held iframe whose
 * data-src host is `host` or one of its subdomains gets a click-to-load
 * placeholder that names `provider`. */
typedef struct site_embed {
    const char *host;     /* a lower-case DNS name: "www.youtube-nocookie.com" */
    const char *provider; /* "YouTube" */
} site_embed_t;

/* A tag of SITE_TAG_NAMES the site uses, and the purposes its consent needs
 * (all of them granted: the tag is told "granted"; else "denied"). */
typedef struct site_tag {
    const char *name;      /* one of SITE_TAG_NAMES */
    const char **purposes; /* ids of the site's purposes, at least one, no duplicate */
    size_t n_purposes;
} site_tag_t;

/* A row of Consent Mode defaults for some regions ("US", "US-CA": ISO 3166-1
 * alpha-2, optionally "-" and an ISO 3166-2 subdivision). */
typedef struct site_gcm_row {
    const char **regions;
    size_t n_regions;
    const char *granted[SITE_CONSENT_MODE_MAX]; /* types granted there before a choice; the
                                                   others denied */
    size_t n_granted;
} site_gcm_row_t;

/* "google_consent_mode": the Consent Mode default the banner and
 * consentd-defaults.js set before any Google tag reads it: every type denied
 * everywhere, except what a region row grants; then the two settings. */
typedef struct site_gcm {
    uint32_t wait_for_update_ms; /* default SITE_GCM_WAIT_DEFAULT_MS */
    int ads_data_redaction;      /* 1: gtag('set', 'ads_data_redaction', true) */
    int url_passthrough;         /* 1: gtag('set', 'url_passthrough', true) */
    site_gcm_row_t *rows;        /* none: NULL, 0 */
    size_t n_rows;
} site_gcm_t;

/* "identify" (issue 20, item 7): cross-device consent for logged-in
 * visitors. The site's server signs a compact JWS (EdDSA) for its user with
 * its own Ed25519 key; consentd holds only the public key (identify.h). */
#define SITE_IDENTIFY_MAX_AGE_DEFAULT 86400    /* a token's longest life (exp - iat), s */
#define SITE_IDENTIFY_MAX_AGE_MAX (30 * 86400) /* bound on max_age_seconds */
#define SITE_IDENTIFY_KEY_BYTES 32             /* Ed25519 public key */
typedef struct site_identify {
    int enabled; /* 0: the site file declares no "identify" (the route answers 404) */
    uint8_t public_key[SITE_IDENTIFY_KEY_BYTES];
    uint32_t max_age_seconds; /* 60..SITE_IDENTIFY_MAX_AGE_MAX */
} site_identify_t;

/* "tcf" (issue 24, item 2): the site is an IAB TCF publisher. Checked, at
 * load, against the newest Global Vendor List (gvl.h); ids are plain sorted
 * arrays, as the TC string encoder's rules take them (tcf.h). */
#define SITE_TCF_VENDORS_MAX 2000
#define SITE_TCF_RESTRICTIONS_MAX 64
#define SITE_TCF_STACKS_MAX 32
#define SITE_TCF_CMP_MAX 4095 /* CMP id and version: 12 bits in a TC string */
typedef enum {
    SITE_TCF_NOT_ALLOWED = 0,     /* the publisher forbids the purpose to these vendors */
    SITE_TCF_REQUIRE_CONSENT = 1, /* a flexible vendor must ask consent */
    SITE_TCF_REQUIRE_LI = 2       /* a flexible vendor must rely on legitimate interest */
} site_tcf_restriction_type_t;

typedef struct site_tcf_restriction {
    uint16_t purpose; /* a GVL purpose id */
    site_tcf_restriction_type_t type;
    const uint16_t *vendors; /* sorted, distinct, each one of the site's vendors */
    size_t n_vendors;
} site_tcf_restriction_t;

typedef struct site_tcf {
    int enabled;             /* 0: no "tcf" block (every other field zero) */
    uint16_t cmp_id;         /* the CMP's IAB-registered id, 2..4095 (a TC string's range) */
    uint16_t cmp_version;    /* 1..4095 */
    char publisher_cc[3];    /* ISO 3166-1 alpha-2, upper case: "FR" */
    uint32_t gvl_version;    /* the vendorListVersion the block was checked against */
    const uint16_t *vendors; /* GVL vendor ids, sorted, distinct, none deleted */
    size_t n_vendors;
    const site_tcf_restriction_t *restrictions; /* in declared order */
    size_t n_restrictions;
    const uint16_t *stacks; /* GVL stack ids shown in the first layer, sorted */
    size_t n_stacks;
    /* Publisher purposes (the publisher TC segment): GVL purpose ids the
     * publisher itself uses, on consent and on legitimate interest. */
    const uint16_t *publisher_consent;
    size_t n_publisher_consent;
    const uint16_t *publisher_li;
    size_t n_publisher_li;
    /* What the consent POST holds a visitor's TCF choice to (issue 24, item
     * 4), filled at load from the fields above and the GVL version checked
     * against; immutable with the set (its arrays live in its arena). Fields
     * the site file does not carry (docs/tcf.md, "The site's rules"):
     * consent_screen 1 (consentd's TCF banner is one UI), purpose one
     * treatment and non-standard texts off, no custom publisher purposes;
     * the purposes (and special features) offered are those the site's
     * vendors declare, on the basis they declare or, when flexible, on
     * either; policy_version the GVL's tcfPolicyVersion. */
    tcf_site_rules_t rules;
    /* The longest `tcf` member of this site's consent POST
     * (tcf_choice_json_max of rules), computed at load: the POST's body
     * limit grows by it (src/api/consent.c, consent_max_body). */
    size_t choice_json_max;
    /* "gdpr_applies" (issue 24, item 5; true by default): what the CMP API
     * answers as gdprApplies, set by the site file (geo-targeting is a later
     * issue). False: no TCF dialog, no TCF choice and no TC string; __tcfapi
     * answers gdprApplies false (docs/tcf.md, "When GDPR does not apply"). */
    int gdpr_applies;
} site_tcf_t;

typedef struct site {
    const char *id;
    const char *file;     /* the file it was loaded from, for messages */
    const char **origins; /* "https://www.example.com" (scheme://host[:port]) */
    size_t n_origins;
    const char **languages; /* first one is the default */
    size_t n_languages;
    const char *policy_version;     /* opaque, changes when the policy changes */
    uint32_t choice_lifetime_days;  /* 1..SITE_CHOICE_LIFETIME_MAX_DAYS, default 182 */
    uint32_t log_retention_days;    /* consent log and history kept; default 1825 (5 years) */
    const char *cookie_domain;      /* NULL: the page's host */
    const char *controller_name;    /* the data controller */
    const char *contact;            /* DPO or service to contact (email or URL) */
    const char *privacy_policy_url; /* may be NULL */
    uint8_t api_key_sha256[32];     /* SHA-256 of the API key; the key itself is never stored */
    uint32_t stats_retention_days;  /* acceptance counters kept; default 400 */
    site_purpose_t *purposes;
    size_t n_purposes;
    site_variant_t *variants; /* banner variants, in declared order; none: NULL, 0 */
    size_t n_variants;
    uint32_t variants_weight; /* sum of the weights */
    int has_embeds;           /* "embeds" declared: the banner puts placeholders on held iframes */
    site_embed_t *embeds;     /* the providers it names, in declared order (may be none) */
    size_t n_embeds;
    site_page_group_t *page_groups; /* "page_groups", in declared order; none: NULL, 0 */
    size_t n_page_groups;
    int reload_on_withdrawal; /* 1 (the default): the banner reloads the page when a purpose
                                 whose held scripts ran in it is withdrawn (issue 20, item 1) */
    site_gcm_t gcm;           /* "google_consent_mode", defaults filled in when absent */
    site_tag_t *tags;         /* "tags", in SITE_TAG_NAMES order; none: NULL, 0 */
    size_t n_tags;
    site_identify_t identify; /* "identify": logged-in visitors (issue 20, item 7) */
    site_tcf_t tcf;           /* "tcf": IAB TCF (issue 24, item 2) */
    /* SHA-256 of the document's bytes as parsed (issue 22, item 1): two sites
     * with the same hash have the same banner, which banner_build reuses
     * instead of building it again when only another site changed. */
    uint8_t source_sha256[32];
    /* The site version that produces every proof of this site (issue 22,
     * item 5: the change log is evidence). version: the published version
     * in Redis (GET /v1/sites/{site}/versions/{n}); 0 for a site served
     * from a file, which has none. doc_sha256: SHA-256 (64 hex) of the
     * canonical document (site_doc.h: keys sorted, no white space): for a
     * Redis site, of the version's stored bytes; for a file, of the file
     * canonicalised, which is also what `consentd site import` would store,
     * so a proof given on a file names the version its import makes. */
    uint64_t version;
    char doc_sha256[65];
    /* Where it comes from (issue 22, item 2): SITE_FROM_FILE (the sites
     * directory), SITE_FROM_REDIS (the registry), or both. served: 0 for a
     * site of the registry that is not published (created and not yet
     * published, or deleted): the routes of its configuration, keys and
     * evidence answer for it, those a visitor's browser calls (banner.js,
     * consents, events) 404 site_not_found (router.c). */
    unsigned from;
    int served;
    /* Where what this site points to lives (site.c): shared by every set
     * that holds this document unchanged (site_set_load_after). */
    struct site_arena *arena;
} site_t;
#define SITE_FROM_FILE 1u
#define SITE_FROM_REDIS 2u

typedef struct site_set site_set_t;
typedef struct site_arena site_arena_t;

/* Load and validate every *.json file in dir. Returns a set holding one
 * reference, or NULL with a message naming the file, the field and the
 * reason in err (e.g. "sites/demo.json: purposes[2].legal_basis: must be
 * one of consent, legitimate_interest, necessary"). An empty directory is
 * valid (a set with no sites). Blocking file I/O: never call it on an event
 * loop thread. */
site_set_t *site_set_load(const char *dir, char *err, size_t errlen);
/* Validate and load a single site document (used by site_set_load and by
 * tests/fuzzers); `name` is used in error messages. NULL on error, as above. */
site_set_t *site_set_load_one(const char *name, const char *json, size_t len, char *err,
                              size_t errlen);

/* The same, checking each site's "tcf" block against gvl (the newest
 * Global Vendor List, gvl.h; not retained: sites copy what they keep).
 * gvl NULL: a site with a "tcf" block fails to load (no tcf.gvl_dir). */
struct gvl;
site_set_t *site_set_load_gvl(const char *dir, const struct gvl *gvl, char *err, size_t errlen);
site_set_t *site_set_load_one_gvl(const char *name, const char *json, size_t len,
                                  const struct gvl *gvl, char *err, size_t errlen);
/* The same for a document stored in Redis (issue 22, item 1): source names
 * it in messages ("site demo draft 7"), id is the id it must declare. field
 * (may be NULL): the failing field's path ("purposes[0].legal_basis", ""
 * when the error is the document's), so that an API answers {field, reason};
 * the reason is err after "<source>: " and "<field>: ". */
site_set_t *site_set_load_doc(const char *source, const char *id, const char *json, size_t len,
                              const struct gvl *gvl, char *err, size_t errlen, char *field,
                              size_t field_cap);
/* A site of Redis' registry: its id, version and document; not_served 0
 * for the published version (so that {id, version, json, len} is one), 1
 * for a site known but not served (the document of a site created and not
 * yet published, or of a deleted one). */
typedef struct site_doc {
    const char *id;
    uint64_t version;
    const char *json;
    size_t len;
    int not_served;
} site_doc_t;
/* site_set_load_gvl(dir, gvl), then the documents (each named "site <id> version
 * <n>" in messages). A served document whose id has a file in dir replaces
 * it (the file is not read): Redis wins; *shadowed (may be NULL) counts
 * them. One not served never replaces a file (the file's site stays served),
 * and is added with served 0 when there is none. */
site_set_t *site_set_load_with(const char *dir, const struct gvl *gvl, const site_doc_t *docs,
                               size_t n_docs, size_t *shadowed, char *err, size_t errlen);
/* The same after previous (the set in service, may be NULL: issue 22, item
 * 4, a publish costs the work of one site): a file or a document whose
 * bytes, source and version are those previous parsed is not parsed again,
 * its site_t is copied and shares previous' memory (site.c: arenas, one
 * reference per site; previous may be released at any time after). A TCF
 * site is always parsed (the Global Vendor List may have changed).
 * site_set_parsed() tells how many were parsed. Ownership as site_set_load. */
site_set_t *site_set_load_after(const char *dir, const struct gvl *gvl, const site_doc_t *docs,
                                size_t n_docs, const site_set_t *previous, size_t *shadowed,
                                char *err, size_t errlen);
/* How many sites of set its load parsed (the others were shared). */
size_t site_set_parsed(const site_set_t *set);

site_set_t *site_set_retain(site_set_t *set);
void site_set_release(site_set_t *set);
size_t site_set_count(const site_set_t *set);
const site_t *site_set_at(const site_set_t *set, size_t i);

/* A TCF site whose visitors GDPR applies to (tcf block and tcf.gdpr_applies):
 * its consent POST takes the TCF choice and writes a TC string. */
int site_tcf_applies(const site_t *site);

/* NULL when there is no such site. */
const site_t *site_find(const site_set_t *set, const char *id, size_t len);
const site_purpose_t *site_purpose_find(const site_t *site, const char *id, size_t len);
/* 1 when s (len bytes) is a valid site id: 1 to SITE_ID_MAX of [a-z0-9_-],
 * starting with a letter or a digit (a site file's name without .json). */
int site_id_ok(const char *s, size_t len);
/* 1 when origin (as sent in the Origin header) is one of the site's origins. */
int site_origin_allowed(const site_t *site, const char *origin, size_t len);
/* 1 when SHA-256(key) equals the site's key hash, compared in constant time. */
int site_api_key_matches(const site_t *site, const char *key, size_t len);
/* The text of purpose p in lang, falling back to the site's first language. */
const site_text_t *site_purpose_text(const site_t *site, const site_purpose_t *p, const char *lang);
const char *legal_basis_name(legal_basis_t basis);
/* NULL when the site declares no such variant. */
const site_variant_t *site_variant_find(const site_t *site, const char *id, size_t len);
/* The index of the page group named id (len bytes) in site->page_groups;
 * site->n_page_groups ("other") for any other name; -1 when the site
 * declares no page groups. */
int site_page_group_index(const site_t *site, const char *id, size_t len);
/* The variant a visitor sees: visitor_hash32 (visitor.h) modulo the sum of
 * the weights, walked over the variants in declared order (the banner does
 * the same in the browser). NULL when the site has no variants. */
const site_variant_t *site_variant_assign(const site_t *site, const char *visitor, size_t len);

#endif
