// Serving the dashboard: /dashboard (with or without the trailing slash) and
// its script and stylesheet come from memory in brotli, gzip or identity by
// Accept-Encoding, all decoding to the same bytes, with ETag, 304,
// Cache-Control and Vary; the page carries a strict Content-Security-Policy
// under which it runs in Chromium without a single violation; unknown files
// are JSON 404s.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { test } from '../http/lib/harness.mjs';
import { newPage, startBannerStack } from './lib/browser.mjs';

let stack;
before(async () => {
    stack = await startBannerStack();
});
after(async () => {
    await stack?.stop();
});

const get = (path, encoding = 'identity', headers = {}) =>
    stack.consentd.request(path, { headers: { 'accept-encoding': encoding, ...headers } });

// The script and stylesheet the page names (with their ?v= hash).
function assets(html) {
    const js = /<script src="(\/dashboard\/dashboard\.js\?v=[0-9a-f]{16})"/.exec(html);
    const css = /<link rel="stylesheet" href="(\/dashboard\/dashboard\.css\?v=[0-9a-f]{16})"/.exec(html);
    assert.ok(js && css, 'the page names its script and stylesheet with a version hash');
    return { js: js[1], css: css[1] };
}

test('dashboard_page_answers_with_and_without_the_trailing_slash', async () => {
    const bare = await get('/dashboard');
    const slash = await get('/dashboard/');
    for (const res of [bare, slash]) {
        assert.equal(res.status, 200);
        assert.match(res.headers['content-type'], /^text\/html; charset=utf-8/);
        assert.match(res.text, /<title>consentd: acceptance dashboard<\/title>/);
    }
    assert.deepEqual(bare.body, slash.body);
    const head = await stack.consentd.request('/dashboard', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers['content-length']), bare.body.length);
    assert.equal(head.body.length, 0);
});

test('page_has_a_strict_content_security_policy_and_no_inline_code', async () => {
    const res = await get('/dashboard');
    const csp = res.headers['content-security-policy'];
    assert.ok(csp, 'content-security-policy');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.match(csp, /connect-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.doesNotMatch(res.text, /<script>|<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(res.text, /<style|\sstyle=/, 'no inline style');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
});

test('every_file_in_every_encoding_decodes_to_the_same_bytes', async () => {
    const page = await get('/dashboard/');
    const { js, css } = assets(page.text);
    for (const [path, type] of [['/dashboard/', /^text\/html/], [js, /^application\/javascript/], [css, /^text\/css/]]) {
        const identity = await get(path, 'identity');
        const gz = await get(path, 'gzip, deflate, br;q=0');
        const br = await get(path, 'gzip, deflate, br');
        assert.equal(identity.status, 200, path);
        assert.match(identity.headers['content-type'], type, path);
        assert.equal(identity.headers['content-encoding'], undefined, path);
        assert.equal(gz.headers['content-encoding'], 'gzip', path);
        assert.equal(br.headers['content-encoding'], 'br', path);
        assert.deepEqual(zlib.gunzipSync(gz.body), identity.body, `${path}: gzip`);
        assert.deepEqual(zlib.brotliDecompressSync(br.body), identity.body, `${path}: brotli`);
        assert.ok(br.body.length < identity.body.length, `${path}: brotli is smaller`);
        process.stdout.write(`# ${path}: ${identity.body.length} B, gzip ${gz.body.length} B, brotli ${br.body.length} B\n`);
    }
    const script = (await get(js)).text;
    assert.match(script, /uPlot 1\.\d+\.\d+ \(c\) Leon Sorokin, MIT License/, 'uPlot bundled with its notice');
    assert.match((await get(css)).text, /\.uplot/, "uPlot's stylesheet bundled");
});

test('etag_304_cache_control_and_vary_per_encoding', async () => {
    const page = await get('/dashboard', 'gzip');
    assert.match(page.headers.etag, /^"[0-9a-f]{32}-gz"$/);
    assert.match(page.headers.vary, /accept-encoding/i);
    assert.equal(page.headers['cache-control'], 'no-cache');
    const again = await get('/dashboard', 'gzip', { 'if-none-match': page.headers.etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    assert.equal(again.headers.etag, page.headers.etag);
    const other = await get('/dashboard', 'br', { 'if-none-match': page.headers.etag });
    assert.equal(other.status, 200, 'the gzip ETag does not validate the brotli body');
    const { js } = assets((await get('/dashboard')).text);
    const script = await get(js, 'br');
    assert.match(script.headers['cache-control'], /max-age=\d+/);
    assert.equal((await get(js, 'br', { 'if-none-match': `W/${script.headers.etag}` })).status, 304);
});

test('unknown_dashboard_files_and_methods_get_json_errors', async () => {
    const missing = await get('/dashboard/nope.js');
    assert.equal(missing.status, 404);
    assert.equal(missing.json().error.code, 'not_found');
    const deeper = await get('/dashboard/a/b');
    assert.equal(deeper.status, 404);
    const post = await stack.consentd.request('/dashboard', { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.json().error.code, 'method_not_allowed');
    assert.match(post.headers.allow, /GET/);
});

test('page_runs_under_its_policy_and_asks_for_the_site_and_key', async () => {
    const page = await newPage(stack);
    const failed = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    page.on('console', (m) => m.type() === 'error' && page.problems.push(`console: ${m.text()}`));
    await page.goto(stack.consentd.url('/dashboard?site=demo'));
    await page.locator('#signin-form').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#site').inputValue(), 'demo', 'the site id comes from ?site=');
    assert.equal(await page.locator('#key').getAttribute('type'), 'password');
    assert.equal(await page.locator('#view').isVisible(), false);
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(bg, 'rgba(0, 0, 0, 0)', 'the stylesheet applied');
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    assert.deepEqual(page.problems, []);
    assert.deepEqual(failed, []);
    await page.context().close();
});
