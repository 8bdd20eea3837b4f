// A stand-in for an advertising tag: runs only once "advertising" is granted.
(function () {
    var el = document.getElementById('ads');
    if (!el) return;
    el.className = 'tag on';
    el.querySelector('span').textContent = 'active : script chargé après consentement';
    window.demoTags = (window.demoTags || []).concat('ads');
})();
