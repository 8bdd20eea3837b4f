-- bench/consent_populate.lua - wrk script for bench/consent.sh: record one
-- choice for each of the visitors "bench-000000000000" .. VISITORS - 1, in
-- order, then stop (the GET bench reads them back).
--
--   wrk -t1 ... -s bench/consent_populate.lua URL/v1/sites/demo/consents -- POLICY_VERSION VISITORS
--
-- Use one wrk thread: the counter is per thread. Requests still in flight
-- when it stops start again from the first visitor: harmless rewrites.
local policy_version, visitors
local next_visitor, answered = 0, 0

function init(args)
    policy_version = assert(args[1], "usage: -- POLICY_VERSION VISITORS")
    visitors = tonumber(args[2] or "10000")
end

wrk.method = "POST"
wrk.headers["Origin"] = "http://localhost:8080"
wrk.headers["Content-Type"] = "application/json"

function request()
    local body = string.format(
        '{"visitor":"bench-%012d","decisions":{"audience":true,"personalisation":true,'
            .. '"advertising":false,"partners_sharing":false},"policy_version":"%s","lang":"fr"}',
        next_visitor % visitors, policy_version)
    next_visitor = next_visitor + 1
    return wrk.format(nil, nil, nil, body)
end

function response(status)
    answered = answered + 1
    if answered == visitors then
        wrk.thread:stop()
    end
end
