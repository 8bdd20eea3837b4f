// The access log: one line per request, text or JSON, no client IP address
// unless log.client_ip is on, and no visitor id ever (the {visitor} segment
// of a path is masked).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import { Consentd, Redis, rawExchange, shippedSite, test } from './lib/harness.mjs';
import { browser, postConsent, server } from './lib/consent.mjs';

let redis;
const servers = [];
after(async () => {
    for (const c of servers) await c.stop();
    await redis?.stop();
});

async function start(log) {
    redis ??= await Redis.start();
    const c = await Consentd.start({ redis, config: { log } });
    servers.push(c);
    return c;
}

/* Make requests to unique paths and return, per path, the log lines naming it
 * (once every one has appeared). */
async function linesFor(c, targets) {
    const from = c.stderr.length;
    for (const t of targets) await c.request(t);
    const lines = () => c.stderr.slice(from).split('\n');
    for (const t of targets) await c.waitForLog(new RegExp(t.replace(/[?.]/g, '\\$&')), { from });
    return targets.map((t) => lines().filter((l) => l.includes(t)));
}

test('text_access_log_has_one_line_per_request_without_the_client_ip', async () => {
    const c = await start({ format: 'text', access_log: true, client_ip: false });
    const id = randomUUID();
    const targets = [`/healthz?probe=${id}`, `/v1/sites/demo/banner.js?probe=${id}`, `/nope-${id}`];
    const found = await linesFor(c, targets);
    const statuses = ['200', '200', '404'];
    found.forEach((lines, i) => {
        assert.equal(lines.length, 1, `lines for ${targets[i]}: ${JSON.stringify(lines)}`);
        const fields = lines[0].split(' ');
        const at = fields.indexOf(targets[i]);
        assert.ok(at > 0, `path field in ${lines[0]}`);
        assert.equal(fields[at - 1], 'GET', lines[0]);
        assert.equal(fields[at + 1], statuses[i], lines[0]);
        assert.match(fields[at + 2], /^\d+$/, `bytes in ${lines[0]}`);
        assert.match(fields[at + 3], /^\d+(\.\d+)?(ms)?$/, `duration in ${lines[0]}`);
        assert.ok(!lines[0].includes('127.0.0.1'), `client IP in ${lines[0]}`);
    });
});

test('json_access_log_has_method_path_status_bytes_duration_and_no_client_ip', async () => {
    const c = await start({ format: 'json', access_log: true, client_ip: false });
    const target = `/healthz?probe=${randomUUID()}`;
    const [lines] = await linesFor(c, [target]);
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const entry = JSON.parse(lines[0]);
    assert.equal(entry.method, 'GET');
    assert.equal(entry.path, target);
    assert.equal(entry.status, 200);
    assert.equal(typeof entry.bytes, 'number');
    assert.ok(entry.bytes > 0);
    assert.equal(typeof entry.duration_ms, 'number');
    assert.ok(!('client_ip' in entry), `client_ip logged: ${lines[0]}`);
    assert.ok(!lines[0].includes('127.0.0.1'), lines[0]);
    // Every line in JSON mode is JSON, the start-up line included.
    for (const line of c.stderr.split('\n').filter(Boolean)) JSON.parse(line);
});

test('client_ip_is_logged_only_when_log_client_ip_is_on', async () => {
    const c = await start({ format: 'json', access_log: true, client_ip: true });
    const target = `/healthz?probe=${randomUUID()}`;
    const [lines] = await linesFor(c, [target]);
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(JSON.parse(lines[0]).client_ip, '127.0.0.1');
});

test('access_log_false_writes_no_access_line', async () => {
    const c = await start({ format: 'text', access_log: false });
    const target = `/healthz?probe=${randomUUID()}`;
    const from = c.stderr.length;
    assert.equal((await c.request(target)).status, 200);
    // A request that is logged in any case would be the marker; there is none,
    // so give the log a moment.
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!c.stderr.slice(from).includes(target), c.stderr.slice(from));
});

/* Every request that names a visitor, by its id: the id never reaches the
 * log, whatever the answer; the line shows the route with {visitor}. */
async function visitorRequests(c) {
    const site = shippedSite('demo');
    const visitor = `v-${randomUUID()}`;
    const body = { decisions: {}, policy_version: site.policy_version, lang: site.languages[0], visitor };
    assert.equal((await postConsent(c, body)).status, 201);
    const answers = [
        ['GET', `/v1/sites/demo/consents/${visitor}`, browser(), 200],
        ['DELETE', `/v1/sites/demo/consents/${visitor}`, browser()],
        ['GET', `/v1/sites/demo/visitors/${visitor}?probe=1`, server(), 200],
        ['DELETE', `/v1/sites/demo/visitors/${visitor}`, server()],
        // Errors on the way name it too: a wrong method, an unknown site,
        // a trailing slash, a percent-encoded id, a body h2o refuses itself.
        ['PUT', `/v1/sites/demo/consents/${visitor}`, browser(), 405],
        ['GET', `/v1/sites/nowhere/consents/${visitor}`, server(), 404],
        ['GET', `/v1/sites/demo/visitors/${visitor}/`, server(), 404],
        ['GET', `/v1/sites/demo/visitors/${encodeURIComponent(visitor).replace(/-/g, '%2D')}`, server(), 200],
    ];
    for (const [method, target, headers, status] of answers) {
        const res = await c.request(target, { method, headers });
        if (status !== undefined) assert.equal(res.status, status, `${method} ${target}: ${res.text}`);
    }
    // Only the head: h2o answers 413 from the Content-Length (over
    // limits.max_body_bytes) before any route runs.
    const raw = await rawExchange(
        c.port,
        `DELETE /v1/sites/demo/consents/${visitor} HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n`,
    );
    assert.match(raw.toString(), /^HTTP\/1\.1 413 /);
    // The 413's line is the last: once it is there, every line is.
    await c.waitForLog(/ 413 \d+ |"status":413/);
    return visitor;
}

test('text_access_log_masks_the_visitor_id_of_every_route_that_names_one', async () => {
    const c = await start({ format: 'text', access_log: true, client_ip: false });
    const visitor = await visitorRequests(c);
    const log = c.stderr;
    assert.ok(!log.includes(visitor), `the visitor id is in the log:\n${log}`);
    assert.ok(!log.includes(visitor.slice(2, 10)), `a part of the visitor id is in the log:\n${log}`);
    for (const line of [
        ' access GET /v1/sites/demo/consents/{visitor} 200 ',
        ' access DELETE /v1/sites/demo/consents/{visitor} 200 ',
        ' access GET /v1/sites/demo/visitors/{visitor}?probe=1 200 ',
        ' access DELETE /v1/sites/demo/visitors/{visitor} 200 ',
        ' access PUT /v1/sites/demo/consents/{visitor} 405 ',
        ' access GET /v1/sites/nowhere/consents/{visitor} 404 ',
        ' access GET /v1/sites/demo/visitors/{visitor} 200 ',
    ])
        assert.ok(log.includes(line), `no line with "${line}":\n${log}`);
});

test('json_access_log_masks_the_visitor_id_too', async () => {
    const c = await start({ format: 'json', access_log: true, client_ip: false });
    const visitor = await visitorRequests(c);
    assert.ok(!c.stderr.includes(visitor), `the visitor id is in the log:\n${c.stderr}`);
    const paths = c.stderr
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((e) => e.type === 'access')
        .map((e) => `${e.method} ${e.path} ${e.status}`);
    for (const want of [
        'GET /v1/sites/demo/consents/{visitor} 200',
        'DELETE /v1/sites/demo/visitors/{visitor} 200',
        'DELETE /v1/sites/demo/consents/{visitor} 413',
    ])
        assert.ok(paths.includes(want), `no access entry "${want}" in ${JSON.stringify(paths)}`);
});
