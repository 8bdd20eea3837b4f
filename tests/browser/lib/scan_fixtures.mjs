// tests/browser/lib/scan_fixtures.mjs - fixture sites for the scanner's
// tests (ops/scan.mjs): a real consentd (site "shop", the demo's purposes,
// audience declaring _ga) and one loopback server that answers for several
// host names (*.test, which the scanner's Chromium maps to 127.0.0.1 with
// --host-resolver-rules): each fixture site is its own host, and
// analytics.test serves the tags, a third party to all of them.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Consentd, Redis, SOURCE_DIR, freePort, makeTempDir, shippedSite, siteLike } from '../../http/lib/harness.mjs';

export const FIXTURES = ['compliant', 'ignores', 'keeps', 'undeclared', 'missing', 'fake'];

const TAGS = {
    // A Google-Analytics-like tag: its first-party _ga cookie, written by script.
    '/ga.js': "document.cookie = '_ga=GA1.1.' + Date.now() + '; path=/; max-age=63072000';",
    // A Meta-Pixel-like tag: _fbp.
    '/fbp.js': "document.cookie = '_fbp=fb.1.' + Date.now() + '; path=/; max-age=7776000';",
    // A tag that waits for a choice, any choice, and then sets _ga: it keeps
    // measuring after a refusal (and sets it again after the banner's clean-up).
    '/keeps.js': `(function wait() {
  if (!window.consentd) return setTimeout(wait, 20);
  consentd.onChange(function () {
    setTimeout(function () {
      if (/(^|; )consentd=/.test(document.cookie)) document.cookie = '_ga=GA1.1.' + Date.now() + '; path=/; max-age=63072000';
    }, 0);
  });
})();`,
};

// A look-alike banner with no "refuse all" in its first layer (hidden in a
// second layer), and an accept that writes a choice cookie.
const FAKE_BANNER = `(function () {
  var host = document.createElement('consentd-ui');
  var root = host.attachShadow({ mode: 'open' });
  root.innerHTML = '<dialog><h2>Cookies</h2><p>We use cookies.</p>' +
    '<div><button id="a">Accept all</button> <button id="m">Settings</button></div>' +
    '<div hidden><button id="r">Refuse all</button></div></dialog>';
  document.body.append(host);
  var dialog = root.querySelector('dialog');
  root.getElementById('a').onclick = function () {
    document.cookie = 'consentd=' + encodeURIComponent(JSON.stringify({ p: 'x' })) + '; path=/';
    dialog.close();
  };
  root.getElementById('m').onclick = function () { root.querySelector('[hidden]').hidden = false; };
  dialog.showModal();
})();`;

function page(title, head, body = '') {
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>${head}</head>
<body><main><h1>${title}</h1><p><a href="/second.html">Second page</a></p>${body}</main></body></html>`;
}

export async function startScanStack() {
    const server = http.createServer((req, res) => {
        const host = (req.headers.host || '').split(':')[0];
        const url = new URL(req.url, 'http://x');
        const body = stack.files.get(`${host}${url.pathname}`);
        if (body === undefined) {
            res.writeHead(404, { 'content-type': 'text/plain' });
            return res.end('not found');
        }
        res.writeHead(200, { 'content-type': url.pathname.endsWith('.js') ? 'application/javascript' : 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(body);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = server.address().port;
    const redis = await Redis.start();
    const consentd = new Consentd({ redis });
    consentd.port = await freePort();
    const site = siteLike('shop', shippedSite('demo'));
    delete site.variants;
    site.cookie_domain = null;
    site.origins = FIXTURES.map((f) => `http://${f}.test:${port}`);
    site.purposes.find((p) => p.id === 'audience').cookies = [{ name: '_ga' }];
    consentd.sites = { 'shop.json': site };
    const dir = makeTempDir('scan');
    const siteFile = path.join(dir, 'shop.json');
    fs.writeFileSync(siteFile, JSON.stringify(site, null, 2));
    const stack = {
        files: new Map(),
        port,
        dir,
        site,
        siteFile,
        consentd,
        url: (fixture) => `http://${fixture}.test:${port}/`,
        async stop() {
            server.closeAllConnections();
            await new Promise((resolve) => server.close(resolve));
            try {
                await consentd.stop();
            } finally {
                await redis.stop();
            }
        },
    };
    try {
        await consentd.start();
    } catch (e) {
        await stack.stop().catch(() => {});
        throw e;
    }
    const bannerTag = `<script src="http://127.0.0.1:${consentd.port}/v1/sites/shop/banner.js" async></script>`;
    const tag = (file, purpose) => `<script ${purpose ? `type="text/plain" data-consent="${purpose}" ` : ''}src="http://analytics.test:${port}${file}"></script>`;
    for (const [file, js] of Object.entries(TAGS)) stack.files.set(`analytics.test${file}`, js);
    const heads = {
        compliant: bannerTag + tag('/ga.js', 'audience'),
        ignores: bannerTag + tag('/ga.js'),
        keeps: bannerTag + tag('/keeps.js'),
        undeclared: bannerTag + tag('/ga.js', 'audience') + tag('/fbp.js', 'advertising'),
        missing: tag('/ga.js', 'audience'),
        fake: `<script src="/fake-banner.js" defer></script>`,
    };
    for (const f of FIXTURES) {
        stack.files.set(`${f}.test/`, page(`Fixture ${f}`, heads[f]));
        stack.files.set(`${f}.test/second.html`, page(`Fixture ${f}, second page`, heads[f]));
    }
    stack.files.set('fake.test/fake-banner.js', FAKE_BANNER);
    return stack;
}

/* Run node ops/scan.mjs on a fixture: {code, stdout, stderr, report, html, out}. */
export function runScan(stack, fixture, args = []) {
    const out = path.join(stack.dir, `out-${fixture}-${args.length}`);
    const argv = [path.join(SOURCE_DIR, 'ops', 'scan.mjs'), '--out', out, '--settle-ms', '200',
        '--browser-arg', '--host-resolver-rules=MAP *.test 127.0.0.1', ...args, stack.url(fixture)];
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '', stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code) => {
            const file = path.join(out, 'report.json');
            const report = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : null;
            resolve({ code, stdout, stderr, report, out, html: path.join(out, 'report.html') });
        });
    });
}
