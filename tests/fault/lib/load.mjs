// tests/fault/lib/load.mjs - concurrent clients for the fault tests: each
// one records consents in a loop on its own keep-alive connection and notes
// every answer, so that a test can compare what consentd acknowledged (201)
// with what Redis holds afterwards, and measure outages and recoveries.
import assert from 'node:assert/strict';
import http from 'node:http';
import { delay, shippedSite } from '../../http/lib/harness.mjs';
import { DEMO_KEY, DEMO_ORIGIN } from '../../http/lib/consent.mjs';

const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
/* After a refused connection (consentd down), wait before the next try. */
const RETRY_PAUSE_MS = 20;

/* One HTTP request on agent; resolves {status, headers, text, ms} or
 * {status: 0, error} when the connection failed or was cut. */
export function send(port, agent, target, { method = 'GET', headers = {}, body, timeoutMs = 10000 } = {}) {
    return new Promise((resolve) => {
        const t0 = performance.now();
        const req = http.request({ host: '127.0.0.1', port, path: target, method, headers, agent }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('error', (error) => resolve({ status: 0, error: error.code || error.message, ms: performance.now() - t0 }));
            res.on('end', () =>
                resolve({
                    status: res.statusCode,
                    headers: res.headers,
                    text: Buffer.concat(chunks).toString('utf8'),
                    ms: performance.now() - t0,
                }),
            );
        });
        req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
        req.on('error', (error) => resolve({ status: 0, error: error.code || error.message, ms: performance.now() - t0 }));
        req.end(body);
    });
}

/* The body of a consent that grants the i-th mix of purposes. */
export function consentBody(visitor, i) {
    const decisions = {};
    CONSENT.forEach((p, k) => (decisions[p] = ((i >> k) & 1) === 1));
    return JSON.stringify({ visitor, decisions, policy_version: site.policy_version, lang: i % 2 ? 'en' : 'fr' });
}

/*
 * ConsentLoad: `clients` loops, each posting consents for fresh visitor ids
 * (`<prefix>-<client>-<n>`) until stop() or `total` requests were sent.
 * Every answer lands in `results` ({at, ms, status, code, retryAfter,
 * visitor, consentId, error}, `at` in ms since start, on the
 * performance.now() clock); `acked` maps visitor -> consent id for every 201.
 */
export class ConsentLoad {
    constructor(consentd, { clients = 16, prefix = 'load', total = Infinity, timeoutMs = 10000 } = {}) {
        this.consentd = consentd;
        this.clients = clients;
        this.prefix = prefix;
        this.total = total;
        this.timeoutMs = timeoutMs;
        this.results = [];
        this.acked = new Map();
        this.sent = 0;
        this.stopping = false;
        this.loops = [];
        this.waiters = [];
    }

    start() {
        this.t0 = performance.now();
        for (let c = 0; c < this.clients; c++) this.loops.push(this.loop(c));
        return this;
    }

    now() {
        return performance.now() - this.t0;
    }

    async loop(c) {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
            for (let n = 0; !this.stopping && this.sent < this.total; n++) {
                this.sent++;
                const visitor = `${this.prefix}-${String(c).padStart(3, "0")}-${String(n).padStart(6, "0")}`;
                const at = this.now();
                const res = await send(this.consentd.port, agent, '/v1/sites/demo/consents', {
                    method: 'POST',
                    headers: { origin: DEMO_ORIGIN, 'content-type': 'application/json' },
                    body: consentBody(visitor, n),
                    timeoutMs: this.timeoutMs,
                });
                const r = { at, ms: res.ms, status: res.status, visitor, error: res.error };
                if (res.status === 201) {
                    r.consentId = JSON.parse(res.text).consent_id;
                    this.acked.set(visitor, r.consentId);
                } else if (res.status > 0) {
                    r.retryAfter = res.headers['retry-after'];
                    try {
                        r.code = JSON.parse(res.text).error.code;
                        r.message = JSON.parse(res.text).error.message;
                    } catch {
                        r.code = `not JSON: ${res.text.slice(0, 80)}`;
                    }
                }
                this.results.push(r);
                this.notify();
                if (res.status === 0) await delay(RETRY_PAUSE_MS);
            }
        } finally {
            agent.destroy();
        }
    }

    notify() {
        this.waiters = this.waiters.filter((w) => !(w.test() && (w.resolve(), true)));
    }

    /* Resolves when test() holds after some answer (checked at each one). */
    until(test, { timeoutMs = 30000, message = 'load condition' } = {}) {
        if (test()) return Promise.resolve();
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${message}`)), timeoutMs);
            this.waiters.push({ test, resolve: () => (clearTimeout(timer), resolve()) });
        });
    }

    async stop() {
        this.stopping = true;
        await Promise.all(this.loops);
    }

    /* Answers that started in [from, to) (ms since start). */
    between(from, to = Infinity) {
        return this.results.filter((r) => r.at >= from && r.at < to);
    }
}

/*
 * Check through the API that every acknowledged consent is what consentd
 * serves as the visitor's current choice (each visitor of a load has one
 * consent, so its state is that consent). Returns the count checked.
 */
export async function assertAllAckedStored(consentd, acked, { concurrency = 16 } = {}) {
    const entries = [...acked.entries()];
    const missing = [];
    let next = 0;
    const worker = async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
            while (next < entries.length) {
                const [visitor, consentId] = entries[next++];
                const res = await send(consentd.port, agent, `/v1/sites/demo/consents/${visitor}`, {
                    headers: { authorization: `Bearer ${DEMO_KEY}` },
                });
                if (res.status !== 200) missing.push(`${visitor}: ${res.status} ${res.text || res.error}`);
                else if (JSON.parse(res.text).consent_id !== consentId)
                    missing.push(`${visitor}: consent ${JSON.parse(res.text).consent_id}, acknowledged ${consentId}`);
            }
        } finally {
            agent.destroy();
        }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    assert.equal(missing.length, 0, `${missing.length} of ${entries.length} acknowledged consents are not stored: ${missing.slice(0, 10).join('; ')}`);
    return entries.length;
}

/* The consent log entries Redis holds for the demo site (all 64 partitions). */
export async function logEntries(redis) {
    let n = 0;
    for (let p = 0; p < 64; p++) n += await redis.command('XLEN', `cd:{demo:${p}}:log`);
    return n;
}

export function percentile(values, q) {
    if (values.length === 0) return null;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export const round = (x) => (x === null || x === undefined ? x : Math.round(x));
