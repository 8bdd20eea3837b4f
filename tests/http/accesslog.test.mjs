// The access log: one line per request, text or JSON, and no client IP
// address unless log.client_ip is on.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import { Consentd, Redis, test } from './lib/harness.mjs';

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
