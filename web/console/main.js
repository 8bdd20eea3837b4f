// main.js - the console page (issue 22, item 3; docs/console.md). Sign in
// with a key: the operator key (every site: the list, create, edit) or a
// site's key with its site id. The key is kept in sessionStorage only (as
// the dashboard does: this tab, forgotten when it closes), sent as a bearer
// token, never put in a URL or in localStorage. Then edit the site's draft
// (form.js, or the whole document as JSON), with validation as you type
// (POST draft/check, debounced: errors.js puts each message beside its
// field) and a live preview of the real banner built from the unsaved
// document (POST previews, debounced) in a sandboxed frame, in each
// language and variant, at desktop and mobile widths; save the draft with
// its revision (409: someone else saved first, reload theirs); make it a
// version, see the history and diffs, publish and roll back (history.js).
// A session that may manage the site's keys (keys:admin, the server says)
// gets a Keys view: list, make (the secret shown once) and revoke
// (keys.js); after creating a site the console offers its first key.
import { api, ApiError } from './api.js';
import { $, h } from './dom.js';
import { clearErrors, showErrors } from './errors.js';
import { SiteForm } from './form.js';
import { History } from './history.js';
import { Keys } from './keys.js';
import { loadSession, saveSession, showError } from '../shared/session.js';

const STORE = 'consentd.console';
const DEBOUNCE_MS = 300;
const PREVIEW_WIDTHS = { 1280: 640, 375: 667 }; // frame width -> height

let session = null; // {key, site, operator}
let revision = 0; // the draft revision this document was read at (or saved as)
let dirty = false; // edited since the last save or load
let checkSeq = 0,
    previewSeq = 0; // the answer awaited (older ones are dropped)
let bannerUrl = null; // the last preview's banner
let timer = null; // the check and preview to come (debounced)
let lastFocus = null; // the console's element that had the focus last

function fail(error) {
    if (error instanceof ApiError && error.status == 401) {
        signOut(error.message);
        return;
    }
    showError(error instanceof ApiError ? error.message : `Something went wrong: ${error.message}`);
}

function show(view) {
    for (const id of ['signin', 'sites', 'noaccess', 'editor', 'keys']) $(`#${id}`).hidden = id != view;
    if (view != 'keys') keys.forget(); // the secret of a new key is shown once, in its view only
    if (view != 'editor') {
        $('#created').hidden = true;
        // No preview behind another view: an answer still awaited is dropped,
        // and a banner loading in the hidden frame cannot take the focus.
        clearTimeout(timer);
        previewSeq++;
        $('#preview-frame').src = 'about:blank';
    }
    $('#who').hidden = view == 'signin';
    if (session)
        $('#who-text').textContent = session.operator
            ? session.site
                ? `operator, site ${session.site}`
                : 'operator'
            : `site ${session.site}`;
    document.body.dataset.view = view;
}

function signOut(message) {
    session = null;
    saveSession(STORE, null);
    $('#key').value = '';
    show('signin');
    showError(message);
    $('#key').focus();
}

// ---- the sites (operator key) ----

const SITES_PAGE = 100;
let sitesShown = { q: '', sites: [], next_cursor: null }; // the list as shown

function siteRow(s) {
    return h(
        'tr',
        { dataset: { site: s.id } },
        h('th', { scope: 'row' }, s.id),
        h('td', {}, s.published ? `version ${s.published}` : 'none'),
        h('td', {}, s.draft_revision ? `revision ${s.draft_revision}` : 'none'),
        h('td', {}, s.source || ''),
        h('td', {}, s.served ? 'yes' : 'no'),
        h(
            'td',
            { class: 'row-actions' },
            h('button', { type: 'button', class: 'secondary', onclick: () => openSite(s.id) }, `Edit ${s.id}`),
            h('button', { type: 'button', class: 'secondary', dataset: { keys: s.id }, onclick: () => showKeys(s.id) }, `Keys of ${s.id}`),
        ),
    );
}

// The line above the list: how many of how many, for which search.
function sitesStatus(q, shown, { total, next_cursor }) {
    const holding = q ? ` whose id holds “${q}”` : '';
    if (total == 0) return q ? `No site${holding}.` : 'No site yet.';
    if (next_cursor != null) return `${shown} of ${total} sites${holding}, by id.`;
    return `${total} site(s)${holding}.`;
}

// The sites, a page at a time (GET /v1/sites?q=&limit=&cursor=): the first
// page of those whose id holds the search, or (more) the next page after
// the rows shown.
async function showSites({ more = false } = {}) {
    if (!more) show('sites');
    const typed = () => $('#sites-q').value.trim().toLowerCase();
    const q = more ? sitesShown.q : typed(); // more of the list shown
    $('#sites-status').textContent = 'Loading…';
    try {
        const page = await api.listSites(session, { q, limit: SITES_PAGE, cursor: more ? sitesShown.next_cursor : null });
        if (q != typed()) return; // typed on: a newer list is coming
        const sites = more ? [...sitesShown.sites, ...page.sites] : page.sites;
        sitesShown = { q, sites, next_cursor: page.next_cursor };
        if (more) $('#sites-table tbody').append(...page.sites.map(siteRow));
        else $('#sites-table tbody').replaceChildren(...sites.map(siteRow));
        const from = $('#create-from');
        const chosen = from.value;
        from.replaceChildren(
            from.options[0],
            ...sites.filter((s) => s.published).map((s) => h('option', { value: s.id }, `a copy of ${s.id} (published version)`)),
        );
        if ([...from.options].some((o) => o.value == chosen)) from.value = chosen;
        const rest = page.total - sites.length;
        $('#sites-more').hidden = page.next_cursor == null;
        $('#sites-more').textContent = `Show ${Math.min(SITES_PAGE, rest)} more`;
        $('#sites-status').textContent = sitesStatus(q, sites.length, page);
    } catch (e) {
        $('#sites-status').textContent = '';
        if (e instanceof ApiError && e.status == 404) showError('This server cannot list its sites yet: sign in with a site id as well.');
        else fail(e);
    }
}

async function createSite(e) {
    e.preventDefault();
    const id = $('#create-id').value.trim();
    const from = $('#create-from').value;
    showError('');
    try {
        let body = { id };
        if (from) {
            const site = (await api.version({ ...session, site: from }, 'published')).site;
            site.id = id;
            body.site = site;
        } else {
            const origin = $('#create-origin').value.trim();
            if (!origin) {
                showError('Give the new site its origin (https://www.example.com), or start from a copy of another site.');
                $('#create-origin').focus();
                return;
            }
            body.origins = [origin];
        }
        await api.createSite(session, body);
        $('#create-id').value = '';
        $('#create-origin').value = '';
        await openSite(id, { created: true });
    } catch (err) {
        fail(err.code == 'site_exists' ? new ApiError(409, err.code, `A site with the id ${id} exists already.`) : err);
    }
}

// ---- the editor ----

const form = new SiteForm(edited);
const history = new History(() => session, fail);
const keys = new Keys(() => session, fail);

// The Keys view of the session's site (site: another, for the operator).
async function showKeys(site = session.site, { first = false } = {}) {
    session.site = site;
    saveSession(STORE, session);
    showError('');
    $('#keys-site').textContent = site;
    $('#keys-to-sites').hidden = !session.operator;
    $('#newkey-name').value = '';
    keys.clearErrors();
    show('keys');
    const loaded = await keys.load();
    if (loaded) (first ? $('#newkey-name') : $('#keys-title')).focus();
}

function setDirty(on) {
    dirty = on;
    $('#draft-status').textContent = on
        ? `Unsaved changes (draft revision ${revision}).`
        : revision
          ? `Draft revision ${revision}, saved.`
          : 'No draft yet: the form shows the published version.';
    document.body.dataset.dirty = String(on);
}

async function openSite(site, { created = false } = {}) {
    session.site = site;
    saveSession(STORE, session);
    showError('');
    let draft;
    try {
        // A site just created is known to this node a moment later (docs/sites.md).
        for (let tries = created ? 20 : 1; ; tries--) {
            try {
                draft = await api.getDraft(session);
                break;
            } catch (e) {
                if (tries <= 1 || e.code != 'site_not_found') throw e;
                await new Promise((resolve) => setTimeout(resolve, 150));
            }
        }
    } catch (e) {
        if (e instanceof ApiError && e.status == 403) {
            $('#noaccess-text').textContent =
                `${e.message} This console edits sites: it needs a key with the scope site:write (to publish, site:publish). ` +
                'A key of the scope stats:read reads the statistics on the dashboard and nothing else: it cannot see or erase anyone.';
            $('#noaccess a').href = `/dashboard?site=${encodeURIComponent(site)}`;
            $('#noaccess-keys').hidden = !(await keys.allowed().catch(() => false));
            show('noaccess');
            return;
        }
        if (!session.operator) signOut(e.message);
        else fail(e);
        return;
    }
    // May this key manage the site's keys? The server says; asked once the site is known here.
    const keysAllowed = keys.allowed().catch(() => false);
    let doc = draft.site;
    revision = draft.revision || 0;
    let fromFile = false;
    if (!doc) {
        try {
            doc = (await api.version(session, 'published')).site;
        } catch {
            // A site served from a file only: Redis has no document of it.
            doc = { id: site };
            fromFile = true;
        }
    }
    $('#editor-site').textContent = site;
    $('#dashboard-link').href = `/dashboard?site=${encodeURIComponent(site)}`;
    $('#back').hidden = !session.operator;
    $('#editor-keys').hidden = !(await keysAllowed);
    $('#conflict').hidden = true;
    show('editor');
    $('#created-site').textContent = site;
    $('#created').hidden = !(created && !$('#editor-keys').hidden);
    load(doc);
    setDirty(false);
    if (fromFile)
        showError(
            `Site ${site} has no version in Redis (it is served from a file): import the file (consentd site import) or paste its document into the JSON view below, then save.`,
        );
    history.load();
}

function load(doc) {
    bannerUrl = null;
    showPreview();
    form.render(doc, { all: true });
    clearErrors($('#site-form'));
    writeJson();
    schedule();
}

function writeJson() {
    const el = $('#json');
    if (document.activeElement !== el) el.value = JSON.stringify(form.doc, null, 2);
    $('#json-error').hidden = true;
}

// The document changed (a form field): the JSON view, the check, the preview.
function edited() {
    setDirty(true);
    writeJson();
    schedule();
}

function schedule() {
    clearTimeout(timer);
    timer = setTimeout(() => {
        check();
        preview();
    }, DEBOUNCE_MS);
}

async function check() {
    const seq = ++checkSeq;
    $('#check-status').textContent = 'Checking…';
    try {
        await api.check(session, form.doc);
        if (seq != checkSeq) return;
        clearErrors($('#site-form'));
        $('#check-status').textContent = 'The server accepts this draft.';
        document.body.dataset.checked = 'ok';
    } catch (e) {
        if (seq != checkSeq) return;
        if (e.code == 'invalid_site') {
            showErrors($('#site-form'), e.errors, e.message);
            $('#check-status').textContent = `The server refuses this draft: ${e.errors.length || 1} problem(s).`;
            document.body.dataset.checked = 'invalid';
        } else if (e.status == 404 && e.code != 'site_not_found') {
            $('#check-status').textContent = 'This server does not check drafts as you type: saving checks it.';
        } else {
            $('#check-status').textContent = e.message;
        }
    }
}

function previewSrc() {
    if (!bannerUrl) return 'about:blank';
    const q = new URLSearchParams({ src: bannerUrl });
    const lang = $('#preview-lang').value;
    const variant = $('#preview-variant').value;
    if (lang) q.set('lang', lang);
    if (variant) q.set('variant', variant);
    return `/console/preview.html?${q}`;
}

function showPreview() {
    const frame = $('#preview-frame');
    const src = previewSrc();
    if (frame.getAttribute('src') !== src) frame.src = src;
    sizePreview();
}

// The frame is as wide as the page it stands for (1280 or 375 px), scaled
// down to the column's width.
function sizePreview() {
    const frame = $('#preview-frame');
    const width = Number(document.querySelector('input[name="preview-width"]:checked').value);
    const height = PREVIEW_WIDTHS[width];
    const room = $('#preview-box').clientWidth || width;
    const scale = Math.min(1, room / width);
    frame.width = String(width);
    frame.height = String(height);
    frame.style.transform = `scale(${scale})`;
    $('#preview-box').style.height = `${Math.ceil(height * scale)}px`;
    $('#preview-box').dataset.width = String(width);
}

async function preview() {
    const seq = ++previewSeq;
    $('#preview-status').textContent = 'Building the preview…';
    try {
        const r = await api.preview(session, form.doc);
        if (seq != previewSeq) return;
        bannerUrl = r.banner_url;
        showPreview();
        $('#preview-status').textContent = 'The banner built from this document, not saved.';
    } catch (e) {
        if (seq != previewSeq) return;
        if (e.code == 'invalid_site')
            $('#preview-status').textContent = bannerUrl
                ? 'This document is invalid: the preview shows the last valid one.'
                : 'This document is invalid: no preview until it is valid.';
        else if (e.status == 404 && e.code != 'site_not_found') $('#preview-status').textContent = 'This server has no preview route.';
        else $('#preview-status').textContent = e.message;
    }
}

async function save() {
    showError('');
    $('#draft-status').textContent = 'Saving…';
    try {
        const r = await api.putDraft(session, revision, form.doc);
        revision = r.revision;
        $('#conflict').hidden = true;
        clearErrors($('#site-form'));
        setDirty(false);
        return true;
    } catch (e) {
        setDirty(true);
        if (e.code == 'conflict') {
            $('#conflict-text').textContent =
                `Your changes are not saved: the draft is now at revision ${e.revision}, yours was read at ${revision}. Reload theirs (your changes here are then lost: copy the JSON view first to keep them).`;
            $('#conflict').hidden = false;
            $('#reload').focus();
        } else if (e.code == 'invalid_site') {
            showErrors($('#site-form'), e.errors, e.message);
            $('#draft-status').textContent = 'Not saved: the server refuses this draft.';
        } else fail(e);
        return false;
    }
}

async function commit(e) {
    e.preventDefault();
    if ((dirty || !revision) && !(await save())) return;
    try {
        const r = await api.commit(session, revision, $('#commit-message').value.trim());
        $('#commit-message').value = '';
        await history.load();
        $('#history-status').textContent = r.created
            ? `Version ${r.version} made from draft revision ${revision}.`
            : `The draft is version ${r.version} already.`;
    } catch (err) {
        if (err.code == 'conflict') {
            $('#conflict-text').textContent = `The draft moved on (revision ${err.revision}): reload it before making a version.`;
            $('#conflict').hidden = false;
        } else fail(err);
    }
}

function applyJson() {
    const box = $('#json-error');
    try {
        const doc = JSON.parse($('#json').value);
        if (!doc || typeof doc != 'object' || Array.isArray(doc)) throw new Error('the document must be a JSON object');
        form.render(doc);
        setDirty(true);
        box.hidden = true;
        $('#json').removeAttribute('aria-invalid');
        schedule();
    } catch (e) {
        box.textContent = `Not applied: ${e.message}`;
        box.id = 'json-error';
        box.hidden = false;
        $('#json').setAttribute('aria-invalid', 'true');
        $('#json').setAttribute('aria-describedby', 'json-error');
    }
}

// ---- start ----

async function signIn(e) {
    e.preventDefault();
    const key = $('#key').value.trim();
    const site = $('#site').value.trim();
    $('#key').value = '';
    showError('');
    if (!site) {
        session = { key, operator: true };
        try {
            await api.listSites(session, { limit: 1 });
        } catch (err) {
            session = null;
            if (err instanceof ApiError && err.status == 404) showError('This server cannot list its sites: give the site id too.');
            else
                showError(
                    err.status == 401 || err.status == 403
                        ? 'This key is not the operator key: give the site id of your key too.'
                        : err.message,
                );
            return;
        }
        saveSession(STORE, session);
        showSites();
        return;
    }
    session = { key, site, operator: false };
    saveSession(STORE, session);
    openSite(site);
}

function start() {
    const fromUrl = new URLSearchParams(location.search).get('site');
    session = loadSession(STORE, (s) => s.key);
    $('#site').value = session?.site || fromUrl || '';
    $('#signin-form').addEventListener('submit', signIn);
    $('#signout').addEventListener('click', () => signOut(''));
    $('#create-form').addEventListener('submit', createSite);
    $('#save').addEventListener('click', save);
    $('#back').addEventListener('click', () => {
        session.site = undefined;
        saveSession(STORE, session);
        showSites();
    });
    $('#reload').addEventListener('click', () => openSite(session.site));
    $('#editor-keys').addEventListener('click', () => showKeys());
    $('#created-keys').addEventListener('click', () => showKeys(session.site, { first: true }));
    $('#noaccess-keys-button').addEventListener('click', () => showKeys());
    $('#keys-to-site').addEventListener('click', () => openSite(session.site));
    $('#keys-to-sites').addEventListener('click', () => {
        session.site = undefined;
        saveSession(STORE, session);
        showSites();
    });
    $('#commit-form').addEventListener('submit', commit);
    $('#json-apply').addEventListener('click', applyJson);
    let finding = null;
    $('#sites-q').addEventListener('input', () => {
        clearTimeout(finding);
        finding = setTimeout(() => showSites(), DEBOUNCE_MS);
    });
    $('#sites-find').addEventListener('submit', (e) => {
        e.preventDefault();
        clearTimeout(finding);
        showSites();
    });
    $('#sites-more').addEventListener('click', () => showSites({ more: true }));
    for (const id of ['#preview-lang', '#preview-variant']) $(id).addEventListener('change', showPreview);
    for (const r of document.querySelectorAll('input[name="preview-width"]')) r.addEventListener('change', sizePreview);
    window.addEventListener('resize', sizePreview);
    // The preview's banner took the focus without the visitor clicking into
    // it (web/console/preview.js): give it back to the field being edited.
    document.addEventListener('focusin', (e) => {
        if (e.target != $('#preview-frame')) lastFocus = e.target;
    });
    window.addEventListener('message', (e) => {
        const frame = $('#preview-frame');
        if (e.source !== frame.contentWindow || e.data?.consentdPreview != 'focus-taken' || document.activeElement != frame) return;
        if (lastFocus?.isConnected) lastFocus.focus({ preventScroll: true });
        if (document.activeElement == frame) frame.blur(); // that field is gone or hidden: to the page
    });
    if (!session) {
        show('signin');
        $('#key').focus();
    } else if (session.site) openSite(session.site);
    else showSites();
}

start();
