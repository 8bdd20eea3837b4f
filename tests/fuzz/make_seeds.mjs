// tests/fuzz/make_seeds.mjs - write the seed corpora of the fuzz harnesses
// (tests/fuzz/corpus/<name>/): a few valid inputs of each kind and their
// near misses, from which libFuzzer mutates. Run it again after changing the
// formats (node tests/fuzz/make_seeds.mjs); it rewrites the seeds it owns
// (seed-*) and leaves other files alone. The site files come from ops/sites/
// and tests/fixtures/sites/.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const demo = JSON.parse(fs.readFileSync(path.join(root, 'ops', 'sites', 'demo.json'), 'utf8'));

function write(name, seeds) {
    const dir = path.join(here, 'corpus', name);
    fs.mkdirSync(dir, { recursive: true });
    for (const f of fs.readdirSync(dir)) if (f.startsWith('seed-')) fs.rmSync(path.join(dir, f));
    seeds.forEach((bytes, i) => fs.writeFileSync(path.join(dir, `seed-${String(i).padStart(3, '0')}`), bytes));
}

const cat = (...parts) => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));

// ---- consent_body: a flag byte (1: API key, 2: Sec-GPC), then the body ----
const body = (o) => JSON.stringify(o);
const good = { decisions: { audience: true, advertising: false }, policy_version: demo.policy_version, lang: 'fr' };
write('consent_body', [
    cat([0], body(good)),
    cat([2], body({ ...good, decisions: {} })),
    cat([1], body({ ...good, source: 'call_center', visitor: 'visitor-000001' })),
    cat([0], body({ ...good, variant: 'b', lang: 'en' })),
    cat([0], body({ ...good, variant: null })),
    cat([0], body({ ...good, decisions: { necessary: false } })),
    cat([0], body({ ...good, policy_version: 'old' })),
    cat([0], body({ ...good, extra: 1 })),
    cat([0], '{"decisions":{"audience":true,"audience":false},"policy_version":"x","lang":"fr"}'),
    cat([0], '[1,2,3]'),
    cat([0], '{"decisions":{"audience":"yes"},"policy_version":"2026-11-01","lang":"fr"}'),
    cat([3], body({ ...good, visitor: 'short', source: 'api' })),
    // How it was given (issue 19, item 4): each control, the action, GPC.
    cat([0], body({ ...good, decisions: { audience: true, personalisation: true, advertising: true, partners_sharing: true }, control: 'accept_all' })),
    cat([0], body({ ...good, decisions: { audience: false, advertising: false }, control: 'reject_all', gpc: true })),
    cat([2], body({ ...good, control: 'custom', action: 'withdrawal', gpc: false })),
    cat([0], body({ ...good, decisions: {}, control: 'dismiss' })),
    cat([0], body({ ...good, control: 'withdraw', action: 'withdrawal' })),
    cat([1], body({ ...good, control: 'api', source: 'form' })),
    cat([0], body({ ...good, control: 'api', action: 'withdraw', gpc: 1 })),
]);

// ---- events_body: the body of POST .../events ----
write('events_body', [
    body({ type: 'shown' }),
    body({ type: 'dismissed', lang: 'en', variant: 'b', visitor: 'visitor-000001', policy_version: demo.policy_version }),
    body({ type: 'panel_opened', lang: null, variant: null, visitor: null, policy_version: null }),
    body({ type: 'clicked' }),
    body({ type: 'shown', lang: 'de' }),
    body({ type: 'shown', variant: 'z' }),
    body({ type: 'shown', visitor: 'x' }),
    body({ type: 'shown', policy_version: 'p'.repeat(65) }),
    body({ type: 'shown', extra: true }),
    '{"type":"shown","type":"shown"}',
    'null',
].map((s) => Buffer.from(s)));

// ---- router: a method byte, then the request target ----
write('router', [
    cat([0], '/v1/sites/demo/banner.js'),
    cat([2], '/v1/sites/demo/consents'),
    cat([0], '/v1/sites/demo/consents/visitor-000001?lang=en'),
    cat([3], '/v1/sites/demo/visitors/visitor-000001'),
    cat([0], '/v1/sites/demo/consents?from=2026-01-01&to=2026-12-31&limit=10&cursor=3-1700000000000-0'),
    cat([4], '/v1/sites/d%65mo/consents/vis%2Fitor'),
    cat([0], '/v1/sites/demo/%zz'),
    cat([0], '/.well-known/jwks.json'),
    cat([0], '/healthz?'),
    cat([0], '//a/b/c/d/e/f/g/h/i/j'),
    cat([0], '/v1/sites/demo/stats?from=2026-11-01&to=2026-11-07&by=hour&variant=a&format=csv'),
    cat([0], '/v1/sites/demo/events'),
]);

// ---- store_record: msgpack records as store.c writes them ----
function mp(v) {
    if (v === null) return Buffer.from([0xc0]);
    if (v === true) return Buffer.from([0xc3]);
    if (v === false) return Buffer.from([0xc2]);
    if (typeof v === 'number') {
        if (v >= 0 && v < 128) return Buffer.from([v]);
        const b = Buffer.alloc(9);
        b[0] = 0xcf;
        b.writeBigUInt64BE(BigInt(v), 1);
        return b;
    }
    if (typeof v === 'string') {
        const s = Buffer.from(v);
        if (s.length < 32) return cat([0xa0 | s.length], s);
        if (s.length < 256) return cat([0xd9, s.length], s);
        const h = Buffer.alloc(3);
        h[0] = 0xda;
        h.writeUInt16BE(s.length, 1);
        return cat(h, s);
    }
    const entries = Object.entries(v);
    return cat([0x80 | entries.length], ...entries.flatMap(([k, x]) => [mp(k), mp(x)]));
}
const rec = {
    id: 'uJGW790PYEjQnXT2FuOrwg',
    vis: 'rrW4sM6bFTOUC-1-Xd6QUQ',
    iat: 1763888646000,
    exp: 1779613446000,
    pv: demo.policy_version,
    th: '0c24'.padEnd(64, 'a'),
    src: 'banner',
    lang: 'fr',
    act: 'consent',
    dec: { necessary: true, audience: true, personalisation: true, advertising: false, partners_sharing: false },
    jws: 'eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJ4In0.c2ln',
};
const full = mp(rec);
write('store_record', [
    full,
    mp({ ...rec, var: 'b' }),
    mp({ ...rec, var: null, log: '1763888646000-0' }),
    mp({ ...rec, act: 'withdraw', future: [1, 2, { x: 'y' }] }),
    mp({ ...rec, var: 'b', bv: 'ab'.repeat(32), act: 'withdrawal', how: { ctl: 'custom', gpc: true } }),
    mp({ ...rec, how: { gpc: true, later: [1] } }),
    mp({ ...rec, how: { ctl: 'api', ctl2: null, gpc: 1 } }),
    full.subarray(0, full.length - 3),
    mp({ ...rec, dec: {} }),
    cat([0xde, 0x00, 0x0b], full.subarray(1)),
    Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]),
]);

// ---- credentials: a header value, a visitor id or an origin ----
write('credentials', [
    'Bearer demo-key-change-me',
    'bearer   demo-key-change-me  ',
    'Bearer ',
    'Basic ZGVtbzpkZW1v',
    'demo-key-change-me',
    'rrW4sM6bFTOUC-1-Xd6QUQ',
    'visitor-000001',
    'x'.repeat(65),
    'http://localhost:8080',
    'http://localhost:8080/',
    'null',
].map((s) => Buffer.from(s)));

// ---- forwarded: an X-Forwarded-For line, its right-most element the client ----
write('forwarded', [
    '203.0.113.7',
    '198.51.100.99, 203.0.113.7',
    '2001:db8::1',
    '198.18.0.1,2001:db8:1:2::ffff',
    '[2001:db8::1]:443',
    '[2001:db8::1]',
    '192.0.2.1:8080',
    '::ffff:192.0.2.1',
    'unknown',
    '203.0.113.7, ',
    '2001:db8::1%eth0',
    '1.2.3.4.5, 300.1.1.1',
    ' \t192.0.2.1\t ',
    '[2001:db8::1]:99999',
].map((s) => Buffer.from(s)));

// ---- site_file: the shipped site and the fixtures, good and bad ----
// The harness loads every input as demo.json: a site's id must be its file
// name, so the fixtures' ids become "demo" (but those about the id).
const siteSeeds = [fs.readFileSync(path.join(root, 'ops', 'sites', 'demo.json'))];
for (const sub of ['good', 'bad']) {
    const dir = path.join(root, 'tests', 'fixtures', 'sites', sub);
    for (const f of fs.readdirSync(dir).sort()) {
        if (!f.endsWith('.json')) continue;
        let text = fs.readFileSync(path.join(dir, f), 'utf8');
        if (!f.startsWith('bad_id_')) text = text.replace(/"id"\s*:\s*"[^"]*"/, '"id": "demo"');
        siteSeeds.push(Buffer.from(text));
    }
}
// Embeds (issue 20, item 2): a list, declared empty, and a near miss.
siteSeeds.push(
    Buffer.from(JSON.stringify({ ...demo, embeds: [{ host: 'www.youtube-nocookie.com', provider: 'YouTube' }, { host: 'google.com', provider: 'Google Maps' }] })),
    Buffer.from(JSON.stringify({ ...demo, embeds: [] })),
    Buffer.from(JSON.stringify({ ...demo, embeds: [{ host: 'https://www.google.com/maps', provider: 'Maps' }] })),
);
// TCF (issue 24, item 2): a valid block against tests/fixtures/gvl (v17), and near misses.
const tcf = {
    cmp_id: 300,
    cmp_version: 2,
    publisher_cc: 'FR',
    vendors: [1, 2, 6, 8],
    stacks: [1, 2],
    publisher_restrictions: [{ purpose: 7, type: 2, vendors: [1] }, { purpose: 2, type: 1, vendors: [8] }],
    publisher_purposes: { consent: [1], legitimate_interest: [7] },
};
siteSeeds.push(
    Buffer.from(JSON.stringify({ ...demo, tcf })),
    Buffer.from(JSON.stringify({ ...demo, tcf: { ...tcf, publisher_restrictions: [{ purpose: 2, type: 2, vendors: [2] }] } })),
    Buffer.from(JSON.stringify({ ...demo, tcf: { ...tcf, vendors: [1, 3], stacks: [2, 42] } })),
);
write('site_file', siteSeeds);

// ---- json_scan: JSON texts, valid and near misses, held to jansson ----
write('json_scan', [
    body(good),
    '{"a":1,"b":[true,false,null,-0.5e+3,"x\\u00e9\\ud83d\\ude00"],"c":{"d":{}}}',
    '{"a":1,"\\u0061":2}',
    '{"a":"\\u0000"}',
    '{"a":"\\ud800"}',
    '[9223372036854775807, -9223372036854775808]',
    '[9223372036854775808]',
    '[1e400, 1e-400]',
    '{"a" : [ 01 ]}',
    ' \n{"k\\"ey":"v\\/\\b\\f\\n\\r\\t"} \r\n',
    '"top-level string"',
    '{"a":1,}',
    '[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]',
    Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]),
].map((s) => (Buffer.isBuffer(s) ? s : Buffer.from(s))));

// ---- identify_token: tokens signed with the key of seed 0 (the harness's) ----
const { identifyMint } = await import(path.join(root, 'ops', 'identify-token.mjs'));
const zeroKey = Buffer.alloc(32).toString('base64url');
const NOW = 1796400000;
const tok = (o = {}) => identifyMint({ privateKey: zeroKey, site: 'demo', sub: 'user-42', now: NOW - 10, ttl: 600, ...o });
const goodToken = tok();
write('identify_token', [
    goodToken,
    tok({ sub: 'utilisateur-é-😀' }),
    tok({ site: 'other' }),
    tok({ now: NOW - 7200 }),
    tok({ ttl: 7200 }),
    tok({ header: { alg: 'HS256' } }),
    goodToken.slice(0, -2) + 'AA',
    goodToken.split('.').slice(0, 2).join('.'),
    'a.b.c',
    '..',
    'user-42',
].map((s) => Buffer.from(s)));

// ---- tcf_choice: the consent POST's tcf member (issue 24, item 4) ----
const tcfChoice = (o) => Buffer.from(JSON.stringify(o));
write('tcf_choice', [
    tcfChoice({}),
    tcfChoice({
        purposes: { consents: [1, 2, 3, 4, 5, 6, 7, 8, 9], legitimate_interests: [2, 7, 10] },
        special_features: [1, 2],
        vendors: { consents: [1, 2, 3, 10, 11, 12, 755, 65535], legitimate_interests: [1, 2, 755] },
    }),
    tcfChoice({ purposes: { consents: [], legitimate_interests: [] }, special_features: [], vendors: { consents: [], legitimate_interests: [] } }),
    tcfChoice({ purposes: { consents: [1, 3], legitimate_interests: [2] }, vendors: { consents: [10, 1], legitimate_interests: [2] } }),
    tcfChoice({ publisher: { consents: [1, 2], legitimate_interests: [7], custom_consents: [1, 5], custom_legitimate_interests: [2] } }),
    tcfChoice({ purposes: null, vendors: { consents: null }, publisher: null }),
    tcfChoice({ purposes: { legitimate_interests: [3] } }),
    tcfChoice({ vendors: { consents: [9] } }),
    tcfChoice({ vendors: { consents: [5, 5] } }),
    tcfChoice({ special_features: [13] }),
    tcfChoice({ special_features: ['1'] }),
    tcfChoice({ publisher: { custom_consents: [64] } }),
    tcfChoice({ extra: true }),
    Buffer.from('{"special_features":[1.0, 2e0, -1]}'),
    Buffer.from('{"vendors":{"consents":[ 1 ,\n 2\t,3 ]}}'),
    Buffer.from('{"vendors":{"consents":["1,2", [3], {"a":4}]}}'),
    Buffer.from('[]'),
]);

// ---- tcf_encode: 24 bytes of fields, spoil, then vendor IDs (see the harness) ----
function tcfFields({ flags = 0, counts = 0, spoil = 0 } = {}) {
    const b = Buffer.alloc(24);
    b.writeUInt32BE(1764936000, 0); // time
    b.writeUInt16BE(300, 4); // cmp id (2 + x % 4094)
    b.writeUInt16BE(7, 6); // cmp version
    b[8] = 2; // screen
    b[9] = 5; // lang f
    b[10] = 17; // lang R
    b.writeUInt16BE(125, 11); // vendor list version - 1
    b[13] = 1; // policy version 5
    b[14] = flags; // 1 texts, 2 purpose one, 4 publisher TC, 8 wide IDs
    b.writeUInt16BE(0x003, 15); // special features 1, 2
    b.writeUIntBE(0xf00000, 17, 3); // purposes consent 1-4
    b.writeUIntBE(0x420000, 20, 3); // purposes LI 2, 7
    b[23] = 5; // publisher cc F
    return Buffer.concat([b, Buffer.from([17]), Buffer.from([counts >> 8, counts & 0xff, spoil])]);
}
const idsBytes = (ids) => Buffer.concat(ids.map((id) => Buffer.from([id >> 8, id & 0xff])));
const picks = (n, p) => Buffer.alloc(n, p);
const seq = (a, n) => Array.from({ length: n }, (_, i) => a + i);
write('tcf_encode', [
    Buffer.concat([tcfFields(), idsBytes([1, 2, 3, 4, 5, 100, 404]), picks(7, 3)]),
    Buffer.concat([tcfFields({ counts: 60 }), idsBytes(seq(1, 60)), picks(60, 1)]),
    Buffer.concat([tcfFields({ counts: 30, flags: 8 }), idsBytes(seq(65500, 30)), picks(30, 2)]),
    Buffer.concat([tcfFields({ counts: 3 + (2 << 10), flags: 4 }), idsBytes([8, 21, 40]), picks(3, 3), Buffer.from([3]), idsBytes([8, 21, 40]), Buffer.from([1, 1, 2]), idsBytes([100, 101]), Buffer.from([2, 0]), Buffer.alloc(40, 0x55)]),
    Buffer.concat([tcfFields({ counts: 5, flags: 7 }), idsBytes([2, 4, 6, 8, 10]), picks(5, 1), Buffer.alloc(20, 0xff)]),
    ...[1, 2, 3, 4, 5, 6, 7, 8].map((spoil) => Buffer.concat([tcfFields({ counts: 4, spoil }), idsBytes([3, 1, 2, 9]), picks(4, 3)])),
    tcfFields(),
    Buffer.alloc(0),
]);

// ---- gvl: a flag byte (even: a vendor list; odd: a translation), then the JSON ----
// Seeds cut from the real lists of tests/fixtures/gvl/ (a few vendors each, to stay
// under the harness's max_len), and near misses of the checks gvl.c makes.
const gvlFixture = JSON.parse(fs.readFileSync(path.join(root, 'tests', 'fixtures', 'gvl', 'vendor-list-v17.json'), 'utf8'));
const gvlWith = (vendorIds, edit = (g) => g) => {
    const g = { ...gvlFixture, vendors: Object.fromEntries(vendorIds.map((id) => [String(id), gvlFixture.vendors[String(id)]])) };
    g.stacks = Object.fromEntries(Object.entries(g.stacks).slice(0, 3));
    for (const k of ['purposes', 'specialPurposes', 'features', 'specialFeatures', 'dataCategories'])
        g[k] = Object.fromEntries(Object.entries(g[k]).map(([id, e]) => [id, { ...e, description: e.description.slice(0, 40), illustrations: (e.illustrations || []).slice(0, 1).map((s) => s.slice(0, 40)) }]));
    return JSON.stringify(edit(g));
};
const frFixture = JSON.parse(fs.readFileSync(path.join(root, 'tests', 'fixtures', 'gvl', 'purposes-fr-v17.json'), 'utf8'));
write('gvl', [
    cat([0], gvlWith([1, 11])),
    cat([0], gvlWith([8, 20, 755].filter((id) => gvlFixture.vendors[String(id)]))),
    cat([0], gvlWith([11], (g) => { g.vendors['11'] = { ...g.vendors['11'], legIntPurposes: [1, 2] }; return g; })),
    cat([0], gvlWith([11], (g) => { g.vendors['11'] = { ...g.vendors['11'], flexiblePurposes: [5] }; return g; })),
    cat([0], gvlWith([11], (g) => { g.vendors['11'] = { ...g.vendors['11'], dataDeclaration: [1, 2008] }; return g; })),
    cat([0], gvlWith([1], (g) => ({ ...g, gvlSpecificationVersion: 2 }))),
    cat([1], JSON.stringify({ ...frFixture, purposes: Object.fromEntries(Object.entries(frFixture.purposes).slice(0, 3)), stacks: {} })),
    cat([1], JSON.stringify({ purposes: { 1: { id: 1, name: 'Stocker' } }, stacks: { 1: { id: 1, name: 'Pile' } } })),
]);

// ---- useragent: a flag byte (bit 0: a Sec-CH-UA-Mobile header, its 2 bytes next), then the User-Agent ----
const uas = [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
    'Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
    'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36',
    'Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0',
    'curl/8.5.0',
];
write('useragent', [...uas.map((ua) => cat([0], ua)), cat([1], '?1', uas[3]), cat([1], '?0', uas[3]), cat([1], '?x', uas[0]), Buffer.from([0])]);
