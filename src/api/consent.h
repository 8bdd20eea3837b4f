/*
 * consent.h - the consent API a banner (or a site's server) calls:
 *
 *   POST   /v1/sites/{site}/consents            record a choice, 201 + signed proof
 *   GET    /v1/sites/{site}/consents/{visitor}  the current choice and its proof
 *   DELETE /v1/sites/{site}/consents/{visitor}  withdraw: every non-necessary purpose refused
 *   GET    /.well-known/jwks.json               the keys that verify every live proof
 */
#ifndef CONSENTD_CONSENT_H
#define CONSENTD_CONSENT_H

#include "http.h"
#include "json_scan.h"
#include "strbuf.h"
#include "visitor.h"

/* Bytes of a POST body on a site without TCF. A TCF site's limit grows with
 * its vendors (issue 24): CONSENT_MAX_BODY + site->tcf.choice_json_max, the
 * longest `tcf` member its choices can be (consent_max_body). The route's
 * bound (src/server/router.c) is the largest any site can have; consent_post
 * answers 413 over the site's own. */
#define CONSENT_MAX_BODY 4096
#define CONSENT_MAX_BODY_ANY_SITE (CONSENT_MAX_BODY + TCF_CHOICE_JSON_MAX)

/* The body limit of a consent POST to this site (above). */
size_t consent_max_body(const site_t *site);

void consent_post(http_request_t *rq);
void consent_get(http_request_t *rq);
void consent_delete(http_request_t *rq);
void consent_jwks(http_request_t *rq);

struct store_record;
/* Append the JSON of one record (POST, GET, DELETE answers, access
 * requests, the audit export) to b: policy_outdated is added when
 * policy_version_now differs (NULL: not checked), log_id when the record
 * has one. Check strbuf_failed(b) before sending. */
void consent_record_json(strbuf_t *b, const struct store_record *rec,
                         const char *policy_version_now);

/* A POST body that passed every check, resolved against the site. */
typedef struct consent_choice {
    char visitor[VISITOR_ID_MAX + 1];         /* "" when the body names none */
    char lang[16];                            /* one of the site's languages */
    char source[16];                          /* banner | form | call_center | api */
    char variant[SITE_VARIANT_ID_MAX + 1];    /* "" when none */
    const site_variant_t *shown;              /* the variant, NULL when none */
    const char *texts_hash;                   /* of the texts shown (banner set's memory) */
    char banner_version[65];                  /* the version shown (64 hex), "" when none */
    unsigned char version[32];                /* the same, as bytes */
    unsigned char granted[SITE_MAX_PURPOSES]; /* per site purpose, in site order */
    const char *action;                       /* consent | withdrawal (static) */
    const char *control;   /* accept_all ... api (static); NULL when a banner did not say */
    int gpc;               /* a GPC signal: the Sec-GPC header, or the banner's report */
    int32_t decide_ms;     /* "ttd": ms from the banner appearing to this choice; -1 none */
    int page;              /* "page": site_page_group_index (unknown names: other); -1 when none */
    int has_tcf;           /* the body's "tcf" member (an object; TCF sites only) was given */
    json_scan_value_t tcf; /* that member, pointing into the body (docs/tcf.md) */
} consent_choice_t;

/* Why a body was refused: the answer's status (400, 401, 409), code and
 * message. */
typedef struct consent_refusal {
    int status;
    const char *code;
    char message[256];
} consent_refusal_t;

struct banner_set;
/* Check the body of POST .../consents (untrusted bytes, any length) for
 * site: from_server when the caller showed the site's API key, gpc when it
 * sent Sec-GPC: 1 (the body's "gpc": true adds the signal, never removes
 * it). "action" (consent | withdrawal, default consent) and "control" (how
 * the choice was given; default api for server callers, none for a banner
 * that does not say; api only for server callers; withdraw only with action
 * withdrawal; accept_all, reject_all and dismiss must match the decisions on
 * the purposes that need consent: 400 control_mismatch). "ttd" (time to decide, issue 21 item 5):
 * an integer of ms, 0..COUNTERS_TTD_MAX_MS, kept in out->decide_ms; any other value (a
 * fraction, a string, out of range) is ignored, never refused. Returns 0 and fills out, or -1 and
 * fills why (409 policy_version_mismatch: the answer carries the site's current version). Pure: no
 * I/O, no h2o, so that tests and fuzzers call it directly. */
int consent_body_check(const char *body, size_t len, const site_t *site,
                       const struct banner_set *banners, int from_server, int gpc,
                       consent_choice_t *out, consent_refusal_t *why);

#endif
