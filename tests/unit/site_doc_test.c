/*
 * site_doc_test.c - a site document as text (src/site_doc.c): the canonical
 * form (same meaning, same bytes), the policy bump rule (what counts and what
 * does not), the bumped policy_version (no growing suffix, the 64-byte
 * bound), the diff of two versions; and site_set_load_doc (src/site.c): a
 * stored document named as its source, its id checked against the site's,
 * the failing field apart from the message.
 */
#include "check.h"
#include "site.h"
#include "site_doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOC(s) s, strlen(s)

static int canonical_sorts_keys_and_drops_white_space(void)
{
    size_t len = 0;
    char *a =
        site_doc_canonical(DOC("{ \"b\": [1, 2],\n \"a\": {\"y\": true, \"x\": \"é\"} }"), &len);
    CHECK_STR(a, "{\"a\":{\"x\":\"é\",\"y\":true},\"b\":[1,2]}");
    CHECK(len == strlen(a));
    char *b = site_doc_canonical(a, len, NULL);
    CHECK_STR(b, a); /* idempotent */
    CHECK(site_doc_canonical(DOC("[1]"), NULL) == NULL);
    CHECK(site_doc_canonical(DOC("{\"a\":1,\"a\":2}"), NULL) == NULL); /* duplicate keys */
    CHECK(site_doc_canonical(DOC("{"), NULL) == NULL);
    free(a);
    free(b);
    return 0;
}

#define BASE                                                                                       \
    "{\"policy_version\":\"2026-11-01\",\"origins\":[\"https://"                                   \
    "a.example\"],\"purposes\":[{\"id\":"                                                          \
    "\"audience\",\"legal_basis\":\"consent\",\"recipients\":[\"Us\"],\"retention_days\":30,"      \
    "\"texts\":{\"en\":{\"name\":\"Audience\",\"description\":\"Counting\"}}}]}"

static int policy_changes_are_purposes_bases_recipients_and_texts(void)
{
    static const struct {
        const char *from, *to;
        int changed;
    } cases[] = {
        {"\"https://a.example\"", "\"https://b.example\"", 0}, /* an origin */
        {"\"retention_days\":30", "\"retention_days\":31", 0}, /* not what is asked */
        {"\"policy_version\":\"2026-11-01\"", "\"policy_version\":\"x\"", 0},
        {"\"legal_basis\":\"consent\"", "\"legal_basis\":\"necessary\"", 1},
        {"[\"Us\"]", "[\"Us\",\"Them\"]", 1},
        {"\"Audience\"", "\"Audience measurement\"", 1},
        {"\"Counting\"", "\"Counting visits\"", 1},
        {"\"id\":\"audience\"", "\"id\":\"statistics\"", 1},
    };
    CHECK(site_doc_policy_changed(DOC(BASE), DOC(BASE)) == 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char other[1024];
        const char *at = strstr(BASE, cases[i].from);
        CHECK(at != NULL);
        FMT(other, "%.*s%s%s", (int)(at - BASE), BASE, cases[i].to, at + strlen(cases[i].from));
        int got = site_doc_policy_changed(DOC(BASE), DOC(other));
        if (got != cases[i].changed)
            printf("    case %zu: %s -> %s: %d\n", i, cases[i].from, cases[i].to, got);
        CHECK(got == cases[i].changed);
    }
    CHECK(site_doc_policy_changed(DOC("[]"), DOC(BASE)) == -1);
    return 0;
}

static int bumped_policy_version_replaces_an_earlier_bump_and_fits(void)
{
    char *a = site_doc_bump_policy(DOC(BASE), 7, NULL);
    CHECK(a != NULL);
    CHECK_HAS(a, "\"policy_version\":\"2026-11-01+v7\"");
    char *b = site_doc_bump_policy(a, strlen(a), 12, NULL);
    CHECK_HAS(b, "\"policy_version\":\"2026-11-01+v12\"");
    const char *longer =
        "{\"policy_version\":\"0123456789012345678901234567890123456789012345678901234567890123\"}";
    char *c = site_doc_bump_policy(DOC(longer), 3, NULL);
    CHECK_STR(c, "{\"policy_version\":"
                 "\"0123456789012345678901234567890123456789012345678901234567890+v3\"}");
    /* 60 digits and "éé" (64 bytes): 61 bytes of it may stay, and byte 61
     * is inside the first "é", so the cut is before it (a cut inside it was
     * not UTF-8: the bump was refused and the old value kept). */
    const char *accented = "{\"policy_version\":\"012345678901234567890123456789012345678901234"
                           "567890123456789\xc3\xa9\xc3\xa9\"}";
    char *e = site_doc_bump_policy(DOC(accented), 3, NULL);
    CHECK_STR(e, "{\"policy_version\":"
                 "\"012345678901234567890123456789012345678901234567890123456789+v3\"}");
    free(e);
    CHECK(site_doc_bump_policy(DOC("{\"policy_version\":1}"), 3, NULL) == NULL);
    /* "+v" with no digits is the editor's own, kept */
    char *d = site_doc_bump_policy(DOC("{\"policy_version\":\"a+v\"}"), 2, NULL);
    CHECK_STR(d, "{\"policy_version\":\"a+v+v2\"}");
    free(a);
    free(b);
    free(c);
    free(d);
    return 0;
}

static int diff_names_added_removed_and_changed_paths(void)
{
    char *d = site_doc_diff(DOC("{\"a\":1,\"b\":{\"x\":[1,2,3]},\"c\":\"k\"}"),
                            DOC("{\"a\":2,\"b\":{\"x\":[1,5]},\"d\":null}"));
    CHECK_STR(d, "{\"added\":[\"d\"],\"removed\":[\"b.x[2]\",\"c\"],\"changed\":[{\"path\":\"a\","
                 "\"from\":1,\"to\":2},{\"path\":\"b.x[1]\",\"from\":2,\"to\":5}]}");
    char *same = site_doc_diff(DOC(BASE), DOC(BASE));
    CHECK_STR(same, "{\"added\":[],\"removed\":[],\"changed\":[]}");
    CHECK(site_doc_diff(DOC("{"), DOC("{}")) == NULL);
    free(d);
    free(same);
    return 0;
}

static char *read_demo(size_t *len)
{
    char source[4096], path[4200];
    check_source_dir(source, sizeof(source));
    FMT(path, "%s/ops/sites/demo.json", source);
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = malloc(1 << 20);
    *len = buf != NULL ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

static int stored_document_is_named_as_its_source_with_the_field_apart(void)
{
    size_t len;
    char *demo = read_demo(&len), err[SITE_ERR_MAX], field[128];
    CHECK(demo != NULL);
    site_set_t *set = site_set_load_doc("site demo draft 3", "demo", demo, len, NULL, err,
                                        sizeof(err), field, sizeof(field));
    CHECK(set != NULL);
    CHECK_STR(site_set_at(set, 0)->file, "site demo draft 3");
    site_set_release(set);
    CHECK(site_set_load_doc("site shop draft 1", "shop", demo, len, NULL, err, sizeof(err), field,
                            sizeof(field)) == NULL);
    CHECK_STR(err, "site shop draft 1: id: must be the site's id (\"shop\")");
    CHECK_STR(field, "id");
    char *bad = strstr(demo, "\"legal_basis\": \"consent\"");
    CHECK(bad != NULL);
    memcpy(bad + strlen("\"legal_basis\": \""), "xonsent", 7);
    CHECK(site_set_load_doc("site demo draft 4", "demo", demo, len, NULL, err, sizeof(err), field,
                            sizeof(field)) == NULL);
    CHECK_HAS(err, "site demo draft 4: purposes[");
    CHECK_HAS(err, "].legal_basis: must be one of consent, legitimate_interest, necessary");
    CHECK_HAS(field, "].legal_basis");
    CHECK(site_set_load_doc("site demo draft 5", "demo", DOC("[]"), NULL, err, sizeof(err), field,
                            sizeof(field)) == NULL);
    CHECK_STR(err, "site demo draft 5: must be a JSON object");
    CHECK_STR(field, "");
    free(demo);
    return 0;
}

static int redis_documents_win_over_files_of_the_same_id(void)
{
    size_t len;
    char *demo = read_demo(&len), err[SITE_ERR_MAX], source[4096], dir[4200];
    CHECK(demo != NULL);
    check_source_dir(source, sizeof(source));
    FMT(dir, "%s/ops/sites", source);
    char *changed = strstr(demo, "\"2026-11-01\"");
    CHECK(changed != NULL);
    memcpy(changed + 1, "2030", 4);
    site_doc_t docs[] = {{"demo", 9, demo, len}};
    size_t shadowed = 0;
    site_set_t *set = site_set_load_with(dir, NULL, docs, 1, &shadowed, err, sizeof(err));
    CHECK(set != NULL);
    CHECK(shadowed == 1);
    CHECK(site_set_count(set) == 1);
    CHECK_STR(site_set_at(set, 0)->policy_version, "2030-11-01");
    CHECK_STR(site_set_at(set, 0)->file, "site demo version 9");
    site_set_release(set);
    free(demo);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(canonical_sorts_keys_and_drops_white_space);
    RUN(policy_changes_are_purposes_bases_recipients_and_texts);
    RUN(bumped_policy_version_replaces_an_earlier_bump_and_fits);
    RUN(diff_names_added_removed_and_changed_paths);
    RUN(stored_document_is_named_as_its_source_with_the_field_apart);
    RUN(redis_documents_win_over_files_of_the_same_id);
    return check_summary();
}
