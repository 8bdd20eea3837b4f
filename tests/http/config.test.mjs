// The configuration file, the site files and the environment: a bad one
// stops consentd at start-up with exit 1 and a message naming the file, the
// field and the reason; the environment overrides the file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import {
    Consentd,
    Redis,
    SOURCE_DIR,
    brokenSite,
    freePort,
    generateKeys,
    makeConsentdDir,
    makeTempDir,
    metricSum,
    runConsentd,
    shippedSites,
    test,
    waitFor,
} from './lib/harness.mjs';

let redis;
const servers = [];
after(async () => {
    for (const c of servers) await c.stop();
    await redis?.stop();
});

function refuse(layout, { env } = {}) {
    const r = runConsentd(['--config', layout.configPath], { env });
    assert.equal(r.status, 1, `exit status (stderr: ${r.stderr})`);
    return r.stderr;
}

test('a_config_field_with_a_bad_value_exits_1_naming_file_field_and_reason', async () => {
    const layout = makeConsentdDir({ config: { redis: { command_timeout_ms: 0 } } });
    assert.match(refuse(layout), /consentd\.json: redis\.command_timeout_ms: \S.*/);
});

test('a_config_field_of_the_wrong_type_exits_1_naming_file_field_and_reason', async () => {
    const layout = makeConsentdDir({ config: { threads: 'many' } });
    assert.match(refuse(layout), /consentd\.json: threads: \S.*/);
    const layout2 = makeConsentdDir({ config: { log: { format: 'xml' } } });
    assert.match(refuse(layout2), /consentd\.json: log\.format: \S.*/);
});

test('a_config_file_that_is_not_json_exits_1_naming_the_file', async () => {
    const layout = makeConsentdDir();
    fs.writeFileSync(layout.configPath, '{"listen": {"port": 8080,');
    assert.match(refuse(layout), /consentd\.json/);
});

test('a_missing_config_file_exits_1_naming_it', async () => {
    const dir = makeTempDir('nocfg');
    const r = runConsentd(['--config', path.join(dir, 'absent.json')]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /absent\.json/);
});

test('an_invalid_site_file_exits_1_naming_file_field_and_reason', async () => {
    const { site, field } = brokenSite('demo');
    const layout = makeConsentdDir({ sites: { 'demo.json': site } });
    const escaped = field.replace(/[[\]]/g, '\\$&');
    assert.match(
        refuse(layout),
        new RegExp(`demo\\.json: ${escaped}: must be one of consent, legitimate_interest, necessary`),
    );
});

test('check_config_accepts_the_shipped_config_and_sites', async () => {
    // ops/consentd.json as ops/run.sh installs it: next to a copy of
    // ops/sites/ and a keys directory.
    const dir = makeTempDir('shipped');
    const shipped = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, 'ops', 'consentd.json'), 'utf8'));
    const config = { ...shipped, sites_dir: 'sites', keys_dir: 'keys' };
    fs.writeFileSync(path.join(dir, 'consentd.json'), JSON.stringify(config));
    fs.mkdirSync(path.join(dir, 'sites'));
    for (const [name, text] of Object.entries(shippedSites())) fs.writeFileSync(path.join(dir, 'sites', name), text);
    generateKeys(path.join(dir, 'keys'));
    const r = runConsentd(['--check-config', '--config', path.join(dir, 'consentd.json')]);
    assert.equal(r.status, 0, r.stderr);
    const count = Object.keys(shippedSites()).length;
    assert.match(r.stdout, new RegExp(`\\b${count} site`), r.stdout);
});

test('check_config_refuses_an_invalid_site_with_exit_1', async () => {
    const { site } = brokenSite('demo');
    const layout = makeConsentdDir({ sites: { 'demo.json': site } });
    const r = runConsentd(['--check-config', '--config', layout.configPath]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /demo\.json: purposes\[\d+\]\.legal_basis/);
});

test('consentd_config_env_names_the_file_when_there_is_no_flag', async () => {
    const layout = makeConsentdDir();
    const ok = runConsentd(['--check-config'], { env: { CONSENTD_CONFIG: layout.configPath } });
    assert.equal(ok.status, 0, ok.stderr);
    const bad = makeConsentdDir({ config: { threads: 'many' } });
    const ko = runConsentd(['--check-config'], { env: { CONSENTD_CONFIG: bad.configPath } });
    assert.equal(ko.status, 1, ko.stderr);
    assert.match(ko.stderr, /consentd\.json: threads/);
});

test('port_and_redis_url_from_the_environment_override_the_file', async () => {
    redis ??= await Redis.start();
    const filePort = await freePort();
    const envPort = await freePort();
    const c = new Consentd({
        // The file names a Redis that is not there and another port.
        redisUrl: `redis://127.0.0.1:${await freePort()}`,
        config: { listen: { port: filePort } },
        env: { PORT: String(envPort), REDIS_URL: redis.url },
    });
    c.port = envPort;
    servers.push(c);
    await c.start();
    // The line may reach the pipe after /healthz answered start(): wait for it.
    const listening = new RegExp(`listening on http://127\\.0\\.0\\.1:${envPort}\\b`);
    await waitFor(() => listening.test(c.stderr), { timeoutMs: 5000, message: `"listening on" port ${envPort} in the log` });
    assert.match(c.stderr, listening);
    const res = await c.request('/healthz');
    assert.equal(res.status, 200, `REDIS_URL not used: ${res.text}`);
});

test('threads_flag_sets_the_worker_count', async () => {
    redis ??= await Redis.start();
    const c = new Consentd({ redis, threads: 2, args: ['--threads', '1'] });
    servers.push(c);
    await c.start();
    // One worker, one Redis connection.
    await waitFor(async () => metricSum(await c.metrics(), 'consentd_redis_connected') === 1, {
        timeoutMs: 5000,
        message: 'consentd_redis_connected to be 1',
    });
});
