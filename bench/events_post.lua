-- bench/events_post.lua - wrk script for bench/analytics.sh: POST banner
-- events as the banner sends them (Origin of the site, JSON body).
--
--   wrk ... -s bench/events_post.lua URL/v1/sites/demo/events -- ORIGIN POLICY_VERSION VISITORS [VARIANT...]
--
-- Each request is an event of a visitor drawn at random among VISITORS ids
-- "bench-<12 digits>": mostly "shown", some "panel_opened" and "dismissed",
-- in fr or en, with one of the site's VARIANTs when it declares any (none:
-- no variant field).
local origin, policy_version, visitors
local variants = {}
local types = {"shown", "shown", "shown", "shown", "shown", "shown", "shown", "shown",
               "panel_opened", "dismissed"}
local langs = {"fr", "en"}

function init(args)
    origin = assert(args[1], "usage: -- ORIGIN POLICY_VERSION VISITORS [VARIANT...]")
    policy_version = assert(args[2], "usage: -- ORIGIN POLICY_VERSION VISITORS [VARIANT...]")
    visitors = tonumber(args[3] or "1000000")
    for i = 4, #args do
        variants[#variants + 1] = args[i]
    end
    wrk.headers["Origin"] = origin
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
    local variant = ""
    if #variants > 0 then
        variant = string.format(',"variant":"%s"', variants[math.random(1, #variants)])
    end
    local body = string.format(
        '{"type":"%s","visitor":"bench-%012d","lang":"%s","policy_version":"%s"%s}',
        types[math.random(1, #types)], math.random(0, visitors - 1), langs[math.random(1, 2)],
        policy_version, variant)
    return wrk.format(nil, nil, nil, body)
end
