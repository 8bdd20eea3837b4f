// The scanner (ops/scan.mjs), continued: a cookie seen after acceptance
// that no purpose declares is "undeclared", with a purpose proposed from
// the Open Cookie Database (exit 0, or 1 with --fail-on-undeclared; --propose
// writes the JSON Patch); a page with no banner, and one whose look-alike
// banner hides "refuse all" from its first layer, are violations.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { test } from '../http/lib/harness.mjs';
import { runScan, startScanStack } from './lib/scan_fixtures.mjs';

let stack;
before(async () => {
    stack = await startScanStack();
});
after(async () => {
    await stack?.stop();
});

const of = (report, level, state) => report.findings.filter((f) => f.level === level && (!state || f.state === state));

test('an_undeclared_cookie_is_reported_with_a_proposed_purpose_and_a_patch', async () => {
    const patch = path.join(stack.dir, 'patch.json');
    const r = await runScan(stack, 'undeclared', ['--depth', '0', '--propose', patch]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(of(r.report, 'violation'), []);
    const u = of(r.report, 'undeclared');
    assert.deepEqual(u.map((f) => [f.state, f.name, f.propose, f.tracker?.category]), [['accepted', '_fbp', 'advertising', 'Marketing']]);
    const advertising = stack.site.purposes.findIndex((p) => p.id === 'advertising');
    assert.deepEqual(JSON.parse(fs.readFileSync(patch, 'utf8')), [{ op: 'add', path: `/purposes/${advertising}/cookies`, value: [{ name: '_fbp' }] }]);
    assert.match(r.stdout, /undeclared: After “accept all”: cookie _fbp .*proposed purpose: advertising/);
    // Undeclared, the banner cannot delete it on withdrawal: it stays, not written again.
    assert.deepEqual(of(r.report, 'leftover').map((f) => [f.state, f.name]), [['withdrawn', '_fbp']]);
    assert.equal(r.report.states.withdrawn.result.cookies.find((c) => c.name === '_ga'), undefined, 'declared _ga was deleted');

    const strict = await runScan(stack, 'undeclared', ['--depth', '0', '--fail-on-undeclared']);
    assert.equal(strict.code, 1, '--fail-on-undeclared');
    assert.equal(strict.report.verdict, 'fail');
});

test('a_page_without_the_banner_is_a_violation', async () => {
    const r = await runScan(stack, 'missing', ['--depth', '0', '--site-file', stack.siteFile]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.report.configSource, stack.siteFile);
    assert.deepEqual(of(r.report, 'violation').map((f) => [f.kind, f.reason]), [['banner', 'no consentd banner appeared on the first page']]);
    assert.equal(r.report.states.refused.unreached, true);
    assert.match(r.report.states.refused.notes[0], /could not be clicked/);
});

test('a_banner_that_hides_refuse_all_is_a_violation', async () => {
    const r = await runScan(stack, 'fake', ['--depth', '0', '--site-file', stack.siteFile]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const v = of(r.report, 'violation');
    assert.deepEqual(v.map((f) => [f.kind, f.name, f.reason]), [['banner', 'refuse', 'the “refuse all” button is not visible in the first layer']]);
    assert.equal(r.report.layout.accept.visible, true);
    assert.equal(r.report.states.refused.unreached, true);
});
