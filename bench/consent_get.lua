-- bench/consent_get.lua - wrk script for bench/consent.sh: read the current
-- choice of visitors recorded by bench/consent_populate.lua, at random.
--
--   wrk ... -s bench/consent_get.lua URL/v1/sites/demo/consents/ -- VISITORS
--
-- The URL ends with the collection path and a slash; each request appends
-- "bench-<12 digits>" for a visitor drawn among the first VISITORS.
local prefix, visitors

function init(args)
    visitors = tonumber(args[1] or "10000")
    prefix = wrk.path
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

wrk.method = "GET"
wrk.headers["Origin"] = "http://localhost:8080"

function request()
    return wrk.format(nil, string.format("%sbench-%012d", prefix, math.random(0, visitors - 1)))
end
