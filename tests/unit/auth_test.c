/*
 * auth_test.c - src/http/auth.c's rule for the routes' declarations (the
 * router refuses to start on one it breaks): public, or one scope (with or
 * without the site's browsers); on a route of no site, one of the operator
 * key's scopes and no browser.
 */
#include "auth.h"
#include "check.h"

static int route_declarations(void)
{
    CHECK(http_auth_declaration_ok(AUTH_PUBLIC, 1));
    CHECK(http_auth_declaration_ok(AUTH_PUBLIC, 0));
    for (unsigned i = 0; i < APIKEY_SCOPES; i++) {
        unsigned scope = 1u << i;
        CHECK(http_auth_declaration_ok(scope, 1));
        CHECK(http_auth_declaration_ok(AUTH_BROWSER | scope, 1));
        CHECK(http_auth_declaration_ok(scope, 0) == ((scope & APIKEY_OPERATOR_SCOPES) != 0));
        CHECK(!http_auth_declaration_ok(AUTH_BROWSER | scope, 0));
        CHECK(!http_auth_declaration_ok(AUTH_PUBLIC | scope, 1));
    }
    CHECK(!http_auth_declaration_ok(0, 1)); /* an entry that declares nothing */
    CHECK(!http_auth_declaration_ok(AUTH_BROWSER, 1));
    CHECK(!http_auth_declaration_ok(SCOPE_RIGHTS | SCOPE_STATS_READ, 1)); /* one scope a route */
    CHECK(!http_auth_declaration_ok(SCOPE_KEYS_ADMIN | SCOPE_SITE_WRITE, 0));
    CHECK(!http_auth_declaration_ok(1u << APIKEY_SCOPES, 1));
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(route_declarations);
    return check_summary();
}
