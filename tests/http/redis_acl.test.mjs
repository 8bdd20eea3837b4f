// Redis with least privilege: the `consentd` ACL user of
// ops/redis-users.acl may run only the commands consentd sends, on its own
// keys (cd:*). consentd authenticates from redis://user:password@host:port
// and works fully with that user (every route that touches Redis, the
// counters' flush, the function library reloaded after a flush), while the
// same user cannot FLUSHALL, CONFIG, read other keys, or escape through a
// function of its own.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { Consentd, Redis, RedisError, SOURCE_DIR, makeTempDir, redisCommand, test, waitFor } from './lib/harness.mjs';
import { DEMO_KEY, browser, postConsent, server, sha256hex } from './lib/consent.mjs';

const ACL_TEMPLATE = path.join(SOURCE_DIR, 'ops', 'redis-users.acl');
const adminPassword = crypto.randomBytes(18).toString('hex');
const consentdPassword = crypto.randomBytes(18).toString('hex');

/* The ACL file as ops/run.sh writes it: no comments, password hashes in. */
export function aclFileText(template, admin, consentd) {
    return (
        template
            .split('\n')
            .filter((l) => l.trim() !== '' && !l.startsWith('#'))
            .join('\n')
            .replace('@ADMIN_PASSWORD_SHA256@', sha256hex(admin))
            .replace('@CONSENTD_PASSWORD_SHA256@', sha256hex(consentd)) + '\n'
    );
}

let redis, consentd;
const asConsentd = (...args) => redisCommand(redis.port, args, { auth: ['consentd', consentdPassword] });

before(async () => {
    const dir = makeTempDir('acl');
    const aclFile = path.join(dir, 'users.acl');
    fs.writeFileSync(aclFile, aclFileText(fs.readFileSync(ACL_TEMPLATE, 'utf8'), adminPassword, consentdPassword));
    redis = await Redis.start({ args: ['--aclfile', aclFile], auth: ['default', adminPassword] });
    consentd = await Consentd.start({
        redisUrl: `redis://consentd:${consentdPassword}@127.0.0.1:${redis.port}`,
        // The log's checkpointer runs too (its lease, chains, checkpoints).
        config: { log: { checkpoint_seconds: 1 } },
    });
});
after(async () => {
    try {
        await consentd?.stop();
    } finally {
        await redis?.stop();
    }
});

async function refused(args) {
    await assert.rejects(asConsentd(...args), (e) => e instanceof RedisError && /^NOPERM/.test(e.message), `${args.join(' ')} was not refused`);
}

test('without_a_password_nothing_is_reachable', async () => {
    await assert.rejects(redisCommand(redis.port, ['GET', 'cd:{demo:0}:s:x']), /NOAUTH|NOPERM/);
    await assert.rejects(redisCommand(redis.port, ['FLUSHALL']), /NOAUTH|NOPERM/);
});

test('the_consentd_user_cannot_flush_configure_or_read_other_keys', async () => {
    assert.equal(await asConsentd('PING'), 'PONG');
    await redis.command('SET', 'not-consentd', 'secret');
    for (const args of [
        ['FLUSHALL'],
        ['FLUSHDB'],
        ['CONFIG', 'GET', '*'],
        ['CONFIG', 'SET', 'appendonly', 'no'],
        ['KEYS', '*'],
        ['SCAN', '0'],
        ['DEBUG', 'SLEEP', '0'],
        ['SHUTDOWN', 'NOSAVE'],
        ['ACL', 'LIST'],
        ['ACL', 'SETUSER', 'consentd', '+@all'],
        ['CLIENT', 'LIST'],
        ['MONITOR'],
        ['EVAL', 'return 1', '0'],
        ['FUNCTION', 'FLUSH'],
        ['FUNCTION', 'DELETE', 'consentd'],
        ['SAVE'], // (BGREWRITEAOF and BGSAVE it may send: erasure's compaction on disk)
        ['CONFIG', 'SET', 'appendonly', 'no'],
        ['REPLICAOF', '127.0.0.1', '1'],
        ['MIGRATE', '127.0.0.1', '1', 'cd:x', '0', '1000'],
        ['GET', 'not-consentd'],
        ['SET', 'not-consentd', 'x'],
        ['DEL', 'not-consentd'],
        ['RENAME', 'cd:{demo:0}:s:a', 'elsewhere'],
        ['SUBSCRIBE', 'x'],
    ]) {
        await refused(args);
    }
    assert.equal(await redis.command('GET', 'not-consentd'), 'secret');
});

test('a_function_it_loads_runs_with_its_rights_only', async () => {
    // FUNCTION LOAD is allowed (consentd loads its library at connect), but
    // the commands a function runs are checked against the caller's rules.
    const lib = "#!lua name=evil\nredis.register_function('wipe', function() return redis.call('FLUSHALL') end)";
    assert.equal(await asConsentd('FUNCTION', 'LOAD', 'REPLACE', lib), 'evil');
    try {
        await assert.rejects(asConsentd('FCALL', 'wipe', '0'), /can't run this command/);
        assert.equal(await redis.command('GET', 'not-consentd'), 'secret');
    } finally {
        await redis.command('FUNCTION', 'DELETE', 'evil');
    }
});

test('consentd_works_fully_with_the_consentd_user', async () => {
    await redis.command('ACL', 'LOG', 'RESET');
    const health = await consentd.request('/healthz');
    assert.equal(health.status, 200, health.text);

    const site = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, 'ops', 'sites', 'demo.json'), 'utf8'));
    const body = { visitor: 'acl-visitor-01', decisions: { audience: true }, policy_version: site.policy_version, lang: 'fr' };
    const post = await postConsent(consentd, body);
    assert.equal(post.status, 201, post.text);
    const byServer = await postConsent(consentd, { ...body, source: 'api' }, server());
    assert.equal(byServer.status, 201, byServer.text);
    const get = await consentd.request('/v1/sites/demo/consents/acl-visitor-01', { headers: browser() });
    assert.equal(get.status, 200, get.text);
    assert.equal(get.json().consent_id, byServer.json().consent_id);
    const withdraw = await consentd.request('/v1/sites/demo/consents/acl-visitor-01', { method: 'DELETE', headers: browser() });
    assert.equal(withdraw.status, 200, withdraw.text);
    const events = await consentd.request('/v1/sites/demo/events', {
        method: 'POST',
        headers: browser(),
        body: JSON.stringify({ type: 'shown', lang: 'fr', visitor: 'acl-visitor-01' }),
    });
    assert.equal(events.status, 204, events.text);
    const access = await consentd.request('/v1/sites/demo/visitors/acl-visitor-01', { headers: server() });
    assert.equal(access.status, 200, access.text);
    assert.equal(access.json().history.length, 3);
    const exported = await consentd.request('/v1/sites/demo/consents?limit=10', { headers: server(DEMO_KEY) });
    assert.equal(exported.status, 200, exported.text);
    assert.equal(exported.text.trim().split('\n').length, 3);
    const erase = await consentd.request('/v1/sites/demo/visitors/acl-visitor-01', { method: 'DELETE', headers: server() });
    assert.equal(erase.status, 200, erase.text);

    // A scan summary is stored (consentd_scan_add) and read back (LINDEX).
    const scan = { scanned_at: '2026-12-05T03:00:00Z', verdict: 'pass', scanner: 'consentd-scan 1', pages: 1, violations: 0, undeclared: 0, leftover: 0, stale: 0, notices: 0 };
    const posted = await consentd.request('/v1/sites/demo/scans', { method: 'POST', headers: server(), body: JSON.stringify(scan) });
    assert.equal(posted.status, 201, posted.text);
    const latest = await consentd.request('/v1/sites/demo/scans/latest', { headers: server() });
    assert.equal(latest.status, 200, latest.text);
    // The counters reach Redis (flushed every second) through their function.
    await waitFor(async () => (await redis.command('KEYS', 'cd:{demo:stats}:*')).length > 0, {
        timeoutMs: 5000,
        message: 'the counters to be flushed',
    });
    // The compressed banners are shared through Redis (GET, SET NX, DEL of
    // cd:{demo:bz}:*), as the consentd user: banner.js and consentd-defaults.js.
    await waitFor(async () => (await redis.command('KEYS', 'cd:{demo:bz}:z:*')).length === 2, {
        timeoutMs: 5000,
        message: 'the compressed banners stored',
    });
    // Redis lost its functions (a flush, a restart without AOF): consentd
    // loads them again, as the consentd user.
    await redis.command('FUNCTION', 'FLUSH');
    const again = await postConsent(consentd, { ...body, visitor: 'acl-visitor-02' });
    assert.equal(again.status, 201, again.text);
    // The checkpointer chains that write and signs a checkpoint, as the consentd user.
    await waitFor(async () => (await redis.command('XLEN', 'cd:{demo:log}:checkpoints')) > 0, {
        timeoutMs: 5000,
        message: 'a log checkpoint',
    });

    const log = await redis.command('ACL', 'LOG');
    assert.deepEqual(log, [], `Redis refused commands of consentd: ${JSON.stringify(log)}`);
});

test('every_command_the_code_sends_is_allowed_to_the_consentd_user', async () => {
    // The commands in the sources: Lua redis.call()s of the function
    // library (src/store.lua), and the command names among the C string literals (checked
    // against Redis' own list, so arguments like COUNT do not count).
    const src = path.join(SOURCE_DIR, 'src');
    const used = new Set();
    const known = new Set((await redis.command('COMMAND', 'LIST')).map((c) => c.toLowerCase()));
    // redis.c names the commands it refuses to send (they change the
    // connection's mode): not sent, not needed.
    const redisC = fs.readFileSync(path.join(src, 'redis.c'), 'utf8');
    const refusedBlock = /refused\[\] = \{([^}]*)\}/.exec(redisC);
    assert.ok(refusedBlock, 'src/redis.c: the list of refused commands moved; update this test');
    for (const m of refusedBlock[1].matchAll(/"([A-Z]+)"/g)) known.delete(m[1].toLowerCase());
    for (const file of fs.readdirSync(src).filter((f) => f.endsWith('.c') || f.endsWith('.lua'))) {
        const text = fs.readFileSync(path.join(src, file), 'utf8');
        for (const m of text.matchAll(/redis\.call\('([A-Za-z_]+)'/g)) used.add(m[1].toLowerCase());
        // "GET", "CLUSTER", "SLOTS" (argv) or "CLUSTER INFO" (a format string).
        for (const m of text.matchAll(/"([A-Z][A-Z_]+)(?: ([A-Z]+))?"(?:\s*,\s*"([A-Z]+)")?/g)) {
            const name = m[1].toLowerCase();
            const sub = m[2] || m[3];
            if (!known.has(name) || name === 'auth') continue; /* AUTH: before any user */
            // Container commands count with their subcommand (CLUSTER SLOTS).
            const container = ['function', 'cluster', 'config', 'client', 'acl', 'object', 'memory', 'script', 'xinfo'];
            used.add(container.includes(name) && sub ? `${name}|${sub.toLowerCase()}` : name);
        }
    }
    assert.ok(used.has('fcall') && used.has('xadd') && used.has('ping'), `the scan found too little: ${[...used]}`);
    const rules = (await redis.command('ACL', 'GETUSER', 'consentd'))[5];
    // Redis writes the rules back in its own words: "+@hyperloglog
    // -pfselftest -pfdebug" for +pfadd +pfcount +pfmerge. Apply them in order.
    const allowed = new Set();
    for (const rule of rules.split(' ')) {
        const name = rule.slice(1);
        const names = name.startsWith('@')
            ? name === '@all'
                ? []
                : (await redis.command('COMMAND', 'LIST', 'FILTERBY', 'ACLCAT', name.slice(1))).map((c) => c.toLowerCase())
            : [name];
        for (const n of names) {
            if (rule.startsWith('+')) allowed.add(n);
            else allowed.delete(n);
        }
    }
    const missing = [...used].filter((c) => !allowed.has(c));
    assert.deepEqual(missing, [], `add ${missing.map((c) => `+${c}`).join(' ')} to the consentd user in ops/redis-users.acl`);
});
