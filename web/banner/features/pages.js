// pages.js - the page group of the page the banner is on (issue 21, item
// 4), inlined only for sites whose file declares "page_groups". The site's
// groups come inlined as cfg.pg: [[id, [path prefix, ...]], ...]; the page
// belongs to the group with the longest prefix of location.pathname, else
// to "other". Only that name is added to what the banner sends with every
// event and choice (k.about): the path itself never leaves the browser.
/* global CONSENTD_FEATURES */
CONSENTD_FEATURES.push(({ cfg, about }) => {
    const path = location.pathname;
    let best = '';
    about.page = 'other';
    for (const [id, prefixes] of cfg.pg)
        for (const prefix of prefixes)
            if (path.startsWith(prefix) && prefix.length > best.length) {
                best = prefix;
                about.page = id;
            }
});
