// dom.js - small helpers to build the console's elements without HTML
// strings (no innerHTML: nothing a site document holds is ever parsed as
// markup).

export const $ = (sel, root = document) => root.querySelector(sel);

// h('input', {id, type, dataset: {field}}, ...children); on* attributes are listeners.
export function h(tag, attrs = {}, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k == 'dataset') Object.assign(el.dataset, v);
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else if (k == 'value' || k == 'checked') el[k] = v;
        else el.setAttribute(k, v === true ? '' : v);
    }
    el.append(...kids.flat().filter((k) => k !== undefined && k !== null && k !== false));
    return el;
}

let ids = 0;
export const uid = (prefix) => `${prefix}-${++ids}`;

// A labelled field: <div class="field"><label>..</label><input></div>.
export function field(label, control, { wide = false, hint } = {}) {
    if (!control.id) control.id = uid('f');
    return h(
        'div',
        { class: wide ? 'field wide' : 'field' },
        h('label', { for: control.id }, label, hint ? h('small', {}, ` (${hint})`) : null),
        control,
    );
}

// "2026-12-05T06:00:00.000Z" or its milliseconds -> "2026-12-05 06:00 UTC"
export function when(at) {
    if (at === undefined || at === null || at === '') return '';
    const iso = typeof at == 'number' ? new Date(at).toISOString() : String(at);
    return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}
