-- GET /api/payments with a filter query (the default page size, 100 rows).
-- Usage: wrk ... -s bench/lua/list.lua URL -- API_KEY QUERY
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/report.lua")

local req

function init(args)
   local key = args[1] or "missing-key"
   local query = args[2] or ""
   req = wrk.format("GET", "/api/payments?" .. query, { ["x-api-key"] = key }, nil)
end

function request()
   return req
end
