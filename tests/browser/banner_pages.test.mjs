// The pages feature (issue 21, item 4): for a site that declares
// page_groups, the banner names the group of the page it is on (the longest
// matching path prefix, else "other") with every event and choice it sends,
// and never the path; consentd counts it in the stats' by_page.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import { server } from '../http/lib/consent.mjs';
import { banner, bannerPage, newPage, startBannerStack, waitOpen, waitRecorded } from './lib/browser.mjs';

const GROUPS = [
    { id: 'blog', prefixes: ['/blog/'] },
    { id: 'news', prefixes: ['/blog/news/'] },
];

let stack;
before(async () => {
    stack = await startBannerStack({ siteOver: { page_groups: GROUPS } });
});
after(async () => {
    await stack?.stop();
});

/* Open path, click button, and return the bodies the banner sent. */
async function visit(path, button) {
    const url = stack.pages.set(path, bannerPage(stack));
    const page = await newPage(stack);
    const sent = [];
    page.on('request', (r) => r.method() === 'POST' && /\/(events|consents)$/.test(r.url()) && sent.push(r.postData()));
    await page.goto(`${url}?q=secret-query`);
    await waitOpen(page);
    await banner.button(page, button).click();
    await waitRecorded(page);
    await page.context().close();
    return sent.map((s) => JSON.parse(s));
}

test('every_event_and_choice_names_the_page_group_and_never_the_path', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const cases = [
        ['/blog/post-1.html', 'blog'],
        ['/blog/news/today.html', 'news'], // the longest prefix wins
        ['/about.html', 'other'],
    ];
    for (const [path, group] of cases) {
        const sent = await visit(path, 'Tout accepter');
        assert.ok(sent.length >= 2, `an impression and a choice from ${path}`);
        for (const body of sent) {
            assert.equal(body.page, group, `${path}: ${JSON.stringify(body)}`);
            assert.ok(!JSON.stringify(body).includes(path.split('/').at(-1)) && !JSON.stringify(body).includes('secret'), 'no path, no query');
        }
    }
    const stats = await waitFor(
        async () => {
            const res = await stack.consentd.request(`/v1/sites/demo/stats?from=${today}&to=${today}`, { headers: server() });
            const b = res.json();
            return b.total.by_page?.other?.decisions === 1 && b.total.by_page.blog.decisions === 1 && b.total.by_page.news.decisions === 1 ? b : null;
        },
        { timeoutMs: 5000, message: 'the page groups in the stats' },
    );
    for (const g of ['blog', 'news', 'other']) assert.equal(stats.total.by_page[g].shown, 1, `${g}: one banner shown`);
});
