/*
 * consent.c - record, read and withdraw a visitor's choice.
 *
 * A POST walks one way: caller and body checks here, the site's rules
 * (purposes, legal bases, policy version), the proof signed before the
 * write, then one store call (one Redis round trip); the 201 leaves only
 * after Redis acknowledged. The answer is built by hand: this is the hot
 * path, and a JSON library would allocate for every field.
 */
#include "consent.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banner_build.h"
#include "base64url.h"
#include "clock.h"
#include "counters.h"
#include "json.h"
#include "json_scan.h"
#include "log.h"
#include "proof.h"
#include "random.h"
#include "store.h"
#include "tcf.h"

#define CONSENT_ID_BYTES 16 /* 128 random bits */
#define CONSENT_ID_LEN 22   /* base64url without padding */
_Static_assert(BASE64URL_LEN(CONSENT_ID_BYTES) == CONSENT_ID_LEN, "the consent id's length");
#define CONSENT_VARIANT_MAX 32

static const char *const consent_sources[] = {"banner", "form", "call_center", "api"};
static const char *const consent_actions[] = {STORE_ACTION_CONSENT, STORE_ACTION_WITHDRAWAL};
/* How a choice was given (the record's how.ctl, the proof's ctl). */
enum {
    CONTROL_ACCEPT_ALL,
    CONTROL_REJECT_ALL,
    CONTROL_CUSTOM,
    CONTROL_DISMISS,
    CONTROL_WITHDRAW,
    CONTROL_API,
    CONTROL_IDENTIFY, /* carried over from the identified user's choice (identify.h) */
    CONTROL_N
};
static const char *const consent_controls[CONTROL_N] = {
    "accept_all", "reject_all", "custom", "dismiss", "withdraw", "api", "identify"};

/* The index of s in the n strings of table, or n. */
static size_t consent_lookup(const char *const *table, size_t n, const char *s)
{
    size_t i = 0;
    while (i < n && strcmp(s, table[i]) != 0)
        i++;
    return i;
}

/* What a write keeps between the request and Redis' acknowledgement. */
typedef struct consent_write {
    store_record_t rec;
    char visitor[VISITOR_ID_MAX + 1];
    char consent_id[CONSENT_ID_LEN + 1];
    char policy_version[65];
    char texts_hash[65];
    char banner_version[BANNER_VERSION_HEX + 1];
    char site_sha256[65]; /* the site version's document hash (site.h doc_sha256) */
    char source[16];
    char lang[16];
    char variant[CONSENT_VARIANT_MAX + 1];
    char proof[PROOF_MAX];
    int status; /* 201 for a new choice, 200 for a withdrawal */
    /* An IAB TCF site's choice as its TC string says it, for the stats
     * (counters_tcf): purpose masks, and per vendor of the site's rules
     * COUNTERS_TCF_CONSENT | COUNTERS_TCF_LI (in the pending write, after
     * the TC string); NULL elsewhere. */
    uint32_t tcf_pc, tcf_pli;
    uint8_t *tcf_vendors;
    /* Counted once Redis has it, even if the client has gone by then (the
     * pending record keeps the snapshot, hence sites and site, alive). */
    counters_t *counters;
    counters_segment_t seg; /* the request's device, browser, time to decide */
    site_set_t *sites;
    const site_t *site;
    redis_t *redis; /* the worker's: the user's record is written even if the client has gone */
} consent_write_t;

static int consent_token_valid(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len == 0 || len > max) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return 0;
    }
    return 1;
}

/* The id is public (the answer, the proof's jti): base64url.h's table, the
 * same characters as libsodium's constant-time encoder at a tenth of its
 * instructions. */
static void consent_random_id(char out[CONSENT_ID_LEN + 1])
{
    unsigned char bytes[CONSENT_ID_BYTES];
    random_bytes(bytes, sizeof(bytes)); /* random.h: a page of the CSPRNG at a time */
    out[base64url_encode(out, bytes, sizeof(bytes))] = '\0';
}

/* A string member: lit is `,"name":` (or `{"name":`). */
#define consent_member(b, lit, value)                                                              \
    do {                                                                                           \
        strbuf_lit((b), lit);                                                                      \
        strbuf_json_str((b), (value));                                                             \
    } while (0)

static void consent_time_member(strbuf_t *b, const char *lit, size_t lit_len, int64_t ms)
{
    char t[CLOCK_TEXT_MAX];
    size_t n = clock_format(ms, CLOCK_ISO_S, t);
    strbuf_put(b, lit, lit_len);
    strbuf_char(b, '"');
    strbuf_put(b, t, n);
    strbuf_char(b, '"');
}

/* The answer for a record: the same shape for POST, GET and DELETE. */
void consent_record_json(strbuf_t *b, const store_record_t *rec, const char *policy_version_now)
{
    consent_member(b, "{\"visitor\":", rec->visitor);
    consent_member(b, ",\"consent_id\":", rec->consent_id);
    strbuf_lit(b, ",\"decisions\":{");
    for (size_t i = 0; i < rec->n_decisions; i++) {
        if (i > 0) strbuf_char(b, ',');
        strbuf_json_str(b, rec->purposes[i]);
        if (rec->granted[i])
            strbuf_lit(b, ":true");
        else
            strbuf_lit(b, ":false");
    }
    strbuf_char(b, '}');
    consent_member(b, ",\"policy_version\":", rec->policy_version);
    if (policy_version_now != NULL && strcmp(policy_version_now, rec->policy_version) != 0)
        strbuf_lit(b, ",\"policy_outdated\":true");
    consent_member(b, ",\"source\":", rec->source);
    consent_member(b, ",\"lang\":", rec->lang);
    if (rec->variant != NULL) consent_member(b, ",\"variant\":", rec->variant);
    consent_member(b, ",\"action\":", rec->action);
    if (rec->control != NULL) consent_member(b, ",\"control\":", rec->control);
    if (rec->gpc) strbuf_lit(b, ",\"gpc\":true");
    if (rec->tc_string != NULL) consent_member(b, ",\"tc_string\":", rec->tc_string);
    consent_member(b, ",\"texts_hash\":", rec->texts_hash);
    if (rec->banner_version != NULL) consent_member(b, ",\"banner_version\":", rec->banner_version);
    if (rec->site_version > 0) {
        strbuf_lit(b, ",\"site_version\":");
        strbuf_i64(b, (int64_t)rec->site_version);
    }
    if (rec->site_sha256 != NULL) consent_member(b, ",\"site_sha256\":", rec->site_sha256);
    if (rec->log_id != NULL) consent_member(b, ",\"log_id\":", rec->log_id);
    consent_time_member(b, H2O_STRLIT(",\"issued_at\":"), rec->issued_at_ms);
    consent_time_member(b, H2O_STRLIT(",\"expires_at\":"), rec->expires_at_ms);
    consent_member(b, ",\"proof\":", rec->proof);
    strbuf_char(b, '}');
}

/* Answer status with the record's JSON, built in the request's pool. */
static void consent_send_record(http_request_t *rq, int status, const store_record_t *rec,
                                const char *policy_version_now)
{
    strbuf_t b;
    strbuf_init_pool(&b, &rq->req->pool);
    consent_record_json(&b, rec, policy_version_now);
    if (strbuf_failed(&b))
        http_error(rq, 500, "internal", "the answer could not be built");
    else
        http_send_json_static(rq, status, b.buf, b.len);
}

static void consent_on_stored(void *data, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    consent_write_t *w = http_pending_state(p);
    if (err == NULL) counters_consent(w->counters, w->sites, w->site, &w->rec, &w->seg);
    if (err == NULL && w->tcf_vendors != NULL)
        counters_tcf(w->counters, w->sites, w->site, &w->rec, w->tcf_pc, w->tcf_pli,
                     w->tcf_vendors);
    if (rq != NULL) {
        if (err != NULL) {
            http_storage_error(rq, 0, err);
        } else {
            consent_send_record(rq, w->status, &w->rec, NULL);
        }
    }
    http_pending_free(p);
}

/* The user's record has the write too (or could not take it: the consent
 * is recorded all the same, and the user's next identify carries it). */
static void consent_on_user(void *data, const store_record_t *kept, const redis_error_t *err)
{
    (void)kept;
    http_pending_t *p = data;
    if (err != NULL)
        log_msg(LOG_WARN, "consent: the identified user's record was not updated: %s", err->detail);
    consent_on_stored(p, NULL);
}

/* The write of a site with identify: when the visitor is linked to a user,
 * a second call carries the record to the user's (its own slot). */
static void consent_on_linked(void *data, const char *user, const redis_error_t *err)
{
    http_pending_t *p = data;
    consent_write_t *w = http_pending_state(p);
    if (err != NULL || user == NULL) {
        consent_on_stored(p, err);
        return;
    }
    if (store_user_choice(w->redis, w->site, user, w->rec.visitor, &w->rec, consent_on_user, p) !=
        REDIS_OK)
        consent_on_stored(p, NULL);
}

/* Sign the record's proof and store it; answers when Redis has it. May run
 * after an asynchronous step (the archive look-up): keys and sites come from
 * the snapshot the request was routed on, which p keeps alive and to which
 * rq->site belongs, not from the worker's current one (a reload may have
 * swapped it meanwhile, and the counters would then keep a site of a set
 * that is freed with p). */
static void consent_sign_and_store(http_request_t *rq, http_pending_t *p)
{
    consent_write_t *w = http_pending_state(p);
    const site_t *site = rq->site;
    const snapshot_t *snap = http_pending_snapshot(p);
    proof_claims_t claims = {
        .iss = rq->worker->cfg->public_url,
        .aud = site->id,
        .sub = w->rec.visitor,
        .jti = w->rec.consent_id,
        .iat = w->rec.issued_at_ms / 1000,
        .exp = w->rec.expires_at_ms / 1000,
        .pv = w->rec.policy_version,
        .th = w->rec.texts_hash,
        .bv = w->rec.banner_version,
        .sv = w->rec.site_version,
        .sd = w->rec.site_sha256,
        .src = w->rec.source,
        .lang = w->rec.lang,
        .var = w->rec.variant,
        .act = w->rec.action,
        .ctl = w->rec.control,
        .gpc = w->rec.gpc,
        .n_decisions = w->rec.n_decisions,
        .purposes = w->rec.purposes,
        .granted = w->rec.granted,
        .tc_string = w->rec.tc_string,
        .vendor_list_version = site->tcf.rules.vendor_list_version,
    };
    if (proof_sign(snap->keys, &claims, w->proof, sizeof(w->proof)) == 0) {
        http_pending_free(p);
        http_error(rq, 500, "internal", "the proof could not be signed");
        return;
    }
    w->rec.proof = w->proof;
    w->counters = rq->worker->counters;
    w->sites = snap->sites;
    w->site = site;
    w->redis = rq->worker->redis;
    const store_write_limit_t limit = {rq->worker->cfg->rl_visitor_writes_per_minute,
                                       rq->worker->cfg->rl_visitor_writes_per_day};
    /* A site with identify (issue 20, item 7): the same FCALL also answers
     * the visitor's link to a user, if any (still one round trip). */
    int rc = site->identify.enabled ? store_consent_put_linked(rq->worker->redis, site, &w->rec,
                                                               &limit, consent_on_linked, p)
                                    : store_consent_put(rq->worker->redis, site, &w->rec, &limit,
                                                        consent_on_stored, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* The archive answered for a banner version this process did not know. */
static void consent_on_version(void *data, int found, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    if (rq == NULL) {
        http_pending_free(p);
    } else if (err != NULL) {
        http_pending_free(p);
        http_storage_error(rq, 0, err);
    } else if (!found) {
        http_pending_free(p);
        http_error(rq, 400, "unknown_banner_version",
                   "banner_version is not a banner version of this site");
    } else {
        consent_sign_and_store(rq, p);
    }
}

/* strlcpy: the hot path's copies, without printf's machinery. */
static void consent_copy(char *out, size_t cap, const char *s)
{
    size_t len = strnlen(s, cap - 1);
    memcpy(out, s, len);
    out[len] = '\0';
}

/* Fill the parts of a record every write shares. action and control are
 * static strings (control NULL when not known), gpc the signal. */
static void consent_fill(consent_write_t *w, const site_t *site, const char *visitor,
                         const char *lang, const char *source, const char *variant,
                         const char *texts_hash, const char *action, const char *control, int gpc)
{
    int64_t now = clock_real_ms();
    consent_copy(w->visitor, sizeof(w->visitor), visitor);
    consent_random_id(w->consent_id);
    consent_copy(w->policy_version, sizeof(w->policy_version), site->policy_version);
    consent_copy(w->texts_hash, sizeof(w->texts_hash), texts_hash);
    consent_copy(w->source, sizeof(w->source), source);
    consent_copy(w->lang, sizeof(w->lang), lang);
    consent_copy(w->variant, sizeof(w->variant), variant != NULL ? variant : "");
    w->rec.visitor = w->visitor;
    w->rec.consent_id = w->consent_id;
    w->rec.policy_version = w->policy_version;
    w->rec.texts_hash = w->texts_hash;
    w->rec.source = w->source;
    w->rec.lang = w->lang;
    w->rec.variant = variant != NULL ? w->variant : NULL;
    w->rec.action = action;
    w->rec.control = control;
    w->rec.gpc = gpc;
    w->rec.issued_at_ms = now;
    w->rec.expires_at_ms = now + (int64_t)site->choice_lifetime_days * 86400 * 1000;
    w->rec.n_decisions = site->n_purposes;
    for (size_t i = 0; i < site->n_purposes; i++)
        w->rec.purposes[i] = site->purposes[i].id;
    /* The site version that produced the record and its proof (issue 22,
     * item 5): its number in Redis (0: a file's site) and its document's hash. */
    consent_copy(w->site_sha256, sizeof(w->site_sha256), site->doc_sha256);
    w->rec.site_version = site->version;
    w->rec.site_sha256 = w->site_sha256[0] != '\0' ? w->site_sha256 : NULL;
}

/* 409 with the current version, so the banner asks again. */
static void consent_policy_conflict(http_request_t *rq)
{
    char body[512], esc[160];
    json_escape(esc, sizeof(esc), rq->site->policy_version, strlen(rq->site->policy_version));
    int n = snprintf(body, sizeof(body),
                     "{\"error\":{\"code\":\"policy_version_mismatch\",\"message\":\"the policy "
                     "changed: ask the visitor again\",\"current_policy_version\":\"%s\"}}",
                     esc);
    http_send_json(rq, 409, body, (size_t)n);
}

static int consent_refuse(consent_refusal_t *why, int status, const char *code, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));

static int consent_refuse(consent_refusal_t *why, int status, const char *code, const char *fmt,
                          ...)
{
    va_list ap;
    why->status = status;
    why->code = code;
    va_start(ap, fmt);
    vsnprintf(why->message, sizeof(why->message), fmt, ap);
    va_end(ap);
    return -1;
}

/*
 * The body of a POST, checked in this order (the first problem is the
 * answer): strict JSON object, known fields with the right types, required
 * fields, visitor, variant, language, source (and who may use it), each
 * decision; the policy version last, so that a stale banner whose body is
 * otherwise good learns the current version. The decisions are resolved for
 * every purpose of the site (necessary: granted; left out: by legal basis,
 * or refused under GPC for the site's GPC purposes).
 */
/* The time to decide a banner reported: a JSON integer (digits only) of
 * 0..COUNTERS_TTD_MAX_MS ms, else -1. */
static int32_t consent_decide_ms(const json_scan_value_t *v)
{
    if (v->type != JSON_SCAN_NUMBER || v->len == 0 || v->len > 7) return -1;
    int32_t ms = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->text[i] < '0' || v->text[i] > '9') return -1;
        ms = ms * 10 + (v->text[i] - '0');
    }
    return ms <= COUNTERS_TTD_MAX_MS ? ms : -1;
}

int consent_body_check(const char *body, size_t len, const site_t *site,
                       const struct banner_set *banners, int from_server, int gpc,
                       consent_choice_t *out, consent_refusal_t *why)
{
    memset(out, 0, sizeof(*out));
    json_scan_value_t root, key, value, decisions = {0};
    const char *perr;
    if (json_scan_parse(body, len, &root, &perr) != 0 || root.type != JSON_SCAN_OBJECT)
        return consent_refuse(why, 400, "malformed_json", "%s",
                              perr != NULL ? perr : "the body must be a JSON object");

    /* The strings, decoded into one arena: together never longer than the
     * body, plus their NULs. */
    char stack[2 * CONSENT_MAX_BODY + 16], *arena = stack;
    size_t arena_cap = 2 * len + 16, used = 0;
    if (arena_cap > sizeof(stack) && (arena = malloc(arena_cap)) == NULL)
        return consent_refuse(why, 500, "internal", "out of memory");
    static const char *const names[] = {"visitor", "policy_version", "lang",   "source",
                                        "variant", "banner_version", "action", "control",
                                        "page",    "decisions",      "gpc",    "ttd",
                                        "tcf"};
    enum {
        F_VISITOR,
        F_POLICY,
        F_LANG,
        F_SOURCE,
        F_VARIANT,
        F_BANNER_VERSION,
        F_ACTION,
        F_CONTROL,
        F_PAGE,
        F_DECISIONS, /* the string fields come before */
        F_GPC,
        F_TTD,
        F_TCF,
        F_N
    };
    const char *field[F_N] = {NULL};
    field[F_SOURCE] = "banner";
    field[F_ACTION] = STORE_ACTION_CONSENT;
    int have_decisions = 0, body_gpc = 0;
    int32_t decide_ms = -1;
    char bad[JSON_SCAN_KEY_MAX + 1] = "";
    for (size_t pos = 0; bad[0] == '\0' && json_scan_member(&root, &pos, &key, &value);) {
        size_t f = 0;
        while (f < F_N && !json_scan_string_is(&key, names[f], strlen(names[f])))
            f++;
        int nullable = f == F_VARIANT || f == F_BANNER_VERSION;
        if (f == F_DECISIONS && value.type == JSON_SCAN_OBJECT) {
            decisions = value;
            have_decisions = 1;
        } else if (f == F_TCF && value.type == JSON_SCAN_OBJECT) {
            out->tcf = value;
            out->has_tcf = 1;
        } else if (f == F_GPC && (value.type == JSON_SCAN_TRUE || value.type == JSON_SCAN_FALSE)) {
            body_gpc = value.type == JSON_SCAN_TRUE;
        } else if (f == F_TTD) {
            decide_ms = consent_decide_ms(&value); /* a statistic: a bad one is ignored */
        } else if (f < F_DECISIONS && value.type == JSON_SCAN_STRING) {
            ssize_t n = json_scan_string(&value, arena + used, arena_cap - used);
            field[f] = arena + used;
            used += (size_t)n + 1; /* fits: the arena holds every string of the body */
        } else if (nullable && value.type == JSON_SCAN_NULL) {
            field[f] = NULL;
        } else if (json_scan_string(&key, bad, sizeof(bad)) <= 0) {
            snprintf(bad, sizeof(bad), "\"\""); /* the empty key, named */
        }
    }
    const char *visitor = field[F_VISITOR], *policy_version = field[F_POLICY],
               *lang = field[F_LANG], *source = field[F_SOURCE], *variant = field[F_VARIANT],
               *banner_version = field[F_BANNER_VERSION], *action = field[F_ACTION],
               *control = field[F_CONTROL];
    size_t act = consent_lookup(consent_actions, 2, action);
    size_t ctl = control != NULL ? consent_lookup(consent_controls, CONTROL_N, control)
                 : from_server   ? (size_t)CONTROL_API
                                 : CONTROL_N + 1; /* none said: a banner from before issue 19 */
    /* The Sec-GPC header is authoritative (the browser sets it and no page
     * script can); the banner's report of navigator.globalPrivacyControl
     * adds the signal where the header did not come through, never
     * removes it. */
    gpc = gpc || body_gpc;

    int rc = 0;
    const site_variant_t *shown = NULL; /* the variant whose texts the visitor saw */
    const char *texts_hash = NULL;
    unsigned char version[BANNER_VERSION_BYTES];
    if (bad[0] != '\0') {
        rc = consent_refuse(why, 400, "invalid_field", "unknown field or wrong type: %.64s", bad);
    } else if (!have_decisions || policy_version == NULL || lang == NULL) {
        rc = consent_refuse(why, 400, "missing_field",
                            "decisions, policy_version and lang are required");
    } else if (out->has_tcf && !site->tcf.enabled) {
        rc = consent_refuse(why, 400, "tcf_not_enabled",
                            "tcf: this site does not use IAB TCF (its site file has no tcf block)");
    } else if (out->has_tcf && !site_tcf_applies(site)) {
        rc = consent_refuse(why, 400, "tcf_not_enabled",
                            "tcf: GDPR does not apply on this site (tcf.gdpr_applies is false): "
                            "no TCF choice is recorded");
    } else if (visitor != NULL && !visitor_id_valid(visitor, strlen(visitor))) {
        rc = consent_refuse(why, 400, "invalid_visitor",
                            "visitor must be 8 to 64 characters of A-Z a-z 0-9 - _");
    } else if (variant != NULL && !consent_token_valid(variant, CONSENT_VARIANT_MAX)) {
        rc = consent_refuse(why, 400, "invalid_variant",
                            "variant must be 1 to 32 characters of a-z 0-9 - _");
    } else if (banner_version != NULL &&
               banner_version_parse(banner_version, strlen(banner_version), version) != 0) {
        rc = consent_refuse(why, 400, "invalid_banner_version",
                            "banner_version must be 64 lowercase hex digits");
    } else if (variant != NULL &&
               (shown = site_variant_find(site, variant, strlen(variant))) == NULL) {
        rc = site->n_variants > 0
                 ? consent_refuse(why, 400, "unknown_variant",
                                  "this site has no banner variant %.32s", variant)
                 : consent_refuse(why, 400, "unknown_variant",
                                  "this site declares no banner variants (%.32s)", variant);
    } else if ((texts_hash = banner_texts_hash(banners, site, lang, shown)) == NULL) {
        rc =
            consent_refuse(why, 400, "unknown_language", "this site has no texts in that language");
    } else {
        size_t s = 0, ns = sizeof(consent_sources) / sizeof(consent_sources[0]);
        while (s < ns && strcmp(source, consent_sources[s]) != 0)
            s++;
        if (s == ns)
            rc = consent_refuse(why, 400, "invalid_source",
                                "source must be banner, form, call_center or api");
        else if (s != 0 && !from_server)
            rc = consent_refuse(why, 401, "unauthorized",
                                "a source other than banner requires the site API key");
        else if (act == 2)
            rc = consent_refuse(why, 400, "invalid_action", "action must be consent or withdrawal");
        else if (ctl == CONTROL_N)
            rc = consent_refuse(why, 400, "invalid_control",
                                "control must be accept_all, reject_all, custom, dismiss, "
                                "withdraw, api or identify");
        else if (ctl == CONTROL_API && !from_server)
            rc = consent_refuse(why, 401, "unauthorized",
                                "control api is for server channels: it requires the site API key");
        else if (ctl == CONTROL_WITHDRAW && act != 1)
            rc = consent_refuse(why, 400, "invalid_control",
                                "control withdraw records a withdrawal: send action withdrawal");
    }
    /* Each decision names a known purpose with a boolean; a necessary
     * purpose cannot be refused; what is left out follows its legal basis. */
    /* The decision of each purpose the body names: -1 absent, 0 or 1. */
    signed char decided[SITE_MAX_PURPOSES];
    memset(decided, -1, sizeof(decided));
    for (size_t pos = 0; rc == 0 && json_scan_member(&decisions, &pos, &key, &value);) {
        char id[JSON_SCAN_KEY_MAX + 1];
        ssize_t n = json_scan_string(&key, id, sizeof(id));
        const site_purpose_t *p = n >= 0 ? site_purpose_find(site, id, (size_t)n) : NULL;
        if (p == NULL) {
            rc = consent_refuse(why, 400, "unknown_purpose", "unknown purpose: %.64s", id);
        } else if (value.type != JSON_SCAN_TRUE && value.type != JSON_SCAN_FALSE) {
            rc = consent_refuse(why, 400, "invalid_decision",
                                "decision for %.64s must be true or false", id);
        } else if (p->legal_basis == LEGAL_BASIS_NECESSARY && value.type == JSON_SCAN_FALSE) {
            rc = consent_refuse(why, 400, "necessary_purpose",
                                "%.64s is necessary and cannot be refused", id);
        } else {
            decided[p - site->purposes] = value.type == JSON_SCAN_TRUE;
        }
    }
    if (rc == 0 && strcmp(policy_version, site->policy_version) != 0)
        rc = consent_refuse(why, 409, "policy_version_mismatch",
                            "the policy changed: ask the visitor again");
    /* The control must tell the truth about the outcome: accept_all grants
     * every purpose that needs consent (but those GPC objects to: the
     * banner leaves them out), reject_all and dismiss grant none. */
    for (size_t i = 0; rc == 0 && i < site->n_purposes; i++) {
        const site_purpose_t *p = &site->purposes[i];
        int granted = decided[i] >= 0 ? decided[i] : 0; /* left out: refused */
        if (p->legal_basis != LEGAL_BASIS_CONSENT) continue;
        if (ctl == CONTROL_ACCEPT_ALL && !granted && !(gpc && p->gpc))
            rc = consent_refuse(why, 400, "control_mismatch",
                                "control accept_all, but %.64s is refused", p->id);
        else if ((ctl == CONTROL_REJECT_ALL || ctl == CONTROL_DISMISS) && granted)
            rc = consent_refuse(why, 400, "control_mismatch", "control %s, but %.64s is granted",
                                consent_controls[ctl], p->id);
    }
    if (rc == 0) {
        /* Global Privacy Control (Sec-GPC: 1) objects to sale, sharing and
         * advertising: such purposes left out are refused whatever their
         * legal basis; an explicit grant from the visitor still counts. */
        for (size_t i = 0; i < site->n_purposes; i++) {
            const site_purpose_t *p = &site->purposes[i];
            out->granted[i] = p->legal_basis == LEGAL_BASIS_NECESSARY             ? 1
                              : decided[i] >= 0                                   ? decided[i]
                              : gpc && p->gpc                                     ? 0
                              : p->legal_basis == LEGAL_BASIS_LEGITIMATE_INTEREST ? 1
                                                                                  : 0;
        }
        /* Every string below passed a check that bounds its length. */
        consent_copy(out->visitor, sizeof(out->visitor), visitor != NULL ? visitor : "");
        consent_copy(out->lang, sizeof(out->lang), lang);
        consent_copy(out->source, sizeof(out->source), source);
        if (shown != NULL) consent_copy(out->variant, sizeof(out->variant), variant);
        out->shown = shown;
        out->texts_hash = texts_hash;
        out->action = consent_actions[act];
        out->control = ctl < CONTROL_N ? consent_controls[ctl] : NULL;
        out->gpc = gpc;
        out->decide_ms = decide_ms;
        out->page = field[F_PAGE] != NULL
                        ? site_page_group_index(site, field[F_PAGE], strlen(field[F_PAGE]))
                        : -1;
        if (banner_version != NULL) {
            consent_copy(out->banner_version, sizeof(out->banner_version), banner_version);
            memcpy(out->version, version, sizeof(out->version));
        }
    }
    if (arena != stack) free(arena);
    return rc;
}

/* ---- IAB TCF (issue 24, item 4) ------------------------------------------ */

/* What a TCF site's write encodes: the visitor's choice (NULL: none given,
 * a refusal of everything, as silence is) parsed and held to the site's
 * rules (site_tcf_t.rules) into *s, whose sets point into the request's
 * pool. 0, or -1 once answered 400 naming the field (docs/tcf.md). The
 * dates are set by consent_tcf_encode, from the record's time. */
static int consent_tcf_apply(http_request_t *rq, const site_t *site, const json_scan_value_t *tcf,
                             const char *lang, tcf_string_t *s)
{
    tcf_choice_t *choice = h2o_mem_alloc_pool(&rq->req->pool, sizeof(*choice));
    uint16_t *disclosed =
        h2o_mem_alloc_pool(&rq->req->pool, TCF_SITE_VENDORS_MAX * sizeof(*disclosed));
    char err[TCF_ERR_MAX];
    tcf_status_t st = TCF_OK;
    if (tcf != NULL)
        st = tcf_choice_parse(tcf, choice, err, sizeof(err));
    else
        memset(choice, 0, sizeof(*choice));
    /* ConsentLanguage: the two letters of the language shown ("pt-BR": pt) */
    if (st == TCF_OK)
        st = tcf_choice_apply(&site->tcf.rules, choice, lang, clock_real_ms() / 1000, disclosed, s,
                              err, sizeof(err));
    if (st == TCF_OK) return 0;
    http_error(rq, 400, st == TCF_ERR_REFUSED ? "tcf_refused" : "invalid_tcf", err);
    return -1;
}

/* What the stats count of the choice (counters_tcf): the string's purpose
 * masks, and per vendor of the site (vendors[], one byte each) its bits. */
static void consent_tcf_summary(const tcf_string_t *s, const site_t *site, consent_write_t *w,
                                uint8_t *vendors)
{
    const tcf_site_rules_t *r = &site->tcf.rules;
    w->tcf_pc = s->purposes_consent;
    w->tcf_pli = s->purposes_li;
    memset(vendors, 0, r->vendor_count);
    /* Both sets and the site's vendors are ascending: one merge each. */
    for (size_t i = 0, j = 0; i < s->vendor_consents.count; i++) {
        while (j < r->vendor_count && r->vendors[j].id < s->vendor_consents.ids[i])
            j++;
        if (j < r->vendor_count && r->vendors[j].id == s->vendor_consents.ids[i])
            vendors[j] |= COUNTERS_TCF_CONSENT;
    }
    for (size_t i = 0, j = 0; i < s->vendor_li.count; i++) {
        while (j < r->vendor_count && r->vendors[j].id < s->vendor_li.ids[i])
            j++;
        if (j < r->vendor_count && r->vendors[j].id == s->vendor_li.ids[i])
            vendors[j] |= COUNTERS_TCF_LI;
    }
    w->tcf_vendors = vendors;
}

/* Encode *s, dated the record's day, into out (tcf_encoded_max(s) bytes,
 * the pending write's, followed by one byte per site vendor for the stats)
 * and link it to the record. 0, or -1 once answered. */
static int consent_tcf_encode(http_request_t *rq, tcf_string_t *s, consent_write_t *w, char *out,
                              size_t cap)
{
    s->created_ds = s->last_updated_ds = tcf_day_deciseconds(w->rec.issued_at_ms / 1000);
    char err[TCF_ERR_MAX];
    tcf_status_t st;
    if (tcf_encode(s, out, cap, &st, err, sizeof(err)) < 0) {
        http_error(rq, 400, "invalid_tcf", err);
        return -1;
    }
    w->rec.tc_string = out;
    consent_tcf_summary(s, rq->site, w, (uint8_t *)out + cap);
    return 0;
}

/* The request carries Sec-GPC: 1 (the only value the specification defines). */
static int consent_gpc_header(const h2o_iovec_t *v)
{
    return v != NULL && v->len == 1 && v->base[0] == '1';
}

size_t consent_max_body(const site_t *site)
{
    return CONSENT_MAX_BODY + (site_tcf_applies(site) ? site->tcf.choice_json_max : 0);
}

void consent_post(http_request_t *rq)
{
    const site_t *site = rq->site;
    size_t max_body = consent_max_body(site);
    if (rq->req->entity.len > max_body) {
        char msg[96];
        snprintf(msg, sizeof(msg), "the body is too large: at most %zu bytes for this site",
                 max_body);
        http_error(rq, 413, "payload_too_large", msg);
        return;
    }
    http_caller_t caller = http_caller(rq);
    if (caller != HTTP_CALLER_BROWSER && caller != HTTP_CALLER_SERVER) {
        http_caller_error(rq, caller);
        return;
    }
    if (!http_body_is_json_or_text(rq)) {
        http_error(rq, 415, "unsupported_media_type",
                   "send the body as application/json (or text/plain, as a browser's fetch "
                   "does without a preflight)");
        return;
    }
    consent_choice_t choice;
    consent_refusal_t why;
    if (consent_body_check(rq->req->entity.base, rq->req->entity.len, site,
                           rq->worker->snap->banners, caller == HTTP_CALLER_SERVER,
                           consent_gpc_header(http_req_header(rq, "sec-gpc")), &choice,
                           &why) != 0) {
        if (why.status == 409)
            consent_policy_conflict(rq);
        else
            http_error(rq, why.status, why.code, why.message);
        return;
    }

    /* A TCF site's choice is held to its rules before anything is kept;
     * the TC string lives in the pending write, after its state. */
    tcf_string_t tcs;
    size_t tc_cap = 0;
    if (site_tcf_applies(site)) {
        if (consent_tcf_apply(rq, site, choice.has_tcf ? &choice.tcf : NULL, choice.lang, &tcs) !=
            0)
            return;
        tc_cap = tcf_encoded_max(&tcs);
    }
    http_pending_t *p = http_pending_new(rq, sizeof(consent_write_t) + tc_cap +
                                                 (tc_cap > 0 ? site->tcf.rules.vendor_count : 0));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    consent_write_t *w = http_pending_state(p);
    if (choice.visitor[0] == '\0') consent_random_id(choice.visitor);
    consent_fill(w, site, choice.visitor, choice.lang, choice.source,
                 choice.shown != NULL ? choice.variant : NULL, choice.texts_hash, choice.action,
                 choice.control, choice.gpc);
    memcpy(w->rec.granted, choice.granted, site->n_purposes);
    if (tc_cap > 0 && consent_tcf_encode(rq, &tcs, w, (char *)(w + 1), tc_cap) != 0) {
        http_pending_free(p);
        return;
    }
    w->status = 201;
    w->seg.ua = http_useragent_class(rq);
    w->seg.page = choice.page;
    w->seg.decide_ms = choice.decide_ms;
    if (choice.banner_version[0] != '\0') {
        consent_copy(w->banner_version, sizeof(w->banner_version), choice.banner_version);
        w->rec.banner_version = w->banner_version;
    }
    /* A version this process serves (or did until lately) needs no look-up:
     * the common case stays one round trip. Any other one must be in the
     * site's archive: one read before the write. */
    if (choice.banner_version[0] == '\0' ||
        banner_version_known(rq->worker->snap->banners, site, choice.version)) {
        consent_sign_and_store(rq, p);
        return;
    }
    int rc = store_banner_named(rq->worker->redis, site, w->banner_version, consent_on_version, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- read ---------------------------------------------------------------- */

static void consent_on_read(void *data, const store_record_t *rec, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    if (rq != NULL) {
        if (err != NULL) {
            http_storage_error(rq, 0, err);
        } else if (rec == NULL || rec->expires_at_ms <= clock_real_ms()) {
            http_error(rq, 404, "consent_not_found", "no current choice for this visitor");
        } else {
            consent_send_record(rq, 200, rec, rq->site->policy_version);
        }
    }
    http_pending_free(p);
}

/* Caller and {visitor} checks shared by GET and DELETE; 0 when answered. */
static int consent_visitor_route(http_request_t *rq)
{
    http_caller_t caller = http_caller(rq);
    if (caller != HTTP_CALLER_BROWSER && caller != HTTP_CALLER_SERVER) {
        http_caller_error(rq, caller);
        return 0;
    }
    if (!visitor_id_valid(rq->params[0].base, rq->params[0].len)) {
        http_error(rq, 400, "invalid_visitor",
                   "visitor must be 8 to 64 characters of A-Z a-z 0-9 - _");
        return 0;
    }
    return 1;
}

void consent_get(http_request_t *rq)
{
    if (!consent_visitor_route(rq)) return;
    char visitor[VISITOR_ID_MAX + 1];
    memcpy(visitor, rq->params[0].base, rq->params[0].len);
    visitor[rq->params[0].len] = '\0';
    http_pending_t *p = http_pending_new(rq, 0);
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    int rc = store_consent_get(rq->worker->redis, rq->site, visitor, consent_on_read, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

/* ---- withdraw ------------------------------------------------------------ */

void consent_delete(http_request_t *rq)
{
    if (!consent_visitor_route(rq)) return;
    const site_t *site = rq->site;
    int server = http_caller(rq) == HTTP_CALLER_SERVER;
    /* The texts of the language asked for (?lang=xx), else the site's first. */
    char qlang[16];
    const char *lang =
        http_query_param(rq, "lang", qlang, sizeof(qlang)) > 0 ? qlang : site->languages[0];
    const char *texts_hash = banner_texts_hash(rq->worker->snap->banners, site, lang, NULL);
    if (texts_hash == NULL) {
        http_error(rq, 400, "unknown_language", "this site has no texts in that language");
        return;
    }
    /* A TCF site's withdrawal carries a TC string refusing everything. */
    tcf_string_t tcs;
    size_t tc_cap = 0;
    if (site_tcf_applies(site)) {
        if (consent_tcf_apply(rq, site, NULL, lang, &tcs) != 0) return;
        tc_cap = tcf_encoded_max(&tcs);
    }
    http_pending_t *p = http_pending_new(rq, sizeof(consent_write_t) + tc_cap +
                                                 (tc_cap > 0 ? site->tcf.rules.vendor_count : 0));
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    consent_write_t *w = http_pending_state(p);
    char visitor[VISITOR_ID_MAX + 1];
    memcpy(visitor, rq->params[0].base, rq->params[0].len);
    visitor[rq->params[0].len] = '\0';
    const h2o_iovec_t *gpc = http_req_header(rq, "sec-gpc");
    consent_fill(w, site, visitor, lang, server ? "api" : "banner", NULL, texts_hash,
                 STORE_ACTION_WITHDRAWAL, consent_controls[server ? CONTROL_API : CONTROL_WITHDRAW],
                 consent_gpc_header(gpc));
    for (size_t i = 0; i < site->n_purposes; i++)
        w->rec.granted[i] = site->purposes[i].legal_basis == LEGAL_BASIS_NECESSARY;
    if (tc_cap > 0 && consent_tcf_encode(rq, &tcs, w, (char *)(w + 1), tc_cap) != 0) {
        http_pending_free(p);
        return;
    }
    w->status = 200;
    w->seg.ua = http_useragent_class(rq);
    w->seg.page = -1;
    w->seg.decide_ms = -1;
    consent_sign_and_store(rq, p);
}

/* ---- JWKS ---------------------------------------------------------------- */

void consent_jwks(http_request_t *rq)
{
    size_t len;
    const char *jwks = key_set_jwks(rq->worker->snap->keys, &len);
    http_hold_snapshot(rq);
    http_header(rq, "cache-control", H2O_STRLIT("public, max-age=300"));
    http_header(rq, "access-control-allow-origin", H2O_STRLIT("*"));
    http_send_static(rq, 200, "application/jwk-set+json", jwks, len);
}
