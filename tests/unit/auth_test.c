/*
 * auth_test.c - src/http/auth.c's rule for the routes' declarations (the
 * router refuses to start on one it breaks): public, or one or more scopes
 * any of which suffices (with or without the site's browsers); on a route of
 * no site, or the operator's (AUTH_OPERATOR), one of the operator key's
 * scopes and no browser.
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
    /* either of two scopes (GET versions/{version}: site:write or rights) */
    CHECK(http_auth_declaration_ok(SCOPE_SITE_WRITE | SCOPE_RIGHTS, 1));
    CHECK(http_auth_declaration_ok(AUTH_BROWSER | SCOPE_RIGHTS | SCOPE_STATS_READ, 1));
    CHECK(!http_auth_declaration_ok(SCOPE_RIGHTS | (1u << APIKEY_SCOPES), 1));
    /* the operator's routes of a site: one operator scope, no browser */
    CHECK(http_auth_declaration_ok(AUTH_OPERATOR | SCOPE_SITE_PUBLISH, 1));
    CHECK(!http_auth_declaration_ok(AUTH_OPERATOR | SCOPE_RIGHTS, 1));
    CHECK(!http_auth_declaration_ok(AUTH_OPERATOR | AUTH_BROWSER | SCOPE_SITE_PUBLISH, 1));
    CHECK(!http_auth_declaration_ok(AUTH_OPERATOR | SCOPE_SITE_PUBLISH, 0));
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
