// Helpers for the acceptance-counter tests: events, the counter keys in
// Redis (layout: docs/data.md), and the fields a request must
// add, computed from the documented rules (not from consentd's code).
import assert from 'node:assert/strict';
import { delay, waitFor } from './harness.mjs';
import { browser } from './consent.mjs';

/* consentd flushes at least once a second: wait a little longer. */
export const FLUSH_MS = 1000;
export const AFTER_FLUSH_MS = FLUSH_MS + 400;

export function postEvent(consentd, body, headers = browser(), site = 'demo') {
    return consentd.request(`/v1/sites/${site}/events`, {
        method: 'POST',
        headers,
        body: typeof body === 'string' ? body : JSON.stringify(body),
    });
}

/* Every counter key of a site (SCAN MATCH on its hash tag). */
export async function counterKeys(redis, site) {
    const keys = [];
    let cursor = '0';
    do {
        const [next, batch] = await redis.command('SCAN', cursor, 'MATCH', `cd:{${site}:stats}:*`, 'COUNT', '1000');
        cursor = next;
        keys.push(...batch);
    } while (cursor !== '0');
    return keys.sort();
}

export async function hashOf(redis, key) {
    const flat = await redis.command('HGETALL', key);
    const out = {};
    for (let i = 0; i < flat.length; i += 2) out[flat[i]] = Number(flat[i + 1]);
    return out;
}

function addInto(sum, fields) {
    for (const [f, n] of Object.entries(fields)) sum[f] = (sum[f] || 0) + n;
    return sum;
}

/* The site's counters summed over its hour hashes ('h') or day hashes ('d'):
 * robust to an hour or a day that turns during the test. */
export async function counterSums(redis, site, kind = 'd') {
    const sum = {};
    for (const key of await counterKeys(redis, site)) {
        if (key.split(':').at(-2) === kind) addInto(sum, await hashOf(redis, key));
    }
    return sum;
}

/* Fields as the spec names them, accumulated from what a test sends. */
export class Expected {
    constructor(site) {
        this.site = site;
        this.fields = {};
    }

    add(dims, metrics, n = 1) {
        for (const d of dims) for (const m of metrics) this.fields[`${d}|${m}`] = (this.fields[`${d}|${m}`] || 0) + n;
    }

    /* The segments (issue 21, item 4) of a banner request: the test's
     * requests send no User-Agent, which is a desktop of another browser. */
    dims({ variant, lang, source, device = 'desktop', browser = 'other' }) {
        const dims = ['all'];
        if (variant) dims.push(`v.${variant}`);
        if (lang) dims.push(`l.${lang}`);
        if (source) dims.push(`s.${source}`);
        if (source === 'banner') dims.push(`d.${device}`, `b.${browser}`);
        return dims;
    }

    /* An accepted event: counted as source banner. */
    event({ type, lang, variant }) {
        this.add(this.dims({ variant, lang, source: 'banner' }), [type]);
    }

    /* A consent answered 201: body is the answer (every purpose resolved). */
    consent(body) {
        const dims = this.dims({ variant: body.variant, lang: body.lang, source: body.source });
        const counted = this.site.purposes.filter((p) => p.legal_basis !== 'necessary').map((p) => p.id);
        // The kind: judged on the purposes that need consent (on the others
        // when the site has none).
        const consent = this.site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
        const judged = consent.length ? consent : counted;
        const granted = judged.filter((id) => body.decisions[id]);
        const kind = granted.length === judged.length ? 'accept_all' : granted.length === 0 ? 'reject_all' : 'custom';
        this.add(dims, ['decisions', kind, ...counted.map((id) => (body.decisions[id] ? `g.${id}` : `r.${id}`))]);
    }

    /* A withdrawal answered 200. */
    withdrawal(body) {
        this.add(this.dims({ lang: body.lang, source: body.source }), ['withdrawn']);
    }
}

/* Wait until the site's day and hour sums equal want exactly, then once more
 * after another flush interval (nothing counted twice, nothing late). */
export async function expectCounts(redis, site, want, { timeoutMs = 5000 } = {}) {
    let last;
    try {
        await waitFor(
            async () => {
                last = await counterSums(redis, site, 'd');
                return JSON.stringify(sorted(last)) === JSON.stringify(sorted(want));
            },
            { timeoutMs, intervalMs: 100, message: `the counters of ${site}` },
        );
    } catch (error) {
        assert.deepEqual(sorted(last), sorted(want), error.message);
    }
    await delay(AFTER_FLUSH_MS);
    assert.deepEqual(sorted(await counterSums(redis, site, 'd')), sorted(want), 'day hashes, one flush later');
    assert.deepEqual(sorted(await counterSums(redis, site, 'h')), sorted(want), 'hour hashes, one flush later');
}

function sorted(obj) {
    return Object.fromEntries(Object.entries(obj || {}).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/* The visitors counted today for a site (PFCOUNT over its u: keys). */
export async function uniqueVisitors(redis, site) {
    const keys = (await counterKeys(redis, site)).filter((k) => k.split(':').at(-2) === 'u');
    return keys.length ? redis.command('PFCOUNT', ...keys) : 0;
}

/* UTC stamps of the layout: YYYYMMDD and YYYYMMDDHH. */
export function dayStamp(ms) {
    return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

export function hourStamp(ms) {
    const iso = new Date(ms).toISOString();
    return `${iso.slice(0, 10).replaceAll('-', '')}${iso.slice(11, 13)}`;
}
