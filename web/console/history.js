// history.js - the version history: who made each version, when, with what
// message, which one is published; the diff of any two (the diff route),
// shown as lists of fields added, removed and changed; publish, and roll
// back (the publish of an older version), with the policy bump rule's answer
// in words (docs/sites.md, The policy bump rule).
import { api, ApiError } from './api.js';
import { $, h, when } from './dom.js';

const short = (v) => {
    const s = JSON.stringify(v);
    return s === undefined ? '(none)' : s.length > 160 ? s.slice(0, 157) + '…' : s;
};

export class History {
    constructor(getSession, onError) {
        this.getSession = getSession;
        this.onError = onError;
        this.list = null;
        $('#diff-form').addEventListener('submit', (e) => {
            e.preventDefault();
            this.showDiff($('#diff-from').value, $('#diff-to').value);
        });
    }

    status(text) {
        $('#history-status').textContent = text;
    }

    async load() {
        try {
            this.list = await api.versions(this.getSession());
        } catch (e) {
            this.list = null;
            $('#versions tbody').replaceChildren();
            this.status(e instanceof ApiError && e.status == 404 ? 'No version yet.' : e.message);
            return;
        }
        this.render();
    }

    render() {
        const { versions = [], published = 0 } = this.list;
        const rows = versions.map((v) => {
            let action;
            if (v.version === published) action = h('strong', { class: 'badge' }, 'published');
            else
                action = h(
                    'button',
                    { type: 'button', class: 'secondary', dataset: { publish: String(v.version) }, onclick: () => this.publish(v.version) },
                    published && v.version < published ? `Roll back to version ${v.version}` : `Publish version ${v.version}`,
                );
            return h(
                'tr',
                { dataset: { version: String(v.version) } },
                h('th', { scope: 'row' }, String(v.version)),
                h('td', {}, v.who || ''),
                h('td', {}, when(v.at)),
                h('td', {}, v.message || ''),
                h('td', {}, action),
            );
        });
        $('#versions tbody').replaceChildren(...rows);
        const options = versions.map((v) =>
            h('option', { value: String(v.version) }, `version ${v.version}${v.version === published ? ' (published)' : ''}`),
        );
        for (const sel of ['#diff-from', '#diff-to']) $(sel).replaceChildren(...options.map((o) => o.cloneNode(true)));
        if (versions.length) {
            $('#diff-to').value = String(versions[0].version);
            $('#diff-from').value = String(
                published && published !== versions[0].version ? published : versions[Math.min(1, versions.length - 1)].version,
            );
        }
        $('#diff-form button').disabled = versions.length < 2;
        this.status(
            versions.length
                ? `${versions.length} version(s); ${published ? `version ${published} is published` : 'none is published yet: nothing is served'}.`
                : 'No version yet: save the draft, then make it a version.',
        );
    }

    async showDiff(from, to) {
        const box = $('#diff');
        try {
            const d = await api.diff(this.getSession(), from, to);
            const section = (title, items) => (items.length ? [h('h4', {}, title), h('ul', {}, ...items)] : []);
            const n = d.added.length + d.removed.length + d.changed.length;
            box.replaceChildren(
                h('p', {}, n ? `From version ${from} to version ${to}: ${n} change(s).` : `Versions ${from} and ${to} are the same.`),
                ...section(
                    'Added',
                    d.added.map((p) => h('li', { class: 'added' }, h('code', {}, p))),
                ),
                ...section(
                    'Removed',
                    d.removed.map((p) => h('li', { class: 'removed' }, h('code', {}, p))),
                ),
                ...section(
                    'Changed',
                    d.changed.map((c) =>
                        h(
                            'li',
                            { class: 'changed' },
                            h('code', {}, c.path),
                            ': ',
                            h('del', {}, short(c.from)),
                            ' → ',
                            h('ins', {}, short(c.to)),
                        ),
                    ),
                ),
            );
        } catch (e) {
            box.replaceChildren(h('p', { class: 'field-error' }, e.message));
        }
    }

    async publish(version) {
        const bump = $('#no-bump').checked ? false : undefined;
        this.status(`Publishing version ${version}…`);
        try {
            const r = await api.publish(this.getSession(), version, bump);
            let policy;
            if (!r.previous) policy = 'The first publish: the site is served from now on.';
            else if (r.policy_bumped)
                policy = `The policy changed: its version was bumped (version ${r.published} made for it), so visitors will be asked again.`;
            else if (r.policy_changed) policy = 'The policy changed but was not bumped (typo fix): visitors are not asked again.';
            else policy = 'Nothing visitors agreed to changed: the policy version stays.';
            await this.load();
            this.status(`Version ${r.published} is published (was ${r.previous || 'none'}). ${policy}`);
            $('#history-status').dataset.bumped = String(!!r.policy_bumped);
            $('#no-bump').checked = false;
        } catch (e) {
            this.status('');
            this.onError(e);
        }
    }
}
