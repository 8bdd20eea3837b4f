// api.js - the site configuration API as the console calls it: same origin,
// the key as a bearer token (never in a URL), JSON both ways
// (docs/sites.md, docs/api.md). Every failure becomes an ApiError that
// carries the server's code, its message, the field errors of a 422
// invalid_site and the current revision of a 409 conflict; the keys of a
// site (keys.js).

export class ApiError extends Error {
    constructor(status, code, message, detail = {}) {
        super(message);
        this.status = status;
        this.code = code;
        this.errors = detail.errors || [];
        this.revision = detail.revision;
        this.rawMessage = detail.message || ''; // the server's own words, before explain()
    }
}

// What a person should read for an error answer.
function explain(status, code, message) {
    switch (status) {
        case 401:
            return 'This key is not known here (or not for this site). Check it and sign in again.';
        case 403:
            if (code == 'insufficient_scope') return `This key may not do this: ${message}`;
            return 'This key belongs to another site: sign in with a key of this site.';
        case 404:
            if (code == 'site_not_found') return 'There is no site with this id on this server.';
            return message || 'Not found.';
        case 503:
            return 'consentd cannot reach its storage (Redis) right now. Try again in a moment.';
        default:
            return message || `The server answered ${status}.`;
    }
}

export const sitePath = (site, rest = '') => `/v1/sites/${encodeURIComponent(site)}${rest}`;

export async function call(session, method, path, body) {
    let res;
    const headers = { authorization: `Bearer ${session.key}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
        res = await fetch(path, {
            method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            cache: 'no-store',
            credentials: 'omit',
        });
    } catch (e) {
        throw new ApiError(0, 'network', `consentd did not answer (${e.message}). Is the server running?`);
    }
    let json = null;
    try {
        json = await res.json();
    } catch {
        /* no JSON body */
    }
    if (res.ok) return json;
    const e = json?.error || {};
    const code = e.code || 'http_' + res.status;
    throw new ApiError(res.status, code, explain(res.status, code, e.message || ''), e);
}

export const api = {
    // A page of the sites: {q, limit, cursor}, each when set.
    listSites: (s, page = {}) => {
        const q = String(new URLSearchParams(Object.entries(page).filter(([, v]) => v)));
        return call(s, 'GET', `/v1/sites${q ? `?${q}` : ''}`);
    },
    createSite: (s, body) => call(s, 'POST', '/v1/sites', body),
    getDraft: (s) => call(s, 'GET', sitePath(s.site, '/draft')),
    putDraft: (s, revision, site) => call(s, 'PUT', sitePath(s.site, '/draft'), { revision, site }),
    check: (s, site) => call(s, 'POST', sitePath(s.site, '/draft/check'), site),
    preview: (s, site) => call(s, 'POST', sitePath(s.site, '/previews'), site),
    versions: (s) => call(s, 'GET', sitePath(s.site, '/versions')),
    version: (s, n) => call(s, 'GET', sitePath(s.site, `/versions/${n}`)),
    commit: (s, revision, message) => call(s, 'POST', sitePath(s.site, '/versions'), { revision, ...(message ? { message } : {}) }),
    diff: (s, from, to) => call(s, 'GET', sitePath(s.site, `/diff?from=${from}&to=${to}`)),
    keys: (s) => call(s, 'GET', sitePath(s.site, '/keys')),
    createKey: (s, body) => call(s, 'POST', sitePath(s.site, '/keys'), body),
    deleteKey: (s, name) => call(s, 'DELETE', sitePath(s.site, `/keys/${encodeURIComponent(name)}`)),
    publish: (s, n, bump) => call(s, 'POST', sitePath(s.site, `/versions/${n}/publish`), bump === undefined ? {} : { bump_policy: bump }),
};
