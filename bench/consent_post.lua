-- bench/consent_post.lua - wrk script for bench/consent.sh: POST consents.
--
--   wrk ... -s bench/consent_post.lua URL/v1/sites/demo/consents -- POLICY_VERSION VISITORS [PAUSE_MS]
--
-- With PAUSE_MS, each connection waits that many milliseconds after an
-- answer before its next request: a steady rate (about connections x
-- 1000 / (PAUSE_MS + latency) per second) instead of as fast as answers come
-- back (bench/analytics.sh, the write budget).
--
-- Each request records a choice for a visitor drawn at random among
-- VISITORS ids "bench-<12 digits>" (the ids redis-benchmark's __rand_int__
-- makes, so that consentd and the redis-benchmark ceiling see the same key
-- space), with one of a few realistic decision sets, in fr or en, as a
-- banner would send it: Origin of the demo site, JSON body.
local policy_version, visitors

local decision_sets = {
    '{"audience":true,"personalisation":true,"advertising":true,"partners_sharing":true}',
    '{"audience":false,"personalisation":false,"advertising":false,"partners_sharing":false}',
    '{"audience":true,"personalisation":true,"advertising":false,"partners_sharing":false}',
    '{"necessary":true,"audience":true,"advertising":false}',
}
local langs = {"fr", "en"}

function init(args)
    policy_version = assert(args[1], "usage: -- POLICY_VERSION VISITORS")
    visitors = tonumber(args[2] or "1000000")
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
    local pause = tonumber(args[3] or "")
    if pause and pause > 0 then
        -- wrk looks for delay() after init(): defined only when pacing, so
        -- the closed loop keeps no timer between requests.
        function delay()
            return pause
        end
    end
end

wrk.method = "POST"
wrk.headers["Origin"] = "http://localhost:8080"
wrk.headers["Content-Type"] = "application/json"

function request()
    local body = string.format(
        '{"visitor":"bench-%012d","decisions":%s,"policy_version":"%s","lang":"%s","source":"banner"}',
        math.random(0, visitors - 1), decision_sets[math.random(1, #decision_sets)],
        policy_version, langs[math.random(1, 2)])
    return wrk.format(nil, nil, nil, body)
end
