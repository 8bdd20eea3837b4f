// The router's table, read from its source (src/server/router.c), for the
// tests that must cover every route: a new route cannot be forgotten by
// them. One parser for all of them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR } from './harness.mjs';

const LISTENERS = { ROUTE_PUBLIC: 'public', ROUTE_OPERATOR: 'operator', ROUTE_BOTH: 'both' };

/* The auth declaration of an entry (auth.h): {scope: 'stats:read' ... or
 * null for AUTH_PUBLIC (the first of scopes), scopes: every scope any one of
 * which suffices, browser: the site's origins may call it without a key,
 * operator: the operator key only (AUTH_OPERATOR)}. SCOPE_STATS_READ is
 * 'stats:read': SCOPE_ dropped, lower case, the first '_' a ':' (apikey.c
 * names them so). */
function routeAuth(text) {
    const parts = text.split(' | ');
    const browser = parts.includes('AUTH_BROWSER');
    const operator = parts.includes('AUTH_OPERATOR');
    if (parts.includes('AUTH_PUBLIC')) return { scope: null, scopes: [], browser: false, operator: false };
    const scopes = parts.filter((p) => p.startsWith('SCOPE_')).map((p) => p.slice('SCOPE_'.length).toLowerCase().replace('_', ':'));
    return { scope: scopes[0], scopes, browser, operator };
}

/* [{name, method ('GET'...), pattern, maxBody (the C expression, '0' for
 * none), cors, limited, where ('public' | 'operator' | 'both'), scope
 * (null: public), scopes, browser, operator}], in table
 * order. Fails on an entry it cannot read, so that a new shape of entry
 * cannot drop out of the callers' checks unseen. */
export function routerTable() {
    const text = fs.readFileSync(path.join(SOURCE_DIR, 'src', 'server', 'router.c'), 'utf8');
    const block = /static const route_t routes\[\] = \{\n([\s\S]*?)\n\};/.exec(text);
    assert.ok(block, 'src/server/router.c: the route table moved; update tests/http/lib/routes.mjs');
    const entries = block[1].split(/\n(?=\s*\{")/).map((e) => e.replace(/\s+/g, ' ').trim());
    const routes = entries.map((entry) => {
        const m = entry.match(/^\{"(\w+)", "([A-Z]+)", "([^"]+)", (\w+), ((?:(?:AUTH_BROWSER|AUTH_OPERATOR|SCOPE_[A-Z_]+) \| )*(?:AUTH_PUBLIC|SCOPE_[A-Z_]+)), (\w+), ([01])(?:, (\w+))?(?:, (ROUTE_\w+))?(?:, (\w+))?\},?$/);
        assert.ok(m, `src/server/router.c: a route entry tests/http/lib/routes.mjs cannot read (is its auth declared, AUTH_PUBLIC or SCOPE_...?): ${entry}`);
        return {
            name: m[1],
            method: m[2],
            pattern: m[3],
            maxBody: m[6],
            cors: m[7] === '1',
            limited: m[8] !== undefined && m[8] !== '0',
            where: LISTENERS[m[9] || 'ROUTE_PUBLIC'],
            ...routeAuth(m[5]),
        };
    });
    assert.ok(routes.length >= 10, `only ${routes.length} routes read from src/server/router.c`);
    return routes;
}
