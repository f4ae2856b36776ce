-- POST /v1/evidence for a disputed charge, by its charge id, over the
-- records bench/disputes_load.sql made (ch_1 .. ch_N).
-- Usage: wrk ... -s bench/lua/disputes_lookup.lua URL -- BASIC_TOKEN N
dofile((os.getenv("BENCH_LUA_DIR") or "bench/lua") .. "/disputes_report.lua")

local requests = {}
local n = 0

function init(args)
   local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Basic " .. (args[1] or "") }
   local records = tonumber(args[2] or "1000000")
   -- 10007 lookups spread over every record, built once: formatting a
   -- request per call would load the client.
   for i = 1, 10007 do
      local id = 1 + (i * 104729) % records
      requests[i] = wrk.format("POST", "/v1/evidence", headers, string.format('{"charge_id":"ch_%d"}', id))
   end
end

function request()
   n = n % #requests + 1
   return requests[n]
end
