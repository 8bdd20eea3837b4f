/*
 * site_cleanup_test.c - the site file's clean-up declarations (issue 20,
 * item 1; src/site.c): per purpose, the cookies ("cookies": [{"name",
 * "domain"}]) and storage keys ("storage") its trackers set, which the
 * banner deletes when the purpose is refused or withdrawn, and the site's
 * "reload_on_withdrawal". What loads, with what defaults, and every refusal
 * word for word ("<file>: <field>: <reason>").
 */
#include "check.h"
#include "site.h"

#include <stdio.h>
#include <string.h>

/* A site with the origins https://www.example.com and
 * http://shop.example.co.uk:8080, a necessary purpose and purpose "ads"
 * (consent) whose fields end with `ads` (a JSON fragment, may be empty), and
 * `root` more top-level fields (a fragment ending with ',', may be empty). */
static site_set_t *load(const char *root, const char *necessary, const char *ads, char *err,
                        size_t errlen)
{
    char doc[4096];
    FMT(doc,
        "{\"id\":\"x\",%s\"origins\":[\"https://www.example.com\","
        "\"http://shop.example.co.uk:8080\"],\"languages\":[\"en\"],"
        "\"policy_version\":\"1\",\"controller\":{\"name\":\"A\",\"contact\":\"b\"},"
        "\"api_key_sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
        "\"purposes\":[{\"id\":\"n\",\"legal_basis\":\"necessary\",\"retention_days\":30,"
        "\"recipients\":[],\"texts\":{\"en\":{\"name\":\"N\",\"description\":\"D\"}}%s},"
        "{\"id\":\"ads\",\"legal_basis\":\"consent\",\"retention_days\":30,\"recipients\":[],"
        "\"texts\":{\"en\":{\"name\":\"P\",\"description\":\"D\"}}%s}]}",
        root, necessary, ads);
    return site_set_load_one("x.json", doc, strlen(doc), err, errlen);
}

static int cookies_and_storage_load_with_lower_case_domains_and_reload_on_by_default(void)
{
    char err[SITE_ERR_MAX];
    site_set_t *set = load("", "",
                           ",\"cookies\":[{\"name\":\"_ga\"},{\"name\":\"_ga_*\"},"
                           "{\"name\":\"_fbp\",\"domain\":\".Example.COM\"},"
                           "{\"name\":\"_uetsid\",\"domain\":\"shop.example.co.uk\"},"
                           "{\"name\":\"_ga\",\"domain\":\"example.com\"}],"
                           "\"storage\":[\"_hjSession*\",\"key with spaces\"]",
                           err, sizeof(err));
    if (set == NULL) printf("    %s\n", err);
    CHECK(set != NULL);
    const site_t *s = site_set_at(set, 0);
    const site_purpose_t *n = &s->purposes[0], *p = &s->purposes[1];
    int ok = s->reload_on_withdrawal == 1 && n->n_cookies == 0 && n->cookies == NULL &&
             n->n_storage == 0 && p->n_cookies == 5 && strcmp(p->cookies[0].name, "_ga") == 0 &&
             p->cookies[0].domain == NULL && strcmp(p->cookies[1].name, "_ga_*") == 0 &&
             strcmp(p->cookies[2].domain, "example.com") == 0 &&
             strcmp(p->cookies[3].domain, "shop.example.co.uk") == 0 && p->n_storage == 2 &&
             strcmp(p->storage[0], "_hjSession*") == 0 &&
             strcmp(p->storage[1], "key with spaces") == 0;
    site_set_release(set);
    CHECK(ok);

    set = load("\"reload_on_withdrawal\":false,", "", "", err, sizeof(err));
    CHECK(set != NULL);
    ok = site_set_at(set, 0)->reload_on_withdrawal == 0;
    site_set_release(set);
    CHECK(ok);

    /* The site's cookie_domain is reachable even if no origin is under it
     * (the banner writes its own cookie there). */
    set = load("\"cookie_domain\":\"example.org\",", "",
               ",\"cookies\":[{\"name\":\"_gid\",\"domain\":\"example.org\"}]", err, sizeof(err));
    if (set == NULL) printf("    %s\n", err);
    CHECK(set != NULL);
    site_set_release(set);
    return 0;
}

typedef struct {
    const char *root, *necessary, *ads; /* the fragments load() takes */
    const char *message;                /* the whole message */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"", ",\"cookies\":[{\"name\":\"sid\"}]", "",
     "x.json: purposes[0].cookies: a necessary purpose is never refused, so the banner never "
     "deletes what it stores: declare only the cookies of purposes the visitor can refuse"},
    {"", ",\"storage\":[\"cart\"]", "",
     "x.json: purposes[0].storage: a necessary purpose is never refused, so the banner never "
     "deletes what it stores: declare only the cookies of purposes the visitor can refuse"},
    {"", "", ",\"trackers\":false,\"storage\":[\"k\"]",
     "x.json: purposes[1].trackers: false, yet the purpose declares the cookies or storage keys "
     "its trackers set"},
    {"", "", ",\"cookies\":{\"name\":\"_ga\"}", "x.json: purposes[1].cookies: must be an array"},
    {"", "", ",\"cookies\":[\"_ga\"]",
     "x.json: purposes[1].cookies[0]: must be an object: {\"name\": \"_ga\"}, and optionally "
     "\"domain\""},
    {"", "", ",\"cookies\":[{\"domain\":\"example.com\"}]",
     "x.json: purposes[1].cookies[0].name: is required"},
    {"", "", ",\"cookies\":[{\"name\":\"_ga\",\"path\":\"/\"}]",
     "x.json: purposes[1].cookies[0].path: unknown field (known fields: name, domain)"},
    {"", "", ",\"cookies\":[{\"name\":\"\"}]",
     "x.json: purposes[1].cookies[0].name: must be 1 to 128 bytes long"},
    {"", "", ",\"cookies\":[{\"name\":\"_ga;x\"}]",
     "x.json: purposes[1].cookies[0].name: must be a cookie name: letters, digits and "
     "!#$%&'*+-.^_`|~ ('*' standing for any characters)"},
    {"", "", ",\"cookies\":[{\"name\":\"**\"}]",
     "x.json: purposes[1].cookies[0].name: must name something: '*' alone would match "
     "everything"},
    {"", "", ",\"cookies\":[{\"name\":\"_ga\"},{\"name\":\"c*d\"}]",
     "x.json: purposes[1].cookies[1].name: must not match \"consentd\", where the banner keeps "
     "the visitor's choice"},
    {"", "", ",\"cookies\":[{\"name\":\"_ga\"},{\"name\":\"_ga\"}]",
     "x.json: purposes[1].cookies[1].name: \"_ga\" is declared twice in this purpose"},
    {"", "", ",\"cookies\":[{\"name\":\"_ga\",\"domain\":\"other.com\"}]",
     "x.json: purposes[1].cookies[0].domain: \"other.com\" is neither the site's cookie_domain, "
     "nor the host of one of its origins, nor a parent of them: the banner could not delete "
     "cookies there"},
    {"", "", ",\"cookies\":[{\"name\":\"_ga\",\"domain\":\"ample.com\"}]",
     "x.json: purposes[1].cookies[0].domain: \"ample.com\" is neither the site's cookie_domain, "
     "nor the host of one of its origins, nor a parent of them: the banner could not delete "
     "cookies there"},
    {"", "", ",\"cookies\":[{\"name\":\"_ga\",\"domain\":\"a.www.example.com\"}]",
     "x.json: purposes[1].cookies[0].domain: \"a.www.example.com\" is neither the site's "
     "cookie_domain, nor the host of one of its origins, nor a parent of them: the banner "
     "could not delete cookies there"},
    {"", "", ",\"cookies\":[{\"name\":\"_ga\",\"domain\":\"com\"}]",
     "x.json: purposes[1].cookies[0].domain: must be a domain name like \"example.com\""},
    {"", "", ",\"cookies\":[{\"name\":\"_ga\",\"domain\":\"https://example.com\"}]",
     "x.json: purposes[1].cookies[0].domain: must be a domain name like \"example.com\""},
    {"", "", ",\"cookies\":[{\"name\":\"_ga\",\"domain\":\"0.0.1\"}]",
     "x.json: purposes[1].cookies[0].domain: must be a domain name like \"example.com\""},
    {"", "", ",\"storage\":\"k\"", "x.json: purposes[1].storage: must be an array"},
    {"", "", ",\"storage\":[\"k\",1]", "x.json: purposes[1].storage[1]: must be a string"},
    {"", "", ",\"storage\":[\"consentd\"]",
     "x.json: purposes[1].storage[0]: must not match \"consentd\", where the banner keeps the "
     "visitor's choice"},
    {"", "", ",\"storage\":[\"*\"]",
     "x.json: purposes[1].storage[0]: must name something: '*' alone would match everything"},
    {"", "", ",\"storage\":[\"a\\nb\"]",
     "x.json: purposes[1].storage[0]: must not contain control characters"},
    {"", "", ",\"storage\":[\"k\",\"k\"]",
     "x.json: purposes[1].storage[1]: \"k\" is declared twice in this purpose"},
    {"\"reload_on_withdrawal\":1,", "", "", "x.json: reload_on_withdrawal: must be true or false"},
};

static int bad_declarations_are_refused_naming_file_field_and_reason(void)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *c = &bad_cases[i];
        char err[SITE_ERR_MAX] = "";
        site_set_t *set = load(c->root, c->necessary, c->ads, err, sizeof(err));
        if (set != NULL) site_set_release(set);
        CHECK(set == NULL);
        CHECK_STR(err, c->message);
    }
    return 0;
}

static int too_many_cookies_are_refused(void)
{
    char ads[2048] = ",\"cookies\":[", err[SITE_ERR_MAX];
    for (int i = 0; i <= SITE_MAX_COOKIES; i++)
        snprintf(ads + strlen(ads), sizeof(ads) - strlen(ads), "%s{\"name\":\"c%d\"}",
                 i > 0 ? "," : "", i);
    strcat(ads, "]");
    site_set_t *set = load("", "", ads, err, sizeof(err));
    if (set != NULL) site_set_release(set);
    CHECK(set == NULL);
    CHECK_STR(err, "x.json: purposes[1].cookies: must have at most 64 entries");
    return 0;
}

/* tests/fixtures/sites/good/full.json declares some (and seeds the site file fuzzer). */
static int the_full_fixture_declares_cookies_storage_and_no_reload(void)
{
    char source_dir[4096], path[4200], err[SITE_ERR_MAX];
    check_source_dir(source_dir, sizeof(source_dir));
    FMT(path, "%s/tests/fixtures/sites/good/full.json", source_dir);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    static char json[65536];
    size_t len = fread(json, 1, sizeof(json), f);
    fclose(f);
    site_set_t *set = site_set_load_one("full.json", json, len, err, sizeof(err));
    if (set == NULL) printf("    %s\n", err);
    CHECK(set != NULL);
    const site_t *s = site_set_at(set, 0);
    const site_purpose_t *p = site_purpose_find(s, "audience", 8);
    int ok = s->reload_on_withdrawal == 0 && p != NULL && p->n_cookies == 3 &&
             strcmp(p->cookies[2].name, "_fbp") == 0 &&
             strcmp(p->cookies[2].domain, "example.com") == 0 && p->n_storage == 1 &&
             strcmp(p->storage[0], "_hj*") == 0;
    site_set_release(set);
    CHECK(ok);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(cookies_and_storage_load_with_lower_case_domains_and_reload_on_by_default);
    RUN(bad_declarations_are_refused_naming_file_field_and_reason);
    RUN(too_many_cookies_are_refused);
    RUN(the_full_fixture_declares_cookies_storage_and_no_reload);
    return check_summary();
}
