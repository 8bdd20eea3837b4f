// The router's table, read from its source (src/server/router.c), for the
// tests that must cover every route: a new route cannot be forgotten by
// them. One parser for all of them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SOURCE_DIR } from './harness.mjs';

const LISTENERS = { ROUTE_PUBLIC: 'public', ROUTE_OPERATOR: 'operator', ROUTE_BOTH: 'both' };

/* [{name, method ('GET'...), pattern, maxBody (the C expression, '0' for
 * none), cors, limited, where ('public' | 'operator' | 'both')}], in table
 * order. Fails on an entry it cannot read, so that a new shape of entry
 * cannot drop out of the callers' checks unseen. */
export function routerTable() {
    const text = fs.readFileSync(path.join(SOURCE_DIR, 'src', 'server', 'router.c'), 'utf8');
    const block = /static const route_t routes\[\] = \{\n([\s\S]*?)\n\};/.exec(text);
    assert.ok(block, 'src/server/router.c: the route table moved; update tests/http/lib/routes.mjs');
    const entries = block[1].split(/\n(?=\s*\{")/).map((e) => e.replace(/\s+/g, ' ').trim());
    const routes = entries.map((entry) => {
        const m = entry.match(/^\{"(\w+)", "([A-Z]+)", "([^"]+)", (\w+), (\w+), ([01])(?:, (\w+))?(?:, (ROUTE_\w+))?(?:, (\w+))?\},?$/);
        assert.ok(m, `src/server/router.c: a route entry tests/http/lib/routes.mjs cannot read: ${entry}`);
        return {
            name: m[1],
            method: m[2],
            pattern: m[3],
            maxBody: m[5],
            cors: m[6] === '1',
            limited: m[7] !== undefined && m[7] !== '0',
            where: LISTENERS[m[8] || 'ROUTE_PUBLIC'],
        };
    });
    assert.ok(routes.length >= 10, `only ${routes.length} routes read from src/server/router.c`);
    return routes;
}
