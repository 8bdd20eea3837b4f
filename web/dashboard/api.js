// api.js - the stats API as the dashboard calls it: same origin, a key of the
// site with the scope stats:read (docs/api.md, Keys and scopes) as a bearer token, JSON for the charts and the table, CSV for the
// download; and the site's newest scan summary. Every failure becomes an ApiError whose message says what to do.

export class ApiError extends Error {
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
    }
}

const statsPath = (site, query, csv) => {
    const q = new URLSearchParams({ from: query.from, to: query.to, by: query.by });
    if (query.variant) q.set('variant', query.variant);
    if (csv) q.set('format', 'csv');
    return `/v1/sites/${encodeURIComponent(site)}/stats?${q}`;
};

// What a person should read for an error answer of the API.
function explain(status, code, message) {
    switch (status) {
        case 401:
            return 'This API key is not the key of this site. Check both and sign in again.';
        case 403:
            if (code == 'insufficient_scope')
                return 'This API key may not read the statistics (it lacks the scope stats:read): sign in with a key made for the dashboard.';
            return 'This API key belongs to another site: sign in with the key of this site.';
        case 404:
            return code == 'site_not_found' ? 'There is no site with this id on this server.' : message;
        case 400:
            return `The server refused these settings: ${message}`;
        case 503:
            return 'The statistics are unavailable right now: consentd cannot reach its storage (Redis). Try again in a moment.';
        default:
            return message || `The server answered ${status}.`;
    }
}

async function call(session, query, csv, path = statsPath(session.site, query, csv)) {
    let res;
    try {
        res = await fetch(path, {
            headers: { authorization: `Bearer ${session.key}`, accept: csv ? 'text/csv' : 'application/json' },
            cache: 'no-store',
            credentials: 'omit',
        });
    } catch (e) {
        throw new ApiError(0, 'network', `consentd did not answer (${e.message}). Is the server running?`);
    }
    if (res.ok) return res;
    let code = 'http_' + res.status,
        message = '';
    try {
        const body = await res.json();
        code = body.error.code;
        message = body.error.message;
    } catch {
        /* not our JSON error: keep the status */
    }
    throw new ApiError(res.status, code, explain(res.status, code, message));
}

// The stats JSON of the spec (buckets, total, variants_comparison).
export async function fetchStats(session, query) {
    return (await call(session, query, false)).json();
}

// The newest scan summary (docs/api.md, Scan summaries), null when none was posted.
export async function fetchLatestScan(session) {
    try {
        return await (await call(session, null, false, `/v1/sites/${encodeURIComponent(session.site)}/scans/latest`)).json();
    } catch (e) {
        if (e instanceof ApiError && e.code == 'no_scan') return null;
        throw e;
    }
}

// The CSV as a Blob and the file name the server gives it.
export async function fetchCsv(session, query) {
    const res = await call(session, query, true);
    const disposition = res.headers.get('content-disposition') || '';
    const name = /filename="([^"]+)"/.exec(disposition)?.[1] || `consentd-${session.site}-${query.from}-${query.to}.csv`;
    return { blob: await res.blob(), name };
}
