/*
 * tcf.h - IAB TCF v2.3 TC strings, encoded by consentd (issue 24, item 4):
 * the visitor's TCF choice as the consent POST carries it, held to what the
 * site allows, and the TC string that records it.
 *
 * Three pure functions, no I/O, no allocation, safe from any thread:
 *
 *   tcf_choice_parse   the `tcf` member of a consent POST body (a JSON
 *                      object, docs/tcf.md) into a tcf_choice_t;
 *   tcf_choice_apply   that choice against the site's rules
 *                      (tcf_site_rules_t, filled from the site file):
 *                      refuses what the site does not offer, clamps what
 *                      the vendors' declarations make meaningless, and
 *                      fills a tcf_string_t;
 *   tcf_encode         a tcf_string_t into the TC string: the core segment,
 *                      the disclosed-vendors segment (mandatory since v2.3),
 *                      and the publisher TC segment when the site uses it,
 *                      each base64url, joined by '.'.
 *
 * The format is IAB Tech Lab's "Consent string and vendor list formats v2"
 * (v2.3, April 2025): big-endian bit fields, left to right; each segment
 * padded with zero bits to a multiple of 24 bits (whole base64 quanta, as
 * the IAB's reference encoder @iabtechlabtcf/core does), base64url with no
 * '=' padding. Vendor sets are written as a bit field or as ranges,
 * whichever is shorter (the bit field when equal).
 *
 * What v2.3 fixes, and this encoder enforces (an input breaking it is
 * refused with TCF_ERR_INPUT and the field named):
 *   - Version 2; IsServiceSpecific 1 (a global string is invalid).
 *   - Created and LastUpdated carry the same value, the day of the last
 *     update at 00:00 UTC, in deciseconds (tcf_day_deciseconds).
 *   - TcfPolicyVersion is the GVL's tcfPolicyVersion: 5 for the TCF v2.2 /
 *     v2.3 policies of the current GVL v3 (TCF_POLICY_VERSION); below 4 is
 *     invalid since 30 September 2023, so 4..63 are taken.
 *   - PurposesLITransparency has no bit for purposes 1, 3, 4, 5, 6.
 *   - Every vendor with consent or legitimate interest was disclosed.
 *
 * Limits (the bit widths of the format): CMP ID 2..4095, CMP version and
 * vendor list version 0..4095 (list version >= 1), consent screen 0..63,
 * vendor IDs 1..TCF_VENDOR_ID_MAX, purposes 1..TCF_PURPOSES_MAX, special
 * features 1..TCF_SPECIAL_FEATURES_MAX, custom purposes 0..63, at most
 * TCF_RESTRICTIONS_MAX publisher restrictions of at most 4095 ranges each.
 * The output is exactly tcf_encoded_max(s) bytes, NUL included.
 */
#ifndef CONSENTD_TCF_H
#define CONSENTD_TCF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "json_scan.h"

#define TCF_POLICY_VERSION 5        /* the GVL v3's tcfPolicyVersion under TCF v2.2/v2.3 */
#define TCF_POLICY_VERSION_MIN 4    /* older strings are invalid since 2023-09-30 */
#define TCF_VENDOR_ID_MAX 65535     /* 16-bit vendor IDs */
#define TCF_PURPOSES_MAX 24         /* PurposesConsent: 24 bits */
#define TCF_SPECIAL_FEATURES_MAX 12 /* SpecialFeatureOptIns: 12 bits */
#define TCF_CUSTOM_PURPOSES_MAX 63  /* NumCustomPurposes: 6 bits */
#define TCF_RANGES_MAX 4095         /* NumEntries: 12 bits */
#define TCF_RESTRICTION_TYPES 3     /* 0 not allowed, 1 require consent, 2 require LI */
#define TCF_RESTRICTIONS_MAX (TCF_PURPOSES_MAX * TCF_RESTRICTION_TYPES)
#define TCF_SITE_VENDORS_MAX 2048 /* vendors one site works with (the GVL has ~1,100) */
#define TCF_ERR_MAX 160           /* bytes of an error message, NUL included */
/* Purposes for which TCF v2.2+ forbids legitimate interest. */
#define TCF_PURPOSES_NO_LI (TCF_BIT(1) | TCF_BIT(3) | TCF_BIT(4) | TCF_BIT(5) | TCF_BIT(6))

/* The mask bit of purpose / special feature / custom purpose `id` (1-based). */
#define TCF_BIT(id) (1u << ((id)-1))
#define TCF_BIT64(id) (UINT64_C(1) << ((id)-1))

typedef enum {
    TCF_OK = 0,
    TCF_ERR_INPUT,   /* the choice or the TC string input breaks a rule; detail names the field */
    TCF_ERR_REFUSED, /* the choice asks for what the site does not offer */
    TCF_ERR_SPACE,   /* the output buffer is smaller than tcf_encoded_max */
} tcf_status_t;

/* A set of vendor IDs: ascending, no duplicates, each 1..TCF_VENDOR_ID_MAX.
 * The IDs belong to the caller and must outlive the tcf_string_t. */
typedef struct tcf_ids {
    const uint16_t *ids;
    size_t count;
} tcf_ids_t;

typedef enum {
    TCF_RESTRICT_NOT_ALLOWED = 0,
    TCF_RESTRICT_REQUIRE_CONSENT = 1,
    TCF_RESTRICT_REQUIRE_LI = 2,
} tcf_restriction_type_t;

/* A publisher restriction: the purpose, its type, and the vendors it binds
 * (written as ranges of consecutive IDs). One (purpose, type) once; a vendor
 * under at most one type per purpose. */
typedef struct tcf_restriction {
    unsigned purpose; /* 1..TCF_PURPOSES_MAX */
    tcf_restriction_type_t type;
    tcf_ids_t vendors; /* at least one */
} tcf_restriction_t;

/* One TC string. Masks: bit TCF_BIT(id) for id. */
typedef struct tcf_string {
    unsigned version;         /* 2 */
    uint64_t created_ds;      /* deciseconds since the epoch, a whole UTC day, */
    uint64_t last_updated_ds; /* and the same value (v2.2+) */
    unsigned cmp_id, cmp_version, consent_screen;
    char consent_language[2]; /* ISO 639-1, letters (either case) */
    unsigned vendor_list_version, policy_version;
    bool is_service_specific; /* true */
    bool use_non_standard_texts;
    uint16_t special_features; /* opted in */
    uint32_t purposes_consent;
    uint32_t purposes_li; /* LI established and not objected to */
    bool purpose_one_treatment;
    char publisher_cc[2]; /* ISO 3166-1 alpha-2 */
    tcf_ids_t vendor_consents;
    tcf_ids_t vendor_li;
    const tcf_restriction_t *restrictions;
    size_t restriction_count;
    tcf_ids_t disclosed_vendors; /* the disclosed-vendors segment */
    /* the publisher TC segment, written when publisher_tc is true */
    bool publisher_tc;
    uint32_t pub_purposes_consent, pub_purposes_li;
    unsigned custom_purpose_count; /* 0..TCF_CUSTOM_PURPOSES_MAX */
    uint64_t custom_consent, custom_li;
} tcf_string_t;

/* Created/LastUpdated for a moment: its day at 00:00 UTC, in deciseconds. */
uint64_t tcf_day_deciseconds(int64_t unix_seconds);

/* The bytes tcf_encode writes for a valid s, its NUL included (computed from
 * the vendor sets and the custom purpose count, without writing; for an s
 * that tcf_encode refuses, a number, no more). */
size_t tcf_encoded_max(const tcf_string_t *s);

/* Encode s into out (cap bytes): the TC string's length, NUL written after
 * it; or -1 with *status TCF_ERR_INPUT (s breaks a rule above) or
 * TCF_ERR_SPACE, and a message "<field>: <reason>" in err (errcap bytes, may
 * be 0). Nothing but out and err is written. */
ssize_t tcf_encode(const tcf_string_t *s, char *out, size_t cap, tcf_status_t *status, char *err,
                   size_t errcap);

/* ---- the visitor's choice ---------------------------------------------- */

/* The `tcf` member of a consent POST (docs/tcf.md): each list as given,
 * then sorted, no duplicates. Purpose masks as in tcf_string_t. */
typedef struct tcf_choice {
    uint32_t purposes_consent, purposes_li;
    uint16_t special_features;
    uint16_t vendor_consents[TCF_SITE_VENDORS_MAX];
    size_t vendor_consent_count;
    uint16_t vendor_li[TCF_SITE_VENDORS_MAX];
    size_t vendor_li_count;
    bool publisher; /* the "publisher" member was given */
    uint32_t pub_purposes_consent, pub_purposes_li;
    uint64_t custom_consent, custom_li;
} tcf_choice_t;

/* Read the `tcf` object (a value validated by json_scan_parse) into *out:
 * TCF_OK, or TCF_ERR_INPUT and "tcf.<field>: <reason>" in err. Unknown
 * members, IDs out of range, an ID twice, more than TCF_SITE_VENDORS_MAX
 * vendors in a list are refused. */
tcf_status_t tcf_choice_parse(const json_scan_value_t *tcf, tcf_choice_t *out, char *err,
                              size_t errcap);

/* ---- the site's rules ---------------------------------------------------- */

/* A vendor the site works with, as the GVL declares it (masks of purpose
 * IDs; special purposes only matter by being declared). */
typedef struct tcf_site_vendor {
    uint16_t id;
    uint32_t purposes;          /* consent */
    uint32_t li_purposes;       /* legitimate interest */
    uint32_t flexible_purposes; /* whose basis a restriction may switch */
    uint32_t special_purposes;
} tcf_site_vendor_t;

/* What a TCF site offers, from its site file and the GVL it uses (filled by
 * the site configuration, src/site.c). Plain arrays owned by the caller. */
typedef struct tcf_site_rules {
    unsigned cmp_id, cmp_version, consent_screen;
    unsigned vendor_list_version, policy_version; /* of the GVL used */
    char publisher_cc[2];
    bool purpose_one_treatment, use_non_standard_texts;
    const tcf_site_vendor_t *vendors; /* ascending IDs; all are disclosed */
    size_t vendor_count;              /* <= TCF_SITE_VENDORS_MAX */
    const tcf_restriction_t *restrictions;
    size_t restriction_count;
    uint32_t purposes_consent; /* purposes asked for consent */
    uint32_t purposes_li;      /* purposes shown under LI (none of TCF_PURPOSES_NO_LI) */
    uint16_t special_features; /* special features offered */
    bool publisher_tc;         /* the site writes the publisher TC segment */
    uint32_t pub_purposes_consent, pub_purposes_li;
    unsigned custom_purpose_count;
    uint64_t custom_consent, custom_li; /* custom purposes by basis */
} tcf_site_rules_t;

/* The choice held to the rules into *out (its vendor sets point into
 * choice, which apply sorts and clamps in place, and into rules; both must
 * outlive *out; the disclosed vendors go in disclosed[], of
 * TCF_SITE_VENDORS_MAX). Refused (TCF_ERR_REFUSED, the field named): a
 * purpose, special feature, vendor or publisher purpose the site does not
 * offer on that basis, a publisher member on a site without publisher
 * purposes. Clamped: a vendor's consent when it declares no consent purpose
 * (none either through a flexible purpose the site's restrictions switch to
 * consent), its LI when it declares no LI purpose likewise; a vendor that
 * declares only special purposes has its LI bit set, as the policies
 * require. lang is the UI's ISO 639-1 code; updated the moment of the
 * choice (Unix seconds). */
tcf_status_t tcf_choice_apply(const tcf_site_rules_t *rules, tcf_choice_t *choice,
                              const char lang[2], int64_t updated, uint16_t *disclosed,
                              tcf_string_t *out, char *err, size_t errcap);

/* The longest `tcf` member a choice on a site with these rules can be, as
 * the compact JSON a banner sends: every member, purpose, special feature
 * and publisher list at its fullest (TCF_CHOICE_JSON_FIXED bytes cover them
 * all, with their keys), plus each of the site's vendors in both vendor
 * lists ("755," in consents and in legitimate_interests). What a consent
 * POST of a TCF site may add to the body of a site without TCF (its limit,
 * src/api/consent.c, issue 24: a site with 500 vendors needs about 10 KB).
 * Pure; at most TCF_CHOICE_JSON_MAX. */
#define TCF_CHOICE_JSON_FIXED 1024
#define TCF_CHOICE_JSON_MAX (TCF_CHOICE_JSON_FIXED + 2 * TCF_SITE_VENDORS_MAX * 6)
size_t tcf_choice_json_max(const tcf_site_rules_t *rules);

#endif
