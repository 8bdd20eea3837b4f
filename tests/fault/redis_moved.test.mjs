// Redis moves to another address under the same host name (a container
// recreated, a failover done in DNS): consentd, given the name in its
// redis.url, follows it without a restart. The name is real DNS: the test
// maps a name of its own in /etc/hosts (and takes the line out after), so it
// needs root; it is skipped otherwise. Prints the figures
// (docs/reliability.md).
import assert from 'node:assert/strict';
import dns from 'node:dns';
import fs from 'node:fs';
import { after } from 'node:test';
import { Consentd, Redis, freePort, shippedSite, test, waitFor } from '../http/lib/harness.mjs';
import { browser, postConsent } from '../http/lib/consent.mjs';

const HOSTS = '/etc/hosts';
const NAME = `consentd-test-redis-${process.pid}`;
const RECONNECT_MAX_MS = 500;
const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);

/* Whether this process may rewrite /etc/hosts (root, not read-only). */
function writable() {
    try {
        fs.writeFileSync(HOSTS, fs.readFileSync(HOSTS));
        return true;
    } catch {
        return false;
    }
}

/* /etc/hosts as found, and a mapping of NAME written in place (it is often a
 * bind mount that cannot be replaced); restored at exit, whatever happens. */
const original = writable() ? fs.readFileSync(HOSTS, 'utf8') : null;
const restore = () => original !== null && fs.writeFileSync(HOSTS, original);
process.on('exit', restore);
const mapName = (address) => fs.writeFileSync(HOSTS, `${original.replace(/\n?$/, '\n')}${address} ${NAME}\n`);

const stops = [];
after(async () => {
    while (stops.length) await stops.pop()();
    restore();
});

const choice = (visitor) => ({ decisions: { [CONSENT[0]]: true }, policy_version: site.policy_version, lang: 'fr', visitor });

test('redis_moved_to_another_address_under_its_name_is_followed_without_a_restart', { skip: original === null && 'needs root to map a name in /etc/hosts' }, async (t) => {
    const port = await freePort();
    mapName('127.0.0.2');
    const seen = await dns.promises.lookup(NAME, { family: 4 }).catch((error) => ({ address: error.code }));
    if (seen.address !== '127.0.0.2') {
        t.skip(`this machine's resolver does not read /etc/hosts (${NAME}: ${seen.address})`);
        return;
    }
    const first = await Redis.start({ port, args: ['--bind', '127.0.0.1', '127.0.0.2'] });
    stops.push(() => first.stop());
    const consentd = await Consentd.start({
        redisUrl: `redis://${NAME}:${port}`,
        config: { redis: { reconnect_max_ms: RECONNECT_MAX_MS } },
    });
    stops.push(() => consentd.stop());
    const before = await postConsent(consentd, choice('moved-before'));
    assert.equal(before.status, 201, before.text);

    // The old address goes away; the name now points at a new Redis.
    await first.stop();
    mapName('127.0.0.3');
    const second = await Redis.start({ port, args: ['--bind', '127.0.0.1', '127.0.0.3'] });
    stops.push(() => second.stop());
    const t0 = Date.now();
    let tries = 0;
    const after201 = await waitFor(
        async () => {
            tries++;
            const res = await postConsent(consentd, choice(`moved-after-${tries}`));
            assert.ok(res.status === 201 || res.status === 503, `${res.status} ${res.text}`);
            return res.status === 201 ? res : null;
        },
        { timeoutMs: 20000, intervalMs: 100, message: `a 201 from the Redis ${NAME} now names (127.0.0.3); consentd said:\n${consentd.proc.stderr.split("\n").filter((l) => !l.includes(" access ")).join("\n")}` },
    );
    const ms = Date.now() - t0;
    process.stderr.write(
        `FIGURES ${JSON.stringify({ fault: 'redis moved to another address under its name', first_201_after_ms: ms, tries })}\n`,
    );
    assert.equal(consentd.running, true);
    assert.match(consentd.proc.stderr, new RegExp(`${NAME} now resolves to 127\\.0\\.0\\.3 \\(was 127\\.0\\.0\\.2\\)`));
    // Written to the new Redis, read back through consentd.
    const visitor = after201.json().visitor;
    // Each worker has its own connection: the one that answered 201 is back,
    // another may still be waiting out its reconnect delay (≤ reconnect_max_ms),
    // so a 503 from it is allowed for that long, nothing else.
    const read = await waitFor(
        async () => {
            const res = await consentd.request(`/v1/sites/demo/consents/${visitor}`, { headers: browser() });
            assert.ok(res.status === 200 || res.status === 503, `${res.status} ${res.text}`);
            return res.status === 200 ? res : null;
        },
        { timeoutMs: 4 * RECONNECT_MAX_MS + 2000, intervalMs: 50, message: 'a 200 from every worker once one is back' },
    );
    assert.equal(read.json().consent_id, after201.json().consent_id);
    assert.equal((await second.command('DBSIZE')) > 0, true, 'the new Redis holds the consent');
});

