// keys.js - a site's API keys (issue 22 follow-up; docs/console.md, Keys):
// the list (name, scopes, created when and by whom: GET /v1/sites/{site}/keys
// gives no secret), "New key" (a name and scopes as checkboxes, each saying
// what it allows; POST .../keys), and revoke with a confirmation in a modal
// dialog (DELETE .../keys/{name}). What the key signed in may do is the
// server's to decide (keys:admin, and a key gives only scopes it holds): the
// console asks and shows the answer, the server's messages on the field
// they name (aria-invalid, aria-describedby: errors.js, as the site form).
//
// The secret of a new key is in the answer that makes it, once: it is shown
// in #secret with a copy button until the view is left (forget()), held in
// the page's DOM only, never in sessionStorage or localStorage.
import { api, ApiError } from './api.js';
import { $, h, when } from './dom.js';
import { clearInvalid, markInvalid, serverNote } from './errors.js';

// The scopes of src/apikey.h (apikey.c's order), and what each allows
// (docs/api.md, Keys and scopes).
export const SCOPES = [
    ['stats:read', 'The acceptance statistics (JSON, CSV), the newest scan summary and the banner versions: what the dashboard reads.'],
    ['rights', "Access, erasure and export of a visitor's data, the consent log and its proofs: the data-protection officer's (DPO) key."],
    ['consent:server', "Record, read and withdraw visitors' consents, banner events and identify, from the site's own server."],
    ['scans:write', 'Post a scan summary of the site (ops/scan.mjs --post, in CI).'],
    ['site:write', "Edit the site's draft, make versions and compare them: this console's editor."],
    ['site:publish', 'Publish a version, or roll back to an older one: what visitors are shown.'],
    ['keys:admin', "The site's keys: list them, make new ones (with scopes this key holds) and revoke them: this page."],
];

const NAME_FIELD = '#newkey-name';
const SCOPES_FIELD = '#newkey-scopes';

export class Keys {
    // getSession() -> {key, site, operator}; onError(e): a failure that is no
    // field's (401 signs out).
    constructor(getSession, onError) {
        this.getSession = getSession;
        this.onError = onError;
        this.revoking = null; // {name, button} while the dialog is open
        $(SCOPES_FIELD).append(
            ...SCOPES.map(([scope, what]) => {
                const id = `scope-${scope.replace(':', '-')}`;
                return h(
                    'div',
                    { class: 'scope' },
                    h('input', { type: 'checkbox', id, name: 'scope', value: scope, 'aria-describedby': `${id}-what` }),
                    h('label', { for: id }, h('code', {}, scope)),
                    h('p', { id: `${id}-what`, class: 'scope-what' }, what),
                );
            }),
        );
        $('#newkey-form').addEventListener('submit', (e) => {
            e.preventDefault();
            this.create();
        });
        $('#secret-copy').addEventListener('click', () => this.copy());
        $('#secret-done').addEventListener('click', () => {
            this.forget();
            $('#keys-list-title').focus();
        });
        const dialog = $('#revoke-dialog');
        $('#revoke-cancel').addEventListener('click', () => dialog.close());
        $('#revoke-confirm').addEventListener('click', () => this.revoke());
        dialog.addEventListener('close', () => {
            // The event comes a task after the closing: an Escape then a quick
            // Enter on the revoke button opens the dialog again first, and
            // the late event must not forget the key now being confirmed.
            if (dialog.open) return;
            const was = this.revoking;
            this.revoking = null;
            if (was?.button?.isConnected) was.button.focus();
        });
    }

    status(text) {
        $('#keys-status').textContent = text;
    }

    // May this session manage the site's keys? The server says (GET keys).
    async allowed() {
        try {
            await api.keys(this.getSession());
            return true;
        } catch (e) {
            if (e instanceof ApiError && e.status == 401) throw e;
            return false;
        }
    }

    async load() {
        this.status('Loading…');
        let keys;
        try {
            ({ keys } = await api.keys(this.getSession()));
        } catch (e) {
            this.status('');
            $('#keys-table tbody').replaceChildren();
            this.onError(e);
            return false;
        }
        const rows = keys.map((k) =>
            h(
                'tr',
                { dataset: { key: k.name } },
                h('th', { scope: 'row' }, k.name),
                h('td', { dataset: { label: 'scopes' } }, (k.scopes || []).join(', ')),
                h('td', { dataset: { label: 'created' } }, when(k.created_at)),
                h('td', { dataset: { label: 'by' } }, k.created_by || ''),
                h(
                    'td',
                    { class: 'row-actions' },
                    h(
                        'button',
                        {
                            type: 'button',
                            class: 'secondary',
                            dataset: { revoke: k.name },
                            onclick: (e) => this.confirm(k.name, e.currentTarget),
                        },
                        'Revoke',
                        h('span', { class: 'visually-hidden' }, ` the key ${k.name}`),
                    ),
                ),
            ),
        );
        $('#keys-table tbody').replaceChildren(...rows);
        $('#keys-table').closest('.table-wrap').hidden = !keys.length;
        this.status(keys.length ? `${keys.length} key(s).` : 'No key yet: make the first below.');
        return true;
    }

    clearErrors() {
        clearInvalid($('#newkey-form'));
        $('#newkey-error').hidden = true;
    }

    // The server's message under the field it names (name or scopes), else
    // under the form.
    fieldError(which, text) {
        if (!which) {
            $('#newkey-error').textContent = text;
            $('#newkey-error').hidden = false;
            return;
        }
        const note = serverNote(`keys-err-${which}`, which, text);
        if (which == 'name') {
            markInvalid($(NAME_FIELD), note);
            $(NAME_FIELD).focus();
        } else {
            const box = $(SCOPES_FIELD);
            markInvalid(box, note, { invalid: box.querySelectorAll('input'), after: box.querySelector('legend') });
            box.querySelector('input').focus();
        }
    }

    async create() {
        this.clearErrors();
        this.forget();
        const name = $(NAME_FIELD).value.trim();
        const scopes = [...$(SCOPES_FIELD).querySelectorAll('input:checked')].map((c) => c.value);
        let made;
        try {
            made = await api.createKey(this.getSession(), { name, scopes });
        } catch (e) {
            if (!(e instanceof ApiError)) return this.onError(e);
            const raw = e.rawMessage || '';
            if (e.code == 'key_exists')
                this.fieldError('name', `This site has a key named ${name} already: revoke it first, or choose another name.`);
            else if (e.code == 'insufficient_scope') this.fieldError('scopes', e.message);
            else if (e.code == 'invalid_field' && raw.startsWith('name')) this.fieldError('name', raw);
            else if (e.code == 'invalid_field' && raw.startsWith('scopes')) this.fieldError('scopes', raw);
            else if (e.code == 'too_many_keys' || e.code == 'invalid_field') this.fieldError('', e.message);
            else this.onError(e);
            return;
        }
        $(NAME_FIELD).value = '';
        for (const c of $(SCOPES_FIELD).querySelectorAll('input')) c.checked = false;
        $('#secret-name').textContent = made.name;
        $('#secret-value').value = made.key;
        $('#secret-status').textContent = '';
        $('#secret').hidden = false;
        $('#secret').focus();
        await this.load();
    }

    async copy() {
        const input = $('#secret-value');
        let done = false;
        try {
            await navigator.clipboard.writeText(input.value);
            done = true;
        } catch {
            input.select();
            done = document.execCommand('copy');
        }
        $('#secret-status').textContent = done
            ? 'Copied to the clipboard.'
            : 'The browser refused to copy: the secret is selected, copy it with the keyboard (Ctrl+C or Cmd+C).';
        if (!done) input.select();
    }

    // Leaving the view (or "Done") forgets the secret.
    forget() {
        $('#secret-value').value = '';
        $('#secret-name').textContent = '';
        $('#secret-status').textContent = '';
        $('#secret').hidden = true;
    }

    confirm(name, button) {
        this.revoking = { name, button };
        $('#revoke-name').textContent = name;
        $('#revoke-dialog').showModal();
        $('#revoke-cancel').focus();
    }

    async revoke() {
        const { name } = this.revoking || {};
        if (!name) return;
        $('#revoke-confirm').disabled = true;
        try {
            await api.deleteKey(this.getSession(), name);
            this.revoking = null; // its row is gone: the focus goes to the list
            $('#revoke-dialog').close();
            await this.load();
            this.status(`The key ${name} is revoked: it is refused from now on.`);
            $('#keys-list-title').focus();
        } catch (e) {
            $('#revoke-dialog').close();
            if (e instanceof ApiError && e.code == 'key_not_found') {
                await this.load();
                this.status(`The key ${name} was revoked already.`);
            } else this.onError(e);
        } finally {
            $('#revoke-confirm').disabled = false;
        }
    }
}
