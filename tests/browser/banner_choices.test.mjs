// The visitor's choices in a real browser: accept all, refuse all, continue
// without accepting and customise each land in Redis as the right record
// with a proof that verifies; the choice is kept in a first-party cookie,
// so a reload does not ask again; a policy version bump asks again; if the
// API is down the choice applies at once and is recorded later; continuing
// without accepting grants nothing that uses trackers (issue 19, item 5).
// Each proof says which control was used, and refusing in the panel what
// was granted is recorded as a withdrawal (issue 19, item 4).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import { allKeys, server, verifyProof } from '../http/lib/consent.mjs';
import {
    CONSENT, LEGIT, NECESSARY, banner, bannerPage, choiceCookie, isOpen, newPage, purposeName, site,
    startBannerStack, updateSite, waitOpen, waitRecorded,
} from './lib/browser.mjs';

let stack, url;
before(async () => {
    stack = await startBannerStack();
    url = stack.pages.set('/page.html', bannerPage(stack));
});
after(async () => {
    await stack?.stop();
});

const ALL = site.purposes.map((p) => p.id);
const expect = (granted) => Object.fromEntries(ALL.map((id) => [id, NECESSARY.includes(id) || granted.includes(id)]));

/* What consentd holds for the visitor, read with the site's key, and its proof verified. */
async function recorded(visitor) {
    const res = await stack.consentd.request(`/v1/sites/demo/consents/${visitor}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    const body = res.json();
    const { payload } = await verifyProof(stack.consentd, body.proof);
    assert.equal(payload.sub, visitor);
    assert.deepEqual(payload.dec, body.decisions);
    assert.equal(payload.src, 'banner');
    assert.equal(payload.pv, site.policy_version);
    const keys = await allKeys(stack.redis);
    assert.ok(keys.some((k) => k.includes(visitor)), `a Redis key for ${visitor}`);
    return body;
}

/* The proof's act and ctl claims, as "act/ctl" (jose verifies the proof). */
async function how(body) {
    const { payload } = await verifyProof(stack.consentd, body.proof);
    assert.equal(body.control, payload.ctl);
    assert.equal(body.action, payload.act);
    return `${payload.act}/${payload.ctl}`;
}

async function choose(buttonName, { lang = 'fr' } = {}) {
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    await banner.button(page, buttonName).click();
    assert.equal(await isOpen(page), false, 'the dialog closes');
    const c = await waitRecorded(page);
    assert.equal(c.pv, site.policy_version);
    return { page, c, body: await recorded(c.v) };
}

test('accept_all_records_every_purpose_granted_with_a_verifying_proof', async () => {
    const { page, c, body } = await choose('Tout accepter');
    assert.deepEqual(body.decisions, expect(ALL));
    assert.equal(await how(body), 'consent/accept_all');
    assert.deepEqual(c.d, body.decisions, 'the cookie keeps the decisions');
    assert.equal(c.h, undefined, 'once recorded, the cookie keeps no pending how');
    assert.equal(body.lang, 'fr');
    assert.equal(c.cookie.sameSite, 'Lax');
    assert.equal(c.cookie.path, '/');
    const days = (c.cookie.expires * 1000 - Date.now()) / 86400000;
    assert.ok(Math.abs(days - (site.choice_lifetime_days ?? 182)) < 1, `cookie lifetime ${days} days`);
    assert.deepEqual(await page.evaluate(() => consentd.getAll()), body.decisions);
    await page.context().close();
});

test('refuse_all_records_every_purpose_refused_but_the_necessary_ones', async () => {
    const { page, body } = await choose('Tout refuser');
    assert.deepEqual(body.decisions, expect([]));
    assert.equal(await how(body), 'consent/reject_all');
    await page.context().close();
});

test('continue_without_accepting_refuses_what_needs_consent_and_grants_nothing_that_uses_trackers', async () => {
    const { page, body } = await choose('Continuer sans accepter →');
    assert.deepEqual(body.decisions, expect(LEGIT));
    assert.equal(await how(body), 'consent/dismiss');
    // Only what is strictly necessary may use trackers without consent
    // (ePrivacy art. 5(3)); the demo site declares every purpose's trackers.
    for (const p of site.purposes) {
        assert.equal(typeof p.trackers, 'boolean', `${p.id} says whether it uses trackers`);
        if (body.decisions[p.id] && p.legal_basis !== 'necessary') assert.equal(p.trackers, false, `${p.id} granted by a dismissal`);
    }
    const granted = Object.keys(body.decisions).filter((id) => body.decisions[id]);
    assert.deepEqual(granted, NECESSARY, 'the demo: only the necessary purposes');
    assert.deepEqual(await page.evaluate(() => consentd.getAll()), body.decisions);
    await page.context().close();
});

test('customise_records_exactly_the_switches_chosen', async () => {
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    await banner.button(page, 'Personnaliser').click();
    for (const id of CONSENT) assert.equal(await banner.switchOf(page, purposeName(id)).isChecked(), false, `${id} starts off`);
    for (const id of LEGIT) assert.equal(await banner.switchOf(page, purposeName(id)).isChecked(), true, `${id} starts on`);
    for (const id of NECESSARY) {
        assert.equal(await banner.switchOf(page, purposeName(id)).isChecked(), true);
        assert.equal(await banner.switchOf(page, purposeName(id)).isDisabled(), true, `${id} cannot be refused`);
    }
    await banner.switchOf(page, purposeName(CONSENT[0])).check();
    if (LEGIT.length) await banner.switchOf(page, purposeName(LEGIT[0])).uncheck(); // none on the demo since issue 19
    await banner.button(page, 'Enregistrer mes choix').click();
    const c = await waitRecorded(page);
    const body = await recorded(c.v);
    assert.deepEqual(body.decisions, { ...expect([CONSENT[0], ...LEGIT]), ...(LEGIT.length ? { [LEGIT[0]]: false } : {}) });
    assert.equal(await how(body), 'consent/custom');
    await page.context().close();
});

test('refusing_in_the_panel_what_was_granted_is_recorded_as_a_withdrawal', async () => {
    const { page, c } = await choose('Tout accepter');
    await banner.manage(page).click(); // opens with the panel
    await waitOpen(page);
    await banner.switchOf(page, purposeName(CONSENT[0])).uncheck();
    await banner.button(page, 'Enregistrer mes choix').click();
    const again = await waitFor(async () => {
        const now = await choiceCookie(page);
        return now.p && now.p !== c.p && now;
    }, { message: 'the withdrawal recorded' });
    const body = await recorded(again.v);
    assert.equal(body.decisions[CONSENT[0]], false);
    assert.equal(await how(body), 'withdrawal/custom');
    // Granting more afterwards is a consent again, not a withdrawal.
    await banner.manage(page).click();
    await waitOpen(page);
    await banner.button(page, 'Tout accepter').click();
    const third = await waitFor(async () => {
        const now = await choiceCookie(page);
        return now.p && now.p !== again.p && now;
    }, { message: 'the new consent recorded' });
    assert.equal(await how(await recorded(third.v)), 'consent/accept_all');
    // The access request shows all three, newest first.
    const access = await stack.consentd.request(`/v1/sites/demo/visitors/${c.v}`, { headers: server() });
    assert.deepEqual(access.json().history.map((h) => `${h.action}/${h.control}`),
        ['consent/accept_all', 'withdrawal/custom', 'consent/accept_all']);
    await page.context().close();
});

test('a_choice_over_the_visitors_write_limit_applies_at_once_is_retried_a_bounded_number_of_times_and_recorded_later', async () => {
    const { page, c } = await choose('Tout refuser');
    // The visitor's minute is full (rate_limit.visitor_writes_per_minute, 10).
    const minute = (await allKeys(stack.redis)).find((k) => k.endsWith(`:wm:${c.v}`));
    assert.ok(minute, 'no per-minute write counter of the visitor');
    await stack.redis.command('SET', minute, '10', 'KEEPTTL');
    const posts = [];
    page.on('response', (r) => {
        if (r.request().method() === 'POST' && r.url().endsWith('/consents')) posts.push(r.status());
    });
    await page.reload();
    await banner.manage(page).click();
    await waitOpen(page);
    await banner.button(page, 'Tout accepter').click();
    assert.equal(await isOpen(page), false, 'the dialog closes');
    const pending = await choiceCookie(page);
    assert.equal(pending.q, 1, 'the choice waits to be recorded');
    assert.deepEqual(pending.d, expect(ALL), 'the choice applies at once');
    // The banner backs off (2 s doubled after each try): no loop.
    await waitFor(async () => posts.length >= 2, { timeoutMs: 8000, message: 'one retry' });
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(posts, [429, 429], 'the banner retried at once or in a loop');
    // The minute ends: the next retry (8 s later) is recorded.
    await stack.redis.command('PEXPIRE', minute, '1');
    const done = await waitRecorded(page, { timeoutMs: 15000 });
    assert.deepEqual(posts, [429, 429, 201]);
    assert.equal(done.v, c.v, 'same visitor id');
    assert.deepEqual((await recorded(c.v)).decisions, expect(ALL));
    await page.context().close();
});

test('reload_does_not_show_the_banner_again_and_the_settings_control_reopens_it', async () => {
    const { page, c } = await choose('Tout refuser');
    await page.reload();
    await banner.manage(page).waitFor({ state: 'visible' });
    assert.equal(await isOpen(page), false, 'no banner after reload');
    assert.equal(await banner.manage(page).textContent(), 'Gérer mes cookies');
    // Changing one's mind: the control, then accept; the same visitor.
    await banner.manage(page).click();
    await waitOpen(page);
    assert.equal(await banner.switchOf(page, purposeName(CONSENT[0])).isChecked(), false, 'panel shows the current choice');
    await banner.button(page, 'Tout accepter').click();
    const again = await waitFor(async () => {
        const now = await choiceCookie(page);
        return now.p && now.p !== c.p && now;
    }, { message: 'the new choice recorded' });
    assert.equal(again.v, c.v, 'same visitor id');
    assert.deepEqual((await recorded(c.v)).decisions, expect(ALL));
    await page.context().close();
});

/* The stats' time to decide of today (all visitors of the suite). */
async function timeToDecide() {
    const today = new Date().toISOString().slice(0, 10);
    const res = await stack.consentd.request(`/v1/sites/demo/stats?from=${today}&to=${today}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    return res.json().time_to_decide;
}

/* The figures once the earlier tests' counts are all in: counters reach
 * Redis a flush (1 s) or more after their consent, so a baseline read too
 * early would see one of them arrive during the test (a flake seen with two
 * suites running at once): read until two reads 1.5 s apart agree. */
async function settledTimeToDecide() {
    let last = await timeToDecide();
    for (let i = 0; i < 8; i++) {
        await new Promise((r) => setTimeout(r, 1500));
        const now = await timeToDecide();
        if (JSON.stringify(now) === JSON.stringify(last)) return now;
        last = now;
    }
    throw new Error('the time-to-decide counts never settled');
}

test('the_first_choice_reports_its_time_to_decide_and_a_later_one_none', async () => {
    const before = await settledTimeToDecide();
    const page = await newPage(stack);
    const sent = [];
    page.on('request', (r) => r.url().endsWith('/consents') && r.method() === 'POST' && sent.push(JSON.parse(r.postData())));
    await page.goto(url);
    await waitOpen(page);
    await page.waitForTimeout(600);
    await banner.button(page, 'Tout refuser').click();
    const c = await waitRecorded(page);
    assert.equal(sent.length, 1);
    assert.ok(Number.isInteger(sent[0].ttd) && sent[0].ttd >= 600 && sent[0].ttd < 60000, `ttd ${sent[0].ttd}`);
    assert.equal(sent[0].control, 'reject_all');
    // From the settings control: not the first decision, no time.
    await banner.manage(page).click();
    await waitOpen(page);
    await banner.button(page, 'Tout accepter').click();
    await waitFor(async () => {
        const now = await choiceCookie(page);
        return now.p && now.p !== c.p && now;
    }, { message: 'the new choice recorded' });
    assert.equal(sent.length, 2);
    assert.equal(sent[1].ttd, null, 'no time to decide for a later choice');
    // consentd counted the first one: one more refusal with a time, in its bin.
    let last;
    const after = await waitFor(async () => {
        last = await timeToDecide();
        return last.all.reject_all.n === before.all.reject_all.n + 1 && last;
    }, { message: 'the time to decide counted' }).catch((e) => {
        throw new Error(`${e.message}: reject_all n ${before.all.reject_all.n} before, ${last?.all.reject_all.n} at the end`);
    });
    assert.equal(after.all.accept_all.n, before.all.accept_all.n, 'the later acceptance has no time');
    await page.context().close();
});

test('api_down_applies_the_choice_at_once_and_records_it_later', async () => {
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    await stack.redis.stop();
    try {
        await banner.button(page, 'Tout accepter').click();
        assert.equal(await isOpen(page), false);
        assert.equal(await page.evaluate((id) => consentd.get(id), CONSENT[0]), true, 'applies at once');
        const pending = await choiceCookie(page);
        assert.equal(pending.q, 1, 'kept locally as pending');
    } finally {
        await stack.redis.start();
    }
    const c = await waitRecorded(page, { timeoutMs: 20000 });
    assert.deepEqual((await recorded(c.v)).decisions, expect(ALL));
    await page.context().close();
});

test('policy_version_bump_shows_the_banner_again', async () => {
    const { page } = await choose('Tout accepter');
    const state = await page.context().storageState();
    await page.context().close();
    await updateSite(stack, { policy_version: `${site.policy_version}-bumped` });
    const next = await newPage(stack, { storageState: state }); // cookie kept, HTTP cache not
    await next.goto(url);
    await waitOpen(next);
    assert.equal(await next.evaluate((id) => consentd.get(id), CONSENT[0]), false, 'old consent no longer applies');
    await next.context().close();
});
