// The scanner (ops/scan.mjs) on fixture sites served on loopback under
// their own host names, with a real consentd: the compliant site is clean
// (exit 0); a tag that ignores the banner is a violation before any choice,
// named with its script's URL; a tag that keeps setting _ga after a refusal
// is a violation after the refusal; the HTML report is axe-clean.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before } from 'node:test';
import { SOURCE_DIR, test } from '../http/lib/harness.mjs';
import { AXE_PATH, CHROMIUM, screenshot } from './lib/browser.mjs';
import { runScan, startScanStack } from './lib/scan_fixtures.mjs';

const require = createRequire(path.join(SOURCE_DIR, 'web', 'package.json'));
const { chromium } = require('playwright-core');

let stack;
before(async () => {
    stack = await startScanStack();
});
after(async () => {
    await stack?.stop();
});

const of = (report, level, state) => report.findings.filter((f) => f.level === level && (!state || f.state === state));

test('compliant_site_is_clean_and_exits_0', async () => {
    const r = await runScan(stack, 'compliant');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.report.verdict, 'pass');
    assert.deepEqual(of(r.report, 'violation'), []);
    assert.deepEqual(of(r.report, 'undeclared'), []);
    assert.deepEqual(of(r.report, 'stale'), [], '_ga, declared, is seen after acceptance');
    assert.match(r.report.configSource, /banner\.js \(public settings\)/);
    assert.deepEqual(r.report.pages, [stack.url('compliant'), `${stack.url('compliant')}second.html`], 'the same-site link is followed');
    const s = r.report.states;
    assert.deepEqual(s.before.result.cookies.map((c) => c.name), [], 'nothing before a choice');
    assert.deepEqual(s.refused.result.cookies.map((c) => c.name), ['consentd']);
    const ga = s.accepted.result.cookies.find((c) => c.name === '_ga');
    assert.equal(ga.by, 'script');
    assert.equal(ga.url, `http://analytics.test:${stack.port}/ga.js`);
    assert.equal(ga.party, 'first');
    assert.match(ga.expires, /^\d{4}-/);
    assert.deepEqual(s.accepted.result.requests.map((q) => `${q.host} ${q.type}`).filter((x) => x.startsWith('analytics')), ['analytics.test script']);
    assert.equal(s.withdrawn.result.cookies.find((c) => c.name === '_ga'), undefined, 'the banner removed _ga on withdrawal');
    assert.deepEqual(s.refused.result.storage.sessionStorage, ['consentd']);
    assert.ok(r.report.layout.refuse.visible && r.report.layout.refuse.parentIsSame);
});

test('a_tag_that_ignores_the_banner_is_a_violation_before_any_choice_named_with_its_script', async () => {
    const r = await runScan(stack, 'ignores');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.report.verdict, 'fail');
    const v = of(r.report, 'violation', 'before');
    assert.deepEqual(v.map((f) => [f.kind, f.name, f.by, f.url]), [['cookie', '_ga', 'script', `http://analytics.test:${stack.port}/ga.js`]]);
    assert.equal(v[0].tracker.vendor, 'Google Analytics', 'known from the Open Cookie Database');
    assert.match(r.stdout, /violation: Before any choice: cookie _ga \(http:\/\/analytics\.test:\d+\/ga\.js\)/);
    assert.deepEqual(of(r.report, 'violation', 'refused').map((f) => f.name), ['_ga'], 'and after the refusal: the tag runs on every page');
});

test('a_tag_that_keeps_ga_after_a_refusal_is_a_violation_after_the_refusal', async () => {
    const r = await runScan(stack, 'keeps');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.deepEqual(of(r.report, 'violation', 'before'), [], 'it waits for a choice');
    const v = of(r.report, 'violation', 'refused');
    assert.deepEqual(v.map((f) => [f.kind, f.name, f.url]), [['cookie', '_ga', `http://analytics.test:${stack.port}/keeps.js`]]);
    assert.deepEqual(of(r.report, 'violation', 'withdrawn').map((f) => f.name), ['_ga'], 'and after a withdrawal');
});

test('the_html_report_is_axe_clean', async () => {
    const r = await runScan(stack, 'ignores', ['--depth', '0']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.report.findings.filter((f) => f.level === 'violation').map((f) => `${f.state} ${f.name}`), ['before _ga', 'refused _ga', 'withdrawn _ga']);
    const html = fs.readFileSync(r.html, 'utf8');
    assert.ok(html.indexOf('Findings, violations first') < html.indexOf('Before any choice</h2>'), 'findings come first');
    assert.equal((html.match(/<img src="data:image\/png;base64,/g) || []).length, 4, 'a screenshot per state, inlined');
    assert.doesNotMatch(html, /<(script|link)\b|src="http/, 'self-contained');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        await page.goto(`file://${r.html}`);
        await page.addScriptTag({ path: AXE_PATH });
        const result = await page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
        assert.deepEqual(result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), []);
        await screenshot(page, 'scanner_report', { fullPage: false });
    } finally {
        await browser.close();
    }
});
