/*
 * apikey_test.c - src/apikey.c: scope names both ways, key names, the shape
 * of a new secret and of a stored record, read back.
 */
#include <sodium.h>
#include <stdlib.h>

#include "apikey.h"
#include "check.h"

static int scope_names_round_trip_and_nothing_else_parses(void)
{
    static const char *const names[] = {"stats:read",  "rights",     "consent:server",
                                        "scans:write", "site:write", "site:publish",
                                        "keys:admin"};
    unsigned all = 0;
    for (unsigned i = 0; i < APIKEY_SCOPES; i++) {
        unsigned bit = apikey_scope_parse(names[i], strlen(names[i]));
        CHECK(bit == 1u << i);
        CHECK_STR(apikey_scope_name(bit), names[i]);
        all |= bit;
    }
    CHECK(all == APIKEY_SCOPES_ALL);
    CHECK(apikey_scope_parse("stats", 5) == 0);
    CHECK(apikey_scope_parse("stats:read ", 11) == 0);
    CHECK(apikey_scope_parse("Stats:read", 10) == 0);
    CHECK(apikey_scope_parse("", 0) == 0);
    CHECK(apikey_scope_name(0) == NULL);
    CHECK(apikey_scope_name(SCOPE_RIGHTS | SCOPE_STATS_READ) == NULL);
    CHECK((APIKEY_OPERATOR_SCOPES & (SCOPE_RIGHTS | SCOPE_STATS_READ | SCOPE_CONSENT_SERVER)) == 0);
    return 0;
}

static int key_names(void)
{
    CHECK(apikey_name_ok("dashboard", 9));
    CHECK(apikey_name_ok("ci.scan-2026_a", 14));
    CHECK(apikey_name_ok("0", 1));
    CHECK(!apikey_name_ok("", 0));
    CHECK(!apikey_name_ok("-a", 2));
    CHECK(!apikey_name_ok("Dashboard", 9));
    CHECK(!apikey_name_ok("a b", 3));
    CHECK(!apikey_name_ok("a/b", 3));
    char long_name[APIKEY_NAME_MAX + 2];
    memset(long_name, 'a', sizeof(long_name));
    CHECK(apikey_name_ok(long_name, APIKEY_NAME_MAX));
    CHECK(!apikey_name_ok(long_name, APIKEY_NAME_MAX + 1));
    return 0;
}

static int secrets_are_new_and_well_formed(void)
{
    char a[APIKEY_SECRET_LEN + 1], b[APIKEY_SECRET_LEN + 1];
    apikey_secret_new(a);
    apikey_secret_new(b);
    CHECK(strlen(a) == APIKEY_SECRET_LEN && strncmp(a, "cd_", 3) == 0);
    CHECK(apikey_secret_shape_ok(a, strlen(a)) && apikey_secret_shape_ok(b, strlen(b)));
    CHECK(strcmp(a, b) != 0);
    CHECK(!apikey_secret_shape_ok(a, strlen(a) - 1));
    a[10] = '+';
    CHECK(!apikey_secret_shape_ok(a, strlen(a)));
    CHECK(!apikey_secret_shape_ok("demo-key-change-me", 18));
    uint8_t sha[32];
    char hex[65];
    apikey_hash("abc", 3, sha, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    return 0;
}

static int a_record_reads_back(void)
{
    char *rec = apikey_record_new("dpo", SCOPE_RIGHTS | SCOPE_STATS_READ, 1796427572622, "owner");
    CHECK(rec != NULL);
    CHECK_STR(rec, "{\"name\":\"dpo\",\"scopes\":[\"stats:read\",\"rights\"],"
                   "\"created_at\":\"2026-12-04T23:39:32.622Z\",\"created_by\":\"owner\"}");
    unsigned scopes = 0;
    char name[APIKEY_NAME_MAX + 1];
    CHECK(apikey_record_read(rec, strlen(rec), &scopes, name) == 0);
    CHECK(scopes == (SCOPE_RIGHTS | SCOPE_STATS_READ));
    CHECK_STR(name, "dpo");
    free(rec);
    CHECK(apikey_record_read("{}", 2, &scopes, name) == -1);
    CHECK(apikey_record_read("{\"name\":\"BAD\",\"scopes\":[]}", 26, &scopes, name) == -1);
    CHECK(apikey_record_read("not json", 8, &scopes, name) == -1);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (sodium_init() < 0) return 1;
    RUN(scope_names_round_trip_and_nothing_else_parses);
    RUN(key_names);
    RUN(secrets_are_new_and_well_formed);
    RUN(a_record_reads_back);
    return check_summary();
}
