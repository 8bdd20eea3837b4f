// A stand-in for an analytics tag: runs only once "audience" (audience measurement) is granted.
(function () {
    var el = document.getElementById('analytics');
    if (!el) return;
    el.className = 'tag on';
    el.querySelector('span').textContent = 'active : script chargé après consentement';
    window.demoTags = (window.demoTags || []).concat('analytics');
})();
