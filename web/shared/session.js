// session.js - what the dashboard and the console share of a signed-in
// page: the session (the key and site) in this tab's sessionStorage only,
// never localStorage nor a cookie, and the page's error box (#error).

// The session stored under name, when valid(s) says it is whole; else null.
export function loadSession(name, valid) {
    try {
        const s = JSON.parse(sessionStorage.getItem(name));
        return s && valid(s) ? s : null;
    } catch {
        return null;
    }
}

// Store s under name (null: forget it).
export function saveSession(name, s) {
    try {
        if (s) sessionStorage.setItem(name, JSON.stringify(s));
        else sessionStorage.removeItem(name);
    } catch {
        /* storage refused (private mode): the key lives in this page only */
    }
}

// The message in #error, hidden when empty.
export function showError(message) {
    const box = document.querySelector('#error');
    box.textContent = message || '';
    box.hidden = !message;
}
