// Proofs verify as long as they are kept (issue 19, item 3): a proof signed
// before a key rotation, read back from the access request and the audit
// export with consentd's clock five years on (Debian's faketime), still
// verifies from /.well-known/jwks.json, with jose and with
// ops/verify-proof.sh (itself run five years on); once no proof the retired
// key signed can be held any more (twice the log retention, plus the reload
// grace: keys.h), the key leaves the JWKS and the same check fails.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import * as jose from 'jose';
import { SOURCE_DIR, runConsentd, shippedSite, startStack, test, waitFor } from './lib/harness.mjs';
import { browser, postConsent, server } from './lib/consent.mjs';
import { archiveState, bannerBody, versionOf } from './lib/versions.mjs';

const VERIFY = path.join(SOURCE_DIR, 'ops', 'verify-proof.sh');
const site = shippedSite('demo');
const RETENTION_DAYS = site.log_retention_days ?? 1825;
const RELOAD_GRACE_DAYS = 30; // KEYS_RELOAD_GRACE_DAYS
// libfaketime preloaded into consentd itself (the faketime command forks,
// and a signal to it would not reach consentd); it goes before the
// sanitizer runtime in the library list: tell ASan that this is expected.
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const ASAN_OPTIONS = [process.env.ASAN_OPTIONS, 'verify_asan_link_order=0'].filter(Boolean).join(':');

let stack;
before(async () => {
    const probe = spawnSync('faketime', ['-f', '+1d', 'true']);
    if (probe.error || probe.status !== 0 || !fs.existsSync(LIBFAKETIME)) {
        throw new Error('faketime is not installed (apt-get install faketime; ops/test.sh installs it)');
    }
    stack = await startStack();
});
after(async () => {
    await stack?.stop();
});

/* Restart consentd with its clock `days` days ahead (0: the real clock). */
async function restartDaysAhead(days) {
    const c = stack.consentd;
    await c.stop();
    c.env = days ? { LD_PRELOAD: LIBFAKETIME, FAKETIME: `+${days}d`, ASAN_OPTIONS } : {};
    await c.start();
}

async function jwks() {
    const res = await stack.consentd.request('/.well-known/jwks.json');
    assert.equal(res.status, 200, res.text);
    return res.json();
}

/* ops/verify-proof.sh with its own clock `days` ahead. Asynchronous: this
 * process reads consentd's output, which must not wait while the script
 * asks consentd. */
function verifyProofScript(days, args) {
    return new Promise((resolve) => {
        execFile(
            'faketime',
            ['-f', `+${days}d`, 'bash', VERIFY, ...args],
            { timeout: 60000, env: { ...process.env, CONSENTD_URL: stack.consentd.url(''), CONSENTD_KEY: 'demo-key-change-me' } },
            (error, stdout, stderr) => resolve({ status: error ? (error.code ?? 1) : 0, out: `${stdout}${stderr}` }),
        );
    });
}

test('a_proof_signed_before_a_rotation_verifies_from_the_jwks_five_years_later_and_not_once_it_cannot_be_held', async () => {
    // A consent from the banner (with the version it was shown), signed by
    // the first key.
    const bv = versionOf(await bannerBody(stack.consentd));
    await waitFor(async () => Object.keys(await archiveState(stack.redis)).length > 0, { message: 'the banner archived' });
    const visitor = 'kept-proof-visitor-0001';
    const decisions = Object.fromEntries(site.purposes.filter((p) => p.legal_basis !== 'necessary').map((p) => [p.id, true]));
    const posted = await postConsent(stack.consentd, {
        visitor,
        decisions,
        policy_version: site.policy_version,
        lang: 'fr',
        banner_version: bv,
        control: 'accept_all',
    });
    assert.equal(posted.status, 201, posted.text);
    const proof = posted.json().proof;
    const oldKid = jose.decodeProtectedHeader(proof).kid;

    // Rotation: a new key becomes active, the old one is retired now.
    const keygen = runConsentd(['keygen', '--config', stack.consentd.layout.configPath, '--activate']);
    assert.equal(keygen.status, 0, keygen.stderr);

    // Five years minus a day later (the demo's log retention): the access
    // request and the export still return the proof, and the JWKS still
    // publishes the key that signed it.
    const days = RETENTION_DAYS - 1;
    await restartDaysAhead(days);
    const keys = await jwks();
    const kids = keys.keys.map((k) => k.kid);
    assert.ok(kids.includes(oldKid), `the retired key ${oldKid} is still published: ${kids}`);
    assert.notEqual(kids[0], oldKid, 'the new key is the active one');

    const access = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { headers: server() });
    assert.equal(access.status, 200, access.text);
    const held = access.json().history.find((h) => h.proof === proof);
    assert.ok(held, 'the access request returns the very proof issued');
    const today = new Date().toISOString().slice(0, 10); // Redis' (real) day of the write
    const exp = await stack.consentd.request(`/v1/sites/demo/consents?from=${today}&to=${today}&limit=1000`, { headers: server() });
    assert.equal(exp.status, 200, exp.text);
    const line = exp.text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.visitor === visitor);
    assert.equal(line?.proof, proof, 'the audit export returns it too');

    // jose (a JOSE library we did not write), from nothing but that JWKS:
    // the signature as issued (the choice itself expired long ago).
    const { payload, protectedHeader } = await jose.compactVerify(line.proof, jose.createLocalJWKSet(keys));
    assert.equal(protectedHeader.kid, oldKid);
    const claims = JSON.parse(new TextDecoder().decode(payload));
    assert.equal(claims.sub, visitor);
    assert.equal(claims.ctl, 'accept_all');
    assert.equal(claims.bv, bv);

    // ops/verify-proof.sh, five years on too: the proof has expired, and
    // with --expired-ok it checks out, banner version included.
    let r = await verifyProofScript(days, ['--proof', line.proof, 'demo', visitor]);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /the proof expired at .*--expired-ok/);
    r = await verifyProofScript(days, ['--proof', line.proof, '--expired-ok', 'demo', visitor]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`signature OK \\(key ${oldKid}\\)`));
    assert.match(r.out, /expired .*: checked as evidence of what was signed then/);
    assert.match(r.out, /verify-proof: OK/);

    // Past the longest hold (2 x retention) and the reload grace, nothing the
    // old key signed can be held: it leaves the JWKS, and the check fails.
    const gone = 2 * RETENTION_DAYS + RELOAD_GRACE_DAYS + 1;
    await restartDaysAhead(gone);
    assert.ok(!(await jwks()).keys.some((k) => k.kid === oldKid), 'the retired key is withdrawn');
    r = await verifyProofScript(gone, ['--proof', line.proof, '--expired-ok', 'demo', visitor]);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, new RegExp(`no key ${oldKid} in the JWKS`));
    await restartDaysAhead(0);
});
