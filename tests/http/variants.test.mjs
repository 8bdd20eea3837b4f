// Banner variants on the server side: a consent names the variant its
// visitor saw and records the hash of that variant's texts; a site file whose
// variant overrides a text the banner does not have (or drops a placeholder
// the banner fills in) stops start-up and is refused by a reload, naming the
// file and the field, while the old sites stay in service.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { makeConsentdDir, runConsentd, shippedSite, shippedSites, siteLike, startStack, test, waitFor } from './lib/harness.mjs';
import { postConsent, server, verifyProof } from './lib/consent.mjs';

const site = shippedSite('demo');
const choice = (extra = {}) => ({ decisions: {}, policy_version: site.policy_version, lang: 'fr', ...extra });

let stack;
before(async () => {
    stack = await startStack();
});
after(async () => {
    await stack?.stop();
});

/* The demo site with a variant that overrides `texts` in fr. */
function siteWithOverride(id, texts) {
    const s = siteLike(id);
    s.variants = [{ id: 'a', weight: 1 }, { id: 'x', weight: 1, layout: 'box', texts: { fr: texts } }];
    return s;
}

async function recorded(extra) {
    const res = await postConsent(stack.consentd, choice(extra));
    assert.equal(res.status, 201, res.text);
    const body = res.json();
    const { payload } = await verifyProof(stack.consentd, body.proof);
    assert.equal(payload.th, body.texts_hash, 'the proof carries the recorded texts hash');
    assert.equal(payload.var, extra.variant, 'the proof names the variant');
    return body;
}

test('each_variant_records_the_hash_of_its_own_texts', async () => {
    const [a, b] = site.variants;
    assert.ok(!a.texts && b.texts?.fr?.title, 'demo: variant a keeps the banner texts, b overrides the title');
    const none = await recorded({});
    const va = await recorded({ variant: a.id, visitor: 'visitor-of-variant-a' });
    const vb = await recorded({ variant: b.id, visitor: 'visitor-of-variant-b' });
    assert.equal(va.variant, a.id);
    assert.equal(vb.variant, b.id);
    assert.equal(va.texts_hash, none.texts_hash, 'a variant that overrides nothing shows the same texts');
    assert.notEqual(vb.texts_hash, va.texts_hash, 'b shows another title');
    // The record as stored says the same.
    const got = await stack.consentd.request('/v1/sites/demo/consents/visitor-of-variant-b', { headers: server() });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json().variant, b.id);
    assert.equal(got.json().texts_hash, vb.texts_hash);
    // In English, b's hash differs from its French one and from a's English one.
    const enA = await recorded({ variant: a.id, lang: 'en' });
    const enB = await recorded({ variant: b.id, lang: 'en' });
    assert.notEqual(enB.texts_hash, enA.texts_hash);
    assert.notEqual(enB.texts_hash, vb.texts_hash);
});

test('a_variant_text_the_banner_does_not_have_stops_start_up_naming_file_and_field', () => {
    const layout = makeConsentdDir({ sites: { ...shippedSites(), 'typo.json': siteWithOverride('typo', { titel: 'Oups' }) } });
    for (const args of [['--check-config', '--config', layout.configPath], ['--config', layout.configPath]]) {
        const r = runConsentd(args);
        assert.equal(r.status, 1, `${args[0]}: exit status (stderr: ${r.stderr})`);
        assert.match(r.stderr, /typo\.json: variants\[1\]\.texts\.fr\.titel: is not one of the banner's texts \(title, intro, .*\)/);
    }
});

test('a_variant_text_that_drops_a_placeholder_is_refused', () => {
    const layout = makeConsentdDir({
        sites: { 'drop.json': siteWithOverride('drop', { intro: '{ctl} utilise des cookies pour : {purposes}.' }) },
    });
    const r = runConsentd(['--check-config', '--config', layout.configPath]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /drop\.json: variants\[1\]\.texts\.fr\.intro: must use the same \{placeholders\}/);
    // With every placeholder kept, in another order, it is accepted.
    const ok = makeConsentdDir({
        sites: { 'keep.json': siteWithOverride('keep', { intro: 'Pour {purposes}, {ctl} et {to} ({months} mois).' }) },
    });
    const good = runConsentd(['--check-config', '--config', ok.configPath]);
    assert.equal(good.status, 0, good.stderr);
});

test('a_reload_with_a_bad_variant_text_keeps_the_old_sites_and_logs_file_and_field', async () => {
    const banner = (id) => stack.consentd.request(`/v1/sites/${id}/banner.js`);
    stack.consentd.writeSite('typo.json', siteWithOverride('typo', { acept: 'Oui' }));
    const from = stack.consentd.stderr.length;
    stack.consentd.signal('SIGHUP');
    const [line] = await stack.consentd.waitForLog(/^.*reload failed.*$/m, { from, timeoutMs: 5000 });
    assert.match(line, /typo\.json: variants\[1\]\.texts\.fr\.acept: is not one of the banner's texts/);
    assert.equal((await banner('demo')).status, 200, 'the old sites stay in service');
    assert.equal((await banner('typo')).status, 404);
    // Fixed, the next reload applies.
    stack.consentd.writeSite('typo.json', siteWithOverride('typo', { accept: 'Oui, tout' }));
    stack.consentd.signal('SIGHUP');
    await waitFor(async () => (await banner('typo')).status === 200, { timeoutMs: 5000, message: 'the fixed site served' });
    const res = await postConsent(stack.consentd, choice({ variant: 'x' }), undefined, 'typo');
    assert.equal(res.status, 201, res.text);
});
