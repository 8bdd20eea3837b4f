// SIGHUP reloads the sites directory: a good set replaces the old one at
// once; a broken file keeps the old set whole and logs the file and field.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { brokenSite, siteLike, startStack, test, waitFor } from './lib/harness.mjs';

const RELOAD_DEADLINE_MS = 5000;
/* Each worker thread switches to the new sites when its event loop takes the
 * reload message, so for a moment two requests may see two sets: a reload
 * has taken effect when this many requests in a row (on new connections,
 * which the kernel spreads over the workers) agree. */
const AGREEING_REQUESTS = 8;

let stack;
before(async () => {
    stack = await startStack();
});
after(async () => {
    await stack?.stop();
});

const banner = (site) => stack.consentd.request(`/v1/sites/${site}/banner.js`);

/* Wait until every worker answers status for site's banner. */
async function waitForBanner(site, status, message) {
    await waitFor(
        async () => {
            for (let i = 0; i < AGREEING_REQUESTS; i++) if ((await banner(site)).status !== status) return false;
            return true;
        },
        { timeoutMs: RELOAD_DEADLINE_MS, message },
    );
}

test('sighup_after_adding_a_site_file_serves_the_new_site', async () => {
    assert.equal((await banner('shop')).status, 404, 'shop exists before it was added');
    stack.consentd.writeSite('shop.json', siteLike('shop'));
    const from = stack.consentd.stderr.length;
    stack.consentd.signal('SIGHUP');
    await waitForBanner('shop', 200, 'the new site to be served after SIGHUP');
    assert.equal((await banner('demo')).status, 200, 'demo is still served');
    await stack.consentd.waitForLog(/reload/i, { from });
});

test('sighup_after_removing_a_site_file_stops_serving_it', async () => {
    stack.consentd.removeSite('shop.json');
    stack.consentd.signal('SIGHUP');
    await waitForBanner('shop', 404, 'the removed site to answer 404 after SIGHUP');
    const res = await banner('shop');
    assert.equal(res.json().error.code, 'site_not_found');
});

test('sighup_with_a_broken_site_file_keeps_the_old_sites_and_logs_file_and_field', async () => {
    const { site, field } = brokenSite('broken');
    stack.consentd.writeSite('broken.json', site);
    // A good new file in the same reload must not get in either: all or nothing.
    stack.consentd.writeSite('extra.json', siteLike('extra'));
    const from = stack.consentd.stderr.length;
    stack.consentd.signal('SIGHUP');
    const escaped = field.replace(/[[\]]/g, '\\$&');
    const [line] = await stack.consentd.waitForLog(new RegExp(`^.*broken\\.json.*${escaped}.*$`, 'm'), {
        from,
        timeoutMs: RELOAD_DEADLINE_MS,
    });
    assert.match(line, /legal_basis: must be one of consent, legitimate_interest, necessary/);
    assert.equal((await banner('demo')).status, 200, 'the old site is no longer served');
    assert.equal((await banner('extra')).status, 404, 'a site from the refused reload is served');
    assert.equal((await banner('broken')).status, 404, 'the broken site is served');
    const health = await stack.consentd.request('/healthz');
    assert.equal(health.status, 200, health.text);
    assert.ok(stack.consentd.running);
});

test('a_later_good_reload_after_a_broken_one_applies', async () => {
    stack.consentd.removeSite('broken.json');
    stack.consentd.signal('SIGHUP');
    await waitForBanner('extra', 200, 'the good set to be served once the broken file is gone');
});
