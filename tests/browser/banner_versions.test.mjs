// Banner versions in a real browser: the consent a visitor gives in Chromium
// names the banner version that browser received, whose archived bytes are
// those very bytes and hash (by the documented definition) to that name; a
// reload with new texts makes a new version while the old one stays readable
// and the old proof still names it; and docs/api.md's end-to-end check,
// ops/verify-proof.sh, passes for a consent given on the demo page and fails
// when the proof or the archive is tampered with.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before } from 'node:test';
import { SOURCE_DIR, test } from '../http/lib/harness.mjs';
import { server, verifyProof } from '../http/lib/consent.mjs';
import { carriedVersion, versionOf } from '../http/lib/versions.mjs';
import { banner, bannerPage, newPage, startBannerStack, updateSite, waitOpen, waitRecorded } from './lib/browser.mjs';

const VERIFY = path.join(SOURCE_DIR, 'ops', 'verify-proof.sh');

let stack;
before(async () => {
    stack = await startBannerStack();
});
after(async () => {
    await stack?.stop();
});

const download = (hash) => stack.consentd.request(`/v1/sites/demo/banner-versions/${hash}`, { headers: server() });

/* Open url in a fresh browser, keep the banner.js bytes it received, accept
 * all, and wait until consentd recorded it: {received, cookie, claims}. */
async function acceptAll(url) {
    const page = await newPage(stack);
    let received;
    page.on('response', async (res) => {
        if (new URL(res.url()).pathname === '/v1/sites/demo/banner.js' && res.status() === 200) received = await res.body();
    });
    await page.goto(url);
    await waitOpen(page);
    await banner.button(page, 'Tout accepter').click();
    const cookie = await waitRecorded(page);
    await page.context().close();
    assert.ok(received, 'the browser received banner.js');
    const { payload } = await verifyProof(stack.consentd, cookie.p);
    return { received, cookie, claims: payload };
}

function verify(args, env = {}) {
    const r = spawnSync('bash', [VERIFY, ...args], {
        encoding: 'utf8',
        timeout: 60000,
        env: { ...process.env, CONSENTD_URL: stack.consentd.url(''), CONSENTD_KEY: 'demo-key-change-me', ...env },
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

let first; /* the first consent, on the banner before the reload */

test('a_consent_given_in_chromium_names_the_version_the_browser_received', async () => {
    const url = stack.pages.set('/page.html', bannerPage(stack));
    first = await acceptAll(url);
    const { received, claims } = first;
    assert.match(claims.bv, /^[0-9a-f]{64}$/);
    assert.equal(carriedVersion(received), claims.bv, 'the proof names the version the browser got');
    assert.equal(versionOf(received), claims.bv, 'which is the hash of those bytes');
    const archived = await download(claims.bv);
    assert.equal(archived.status, 200, archived.text);
    assert.ok(archived.body.equals(received), 'the archive holds exactly what the browser received');
});

test('new_texts_make_a_new_version_the_old_one_stays_and_old_proofs_still_name_it', async () => {
    assert.ok(first, 'runs after the first test');
    const site = stack.consentd.sites['demo.json'];
    await updateSite(stack, { policy_version: `${site.policy_version}-b`, controller: { name: 'Demo SAS, textes revus' } });
    const second = await acceptAll(stack.pages.set('/page2.html', bannerPage(stack)));
    assert.notEqual(second.claims.bv, first.claims.bv, 'a new version');
    assert.ok(second.received.includes('textes revus'));
    assert.ok((await download(second.claims.bv)).body.equals(second.received));
    assert.ok((await download(first.claims.bv)).body.equals(first.received), 'the old version stays readable');
    const access = (await stack.consentd.request(`/v1/sites/demo/visitors/${first.cookie.v}`, { headers: server() })).json();
    assert.equal(access.current.banner_version, first.claims.bv, 'the old proof still names the old version');
    assert.equal((await verifyProof(stack.consentd, access.current.proof)).payload.bv, first.claims.bv);
});

test('ops_verify_proof_checks_a_demo_page_consent_end_to_end', async () => {
    const { cookie, claims } = await acceptAll(stack.consentd.url('/demo/'));
    const ok = verify(['demo', cookie.v]);
    assert.equal(ok.status, 0, ok.out);
    assert.match(ok.out, new RegExp(`banner version ${claims.bv}: archived, \\d+ bytes, SHA-256 recomputed: OK`));
    assert.match(ok.out, /verify-proof: OK/);
    // The proof the visitor holds in the cookie checks out the same way.
    assert.equal(verify(['--proof', cookie.p, 'demo', cookie.v]).status, 0);

    // A proof altered after signing fails.
    const [h, p, s] = cookie.p.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims, dec: Object.fromEntries(Object.keys(claims.dec).map((k) => [k, false])) })).toString('base64url');
    const bad = verify(['--proof', `${h}.${forged}.${s}`, 'demo', cookie.v]);
    assert.equal(bad.status, 1, bad.out);
    assert.match(bad.out, /signature does not verify/);
    assert.notEqual(p, forged);

    // An archive whose bytes were changed fails.
    const key = `cd:{demo:banners}:v:${claims.bv}`;
    const js = await stack.redis.command('HGET', key, 'js');
    await stack.redis.command('HSET', key, 'js', js.replace('Tout accepter', 'Tout accepter!'));
    const tampered = verify(['demo', cookie.v]);
    assert.equal(tampered.status, 1, tampered.out);
    assert.match(tampered.out, /the archived banner hashes to [0-9a-f]{64}, not to the proof's/);
    await stack.redis.command('HSET', key, 'js', js);
});
