// bench/callgrind_load.mjs - the requests of bench/callgrind.sh: N POSTs of
// one route over CONC keep-alive connections, from visitors
// "bench-<12 digits>", as the banner sends them (Origin of the demo site,
// JSON body). Exits 1 at the end when any answer was not the expected one.
//
//   node bench/callgrind_load.mjs PORT consents|events N CONC
import http from 'node:http';

const [port, kind, n, conc] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
if (!port || !['consents', 'events'].includes(kind) || !(n > 0) || !(conc > 0)) {
    console.error('usage: node bench/callgrind_load.mjs PORT consents|events N CONC');
    process.exit(2);
}
const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
const decisions = [
    '{"audience":true,"personalisation":true,"advertising":true,"partners_sharing":true}',
    '{"audience":false,"personalisation":false,"advertising":false,"partners_sharing":false}',
];
const want = kind === 'consents' ? 201 : 204;
let sent = 0;
let bad = 0;
let first = '';

function body(i) {
    const visitor = `bench-${String(i % 100000).padStart(12, '0')}`;
    return kind === 'consents'
        ? `{"visitor":"${visitor}","decisions":${decisions[i % 2]},"policy_version":"2026-11-01","lang":"fr","source":"banner"}`
        : `{"type":"shown","lang":"fr","visitor":"${visitor}","policy_version":"2026-11-01"}`;
}

function one() {
    if (sent >= n) return Promise.resolve();
    const i = sent++;
    return new Promise((resolve) => {
        const req = http.request(
            {
                port,
                host: '127.0.0.1',
                method: 'POST',
                path: `/v1/sites/demo/${kind}`,
                agent,
                headers: { origin: 'http://localhost:8080', 'content-type': 'application/json' },
            },
            (res) => {
                let text = '';
                res.on('data', (c) => (text += c));
                res.on('end', () => {
                    if (res.statusCode !== want) {
                        bad++;
                        first ||= `${res.statusCode} ${text}`;
                    }
                    resolve();
                });
            },
        );
        req.on('error', (e) => {
            bad++;
            first ||= e.message;
            resolve();
        });
        req.end(body(i));
    }).then(one);
}

await Promise.all(Array.from({ length: conc }, one));
agent.destroy();
if (bad) {
    console.error(`${bad} of ${n} answers were not ${want}; the first: ${first}`);
    process.exit(1);
}
