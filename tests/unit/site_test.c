/*
 * site_test.c - the sites (src/site.c): the shipped demo site, every kind of
 * invalid site file (each names its field), directory loading (ignored
 * files, an empty directory, one bad file among good ones), the per-request
 * lookups (site, origin, API key, purpose, text) and the reference count,
 * under threads too (run it with ASan: a double free or a leak fails).
 *
 * Fixtures: tests/fixtures/sites/. The source tree is found through
 * CONSENTD_SOURCE_DIR (set by ctest), else from this file's path.
 */
#include "check.h"
#include "site.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEMO_KEY "demo-key-change-me"
#define TEST_THREADS 8
#define TEST_RETAINS_PER_THREAD 20000
#define TEST_MANY_SITES 50

static char source_dir[PATH_MAX];

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 1 << 20;
    char *buf = malloc(cap + 1);
    size_t n = buf != NULL ? fread(buf, 1, cap, f) : 0;
    fclose(f);
    if (buf != NULL) buf[n] = '\0';
    *len = n;
    return buf;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    size_t n = fwrite(text, 1, strlen(text), f);
    return fclose(f) == 0 && n == strlen(text) ? 0 : -1;
}

/* Load one fixture file with site_set_load_one, as site_set_load would. */
static site_set_t *load_fixture(const char *rel, char *err, size_t errlen)
{
    char path[PATH_MAX];
    size_t len;
    FMT(path, "%s/tests/fixtures/sites/%s", source_dir, rel);
    char *json = read_file(path, &len);
    if (json == NULL) {
        if (snprintf(err, errlen, "%s: cannot read", path) < 0) err[0] = '\0';
        return NULL;
    }
    site_set_t *set = site_set_load_one(path, json, len, err, errlen);
    free(json);
    return set;
}

/* A fixture document with changes made by the caller, loaded under name. */
static site_set_t *load_modified(const char *rel, const char *name, void (*edit)(json_t *),
                                 char *err, size_t errlen)
{
    char path[PATH_MAX];
    json_error_t jerr;
    FMT(path, "%s/tests/fixtures/sites/%s", source_dir, rel);
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL) {
        if (snprintf(err, errlen, "%s: %s", path, jerr.text) < 0) err[0] = '\0';
        return NULL;
    }
    edit(doc);
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    site_set_t *set = site_set_load_one(name, text, strlen(text), err, errlen);
    free(text);
    return set;
}

/* A temporary directory, removed (with its files) by tmpdir_remove. */
static int tmpdir_make(char *dir, size_t cap)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(dir, cap, "%s/site_test.XXXXXX", base != NULL && base[0] ? base : "/tmp");
    if (n < 0 || (size_t)n >= cap) return -1;
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static void tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path)) unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* ---- the demo site --------------------------------------------------------------- */

static int demo_site_loads_with_its_purposes_and_legal_bases(void)
{
    char dir[PATH_MAX], err[SITE_ERR_MAX];
    FMT(dir, "%s/ops/sites", source_dir);
    site_set_t *set = site_set_load(dir, err, sizeof(err));
    if (set == NULL) {
        printf("    %s\n", err);
        return -1;
    }
    int rc = -1;
    const site_t *s = site_find(set, "demo", 4);
    if (site_set_count(set) != 1 || s == NULL) {
        printf("    expected exactly the demo site\n");
        goto out;
    }
    static const struct {
        const char *id;
        legal_basis_t basis;
        size_t n_recipients;
    } want[] = {{"necessary", LEGAL_BASIS_NECESSARY, 1},
                {"audience", LEGAL_BASIS_CONSENT, 1},
                /* it stores on the device: consent, never legitimate
                 * interest (issue 19, item 5) */
                {"personalisation", LEGAL_BASIS_CONSENT, 1},
                {"advertising", LEGAL_BASIS_CONSENT, 1},
                {"partners_sharing", LEGAL_BASIS_CONSENT, 2}};
    if (s->n_origins != 2 || strcmp(s->origins[0], "http://localhost:8080") != 0 ||
        strcmp(s->origins[1], "http://127.0.0.1:8080") != 0 || s->n_languages != 2 ||
        strcmp(s->languages[0], "fr") != 0 || strcmp(s->languages[1], "en") != 0 ||
        strcmp(s->policy_version, "2026-11-01") != 0 || s->choice_lifetime_days != 182 ||
        s->log_retention_days != 1825 || s->cookie_domain != NULL ||
        strcmp(s->controller_name, "Démo SARL") != 0 || s->contact[0] == '\0' ||
        s->privacy_policy_url == NULL || s->n_purposes != 5) {
        printf("    demo site settings differ from the brief\n");
        goto out;
    }
    for (size_t i = 0; i < 5; i++) {
        const site_purpose_t *p = &s->purposes[i];
        if (strcmp(p->id, want[i].id) != 0 || p->legal_basis != want[i].basis || !p->trackers ||
            p->n_recipients != want[i].n_recipients || p->n_texts != 2 || p->retention_days == 0) {
            printf("    purposes[%zu] is %s (%s), expected %s (%s)\n", i, p->id,
                   legal_basis_name(p->legal_basis), want[i].id, legal_basis_name(want[i].basis));
            goto out;
        }
        for (size_t t = 0; t < p->n_texts; t++)
            if (strlen(p->texts[t].name) < 3 || strlen(p->texts[t].description) < 40) {
                printf("    purposes[%zu] has a thin %s text\n", i, p->texts[t].lang);
                goto out;
            }
    }
    const site_purpose_t *ads = site_purpose_find(s, "advertising", 11);
    const site_purpose_t *partners = site_purpose_find(s, "partners_sharing", 16);
    if (ads == NULL || strcmp(ads->recipients[0], "Régie Exemple Ads") != 0 || partners == NULL ||
        strcmp(partners->recipients[0], "Partenaire Alpha") != 0 ||
        strcmp(partners->recipients[1], "Partenaire Beta") != 0) {
        printf("    the named recipients differ\n");
        goto out;
    }
    for (size_t i = 0; i < s->n_purposes; i++) {
        const site_purpose_t *p = &s->purposes[i];
        int want_gpc = p == ads || p == partners;
        if (p->gpc != want_gpc) {
            printf("    %s: gpc is %d, expected %d (GPC objects to ads and sharing)\n", p->id,
                   p->gpc, want_gpc);
            goto out;
        }
    }
    if (!site_api_key_matches(s, DEMO_KEY, strlen(DEMO_KEY))) {
        printf("    the demo key %s does not match api_key_sha256\n", DEMO_KEY);
        goto out;
    }
    rc = 0;
out:
    site_set_release(set);
    return rc;
}

/* ops/run.sh rewrites that one field: it must sit on a line of its own. */
static int demo_api_key_hash_is_on_its_own_line(void)
{
    char path[PATH_MAX];
    size_t len;
    FMT(path, "%s/ops/sites/demo.json", source_dir);
    char *text = read_file(path, &len);
    CHECK(text != NULL);
    int found = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strstr(line, "api_key_sha256") == NULL) continue;
        char hex[65];
        int end = 0;
        if (sscanf(line, " \"api_key_sha256\": \"%64[0-9a-f]\",%n", hex, &end) == 1 && end > 0 &&
            line[end] == '\0' && strlen(hex) == 64)
            found++;
    }
    free(text);
    CHECK(found == 1);
    return 0;
}

/* ---- good fixtures ------------------------------------------------------------- */

static int minimal_site_takes_the_defaults(void)
{
    char err[SITE_ERR_MAX];
    site_set_t *set = load_fixture("good/minimal.json", err, sizeof(err));
    if (set == NULL) {
        printf("    %s\n", err);
        return -1;
    }
    const site_t *s = site_set_at(set, 0);
    int ok = s != NULL && strcmp(s->id, "minimal") == 0 &&
             s->choice_lifetime_days == SITE_CHOICE_LIFETIME_DEFAULT_DAYS &&
             s->log_retention_days == 1825 && s->cookie_domain == NULL &&
             s->privacy_policy_url == NULL && s->purposes[0].n_recipients == 0 &&
             s->purposes[1].n_recipients == 2 &&
             strcmp(s->purposes[1].recipients[1], "Mesure SAS") == 0 && site_set_at(set, 1) == NULL;
    site_set_release(set);
    CHECK(ok);
    return 0;
}

/* Issue 20, item 5: "tags" in SITE_TAG_NAMES order whatever the file's, with
 * the purposes as the site's own ids; "google_consent_mode" with its rows. */
static int tags_and_google_consent_mode_load(void)
{
    char err[SITE_ERR_MAX];
    site_set_t *set = load_fixture("good/tags_consent_mode.json", err, sizeof(err));
    if (set == NULL) {
        printf("    %s\n", err);
        return -1;
    }
    const site_t *s = site_set_at(set, 0);
    int ok =
        s->n_tags == 2 && strcmp(s->tags[0].name, "microsoft_uet") == 0 &&
        s->tags[0].n_purposes == 2 && s->tags[0].purposes[0] == s->purposes[1].id &&
        s->tags[0].purposes[1] == s->purposes[0].id && strcmp(s->tags[1].name, "meta_pixel") == 0 &&
        s->tags[1].n_purposes == 1 && s->gcm.wait_for_update_ms == 1200 &&
        s->gcm.url_passthrough == 1 && s->gcm.ads_data_redaction == 0 && s->gcm.n_rows == 2 &&
        s->gcm.rows[0].n_regions == 2 && strcmp(s->gcm.rows[0].regions[0], "US-CA") == 0 &&
        s->gcm.rows[0].n_granted == 1 &&
        strcmp(s->gcm.rows[0].granted[0], "analytics_storage") == 0 &&
        s->gcm.rows[1].n_granted == 1 && strcmp(s->gcm.rows[1].granted[0], "security_storage") == 0;
    site_set_release(set);
    CHECK(ok);
    set = load_fixture("good/minimal.json", err, sizeof(err));
    CHECK(set != NULL);
    s = site_set_at(set, 0);
    ok = s->n_tags == 0 && s->tags == NULL && s->gcm.n_rows == 0 &&
         s->gcm.wait_for_update_ms == SITE_GCM_WAIT_DEFAULT_MS && !s->gcm.url_passthrough &&
         !s->gcm.ads_data_redaction;
    site_set_release(set);
    CHECK(ok);
    return 0;
}

static int variants_load_and_visitors_are_assigned_by_weight(void)
{
    char err[SITE_ERR_MAX];
    site_set_t *set = load_fixture("good/variants.json", err, sizeof(err));
    if (set == NULL) {
        printf("    %s\n", err);
        return -1;
    }
    const site_t *s = site_set_at(set, 0);
    int ok = s->stats_retention_days == 90 && s->n_variants == 2 && s->variants_weight == 4 &&
             strcmp(s->variants[0].layout, "bar") == 0 && s->variants[0].n_texts == 0 &&
             strcmp(s->variants[1].layout, "box") == 0 && s->variants[1].n_texts == 2 &&
             strcmp(s->variants[1].texts[0].lang, "fr") == 0 && s->variants[1].texts[0].n == 2 &&
             strcmp(s->variants[1].texts[0].keys[1], "accept") == 0 &&
             strcmp(s->variants[1].texts[0].values[1], "J'accepte") == 0 &&
             site_variant_find(s, "b", 1) == &s->variants[1] &&
             site_variant_find(s, "c", 1) == NULL && site_variant_find(s, "", 0) == NULL;
    /* The weights walked in order: r = FNV-1a(id) % 4; r < 1 is a, else b. */
    const char *v1 = "visitor-1";
    uint32_t h = 2166136261u;
    for (const char *c = v1; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    ok = ok && site_variant_assign(s, v1, strlen(v1)) == &s->variants[h % 4 == 0 ? 0 : 1];
    /* Over many ids the split follows the weights (1:3), and an id keeps its variant. */
    unsigned counts[2] = {0, 0};
    for (int i = 0; i < 40000 && ok; i++) {
        char id[32];
        int n = snprintf(id, sizeof(id), "visitor-%d", i);
        const site_variant_t *va = site_variant_assign(s, id, (size_t)n);
        ok = va != NULL && va == site_variant_assign(s, id, (size_t)n);
        counts[va == &s->variants[1]]++;
    }
    if (ok && (counts[0] < 9000 || counts[0] > 11000)) {
        printf("    a: %u of 40000, expected about 10000\n", counts[0]);
        ok = 0;
    }
    site_set_release(set);
    CHECK(ok);
    set = load_fixture("good/minimal.json", err, sizeof(err));
    CHECK(set != NULL);
    s = site_set_at(set, 0);
    ok = s->n_variants == 0 && site_variant_assign(s, "visitor-1", 9) == NULL &&
         s->stats_retention_days == SITE_STATS_RETENTION_DEFAULT_DAYS;
    site_set_release(set);
    CHECK(ok);
    return 0;
}

/* The demo site with "embeds" set to `embeds` (JSON text), loaded. */
static site_set_t *demo_with_embeds(const char *embeds, char *err, size_t errlen)
{
    char path[PATH_MAX];
    size_t len;
    FMT(path, "%s/ops/sites/demo.json", source_dir);
    char *text = read_file(path, &len);
    json_t *site = text != NULL ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    if (site == NULL) return NULL;
    json_object_set_new(site, "embeds", json_loads(embeds, 0, NULL));
    char *json = json_dumps(site, 0);
    json_decref(site);
    site_set_t *set =
        json != NULL ? site_set_load_one("demo.json", json, strlen(json), err, errlen) : NULL;
    free(json);
    return set;
}

static int embeds_are_declared_with_their_providers_or_not_at_all(void)
{
    char err[SITE_ERR_MAX];
    site_set_t *set =
        demo_with_embeds("[{\"host\": \"www.youtube-nocookie.com\", \"provider\": \"YouTube\"},"
                         " {\"host\": \"google.com\", \"provider\": \"Google Maps\"}]",
                         err, sizeof(err));
    if (set == NULL) {
        printf("    %s\n", err);
        return -1;
    }
    const site_t *s = site_set_at(set, 0);
    int ok = s->has_embeds == 1 && s->n_embeds == 2 &&
             strcmp(s->embeds[0].host, "www.youtube-nocookie.com") == 0 &&
             strcmp(s->embeds[0].provider, "YouTube") == 0 &&
             strcmp(s->embeds[1].host, "google.com") == 0 &&
             strcmp(s->embeds[1].provider, "Google Maps") == 0;
    site_set_release(set);
    CHECK(ok);
    /* Declared empty: placeholders on, no provider named. */
    set = demo_with_embeds("[]", err, sizeof(err));
    CHECK(set != NULL);
    ok = site_set_at(set, 0)->has_embeds == 1 && site_set_at(set, 0)->n_embeds == 0;
    site_set_release(set);
    CHECK(ok);
    /* Not declared: none. */
    set = load_fixture("good/minimal.json", err, sizeof(err));
    CHECK(set != NULL);
    ok = site_set_at(set, 0)->has_embeds == 0 && site_set_at(set, 0)->embeds == NULL;
    site_set_release(set);
    CHECK(ok);
    /* A bad one names its field (every reason: tests/http/embeds.test.mjs). */
    set = demo_with_embeds("[{\"host\": \"www.google.com:443\", \"provider\": \"Maps\"}]", err,
                           sizeof(err));
    CHECK(set == NULL);
    CHECK_HAS(err, "demo.json: embeds[0].host: must be a host name in lower case");
    return 0;
}

static int configured_origins_are_normalised_to_what_browsers_send(void)
{
    char err[SITE_ERR_MAX];
    site_set_t *set = load_fixture("good/full.json", err, sizeof(err));
    if (set == NULL) {
        printf("    %s\n", err);
        return -1;
    }
    const site_t *s = site_set_at(set, 0);
    int ok = s->n_origins == 3 && strcmp(s->origins[0], "https://www.example.com") == 0 &&
             strcmp(s->origins[1], "http://127.0.0.1:8080") == 0 &&
             strcmp(s->origins[2], "http://[::1]") == 0 &&
             strcmp(s->cookie_domain, ".example.com") == 0 && s->choice_lifetime_days == 395 &&
             s->log_retention_days == 3650 &&
             strcmp(s->privacy_policy_url, "https://www.example.com/privacy") == 0 &&
             s->n_languages == 3 && strcmp(s->languages[2], "pt-BR") == 0 &&
             s->purposes[2].legal_basis == LEGAL_BASIS_CONSENT && s->purposes[2].trackers == 1 &&
             s->purposes[2].retention_days == 1 &&
             strchr(s->purposes[0].texts[2].description, '\n') != NULL &&
             s->purposes[0].n_consent_mode == 0 && s->purposes[0].gpc == 0 &&
             s->purposes[1].n_consent_mode == 1 &&
             strcmp(s->purposes[1].consent_mode[0], "analytics_storage") == 0 &&
             s->purposes[1].gpc == 0 && s->purposes[2].n_consent_mode == 3 &&
             strcmp(s->purposes[2].consent_mode[2], "ad_personalization") == 0 &&
             s->purposes[2].gpc == 1;
    site_set_release(set);
    CHECK(ok);
    return 0;
}

/* Issue 19, item 5: legitimate interest only for a purpose that says it
 * uses no trackers; trackers default to true; a Consent Mode storage type
 * means trackers. */
static int legitimate_interest_is_only_for_purposes_without_trackers(void)
{
    static const char head[] =
        "{\"id\":\"x\",\"origins\":[\"https://a.example\"],\"languages\":[\"en\"],"
        "\"policy_version\":\"1\",\"controller\":{\"name\":\"A\",\"contact\":\"b\"},"
        "\"api_key_sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
        "\"purposes\":[{\"id\":\"n\",\"legal_basis\":\"necessary\",\"retention_days\":30,"
        "\"recipients\":[],\"texts\":{\"en\":{\"name\":\"N\",\"description\":\"D\"}}},"
        "{\"id\":\"p\",\"retention_days\":30,\"recipients\":[],"
        "\"texts\":{\"en\":{\"name\":\"P\",\"description\":\"D\"}},";
    char doc[1024], err[SITE_ERR_MAX];
    snprintf(doc, sizeof(doc), "%s%s}]}", head,
             "\"legal_basis\":\"legitimate_interest\",\"trackers\":false");
    site_set_t *set = site_set_load_one("x", doc, strlen(doc), err, sizeof(err));
    if (set == NULL) printf("    %s\n", err);
    CHECK(set != NULL);
    const site_t *s = site_find(set, "x", 1);
    int ok = s->purposes[0].trackers == 1 && s->purposes[1].trackers == 0 &&
             s->purposes[1].legal_basis == LEGAL_BASIS_LEGITIMATE_INTEREST;
    site_set_release(set);
    CHECK(ok); /* necessary: trackers by default, and allowed */
    snprintf(doc, sizeof(doc), "%s%s}]}", head, "\"legal_basis\":\"legitimate_interest\"");
    CHECK(site_set_load_one("x", doc, strlen(doc), err, sizeof(err)) == NULL);
    CHECK_HAS(err, "x: purposes[1].legal_basis: legitimate_interest cannot cover trackers");
    snprintf(doc, sizeof(doc), "%s%s}]}", head,
             "\"legal_basis\":\"legitimate_interest\",\"trackers\":false,"
             "\"consent_mode\":[\"ad_user_data\",\"analytics_storage\"]");
    CHECK(site_set_load_one("x", doc, strlen(doc), err, sizeof(err)) == NULL);
    CHECK_HAS(err, "x: purposes[1].trackers: false, yet consent_mode maps it onto "
                   "analytics_storage, which stores on the visitor's device");
    snprintf(doc, sizeof(doc), "%s%s}]}", head,
             "\"legal_basis\":\"consent\",\"trackers\":true,\"consent_mode\":[\"ad_storage\"]");
    set = site_set_load_one("x", doc, strlen(doc), err, sizeof(err));
    CHECK(set != NULL);
    site_set_release(set);
    return 0;
}

static int a_file_name_without_json_suffix_is_the_id(void)
{
    char err[SITE_ERR_MAX];
    const char *doc = "{\"id\":\"x\",\"origins\":[\"https://a.example\"],\"languages\":[\"en\"],"
                      "\"policy_version\":\"1\",\"controller\":{\"name\":\"A\",\"contact\":\"b\"},"
                      "\"api_key_sha256\":\"" /* SHA-256 of "" */
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
                      "\"purposes\":[{\"id\":\"p\",\"legal_basis\":\"consent\","
                      "\"retention_days\":30,\"recipients\":[],"
                      "\"texts\":{\"en\":{\"name\":\"P\",\"description\":\"D\"}}}]}";
    site_set_t *set = site_set_load_one("x", doc, strlen(doc), err, sizeof(err));
    if (set == NULL) {
        printf("    %s\n", err);
        return -1;
    }
    const site_t *s = site_find(set, "x", 1);
    /* the hash of the empty key is configured, yet an empty key never matches */
    int ok = s != NULL && !site_api_key_matches(s, "", 0);
    site_set_release(set);
    CHECK(ok);
    set = site_set_load_one("sites/y.json", doc, strlen(doc), err, sizeof(err));
    CHECK(set == NULL);
    CHECK_HAS(err, "sites/y.json: id: must be the file name without .json (\"y\")");
    return 0;
}

/* ---- bad fixtures -------------------------------------------------------------- */

typedef struct bad_case {
    const char *file;   /* in tests/fixtures/sites/bad/ */
    const char *field;  /* "<file>: <field>: " must start the message; NULL: no field */
    const char *reason; /* and this must be in it */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"bad_legal_basis.json", "purposes[1].legal_basis",
     "must be one of consent, legitimate_interest, necessary"},
    /* Issue 19, item 5: no legitimate interest for trackers, which a purpose
     * uses unless it says "trackers": false. */
    {"bad_trackers_legitimate_interest.json", "purposes[1].legal_basis",
     "legitimate_interest cannot cover trackers (ePrivacy Directive art. 5(3), French art. 82): "
     "use consent, or set \"trackers\": false if this purpose reads and writes nothing on the "
     "visitor's device"},
    {"bad_trackers_legitimate_interest_explicit.json", "purposes[1].legal_basis",
     "legitimate_interest cannot cover trackers"},
    {"bad_trackers_type.json", "purposes[1].trackers", "must be true or false"},
    {"bad_unknown_field.json", "colour", "unknown field"},
    {"bad_unknown_purpose_field.json", "purposes[0].colour", "unknown field"},
    {"bad_unknown_controller_field.json", "controller.phone", "unknown field"},
    {"bad_id_mismatch.json", "id", "must be the file name without .json"},
    {"bad_id_missing.json", "id", "is required"},
    {"bad_origin_path.json", "origins[0]", "must not end with '/'"},
    {"bad_origin_scheme.json", "origins[1]", "must be http://host[:port] or https://host[:port]"},
    {"bad_origin_port.json", "origins[1]", "invalid port"},
    {"bad_origin_duplicate.json", "origins[1]", "duplicate of origins[0]"},
    {"bad_origins_empty.json", "origins", "must not be empty"},
    {"bad_languages_empty.json", "languages", "must not be empty"},
    {"bad_language_code.json", "languages[1]", "must be a language code"},
    {"bad_language_duplicate.json", "languages[1]", "duplicate of languages[0]"},
    {"bad_policy_version_empty.json", "policy_version", "must not be empty"},
    {"bad_policy_version_long.json", "policy_version", "at most 64 bytes"},
    {"bad_lifetime.json", "choice_lifetime_days",
     "from 1 to 395 (395 days, 13 months, is the CNIL"},
    {"bad_lifetime_type.json", "choice_lifetime_days", "must be an integer"},
    {"bad_log_retention.json", "log_retention_days", "must be an integer from 1 to 3650"},
    {"bad_log_retention_short.json", "log_retention_days", "must be at least choice_lifetime_days"},
    {"bad_cookie_domain.json", "cookie_domain", "must be null or a domain name"},
    {"bad_controller_contact.json", "controller.contact", "is required"},
    {"bad_controller_name_empty.json", "controller.name", "must not be empty"},
    {"bad_privacy_url.json", "controller.privacy_policy_url", "must be an http:// or https:// URL"},
    {"bad_api_key_short.json", "api_key_sha256", "64 hex digits"},
    {"bad_api_key_hex.json", "api_key_sha256", "64 hex digits"},
    {"bad_api_key_missing.json", "api_key_sha256", "is required"},
    {"bad_purposes_empty.json", "purposes", "must not be empty"},
    {"bad_purpose_id.json", "purposes[0].id", "must match [a-z0-9_-]{1,64}"},
    {"bad_purpose_duplicate.json", "purposes[1].id", "duplicate of purposes[0].id"},
    {"bad_retention.json", "purposes[0].retention_days", "must be an integer from 1 to 3650"},
    {"bad_recipients_type.json", "purposes[1].recipients", "must be an array"},
    {"bad_recipient_empty.json", "purposes[1].recipients[1]", "must not be empty"},
    {"bad_text_missing_language.json", "purposes[1].texts.en", "is required"},
    {"bad_text_undeclared_language.json", "purposes[0].texts.de", "not declared in languages"},
    {"bad_text_description_empty.json", "purposes[0].texts.fr.description", "must not be empty"},
    {"bad_text_name_missing.json", "purposes[0].texts.en.name", "is required"},
    {"bad_text_unknown_field.json", "purposes[0].texts.en.title", "unknown field"},
    {"bad_text_too_long.json", "purposes[0].texts.en.description", "at most 4096 bytes"},
    {"bad_consent_mode_type.json", "purposes[1].consent_mode[0]", "must be one of ad_storage"},
    {"bad_consent_mode_duplicate.json", "purposes[1].consent_mode[1]", "duplicate of"},
    {"bad_gpc_type.json", "purposes[1].gpc", "must be true or false"},
    {"bad_variants_empty.json", "variants", "must not be empty"},
    {"bad_variant_id.json", "variants[0].id", "must match [a-z0-9_-]{1,32}"},
    {"bad_variant_duplicate.json", "variants[1].id", "\"a\" is declared twice"},
    {"bad_variant_weight.json", "variants[0].weight", "must be an integer from 1 to 10000"},
    {"bad_variant_layout.json", "variants[0].layout", "must be \"bar\" or \"box\""},
    {"bad_variant_unknown_field.json", "variants[0].colour", "unknown field"},
    {"bad_variant_text_language.json", "variants[0].texts.de", "not declared in languages"},
    {"bad_variant_text_empty.json", "variants[0].texts.fr.title", "must not be empty"},
    {"bad_stats_retention.json", "stats_retention_days", "must be an integer from 1 to 3650"},
    {"bad_syntax.json", NULL, "line 4, column"},
    {"bad_not_object.json", NULL, "must be a JSON object"},
    {"bad_duplicate_key.json", NULL, "duplicate object key"},
};
#define BAD_CASES (sizeof(bad_cases) / sizeof(bad_cases[0]))

static int bad_site_files_are_refused_naming_file_field_and_reason(void)
{
    int bad = 0;
    for (size_t i = 0; i < BAD_CASES; i++) {
        const bad_case_t *c = &bad_cases[i];
        char rel[PATH_MAX], path[PATH_MAX], want[PATH_MAX + 128], err[SITE_ERR_MAX] = "";
        FMT(rel, "bad/%s", c->file);
        FMT(path, "%s/tests/fixtures/sites/%s", source_dir, rel);
        site_set_t *set = load_fixture(rel, err, sizeof(err));
        if (set != NULL) {
            printf("    %s: accepted\n", c->file);
            site_set_release(set);
            bad++;
            continue;
        }
        if (c->field != NULL)
            FMT(want, "%s: %s: ", path, c->field);
        else
            FMT(want, "%s: ", path);
        if (strncmp(err, want, strlen(want)) != 0 || strstr(err, c->reason) == NULL) {
            printf("    %s: got \"%s\"\n      expected \"%s...%s\"\n", c->file, err, want,
                   c->reason);
            bad++;
        }
    }
    CHECK(bad == 0);
    return 0;
}

/* A fixture nobody checks is a test that cannot fail. */
static int every_bad_fixture_is_in_the_table(void)
{
    char dir[PATH_MAX];
    FMT(dir, "%s/tests/fixtures/sites/bad", source_dir);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    int missing = 0, count = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        count++;
        int listed = 0;
        for (size_t i = 0; i < BAD_CASES && !listed; i++)
            listed = strcmp(bad_cases[i].file, e->d_name) == 0;
        if (!listed) {
            printf("    %s is not in bad_cases\n", e->d_name);
            missing++;
        }
    }
    closedir(d);
    CHECK(missing == 0);
    CHECK(count == (int)BAD_CASES);
    return 0;
}

static void add_purposes(json_t *doc)
{
    json_t *purposes = json_object_get(doc, "purposes");
    json_t *first = json_array_get(purposes, 0);
    for (int i = (int)json_array_size(purposes); i <= SITE_MAX_PURPOSES; i++) {
        char id[16];
        snprintf(id, sizeof(id), "p%d", i);
        json_t *p = json_deep_copy(first);
        json_object_set_new(p, "id", json_string(id));
        json_array_append_new(purposes, p);
    }
}

static void add_origins(json_t *doc)
{
    json_t *origins = json_object_get(doc, "origins");
    for (int i = (int)json_array_size(origins); i <= SITE_MAX_ORIGINS; i++) {
        char o[64];
        snprintf(o, sizeof(o), "https://o%d.example.com", i);
        json_array_append_new(origins, json_string(o));
    }
}

static void add_recipients(json_t *doc)
{
    json_t *r = json_object_get(json_array_get(json_object_get(doc, "purposes"), 1), "recipients");
    while (json_array_size(r) <= SITE_MAX_RECIPIENTS)
        json_array_append_new(r, json_string("Recipient"));
}

static void add_languages(json_t *doc)
{
    json_t *l = json_object_get(doc, "languages");
    for (int i = 0; json_array_size(l) <= SITE_MAX_LANGUAGES; i++) {
        char code[3] = {(char)('q' + i / 26), (char)('a' + i % 26), '\0'}; /* qa, qb, ... */
        json_array_append_new(l, json_string(code));
    }
}

static int counts_beyond_the_limits_are_refused(void)
{
    static const struct {
        void (*edit)(json_t *);
        const char *want;
    } cases[] = {
        {add_purposes, "minimal.json: purposes: must have at most 32 entries"},
        {add_origins, "minimal.json: origins: must have at most 32 entries"},
        {add_recipients, "minimal.json: purposes[1].recipients: must have at most 32 entries"},
        {add_languages, "minimal.json: languages: must have at most 32 entries"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[SITE_ERR_MAX] = "";
        site_set_t *set =
            load_modified("good/minimal.json", "minimal.json", cases[i].edit, err, sizeof(err));
        if (set != NULL || strcmp(err, cases[i].want) != 0) {
            printf("    got \"%s\", expected \"%s\"\n", set ? "accepted" : err, cases[i].want);
            site_set_release(set);
            bad++;
        }
    }
    CHECK(bad == 0);
    return 0;
}

/* ---- directories --------------------------------------------------------------- */

static int an_empty_directory_is_a_valid_empty_set(void)
{
    char dir[PATH_MAX], err[SITE_ERR_MAX];
    CHECK(tmpdir_make(dir, sizeof(dir)) == 0);
    site_set_t *set = site_set_load(dir, err, sizeof(err));
    tmpdir_remove(dir);
    CHECK(set != NULL);
    int ok = site_set_count(set) == 0 && site_set_at(set, 0) == NULL &&
             site_find(set, "demo", 4) == NULL;
    site_set_release(set);
    CHECK(ok);
    return 0;
}

static int dotfiles_other_files_and_subdirectories_are_ignored(void)
{
    char dir[PATH_MAX], err[SITE_ERR_MAX];
    FMT(dir, "%s/tests/fixtures/sites/ignored", source_dir);
    site_set_t *set = site_set_load(dir, err, sizeof(err));
    if (set == NULL) {
        printf("    %s\n", err);
        return -1;
    }
    size_t n = site_set_count(set);
    site_set_release(set);
    CHECK(n == 0);
    return 0;
}

static int one_bad_file_among_good_ones_fails_naming_it(void)
{
    char dir[PATH_MAX], err[SITE_ERR_MAX] = "", want[PATH_MAX + 128];
    FMT(dir, "%s/tests/fixtures/sites/mixed", source_dir);
    site_set_t *set = site_set_load(dir, err, sizeof(err));
    if (set != NULL) site_set_release(set);
    CHECK(set == NULL);
    FMT(want,
        "%s/beta.json: purposes[1].legal_basis: must be one of consent, "
        "legitimate_interest, necessary",
        dir);
    CHECK_STR(err, want);
    return 0;
}

static int a_missing_directory_fails_naming_it(void)
{
    char err[SITE_ERR_MAX] = "";
    site_set_t *set = site_set_load("/nonexistent/consentd/sites", err, sizeof(err));
    CHECK(set == NULL);
    CHECK_HAS(err, "/nonexistent/consentd/sites: ");
    CHECK_HAS(err, "No such file");
    return 0;
}

/* Many sites: every one is found by binary search, none that is not there. */
static int site_find_finds_every_site_of_a_large_set(void)
{
    char dir[PATH_MAX], err[SITE_ERR_MAX], path[PATH_MAX], fixture[PATH_MAX];
    size_t len;
    FMT(fixture, "%s/tests/fixtures/sites/good/minimal.json", source_dir);
    char *text = read_file(fixture, &len);
    CHECK(text != NULL);
    CHECK(tmpdir_make(dir, sizeof(dir)) == 0);
    int rc = 0;
    for (int i = 0; i < TEST_MANY_SITES && rc == 0; i++) {
        /* ids of varied lengths, so that prefixes sort next to each other */
        char id[32];
        snprintf(id, sizeof(id), i % 3 == 0 ? "s%d" : i % 3 == 1 ? "s%d-x" : "s%d_long_id", i);
        json_error_t jerr;
        json_t *doc = json_loads(text, 0, &jerr);
        json_object_set_new(doc, "id", json_string(id));
        char *out = json_dumps(doc, JSON_INDENT(2));
        json_decref(doc);
        FMT(path, "%s/%s.json", dir, id);
        rc = write_file(path, out);
        free(out);
    }
    free(text);
    site_set_t *set = rc == 0 ? site_set_load(dir, err, sizeof(err)) : NULL;
    tmpdir_remove(dir);
    if (set == NULL) {
        printf("    %s\n", rc == 0 ? err : "cannot write the sites");
        return -1;
    }
    int bad = site_set_count(set) != TEST_MANY_SITES;
    for (size_t i = 0; i < site_set_count(set); i++) {
        const site_t *s = site_set_at(set, i);
        if (site_find(set, s->id, strlen(s->id)) != s) bad++;
        if (i > 0 && strcmp(site_set_at(set, i - 1)->id, s->id) >= 0) bad++;
    }
    static const char *const absent[] = {"s", "s1-", "s10_long_i", "s99", "t", "", "s0x"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        if (site_find(set, absent[i], strlen(absent[i])) != NULL) bad++;
    /* not NUL-terminated at len: only len bytes count */
    if (site_find(set, "s1-xyz", 4) == NULL ||
        site_find(set, "s1-xyz", 4) != site_find(set, "s1-x", 4))
        bad++;
    site_set_release(set);
    CHECK(bad == 0);
    return 0;
}

/* Issue 22, item 4: a load after a previous set parses only what changed.
 * Two files and two documents; then the same again (nothing parsed, every
 * site shared, and still readable once the previous set is gone: ASan),
 * then one document at a new version and one file changed (two parsed), a
 * document shadowing a file (the file not read: even an invalid one). */
static int a_load_after_a_set_parses_only_the_changed_sites(void)
{
    char dir[PATH_MAX], err[SITE_ERR_MAX], path[PATH_MAX], fixture[PATH_MAX];
    size_t len;
    FMT(fixture, "%s/tests/fixtures/sites/good/minimal.json", source_dir);
    char *text = read_file(fixture, &len);
    CHECK(text != NULL);
    CHECK(tmpdir_make(dir, sizeof(dir)) == 0);
    char *json[4];
    static const char *const ids[4] = {"fa", "fb", "da", "db"};
    for (int i = 0; i < 4; i++) {
        json_t *doc = json_loads(text, 0, NULL);
        json_object_set_new(doc, "id", json_string(ids[i]));
        json[i] = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
        json_decref(doc);
    }
    free(text);
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        FMT(path, "%s/%s.json", dir, ids[i]);
        rc |= write_file(path, json[i]);
    }
    site_doc_t docs[2] = {{"da", 1, json[2], strlen(json[2])}, {"db", 1, json[3], strlen(json[3])}};
    site_set_t *first =
        rc == 0 ? site_set_load_with(dir, NULL, docs, 2, NULL, err, sizeof(err)) : NULL;
    if (first == NULL) printf("    %s\n", err);
    int bad = first == NULL || site_set_count(first) != 4 || site_set_parsed(first) != 4;
    site_set_t *same = first != NULL
                           ? site_set_load_after(dir, NULL, docs, 2, first, NULL, err, sizeof(err))
                           : NULL;
    bad += same == NULL || site_set_count(same) != 4 || site_set_parsed(same) != 0;
    site_set_release(first);
    for (size_t i = 0; same != NULL && i < site_set_count(same); i++) {
        const site_t *s = site_set_at(same, i);
        bad += s->n_purposes == 0 || site_find(same, s->id, strlen(s->id)) != s ||
               strlen(s->purposes[0].id) == 0;
    }
    /* da at version 2 (same bytes), fb changed (a new policy version), and a
     * file fx whose site is published in Redis, invalid: not read. */
    FMT(path, "%s/fb.json", dir);
    json_t *doc = json_loads(json[1], 0, NULL);
    json_object_set_new(doc, "policy_version", json_string("2"));
    char *changed = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    rc = write_file(path, changed);
    free(changed);
    FMT(path, "%s/db.json", dir);
    rc |= write_file(path, "{ not a site");
    docs[0].version = 2;
    site_set_t *next = same != NULL && rc == 0
                           ? site_set_load_after(dir, NULL, docs, 2, same, NULL, err, sizeof(err))
                           : NULL;
    if (next == NULL) printf("    %s\n", err);
    bad += next == NULL || site_set_count(next) != 4 || site_set_parsed(next) != 2;
    const site_t *fb = next != NULL ? site_find(next, "fb", 2) : NULL;
    const site_t *da = next != NULL ? site_find(next, "da", 2) : NULL;
    bad += fb == NULL || strcmp(fb->policy_version, "2") != 0 || da == NULL || da->version != 2;
    /* Issue 22, item 2 (the operator's created and deleted sites): da
     * deleted, its bytes and version unchanged (shared with next, yet not
     * served in this set, and still served in next); fa known in Redis and
     * not served, beside its file: the file's site stays served, from both;
     * db served over its (invalid, unread) file: from both. */
    site_doc_t marks[3] = {{"da", 2, json[2], strlen(json[2]), 1},
                           {"db", 1, json[3], strlen(json[3]), 0},
                           {"fa", 1, json[0], strlen(json[0]), 1}};
    site_set_t *after = next != NULL
                            ? site_set_load_after(dir, NULL, marks, 3, next, NULL, err, sizeof(err))
                            : NULL;
    if (after == NULL) printf("    %s\n", err);
    const site_t *a_da = after != NULL ? site_find(after, "da", 2) : NULL;
    const site_t *a_fa = after != NULL ? site_find(after, "fa", 2) : NULL;
    const site_t *a_db = after != NULL ? site_find(after, "db", 2) : NULL;
    bad += after == NULL || site_set_count(after) != 4;
    bad += a_da == NULL || a_da->served != 0 || a_da->from != SITE_FROM_REDIS;
    bad += a_fa == NULL || a_fa->served != 1 || a_fa->from != (SITE_FROM_FILE | SITE_FROM_REDIS);
    bad += a_db == NULL || a_db->served != 1 || a_db->from != (SITE_FROM_FILE | SITE_FROM_REDIS);
    bad += da == NULL || da->served != 1;
    site_set_release(after);
    site_set_release(same);
    site_set_release(next);
    tmpdir_remove(dir);
    for (int i = 0; i < 4; i++)
        free(json[i]);
    CHECK(bad == 0);
    return 0;
}

/* ---- lookups ------------------------------------------------------------------- */

static site_set_t *good_set(void)
{
    char dir[PATH_MAX], err[SITE_ERR_MAX];
    FMT(dir, "%s/tests/fixtures/sites/good", source_dir);
    site_set_t *set = site_set_load(dir, err, sizeof(err));
    if (set == NULL) printf("    %s\n", err);
    return set;
}

static int site_find_matches_exact_ids_only(void)
{
    site_set_t *set = good_set();
    CHECK(set != NULL);
    int ok = site_set_count(set) == 4 && site_find(set, "full", 4) != NULL &&
             strcmp(site_find(set, "full", 4)->id, "full") == 0 &&
             site_find(set, "minimal", 7) != NULL && site_find(set, "ful", 3) == NULL &&
             site_find(set, "fulll", 5) == NULL && site_find(set, "FULL", 4) == NULL &&
             site_find(set, "", 0) == NULL && site_find(set, NULL, 0) == NULL &&
             site_find(NULL, "full", 4) == NULL && site_find(set, "full\0", 5) == NULL &&
             strcmp(site_set_at(set, 0)->id, "full") == 0;
    site_set_release(set);
    CHECK(ok);
    return 0;
}

static int origin_allowed_compares_exact_bytes(void)
{
    site_set_t *set = good_set();
    CHECK(set != NULL);
    const site_t *s = site_find(set, "full", 4);
    static const struct {
        const char *origin;
        int allowed;
    } cases[] = {
        {"https://www.example.com", 1},
        {"http://127.0.0.1:8080", 1},
        {"http://[::1]", 1},
        {"https://www.example.com/", 0},
        {"https://WWW.EXAMPLE.COM", 0},
        {"http://www.example.com", 0},
        {"https://www.example.com:443", 0},
        {"https://example.com", 0},
        {"https://www.example.com.evil.test", 0},
        {"null", 0},
        {"", 0},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (site_origin_allowed(s, cases[i].origin, strlen(cases[i].origin)) != cases[i].allowed) {
            printf("    %s: expected %d\n", cases[i].origin, cases[i].allowed);
            bad++;
        }
    /* a prefix of an allowed origin, by length */
    if (site_origin_allowed(s, "https://www.example.com", 22)) bad++;
    if (site_origin_allowed(NULL, "https://www.example.com", 23) || site_origin_allowed(s, NULL, 0))
        bad++;
    site_set_release(set);
    CHECK(bad == 0);
    return 0;
}

static int api_key_matches_only_the_key_whose_hash_is_configured(void)
{
    site_set_t *set = good_set();
    CHECK(set != NULL);
    const site_t *s = site_find(set, "minimal", 7);
    int ok = site_api_key_matches(s, DEMO_KEY, strlen(DEMO_KEY)) == 1 &&
             site_api_key_matches(s, "demo-key-change-mE", 18) == 0 &&
             site_api_key_matches(s, DEMO_KEY, strlen(DEMO_KEY) - 1) == 0 &&
             site_api_key_matches(s, DEMO_KEY "x", strlen(DEMO_KEY) + 1) == 0 &&
             site_api_key_matches(s, "", 0) == 0 && site_api_key_matches(s, NULL, 0) == 0 &&
             site_api_key_matches(NULL, DEMO_KEY, strlen(DEMO_KEY)) == 0;
    site_set_release(set);
    CHECK(ok);
    return 0;
}

static int purpose_find_and_text_fall_back_to_the_first_language(void)
{
    site_set_t *set = good_set();
    CHECK(set != NULL);
    const site_t *s = site_find(set, "full", 4);
    const site_purpose_t *p = site_purpose_find(s, "audience", 8);
    int ok = p != NULL && strcmp(p->id, "audience") == 0 &&
             site_purpose_find(s, "audiencex", 8) == p &&
             site_purpose_find(s, "audienc", 7) == NULL &&
             site_purpose_find(s, "audiences", 9) == NULL && site_purpose_find(s, "", 0) == NULL &&
             site_purpose_find(s, "ads_2", 5) == &s->purposes[2] &&
             site_purpose_find(NULL, "audience", 8) == NULL;
    if (ok) {
        const site_text_t *en = site_purpose_text(s, p, "en");
        const site_text_t *fr = site_purpose_text(s, p, "fr");
        const site_text_t *br = site_purpose_text(s, p, "pt-BR");
        const site_text_t *de = site_purpose_text(s, p, "de");
        const site_text_t *none = site_purpose_text(s, p, NULL);
        ok = en != NULL && strcmp(en->lang, "en") == 0 &&
             strcmp(en->description, "Measuring visits.") == 0 && fr != NULL &&
             strcmp(fr->lang, "fr") == 0 &&
             strcmp(fr->description, "Mesurer la fréquentation.") == 0 && br != NULL &&
             strcmp(br->lang, "pt-BR") == 0 && de == en && none == en /* "en" is first in full */;
    }
    site_set_release(set);
    CHECK(ok);
    return 0;
}

static int legal_basis_names_are_the_file_spelling(void)
{
    CHECK_STR(legal_basis_name(LEGAL_BASIS_CONSENT), "consent");
    CHECK_STR(legal_basis_name(LEGAL_BASIS_LEGITIMATE_INTEREST), "legitimate_interest");
    CHECK_STR(legal_basis_name(LEGAL_BASIS_NECESSARY), "necessary");
    return 0;
}

/* ---- reference counting ---------------------------------------------------------- */

static int a_retained_set_outlives_the_loaders_release(void)
{
    site_set_t *set = good_set();
    CHECK(set != NULL);
    CHECK(site_set_retain(set) == set);
    CHECK(site_set_retain(set) == set);
    site_set_release(set); /* the loader's reference */
    site_set_release(set);
    /* one reference left: still readable (ASan would report a use after free) */
    const site_t *s = site_find(set, "full", 4);
    int ok = s != NULL && strcmp(s->id, "full") == 0 &&
             strcmp(s->purposes[0].texts[0].name, "Necessary") == 0;
    site_set_release(set); /* freed here; LeakSanitizer checks nothing is left */
    site_set_release(NULL);
    CHECK(site_set_retain(NULL) == NULL);
    CHECK(site_set_count(NULL) == 0 && site_set_at(NULL, 0) == NULL);
    CHECK(ok);
    return 0;
}

static void *retain_release_loop(void *arg)
{
    site_set_t *set = arg;
    for (int i = 0; i < TEST_RETAINS_PER_THREAD; i++) {
        site_set_retain(set);
        if (site_find(set, "minimal", 7) == NULL) return (void *)1;
        site_set_release(set);
    }
    site_set_release(set); /* the reference the main thread took for us */
    return NULL;
}

static int concurrent_retain_and_release_free_the_set_exactly_once(void)
{
    site_set_t *set = good_set();
    CHECK(set != NULL);
    pthread_t threads[TEST_THREADS];
    int started = 0, bad = 0;
    for (int i = 0; i < TEST_THREADS; i++) {
        site_set_retain(set);
        if (pthread_create(&threads[i], NULL, retain_release_loop, set) != 0) {
            site_set_release(set);
            bad++;
            break;
        }
        started++;
    }
    site_set_release(set); /* the loader's: the last thread to finish frees it */
    for (int i = 0; i < started; i++) {
        void *res;
        pthread_join(threads[i], &res);
        if (res != NULL) bad++;
    }
    CHECK(bad == 0);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_source_dir(source_dir, sizeof(source_dir));
    check_run("demo_site_loads_with_its_purposes_and_legal_bases",
              demo_site_loads_with_its_purposes_and_legal_bases);
    check_run("demo_api_key_hash_is_on_its_own_line", demo_api_key_hash_is_on_its_own_line);
    check_run("minimal_site_takes_the_defaults", minimal_site_takes_the_defaults);
    check_run("tags_and_google_consent_mode_load", tags_and_google_consent_mode_load);
    check_run("variants_load_and_visitors_are_assigned_by_weight",
              variants_load_and_visitors_are_assigned_by_weight);
    check_run("embeds_are_declared_with_their_providers_or_not_at_all",
              embeds_are_declared_with_their_providers_or_not_at_all);
    check_run("legitimate_interest_is_only_for_purposes_without_trackers",
              legitimate_interest_is_only_for_purposes_without_trackers);
    check_run("configured_origins_are_normalised_to_what_browsers_send",
              configured_origins_are_normalised_to_what_browsers_send);
    check_run("a_file_name_without_json_suffix_is_the_id",
              a_file_name_without_json_suffix_is_the_id);
    check_run("bad_site_files_are_refused_naming_file_field_and_reason",
              bad_site_files_are_refused_naming_file_field_and_reason);
    check_run("every_bad_fixture_is_in_the_table", every_bad_fixture_is_in_the_table);
    check_run("counts_beyond_the_limits_are_refused", counts_beyond_the_limits_are_refused);
    check_run("an_empty_directory_is_a_valid_empty_set", an_empty_directory_is_a_valid_empty_set);
    check_run("dotfiles_other_files_and_subdirectories_are_ignored",
              dotfiles_other_files_and_subdirectories_are_ignored);
    check_run("one_bad_file_among_good_ones_fails_naming_it",
              one_bad_file_among_good_ones_fails_naming_it);
    check_run("a_missing_directory_fails_naming_it", a_missing_directory_fails_naming_it);
    check_run("site_find_finds_every_site_of_a_large_set",
              site_find_finds_every_site_of_a_large_set);
    check_run("site_find_matches_exact_ids_only", site_find_matches_exact_ids_only);
    check_run("a_load_after_a_set_parses_only_the_changed_sites",
              a_load_after_a_set_parses_only_the_changed_sites);
    check_run("origin_allowed_compares_exact_bytes", origin_allowed_compares_exact_bytes);
    check_run("api_key_matches_only_the_key_whose_hash_is_configured",
              api_key_matches_only_the_key_whose_hash_is_configured);
    check_run("purpose_find_and_text_fall_back_to_the_first_language",
              purpose_find_and_text_fall_back_to_the_first_language);
    check_run("legal_basis_names_are_the_file_spelling", legal_basis_names_are_the_file_spelling);
    check_run("a_retained_set_outlives_the_loaders_release",
              a_retained_set_outlives_the_loaders_release);
    check_run("concurrent_retain_and_release_free_the_set_exactly_once",
              concurrent_retain_and_release_free_the_set_exactly_once);
    return check_summary();
}
