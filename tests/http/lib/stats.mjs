// tests/http/lib/stats.mjs - what the stats tests share: running
// ops/demo-data.mjs against a test consentd, reading the stats API, and
// waiting for the counters' flush (at least once a second).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { SOURCE_DIR, waitFor } from './harness.mjs';

export const DEMO_DATA = path.join(SOURCE_DIR, 'ops', 'demo-data.mjs');
export const DEMO_KEY = 'demo-key-change-me';

export const isoDay = (date) => date.toISOString().slice(0, 10);

// The dashboard's default range: the last 30 UTC days, today included.
export function last30Days(now = new Date()) {
    const to = isoDay(now);
    const from = isoDay(new Date(Date.parse(`${to}T00:00:00Z`) - 29 * 86400e3));
    return { from, to };
}

/* Run ops/demo-data.mjs URL ...args; resolves {code, stdout, stderr, report}
 * (report: the --json summary when asked for and the run succeeded). */
export function runDemoData(url, args = [], { timeoutMs = 120000 } = {}) {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [DEMO_DATA, url, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '',
            stderr = '';
        child.stdout.on('data', (c) => (stdout += c));
        child.stderr.on('data', (c) => (stderr += c));
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`ops/demo-data.mjs still running after ${timeoutMs} ms:\n${stderr}`));
        }, timeoutMs);
        child.on('error', reject);
        child.on('close', (code) => {
            clearTimeout(timer);
            let report = null;
            if (code === 0 && args.includes('--json')) report = JSON.parse(stdout);
            resolve({ code, stdout, stderr, report });
        });
    });
}

/* GET /v1/sites/{site}/stats?query with the key: the answer of harness.request. */
export function getStats(consentd, query = {}, { site = 'demo', key = DEMO_KEY, headers = {} } = {}) {
    const q = new URLSearchParams(query);
    return consentd.request(`/v1/sites/${site}/stats?${q}`, { headers: { authorization: `Bearer ${key}`, ...headers } });
}

/* The stats JSON once its total has reached `want` (a subset of total's
 * counts): the counters are flushed at least once a second. */
export function waitForTotals(consentd, query, want, { timeoutMs = 10000, site, key } = {}) {
    return waitFor(
        async () => {
            const res = await getStats(consentd, query, { site, key });
            if (res.status !== 200) throw new Error(`stats answered ${res.status}: ${res.text}`);
            const stats = res.json();
            return Object.entries(want).every(([k, v]) => stats.total[k] === v) ? stats : null;
        },
        { timeoutMs, intervalMs: 200, message: `the stats totals to reach ${JSON.stringify(want)}` },
    );
}
